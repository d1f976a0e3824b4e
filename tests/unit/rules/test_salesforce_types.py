"""R10: Salesforce Task subtypes and Events map to the four Salesforce->HubSpot switches."""

from __future__ import annotations

import pytest

from activity_sync.domain import SalesforceActivityType
from activity_sync.rules.salesforce_types import classify_salesforce_activity


@pytest.mark.parametrize(
    ("sobject", "subtype", "expected"),
    [
        ("Task", "Task", SalesforceActivityType.TASK),
        ("Task", "Email", SalesforceActivityType.EMAIL),
        ("Task", "Call", SalesforceActivityType.CALL),
        ("Event", None, SalesforceActivityType.MEETING),
        ("Event", "Event", SalesforceActivityType.MEETING),
        ("Task", "ListEmail", SalesforceActivityType.EMAIL),
        ("Task", "Cadence", SalesforceActivityType.TASK),
        ("Task", None, SalesforceActivityType.TASK),
        ("Task", "", SalesforceActivityType.TASK),
    ],
)
def test_r10_salesforce_records_map_to_their_switch(
    sobject: str, subtype: str | None, expected: SalesforceActivityType
) -> None:
    # Given a Task of a subtype, or an Event / When classifying / Then its R10 switch
    assert classify_salesforce_activity(sobject, subtype) is expected


@pytest.mark.parametrize(
    ("sobject", "subtype"), [("Task", "LinkedIn"), ("Contact", None), ("EmailMessage", None)]
)
def test_r10_unknown_subtypes_and_other_objects_are_not_synced(sobject: str, subtype: str | None) -> None:
    # Given a subtype Salesforce may add later, or another object / When classifying / Then None
    assert classify_salesforce_activity(sobject, subtype) is None
