"""R3: where a HubSpot activity becomes a Salesforce Task - the Task's fields, and the identity that
makes a repeat or an update land on the same Task (R3, R15).

Identity: the Task's unique External ID field `HubSpot_Activity_Id__c` carries
`hs:{type}:{id}` for engagements and form submissions, and `hs:{type}:{event kind}:{event id}` for
email events, e.g. `hs:note:4012`, `hs:marketing_email:open:9f2c71`. An email's open and its click
are two events with their own ids, so two Tasks; a webhook delivering the same event twice gives the
same key, so one Task.

Field choices:
* `ActivityDate` is the day the activity happened, a task's due date, or a meeting's start, in the
  time zone the caller passes (UTC by default; pass the Salesforce org's zone to match what reps see).
* `Status` is `Completed` for everything that has already happened; a HubSpot task maps its status.
* `TaskSubtype` is `Call` for calls, `Task` otherwise; it is createable but not updateable, so it is
  only in `create_fields` (see `SalesforceTaskDraft`).
* S2: `Type` is present only when the type has a Task Type; with none the field is not written.
* Text fields that may become empty are written as None so an update clears them in Salesforce.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo

from activity_sync.domain import (
    EMAIL_EVENT_KINDS_BY_TYPE,
    SALESFORCE_EXTERNAL_ID_FIELD,
    ActivityProperty,
    EmailEventKind,
    FieldValue,
    HubSpotActivity,
    HubSpotActivityType,
    SalesforceTaskDraft,
    TypeSettings,
)
from activity_sync.rules.salesforce_ids import SalesforceObjectType, require_object_type
from activity_sync.rules.subjects import subject_for
from activity_sync.rules.task_type import task_type_fields
from activity_sync.rules.text import html_to_text, truncate

EXTERNAL_ID_FIELD = SALESFORCE_EXTERNAL_ID_FIELD
EXTERNAL_ID_PREFIX = "hs"
EXTERNAL_ID_MAX_LENGTH = 255  # a Salesforce text External ID field holds at most 255 characters
DESCRIPTION_MAX_LENGTH = 32_000
CALL_DISPOSITION_MAX_LENGTH = 255

STATUS_NOT_STARTED = "Not Started"
STATUS_COMPLETED = "Completed"
PRIORITY_NORMAL = "Normal"

# hs_task_status -> Task.Status (Salesforce's default picklist values)
TASK_STATUS_BY_HUBSPOT_STATUS: dict[str, str] = {
    "NOT_STARTED": STATUS_NOT_STARTED,
    "IN_PROGRESS": "In Progress",
    "WAITING": "Waiting on someone else",
    "DEFERRED": "Deferred",
    "COMPLETED": STATUS_COMPLETED,
}
# hs_task_priority -> Task.Priority; NONE and anything unknown -> Normal
TASK_PRIORITY_BY_HUBSPOT_PRIORITY: dict[str, str] = {"HIGH": "High", "MEDIUM": PRIORITY_NORMAL, "LOW": "Low"}
CALL_TYPE_BY_HUBSPOT_DIRECTION: dict[str, str] = {"INBOUND": "Inbound", "OUTBOUND": "Outbound"}


@dataclass(frozen=True)
class HubSpotActivityKey:
    """The identity of a HubSpot activity, as carried by the Task's External ID field."""

    type: HubSpotActivityType
    id: str
    email_event: EmailEventKind | None = None

    @classmethod
    def of(cls, activity: HubSpotActivity) -> HubSpotActivityKey:
        return cls(activity.type, activity.id, activity.email_event)

    @property
    def external_id(self) -> str:
        parts = [EXTERNAL_ID_PREFIX, self.type.value]
        if self.email_event is not None:
            parts.append(self.email_event.value)
        parts.append(self.id)
        value = ":".join(parts)
        if len(value) > EXTERNAL_ID_MAX_LENGTH:
            raise ValueError(f"activity id {self.id!r} is too long for the Task's External ID field")
        return value

    @classmethod
    def parse(cls, external_id: str) -> HubSpotActivityKey:
        """The key an External ID value carries; ValueError for values the service did not write."""
        prefix, _, rest = external_id.partition(":")
        type_name, _, rest = rest.partition(":")
        try:
            if prefix != EXTERNAL_ID_PREFIX:
                raise ValueError(prefix)
            activity_type = HubSpotActivityType(type_name)
            email_event = None
            if activity_type in EMAIL_EVENT_KINDS_BY_TYPE:
                event_name, _, rest = rest.partition(":")
                email_event = EmailEventKind(event_name)
            if not rest:
                raise ValueError(rest)
        except ValueError:
            raise ValueError(
                f"{external_id!r} is not an activity key like hs:note:123 or hs:marketing_email:open:456"
            ) from None
        return cls(activity_type, rest, email_event)


def activity_external_id(activity: HubSpotActivity) -> str:
    return HubSpotActivityKey.of(activity).external_id


