"""Activities HubSpot has no public read API for (sales-content document views, other apps' timeline
events) and the workflow *Send a webhook* action that carries them to the service.

A portal gets these to the service through a workflow enrolled on the event whose *Send a webhook*
action POSTs one JSON object per enrollment, authenticated with an API key in the ``Authorization``
header (``Bearer <token>``). The sandbox records each activity (``POST /_sandbox/document-views``,
``POST /_sandbox/timeline-events``, or a seed) and, when the action is configured
(``POST /_sandbox/workflow-webhooks``), sends it as that action would: the body is the service's
``ActivityPost`` shape (``{"type", "id", "occurred_at", "contact_ids", "owner_id"?, "properties"}``),
one request per activity, from a background sender.

Retries follow HubSpot's rules for workflow webhooks
(https://knowledge.hubspot.com/workflows/how-do-i-use-webhooks-with-hubspot-workflows): a 4XX answer
is final except 429, which waits ``Retry-After`` (seconds, times ``retry_after_scale``); connection
errors, timeouts, 5XX and anything else not 2XX are retried with a doubling backoff. HubSpot keeps
trying for three days (one minute first, at most eight hours apart); here the backoff is scaled down
to fractions of a second and attempts are bounded by ``max_retries``. ``"retry": false`` makes the
first failure final. ``"deliver_twice": true`` sends each acknowledged request once more, identical
(see :mod:`.sender`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Protocol

from activity_sync_tools.sandbox.core import SandboxClock

from .errors import validation_error
from .owners import OwnerDirectory
from .schema import CONTACTS, ms_to_iso, parse_instant
from .sender import BackgroundSender, OutgoingRequest, Queued, SenderSettings
from .store import CrmRecord, CrmStore

DOCUMENT_VIEW = "document_view"
INTEGRATION_EVENT = "integration_event"
# Activity type -> the properties an entry must give (the service's subject placeholders).
ACTIVITY_PROPERTIES: dict[str, tuple[str, ...]] = {
    DOCUMENT_VIEW: ("document_name",),
    INTEGRATION_EVENT: ("app_name", "event_name"),
}
_ID_PREFIXES = {DOCUMENT_VIEW: "document-view", INTEGRATION_EVENT: "timeline-event"}
_LABELS = {DOCUMENT_VIEW: "document view", INTEGRATION_EVENT: "timeline event"}
_ENTRY_KEYS = frozenset({"contact", "at", "id", "owner"})
MAX_ID_LENGTH = 200  # ActivityPost.id


@dataclass(frozen=True)
class WorkflowActivity:
    type: str
    id: str
    occurred_at: int  # epoch ms
    contact_id: str
    owner_id: str | None
    properties: dict[str, str]

    def to_post(self) -> dict[str, Any]:
        """The ``ActivityPost`` JSON the workflow action sends."""
        body: dict[str, Any] = {
            "type": self.type,
            "id": self.id,
            "occurred_at": ms_to_iso(self.occurred_at),
            "contact_ids": [self.contact_id],
        }
        if self.owner_id:
            body["owner_id"] = self.owner_id
        body["properties"] = dict(self.properties)
        return body


class WorkflowActivities:
    """Recorded document views and timeline events, in order, with per-type id counters (callers
    hold the sandbox lock)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._recorded: dict[str, list[WorkflowActivity]] = {t: [] for t in ACTIVITY_PROPERTIES}
        self._next_number = dict.fromkeys(ACTIVITY_PROPERTIES, 1)

    def next_id(self, activity_type: str) -> str:
        number = self._next_number[activity_type]
        self._next_number[activity_type] = number + 1
        return f"{_ID_PREFIXES[activity_type]}-{number}"

    def add(self, activity: WorkflowActivity) -> None:
        self._recorded[activity.type].append(activity)

    def listing(self, activity_type: str) -> list[WorkflowActivity]:
        return list(self._recorded[activity_type])

    def count(self, activity_type: str) -> int:
        return len(self._recorded[activity_type])


