"""The vocabulary of the activity sync: directions, activity types, settings and the records the rules
work on. Pure data: no I/O, no clock. Rule ids (S1-S4, R1-R18) refer to SPEC.md."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Direction(StrEnum):
    HUBSPOT_TO_SALESFORCE = "hubspot_to_salesforce"
    SALESFORCE_TO_HUBSPOT = "salesforce_to_hubspot"


class HubSpotActivityType(StrEnum):
    """R1: the HubSpot activity types that can become Salesforce Tasks, in the SPEC's order."""

    FORM_SUBMISSION = "form_submission"
    MARKETING_EMAIL = "marketing_email"
    SALES_EMAIL = "sales_email"
    MEETING = "meeting"
    CALL = "call"
    NOTE = "note"
    DOCUMENT_VIEW = "document_view"
    TASK = "task"
    INTEGRATION_EVENT = "integration_event"


class SalesforceActivityType(StrEnum):
    """R10: the Salesforce activity kinds that can become HubSpot activities."""

    TASK = "task"
    EMAIL = "email"
    CALL = "call"
    MEETING = "meeting"  # a Salesforce Event


# R3/R15: the unique External ID field on Task that carries a HubSpot activity's identity.
SALESFORCE_EXTERNAL_ID_FIELD = "HubSpot_Activity_Id__c"
# R14: the HubSpot activity property in which the service stores the Salesforce record id it copied.
HUBSPOT_SALESFORCE_ID_PROPERTY = "activity_sync_salesforce_id"


class EmailEventKind(StrEnum):
    SENT = "sent"
    OPEN = "open"
    CLICK = "click"
    REPLY = "reply"


# R1: marketing emails sync sends/opens/clicks; sales emails also replies.
EMAIL_EVENT_KINDS_BY_TYPE: Mapping[HubSpotActivityType, tuple[EmailEventKind, ...]] = {
    HubSpotActivityType.MARKETING_EMAIL: (EmailEventKind.SENT, EmailEventKind.OPEN, EmailEventKind.CLICK),
    HubSpotActivityType.SALES_EMAIL: (
        EmailEventKind.SENT,
        EmailEventKind.OPEN,
        EmailEventKind.CLICK,
        EmailEventKind.REPLY,
    ),
}


class ActivityProperty(StrEnum):
    """Neutral names of the values a `HubSpotActivity.properties` mapping may carry. The HubSpot reader
    translates HubSpot's own property names into these, so the rules never depend on the API shape."""

    FORM_NAME = "form_name"
    PAGE_URL = "page_url"
    EMAIL_NAME = "email_name"  # a marketing email's name
    SUBJECT = "subject"  # a sales email's or a task's subject line
    TITLE = "title"  # a meeting's or a call's title
    BODY = "body"  # note text, call notes, meeting description, task body, email text (HTML allowed)
    DOCUMENT_NAME = "document_name"
    APP_NAME = "app_name"
    EVENT_NAME = "event_name"
    STATUS = "status"  # a task's hs_task_status (NOT_STARTED, IN_PROGRESS, WAITING, COMPLETED, DEFERRED)
    PRIORITY = "priority"  # a task's hs_task_priority (NONE, LOW, MEDIUM, HIGH)
    DUE_DATE = "due_date"  # a task's due date: ISO-8601 date, or datetime with an offset
    START_TIME = "start_time"  # a meeting's start: ISO-8601 datetime with an offset
    CALL_DIRECTION = "call_direction"  # INBOUND or OUTBOUND
    CALL_DURATION_MS = "call_duration_ms"  # integer milliseconds
    CALL_DISPOSITION = "call_disposition"  # the outcome's label, e.g. "Connected"


def _require_aware(value: datetime | None, what: str) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")


def _activity_type_for(direction: Direction, value: str) -> HubSpotActivityType | SalesforceActivityType:
    """The activity type `value` names in `direction`, or a ValueError listing the allowed names."""
    members: tuple[HubSpotActivityType | SalesforceActivityType, ...] = (
        tuple(HubSpotActivityType)
        if direction is Direction.HUBSPOT_TO_SALESFORCE
        else tuple(SalesforceActivityType)
    )
    for member in members:
        if member.value == value:
            return member
    allowed = ", ".join(member.value for member in members)
    raise ValueError(f"{value!r} is not a {direction.value} activity type; allowed: {allowed}")


@dataclass(frozen=True)
class SyncType:
    """One direction/type pair; each has its own switch (S1). `type` is coerced to the enum that
    belongs to the direction, so `SyncType(Direction.HUBSPOT_TO_SALESFORCE, "note")` works."""

    direction: Direction
    type: HubSpotActivityType | SalesforceActivityType

    def __post_init__(self) -> None:
        direction = Direction(self.direction)
        object.__setattr__(self, "direction", direction)
        object.__setattr__(self, "type", _activity_type_for(direction, str(self.type)))

    @property
    def key(self) -> str:
        """The stable text form, e.g. `hubspot_to_salesforce#note` (used as the settings item key)."""
        return f"{self.direction.value}#{self.type.value}"

    @classmethod
    def parse(cls, key: str) -> SyncType:
        direction_name, separator, type_name = key.partition("#")
        try:
            if not separator:
                raise ValueError(key)
            direction = Direction(direction_name)
            return cls(direction, _activity_type_for(direction, type_name))
        except ValueError:
            allowed = ", ".join(sync_type.key for sync_type in ALL_SYNC_TYPES)
            raise ValueError(f"unknown sync type {key!r}; expected one of: {allowed}") from None

    @classmethod
    def hubspot_to_salesforce(cls, activity_type: HubSpotActivityType) -> SyncType:
        return cls(Direction.HUBSPOT_TO_SALESFORCE, activity_type)

    @classmethod
    def salesforce_to_hubspot(cls, activity_type: SalesforceActivityType) -> SyncType:
        return cls(Direction.SALESFORCE_TO_HUBSPOT, activity_type)


