"""R10/R13: a Salesforce Task or Event becomes the matching HubSpot activity, field by field."""

from __future__ import annotations

import pytest

from activity_sync.domain import HUBSPOT_SALESFORCE_ID_PROPERTY, SalesforceActivityType
from activity_sync.rules.activity_mapping import hubspot_activity_from_salesforce

TASK = {
    "Id": "00T8d000000000FEAQ",
    "Subject": "Prepare the contract",
    "Description": "Draft v2",
    "Status": "Not Started",
    "Priority": "High",
    "ActivityDate": "2026-12-01",
    "CreatedDate": "2026-11-28T10:00:00.000+0000",
    "OwnerId": "0058d000000AbCdEAA",
}


def test_r10_task_subtype_task_becomes_a_hubspot_task() -> None:
    draft = hubspot_activity_from_salesforce(TASK, SalesforceActivityType.TASK, owner_id="77")
    assert draft.object_type == "tasks"
    assert draft.properties["hs_task_subject"] == "Prepare the contract"
    assert draft.properties["hs_task_body"] == "Draft v2"
    assert draft.properties["hs_task_status"] == "NOT_STARTED"
    assert draft.properties["hs_task_priority"] == "HIGH"
    # Given a due date and no completion, the HubSpot timestamp is the due date at noon UTC
    assert draft.properties["hs_timestamp"] == "2026-12-01T12:00:00Z"
    assert draft.properties[HUBSPOT_SALESFORCE_ID_PROPERTY] == "00T8d000000000FEAQ"


@pytest.mark.parametrize(
    ("status", "closed", "expected"),
    [
        ("Completed", True, "COMPLETED"),
        ("In Progress", False, "IN_PROGRESS"),
        ("Waiting on someone else", False, "WAITING"),
        ("Deferred", False, "DEFERRED"),
        ("Closed - custom", True, "COMPLETED"),
        ("Open - custom", False, "NOT_STARTED"),
    ],
)
def test_r10_task_status_maps_including_custom_closed_values(
    status: str, closed: bool, expected: str
) -> None:
    record = {**TASK, "Status": status, "IsClosed": closed}
    assert (
        hubspot_activity_from_salesforce(record, SalesforceActivityType.TASK, None).properties[
            "hs_task_status"
        ]
        == expected
    )


def test_r13_assigned_to_becomes_the_hubspot_owner_and_unmapped_leaves_it_alone() -> None:
    mapped = hubspot_activity_from_salesforce(TASK, SalesforceActivityType.TASK, "77")
    unmapped = hubspot_activity_from_salesforce(TASK, SalesforceActivityType.TASK, None)
    assert mapped.properties["hubspot_owner_id"] == "77"
    # Given no mapped owner, the property is not written at all (an upsert would clear it)
    assert "hubspot_owner_id" not in unmapped.properties


def test_r10_email_subtype_becomes_an_outgoing_hubspot_email() -> None:
    record = {
        **TASK,
        "TaskSubtype": "Email",
        "Status": "Completed",
        "CompletedDateTime": "2026-11-28T11:30:00.000+0000",
    }
    draft = hubspot_activity_from_salesforce(record, SalesforceActivityType.EMAIL, None)
    assert draft.object_type == "emails"
    assert draft.properties["hs_email_direction"] == "EMAIL"
    assert draft.properties["hs_email_subject"] == "Prepare the contract"
    # Given a completion time, the email is dated by it
    assert draft.properties["hs_timestamp"] == "2026-11-28T11:30:00Z"


def test_r10_call_subtype_keeps_direction_duration_and_outcome() -> None:
    record = {**TASK, "TaskSubtype": "Call", "CallType": "Inbound", "CallDurationInSeconds": 300,
              "CallDisposition": "Left voicemail"}  # fmt: skip
    draft = hubspot_activity_from_salesforce(record, SalesforceActivityType.CALL, None)
    assert draft.object_type == "calls"
    assert draft.properties["hs_call_direction"] == "INBOUND"
    assert draft.properties["hs_call_duration"] == "300000"
    assert draft.properties["hs_call_body"] == "Draft v2\n\nOutcome: Left voicemail"


def test_r10_event_becomes_a_meeting_with_its_start_and_end() -> None:
    record = {
        "Id": "00U8d0000000001EAA",
        "Subject": "Onsite workshop",
        "StartDateTime": "2026-11-30T14:00:00.000+0000",
        "EndDateTime": "2026-11-30T16:00:00.000+0000",
        "Location": "Lisbon",
    }
    draft = hubspot_activity_from_salesforce(record, SalesforceActivityType.MEETING, None)
    assert draft.object_type == "meetings"
    assert draft.properties["hs_meeting_start_time"] == "2026-11-30T14:00:00Z"
    assert draft.properties["hs_meeting_end_time"] == "2026-11-30T16:00:00Z"
    assert draft.properties["hs_timestamp"] == "2026-11-30T14:00:00Z"
    assert draft.properties["hs_meeting_location"] == "Lisbon"


def test_r15_a_record_without_an_id_cannot_be_synced() -> None:
    with pytest.raises(ValueError, match="without an Id"):
        hubspot_activity_from_salesforce({"Subject": "x"}, SalesforceActivityType.TASK, None)
