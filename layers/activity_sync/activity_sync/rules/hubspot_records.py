"""HubSpot's shapes -> the rules' vocabulary: which properties to read for each activity type, and
how a CRM record, a marketing email event, a form submission or a posted activity becomes a
``HubSpotActivity``. No I/O here; the HubSpot client fetches, this module translates.

``occurred_at`` (what R5's windows measure) is when the activity happened as the SPEC words it:
a meeting *booked*, a note or task *created* -> the record's creation; a call *made*, an email
sent or received -> ``hs_timestamp``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from activity_sync.domain import (
    HUBSPOT_SALESFORCE_ID_PROPERTY,
    ActivityProperty,
    EmailEventKind,
    HubSpotActivity,
    HubSpotActivityType,
    HubSpotRecord,
)
from activity_sync.rules.text import unicode_text

CONTACT_PROPERTIES = (
    "email",
    "firstname",
    "lastname",
    "createdate",
    "hubspot_owner_id",
    "salesforcecontactid",
    "salesforceleadid",
)


# Opens and clicks of a sales email are counters on the email engagement itself, changed by
# HubSpot's tracking (each change an object.propertyChange webhook); HubSpot has no feed of them.
# See tools/activity_sync_tools/sandbox/hubspot/tracking.py for the sources.
SALES_EMAIL_TRACKING: Mapping[EmailEventKind, str] = {
    EmailEventKind.OPEN: "hs_email_open_count",
    EmailEventKind.CLICK: "hs_email_click_count",
}


@dataclass(frozen=True)
class EngagementSpec:
    object_type: str  # path segment of /crm/objects/<version>/{object_type}
    properties: tuple[str, ...]
    property_map: Mapping[str, ActivityProperty]  # HubSpot property -> neutral name
    occurred_at_from_creation: bool


_COMMON = (
    "hs_timestamp",
    "hubspot_owner_id",
    "hs_createdate",
    "hs_lastmodifieddate",
    HUBSPOT_SALESFORCE_ID_PROPERTY,
)

ENGAGEMENTS: Mapping[HubSpotActivityType, EngagementSpec] = {
    HubSpotActivityType.NOTE: EngagementSpec(
        "notes",
        (*_COMMON, "hs_note_body"),
        {"hs_note_body": ActivityProperty.BODY},
        occurred_at_from_creation=True,
    ),
    HubSpotActivityType.TASK: EngagementSpec(
        "tasks",
        (*_COMMON, "hs_task_subject", "hs_task_body", "hs_task_status", "hs_task_priority", "hs_task_type"),
        {
            "hs_task_subject": ActivityProperty.SUBJECT,
            "hs_task_body": ActivityProperty.BODY,
            "hs_task_status": ActivityProperty.STATUS,
            "hs_task_priority": ActivityProperty.PRIORITY,
            "hs_timestamp": ActivityProperty.DUE_DATE,
        },
        occurred_at_from_creation=True,
    ),
    HubSpotActivityType.MEETING: EngagementSpec(
        "meetings",
        (*_COMMON, "hs_meeting_title", "hs_meeting_body", "hs_meeting_start_time", "hs_meeting_end_time"),
        {
            "hs_meeting_title": ActivityProperty.TITLE,
            "hs_meeting_body": ActivityProperty.BODY,
            "hs_meeting_start_time": ActivityProperty.START_TIME,
        },
        occurred_at_from_creation=True,
    ),
    HubSpotActivityType.CALL: EngagementSpec(
        "calls",
        (
            *_COMMON,
            "hs_call_title",
            "hs_call_body",
            "hs_call_direction",
            "hs_call_duration",
            "hs_call_disposition",
        ),
        {
            "hs_call_title": ActivityProperty.TITLE,
            "hs_call_body": ActivityProperty.BODY,
            "hs_call_direction": ActivityProperty.CALL_DIRECTION,
            "hs_call_duration": ActivityProperty.CALL_DURATION_MS,
            "hs_call_disposition": ActivityProperty.CALL_DISPOSITION,
        },
        occurred_at_from_creation=False,
    ),
    HubSpotActivityType.SALES_EMAIL: EngagementSpec(
        "emails",
        (
            *_COMMON,
            "hs_email_subject",
            "hs_email_text",
            "hs_email_direction",
            "hs_email_status",
            *SALES_EMAIL_TRACKING.values(),
        ),
        {"hs_email_subject": ActivityProperty.SUBJECT, "hs_email_text": ActivityProperty.BODY},
        occurred_at_from_creation=False,
    ),
}
OBJECT_TYPE_OF = {spec.object_type: t for t, spec in ENGAGEMENTS.items()}


REPLY_PREFIX = re.compile(r"^\s*((re|aw|sv|antw|res)\s*:\s*)+", re.IGNORECASE)


class ActivityShapeError(ValueError):
    """A record or payload lacks what the activity needs (the message names the field)."""


def parse_hubspot_time(value: str | int | float | None) -> dt.datetime | None:
    """HubSpot sends ISO-8601 (``2024-01-31T12:00:00Z``, ``…00.123Z``) or epoch milliseconds."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdecimal()):
        return dt.datetime.fromtimestamp(int(value) / 1000, dt.UTC)
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _text_properties(record: HubSpotRecord, mapping: Mapping[str, ActivityProperty]) -> dict[str, str]:
    return {
        neutral.value: unicode_text(str(record.properties[name]))
        for name, neutral in mapping.items()
        if record.properties.get(name) not in (None, "")
    }


