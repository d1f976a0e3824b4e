"""HubSpot webhook deliveries: signature v3 verification and the event schema.

Signature v3 (https://developers.hubspot.com/docs/apps/legacy-apps/authentication/validating-requests,
"Validate the v3 request signature"): base64(HMAC-SHA256(client secret, method + URI + body +
timestamp)), where the URI is the full request URL with HubSpot's list of URL-encoded characters
decoded, and requests whose ``X-HubSpot-Request-Timestamp`` is more than five minutes old are
rejected. The comparison is constant-time.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from activity_sync.json_fields import Fields, Invalid, checked_integer, checked_string
from activity_sync.rules.text import unicode_text

SIGNATURE_HEADER = "x-hubspot-signature-v3"
TIMESTAMP_HEADER = "x-hubspot-request-timestamp"
MAX_SIGNATURE_AGE = dt.timedelta(minutes=5)
MAX_BODY_BYTES = 1_000_000  # HubSpot sends at most 100 events a request, a few hundred bytes each
MAX_ID = 2**63 - 1  # HubSpot ids and timestamps are 64-bit
LATEST_INSTANT_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last instant a datetime holds

# The characters HubSpot's docs say to decode in the request URI before signing.
_DECODED_IN_URI = {
    "%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'",
    "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";",
}  # fmt: skip


class WebhookRejected(Exception):
    """The delivery is refused; ``status`` is the HTTP status to answer, ``reason`` says why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def decode_signed_uri(uri: str) -> str:
    for encoded, char in _DECODED_IN_URI.items():
        uri = uri.replace(encoded, char).replace(encoded.lower(), char)
    return uri


