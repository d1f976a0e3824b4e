"""What the Salesforce sandbox's route groups need of the org they serve (``app.SalesforceSandbox``
is the one org): its state, its users and sessions, how it renders a record, and how a composite
subrequest is routed. The route groups take an ``Org``, so none of them imports the app."""

from __future__ import annotations

import threading
from typing import Any, Protocol

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from activity_sync_tools.sandbox.core import SandboxClock
from activity_sync_tools.sandbox.salesforce import oauth
from activity_sync_tools.sandbox.salesforce.api_common import ApiUsage, QueryCursor
from activity_sync_tools.sandbox.salesforce.ids import IdMinter
from activity_sync_tools.sandbox.salesforce.outbound import OutboundMessenger
from activity_sync_tools.sandbox.salesforce.schema import Schema
from activity_sync_tools.sandbox.salesforce.store import Store, StoredRecord


class Org(Protocol):
    org_id: str
    client_id: str
    client_secret: str
    other_clients: dict[str, tuple[str, str]]  # other External Client Apps: id -> (secret, run-as user)
    jwt_public_key_pem: bytes | None
    instance_url: str | None
    api_version: str
    lock: threading.RLock
    clock: SandboxClock
    minter: IdMinter
    schema: Schema
    store: Store
    sessions: oauth.SessionRegistry
    usage: ApiUsage
    cursors: dict[str, QueryCursor]
    seed_keys: dict[str, str]
    run_as_user_id: str
    outbound: OutboundMessenger

    def base_url(self, request: Request) -> str: ...

    def render(
        self, record: StoredRecord, version: str, fields: list[str] | None = None
    ) -> dict[str, Any]: ...

    def load_seed(self, data: dict[str, Any]) -> dict[str, str]: ...

    def create_user(self, fields: dict[str, Any]) -> str: ...

    def resolve_user(self, reference: str) -> str: ...

    def set_run_as(self, reference: str) -> str: ...

    def issue_session(self, user: str | None = None) -> str: ...

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
    ) -> list[dict[str, Any]]: ...

    def dispatch_route(self, request: Request) -> Response:
        """Serve ``request`` by the org's own route table (a composite subrequest); raises
        werkzeug's ``NotFound``/``HTTPException`` as routing does."""
        ...

    def not_found(self, request: Request) -> Response: ...

    def http_error(self, request: Request, error: HTTPException) -> Response: ...