def sales_email_event(record: HubSpotRecord) -> EmailEventKind:
    """An email engagement is a send, or a reply when HubSpot logged it as incoming."""
    direction = record.properties.get("hs_email_direction") or "EMAIL"
    return EmailEventKind.REPLY if direction == "INCOMING_EMAIL" else EmailEventKind.SENT


def engagement_activity(
    activity_type: HubSpotActivityType, record: HubSpotRecord, contact_ids: Sequence[str]
) -> HubSpotActivity:
    spec = ENGAGEMENTS[activity_type]
    created = parse_hubspot_time(record.properties.get("hs_createdate")) or record.created_at
    stamped = parse_hubspot_time(record.properties.get("hs_timestamp"))
    occurred_at = created if spec.occurred_at_from_creation else (stamped or created)
    if occurred_at is None:
        raise ActivityShapeError(f"{spec.object_type} {record.id} has neither hs_timestamp nor hs_createdate")
    properties = _text_properties(record, spec.property_map)
    if activity_type is HubSpotActivityType.SALES_EMAIL and sales_email_event(record) is EmailEventKind.REPLY:
        # "Replied: Pricing for Acme", not "Replied: Re: Pricing for Acme": the subject names the
        # email replied to, as the send and open Tasks do.
        subject = properties.get(ActivityProperty.SUBJECT.value, "")
        properties[ActivityProperty.SUBJECT.value] = REPLY_PREFIX.sub("", subject) or subject
    copied_from = record.properties.get(HUBSPOT_SALESFORCE_ID_PROPERTY)
    if copied_from:
        # The service's own copy of a Salesforce record (R14): the echo rules must see it.
        properties[HUBSPOT_SALESFORCE_ID_PROPERTY] = str(copied_from)
    if activity_type is HubSpotActivityType.TASK and stamped is not None:
        properties[ActivityProperty.DUE_DATE.value] = stamped.isoformat()
    return HubSpotActivity(
        type=activity_type,
        id=record.id,
        occurred_at=occurred_at,
        owner_id=record.properties.get("hubspot_owner_id") or None,
        contact_ids=tuple(contact_ids),
        email_event=sales_email_event(record) if activity_type is HubSpotActivityType.SALES_EMAIL else None,
        properties=properties,
        updated_at=parse_hubspot_time(record.properties.get("hs_lastmodifieddate")) or record.updated_at,
    )


def engagement_activities(
    activity_type: HubSpotActivityType, record: HubSpotRecord, contact_ids: Sequence[str]
) -> list[HubSpotActivity]:
    """Every activity one engagement record stands for: itself and, for an outgoing sales email,
    one open and one click activity once HubSpot has tracked any (R1.3). Each has its own identity
    (so its own Task); repeated opens update that Task rather than adding more. An open or click is
    dated by the record's last modification, which is when HubSpot counted it."""
    status = record.properties.get("hs_email_status") or "SENT"
    if activity_type is HubSpotActivityType.SALES_EMAIL and status != "SENT":
        return []  # scheduled, sending, bounced or failed: nothing happened with the contact (yet)
    activity = engagement_activity(activity_type, record, contact_ids)
    activities = [activity]
    if activity_type is HubSpotActivityType.SALES_EMAIL and activity.email_event is EmailEventKind.SENT:
        tracked_at = activity.updated_at or activity.occurred_at
        for kind, counter in SALES_EMAIL_TRACKING.items():
            count = record.properties.get(counter)
            if count and count.isdecimal() and int(count) > 0:
                activities.append(replace(activity, email_event=kind, occurred_at=tracked_at))
    return activities


def payload_activity(activity_type: HubSpotActivityType, payload: Mapping[str, Any]) -> HubSpotActivity:
    """Activities that travel with their content (no read API, or a feed read by the poller): the
    payload is the ``ActivityPost`` shape - type, id, occurred_at, contact_ids, owner_id,
    email_event, properties."""
    try:
        occurred_at = parse_hubspot_time(payload["occurred_at"])
        if occurred_at is None:
            raise ActivityShapeError("occurred_at is empty")
        email_event = payload.get("email_event")
        return HubSpotActivity(
            type=activity_type,
            id=str(payload["id"]),
            occurred_at=occurred_at,
            owner_id=payload.get("owner_id") or None,
            contact_ids=tuple(str(c) for c in payload.get("contact_ids", ())),
            email_event=EmailEventKind(email_event) if email_event else None,
            properties={
                unicode_text(str(k)): unicode_text(str(v))
                for k, v in (payload.get("properties") or {}).items()
                if v is not None
            },
        )
    except KeyError as missing:
        raise ActivityShapeError(f"{activity_type.value} payload has no {missing}") from None
    except ValueError as invalid:
        raise ActivityShapeError(f"{activity_type.value} payload: {invalid}") from None


# The property that records a CRM object's last change: contacts have their own name for it.
_MODIFIED_PROPERTY_BY_TYPE = {
    "contacts": "lastmodifieddate",
    "contact": "lastmodifieddate",
    "0-1": "lastmodifieddate",
}
_DEFAULT_MODIFIED_PROPERTY = "hs_lastmodifieddate"


def modified_property(object_type: str) -> str:
    """The property whose value is when an object of ``object_type`` last changed."""
    return _MODIFIED_PROPERTY_BY_TYPE.get(object_type.lower(), _DEFAULT_MODIFIED_PROPERTY)
