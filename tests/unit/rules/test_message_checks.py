"""R17 on the queues: a message that cannot be right for its consumer is set aside with a reason,
before any vendor call."""

from __future__ import annotations

import pytest

from activity_sync.domain import HubSpotActivityType, SalesforceActivityType, SyncType
from activity_sync.messages import ChangeMessage, ChangeSource, ContactChangeMessage
from activity_sync.rules.message_checks import change_problem, contact_change_problem

NOTE = SyncType.hubspot_to_salesforce(HubSpotActivityType.NOTE)
FORMS = SyncType.hubspot_to_salesforce(HubSpotActivityType.FORM_SUBMISSION)
SF_TASK = SyncType.salesforce_to_hubspot(SalesforceActivityType.TASK)
SF_MEETING = SyncType.salesforce_to_hubspot(SalesforceActivityType.MEETING)


def _change(sync_type: str, object_id: str) -> ChangeMessage:
    return ChangeMessage(sync_type=sync_type, object_id=object_id, source=ChangeSource.HUBSPOT_WEBHOOK)


@pytest.mark.parametrize(
    ("sync_type", "object_id", "consumer", "problem"),
    [
        ("hubspot_to_salesforce#bogus", "1", NOTE, "unknown sync type"),
        ("hubspot_to_salesforce#call", "1", NOTE, "reached the hubspot_to_salesforce#note queue"),
        ("hubspot_to_salesforce#note", "-5", NOTE, "is not a number"),
        ("hubspot_to_salesforce#note", "1" + "0" * 30, NOTE, "out of range"),
        ("hubspot_to_salesforce#note", "0", NOTE, "out of range"),
        ("hubspot_to_salesforce#note", "12 OR 1=1", NOTE, "is not a number"),
        ("salesforce_to_hubspot#task", "00T000000000001' OR Id != '", SF_TASK, "not a Salesforce id"),
        ("salesforce_to_hubspot#task", "00T000000000001,00T000000000002", SF_TASK, "not a Salesforce id"),
        ("salesforce_to_hubspot#task", "003000000000001", SF_TASK, "expected Task"),
        ("salesforce_to_hubspot#meeting", "00T000000000001", SF_MEETING, "expected Event"),
    ],
)
def test_r17_a_change_that_cannot_be_right_names_its_problem(
    sync_type: str, object_id: str, consumer: SyncType, problem: str
) -> None:
    found = change_problem(_change(sync_type, object_id), consumer)
    assert found is not None
    assert problem in found


@pytest.mark.parametrize(
    ("sync_type", "object_id", "consumer"),
    [
        ("hubspot_to_salesforce#note", "9223372036854775807", NOTE),
        ("hubspot_to_salesforce#form_submission", "any-submission-id:123", FORMS),
        ("salesforce_to_hubspot#task", "00T000000000001", SF_TASK),
        ("salesforce_to_hubspot#meeting", "00U000000000001", SF_MEETING),
    ],
)
def test_r17_a_well_formed_change_passes(sync_type: str, object_id: str, consumer: SyncType) -> None:
    assert change_problem(_change(sync_type, object_id), consumer) is None


def test_r17_a_contact_change_names_a_real_contact_or_person() -> None:
    def change(
        hubspot_contact_id: str | None = None, salesforce_person_id: str | None = None
    ) -> ContactChangeMessage:
        return ContactChangeMessage(
            hubspot_contact_id=hubspot_contact_id,
            salesforce_person_id=salesforce_person_id,
            source=ChangeSource.HUBSPOT_WEBHOOK,
        )

    assert contact_change_problem(change(hubspot_contact_id="101")) is None
    assert (
        contact_change_problem(change(hubspot_contact_id="101", salesforce_person_id="00Q000000000001"))
        is None
    )
    assert "not a number" in (contact_change_problem(change(hubspot_contact_id="-1")) or "")
    assert "expected Contact or Lead" in (
        contact_change_problem(change(hubspot_contact_id="1", salesforce_person_id="00T000000000001")) or ""
    )
    assert "neither" in (contact_change_problem(change()) or "")