def sign_v3(client_secret: str, method: str, uri: str, body: str, timestamp: str) -> str:
    message = f"{method.upper()}{decode_signed_uri(uri)}{body}{timestamp}".encode()
    digest = hmac.new(client_secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def check_freshness(*, timestamp: str | None, signature: str | None, now: dt.datetime) -> tuple[str, str]:
    """What can be refused without the secret: missing headers, a timestamp that is not one, or a
    request more than five minutes off (WebhookRejected 401). Returns (timestamp, signature)."""
    if not signature or not timestamp:
        raise WebhookRejected(401, "missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp")
    try:
        sent_at = dt.datetime.fromtimestamp(int(timestamp) / 1000, dt.UTC)
    except (ValueError, OverflowError, OSError):
        raise WebhookRejected(401, "X-HubSpot-Request-Timestamp is not a millisecond timestamp") from None
    if abs(now - sent_at) > MAX_SIGNATURE_AGE:
        raise WebhookRejected(401, "stale X-HubSpot-Request-Timestamp (more than 5 minutes off)")
    return timestamp, signature


def signature_matches(
    *, client_secret: str, method: str, uri: str, body: str, timestamp: str, signature: str
) -> bool:
    expected = sign_v3(client_secret, method, uri, body, timestamp)
    return hmac.compare_digest(expected.encode(), signature.encode())


def verify_v3(
    *,
    client_secret: str,
    method: str,
    uri: str,
    body: str,
    timestamp: str | None,
    signature: str | None,
    now: dt.datetime,
) -> None:
    """Raise WebhookRejected(401) unless the request carries a fresh, valid v3 signature."""
    timestamp, signature = check_freshness(timestamp=timestamp, signature=signature, now=now)
    if not signature_matches(
        client_secret=client_secret,
        method=method,
        uri=uri,
        body=body,
        timestamp=timestamp,
        signature=signature,
    ):
        raise WebhookRejected(401, "invalid X-HubSpot-Signature-v3")


@dataclass(frozen=True)
class HubSpotWebhookEvent:
    """One event of a delivery (HubSpot may add fields: unknown ones are kept in ``extra``, not
    rejected). The names are HubSpot's own."""

    eventId: int
    subscriptionId: int
    portalId: int
    occurredAt: int
    subscriptionType: str
    # An object id is a positive 64-bit number; absent on association changes, which name both ends.
    objectId: int | None = None
    appId: int | None = None
    attemptNumber: int = 0
    objectTypeId: str | None = None
    propertyName: str | None = None
    propertyValue: str | None = None
    changeSource: str | None = None
    changeFlag: str | None = None
    sourceId: str | None = None
    fromObjectId: int | None = None
    toObjectId: int | None = None
    fromObjectTypeId: str | None = None
    toObjectTypeId: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: object) -> HubSpotWebhookEvent:
        """One event as HubSpot sends it; ``Invalid`` names the field that does not fit."""
        fields = Fields(raw)

        def number(name: str, low: int, high: int) -> int:
            return checked_integer(fields.required(name), fields.at(name), low=low, high=high)

        def object_id(name: str) -> int | None:
            value = fields.get(name)
            return None if value is None else checked_integer(value, fields.at(name), low=1, high=MAX_ID)

        def text(name: str) -> str | None:
            value = fields.get(name)
            return None if value is None else checked_string(value, fields.at(name))

        def free_text(name: str) -> str | None:
            # A property's new value is text a person typed: a stray escape in it must not refuse the
            # delivery (HubSpot does not retry a 400), and the service never routes on it.
            value = fields.get(name)
            if isinstance(value, str):
                value = unicode_text(value)
            return None if value is None else checked_string(value, fields.at(name))

        app_id, attempt = fields.get("appId"), fields.get("attemptNumber")
        return cls(
            eventId=number("eventId", 0, MAX_ID),
            subscriptionId=number("subscriptionId", 0, MAX_ID),
            portalId=number("portalId", 0, MAX_ID),
            occurredAt=number("occurredAt", 0, LATEST_INSTANT_MS),
            subscriptionType=checked_string(
                fields.required("subscriptionType"), fields.at("subscriptionType"), max_length=100
            ),
            objectId=object_id("objectId"),
            appId=None if app_id is None else checked_integer(app_id, fields.at("appId")),
            attemptNumber=0 if attempt is None else checked_integer(attempt, fields.at("attemptNumber")),
            objectTypeId=text("objectTypeId"),
            propertyName=text("propertyName"),
            propertyValue=free_text("propertyValue"),
            changeSource=text("changeSource"),
            changeFlag=text("changeFlag"),
            sourceId=text("sourceId"),
            fromObjectId=object_id("fromObjectId"),
            toObjectId=object_id("toObjectId"),
            fromObjectTypeId=text("fromObjectTypeId"),
            toObjectTypeId=text("toObjectTypeId"),
            extra=fields.unknown(),
        )

    @property
    def occurred_at(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.occurredAt / 1000, dt.UTC)


def parse_json(body: str) -> Any:
    """JSON, or a 400 that says what is wrong with it (never a 500: a body nested deeper than the
    parser goes is refused like any other malformed one)."""
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise WebhookRejected(400, f"body is not JSON: {exc.msg}") from None
    except RecursionError:
        raise WebhookRejected(400, "body is not acceptable JSON: nested too deeply") from None


def parse_delivery(body: str) -> tuple[list[HubSpotWebhookEvent], list[dict[str, Any]]]:
    """The body is a JSON array of events; anything else is a 400 with the problem named. An event
    of the array that does not fit is set aside with its reason (answered and logged) rather than
    refusing the delivery: HubSpot never retries a 400, so refusing would lose the good events."""
    if len(body.encode()) > MAX_BODY_BYTES:
        raise WebhookRejected(413, f"body larger than {MAX_BODY_BYTES} bytes")
    raw = parse_json(body)
    if not isinstance(raw, list):
        raise WebhookRejected(400, "body must be a JSON array of webhook events")
    events: list[HubSpotWebhookEvent] = []
    set_aside: list[dict[str, Any]] = []
    for index, item in enumerate(raw):
        try:
            events.append(HubSpotWebhookEvent.from_dict(item))
        except Invalid as problem:
            event_id = item.get("eventId") if isinstance(item, dict) else None
            set_aside.append({"eventId": event_id, "index": index, "reason": str(problem)})
    return events, set_aside