def _parse_day(value: str, what: str, tz: tzinfo) -> date:
    """A date from an ISO-8601 date, an ISO-8601 datetime with an offset, or epoch milliseconds."""
    text = value.strip()
    try:
        if text.isdecimal():
            return datetime.fromtimestamp(int(text) / 1000, tz=UTC).astimezone(tz).date()
        if len(text) == 10:
            return date.fromisoformat(text)
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        raise ValueError(f"{what} {value!r} is not an ISO-8601 date or datetime") from None
    if moment.tzinfo is None:
        raise ValueError(f"{what} {value!r} has no time zone offset")
    return moment.astimezone(tz).date()


def activity_date(activity: HubSpotActivity, tz: tzinfo = UTC) -> date:
    """`Task.ActivityDate`: a task's due date, a meeting's start, otherwise when the activity happened."""
    properties = activity.properties
    if activity.type is HubSpotActivityType.TASK and properties.get(ActivityProperty.DUE_DATE, "").strip():
        return _parse_day(properties[ActivityProperty.DUE_DATE], "due date", tz)
    if (
        activity.type is HubSpotActivityType.MEETING
        and properties.get(ActivityProperty.START_TIME, "").strip()
    ):
        return _parse_day(properties[ActivityProperty.START_TIME], "meeting start", tz)
    return activity.occurred_at.astimezone(tz).date()


def task_status(activity: HubSpotActivity) -> str:
    if activity.type is not HubSpotActivityType.TASK:
        return STATUS_COMPLETED
    hubspot_status = activity.properties.get(ActivityProperty.STATUS, "").strip().upper()
    return TASK_STATUS_BY_HUBSPOT_STATUS.get(hubspot_status, STATUS_NOT_STARTED)


def task_priority(activity: HubSpotActivity) -> str:
    if activity.type is not HubSpotActivityType.TASK:
        return PRIORITY_NORMAL
    hubspot_priority = activity.properties.get(ActivityProperty.PRIORITY, "").strip().upper()
    return TASK_PRIORITY_BY_HUBSPOT_PRIORITY.get(hubspot_priority, PRIORITY_NORMAL)


def _call_fields(activity: HubSpotActivity) -> dict[str, FieldValue]:
    properties = activity.properties
    duration_text = properties.get(ActivityProperty.CALL_DURATION_MS, "").strip()
    duration_seconds: int | None = None
    if duration_text:
        try:
            milliseconds = float(duration_text)
        except ValueError:
            raise ValueError(f"call duration {duration_text!r} is not a number of milliseconds") from None
        if not math.isfinite(milliseconds) or milliseconds < 0:
            raise ValueError(f"call duration {duration_text!r} must be zero or more milliseconds")
        # Nearest second, halves up (round() would send 2.5 s to 2 s).
        duration_seconds = int((milliseconds + 500) // 1000)
    direction = properties.get(ActivityProperty.CALL_DIRECTION, "").strip().upper()
    disposition = " ".join(properties.get(ActivityProperty.CALL_DISPOSITION, "").split())
    return {
        "CallDurationInSeconds": duration_seconds,
        "CallType": CALL_TYPE_BY_HUBSPOT_DIRECTION.get(direction),
        "CallDisposition": truncate(disposition, CALL_DISPOSITION_MAX_LENGTH) if disposition else None,
    }


def task_description(activity: HubSpotActivity) -> str | None:
    """`Task.Description`: the activity's body as plain text (paragraphs kept), at most 32,000
    characters; None when there is none."""
    body = html_to_text(activity.properties.get(ActivityProperty.BODY, ""), keep_line_breaks=True)
    return truncate(body, DESCRIPTION_MAX_LENGTH) if body else None


def build_task(
    activity: HubSpotActivity,
    *,
    who_id: str,
    owner_id: str,
    settings: TypeSettings,
    tz: tzinfo = UTC,
) -> SalesforceTaskDraft:
    """R3: the Salesforce Task for `activity`, on `who_id` (the R6 contact's Contact or Lead) and
    assigned to `owner_id` (R7), with the type's Task Type (S2) and subject template (R9)."""
    fields: dict[str, FieldValue] = {
        "Subject": subject_for(activity, settings, tz),
        "Description": task_description(activity),
        "ActivityDate": activity_date(activity, tz).isoformat(),
        "Status": task_status(activity),
        "Priority": task_priority(activity),
        "WhoId": require_object_type(who_id, SalesforceObjectType.CONTACT, SalesforceObjectType.LEAD),
        "OwnerId": require_object_type(owner_id, SalesforceObjectType.USER),
        "TaskSubtype": "Call" if activity.type is HubSpotActivityType.CALL else "Task",
        **task_type_fields(settings.task_type),
    }
    if activity.type is HubSpotActivityType.CALL:
        fields.update(_call_fields(activity))
    external_id = activity_external_id(activity)
    fields[EXTERNAL_ID_FIELD] = external_id
    return SalesforceTaskDraft(external_id=external_id, create_fields=fields)