ALL_SYNC_TYPES: tuple[SyncType, ...] = (
    *(SyncType.hubspot_to_salesforce(t) for t in HubSpotActivityType),
    *(SyncType.salesforce_to_hubspot(t) for t in SalesforceActivityType),
)


@dataclass(frozen=True)
class TypeSettings:
    """The settings of one sync type (one DynamoDB item each).

    * S1 `enabled` / `enabled_at`: see `rules.switches` for how turning on and off changes them;
      `disabled_at` records when the switch was last turned off (history only).
    * S2 `task_type` (HubSpot->Salesforce only): a `Task.Type` picklist value, or None for no Type.
    * R9 `subject_template`: overrides the default subject of the type (for email types: of every
      event kind without its own template); `email_subject_templates`: per-event-kind overrides for
      marketing and sales emails.
    """

    enabled: bool = False
    enabled_at: datetime | None = None
    task_type: str | None = None
    subject_template: str | None = None
    email_subject_templates: Mapping[EmailEventKind, str] = field(default_factory=dict)
    disabled_at: datetime | None = None

    def __post_init__(self) -> None:
        _require_aware(self.enabled_at, "enabled_at")
        _require_aware(self.disabled_at, "disabled_at")


@dataclass(frozen=True)
class HubSpotActivity:
    """One HubSpot activity as the rules see it.

    `id` is the email event's id for email events (so a webhook repeat of the same event keeps its
    identity) and the engagement/object id otherwise. `occurred_at` is when the activity happened in
    HubSpot: the submission, the email event, the booking of a meeting, the call, the creation of a
    note or task, the document view, the integration event. R5's windows are measured on it.
    """

    type: HubSpotActivityType
    id: str
    occurred_at: datetime
    owner_id: str | None = None
    contact_ids: tuple[str, ...] = ()
    email_event: EmailEventKind | None = None
    properties: Mapping[str, str] = field(default_factory=dict)
    updated_at: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", HubSpotActivityType(self.type))
        if not self.id.strip():
            raise ValueError("a HubSpot activity needs a non-empty id")
        _require_aware(self.occurred_at, "occurred_at")
        _require_aware(self.updated_at, "updated_at")
        allowed_events = EMAIL_EVENT_KINDS_BY_TYPE.get(self.type, ())
        if allowed_events and self.email_event not in allowed_events:
            names = ", ".join(kind.value for kind in allowed_events)
            raise ValueError(f"a {self.type.value} activity needs an email_event out of: {names}")
        if not allowed_events and self.email_event is not None:
            raise ValueError(f"a {self.type.value} activity has no email_event")


@dataclass(frozen=True)
class ContactCandidate:
    """A HubSpot contact associated with an activity (R4/R6). `salesforce_person_id` is the Contact
    (003...) or Lead (00Q...) it syncs with, None when it does not sync (yet)."""

    hubspot_id: str
    created_at: datetime
    salesforce_person_id: str | None = None
    owner_id: str | None = None

    def __post_init__(self) -> None:
        if not self.hubspot_id.isdecimal():
            raise ValueError(f"a HubSpot contact id is numeric, got {self.hubspot_id!r}")
        _require_aware(self.created_at, "created_at")

    @property
    def numeric_id(self) -> int:
        return int(self.hubspot_id)


@dataclass(frozen=True)
class HubSpotOwner:
    id: str
    email: str | None
    active: bool = True


@dataclass(frozen=True)
class SalesforceUser:
    id: str
    email: str | None
    is_active: bool = True


# Values of a Salesforce record field the service writes: strings, integers, or None to clear it.
type FieldValue = str | int | None


@dataclass(frozen=True)
class SalesforceTaskDraft:
    """What a Salesforce Task for one HubSpot activity should look like (R3).

    `create_fields` is the whole record. `update_fields` leaves out what an update must not touch:
    `TaskSubtype` (createable but not updateable in Salesforce), `WhoId` (a Task stays on the person it
    was created on, R6) and the external id (the Task's identity never changes).
    """

    external_id: str
    create_fields: Mapping[str, FieldValue]

    @property
    def update_fields(self) -> dict[str, FieldValue]:
        frozen_on_update = {"TaskSubtype", "WhoId", SALESFORCE_EXTERNAL_ID_FIELD}
        return {name: value for name, value in self.create_fields.items() if name not in frozen_on_update}


@dataclass(frozen=True)
class HubSpotRecord:
    """A CRM object as HubSpot returns it (``SimplePublicObject``)."""

    id: str
    properties: Mapping[str, str | None]
    created_at: datetime | None = None
    updated_at: datetime | None = None
    archived: bool = False
