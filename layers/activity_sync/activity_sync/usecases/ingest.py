"""Ingestion: turn what the vendors push (HubSpot webhooks, Salesforce Outbound Messages, posts to
the activity route) into change messages on the right type queue. Nothing here calls a vendor API:
the receiver must answer within HubSpot's ~5 s, and syncers read the records in batches.

What each route trusts (R17; README "Security"):

* ``/webhooks/hubspot``: HubSpot's v3 signature with the app's client secret, at most five minutes
  old. Headers and freshness are checked first, without the secret; a signature that does not
  match makes the receiver read the secret again (a rotation) at most once a minute.
* ``/webhooks/hubspot/activities``: a bearer token (``webhooks/activity-route-token``).
* ``/webhooks/salesforce/outbound-messages/{token}``: a per-stack token in the URL
  (``webhooks/outbound-message-token``), compared in constant time before anything is parsed,
  then the org id.

Anything that cannot be right is refused with a 4xx that says why, or - one event of a HubSpot
delivery - set aside with its reason while the others are queued. Changes the service itself
made, seen coming back, are dropped here (R14, R18): a contact property the sync never reads,
or a Salesforce record last modified by the service's own user.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.typing import LambdaContext

from activity_sync.domain import Direction, HubSpotActivityType, SalesforceActivityType, SyncType
from activity_sync.json_fields import (
    Fields,
    Invalid,
    checked_choice,
    checked_instant,
    checked_string,
)
from activity_sync.messages import (
    MAX_QUEUE_MESSAGE_BYTES,
    ChangeKind,
    ChangeMessage,
    ChangeSource,
    ContactChangeMessage,
)
from activity_sync.observability import logger
from activity_sync.ports import ChangeQueue, ConnectionValues
from activity_sync.rules.echo import made_by_this_app
from activity_sync.rules.hubspot_subscriptions import (
    CONTACT_PROPERTIES_THAT_MATTER as WATCHED_CONTACT_PROPERTIES,
)
from activity_sync.rules.hubspot_subscriptions import ENGAGEMENT_OBJECT_TYPES
from activity_sync.rules.hubspot_webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    HubSpotWebhookEvent,
    WebhookRejected,
    check_freshness,
    parse_delivery,
    parse_json,
    signature_matches,
)
from activity_sync.rules.salesforce_ids import (
    InvalidSalesforceIdError,
    normalize_salesforce_id,
    same_salesforce_id,
)
from activity_sync.rules.salesforce_outbound import OutboundMessage, parse_outbound_message
from activity_sync.rules.salesforce_types import classify_salesforce_activity

OBJECT_CHANGE_KINDS: Mapping[str, ChangeKind] = {
    "object.creation": ChangeKind.UPSERT,
    "object.propertyChange": ChangeKind.UPSERT,
    "object.restore": ChangeKind.UPSERT,
    "object.associationChange": ChangeKind.UPSERT,  # an activity that got its contact later
    "object.deletion": ChangeKind.DELETION,
}
CONTACT_SUBSCRIPTIONS = frozenset(
    {"contact.creation", "contact.propertyChange", "contact.merge", "contact.restore"}
)
CONTACT_PROPERTIES_THAT_MATTER = frozenset(WATCHED_CONTACT_PROPERTIES)
# Warned on every delivery while the stack parameter HubSpotPortalId is 0 (and by `status`).
PORTAL_CHECK_OFF = (
    "HubSpotPortalId is 0: webhook events of any HubSpot portal are accepted; set the stack "
    "parameter to your portal id (docs/setup-hubspot.md, section 1)"
)
# A signature that does not match makes the receiver read the secret again at most this often.
SECRET_RECHECK_SECONDS = 60.0
MAX_ACTIVITY_BODY_BYTES = 256_000
MAX_ACTIVITIES_PER_POST = 100
MAX_POSTED_PROPERTIES = 20
MAX_CONTACTS_PER_ACTIVITY = 100
DUPLICATE_WINDOW_SECONDS = 24 * 3600  # HubSpot and Salesforce both retry deliveries for about a day
# Types that reach the service only through the activity route: no public read API (R1.7, R1.9).
ROUTE_ONLY_TYPES = (HubSpotActivityType.DOCUMENT_VIEW, HubSpotActivityType.INTEGRATION_EVENT)


@dataclass
class RoutedChanges:
    changes: list[ChangeMessage] = field(default_factory=list)
    contact_changes: list[ContactChangeMessage] = field(default_factory=list)
    ignored: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Its JSON form, as the idempotency record keeps it."""
        return {
            "changes": [change.to_dict() for change in self.changes],
            "contact_changes": [change.to_dict() for change in self.contact_changes],
            "ignored": self.ignored,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> RoutedChanges:
        return cls(
            [ChangeMessage.from_dict(change) for change in raw.get("changes") or []],
            [ContactChangeMessage.from_dict(change) for change in raw.get("contact_changes") or []],
            list(raw.get("ignored") or []),
        )

    def summary(self) -> dict[str, Any]:
        return {
            "queued": len(self.changes),
            "contact_changes": len(self.contact_changes),
            "ignored": self.ignored,
        }


def hubspot_sync_type(activity: HubSpotActivityType) -> SyncType:
    return SyncType(Direction.HUBSPOT_TO_SALESFORCE, activity)


def salesforce_sync_type(activity: SalesforceActivityType) -> SyncType:
    return SyncType(Direction.SALESFORCE_TO_HUBSPOT, activity)


def _engagement_of(event: HubSpotWebhookEvent) -> tuple[HubSpotActivityType, int] | None:
    """The activity an object event is about: the object itself, or for an association change
    whichever end is an activity."""
    if event.subscriptionType == "object.associationChange":
        for type_id, object_id in (
            (event.fromObjectTypeId, event.fromObjectId),
            (event.toObjectTypeId, event.toObjectId),
        ):
            if (activity := ENGAGEMENT_OBJECT_TYPES.get(type_id or "")) and object_id is not None:
                return activity, object_id
        return None
    activity = ENGAGEMENT_OBJECT_TYPES.get(event.objectTypeId or "")
    return (activity, event.objectId) if activity is not None and event.objectId is not None else None


def route_hubspot_events(events: Iterable[HubSpotWebhookEvent], portal_id: int | None) -> RoutedChanges:
    """Decide, per event, which queue it belongs on. Well-formed events the service has no use
    for (a deal subscription, another object type) are reported as ignored, not refused, so one
    stray subscription cannot make HubSpot drop the whole delivery."""
    routed = RoutedChanges()
    for event in events:
        if portal_id is not None and event.portalId != portal_id:
            routed.ignored.append(
                {"eventId": event.eventId, "reason": f"portal {event.portalId} is not ours"}
            )
        elif made_by_this_app(event.changeSource, event.sourceId, event.appId):
            routed.ignored.append({"eventId": event.eventId, "reason": "the service's own write (R14)"})
        elif (
            event.subscriptionType == "contact.propertyChange"
            and event.propertyName not in CONTACT_PROPERTIES_THAT_MATTER
        ):
            routed.ignored.append(
                {
                    "eventId": event.eventId,
                    "reason": f"contact property {event.propertyName} is not read by R4 or R7",
                }
            )
        elif event.subscriptionType in CONTACT_SUBSCRIPTIONS and event.objectId is not None:
            routed.contact_changes.append(
                ContactChangeMessage(
                    hubspot_contact_id=str(event.objectId),
                    source=ChangeSource.HUBSPOT_WEBHOOK,
                    occurred_at=event.occurred_at,
                )
            )
        elif event.subscriptionType in OBJECT_CHANGE_KINDS and (target := _engagement_of(event)):
            activity, object_id = target
            routed.changes.append(
                ChangeMessage(
                    sync_type=hubspot_sync_type(activity).key,
                    object_id=str(object_id),
                    source=ChangeSource.HUBSPOT_WEBHOOK,
                    kind=OBJECT_CHANGE_KINDS[event.subscriptionType],
                    occurred_at=event.occurred_at,
                )
            )
        else:
            routed.ignored.append(
                {
                    "eventId": event.eventId,
                    "reason": f"unsupported subscription {event.subscriptionType}"
                    + (f" on object type {event.objectTypeId}" if event.objectTypeId else ""),
                }
            )
    return routed


_NUMERIC_ID = re.compile(r"[0-9]{1,20}")


@dataclass(frozen=True)
class ActivityPost:
    """An activity HubSpot has no read API for, posted by a HubSpot workflow's *Send a webhook*
    action or another system: a document view or another app's timeline event."""

    type: HubSpotActivityType
    id: str
    occurred_at: dt.datetime
    contact_ids: list[str]
    owner_id: str | None = None
    properties: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: object) -> ActivityPost:
        """A posted activity; ``Invalid`` names the field that does not fit (unknown ones too)."""
        fields = Fields(raw)
        kind = checked_choice(fields.required("type"), "type", HubSpotActivityType)
        activity_id = checked_string(fields.required("id"), "id", min_length=1, max_length=200)
        occurred_at = checked_instant(fields.required("occurred_at"), "occurred_at", aware=False)
        contact_ids = fields.required("contact_ids")
        if not isinstance(contact_ids, list) or not 1 <= len(contact_ids) <= MAX_CONTACTS_PER_ACTIVITY:
            raise Invalid("contact_ids", f"should be a list of 1 to {MAX_CONTACTS_PER_ACTIVITY} ids")
        owner_id = fields.get("owner_id")
        properties = fields.get("properties")
        properties = {} if properties is None else properties
        if not isinstance(properties, dict) or len(properties) > MAX_POSTED_PROPERTIES:
            raise Invalid("properties", f"should be an object of at most {MAX_POSTED_PROPERTIES} entries")
        fields.no_others()
        return cls(
            type=kind,
            id=activity_id,
            occurred_at=occurred_at,
            contact_ids=[
                checked_string(c, f"contact_ids.{i}", pattern=_NUMERIC_ID) for i, c in enumerate(contact_ids)
            ],
            owner_id=None if owner_id is None else checked_string(owner_id, "owner_id", pattern=_NUMERIC_ID),
            properties={
                checked_string(name, "properties", max_length=100): checked_string(
                    value, f"properties.{name}", max_length=32_000
                )
                for name, value in properties.items()
            },
        )

    def to_dict(self) -> dict[str, Any]:
        """Its JSON form (the payload the syncer reads back)."""
        return {
            "type": str(self.type),
            "id": self.id,
            "occurred_at": self.occurred_at.isoformat(),
            "contact_ids": list(self.contact_ids),
            "owner_id": self.owner_id,
            "properties": dict(self.properties),
        }


