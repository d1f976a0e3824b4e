"""What travels on the queues.

A message names *which* record changed, not its whole content: syncers read the current state in
one batch call, so order, repeats and overlapping polls do not matter (R15). Only changes that
have no read API (form submissions, marketing email events, document views, integration events)
carry their full content in ``payload``.

Plain frozen dataclasses, checked when made and when read from JSON (``from_json`` raises
``json_fields.Invalid`` naming the field), so that a malformed message is dead-lettered with its
reason.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from enum import StrEnum
from typing import Any, Self

from activity_sync.json_fields import (
    Fields,
    Invalid,
    checked_choice,
    checked_instant,
    checked_string,
    json_value,
    queue_json,
    to_json,
)

MAX_OBJECT_ID_LENGTH = 256


class ChangeSource(StrEnum):
    HUBSPOT_WEBHOOK = "hubspot_webhook"
    HUBSPOT_POLL = "hubspot_poll"
    HUBSPOT_ACTIVITY_ROUTE = "hubspot_activity_route"
    SALESFORCE_OUTBOUND_MESSAGE = "salesforce_outbound_message"
    SALESFORCE_POLL = "salesforce_poll"
    CONTACT_STARTED_SYNCING = "contact_started_syncing"
    ACTIVITY_WAITING = "activity_waiting"  # a syncer parked an activity and asks for its contact
    IMPORT = "import"
    REDRIVE = "redrive"


class ChangeKind(StrEnum):
    UPSERT = "upsert"
    DELETION = "deletion"


# The largest queue message the service writes, and the most one SendMessageBatch carries: SQS's
# classic 256 KiB, which every queue takes whenever it was created (queues made since August 2025
# take 1 MiB; https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html).
MAX_QUEUE_MESSAGE_BYTES = 262_144


class _Message:
    """JSON both ways for the message dataclasses below."""

    @classmethod
    def from_dict(cls, raw: object) -> Self:
        fields = Fields(raw)
        shape = dataclasses.fields(cls)  # type: ignore[arg-type]
        values = {f.name: fields.get(f.name) for f in shape}
        fields.no_others()
        for field in shape:
            required = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
            if required and values[field.name] is None:
                raise Invalid(field.name, "is required")
        return cls(**{name: value for name, value in values.items() if value is not None})

    @classmethod
    def from_json(cls, text: str | bytes) -> Self:
        return cls.from_dict(json_value(text))

    def to_dict(self) -> dict[str, Any]:
        """Its JSON form (instants in ISO 8601, enums by value), Nones included."""
        return {
            f.name: (value.isoformat() if isinstance(value := getattr(self, f.name), dt.datetime) else value)
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
        }

    def to_json(self) -> str:
        return to_json(self.to_dict())

    def queue_body(self) -> str:
        """Its body on a queue: JSON with text as UTF-8 rather than ``\\uXXXX`` escapes (a note in
        Chinese or emoji would otherwise grow two to three times), escaping only the two code
        points SQS does not carry (U+FFFE, U+FFFF)."""
        return queue_json(self.to_dict())

    def queue_bytes(self) -> int:
        """Its size on a queue, as SQS counts it."""
        return len(self.queue_body().encode("utf-8"))

    def replace(self, **changes: Any) -> Self:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ChangeMessage(_Message):
    """One changed record, addressed to the queue of its sync type (a SyncType key, e.g.
    ``hubspot_to_salesforce#note``)."""

    sync_type: str
    object_id: str
    source: ChangeSource
    kind: ChangeKind = ChangeKind.UPSERT
    occurred_at: dt.datetime | None = None
    payload: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        checked_string(self.sync_type, "sync_type", min_length=1)
        checked_string(self.object_id, "object_id", min_length=1, max_length=MAX_OBJECT_ID_LENGTH)
        _set(self, "source", checked_choice(self.source, "source", ChangeSource))
        _set(self, "kind", checked_choice(self.kind, "kind", ChangeKind))
        if self.occurred_at is not None:
            _set(self, "occurred_at", checked_instant(self.occurred_at, "occurred_at", aware=False))
        if self.payload is not None and not isinstance(self.payload, dict):
            raise Invalid("payload", "should be an object")

    def dedup_key(self) -> str:
        """Same record, same change: sending it twice in one batch is wasted work."""
        return f"{self.sync_type}|{self.object_id}|{self.kind}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class ContactChangeMessage(_Message):
    """A HubSpot contact (or a Salesforce person) changed: it may have started to sync (R4)."""

    hubspot_contact_id: str | None = None
    salesforce_person_id: str | None = None
    source: ChangeSource
    occurred_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        for name in ("hubspot_contact_id", "salesforce_person_id"):
            if (value := getattr(self, name)) is not None:
                checked_string(value, name, max_length=MAX_OBJECT_ID_LENGTH)
        _set(self, "source", checked_choice(self.source, "source", ChangeSource))
        if self.occurred_at is not None:
            _set(self, "occurred_at", checked_instant(self.occurred_at, "occurred_at", aware=False))


def _set(message: object, name: str, value: object) -> None:
    object.__setattr__(message, name, value)  # a frozen dataclass settles its own fields


def record_key(message_id: str, body: str) -> str:
    """What a message is about, for "one dead letter per record and reason": its record id, or
    the message id when the body cannot say."""
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        return message_id
    if isinstance(parsed, dict):
        for name in ("object_id", "hubspot_contact_id", "salesforce_person_id"):
            if isinstance(parsed.get(name), str) and parsed[name]:
                return str(parsed[name])[:256]
    return message_id
