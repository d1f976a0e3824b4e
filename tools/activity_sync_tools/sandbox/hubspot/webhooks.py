"""Webhook delivery the way HubSpot does it: subscribed CRM changes become events that a background
sender POSTs to the app's target URL as JSON arrays of up to 100 events, signed, and retried.

* Payload fields (``eventId``, ``subscriptionId``, ``portalId``, ``appId``, ``occurredAt``,
  ``subscriptionType``, ``attemptNumber``, ``objectId``, ``objectTypeId`` for ``object.*``,
  ``propertyName``/``propertyValue``, ``changeSource``/``sourceId``, ``changeFlag``) follow HubSpot's
  webhooks docs and the generic ``object.*`` subscriptions changelog
  (https://developers.hubspot.com/changelog/public-beta-generic-webhook-subscriptions).
* Signatures: ``X-HubSpot-Signature-v3`` = base64(HMAC-SHA256(client secret, ``POST`` + URI + body
  + timestamp)) with ``X-HubSpot-Request-Timestamp`` (wall-clock ms: receivers check it against their
  own clock), plus the v1 ``X-HubSpot-Signature`` = hex SHA-256(secret + body).
* Retries: connection errors, timeouts and any status except 400/401/403/404/405 are retried with
  ``attemptNumber`` + 1, up to ``max_retries`` times (HubSpot: 10 over about a day; here the backoff
  is scaled down to fractions of a second); a 429 waits ``Retry-After`` (times ``retry_after_scale``).
"""

from __future__ import annotations

import base64
import collections
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import requests

from .schema import ASSOCIATION_TYPES, find_object_type
from .store import ChangeEvent

SUBSCRIPTION_FAMILIES = ("contact", "company", "deal", "object")
SUBSCRIPTION_ACTIONS = ("creation", "deletion", "propertyChange", "associationChange")
DEFAULT_SUBSCRIPTIONS = tuple(f"object.{action}" for action in SUBSCRIPTION_ACTIONS)
NON_RETRYABLE_STATUSES = frozenset({400, 401, 403, 404, 405})
MAX_EVENTS_PER_REQUEST = 100
# Maintained on every write; an "any property" subscription would drown in them.
_HOUSEKEEPING_PROPERTIES = frozenset(
    {"hs_lastmodifieddate", "lastmodifieddate", "hs_object_id", "createdate", "hs_createdate"}
)


@dataclass(frozen=True)
class Subscription:
    id: int
    subscription_type: str
    object_type_id: str | None = None
    property_name: str | None = None

    @property
    def family(self) -> str:
        return self.subscription_type.split(".", 1)[0]

    @property
    def action(self) -> str:
        return self.subscription_type.split(".", 1)[1]

    def matches(self, event: ChangeEvent) -> bool:
        if self.action != event.action:
            return False
        if self.family == "object":
            if self.object_type_id and self.object_type_id != event.object_type.type_id:
                return False
        elif event.object_type.legacy_webhook_name != self.family:
            return False
        if self.action == "propertyChange":
            if self.property_name:
                return self.property_name == event.property_name
            return event.property_name not in _HOUSEKEEPING_PROPERTIES
        return True

    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "subscriptionType": self.subscription_type, "active": True}
        if self.object_type_id:
            body["objectTypeId"] = self.object_type_id
        if self.property_name:
            body["propertyName"] = self.property_name
        return body


