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
first failure final.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import json
import threading
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import requests

from .errors import validation_error
from .schema import CONTACTS, ms_to_iso, parse_instant
from .store import CrmRecord

if TYPE_CHECKING:
    from .app import HubSpotSandbox

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


def record_activity(
    sandbox: HubSpotSandbox,
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


def _contact(sandbox: HubSpotSandbox, raw: Any, refs: dict[str, str]) -> CrmRecord:
    if not isinstance(raw, str | int) or isinstance(raw, bool) or not str(raw).strip():
        raise validation_error("contact (a contact id or email) is required")
    key = refs.get(str(raw), str(raw)).strip()
    by_id = key.isdigit()
    record = sandbox.store.get(CONTACTS, key) if by_id else sandbox.store.find(CONTACTS, key, "email")
    if record is None:
        raise validation_error(f"No contact with id or email {raw}")
    return record


def _owner(sandbox: HubSpotSandbox, raw: str, refs: dict[str, str]) -> str:
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
class WorkflowWebhookSettings:
    target_url: str | None = None
    bearer_token: str | None = None
    retry: bool = True
    max_retries: int = 10
    retry_backoff_seconds: float = 0.05
    max_backoff_seconds: float = 2.0
    retry_after_scale: float = 1.0
    timeout_seconds: float = 5.0

    _NUMBERS = ("retry_backoff_seconds", "max_backoff_seconds", "retry_after_scale", "timeout_seconds")
    _KEYS = frozenset({"target_url", "bearer_token", "retry", "max_retries", *_NUMBERS})

    @property
    def configured(self) -> bool:
        return bool(self.target_url and self.bearer_token)

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
        for name in self._NUMBERS:
            if name in body:
                value = float(body[name])
                if value < 0:
                    raise ValueError(f"{name} must not be negative")
                setattr(new, name, value)
        if new.target_url and not new.bearer_token:
            raise ValueError("a workflow webhook with a target_url needs a bearer_token")
        return new

    def describe(self) -> dict[str, Any]:
        return {
            "target_url": self.target_url,
            "bearer_token_set": self.bearer_token is not None,
            "retry": self.retry,
            "max_retries": self.max_retries,
            "retry_backoff_seconds": self.retry_backoff_seconds,
            "max_backoff_seconds": self.max_backoff_seconds,
            "retry_after_scale": self.retry_after_scale,
            "timeout_seconds": self.timeout_seconds,
        }


@dataclass
class PendingPost:
    """One enrollment's request; the target and token are the action's when the activity happened."""

    sequence: int
    body: dict[str, Any]
    url: str
    token: str
    attempt_number: int = 0
    due_at: float = 0.0  # time.monotonic(): not sent before (retry backoff)


@dataclass
class WorkflowDelivery:
    delivery_id: int
    trigger: str
    at: str
    url: str
    status: int | None
    error: str | None
    outcome: str  # delivered | retrying | rejected | abandoned
    duration_ms: int
    attempt_number: int
    body: dict[str, Any] = field(default_factory=dict)
    retry_in_seconds: float | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "deliveryId": self.delivery_id,
            "trigger": self.trigger,
            "at": self.at,
            "url": self.url,
            "status": self.status,
            "error": self.error,
            "outcome": self.outcome,
            "durationMs": self.duration_ms,
            "retryInSeconds": self.retry_in_seconds,
            "attemptNumber": self.attempt_number,
            "activityType": self.body.get("type"),
            "activityId": self.body.get("id"),
            "body": self.body,
        }


def retryable(status: int | None) -> bool:
    """HubSpot's workflow webhooks: a 4XX is final except 429; anything else not 2XX is retried."""
    return status is None or status == 429 or not 400 <= status < 500


