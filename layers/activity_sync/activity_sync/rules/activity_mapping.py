"""R10/R13: how a Salesforce Task or Event becomes a HubSpot activity - which object, which
properties. Pure: the record comes in as a field mapping, the HubSpot properties go out.

Every property the service writes is listed here; the HubSpot id property
(``activity_sync_salesforce_id``) carries the Salesforce id, which makes the upsert idempotent
(R15) and marks the activity as the service's copy (R14).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from activity_sync.domain import HUBSPOT_SALESFORCE_ID_PROPERTY, SalesforceActivityType
from activity_sync.rules.echo import parse_salesforce_datetime
from activity_sync.rules.text import truncate, unicode_text

# HubSpot object path segment and the v4 association type ids (activity -> contact / company / deal)
# from HubSpot's association type reference (shared/reference/hubspot-api.md).
HUBSPOT_OBJECT: Mapping[SalesforceActivityType, str] = {
    SalesforceActivityType.TASK: "tasks",
    SalesforceActivityType.EMAIL: "emails",
    SalesforceActivityType.CALL: "calls",
    SalesforceActivityType.MEETING: "meetings",
}
CONTACT_ASSOCIATION: Mapping[str, int] = {
    "calls": 194,
    "emails": 198,
    "meetings": 200,
    "notes": 202,
    "tasks": 204,
}
COMPANY_ASSOCIATION: Mapping[str, int] = {
    "calls": 181,
    "emails": 185,
    "meetings": 187,
    "notes": 189,
    "tasks": 191,
}
DEAL_ASSOCIATION: Mapping[str, int] = {
    "calls": 205,
    "emails": 209,
    "meetings": 211,
    "notes": 213,
    "tasks": 215,
}

TASK_FIELDS = (
    "Id", "Subject", "Description", "Status", "IsClosed", "Priority", "ActivityDate", "TaskSubtype", "Type",
    "CallType", "CallDurationInSeconds", "CallDisposition", "CompletedDateTime", "WhoId", "WhatId",
    "OwnerId", "CreatedDate", "LastModifiedDate", "LastModifiedById", "SystemModstamp", "IsDeleted",
    "HubSpot_Activity_Id__c",
)  # fmt: skip
EVENT_FIELDS = (
    "Id", "Subject", "Description", "Location", "StartDateTime", "EndDateTime", "IsAllDayEvent",
    "ActivityDate", "WhoId", "WhatId", "OwnerId", "CreatedDate", "LastModifiedDate", "LastModifiedById",
    "SystemModstamp", "IsDeleted", "HubSpot_Activity_Id__c",
)  # fmt: skip

TASK_STATUS: Mapping[str, str] = {
    "Not Started": "NOT_STARTED",
    "In Progress": "IN_PROGRESS",
    "Completed": "COMPLETED",
    "Waiting on someone else": "WAITING",
    "Deferred": "DEFERRED",
}
TASK_PRIORITY: Mapping[str, str] = {"High": "HIGH", "Normal": "MEDIUM", "Low": "LOW"}
CALL_DIRECTION: Mapping[str, str] = {"Inbound": "INBOUND", "Outbound": "OUTBOUND"}
BODY_MAX_LENGTH = 65_000  # HubSpot's limit for rich-text activity bodies is 65,536 characters


@dataclass(frozen=True)
class HubSpotActivityDraft:
    object_type: str  # HubSpot path segment: tasks, emails, calls, meetings
    properties: dict[str, str | None]

    @property
    def salesforce_id(self) -> str:
        return str(self.properties[HUBSPOT_SALESFORCE_ID_PROPERTY])


def _text(record: Mapping[str, object], name: str) -> str | None:
    value = record.get(name)
    return None if value is None or value == "" else unicode_text(str(value))


def _hubspot_time(value: object) -> str | None:
    """HubSpot takes ISO-8601 with a zone, or epoch milliseconds."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and len(value) == 10:  # a Salesforce date: noon UTC keeps the day
        return f"{value}T12:00:00Z"
    moment = parse_salesforce_datetime(value)
    return None if moment is None else moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def activity_time(record: Mapping[str, object], activity_type: SalesforceActivityType) -> str | None:
    """``hs_timestamp``: a meeting's start, a completed task's completion, a task's due date,
    otherwise its creation."""
    if activity_type is SalesforceActivityType.MEETING:
        return _hubspot_time(record.get("StartDateTime")) or _hubspot_time(record.get("ActivityDate"))
    return (
        _hubspot_time(record.get("CompletedDateTime"))
        or _hubspot_time(record.get("ActivityDate"))
        or _hubspot_time(record.get("CreatedDate"))
    )


def hubspot_activity_from_salesforce(
    record: Mapping[str, object], activity_type: SalesforceActivityType, owner_id: str | None
) -> HubSpotActivityDraft:
    """The HubSpot activity for a Salesforce record; ``owner_id`` is the HubSpot owner the record's
    Assigned To maps to (R13), None when unmapped (the property is then not written)."""
    record_id = _text(record, "Id")
    if record_id is None:
        raise ValueError("a Salesforce record without an Id cannot be synced")
    body = _text(record, "Description")
    common: dict[str, str | None] = {
        HUBSPOT_SALESFORCE_ID_PROPERTY: record_id,
        "hs_timestamp": activity_time(record, activity_type),
    }
    if owner_id is not None:
        # Unmapped: leave HubSpot's owner as it is rather than clear it.
        common["hubspot_owner_id"] = owner_id
    subject = _text(record, "Subject")
    if activity_type is SalesforceActivityType.TASK:
        status = TASK_STATUS.get(
            str(record.get("Status") or ""), "COMPLETED" if record.get("IsClosed") else "NOT_STARTED"
        )
        properties = {
            "hs_task_subject": subject or "(no subject)",
            "hs_task_body": truncate(body, BODY_MAX_LENGTH) if body else None,
            "hs_task_status": status,
            "hs_task_priority": TASK_PRIORITY.get(str(record.get("Priority") or ""), "NONE"),
            "hs_task_type": "TODO",
        }
    elif activity_type is SalesforceActivityType.EMAIL:
        properties = {
            "hs_email_subject": subject,
            "hs_email_text": truncate(body, BODY_MAX_LENGTH) if body else None,
            "hs_email_direction": "EMAIL",
            "hs_email_status": "SENT",
        }
    elif activity_type is SalesforceActivityType.CALL:
        seconds = record.get("CallDurationInSeconds")
        disposition = _text(record, "CallDisposition")
        call_body = "\n\n".join(
            part for part in (body, f"Outcome: {disposition}" if disposition else None) if part
        )
        properties = {
            "hs_call_title": subject,
            "hs_call_body": truncate(call_body, BODY_MAX_LENGTH) if call_body else None,
            "hs_call_direction": CALL_DIRECTION.get(str(record.get("CallType") or "")),
            "hs_call_duration": str(int(float(str(seconds))) * 1000) if seconds not in (None, "") else None,
            "hs_call_status": "COMPLETED",
        }
    else:
        properties = {
            "hs_meeting_title": subject,
            "hs_meeting_body": truncate(body, BODY_MAX_LENGTH) if body else None,
            "hs_meeting_start_time": _hubspot_time(record.get("StartDateTime")),
            "hs_meeting_end_time": _hubspot_time(record.get("EndDateTime")),
            "hs_meeting_location": _text(record, "Location"),
        }
    return HubSpotActivityDraft(HUBSPOT_OBJECT[activity_type], {**common, **properties})