@dataclass
class WebhookSettings:
    target_url: str | None = None
    client_secret: str = "hubspot-sandbox-client-secret"  # noqa: S105 - the sandbox's fake secret
    app_id: int = 4_200_001
    batch_window_seconds: float = 0.05
    max_retries: int = 10
    retry_backoff_seconds: float = 0.05
    max_backoff_seconds: float = 2.0
    retry_after_scale: float = 1.0
    timeout_seconds: float = 5.0

    _NUMBERS = (
        "batch_window_seconds",
        "retry_backoff_seconds",
        "max_backoff_seconds",
        "retry_after_scale",
        "timeout_seconds",
    )

    def update(self, body: dict[str, Any]) -> None:
        if "target_url" in body:
            self.target_url = body["target_url"] or None
        if "client_secret" in body:
            self.client_secret = str(body["client_secret"])
        if "app_id" in body:
            self.app_id = int(body["app_id"])
        if "max_retries" in body:
            self.max_retries = int(body["max_retries"])
        for name in self._NUMBERS:
            if name in body:
                value = float(body[name])
                if value < 0:
                    raise ValueError(f"{name} must not be negative")
                setattr(self, name, value)

    def describe(self) -> dict[str, Any]:
        return {
            "target_url": self.target_url,
            "app_id": self.app_id,
            "batch_window_seconds": self.batch_window_seconds,
            "max_retries": self.max_retries,
            "retry_backoff_seconds": self.retry_backoff_seconds,
            "max_backoff_seconds": self.max_backoff_seconds,
            "retry_after_scale": self.retry_after_scale,
            "timeout_seconds": self.timeout_seconds,
        }


@dataclass
class PendingEvent:
    payload: dict[str, Any]
    attempt_number: int = 0
    due_at: float = 0.0  # time.monotonic(): not sent before (retry backoff)
    queued_at: float = 0.0  # time.monotonic(): the batching window runs from here

    def ready_at(self, batch_window: float) -> float:
        return max(self.due_at, self.queued_at + batch_window)

    @property
    def event_id(self) -> int:
        return int(self.payload["eventId"])


@dataclass
class Delivery:
    delivery_id: int
    trigger: str
    at: str
    url: str
    status: int | None
    error: str | None
    outcome: str  # delivered | retrying | rejected | abandoned
    duration_ms: int
    events: list[dict[str, Any]] = field(default_factory=list)
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
            "eventIds": [e["eventId"] for e in self.events],
            "attemptNumbers": sorted({e["attemptNumber"] for e in self.events}),
            "events": self.events,
        }


def parse_subscription(raw: Any, subscription_id: int) -> Subscription:
    """``"object.propertyChange"`` or ``{"subscriptionType", "objectTypeId"/"objectType",
    "propertyName"}``."""
    if isinstance(raw, str):
        raw = {"subscriptionType": raw}
    if not isinstance(raw, dict):
        raise ValueError(f"a subscription is a string or an object, not {raw!r}")
    kind = str(raw.get("subscriptionType") or raw.get("subscription_type") or "")
    family, _, action = kind.partition(".")
    if family not in SUBSCRIPTION_FAMILIES or action not in SUBSCRIPTION_ACTIONS:
        raise ValueError(f"unsupported subscription type {kind!r}")
    object_type_id = raw.get("objectTypeId") or raw.get("object_type_id")
    object_type_name = raw.get("objectType") or raw.get("objectName")
    if object_type_name:
        found = find_object_type(str(object_type_name))
        if found is None:
            raise ValueError(f"unknown object type {object_type_name!r}")
        object_type_id = found.type_id
    if object_type_id and family != "object":
        raise ValueError("objectTypeId only applies to object.* subscriptions")
    property_name = raw.get("propertyName") or raw.get("property_name")
    return Subscription(subscription_id, kind, object_type_id or None, property_name or None)