def bearer_token(headers: Mapping[str, str]) -> str:
    """The request's bearer token, or a 401 when it has none (no secret is read for that)."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise WebhookRejected(401, "missing bearer token")
    return token


def same_secret(supplied: str) -> Callable[[str], bool]:
    return lambda expected: hmac.compare_digest(supplied.encode(), expected.encode())


def delivery_key(events: Iterable[HubSpotWebhookEvent]) -> str:
    """What makes a delivery the same delivery sent again: its events, each by portal, subscription,
    event id and instant - HubSpot does not promise an ``eventId`` unique on its own."""
    return "hubspot:" + ",".join(
        sorted(f"{e.portalId}/{e.subscriptionId}/{e.eventId}/{e.occurredAt}" for e in events)
    )


def route_activity_posts(body: str) -> RoutedChanges:
    """Validate a posted activity (or a JSON array of them); one bad item refuses the whole body
    with its index named, so a sender never half-succeeds."""
    if len(body.encode()) > MAX_ACTIVITY_BODY_BYTES:
        raise WebhookRejected(413, f"body larger than {MAX_ACTIVITY_BODY_BYTES} bytes")
    raw: Any = parse_json(body)
    items = raw if isinstance(raw, list) else [raw]
    if len(items) > MAX_ACTIVITIES_PER_POST:
        raise WebhookRejected(400, f"at most {MAX_ACTIVITIES_PER_POST} activities per request")
    routed = RoutedChanges()
    for index, item in enumerate(items):
        try:
            post = ActivityPost.from_dict(item)
        except Invalid as problem:
            raise WebhookRejected(400, f"activity {index}: {problem}") from None
        if post.type not in ROUTE_ONLY_TYPES:
            raise WebhookRejected(
                400,
                f"activity {index}: type {post.type} is read from HubSpot's API, not posted; "
                f"this route takes {', '.join(ROUTE_ONLY_TYPES)}",
            )
        if post.occurred_at.tzinfo is None:
            raise WebhookRejected(400, f"activity {index}: occurred_at needs a timezone")
        change = ChangeMessage(
            sync_type=hubspot_sync_type(post.type).key,
            object_id=post.id,
            source=ChangeSource.HUBSPOT_ACTIVITY_ROUTE,
            occurred_at=post.occurred_at,
            payload=post.to_dict(),
        )
        # Measured as it will travel (encoded), so that no post can make a message SQS refuses.
        if (size := change.queue_bytes()) > MAX_QUEUE_MESSAGE_BYTES:
            raise WebhookRejected(
                413,
                f"activity {index}: {size} bytes as a queue message; at most {MAX_QUEUE_MESSAGE_BYTES} (SQS)",
            )
        routed.changes.append(change)
    return routed


def route_outbound_message(
    message: OutboundMessage, expected_org_id: str, service_user_id: str | None = None
) -> RoutedChanges:
    """Route each notified Task/Event to its type's queue (R10), after checking the org id. A record
    last modified by the service's own user is its own write coming back: dropped (R14, R18)."""
    try:
        same_org = normalize_salesforce_id(message.organization_id) == normalize_salesforce_id(
            expected_org_id
        )
    except InvalidSalesforceIdError:
        same_org = False
    if not same_org:
        raise WebhookRejected(403, f"OrganizationId {message.organization_id} is not the configured org")
    routed = RoutedChanges()
    for record in message.records:
        modified_by = record.fields.get("LastModifiedById") or ""
        if service_user_id and modified_by and same_salesforce_id(modified_by, service_user_id):
            routed.ignored.append({"id": record.record_id, "reason": "the service's own write (R14)"})
            continue
        # A notification without TaskSubtype (not configured, or null) goes to the task syncer,
        # which reads the record and hands it on if it is really an email or a call.
        activity = classify_salesforce_activity(record.sobject_type, record.fields.get("TaskSubtype"))
        if activity is None:
            routed.ignored.append(
                {
                    "id": record.record_id,
                    "reason": f"{record.sobject_type} {record.fields.get('TaskSubtype', '')}",
                }
            )
            continue
        try:
            record_id = normalize_salesforce_id(record.record_id)
        except InvalidSalesforceIdError as error:
            raise WebhookRejected(400, f"notification {record.notification_id}: {error}") from None
        routed.changes.append(
            ChangeMessage(
                sync_type=salesforce_sync_type(activity).key,
                object_id=record_id,
                source=ChangeSource.SALESFORCE_OUTBOUND_MESSAGE,
                payload={"fields": record.fields},
            )
        )
    return routed


