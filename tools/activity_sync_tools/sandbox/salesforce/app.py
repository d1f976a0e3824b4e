"""The Salesforce sandbox WSGI application: REST routes under ``/services/data/vXX.X/``, OAuth
under ``/services/oauth2/``, and admin routes under ``/_sandbox/``."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from activity_sync_tools.sandbox.core import Fault, SandboxApp, json_response
from activity_sync_tools.sandbox.salesforce import oauth, seed, soql
from activity_sync_tools.sandbox.salesforce.errors import (
    SalesforceError,
    json_parser_error,
    not_found,
    oauth_error,
    session_invalid,
)
from activity_sync_tools.sandbox.salesforce.ids import IdMinter, parse_id
from activity_sync_tools.sandbox.salesforce.outbound import OutboundMessenger
from activity_sync_tools.sandbox.salesforce.schema import Schema
from activity_sync_tools.sandbox.salesforce.store import MultipleMatches, Store, StoredRecord
from activity_sync_tools.sandbox.salesforce.values import Value, format_datetime, parse_datetime, to_json

DEFAULT_ORG_ID = "00D8d000000SbXcEAK"
DEFAULT_API_VERSION = "59.0"
DATA_PREFIX = "/services/data"
V = DATA_PREFIX + "/<version>"
PAGE_SIZE = 2000
MAX_COLLECTION_RECORDS = 200
MAX_COMPOSITE_SUBREQUESTS = 25
# "Up to 5 of these subrequests can be sObject Collections or query operations" (Send Multiple
# Requests Using Composite, API v43.0 and later).
MAX_COMPOSITE_COLLECTIONS_OR_QUERIES = 5
UPDATED_WINDOW = dt.timedelta(days=30)
DELETED_WINDOW = dt.timedelta(days=15)
CURSOR_IDLE_LIFETIME = dt.timedelta(minutes=15)
USER_ENVIRON_KEY = "salesforce_sandbox.user_id"
INTEGRATION_USERNAME = "integration.user@sandbox.example.com"
_VERSION = re.compile(r"^v(\d{2})\.(\d)$")
_REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")
_ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": (
        "Record rolled back because not all records were valid and the request was using AllOrNone header"
    ),
    "fields": [],
}
_HALTED = "The transaction was rolled back since another operation in the same transaction failed."

# Release names for the version listing at /services/data/.
_RELEASES = {
    55: "Summer '22",
    56: "Winter '23",
    57: "Spring '23",
    58: "Summer '23",
    59: "Winter '24",
    60: "Spring '24",
    61: "Summer '24",
    62: "Winter '25",
}


@dataclass
class ApiContext:
    request: Request
    version: str  # "v59.0"
    user_id: str

    @property
    def version_number(self) -> float:
        return float(self.version[1:])


@dataclass
class QueryCursor:
    records: list[dict[str, Any]]
    total: int
    include_deleted: bool
    last_used: dt.datetime


class ApiUsage:
    """The org's daily API request allocation: a 24-hour window that starts with its first call
    (Salesforce measures a rolling 24 hours)."""

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self.used = 0
        self.window_start: dt.datetime | None = None
        self._lock = threading.Lock()

    def _roll(self, now: dt.datetime) -> None:
        if self.window_start is None or now - self.window_start >= dt.timedelta(hours=24):
            self.window_start = now
            self.used = 0

    def spend(self, now: dt.datetime) -> bool:
        with self._lock:
            self._roll(now)
            if self.used >= self.maximum:
                return False
            self.used += 1
            return True

    def snapshot(self, now: dt.datetime) -> tuple[int, int]:
        with self._lock:
            self._roll(now)
            return self.used, self.maximum

    def set(self, now: dt.datetime, *, remaining: int | None = None, maximum: int | None = None) -> None:
        with self._lock:
            self._roll(now)
            if maximum is not None:
                self.maximum = maximum
            if remaining is not None:
                self.used = max(0, self.maximum - remaining)


def _json_body(request: Request) -> Any:
    raw = request.get_data(as_text=True)
    if not raw.strip():
        raise json_parser_error("The request body is empty. Expected a JSON value.")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise json_parser_error(f"Unexpected character at [line:{exc.lineno}, column:{exc.colno}]") from None


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)


def _is_collection_or_query(url: Any) -> bool:
    """Whether a composite subrequest's URL is an sObject Collections or a query request."""
    segments = urlsplit(str(url or "")).path.strip("/").split("/")
    # /services/data/vXX.X/<resource>/...
    resource = segments[3] if len(segments) > 3 else ""
    return resource in ("query", "queryAll") or (resource == "composite" and segments[4:5] == ["sobjects"])


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
            match = _VERSION.match(version)
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

    def _type_of(self, record_id: str) -> str:
        obj = self.schema.for_id(record_id)
        return obj.name if obj else "sObject"

    def _register_routes(self) -> None:
        self.route("/services/oauth2/token", self._oauth_token, ["POST"])
        self.route("/services/oauth2/userinfo", self._oauth_userinfo, ["GET", "POST"])
        self.route("/services/oauth2/revoke", self._oauth_revoke, ["POST"])
        self.route(DATA_PREFIX, self._versions, ["GET"])
        self.api(V, self._resources, ["GET"])
        self.api(V + "/limits", self._limits, ["GET"])
        self.api(V + "/sobjects", self._global_describe, ["GET"])
        self.api(V + "/sobjects/<sobject>", self._sobject_root, ["GET", "POST"])
        self.api(V + "/sobjects/<sobject>/describe", self._describe, ["GET"])
        self.api(V + "/sobjects/<sobject>/updated", self._updated, ["GET"])
        self.api(V + "/sobjects/<sobject>/deleted", self._deleted, ["GET"])
        self.api(V + "/sobjects/<sobject>/<record_id>", self._record, ["GET", "PATCH", "DELETE"])
        self.api(
            V + "/sobjects/<sobject>/<field>/<path:value>", self._by_external_id, ["GET", "PATCH", "DELETE"]
        )
        self.api(V + "/query", self._query, ["GET"])
        self.api(V + "/query/<locator>", self._query_more, ["GET"])
        self.api(V + "/queryAll", self._query_all, ["GET"])
        self.api(V + "/queryAll/<locator>", self._query_more, ["GET"])
        self.api(V + "/composite", self._composite, ["POST"])
        self.api(V + "/composite/sobjects", self._collections, ["POST", "PATCH", "DELETE"])
        self.api(V + "/composite/sobjects/<sobject>", self._collection_retrieve, ["GET", "POST"])
        self.api(V + "/composite/sobjects/<sobject>/<field>", self._collection_upsert, ["PATCH"])

        self.admin_route("/users", self._admin_users, ["GET", "POST"])
        self.admin_route("/users/<user_id>", self._admin_user, ["PATCH"])
        self.admin_route("/seed", self._admin_seed, ["POST"])
        self.admin_route("/picklists", self._admin_picklists, ["POST"])
        self.admin_route("/fields", self._admin_fields, ["POST"])
        self.admin_route("/field-access", self._admin_field_access, ["POST"])
        self.admin_route("/sessions", self._admin_sessions, ["GET", "POST"])
        self.admin_route("/sessions/expire", self._admin_expire_sessions, ["POST"])
        self.admin_route("/jwt-key", self._admin_jwt_key, ["POST"])
        self.admin_route("/run-as", self._admin_run_as, ["GET", "POST"])
        self.admin_route("/limits", self._admin_limits, ["GET", "POST"])
        self.admin_route("/sobjects/<sobject>", self._admin_sobjects, ["GET", "POST"])
        self.admin_route("/sobjects/<sobject>/<record_id>", self._admin_sobject, ["GET", "PATCH", "DELETE"])
        self.admin_route("/leads/<lead_id>/convert", self._admin_convert_lead, ["POST"])
        self.admin_route("/outbound-messages", self._admin_outbound, ["GET", "POST", "DELETE"])
        self.admin_route("/outbound-messages/flush", self._admin_outbound_flush, ["POST"])
        self.admin_route("/outbound-messages/deliveries", self._admin_outbound_deliveries, ["GET"])
        self.admin_route("/outbound-messages/settings", self._admin_outbound_settings, ["GET", "POST"])

    # -- OAuth -----------------------------------------------------------------------------------
    def _base_url(self, request: Request) -> str:
        return self.instance_url or request.host_url.rstrip("/")

    def _oauth_token(self, request: Request) -> Response:
        form = request.form
        grant_type = form.get("grant_type", "")
        base = self._base_url(request)
        if grant_type == "client_credentials":
            basic = oauth.client_from_basic_auth(request.headers.get("Authorization"))
            client_id, client_secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
            if client_id != self.client_id:
                return oauth_error("invalid_client_id", "client identifier invalid")
            if client_secret != self.client_secret:
                return oauth_error("invalid_client", "invalid client credentials")
            with self.lock:
                user = self.store.records.get(self.run_as_user_id)
            if user is None or user.values.get("IsActive") is False:
                return oauth_error("invalid_grant", "no client credentials user enabled")
            return self._token_answer(base, user.id)
        if grant_type == oauth.JWT_BEARER_GRANT:
            key = self.jwt_public_key_pem
            if key is None:
                return oauth_error("invalid_client", "no certificate is registered for this connected app")
            try:
                username = oauth.verify_jwt_assertion(
                    form.get("assertion", ""),
                    public_key_pem=key,
                    client_id=self.client_id,
                    audiences=(*oauth.LOGIN_AUDIENCES, base, request.host_url.rstrip("/")),
                    now=self.clock.now(),
                )
            except oauth.OAuthFailure as failure:
                return oauth_error(failure.error, failure.description)
            with self.lock:
                user = next(
                    (
                        r
                        for r in self.store.live("User")
                        if str(r.values["Username"]).lower() == username.lower()
                    ),
                    None,
                )
            if user is None:
                return oauth_error("invalid_grant", "user hasn't approved this consumer")
            if user.values.get("IsActive") is False:
                return oauth_error("invalid_grant", "inactive user")
            return self._token_answer(base, user.id, include_issued_at=False)
        if not grant_type:
            return oauth_error("invalid_request", "grant type is missing")
        return oauth_error("unsupported_grant_type", "grant type not supported")

    def _token_answer(self, base: str, user_id: str, *, include_issued_at: bool = True) -> Response:
        session = self.sessions.issue(user_id, self.client_id)
        identity = f"{base}/id/{self.org_id}/{user_id}"
        issued_at = str(int(session.issued_at.timestamp() * 1000))
        body: dict[str, Any] = {
            "access_token": session.token,
            "scope": "api",
            "instance_url": base,
            "id": identity,
            "token_type": "Bearer",
        }
        if include_issued_at:
            body["issued_at"] = issued_at
            body["signature"] = oauth.signature(self.client_secret, identity, issued_at)
        return json_response(body)

    def _oauth_userinfo(self, request: Request) -> Response:
        user_id = str(request.environ.get(USER_ENVIRON_KEY, ""))
        with self.lock:
            user = self.store.records[user_id]
        base = self._base_url(request)
        values = user.values
        return json_response(
            {
                "sub": f"{base}/id/{self.org_id}/{user_id}",
                "user_id": user_id,
                "organization_id": self.org_id,
                "preferred_username": values.get("Username"),
                "name": values.get("Name"),
                "given_name": values.get("FirstName"),
                "family_name": values.get("LastName"),
                "email": values.get("Email"),
                "email_verified": True,
                "active": values.get("IsActive"),
                "user_type": "STANDARD",
                "urls": {"rest": f"{base}/services/data/v{{version}}/"},
            }
        )

    def _oauth_revoke(self, request: Request) -> Response:
        token = request.form.get("token", "")
        if not self.sessions.expire(token):
            return oauth_error("unsupported_token_type", "this token type is not supported")
        return Response(status=200)

    # -- discovery -------------------------------------------------------------------------------
    def _versions(self, request: Request) -> Response:
        latest = int(float(self.api_version))
        return json_response(
            [
                {
                    "label": _RELEASES.get(number, f"v{number}.0"),
                    "url": f"/services/data/v{number}.0",
                    "version": f"{number}.0",
                }
                for number in range(min(55, latest), latest + 1)
            ]
        )

    def _resources(self, ctx: ApiContext) -> Response:
        base = f"/services/data/{ctx.version}"
        names = ["sobjects", "query", "queryAll", "composite", "limits"]
        return json_response({name: f"{base}/{name}" for name in names})

    def _limits(self, ctx: ApiContext) -> Response:
        used, maximum = self.usage.snapshot(self.clock.now())
        return json_response(
            {
                "DailyApiRequests": {"Max": maximum, "Remaining": max(0, maximum - used)},
                "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
                "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
                "DataStorageMB": {"Max": 5, "Remaining": 5},
                "FileStorageMB": {"Max": 20, "Remaining": 20},
            }
        )

    def _global_describe(self, ctx: ApiContext) -> Response:
        return json_response(
            {
                "encoding": "UTF-8",
                "maxBatchSize": 200,
                "sobjects": [obj.summary(ctx.version) for obj in self.schema.objects.values()],
            }
        )

    def _describe(self, ctx: ApiContext, sobject: str) -> Response:
        return json_response(self.schema.require(sobject).describe(ctx.version))

    # -- records ---------------------------------------------------------------------------------
    def _render(self, record: StoredRecord, version: str, fields: list[str] | None = None) -> dict[str, Any]:
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

    @staticmethod
    def _fields_param(request: Request) -> list[str] | None:
        raw = request.args.get("fields")
        return [name for name in raw.split(",") if name.strip()] if raw else None

    def _sobject_root(self, ctx: ApiContext, sobject: str) -> Response:
        obj = self.schema.require(sobject)
        if ctx.request.method == "GET":
            recent = [
                {
                    "attributes": {
                        "type": obj.name,
                        "url": f"/services/data/{ctx.version}/sobjects/{obj.name}/{r.id}",
                    },
                    "Id": r.id,
                }
                for r in self.store.live(obj.name)[-5:]
            ]
            return json_response({"objectDescribe": obj.summary(ctx.version), "recentItems": recent})
        body = _json_body(ctx.request)
        if not isinstance(body, dict):
            raise json_parser_error("Expected a JSON object for the record")
        with self.store.transaction():
            record = self.store.create(obj.name, body, ctx.user_id)
        return json_response(
            {"id": record.id, "success": True, "errors": []},
            201,
            {"Location": f"/services/data/{ctx.version}/sobjects/{obj.name}/{record.id}"},
        )

    def _record(self, ctx: ApiContext, sobject: str, record_id: str) -> Response:
        obj = self.schema.require(sobject)
        method = ctx.request.method
        if method == "GET":
            record = self.store.fetch(obj, record_id)
            return json_response(self._render(record, ctx.version, self._fields_param(ctx.request)))
        if method == "PATCH":
            body = _json_body(ctx.request)
            if not isinstance(body, dict):
                raise json_parser_error("Expected a JSON object for the record")
            with self.store.transaction():
                self.store.update(obj, record_id, body, ctx.user_id)
            return Response(status=204)
        with self.store.transaction():
            self.store.delete(obj, record_id, ctx.user_id)
        return Response(status=204)

    def _by_external_id(self, ctx: ApiContext, sobject: str, field: str, value: str) -> Response:
        obj = self.schema.require(sobject)
        definition = self.store.external_id_field(obj, field)
        method = ctx.request.method
        if method == "PATCH":
            body = _json_body(ctx.request)
            if not isinstance(body, dict):
                raise json_parser_error("Expected a JSON object for the record")
            with self.store.transaction():
                record, created = self.store.upsert(obj, definition.name, value, body, ctx.user_id)
            if not created and ctx.version_number < 46.0:
                return Response(status=204)
            answer = {"id": record.id, "success": True, "errors": [], "created": created}
            headers = {"Location": f"/services/data/{ctx.version}/sobjects/{obj.name}/{record.id}"}
            return json_response(answer, 201 if created else 200, headers)
        matches = self.store.find_by_field(obj, definition, value)
        if len(matches) > 1:
            raise MultipleMatches([m.id for m in matches])
        if not matches:
            raise not_found()
        if method == "GET":
            return json_response(self._render(matches[0], ctx.version, self._fields_param(ctx.request)))
        with self.store.transaction():
            self.store.delete(obj, matches[0].id, ctx.user_id)
        return Response(status=204)

    # -- replication -----------------------------------------------------------------------------
    def _window(self, ctx: ApiContext, limit: dt.timedelta) -> tuple[dt.datetime, dt.datetime, dt.datetime]:
        """(start, end, latest covered) with seconds dropped, as Salesforce ignores them."""
        raw_start, raw_end = ctx.request.args.get("start"), ctx.request.args.get("end")
        if not raw_start or not raw_end:
            raise SalesforceError("MISSING_ARGUMENT", "start and end are required", 400)
        start, end = parse_datetime(raw_start), parse_datetime(raw_end)
        if start is None or end is None:
            raise SalesforceError(
                "INVALID_REPLICATION_DATE", "start and end must be ISO 8601 date-times", 400
            )
        now = self.clock.now()
        start = start.replace(second=0, microsecond=0)
        end = end.replace(second=0, microsecond=0)
        if end < start:
            raise SalesforceError("INVALID_REPLICATION_DATE", "EndDate before StartDate", 400)
        if start < now - limit:
            days = limit.days
            raise SalesforceError(
                "INVALID_REPLICATION_DATE", f"startDate cannot be more than {days} days ago", 400
            )
        latest = min(end, now.replace(second=0, microsecond=0))
        return start, end, latest

    def _updated(self, ctx: ApiContext, sobject: str) -> Response:
        obj = self.schema.require(sobject)
        start, _end, latest = self._window(ctx, UPDATED_WINDOW)
        ids = [
            record.id
            for record in self.store.live(obj.name)
            if isinstance(stamp := record.values.get("SystemModstamp"), dt.datetime)
            and start <= stamp < latest
        ]
        return json_response({"ids": ids, "latestDateCovered": format_datetime(latest)})

    def _deleted(self, ctx: ApiContext, sobject: str) -> Response:
        obj = self.schema.require(sobject)
        start, _end, latest = self._window(ctx, DELETED_WINDOW)
        deleted = [
            {"id": record.id, "deletedDate": format_datetime(record.deleted_at)}
            for record in self.store.all_rows(obj.name)
            if record.deleted_at is not None and start <= record.deleted_at < latest
        ]
        earliest = (self.clock.now() - DELETED_WINDOW).replace(second=0, microsecond=0)
        return json_response(
            {
                "deletedRecords": deleted,
                "earliestDateAvailable": format_datetime(earliest),
                "latestDateCovered": format_datetime(latest),
            }
        )

    # -- queries ---------------------------------------------------------------------------------
    def _query(self, ctx: ApiContext) -> Response:
        return self._run_query(ctx, include_deleted=False)

    def _query_all(self, ctx: ApiContext) -> Response:
        return self._run_query(ctx, include_deleted=True)

    def _page_size(self, ctx: ApiContext) -> int:
        options = ctx.request.headers.get("Sforce-Query-Options", "")
        match = re.search(r"batchSize=(\d+)", options)
        return min(PAGE_SIZE, max(200, int(match.group(1)))) if match else PAGE_SIZE

    def _run_query(self, ctx: ApiContext, *, include_deleted: bool) -> Response:
        text = ctx.request.args.get("q")
        if text is None:
            raise SalesforceError(
                "MALFORMED_QUERY", "A query string must be provided with the q parameter", 400
            )
        query = soql.parse(text, self.schema)
        total, records = soql.Evaluator(self.store, ctx.version).run(query, include_deleted=include_deleted)
        page_size = self._page_size(ctx)
        answer: dict[str, Any] = {
            "totalSize": total,
            "done": len(records) <= page_size,
            "records": records[:page_size],
        }
        if len(records) > page_size:
            now = self.clock.now()
            for stale in [key for key, c in self.cursors.items() if now - c.last_used > CURSOR_IDLE_LIFETIME]:
                del self.cursors[stale]
            locator = self.minter.mint("01g")
            self.cursors[locator] = QueryCursor(records, total, include_deleted, self.clock.now())
            endpoint = "queryAll" if include_deleted else "query"
            answer["nextRecordsUrl"] = f"/services/data/{ctx.version}/{endpoint}/{locator}-{page_size}"
        return json_response(answer)

    def _query_more(self, ctx: ApiContext, locator: str) -> Response:
        cursor_id, _, raw_position = locator.partition("-")
        cursor = self.cursors.get(parse_id(cursor_id) or "")
        now = self.clock.now()
        if cursor is None or not raw_position.isdigit() or now - cursor.last_used > CURSOR_IDLE_LIFETIME:
            raise SalesforceError("INVALID_QUERY_LOCATOR", "invalid query locator", 400)
        cursor.last_used = now
        position = int(raw_position)
        page_size = self._page_size(ctx)
        page = cursor.records[position : position + page_size]
        done = position + page_size >= len(cursor.records)
        answer: dict[str, Any] = {"totalSize": cursor.total, "done": done, "records": page}
        if not done:
            endpoint = "queryAll" if cursor.include_deleted else "query"
            answer["nextRecordsUrl"] = (
                f"/services/data/{ctx.version}/{endpoint}/{cursor_id}-{position + page_size}"
            )
        else:
            self.cursors.pop(parse_id(cursor_id) or "", None)
        return json_response(answer)

    # -- sObject Collections ---------------------------------------------------------------------
    @staticmethod
    def _collection_body(ctx: ApiContext) -> tuple[bool, list[Any]]:
        body = _json_body(ctx.request)
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise json_parser_error("Expected an object with a records array")
        records = body["records"]
        if len(records) > MAX_COLLECTION_RECORDS:
            raise SalesforceError(
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
                400,
            )
        return _flag(body.get("allOrNone", False)), records

    @staticmethod
    def _record_type(record: Any) -> str | None:
        if not isinstance(record, dict):
            return None
        attributes = record.get("attributes")
        type_name = attributes.get("type") if isinstance(attributes, dict) else None
        return type_name if isinstance(type_name, str) else None

    def _run_collection(
        self,
        all_or_none: bool,
        items: list[Any],
        operation: Callable[[Any], dict[str, Any]],
        id_of: Callable[[Any], str | None] = lambda item: None,
    ) -> Response:
        """Apply ``operation`` to each item with per-item savepoints; allOrNone rolls all back.

        Results of records that already existed (updates, deletes) keep their id when they fail."""
        results: list[dict[str, Any]] = []
        existing: list[bool] = []
        with self.store.transaction() as outer:
            for item in items:
                with self._savepoint() as errors:
                    result = operation(item)
                if errors:
                    known_id = id_of(item)
                    result = (
                        {"id": known_id, "success": False, "errors": errors}
                        if known_id
                        else {"success": False, "errors": errors}
                    )
                existing.append(bool(id_of(item)) or not result.get("created", True))
                results.append(result)
            if all_or_none and any(not result["success"] for result in results):
                self.store.rollback_to(outer)
                for index, result in enumerate(results):
                    if result["success"]:
                        rolled: dict[str, Any] = {"success": False, "errors": [dict(_ROLLED_BACK)]}
                        results[index] = {"id": result["id"], **rolled} if existing[index] else rolled
        return json_response(results)

    @contextmanager
    def _savepoint(self) -> Iterator[list[dict[str, Any]]]:
        """Runs one collection item; a Salesforce error becomes that item's list of errors."""
        errors: list[dict[str, Any]] = []
        try:
            with self.store.transaction():
                yield errors
        except SalesforceError as error:
            errors.append(error.record_error())
        except MultipleMatches as multiple:
            errors.append(
                {
                    "statusCode": "DUPLICATE_EXTERNAL_ID",
                    "message": f"The external ID value matches {len(multiple.record_ids)} records",
                    "fields": [],
                }
            )

    def _collections(self, ctx: ApiContext) -> Response:
        method = ctx.request.method
        if method == "DELETE":
            ids = [i for i in ctx.request.args.get("ids", "").split(",") if i]
            if len(ids) > MAX_COLLECTION_RECORDS:
                raise SalesforceError(
                    "EXCEEDED_ID_LIMIT",
                    "record limit reached. cannot submit more than 200 records into this call",
                    400,
                )

            def delete(raw_id: Any) -> dict[str, Any]:
                record = self.store.delete(None, str(raw_id), ctx.user_id)
                return {"id": record.id, "success": True, "errors": []}

            return self._run_collection(
                _flag(ctx.request.args.get("allOrNone")),
                ids,
                delete,
                lambda item: parse_id(str(item)) or str(item),
            )
        all_or_none, records = self._collection_body(ctx)
        if method == "POST":

            def create(record: Any) -> dict[str, Any]:
                type_name = self._record_type(record)
                if type_name is None:
                    raise SalesforceError("INVALID_TYPE", "Must send a concrete entity type.", 400)
                if any(key.lower() == "id" for key in record):
                    raise SalesforceError(
                        "INVALID_FIELD_FOR_INSERT_UPDATE",
                        "Record ID: cannot specify Id in an insert call",
                        400,
                        ["Id"],
                    )
                created = self.store.create(self.schema.require(type_name).name, record, ctx.user_id)
                return {"id": created.id, "success": True, "errors": []}

            return self._run_collection(all_or_none, records, create)

        def update(record: Any) -> dict[str, Any]:
            if not isinstance(record, dict):
                raise json_parser_error("Expected a JSON object for the record")
            raw_id = self._item_id(record)
            if not raw_id:
                raise SalesforceError("MISSING_ARGUMENT", "Id not specified in an update call", 400, ["Id"])
            record_id = parse_id(raw_id)
            obj = self.schema.get(self._record_type(record) or "") or (
                self.schema.for_id(record_id) if record_id else None
            )
            if obj is None or record_id is None:
                raise SalesforceError("MALFORMED_ID", f"malformed id {raw_id}", 400, ["Id"])
            body = {key: value for key, value in record.items() if key.lower() != "id"}
            updated = self.store.update(obj, record_id, body, ctx.user_id)
            return {"id": updated.id, "success": True, "errors": []}

        return self._run_collection(all_or_none, records, update, self._item_id)

    @staticmethod
    def _item_id(item: Any) -> str | None:
        if not isinstance(item, dict):
            return None
        raw = next((value for key, value in item.items() if key.lower() == "id"), None)
        if not raw:
            return None
        return parse_id(str(raw)) or str(raw)

    def _collection_retrieve(self, ctx: ApiContext, sobject: str) -> Response:
        obj = self.schema.require(sobject)
        if ctx.request.method == "POST":
            body = _json_body(ctx.request)
            ids = [str(i) for i in body.get("ids", [])] if isinstance(body, dict) else []
            fields = [str(f) for f in body.get("fields", [])] if isinstance(body, dict) else []
        else:
            ids = [i for i in ctx.request.args.get("ids", "").split(",") if i]
            fields = [f for f in ctx.request.args.get("fields", "").split(",") if f]
        if not fields:
            raise SalesforceError("MISSING_ARGUMENT", "fields is required", 400)
        if len(ids) > MAX_COLLECTION_RECORDS:
            raise SalesforceError(
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
                400,
            )
        for name in fields:
            obj.require(name)
        results: list[dict[str, Any] | None] = []
        for raw_id in ids:
            record = self.store.get(raw_id)
            if record is None or record.sobject != obj.name or record.is_deleted:
                results.append(None)
            else:
                results.append(self._render(record, ctx.version, fields))
        return json_response(results)

    def _collection_upsert(self, ctx: ApiContext, sobject: str, field: str) -> Response:
        obj = self.schema.require(sobject)
        definition = self.store.external_id_field(obj, field)
        all_or_none, records = self._collection_body(ctx)

        def upsert(record: Any) -> dict[str, Any]:
            type_name = self._record_type(record)
            if type_name is None or self.schema.get(type_name) is not obj:
                raise SalesforceError("INVALID_TYPE", f"Record type must be {obj.name}", 400)
            value = next((v for k, v in record.items() if k.lower() == definition.name.lower()), None)
            if value is None or value == "":
                raise SalesforceError(
                    "MISSING_ARGUMENT", f"{definition.name} not specified", 400, [definition.name]
                )
            stored, created = self.store.upsert(obj, definition.name, str(value), record, ctx.user_id)
            return {"id": stored.id, "success": True, "errors": [], "created": created}

        return self._run_collection(all_or_none, records, upsert)

    # -- composite -------------------------------------------------------------------------------
    def _composite(self, ctx: ApiContext) -> Response:
        body = _json_body(ctx.request)
        subrequests = body.get("compositeRequest") if isinstance(body, dict) else None
        if not isinstance(subrequests, list) or not subrequests:
            raise json_parser_error("compositeRequest is required")
        if len(subrequests) > MAX_COMPOSITE_SUBREQUESTS:
            raise SalesforceError(
                "INVALID_INPUT",
                f"Composite requests can have at most {MAX_COMPOSITE_SUBREQUESTS} subrequests",
                400,
            )
        heavy = sum(
            1 for sub in subrequests if isinstance(sub, dict) and _is_collection_or_query(sub.get("url"))
        )
        if heavy > MAX_COMPOSITE_COLLECTIONS_OR_QUERIES:
            raise SalesforceError(
                "INVALID_INPUT",
                f"Composite requests can have at most {MAX_COMPOSITE_COLLECTIONS_OR_QUERIES} sObject "
                "Collections or query subrequests",
                400,
            )
        all_or_none = _flag(body.get("allOrNone", False))
        seen: set[str] = set()
        for sub in subrequests:
            reference = sub.get("referenceId") if isinstance(sub, dict) else None
            if not isinstance(reference, str) or not re.fullmatch(r"[A-Za-z0-9_]+", reference):
                raise json_parser_error(
                    "Each subrequest needs a referenceId of letters, digits and underscores"
                )
            if reference in seen:
                raise SalesforceError(
                    "INVALID_INPUT", f"Duplicate referenceId provided in the request: {reference}", 400
                )
            seen.add(reference)
        outputs: dict[str, Any] = {}
        failed_references: set[str] = set()
        responses: list[dict[str, Any]] = []
        with self.store.transaction() as outer:
            for index, sub in enumerate(subrequests):
                reference = sub["referenceId"]
                try:
                    url = self._substitute(str(sub.get("url", "")), outputs, failed_references)
                    payload = self._substitute_json(sub.get("body"), outputs, failed_references)
                except SalesforceError as error:
                    responses.append(self._sub_response(reference, error.status, error.rest_body()))
                    failed_references.add(reference)
                    if all_or_none:
                        return self._halt(responses, subrequests[index + 1 :], outer)
                    continue
                status, headers, answer = self._dispatch_subrequest(
                    ctx, str(sub.get("method", "GET")), url, payload, sub.get("httpHeaders")
                )
                responses.append(self._sub_response(reference, status, answer, headers))
                if status >= 400:
                    failed_references.add(reference)
                    if all_or_none:
                        return self._halt(responses, subrequests[index + 1 :], outer)
                else:
                    outputs[reference] = answer
        return json_response({"compositeResponse": responses})

    @staticmethod
    def _sub_response(
        reference: str, status: int, body: Any, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        return {
            "body": body,
            "httpHeaders": headers or {},
            "httpStatusCode": status,
            "referenceId": reference,
        }

    def _halt(self, responses: list[dict[str, Any]], remaining: list[Any], outer: Any) -> Response:
        self.store.rollback_to(outer)
        halted = [{"errorCode": "PROCESSING_HALTED", "message": _HALTED}]
        final = []
        for response in responses[:-1]:
            if response["httpStatusCode"] < 400:
                response = self._sub_response(response["referenceId"], 400, halted)
            final.append(response)
        final.append(responses[-1])
        final += [self._sub_response(sub["referenceId"], 400, halted) for sub in remaining]
        return json_response({"compositeResponse": final})

    def _resolve(self, match: re.Match[str], outputs: dict[str, Any], failed: set[str]) -> str:
        reference, path = match.group(1), match.group(2)
        if reference in failed or reference not in outputs:
            raise SalesforceError(
                "PROCESSING_HALTED",
                f"Invalid reference specified. No value for {reference}{path} found in {reference}. "
                f"Provided referenceId ('{reference}') must be a valid reference to an earlier subrequest.",
                400,
            )
        value: Any = outputs[reference]
        for step in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", path):
            name, index = step
            try:
                value = value[int(index)] if index else value[name]
            except (KeyError, IndexError, TypeError):
                raise SalesforceError(
                    "PROCESSING_HALTED",
                    f"Invalid reference specified. No value for {reference}{path} found.",
                    400,
                ) from None
        return "" if value is None else str(value)

    def _substitute(self, text: str, outputs: dict[str, Any], failed: set[str]) -> str:
        return _REFERENCE.sub(lambda match: self._resolve(match, outputs, failed), text)

    def _substitute_json(self, value: Any, outputs: dict[str, Any], failed: set[str]) -> Any:
        if isinstance(value, str):
            return self._substitute(value, outputs, failed)
        if isinstance(value, list):
            return [self._substitute_json(item, outputs, failed) for item in value]
        if isinstance(value, dict):
            return {key: self._substitute_json(item, outputs, failed) for key, item in value.items()}
        return value

    def _dispatch_subrequest(
        self, ctx: ApiContext, method: str, url: str, payload: Any, headers: Any
    ) -> tuple[int, dict[str, str], Any]:
        parts = urlsplit(url)
        if not parts.path.startswith(DATA_PREFIX + "/") or parts.path.rstrip("/").endswith("/composite"):
            error = [{"errorCode": "INVALID_INPUT", "message": f"Unsupported subrequest URL: {url}"}]
            return 400, {}, error
        sub_headers: list[tuple[str, str]] = []
        if isinstance(headers, dict):
            sub_headers = [(str(name), str(value)) for name, value in headers.items()]
        builder = EnvironBuilder(
            path=parts.path,
            method=method.upper(),
            query_string=parts.query or None,
            data=json.dumps(payload) if payload is not None else None,
            content_type="application/json",
            headers=sub_headers,
        )
        environ = builder.get_environ()
        environ[USER_ENVIRON_KEY] = ctx.user_id
        request = Request(environ)
        try:
            endpoint, arguments = self.url_map.bind_to_environ(environ).match()
            response = self._handlers[str(endpoint)](request, **arguments)
        except NotFound:
            response = self.not_found(request)
        except HTTPException as exc:
            response = self.http_error(request, exc)
        text = response.get_data(as_text=True)
        answer = json.loads(text) if text else None
        out_headers = {"Location": response.headers["Location"]} if "Location" in response.headers else {}
        return response.status_code, out_headers, answer

    # -- admin -----------------------------------------------------------------------------------
    @staticmethod
    def _admin_body(request: Request) -> dict[str, Any]:
        body = request.get_json(force=True, silent=True)
        return body if isinstance(body, dict) else {}

    @staticmethod
    def _admin_error(message: str, status: int = 400) -> Response:
        return json_response({"message": message}, status)

    def _admin_users(self, request: Request) -> Response:
        if request.method == "GET":
            with self.lock:
                users = [self._render(r, f"v{self.api_version}") for r in self.store.live("User")]
            return json_response({"users": users, "run_as": self.run_as_user_id})
        body = self._admin_body(request)
        key = body.pop("key", None)
        try:
            user_id = self.create_user(body)
        except SalesforceError as error:
            return error.response()
        if key:
            self.seed_keys[str(key)] = user_id
        with self.lock:
            return json_response(
                {"id": user_id, "user": self._render(self.store.records[user_id], "v" + self.api_version)},
                201,
            )

    def _admin_user(self, request: Request, user_id: str) -> Response:
        body = self._admin_body(request)
        aliases = {
            "is_active": "IsActive",
            "email": "Email",
            "first_name": "FirstName",
            "last_name": "LastName",
        }
        data = {aliases.get(name, name): value for name, value in body.items()}
        try:
            with self.lock, self.store.transaction():
                record = self.store.update(
                    self.schema.require("User"), user_id, data, self.run_as_user_id, seeding=True
                )
                return json_response({"user": self._render(record, "v" + self.api_version)})
        except SalesforceError as error:
            return error.response()

    def _admin_seed(self, request: Request) -> Response:
        try:
            keys = self.load_seed(self._admin_body(request))
        except (seed.SeedError, ValueError, KeyError) as exc:
            return self._admin_error(str(exc))
        except SalesforceError as error:
            return error.response()
        return json_response({"keys": keys})

    def _admin_picklists(self, request: Request) -> Response:
        body = self._admin_body(request)
        try:
            with self.lock:
                definition = self.schema.set_picklist(
                    str(body["object"]), str(body["field"]), body["values"], body.get("restricted")
                )
        except (KeyError, ValueError, SalesforceError) as exc:
            return self._admin_error(str(exc))
        return json_response(definition.describe())

    def _admin_fields(self, request: Request) -> Response:
        body = self._admin_body(request)
        try:
            with self.lock:
                definition = self.schema.add_custom_field(str(body.pop("object")), body)
        except (KeyError, ValueError, SalesforceError) as exc:
            return self._admin_error(str(exc))
        return json_response(definition.describe(), 201)

    def _admin_field_access(self, request: Request) -> Response:
        body = self._admin_body(request)
        try:
            with self.lock:
                definition = self.schema.set_field_access(
                    str(body["object"]), str(body["field"]), bool(body.get("accessible", False))
                )
        except (KeyError, ValueError, SalesforceError) as exc:
            return self._admin_error(str(exc))
        return json_response(
            {"object": body["object"], "field": definition.name, "accessible": definition.accessible}
        )

    def _admin_sessions(self, request: Request) -> Response:
        if request.method == "POST":
            body = self._admin_body(request)
            try:
                token = self.issue_session(body.get("user"))
            except ValueError as exc:
                return self._admin_error(str(exc))
            return json_response({"access_token": token, "instance_url": self._base_url(request)}, 201)
        return json_response({"sessions": self.sessions.describe()})

    def _admin_expire_sessions(self, request: Request) -> Response:
        token = self._admin_body(request).get("token")
        return json_response({"expired": self.sessions.expire(str(token) if token else None)})

    def _admin_jwt_key(self, request: Request) -> Response:
        pem = self._admin_body(request).get("public_key_pem")
        if not isinstance(pem, str) or "PUBLIC KEY" not in pem:
            return self._admin_error("send public_key_pem (a PEM-encoded public key)")
        self.jwt_public_key_pem = pem.encode()
        return json_response({"registered": True})

    def _admin_run_as(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                self.set_run_as(str(self._admin_body(request).get("user", "")))
            except ValueError as exc:
                return self._admin_error(str(exc))
        return json_response({"run_as": self.run_as_user_id})

    def _admin_limits(self, request: Request) -> Response:
        if request.method == "POST":
            body = self._admin_body(request)
            remaining = body.get("remaining")
            maximum = body.get("max")
            self.usage.set(
                self.clock.now(),
                remaining=int(remaining) if remaining is not None else None,
                maximum=int(maximum) if maximum is not None else None,
            )
        used, maximum_now = self.usage.snapshot(self.clock.now())
        return json_response({"used": used, "max": maximum_now, "remaining": max(0, maximum_now - used)})

    def _acting_user(self, request: Request, body: dict[str, Any]) -> str:
        reference = body.get("as_user") or request.args.get("as_user")
        return self.resolve_user(str(reference)) if reference else self.run_as_user_id

    def _admin_sobjects(self, request: Request, sobject: str) -> Response:
        try:
            obj = self.schema.require(sobject)
        except SalesforceError as error:
            return error.response()
        version = "v" + self.api_version
        if request.method == "GET":
            with self.lock:
                rows = [self._admin_render(r, version) for r in self.store.all_rows(obj.name)]
            return json_response({"records": rows})
        body = self._admin_body(request)
        try:
            user_id = self._acting_user(request, body)
            fields = body.get("fields", {k: v for k, v in body.items() if k != "as_user"})
            with self.lock, self.store.transaction():
                record = self.store.create(obj.name, fields, user_id)
                return json_response({"id": record.id, "record": self._admin_render(record, version)}, 201)
        except ValueError as exc:
            return self._admin_error(str(exc))
        except SalesforceError as error:
            return error.response()

    def _admin_render(self, record: StoredRecord, version: str) -> dict[str, Any]:
        obj = self.schema.require(record.sobject)
        out: dict[str, Any] = {
            "attributes": {
                "type": record.sobject,
                "url": f"/services/data/{version}/sobjects/{record.sobject}/{record.id}",
            }
        }
        for definition in obj.fields.values():
            out[definition.name] = to_json(record.values.get(definition.name))
        return out

    def _admin_sobject(self, request: Request, sobject: str, record_id: str) -> Response:
        try:
            obj = self.schema.require(sobject)
        except SalesforceError as error:
            return error.response()
        version = "v" + self.api_version
        body = self._admin_body(request)
        try:
            user_id = self._acting_user(request, body)
            with self.lock:
                if request.method == "GET":
                    record = self.store.get(record_id)
                    if record is None or record.sobject != obj.name:
                        return self._admin_error("no such record", 404)
                    return json_response(self._admin_render(record, version))
                with self.store.transaction():
                    if request.method == "DELETE":
                        self.store.delete(obj, record_id, user_id)
                        return Response(status=204)
                    fields = body.get("fields", {k: v for k, v in body.items() if k != "as_user"})
                    record = self.store.update(obj, record_id, fields, user_id)
                    return json_response({"record": self._admin_render(record, version)})
        except ValueError as exc:
            return self._admin_error(str(exc))
        except SalesforceError as error:
            return error.response()

    def _admin_convert_lead(self, request: Request, lead_id: str) -> Response:
        body = self._admin_body(request)
        try:
            user_id = self._acting_user(request, body)
            with self.lock, self.store.transaction():
                lead_object = self.schema.require("Lead")
                lead = self.store.fetch(lead_object, lead_id)
                if lead.values.get("IsConverted"):
                    raise SalesforceError("INVALID_STATUS", "Lead is already converted", 400)
                account_id = body.get("account_id")
                if not account_id:
                    account = self.store.create("Account", {"Name": lead.values.get("Company")}, user_id)
                    account_id = account.id
                contact_id = body.get("contact_id")
                if not contact_id:
                    fields = {
                        name: lead.values.get(name)
                        for name in ("FirstName", "LastName", "Email", "Phone", "Title")
                    }
                    contact = self.store.create("Contact", {**fields, "AccountId": account_id}, user_id)
                    contact_id = contact.id
                converted = self.store.update(
                    lead_object,
                    lead.id,
                    {
                        "IsConverted": True,
                        "ConvertedContactId": contact_id,
                        "ConvertedAccountId": account_id,
                        "ConvertedDate": self.clock.now().date().isoformat(),
                        "Status": "Closed - Converted",
                    },
                    user_id,
                    seeding=True,
                )
                return json_response(
                    {
                        "lead": self._admin_render(converted, "v" + self.api_version),
                        "contact_id": contact_id,
                        "account_id": account_id,
                    }
                )
        except ValueError as exc:
            return self._admin_error(str(exc))
        except SalesforceError as error:
            return error.response()

    def _admin_outbound(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.outbound.clear()
            return json_response({"actions": []})
        if request.method == "POST":
            body = self._admin_body(request)
            endpoint = body.get("endpoint_url")
            if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
                return self._admin_error("endpoint_url must be an http(s) URL")
            try:
                with self.lock:
                    actions = self.configure_outbound(
                        endpoint,
                        list(body.get("objects") or ["Task", "Event"]),
                        body.get("fields"),
                        include_session_id=bool(body.get("include_session_id", False)),
                        send_as=body.get("send_as"),
                        verify_tls=body.get("verify_tls", True),
                        skip_changes_by=list(body.get("skip_changes_by") or []),
                    )
            except (ValueError, SalesforceError) as exc:
                return self._admin_error(str(exc))
            return json_response({"actions": actions}, 201)
        return json_response(
            {"actions": [a.describe() for a in self.outbound.actions()], "pending": self.outbound.pending()}
        )

    def _admin_outbound_flush(self, request: Request) -> Response:
        return json_response(self.outbound.flush())

    def _admin_outbound_deliveries(self, request: Request) -> Response:
        include = request.args.get("include_envelope", "").lower() in ("1", "true", "yes")
        return json_response(
            {"deliveries": self.outbound.deliveries(include), "pending": self.outbound.pending()}
        )

    def _admin_outbound_settings(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                return json_response(self.outbound.update_settings(self._admin_body(request)))
            except (TypeError, ValueError) as exc:
                return self._admin_error(str(exc))
        return json_response(self.outbound.settings())