def sign_v3(client_secret: str, method: str, uri: str, body: str, timestamp: str) -> str:
    message = f"{method}{unquote(uri)}{body}{timestamp}".encode()
    digest = hmac.new(client_secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def sign_v1(client_secret: str, body: str) -> str:
    return hashlib.sha256(f"{client_secret}{body}".encode()).hexdigest()


class WebhookDispatcher:
    """Queues events for subscribed changes and delivers them from a background thread."""

    def __init__(self, portal_id: int, settings: WebhookSettings) -> None:
        self.portal_id = portal_id
        self.settings = settings
        self.subscriptions: list[Subscription] = []
        self._condition = threading.Condition()
        self._delivery_lock = threading.Lock()
        self._pending: list[PendingEvent] = []
        self._deliveries: collections.deque[Delivery] = collections.deque(maxlen=10_000)
        self._next_event_id = 1
        self._next_subscription_id = 1
        self._next_delivery_id = 1
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._session = requests.Session()
        self._session.trust_env = False  # deliveries go straight to the target, never via a proxy

    # -- configuration -------------------------------------------------------------------------
    def set_subscriptions(self, raw: list[Any]) -> None:
        parsed = []
        with self._condition:
            for entry in raw:
                parsed.append(parse_subscription(entry, self._next_subscription_id))
                self._next_subscription_id += 1
            self.subscriptions = parsed

    def reset(self) -> None:
        # Wait out an in-flight delivery so that nothing it requeues survives the reset.
        with self._delivery_lock, self._condition:
            self._pending.clear()
            self._deliveries.clear()
            self.subscriptions = []
            self._next_event_id = self._next_subscription_id = self._next_delivery_id = 1

    def describe(self) -> dict[str, Any]:
        with self._condition:
            return {
                **self.settings.describe(),
                "subscriptions": [s.to_api() for s in self.subscriptions],
                "pending": len(self._pending),
            }

    def deliveries(self) -> list[dict[str, Any]]:
        with self._condition:
            return [d.to_api() for d in self._deliveries]

    def clear_deliveries(self) -> None:
        with self._condition:
            self._deliveries.clear()

    def pending_count(self) -> int:
        with self._condition:
            return len(self._pending)

    # -- events --------------------------------------------------------------------------------
    def emit(self, event: ChangeEvent) -> None:
        if not self.settings.target_url:
            return
        with self._condition:
            queued = False
            for subscription in self.subscriptions:
                if subscription.matches(event):
                    payload = self._payload(subscription, event, self._next_event_id)
                    self._next_event_id += 1
                    now = time.monotonic()
                    self._pending.append(PendingEvent(payload, 0, now, now))
                    queued = True
            if queued:
                self._ensure_sender()
                self._condition.notify_all()

    def _payload(self, subscription: Subscription, event: ChangeEvent, event_id: int) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "eventId": event_id,
            "subscriptionId": subscription.id,
            "portalId": self.portal_id,
            "appId": self.settings.app_id,
            "occurredAt": event.occurred_at,
            "subscriptionType": subscription.subscription_type,
            "attemptNumber": 0,
            "objectId": event.object_id,
        }
        if subscription.family == "object":
            payload["objectTypeId"] = event.object_type.type_id
        if event.action == "creation":
            payload["changeFlag"] = "CREATED"
        elif event.action == "deletion":
            payload["changeFlag"] = "DELETED"
        elif event.action == "propertyChange":
            payload["propertyName"] = event.property_name
            payload["propertyValue"] = event.property_value
        elif event.action == "associationChange":
            association = ASSOCIATION_TYPES[event.association_type_id or 0]
            del payload["objectId"]  # association events name both ends instead
            payload.update(
                {
                    "associationType": association.v3_name.removesuffix("_unlabeled").upper(),
                    "associationTypeId": association.type_id,
                    "fromObjectId": event.object_id,
                    "toObjectId": event.to_object_id,
                    "fromObjectTypeId": association.from_type.type_id,
                    "toObjectTypeId": association.to_type.type_id,
                    "associationRemoved": event.association_removed,
                    "isPrimaryAssociation": association.label == "Primary",
                }
            )
        payload["changeSource"] = event.source.kind
        if event.source.source_id:
            payload["sourceId"] = event.source.source_id
        return payload

    # -- delivery ------------------------------------------------------------------------------
    def flush(self) -> list[dict[str, Any]]:
        """Deliver every pending event now (each at most once), ignoring batching and backoff."""
        return [d.to_api() for d in self._deliver("flush", include_not_due=True)]

    def _ensure_sender(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="hubspot-webhook-sender", daemon=True)
            self._thread.start()

    def close(self) -> None:
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._session.close()

    def settings_changed(self) -> None:
        """Wake the sender so that a new batching window or target applies at once."""
        with self._condition:
            self._condition.notify_all()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._stopping and not self._pending:
                    self._condition.wait()
                if self._stopping:
                    return
                # Wait out the batching window so that a burst of changes shares a request.
                window = self.settings.batch_window_seconds
                wait = min(p.ready_at(window) for p in self._pending) - time.monotonic()
                if wait > 0:
                    self._condition.wait(timeout=wait)
                    continue
            self._deliver("background", include_not_due=False)

    def _deliver(self, trigger: str, *, include_not_due: bool) -> list[Delivery]:
        done: list[Delivery] = []
        attempted: set[int] = set()
        with self._delivery_lock:
            while True:
                with self._condition:
                    now = time.monotonic()
                    ready = [
                        p
                        for p in self._pending
                        if p.event_id not in attempted and (include_not_due or p.due_at <= now)
                    ][:MAX_EVENTS_PER_REQUEST]
                    if not ready or not self.settings.target_url:
                        return done
                    taken = {p.event_id for p in ready}
                    self._pending = [p for p in self._pending if p.event_id not in taken]
                attempted |= taken
                done.append(self._post(ready, trigger))

    def _post(self, batch: list[PendingEvent], trigger: str) -> Delivery:
        settings = self.settings
        url = settings.target_url or ""
        events = [{**p.payload, "attemptNumber": p.attempt_number} for p in batch]
        body = json.dumps(events, separators=(",", ":"))
        timestamp = str(int(time.time() * 1000))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "HubSpot Connect 2.0 (http://dev.hubspot.com/) - WebhooksExecutorDaemon (sandbox)",
            "X-HubSpot-Signature": sign_v1(settings.client_secret, body),
            "X-HubSpot-Signature-Version": "v1",
            "X-HubSpot-Signature-v3": sign_v3(settings.client_secret, "POST", url, body, timestamp),
            "X-HubSpot-Request-Timestamp": timestamp,
            "X-HubSpot-Timeout-Millis": str(int(settings.timeout_seconds * 1000)),
        }
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        retry_after: str | None = None
        try:
            response = self._session.post(
                url, data=body.encode(), headers=headers, timeout=settings.timeout_seconds
            )
            status = response.status_code
            retry_after = response.headers.get("Retry-After")
            response.close()
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        delivery = Delivery(
            delivery_id=0,
            trigger=trigger,
            at=dt.datetime.now(dt.UTC).isoformat(),
            url=url,
            status=status,
            error=error,
            outcome="delivered",
            duration_ms=int((time.monotonic() - started) * 1000),
            events=events,
        )
        if status is not None and 200 <= status < 300:
            pass
        elif status in NON_RETRYABLE_STATUSES:
            delivery.outcome = "rejected"
        else:
            self._schedule_retries(batch, delivery, status, retry_after)
        with self._condition:
            delivery.delivery_id = self._next_delivery_id
            self._next_delivery_id += 1
            self._deliveries.append(delivery)
        return delivery

    def _schedule_retries(
        self, batch: list[PendingEvent], delivery: Delivery, status: int | None, retry_after: str | None
    ) -> None:
        settings = self.settings
        retrying = [p for p in batch if p.attempt_number < settings.max_retries]
        if not retrying:
            delivery.outcome = "abandoned"
            return
        attempt = min(p.attempt_number for p in retrying)
        delay = min(settings.retry_backoff_seconds * (2**attempt), settings.max_backoff_seconds)
        if status == 429 and retry_after:
            with contextlib.suppress(ValueError):
                delay = float(retry_after) * settings.retry_after_scale
        delivery.outcome = "retrying"
        delivery.retry_in_seconds = delay
        now = time.monotonic()
        with self._condition:
            for pending in retrying:
                retry = PendingEvent(pending.payload, pending.attempt_number + 1, now + delay, now)
                self._pending.append(retry)
            self._condition.notify_all()