# Outbound Message envelopes a receiver container remembers (their notification ids).
RECENT_ENVELOPES = 10_000


class RecentKeys:
    """Keys seen in the last ``window``, at most ``size`` of them (the oldest forgotten first), in
    the container's memory: free, so it costs no request on every delivery. A repeat that reaches
    another container is queued, and its syncer settles it without a vendor write (R14, R15)."""

    def __init__(self, size: int, window: dt.timedelta) -> None:
        self._size, self._window = size, window
        self._seen: OrderedDict[str, dt.datetime] = OrderedDict()

    def seen(self, key: str, now: dt.datetime) -> bool:
        at = self._seen.get(key)
        return at is not None and now - at < self._window

    def remember(self, key: str, now: dt.datetime) -> None:
        self._seen[key] = now
        self._seen.move_to_end(key)
        while len(self._seen) > self._size:
            self._seen.popitem(last=False)


class Receiver:
    """The webhook receiver's use cases: authenticate, validate, route, queue. Each answers a
    summary for the HTTP response, or raises WebhookRejected with the status and reason.

    With a persistence layer, a HubSpot delivery sent again (same event ids) is answered from the
    record of the first one instead of being queued twice: the syncers would find nothing to
    write, but would still spend a read (R18). Powertools Idempotency keeps those records, for a
    day, at two DynamoDB writes per delivery - a delivery holds up to 100 events.

    Outbound Messages go without it: Salesforce sends one as soon as a record changes, so most
    hold a handful of notifications, and two idempotency writes on every delivery would cost more
    than the rare repeat (an acknowledgement lost on the way) ever does. The container remembers
    the envelopes it queued (``RecentKeys``), which answers a repeat that reaches it at no cost; one
    that reaches another container is settled downstream at no vendor write: it shares its
    syncer's batch read with the original or finds the link the original left (unchanged, or the
    service's own write: R14), and a race of the two meets HubSpot's unique property (R15).
    """

    def __init__(
        self,
        connection: Callable[..., ConnectionValues],
        queues: ChangeQueue,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        idempotency: BasePersistenceLayer | None = None,
        service_user: Callable[[], str | None] = lambda: None,
    ) -> None:
        self._connection = connection
        self._queues = queues
        self._clock = clock
        self._service_user = service_user
        self._secret_checked_at: dict[str, dt.datetime] = {}
        self._recent_envelopes = RecentKeys(RECENT_ENVELOPES, dt.timedelta(seconds=DUPLICATE_WINDOW_SECONDS))
        self._queue_delivery: Callable[..., dict[str, Any]] = self._queue_routed
        self._idempotency_config = IdempotencyConfig(
            event_key_jmespath="key", expires_after_seconds=DUPLICATE_WINDOW_SECONDS
        )
        if idempotency is not None:
            self._queue_delivery = idempotent_function(
                self._queue_routed,
                data_keyword_argument="delivery",
                persistence_store=idempotency,
                config=self._idempotency_config,
            )

    def register_lambda_context(self, context: LambdaContext) -> None:
        """Lets an attempt cut short by the function's timeout be retried at once, rather than
        blocked as "in progress" until its record expires."""
        self._idempotency_config.register_lambda_context(context)

    def hubspot_webhook(
        self, *, method: str, url: str, headers: Mapping[str, str], body: str
    ) -> dict[str, Any]:
        timestamp, signature = headers.get(TIMESTAMP_HEADER), headers.get(SIGNATURE_HEADER)
        # Malformed or stale: refused before the secret is even needed.
        timestamp, signature = check_freshness(timestamp=timestamp, signature=signature, now=self._clock())
        settings = self._checked_secret(
            "hubspot/webhook-client-secret",
            lambda secret: signature_matches(
                client_secret=secret,
                method=method,
                uri=url,
                body=body,
                timestamp=timestamp,
                signature=signature,
            ),
            "invalid X-HubSpot-Signature-v3",
        )
        events, set_aside = parse_delivery(body)
        if settings.hubspot_portal_id is None:
            # Not silent: the check that events come from this stack's portal is off.
            logger.warning(PORTAL_CHECK_OFF, extra={"parameter": "hubspot/portal-id"})
        routed = route_hubspot_events(events, settings.hubspot_portal_id)
        routed.ignored.extend(set_aside)
        if not events:
            # Nothing to queue, so nothing to deduplicate: answered as it is, never from the record
            # of another delivery whose events were all set aside too.
            return self._queue_routed(delivery={"key": None, "routed": routed.to_dict()})
        return self._queue_delivery(delivery={"key": delivery_key(events), "routed": routed.to_dict()})

    def hubspot_activities(
        self, *, headers: Mapping[str, str], read_body: Callable[[], str]
    ) -> dict[str, Any]:
        """Posted activities. The bearer token is checked before ``read_body`` is called, so a gzip
        body is not unpacked for a caller that cannot post."""
        self._checked_secret(
            "webhooks/activity-route-token", same_secret(bearer_token(headers)), "invalid bearer token"
        )
        return self._queue_routed(
            delivery={"key": None, "routed": route_activity_posts(read_body()).to_dict()}
        )

    def salesforce_outbound_message(self, *, body: str, token: str | None) -> dict[str, Any]:
        if not token:
            raise WebhookRejected(401, "the Outbound Message URL must end with this stack's token")
        settings = self._checked_secret(
            "webhooks/outbound-message-token", same_secret(token), "invalid outbound message token"
        )
        message = parse_outbound_message(body)
        routed = route_outbound_message(message, settings.require("salesforce/org-id"), self._service_user())
        # The same envelope sent again (Salesforce redelivers when an acknowledgement is lost) is
        # acknowledged without queuing its records again; a newer notification of a record has an
        # id of its own, so it still queues.
        envelope = ",".join(sorted(record.notification_id for record in message.records))
        if self._recent_envelopes.seen(envelope, self._clock()):
            return {**routed.summary(), "queued": 0, "contact_changes": 0, "repeat": True}
        answer = self._queue_routed(delivery={"key": None, "routed": routed.to_dict()})
        self._recent_envelopes.remember(envelope, self._clock())
        return answer

    def _checked_secret(self, name: str, matches: Callable[[str], bool], refusal: str) -> ConnectionValues:
        """The connection settings, once the request proved it knows the secret ``name``
        (``matches``). A mismatch reads the secret again past its one-minute cache - it may have
        just been rotated in SSM - at most once a minute per secret, so that forged requests cannot
        make the receiver read SSM for each of them. A secret not set at all is a 401 (the sender
        is told nothing more), logged with the parameter's name for the operator."""
        settings = self._connection()
        if _secret_matches(settings, name, matches):
            return settings
        now = self._clock()
        checked_at = self._secret_checked_at.get(name)
        if checked_at is None or (now - checked_at).total_seconds() >= SECRET_RECHECK_SECONDS:
            self._secret_checked_at[name] = now
            settings = self._connection(force_fetch=True)
            if _secret_matches(settings, name, matches):
                return settings
        if not _is_set(settings.get(name)):
            logger.error("a receiver secret is not set", extra={"parameter": name})
            raise WebhookRejected(401, f"this stack's secret {name} is not set in SSM")
        raise WebhookRejected(401, refusal)

    def _queue_routed(self, delivery: dict[str, Any]) -> dict[str, Any]:
        # Any failure raises before the sender gets its 2xx/Ack, so the vendor redelivers (and
        # Powertools forgets the attempt).
        routed = RoutedChanges.from_dict(delivery["routed"])
        if routed.changes:
            self._queues.send_changes(routed.changes)
        if routed.contact_changes:
            self._queues.send_contact_changes(routed.contact_changes)
        return routed.summary()


def _is_set(value: str | None) -> bool:
    return bool(value) and value != "set-me"


def _secret_matches(settings: ConnectionValues, name: str, matches: Callable[[str], bool]) -> bool:
    value = settings.get(name)
    return _is_set(value) and matches(str(value))