class WorkflowWebhookSender:
    """Queues the action's requests and sends them from a background thread, one per activity, in
    order, retrying failures with backoff (the pattern of :class:`.webhooks.WebhookDispatcher`)."""

    def __init__(self) -> None:
        self.settings = WorkflowWebhookSettings()
        self._condition = threading.Condition()
        self._delivery_lock = threading.Lock()
        self._pending: list[PendingPost] = []
        self._deliveries: collections.deque[WorkflowDelivery] = collections.deque(maxlen=10_000)
        self._next_sequence = 1
        self._next_delivery_id = 1
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._session = requests.Session()
        self._session.trust_env = False  # requests go straight to the target, never via a proxy

    # -- configuration -------------------------------------------------------------------------
    def configure(self, body: dict[str, Any]) -> None:
        with self._condition:
            self.settings = self.settings.updated(body)
            self._condition.notify_all()

    def unconfigure(self) -> None:
        """Forget the action and what it still had to send (the delivery log stays)."""
        with self._delivery_lock, self._condition:
            self.settings = WorkflowWebhookSettings()
            self._pending.clear()

    def reset(self) -> None:
        # Wait out an in-flight request so that nothing it requeues survives the reset.
        with self._delivery_lock, self._condition:
            self.settings = WorkflowWebhookSettings()
            self._pending.clear()
            self._deliveries.clear()
            self._next_sequence = self._next_delivery_id = 1

    def describe(self) -> dict[str, Any]:
        with self._condition:
            return {**self.settings.describe(), "pending": len(self._pending)}

    def deliveries(self) -> list[dict[str, Any]]:
        with self._condition:
            return [d.to_api() for d in self._deliveries]

    def clear_deliveries(self) -> None:
        with self._condition:
            self._deliveries.clear()

    def pending_count(self) -> int:
        with self._condition:
            return len(self._pending)

    # -- sending -------------------------------------------------------------------------------
    def send(self, body: dict[str, Any]) -> bool:
        """Queue the action's request for ``body``; False (nothing queued) when unconfigured."""
        with self._condition:
            settings = self.settings
            if not settings.target_url or not settings.bearer_token:
                return False
            pending = PendingPost(
                self._next_sequence, body, settings.target_url, settings.bearer_token, 0, time.monotonic()
            )
            self._next_sequence += 1
            self._pending.append(pending)
            self._ensure_sender()
            self._condition.notify_all()
            return True

    def flush(self) -> list[dict[str, Any]]:
        """Send every pending request now (each at most once), ignoring backoff."""
        return [d.to_api() for d in self._deliver("flush", include_not_due=True)]

    def close(self) -> None:
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._session.close()

    def _ensure_sender(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stopping = False
            self._thread = threading.Thread(
                target=self._run, name="hubspot-workflow-webhook-sender", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._stopping and not self._pending:
                    self._condition.wait()
                if self._stopping:
                    return
                wait = min(p.due_at for p in self._pending) - time.monotonic()
                if wait > 0:
                    self._condition.wait(timeout=wait)
                    continue
            self._deliver("background", include_not_due=False)

    def _deliver(self, trigger: str, *, include_not_due: bool) -> list[WorkflowDelivery]:
        done: list[WorkflowDelivery] = []
        attempted: set[int] = set()
        with self._delivery_lock:
            while True:
                with self._condition:
                    now = time.monotonic()
                    item = next(
                        (
                            p
                            for p in self._pending
                            if p.sequence not in attempted and (include_not_due or p.due_at <= now)
                        ),
                        None,
                    )
                    if item is None:
                        return done
                    self._pending.remove(item)
                attempted.add(item.sequence)
                done.append(self._post(item, trigger))

    def _post(self, item: PendingPost, trigger: str) -> WorkflowDelivery:
        settings = self.settings
        headers = {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {item.token}",
            "User-Agent": "HubSpot Workflows Webhooks (sandbox)",
        }
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        retry_after: str | None = None
        try:
            response = self._session.post(
                item.url,
                data=json.dumps(item.body, separators=(",", ":")).encode(),
                headers=headers,
                timeout=settings.timeout_seconds,
                allow_redirects=False,
            )
            status = response.status_code
            retry_after = response.headers.get("Retry-After")
            response.close()
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        delivery = WorkflowDelivery(
            delivery_id=0,
            trigger=trigger,
            at=dt.datetime.now(dt.UTC).isoformat(),
            url=item.url,
            status=status,
            error=error,
            outcome="delivered",
            duration_ms=int((time.monotonic() - started) * 1000),
            attempt_number=item.attempt_number,
            body=item.body,
        )
        if status is not None and 200 <= status < 300:
            pass
        elif not retryable(status):
            delivery.outcome = "rejected"
        elif not settings.retry or item.attempt_number >= settings.max_retries:
            delivery.outcome = "abandoned"
        else:
            delay = min(
                settings.retry_backoff_seconds * (2**item.attempt_number), settings.max_backoff_seconds
            )
            if status == 429 and retry_after:
                with contextlib.suppress(ValueError):
                    delay = float(retry_after) * settings.retry_after_scale
            delivery.outcome = "retrying"
            delivery.retry_in_seconds = delay
            retry = replace(item, attempt_number=item.attempt_number + 1, due_at=time.monotonic() + delay)
            with self._condition:
                self._pending.append(retry)
                self._condition.notify_all()
        with self._condition:
            delivery.delivery_id = self._next_delivery_id
            self._next_delivery_id += 1
            self._deliveries.append(delivery)
        return delivery
