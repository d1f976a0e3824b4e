"""The HubSpot sandbox application: route table, authentication, rate limits, HubSpot-shaped
faults and errors, and the operations shared by several route groups."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable
from typing import Any

from werkzeug.wrappers import Request, Response

from activity_sync_tools.sandbox.core import Fault, Handler, RunningServer, SandboxApp, json_response, serve

from .admin_api import AdminApi
from .associations_api import AssociationsApi
from .crm_api import CrmApi
from .errors import CorrelationIds, HubSpotError, validation_error
from .marketing import MarketingState
from .marketing_api import MarketingApi
from .owners import OwnerDirectory
from .ratelimit import Admission, RateLimiter, RateLimitSettings, rate_limit_error
from .schema import OBJECT_TYPES, AssociationType, ObjectType, association_from_spec, iso_ms
from .seed import apply_seed
from .store import ChangeSource, CrmRecord, CrmStore
from .webhooks import DEFAULT_SUBSCRIPTIONS, WebhookDispatcher, WebhookSettings
from .wire import json_body
from .workflows import DOCUMENT_VIEW, INTEGRATION_EVENT, WorkflowActivities, WorkflowWebhookSender

# Well-known fake credentials: the sandbox guards nothing.
DEFAULT_TOKEN = "hubspot-sandbox-token"  # noqa: S105
# What the sandbox's token holds unless told otherwise (``POST /_sandbox/config {"token_scopes"}``):
# the scopes of the project in hubspot-app/.
DEFAULT_TOKEN_SCOPES = (
    "oauth",
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
    "sales-email-read",
    "crm.objects.owners.read",
    "crm.schemas.contacts.write",
    "content",
    "forms",
)
DEFAULT_CLIENT_SECRET = "hubspot-sandbox-client-secret"  # noqa: S105
PUBLIC_SUBMIT_PREFIX = "/submissions/v3/integration/submit/"
_AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more "
    "details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
_STATUS_CATEGORIES = {
    400: "VALIDATION_ERROR",
    401: "INVALID_AUTHENTICATION",
    403: "MISSING_SCOPES",
    404: "OBJECT_NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    423: "LOCKED",
    429: "RATE_LIMITS",
    500: "INTERNAL_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}
_ADMISSION = "hubspot.admission"

# The date-based API versions the sandbox answers besides the legacy paths (HubSpot's 2026-09 specs:
# shared/reference/hubspot-openapi/2026-09). Adding the next one (2027-03) is one entry here.
SERVED_VERSIONS = ("2026-09",)


@dataclasses.dataclass(frozen=True)
class CrmPaths:
    """Where one API version keeps the CRM routes the sandbox serves."""

    objects: str
    owners: str
    properties: str
    associations: str
    object_associations: str  # per-record association routes live under the objects prefix

    @classmethod
    def dated(cls, version: str) -> CrmPaths:
        return cls(
            objects=f"/crm/objects/{version}",
            owners=f"/crm/owners/{version}",
            properties=f"/crm/properties/{version}",
            associations=f"/crm/associations/{version}",
            object_associations=f"/crm/objects/{version}",
        )


_CORRELATION = "hubspot.correlation_id"


class HubSpotSandbox(SandboxApp):
    """A stateful emulator of the HubSpot API subset the activity sync uses (see the package docs)."""

    name = "hubspot"

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        portal_id: int = 62515,
        seed: dict[str, Any] | None = None,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        webhook_target_url: str | None = None,
        webhook_subscriptions: Iterable[Any] | None = None,
        rate_limit_per_10s: int = 190,
        daily_limit: int = 1_000_000,
        search_per_second: int = 5,
        app_id: int = 4_200_001,
    ) -> None:
        super().__init__()
        self.token = token
        self.token_scopes = list(DEFAULT_TOKEN_SCOPES)
        # Other apps' tokens (``POST /_sandbox/config {"app_tokens": {token: app id}}``): their
        # writes show up as another INTEGRATION source, as a second app's would.
        self.app_tokens: dict[str, int] = {}
        self._request_source = threading.local()
        self.portal_id = portal_id
        self.app_id = app_id
        # A private app's API writes show up as INTEGRATION changes carrying the app id.
        self.app_source = ChangeSource("INTEGRATION", str(app_id))
        self.correlation_ids = CorrelationIds(portal_id)
        self.owners = OwnerDirectory()
        self.store = CrmStore(portal_id, self.clock.now_ms, self.owners.is_active)
        self.marketing = MarketingState(portal_id)
        self._initial_limits = RateLimitSettings(rate_limit_per_10s, daily_limit, search_per_second)
        self.limiter = RateLimiter(dataclasses.replace(self._initial_limits))
        self._initial_webhooks = WebhookSettings(
            target_url=webhook_target_url, client_secret=client_secret, app_id=app_id
        )
        self._initial_subscriptions = list(
            DEFAULT_SUBSCRIPTIONS if webhook_subscriptions is None else webhook_subscriptions
        )
        self.webhooks = WebhookDispatcher(portal_id, dataclasses.replace(self._initial_webhooks))
        self.webhooks.set_subscriptions(self._initial_subscriptions)
        self.store.listeners.append(self.webhooks.emit)
        self.workflow_activities = WorkflowActivities()
        self.workflow_webhooks = WorkflowWebhookSender()
        self.search_short_page_by = 0
        self.crm = CrmApi(self)
        self.associations_api = AssociationsApi(self)
        self.marketing_api = MarketingApi(self)
        self.admin = AdminApi(self)
        self._register_routes()
        if seed:
            self.load_seed(seed)

    # -- public helpers ------------------------------------------------------------------------
    def load_seed(self, data: dict[str, Any]) -> dict[str, dict[str, str]]:
        """Create the seed's records; answers ``{"contacts": {ref: id}, "owners": ..., ...}``."""
        with self.lock:
            return apply_seed(self, data)

    def now_iso(self) -> str:
        return iso_ms(self.clock.now())

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "portalId": self.portal_id,
                "appId": self.app_id,
                "clock": self.clock.describe(),
                "objects": {t.name: self.store.count(t) for t in OBJECT_TYPES},
                "owners": len(self.owners.all()),
                "customProperties": {
                    t.name: sorted(n for n, d in self.store.definitions(t).items() if not d.hubspot_defined)
                    for t in OBJECT_TYPES
                },
                "marketingEmails": len(self.marketing.emails),
                "emailEvents": len(self.marketing.events),
                "forms": len(self.marketing.forms),
                "formSubmissions": sum(len(s) for s in self.marketing.submissions.values()),
                "webhooks": {
                    "pending": self.webhooks.pending_count(),
                    "target_url": self.webhooks.settings.target_url,
                },
                "documentViews": self.workflow_activities.count(DOCUMENT_VIEW),
                "timelineEvents": self.workflow_activities.count(INTEGRATION_EVENT),
                "workflowWebhooks": {
                    "pending": self.workflow_webhooks.pending_count(),
                    "target_url": self.workflow_webhooks.settings.target_url,
                },
                "rateLimits": self.limiter.describe(self.clock.now_ms()),
                "behaviour": self.behaviour(),
            }

    def behaviour(self) -> dict[str, Any]:
        return {
            "search_index_lag_seconds": self.store.search_index_lag_ms / 1000,
            "search_short_page_by": self.search_short_page_by,
            "validation_rules": {kind: list(names) for kind, names in self.store.required_by_rules.items()},
            "token_scopes": list(self.token_scopes),
            "app_tokens": sorted(self.app_tokens.values()),  # the apps, never their tokens
        }

    def account_details(self, request: Request) -> Response:
        """The portal (https://developers.hubspot.com/docs/api-reference/latest/account/account-information/get-account-details)."""
        return json_response(
            {
                "portalId": self.portal_id,
                "accountType": "STANDARD",
                "timeZone": "US/Eastern",
                "companyCurrency": "USD",
                "additionalCurrencies": [],
                "utcOffset": "-05:00",
                "utcOffsetMilliseconds": -18_000_000,
                "uiDomain": "app.hubspot.com",
                "dataHostingLocation": "na1",
            }
        )

    def access_token_info(self, request: Request) -> Response:
        """A private app's token described: its user, portal, app and scopes."""
        body = json_body(request)
        if not isinstance(body, dict) or body.get("tokenKey") != self.token:
            raise HubSpotError(404, "The token could not be found", "OBJECT_NOT_FOUND")
        return json_response(
            {"userId": 1, "hubId": self.portal_id, "appId": self.app_id, "scopes": list(self.token_scopes)}
        )

    def close(self) -> None:
        """Stop the webhook sender threads."""
        self.webhooks.close()
        self.workflow_webhooks.close()

    # -- operations shared by API, admin routes and seeds --------------------------------------
    def create_record(
        self, kind: ObjectType, properties: Any, associations: Any, source: ChangeSource
    ) -> CrmRecord:
        """Create with v3 ``associations``; nothing is written when any part is invalid."""
        if not isinstance(properties, dict):
            raise validation_error("properties must be an object")
        pairs = self.resolve_associations(kind, associations)
        record = self.store.create(kind, properties, source)
        self.associate_all(record, pairs, source)
        return record

    def resolve_associations(self, kind: ObjectType, raw: Any) -> list[tuple[CrmRecord, AssociationType]]:
        """Targets and types of v3 ``[{"to": {"id"}, "types": [{"associationCategory", ...}]}]``."""
        if not isinstance(raw, list):
            raise validation_error("associations must be a list")
        resolved: list[tuple[CrmRecord, AssociationType]] = []
        for item in raw:
            to_id = str(((item.get("to") or {}) if isinstance(item, dict) else {}).get("id"))
            types = item.get("types") if isinstance(item, dict) else None
            if not types:
                raise validation_error("Each association needs to.id and types")
            for spec in types:
                association = association_from_spec(spec, kind)
                target = self.store.get(association.to_type, to_id)
                if target is None:
                    raise validation_error(
                        f"Cannot associate with {association.to_type.singular} {to_id}: it does not exist",
                        errors=[
                            {
                                "message": f"{association.to_type.singular} {to_id} not found",
                                "in": "associations",
                                "code": "INVALID_ASSOCIATION",
                            }
                        ],
                    )
                resolved.append((target, association))
        return resolved

    def associate_all(
        self, record: CrmRecord, pairs: list[tuple[CrmRecord, AssociationType]], source: ChangeSource
    ) -> None:
        for target, association in pairs:
            self.store.associate(record, target, association, source)

    # -- hooks ---------------------------------------------------------------------------------
    def reset_state(self) -> None:
        """Back to an empty portal (the constructor's seed is not re-applied) with the constructor's
        limits and webhook settings, and no workflow webhook action."""
        self.store.reset()
        self.token_scopes = list(DEFAULT_TOKEN_SCOPES)
        self.app_tokens = {}
        self.owners.reset()
        self.marketing.reset()
        self.correlation_ids.reset()
        self.limiter.settings = dataclasses.replace(self._initial_limits)
        self.limiter.reset_usage()
        self.webhooks.reset()
        self.webhooks.settings = dataclasses.replace(self._initial_webhooks)
        self.webhooks.set_subscriptions(self._initial_subscriptions)
        self.webhooks.settings_changed()
        self.workflow_activities.reset()
        self.workflow_webhooks.reset()
        self.store.search_index_lag_ms = 0
        self.search_short_page_by = 0

    @property
    def api_source(self) -> ChangeSource:
        """How this request's writes show up in the records' history: the app whose token it uses."""
        source: ChangeSource = getattr(self._request_source, "source", self.app_source)
        return source

    def authenticate(self, request: Request) -> Response | None:
        self._request_source.source = self.app_source
        if request.path.startswith(PUBLIC_SUBMIT_PREFIX):
            return None  # HubSpot's forms submit endpoint takes no credentials
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer in self.app_tokens:
            self._request_source.source = ChangeSource("INTEGRATION", str(self.app_tokens[bearer]))
        elif bearer != self.token:
            return self.error_response(HubSpotError(401, _AUTH_MESSAGE, "INVALID_AUTHENTICATION"), request)
        is_search = request.method == "POST" and request.path.rstrip("/").endswith("/search")
        try:
            request.environ[_ADMISSION] = self.limiter.admit(self.clock.now_ms(), is_search=is_search)
        except HubSpotError as error:
            return self.error_response(error, request)
        return None

    def decorate(self, request: Request, response: Response) -> None:
        admission = request.environ.get(_ADMISSION)
        if isinstance(admission, Admission):
            response.headers.update(self.limiter.headers(admission))
        correlation_id = request.environ.get(_CORRELATION)
        if correlation_id:
            response.headers["X-HubSpot-Correlation-Id"] = str(correlation_id)

    def fault_response(self, fault: Fault, request: Request) -> Response:
        if fault.kind == "rate_limit":
            error = rate_limit_error(
                "You have reached your ten_secondly_rolling limit.", "TEN_SECONDLY_ROLLING", fault.retry_after
            )
        elif fault.kind == "expired_session":
            error = HubSpotError(
                401, "The OAuth token used to make this call expired 1 hour(s) ago.", "EXPIRED_AUTHENTICATION"
            )
        else:
            status = fault.status or 503
            category = _STATUS_CATEGORIES.get(
                status, "INTERNAL_ERROR" if status >= 500 else "VALIDATION_ERROR"
            )
            message = "internal error" if status >= 500 else f"Injected fault: HTTP {status}"
            error = HubSpotError(status, message, category)
            if status == 429:
                error.headers["Retry-After"] = str(fault.retry_after)
        return self.error_response(error, request)

    def not_found(self, request: Request) -> Response:
        return self.error_response(
            HubSpotError(404, f"No route for {request.method} {request.path}", "OBJECT_NOT_FOUND"), request
        )

    def error_response(self, error: HubSpotError, request: Request) -> Response:
        correlation_id = self.correlation_ids.next()
        request.environ[_CORRELATION] = correlation_id
        return error.response(correlation_id)

    # -- routing -------------------------------------------------------------------------------
    def _guarded(self, handler: Handler) -> Handler:
        def run(request: Request, **kwargs: Any) -> Response:
            try:
                return handler(request, **kwargs)
            except HubSpotError as error:
                return self.error_response(error, request)

        return run

    def _api(self, rule: str, handler: Handler, methods: Iterable[str]) -> None:
        self.route(rule, self._guarded(handler), list(methods))

    def _adm(self, rule: str, handler: Handler, methods: Iterable[str]) -> None:
        self.admin_route(rule, self._guarded(handler), list(methods))

    def _register_routes(self) -> None:
        mkt, admin = self.marketing_api, self.admin
        # HubSpot answers the legacy paths (still called by scripts and the official v12 client)
        # and each date-based version it serves, with the same handlers.
        legacy = CrmPaths(
            objects="/crm/v3/objects",
            owners="/crm/v3/owners",
            properties="/crm/v3/properties",
            associations="/crm/v4/associations",
            object_associations="/crm/v4/objects",
        )
        for paths in (legacy, *(CrmPaths.dated(version) for version in SERVED_VERSIONS)):
            self._register_crm_routes(paths)
        for version in SERVED_VERSIONS:
            self._api(f"/marketing/emails/{version}", mkt.emails, ["GET"])
            self._api(f"/marketing/emails/{version}/<email_id>", mkt.email, ["GET"])
        self._api("/marketing/v3/emails", mkt.emails, ["GET"])
        self._api("/marketing/v3/emails/<email_id>", mkt.email, ["GET"])
        self._api("/email/public/v1/events", mkt.email_events, ["GET"])
        self._api("/email/public/v1/campaigns/by-id", mkt.campaigns, ["GET"])
        self._api("/email/public/v1/campaigns/<campaign_id>", mkt.campaign, ["GET"])
        self._api("/marketing/v3/forms", mkt.forms, ["GET"])
        self._api("/marketing/v3/forms/<form_id>", mkt.form, ["GET"])
        self._api("/form-integrations/v1/submissions/forms/<form_guid>", mkt.submissions, ["GET"])
        self._api(f"{PUBLIC_SUBMIT_PREFIX}<portal_id>/<form_guid>", mkt.submit, ["POST"])
        self._api("/submissions/v3/integration/secure/submit/<portal_id>/<form_guid>", mkt.submit, ["POST"])

        for details in ("/account-info/v3/details", "/account-info/2026-03/details"):
            self._api(details, self.account_details, ["GET"])
        self._api("/oauth/v2/private-apps/get/access-token-info", self.access_token_info, ["POST"])

        self._adm("/owners", admin.owners, ["GET", "POST"])
        self._adm("/seed", admin.seed, ["POST"])
        self._adm("/state", admin.state, ["GET"])
        self._adm("/objects/<object_type>", admin.objects, ["GET", "POST"])
        self._adm("/objects/<object_type>/<object_id>", admin.object, ["GET", "PATCH", "DELETE"])
        self._adm("/associations", admin.associations, ["POST", "DELETE"])
        self._adm("/marketing-emails", admin.marketing_emails, ["POST"])
        self._adm("/email-events", admin.email_events, ["GET", "POST"])
        self._adm("/forms", admin.forms, ["POST"])
        self._adm("/sales-email-events", admin.sales_email_events, ["POST"])
        self._adm("/webhooks", admin.webhooks, ["GET", "POST", "DELETE"])
        self._adm("/webhooks/flush", admin.webhooks_flush, ["POST"])
        self._adm("/webhooks/deliveries", admin.webhook_deliveries, ["GET", "DELETE"])
        self._adm("/workflow-webhooks", admin.workflow_webhooks, ["GET", "POST", "DELETE"])
        self._adm("/workflow-webhooks/flush", admin.workflow_webhooks_flush, ["POST"])
        self._adm("/workflow-webhooks/deliveries", admin.workflow_webhook_deliveries, ["GET", "DELETE"])
        self._adm("/document-views", admin.document_views, ["GET", "POST"])
        self._adm("/timeline-events", admin.timeline_events, ["GET", "POST"])
        self._adm("/rate-limits", admin.rate_limits, ["GET", "POST", "DELETE"])
        self._adm("/config", admin.config, ["GET", "POST"])

    def _register_crm_routes(self, paths: CrmPaths) -> None:
        crm, assoc = self.crm, self.associations_api
        objects = f"{paths.objects}/<object_type>"
        self._api(objects, crm.objects, ["GET", "POST"])
        self._api(f"{objects}/search", crm.search, ["POST"])
        self._api(f"{objects}/batch/<action>", crm.batch, ["POST"])
        self._api(f"{objects}/<object_id>", crm.object, ["GET", "PATCH", "DELETE"])
        self._api(paths.owners, crm.owners, ["GET"])
        self._api(f"{paths.owners}/<owner_id>", crm.owner, ["GET"])
        properties = f"{paths.properties}/<object_type>"
        self._api(properties, crm.properties, ["GET", "POST"])
        self._api(f"{properties}/batch/<action>", crm.properties_batch, ["POST"])
        self._api(f"{properties}/groups", crm.property_groups, ["GET", "POST"])
        self._api(f"{properties}/groups/<group_name>", crm.property_group, ["GET"])
        self._api(f"{properties}/<property_name>", crm.property, ["GET", "PATCH", "DELETE"])

        batch = f"{paths.associations}/<from_type>/<to_type>/batch"
        self._api(f"{batch}/<action>", assoc.batch, ["POST"])
        self._api(f"{batch}/associate/default", assoc.batch_default, ["POST"])
        per_object = f"{paths.object_associations}/<object_type>/<object_id>/associations"
        self._api(
            f"{paths.object_associations}/<from_type>/<from_id>/associations/default/<to_type>/<to_id>",
            assoc.default_single,
            ["PUT"],
        )
        self._api(f"{per_object}/<to_type>", assoc.list_for_object, ["GET"])
        self._api(f"{per_object}/<to_type>/<to_id>", assoc.labelled, ["PUT", "DELETE"])


def start_hubspot_sandbox(port: int = 0, **kwargs: Any) -> RunningServer:
    """Serve a new :class:`HubSpotSandbox` (plain http) on ``127.0.0.1:port``; 0 picks a free port."""
    return serve(HubSpotSandbox(**kwargs), port)
