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
* ``deliver_twice``: every batch the target acknowledges is sent once more, identical (HubSpot
  delivers at least once; see :mod:`.sender`).
* ``max_concurrent_requests``: how many requests are in flight at once (the app's *Event
  throttling*, 10 by default): a burst of changes arrives as up to ten requests of 100 events together.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from .schema import ASSOCIATION_TYPES, find_object_type
from .sender import BackgroundSender, OutgoingRequest, Queued, SenderSettings
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
class WebhookSettings(SenderSettings):
    target_url: str | None = None
    client_secret: str = "hubspot-sandbox-client-secret"  # noqa: S105 - the sandbox's fake secret
    app_id: int = 4_200_001
    batch_window_seconds: float = 0.05
    # The app's throttling.maxConcurrentRequests; 10 is what HubSpot's settings page shows
    # (https://developers.hubspot.com/docs/api-reference/legacy/webhooks/settings/update-setting) and
    # what docs/setup-hubspot.md asks for.
    max_concurrent_requests: int = 10

    def update(self, body: dict[str, Any]) -> None:
        self.set_deliver_twice(body)  # first: an invalid value then changes nothing
        self.set_max_concurrent_requests(body)
        if "target_url" in body:
            self.target_url = body["target_url"] or None
        if "client_secret" in body:
            self.client_secret = str(body["client_secret"])
        if "app_id" in body:
            self.app_id = int(body["app_id"])
        if "max_retries" in body:
            self.max_retries = int(body["max_retries"])
        self.set_numbers(body, ("batch_window_seconds", *self.RETRY_NUMBERS))

    def describe(self) -> dict[str, Any]:
        return {
            "target_url": self.target_url,
            "app_id": self.app_id,
            "batch_window_seconds": self.batch_window_seconds,
            **super().describe(),
            "max_concurrent_requests": self.max_concurrent_requests,
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


def settings_from_project(component: dict[str, Any]) -> dict[str, Any]:
    """A project's webhooks component (``webhooks-hsmeta.json``) as this sandbox's webhook settings:
    what HubSpot sets up when the project is uploaded (``hs project upload``). Inactive
    subscriptions are left out; meetings may be named ``meeting_event``, as projects name them."""
    if component.get("type") != "webhooks" or not isinstance(component.get("config"), dict):
        raise ValueError("not a webhooks component: expected {type: webhooks, config: {...}}")
    config = component["config"]
    settings = config.get("settings") or {}
    listed = config.get("subscriptions") or {}
    subscriptions: list[dict[str, Any]] = []
    for entry in [*(listed.get("crmObjects") or []), *(listed.get("legacyCrmObjects") or [])]:
        if entry.get("active", True):
            subscriptions.append({k: v for k, v in entry.items() if k != "active"})
    for index, entry in enumerate(subscriptions):
        parse_subscription(entry, index)  # refuse what the sandbox would not deliver
    body: dict[str, Any] = {"target_url": settings.get("targetUrl"), "subscriptions": subscriptions}
    if settings.get("maxConcurrentRequests"):
        body["max_concurrent_requests"] = int(settings["maxConcurrentRequests"])
    return body


def sign_v3(client_secret: str, method: str, uri: str, body: str, timestamp: str) -> str:
    message = f"{method}{unquote(uri)}{body}{timestamp}".encode()
    digest = hmac.new(client_secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def sign_v1(client_secret: str, body: str) -> str:
    return hashlib.sha256(f"{client_secret}{body}".encode()).hexdigest()


class WebhookDispatcher(BackgroundSender[dict[str, Any]]):
    """Queues an event for each subscription a change matches and delivers them in batches from a
    background thread."""

    thread_name = "hubspot-webhook-sender"
    batch_size = MAX_EVENTS_PER_REQUEST
    settings: WebhookSettings

    def __init__(self, portal_id: int, settings: WebhookSettings) -> None:
        super().__init__()
        self.portal_id = portal_id
        self.settings = settings
        self.subscriptions: list[Subscription] = []
        self._next_event_id = 1
        self._next_subscription_id = 1

    # -- configuration -------------------------------------------------------------------------
    def set_subscriptions(self, raw: list[Any]) -> None:
        parsed = []
        with self._condition:
            for entry in raw:
                parsed.append(parse_subscription(entry, self._next_subscription_id))
                self._next_subscription_id += 1
            self.subscriptions = parsed

    def _reset_own_state(self) -> None:
        self.subscriptions = []
        self._next_event_id = self._next_subscription_id = 1

    def describe(self) -> dict[str, Any]:
        with self._condition:
            return {
                **self.settings.describe(),
                "subscriptions": [s.to_api() for s in self.subscriptions],
                "pending": self.pending_count(),
                "duplicates_sent": self.duplicates_sent,
            }

    # -- events --------------------------------------------------------------------------------
    def emit(self, event: ChangeEvent) -> None:
        if not self.settings.target_url:
            return
        with self._condition:
            payloads: list[dict[str, Any]] = []
            for subscription in self.subscriptions:
                if subscription.matches(event):
                    payloads.append(self._payload(subscription, event, self._next_event_id))
                    self._next_event_id += 1
            self._queue(payloads)

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
    def _batch_window_seconds(self) -> float:
        return self.settings.batch_window_seconds

    def _has_target(self) -> bool:
        return bool(self.settings.target_url)

    def _is_rejection(self, status: int) -> bool:
        return status in NON_RETRYABLE_STATUSES

    def _request(self, batch: list[Queued[dict[str, Any]]]) -> OutgoingRequest:
        settings = self.settings
        url = settings.target_url or ""
        events = [{**p.content, "attemptNumber": p.attempt_number} for p in batch]
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
        shown = {
            "eventIds": [e["eventId"] for e in events],
            "attemptNumbers": sorted({e["attemptNumber"] for e in events}),
            "events": events,
        }
        return OutgoingRequest(url, body, headers, shown)
