"""The Salesforce sandbox WSGI application: the org's state (schema, records, users, sessions,
usage, Outbound Messages), its hooks (authentication, faults, errors) and its route table. The
routes are served by one group each, as the HubSpot sandbox's are: ``oauth_api`` (OAuth under
``/services/oauth2/``), ``records_api`` (REST resources, records, replication, queries),
``collections_api`` (sObject Collections), ``composite_api`` (composite requests) and
``admin_api`` (``/_sandbox/``). Each takes the org as an ``org.Org`` and imports nothing of this
module."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.wrappers import Request, Response

from activity_sync_tools.sandbox.core import Fault, SandboxApp, json_response
from activity_sync_tools.sandbox.salesforce import oauth, seed
from activity_sync_tools.sandbox.salesforce.admin_api import AdminApi
from activity_sync_tools.sandbox.salesforce.api_common import (
    DATA_PREFIX,
    DEFAULT_API_VERSION,
    DEFAULT_ORG_ID,
    INTEGRATION_PERMISSION_SET,
    INTEGRATION_USERNAME,
    USER_ENVIRON_KEY,
    VERSION_PATTERN,
    ApiContext,
    ApiUsage,
    QueryCursor,
    V,
)
from activity_sync_tools.sandbox.salesforce.collections_api import CollectionsApi
from activity_sync_tools.sandbox.salesforce.composite_api import CompositeApi
from activity_sync_tools.sandbox.salesforce.errors import (
    SalesforceError,
    not_found,
    oauth_error,
    session_invalid,
)
from activity_sync_tools.sandbox.salesforce.ids import IdMinter, parse_id
from activity_sync_tools.sandbox.salesforce.oauth_api import OAuthApi
from activity_sync_tools.sandbox.salesforce.outbound import OutboundMessenger
from activity_sync_tools.sandbox.salesforce.records_api import RecordsApi
from activity_sync_tools.sandbox.salesforce.schema import Schema
from activity_sync_tools.sandbox.salesforce.store import MultipleMatches, Store, StoredRecord
from activity_sync_tools.sandbox.salesforce.tooling_api import DATA_OBJECTS, VIEW_QUERY, ToolingApi
from activity_sync_tools.sandbox.salesforce.values import Value, to_json


class SalesforceSandbox(SandboxApp):
    """A stateful emulator of the Salesforce REST API subset the service uses."""

    name = "salesforce"

    def __init__(
        self,
        *,
        org_id: str = DEFAULT_ORG_ID,
        client_id: str = "salesforce-sandbox-client-id",
        client_secret: str = "salesforce-sandbox-client-secret",  # noqa: S107 - a public test default
        jwt_public_key_pem: bytes | None = None,
        session_lifetime_seconds: int = 7200,
        daily_api_limit: int = 100_000,
        api_version: str = DEFAULT_API_VERSION,
        seed: dict[str, Any] | None = None,
        outbound_message_url: str | None = None,
        outbound_retry_base_seconds: float = 0.2,
        outbound_max_attempts: int = 5,
        outbound_background: bool = True,
        instance_url: str | None = None,
    ) -> None:
        super().__init__()
        parsed_org = parse_id(org_id)
        if parsed_org is None or not parsed_org.startswith("00D"):
            raise ValueError(f"org_id must be a 15- or 18-character 00D id, got {org_id!r}")
        self.org_id = parsed_org
        self.client_id = client_id
        self.client_secret = client_secret
        # Other External Client Apps of the org (client credentials): id -> (secret, run-as user id).
        self.other_clients: dict[str, tuple[str, str]] = {}
        self.jwt_public_key_pem = jwt_public_key_pem
        self._initial_jwt_key = jwt_public_key_pem
        self.session_lifetime_seconds = session_lifetime_seconds
        self.daily_api_limit = daily_api_limit
        self.api_version = api_version.removeprefix("v")
        self.instance_url = instance_url
        self._initial_seed = seed
        self._initial_outbound_url = outbound_message_url
        self._outbound_options = {
            "retry_base_seconds": outbound_retry_base_seconds,
            "max_attempts": outbound_max_attempts,
            "background": outbound_background,
            "deliver_twice": False,  # a reset org delivers once
        }
        self.minter = IdMinter()
        self.outbound = OutboundMessenger(
            organization_id=self.org_id,
            mint_id=self.minter.mint,
            snapshot=self._outbound_snapshot,
            issue_session=self._outbound_session,
            urls=self._soap_urls,
            retry_base_seconds=outbound_retry_base_seconds,
            max_attempts=outbound_max_attempts,
            background=outbound_background,
        )
        self._build_state()
        self.oauth = OAuthApi(self)
        self.records = RecordsApi(self)
        self.tooling = ToolingApi(self)
        self.collections = CollectionsApi(self)
        self.composite = CompositeApi(self)
        self.admin = AdminApi(self)
        self._register_routes()

    # -- state -----------------------------------------------------------------------------------
    def _build_state(self) -> None:
        self.minter.reset()
        self.jwt_public_key_pem = self._initial_jwt_key
        self.schema = Schema()
        self.store = Store(self.schema, self.clock, self.minter)
        self.store.listeners.append(self.outbound.on_changes)
        self.sessions = oauth.SessionRegistry(self.org_id, self.clock, self.session_lifetime_seconds)
        self.usage = ApiUsage(self.daily_api_limit)
        self.cursors: dict[str, QueryCursor] = {}
        self.seed_keys: dict[str, str] = {}
        self.run_as_user_id = ""
        self.run_as_user_id = self.create_user(
            {
                "Username": INTEGRATION_USERNAME,
                "Email": INTEGRATION_USERNAME,
                "FirstName": "Integration",
                "LastName": "User",
                "Alias": "integ",
            }
        )
        self.seed_keys["integration"] = self.run_as_user_id
        self.other_clients = {}
        with self.store.transaction():
            # The project's permission set (salesforce/force-app/.../permissionsets), assigned.
            permission_set = self.store.create(
                "PermissionSet",
                {
                    "Name": INTEGRATION_PERMISSION_SET,
                    "Label": "HubSpot Activity Sync Integration",
                    "PermissionsApiEnabled": True,
                },
                self.run_as_user_id,
                seeding=True,
            )
            self.store.create(
                "PermissionSetAssignment",
                {"AssigneeId": self.run_as_user_id, "PermissionSetId": permission_set.id},
                self.run_as_user_id,
                seeding=True,
            )
        self.outbound.clear()
        self.outbound.update_settings(dict(self._outbound_options))
        if self._initial_outbound_url:
            self.configure_outbound(self._initial_outbound_url, ["Task", "Event"])
        if self._initial_seed:
            self.load_seed(self._initial_seed)

    def reset_state(self) -> None:
        # The core resets the clock after this hook; do it first so the rebuilt org's records
        # (integration user, constructor seed) carry present-day stamps.
        self.clock.reset()
        self._build_state()

    def close(self) -> None:
        """Stop delivering outbound messages (the server is stopping)."""
        self.outbound.stop()

    def load_seed(self, data: dict[str, Any]) -> dict[str, str]:
        """Load a seed (see the package docstring); returns seed key -> record id."""
        with self.lock:
            return seed.apply_seed(self, data)

    def load_seed_file(self, path: str | Path) -> dict[str, str]:
        return self.load_seed(seed.read_seed_file(path))

    def create_user(self, fields: dict[str, Any]) -> str:
        """Create a user (admin action: no API call spent, no outbound message)."""
        aliases = {
            "username": "Username",
            "email": "Email",
            "first_name": "FirstName",
            "last_name": "LastName",
            "is_active": "IsActive",
            "alias": "Alias",
            "title": "Title",
        }
        data = {aliases.get(name, name): value for name, value in fields.items()}
        creator = self.run_as_user_id
        with self.lock, self.store.transaction():
            record = self.store.create("User", data, creator, seeding=True)
            if not creator:  # the very first user creates itself
                record.values["CreatedById"] = record.values["LastModifiedById"] = record.id
            return record.id

    def seed_record(
        self, sobject: str, fields: dict[str, Any], creator: str, *, deleted: bool = False
    ) -> str:
        with self.lock, self.store.transaction():
            record = self.store.create(sobject, fields, creator, seeding=True)
            if deleted:
                self.store.delete(None, record.id, creator, seeding=True)
            return record.id

    def resolve_user(self, reference: str) -> str:
        """A user id from ``@key``, an id or a username."""
        if reference.startswith("@"):
            user_id = self.seed_keys.get(reference[1:])
        else:
            user_id = parse_id(reference)
            if user_id is None or user_id not in self.store.records:
                user_id = next(
                    (
                        r.id
                        for r in self.store.live("User")
                        if str(r.values["Username"]).lower() == reference.lower()
                    ),
                    None,
                )
        if user_id is None or self.store.records.get(user_id) is None or not user_id.startswith("005"):
            raise ValueError(f"no such user: {reference}")
        return user_id

    def set_run_as(self, reference: str) -> str:
        with self.lock:
            self.run_as_user_id = self.resolve_user(reference)
            return self.run_as_user_id

    def issue_session(self, user: str | None = None) -> str:
        """An access token for ``user`` (``@key``, id or username; default: the run-as user), as if
        obtained through OAuth. For tests and local tooling."""
        with self.lock:
            user_id = self.resolve_user(user) if user else self.run_as_user_id
        return self.sessions.issue(user_id, self.client_id).token

    def configure_outbound(
        self,
        endpoint_url: str,
        objects: list[str],
        fields: list[str] | dict[str, list[str]] | None = None,
        *,
        include_session_id: bool = False,
        send_as: str | None = None,
        verify_tls: bool | str = True,
        skip_changes_by: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Outbound Messages on ``objects`` to ``endpoint_url``. ``skip_changes_by``: users whose
        changes send nothing (``@key``, id or username), as a flow's entry condition would."""
        fields_by_object: dict[str, list[str]] = {}
        send_as_id = self.resolve_user(send_as) if send_as else None
        skipped_ids = tuple(self.resolve_user(user) for user in skip_changes_by or ())
        for name in objects:
            obj = self.schema.require(name)
            wanted = fields.get(obj.name, []) if isinstance(fields, dict) else fields
            if not wanted:
                chosen = [definition.name for definition in obj.fields.values()]
            else:
                chosen = ["Id"]
                for field_name in wanted:
                    definition = obj.fields.get(field_name.lower())
                    if definition is not None and definition.name not in chosen:
                        chosen.append(definition.name)
                    elif definition is None and isinstance(fields, dict):
                        raise ValueError(f"no field {obj.name}.{field_name}")
            fields_by_object[obj.name] = chosen
        actions = self.outbound.configure(
            endpoint_url=endpoint_url,
            objects=list(fields_by_object),
            fields_by_object=fields_by_object,
            include_session_id=include_session_id,
            send_as=send_as_id,
            verify_tls=verify_tls,
            skip_changes_by=skipped_ids,
        )
        return [action.describe() for action in actions]

    def _outbound_snapshot(self, sobject: str, record_id: str, fields: list[str]) -> dict[str, Value] | None:
        with self.lock:
            record = self.store.records.get(record_id)
            if record is None:
                return None
            return {name: record.values.get(name) for name in fields}

    def _outbound_session(self, user_id: str | None) -> str:
        return self.sessions.issue(user_id or self.run_as_user_id, self.client_id).token

    def _soap_urls(self) -> tuple[str, str]:
        base = self.instance_url or "https://localhost"
        org15 = self.org_id[:15]
        return (
            f"{base}/services/Soap/c/{self.api_version}/{org15}",
            f"{base}/services/Soap/u/{self.api_version}/{org15}",
        )

    # -- hooks -----------------------------------------------------------------------------------
    def authenticate(self, request: Request) -> Response | None:
        path = request.path.rstrip("/")
        needs_session = (path.startswith(DATA_PREFIX + "/") and path != DATA_PREFIX) or path in (
            "/services/oauth2/userinfo",
        )
        if not needs_session:
            return None
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or not token.strip():
            return session_invalid()
        session = self.sessions.lookup(token.strip())
        if session is None:
            return session_invalid()
        with self.lock:
            user = self.store.records.get(session.user_id)
            active = user is not None and user.values.get("IsActive") is not False
        if not active:
            return session_invalid()
        if path.startswith(DATA_PREFIX + "/") and not self.usage.spend(self.clock.now()):
            return json_response(
                [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}], 403
            )
        request.environ[USER_ENVIRON_KEY] = session.user_id
        return None

    def decorate(self, request: Request, response: Response) -> None:
        if request.path.startswith(DATA_PREFIX):
            used, maximum = self.usage.snapshot(self.clock.now())
            response.headers["Sforce-Limit-Info"] = f"api-usage={used}/{maximum}"

    def fault_response(self, fault: Fault, request: Request) -> Response:
        if request.path.startswith("/services/oauth2"):
            if fault.kind == "rate_limit":
                return oauth_error("rate_limited", "too many requests", 429)
            status = fault.status or (400 if fault.kind == "expired_session" else 503)
            return oauth_error("unknown_error", f"injected fault {status}", status)
        if fault.kind == "expired_session":
            return session_invalid()
        if fault.kind == "rate_limit":
            response = json_response(
                [{"message": "Too many requests; retry later.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}], 429
            )
            response.headers["Retry-After"] = str(fault.retry_after)
            return response
        status = fault.status or (500 if fault.kind == "server_error" else 503)
        codes = {
            400: ("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records"),
            401: ("INVALID_SESSION_ID", "Session expired or invalid"),
            403: ("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
            404: ("NOT_FOUND", "The requested resource does not exist"),
            409: ("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records"),
            503: ("SERVER_UNAVAILABLE", "Server is temporarily unavailable. Please try again later."),
        }
        code, message = codes.get(
            status,
            (
                "UNKNOWN_EXCEPTION",
                "An unexpected error occurred. Please include this ErrorId if you contact support: "
                "1234567890-12345 (-1234567890)",
            ),
        )
        return json_response([{"message": message, "errorCode": code}], status)

    def not_found(self, request: Request) -> Response:
        if request.path.startswith("/services/"):
            return json_response(
                [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}], 404
            )
        return super().not_found(request)

    def http_error(self, request: Request, error: HTTPException) -> Response:
        if isinstance(error, MethodNotAllowed) and request.path.startswith("/services/"):
            allowed = ",".join(sorted(m for m in (error.valid_methods or []) if m not in ("HEAD", "OPTIONS")))
            return json_response(
                [
                    {
                        "errorCode": "METHOD_NOT_ALLOWED",
                        "message": f"HTTP Method '{request.method}' not allowed. Allowed are {allowed}",
                    }
                ],
                405,
            )
        return super().http_error(request, error)

    # -- routing ---------------------------------------------------------------------------------
    def api(self, rule: str, handler: Callable[..., Response], methods: list[str]) -> None:
        """Register a REST route: checks the version, runs under the lock, maps errors."""

        def wrapped(request: Request, version: str, **kwargs: Any) -> Response:
            match = VERSION_PATTERN.match(version)
            if not match or int(match.group(1)) < 20:
                return not_found().response()
            context = ApiContext(request, version, str(request.environ.get(USER_ENVIRON_KEY, "")))
            try:
                with self.lock:
                    return handler(context, **kwargs)
            except SalesforceError as error:
                return error.response()
            except MultipleMatches as multiple:
                return json_response(
                    [
                        f"/services/data/{version}/sobjects/{self._type_of(i)}/{i}"
                        for i in multiple.record_ids
                    ],
                    300,
                )

        self.route(rule, wrapped, methods)

    def _data_query(self, ctx: ApiContext) -> Response:
        """``/query``: records, or the flow definitions (served from the outbound configuration)."""
        text = ctx.request.args.get("q") or ""
        if VIEW_QUERY.search(text):
            return self.tooling.answer(ctx, text, DATA_OBJECTS)
        return self.records.query(ctx)

    def _type_of(self, record_id: str) -> str:
        obj = self.schema.for_id(record_id)
        return obj.name if obj else "sObject"

    def _register_routes(self) -> None:
        self.route("/services/oauth2/token", self.oauth.oauth_token, ["POST"])
        self.route("/services/oauth2/userinfo", self.oauth.oauth_userinfo, ["GET", "POST"])
        self.route("/services/oauth2/revoke", self.oauth.oauth_revoke, ["POST"])
        self.route(DATA_PREFIX, self.records.versions, ["GET"])
        self.api(V, self.records.resources, ["GET"])
        self.api(V + "/limits", self.records.limits, ["GET"])
        self.api(V + "/sobjects", self.records.global_describe, ["GET"])
        self.api(V + "/sobjects/<sobject>", self.records.sobject_root, ["GET", "POST"])
        self.api(V + "/sobjects/<sobject>/describe", self.records.describe, ["GET"])
        self.api(V + "/sobjects/<sobject>/updated", self.records.updated, ["GET"])
        self.api(V + "/sobjects/<sobject>/deleted", self.records.deleted, ["GET"])
        self.api(V + "/sobjects/<sobject>/<record_id>", self.records.record, ["GET", "PATCH", "DELETE"])
        self.api(
            V + "/sobjects/<sobject>/<field>/<path:value>",
            self.records.by_external_id,
            ["GET", "PATCH", "DELETE"],
        )
        self.api(V + "/query", self._data_query, ["GET"])
        self.api(V + "/tooling/query", self.tooling.query, ["GET"])
        self.api(V + "/query/<locator>", self.records.query_more, ["GET"])
        self.api(V + "/queryAll", self.records.query_all, ["GET"])
        self.api(V + "/queryAll/<locator>", self.records.query_more, ["GET"])
        self.api(V + "/composite", self.composite.composite, ["POST"])
        self.api(V + "/composite/sobjects", self.collections.collections, ["POST", "PATCH", "DELETE"])
        self.api(V + "/composite/sobjects/<sobject>", self.collections.collection_retrieve, ["GET", "POST"])
        self.api(V + "/composite/sobjects/<sobject>/<field>", self.collections.collection_upsert, ["PATCH"])

        self.admin_route("/users", self.admin.admin_users, ["GET", "POST"])
        self.admin_route("/users/<user_id>", self.admin.admin_user, ["PATCH"])
        self.admin_route("/seed", self.admin.admin_seed, ["POST"])
        self.admin_route("/picklists", self.admin.admin_picklists, ["POST"])
        self.admin_route("/fields", self.admin.admin_fields, ["POST"])
        self.admin_route("/field-access", self.admin.admin_field_access, ["POST"])
        self.admin_route("/sessions", self.admin.admin_sessions, ["GET", "POST"])
        self.admin_route("/sessions/expire", self.admin.admin_expire_sessions, ["POST"])
        self.admin_route("/jwt-key", self.admin.admin_jwt_key, ["POST"])
        self.admin_route("/run-as", self.admin.admin_run_as, ["GET", "POST"])
        self.admin_route("/clients", self.admin.admin_clients, ["GET", "POST"])
        self.admin_route("/limits", self.admin.admin_limits, ["GET", "POST"])
        self.admin_route("/sobjects/<sobject>", self.admin.admin_sobjects, ["GET", "POST"])
        self.admin_route(
            "/sobjects/<sobject>/<record_id>", self.admin.admin_sobject, ["GET", "PATCH", "DELETE"]
        )
        self.admin_route("/leads/<lead_id>/convert", self.admin.admin_convert_lead, ["POST"])
        self.admin_route("/outbound-messages", self.admin.admin_outbound, ["GET", "POST", "DELETE"])
        self.admin_route("/outbound-messages/flush", self.admin.admin_outbound_flush, ["POST"])
        self.admin_route("/outbound-messages/deliveries", self.admin.admin_outbound_deliveries, ["GET"])
        self.admin_route("/outbound-messages/settings", self.admin.admin_outbound_settings, ["GET", "POST"])

    # -- what the route groups share ------------------------------------------------------------
    def base_url(self, request: Request) -> str:
        return self.instance_url or request.host_url.rstrip("/")

    def render(self, record: StoredRecord, version: str, fields: list[str] | None = None) -> dict[str, Any]:
        """A record as the REST API shows it: its ``attributes`` and the fields asked for (every
        visible field when none is)."""
        obj = self.schema.require(record.sobject)
        names = (
            [obj.require(name.strip()).name for name in fields]
            if fields
            else [definition.name for definition in obj.visible_fields()]
        )
        out: dict[str, Any] = {
            "attributes": {
                "type": record.sobject,
                "url": f"/services/data/{version}/sobjects/{record.sobject}/{record.id}",
            }
        }
        for name in names:
            out[name] = to_json(record.values.get(name))
        return out
