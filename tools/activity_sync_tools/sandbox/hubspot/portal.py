"""What the HubSpot sandbox's parts need of the portal they serve: its state (records, owners,
marketing emails and forms, webhooks, workflow activities, rate limits) and the operations several
route groups share. ``HubSpotSandbox`` (``app``) is the one portal; each API module, the admin
routes and seeding take a ``Portal``, so none of them imports the app that imports them."""

from __future__ import annotations

import threading
from typing import Any, Protocol

from activity_sync_tools.sandbox.core import SandboxClock

from .marketing import Form, FormSubmission, MarketingState
from .owners import OwnerDirectory
from .ratelimit import RateLimiter
from .schema import AssociationType, ObjectType, PropertyDefinition
from .store import ChangeSource, CrmRecord, CrmStore
from .webhooks import WebhookDispatcher
from .workflows import WorkflowActivities, WorkflowWebhookSender


class PropertyMaker(Protocol):
    def create_property(self, kind: ObjectType, body: dict[str, Any]) -> PropertyDefinition: ...


class FormRecorder(Protocol):
    def record_submission(
        self,
        form: Form,
        values: list[dict[str, str]],
        submitted_at: int,
        page_url: str | None,
        *,
        update_contact: bool = True,
    ) -> FormSubmission: ...


class Portal(Protocol):
    portal_id: int
    app_tokens: dict[str, int]  # other apps' tokens -> their app ids

    @property
    def api_source(self) -> ChangeSource:
        """How the request's API writes show up in the records' history (the app of its token)."""
        ...

    lock: threading.RLock
    clock: SandboxClock
    store: CrmStore
    owners: OwnerDirectory
    marketing: MarketingState
    limiter: RateLimiter
    webhooks: WebhookDispatcher
    workflow_webhooks: WorkflowWebhookSender
    workflow_activities: WorkflowActivities
    search_short_page_by: int
    token_scopes: list[str]  # what its token holds (the access-token-info route answers them)

    @property
    def crm(self) -> PropertyMaker: ...

    @property
    def marketing_api(self) -> FormRecorder: ...

    def now_iso(self) -> str: ...

    def state(self) -> dict[str, Any]: ...

    def behaviour(self) -> dict[str, Any]: ...

    def create_record(
        self, kind: ObjectType, properties: Any, associations: Any, source: ChangeSource
    ) -> CrmRecord: ...

    def resolve_associations(self, kind: ObjectType, raw: Any) -> list[tuple[CrmRecord, AssociationType]]: ...

    def associate_all(
        self, record: CrmRecord, pairs: list[tuple[CrmRecord, AssociationType]], source: ChangeSource
    ) -> None: ...