class ActivityPortal(Protocol):
    """What recording a workflow activity needs of the portal (``portal.Portal`` has it)."""

    clock: SandboxClock
    store: CrmStore
    owners: OwnerDirectory
    workflow_activities: WorkflowActivities


def record_activity(
    sandbox: ActivityPortal,
    activity_type: str,
    entry: Any,
    refs: dict[str, dict[str, str]] | None = None,
) -> WorkflowActivity:
    """Validate an admin or seed entry (``{"contact", <properties>, "at"?, "id"?, "owner"?}``) and
    record it; nothing is sent. ``refs`` (seeds) lets ``contact``/``owner`` name seed refs. Callers
    hold the sandbox lock."""
    label = _LABELS[activity_type]
    required = ACTIVITY_PROPERTIES[activity_type]
    if not isinstance(entry, dict):
        raise validation_error(f"A {label} is an object, not {entry!r}")
    unknown = set(entry) - _ENTRY_KEYS - set(required)
    if unknown:
        raise validation_error(f"Unknown {label} fields: {', '.join(sorted(unknown))}")
    properties: dict[str, str] = {}
    for name in required:
        value = entry.get(name)
        if not isinstance(value, str) or not value.strip():
            raise validation_error(f"A {label} needs {' and '.join(required)} (non-empty strings)")
        properties[name] = value
    contact = _contact(sandbox, entry.get("contact"), (refs or {}).get("contacts", {}))
    occurred_at = sandbox.clock.now_ms() if entry.get("at") is None else parse_instant(entry["at"])
    if occurred_at is None:
        raise validation_error(f"Invalid {label} time {entry['at']!r}")
    if entry.get("id") is None:
        activity_id = sandbox.workflow_activities.next_id(activity_type)
    else:
        activity_id = str(entry["id"])
        if not 0 < len(activity_id) <= MAX_ID_LENGTH:
            raise validation_error(f"A {label} id has 1 to {MAX_ID_LENGTH} characters")
    if entry.get("owner") is None:
        owner_id = contact.value("hubspot_owner_id") or None
    else:
        owner_id = _owner(sandbox, str(entry["owner"]), (refs or {}).get("owners", {}))
    activity = WorkflowActivity(
        activity_type, activity_id, occurred_at, str(contact.id), owner_id, properties
    )
    sandbox.workflow_activities.add(activity)
    return activity


def _contact(sandbox: ActivityPortal, raw: Any, refs: dict[str, str]) -> CrmRecord:
    if not isinstance(raw, str | int) or isinstance(raw, bool) or not str(raw).strip():
        raise validation_error("contact (a contact id or email) is required")
    key = refs.get(str(raw), str(raw)).strip()
    by_id = key.isdigit()
    record = sandbox.store.get(CONTACTS, key) if by_id else sandbox.store.find(CONTACTS, key, "email")
    if record is None:
        raise validation_error(f"No contact with id or email {raw}")
    return record


def _owner(sandbox: ActivityPortal, raw: str, refs: dict[str, str]) -> str:
    key = refs.get(raw, raw)
    owner = sandbox.owners.get(key) if key.isdigit() else None
    if owner is None:
        matches = sandbox.owners.listing(archived=False, email=key)
        owner = matches[0] if matches else None
    if owner is None:
        raise validation_error(f"No owner with id or email {raw}")
    return str(owner.id)


# -- the workflow action -----------------------------------------------------------------------------


@dataclass
class WorkflowWebhookSettings(SenderSettings):
    target_url: str | None = None
    bearer_token: str | None = None
    retry: bool = True

    _KEYS = frozenset(
        {"target_url", "bearer_token", "retry", "max_retries", "deliver_twice", *SenderSettings.RETRY_NUMBERS}
    )

    @property
    def configured(self) -> bool:
        return bool(self.target_url and self.bearer_token)

    def may_retry(self, attempt_number: int) -> bool:
        return self.retry and super().may_retry(attempt_number)

    def updated(self, body: dict[str, Any]) -> WorkflowWebhookSettings:
        """A copy with ``body`` applied; ValueError when any of it is invalid."""
        unknown = set(body) - self._KEYS
        if unknown:
            raise ValueError(f"unknown workflow webhook settings: {', '.join(sorted(unknown))}")
        new = replace(self)
        if "target_url" in body:
            url = body["target_url"]
            if url and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
                raise ValueError("target_url must be an http(s) URL")
            new.target_url = url or None
        if "bearer_token" in body:
            token = body["bearer_token"]
            if token is not None and (not isinstance(token, str) or any(c.isspace() for c in token)):
                raise ValueError("bearer_token must be a string without spaces")
            new.bearer_token = token or None
        if "retry" in body:
            if not isinstance(body["retry"], bool):
                raise ValueError("retry must be true or false")
            new.retry = body["retry"]
        if "max_retries" in body:
            new.max_retries = int(body["max_retries"])
            if new.max_retries < 0:
                raise ValueError("max_retries must not be negative")
        new.set_numbers(body, self.RETRY_NUMBERS)
        new.set_deliver_twice(body)
        if new.target_url and not new.bearer_token:
            raise ValueError("a workflow webhook with a target_url needs a bearer_token")
        return new

    def describe(self) -> dict[str, Any]:
        return {
            "target_url": self.target_url,
            "bearer_token_set": self.bearer_token is not None,
            "retry": self.retry,
            **super().describe(),
        }


@dataclass(frozen=True)
class WorkflowRequest:
    """One enrollment's request; the target and token are the action's when the activity happened."""

    body: dict[str, Any]
    url: str
    token: str


class WorkflowWebhookSender(BackgroundSender[WorkflowRequest]):
    """Queues the action's requests and sends them from a background thread, one per activity, in
    order, retrying failures with backoff."""

    thread_name = "hubspot-workflow-webhook-sender"
    settings: WorkflowWebhookSettings

    def __init__(self) -> None:
        super().__init__()
        self.settings = WorkflowWebhookSettings()

    # -- configuration -------------------------------------------------------------------------
    def configure(self, body: dict[str, Any]) -> None:
        with self._condition:
            self.settings = self.settings.updated(body)
            self.settings_changed()

    def unconfigure(self) -> None:
        """Forget the action and what it still had to send (the delivery log stays)."""
        with self._idle():
            self.settings = WorkflowWebhookSettings()
            self._pending.clear()

    def _reset_own_state(self) -> None:
        self.settings = WorkflowWebhookSettings()

    def describe(self) -> dict[str, Any]:
        return {
            **self.settings.describe(),
            "pending": self.pending_count(),
            "duplicates_sent": self.duplicates_sent,
        }

    # -- sending -------------------------------------------------------------------------------
    def send(self, body: dict[str, Any]) -> bool:
        """Queue the action's request for ``body``; False (nothing queued) when unconfigured."""
        with self._condition:
            settings = self.settings
            if not settings.target_url or not settings.bearer_token:
                return False
            self._queue([WorkflowRequest(body, settings.target_url, settings.bearer_token)])
            return True

    def _is_rejection(self, status: int) -> bool:
        """HubSpot's workflow webhooks: a 4XX is final except 429; anything else not 2XX is retried."""
        return 400 <= status < 500 and status != 429

    def _request(self, batch: list[Queued[WorkflowRequest]]) -> OutgoingRequest:
        [queued] = batch
        request = queued.content
        headers = {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {request.token}",
            "User-Agent": "HubSpot Workflows Webhooks (sandbox)",
        }
        shown = {
            "attemptNumber": queued.attempt_number,
            "activityType": request.body.get("type"),
            "activityId": request.body.get("id"),
            "body": request.body,
        }
        body = json.dumps(request.body, separators=(",", ":"))
        return OutgoingRequest(request.url, body, headers, shown, follow_redirects=False)
