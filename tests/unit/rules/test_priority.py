"""R18 under pressure: sales activities before marketing ones (``rules.priority``)."""

from __future__ import annotations

import pytest

from activity_sync.domain import HubSpotActivityType, SalesforceActivityType, SyncType
from activity_sync.rules.priority import Priority, priority_of, usable


@pytest.mark.parametrize(
    ("sync_type", "expected"),
    [
        (SyncType.hubspot_to_salesforce(HubSpotActivityType.NOTE), Priority.HIGH),
        (SyncType.hubspot_to_salesforce(HubSpotActivityType.SALES_EMAIL), Priority.HIGH),
        (SyncType.hubspot_to_salesforce(HubSpotActivityType.MARKETING_EMAIL), Priority.LOW),
        (SyncType.hubspot_to_salesforce(HubSpotActivityType.FORM_SUBMISSION), Priority.LOW),
        (SyncType.hubspot_to_salesforce(HubSpotActivityType.DOCUMENT_VIEW), Priority.LOW),
        (SyncType.hubspot_to_salesforce(HubSpotActivityType.INTEGRATION_EVENT), Priority.LOW),
        (SyncType.salesforce_to_hubspot(SalesforceActivityType.TASK), Priority.HIGH),
        (None, Priority.HIGH),
    ],
)
def test_r18_sales_activities_go_before_marketing_ones(
    sync_type: SyncType | None, expected: Priority
) -> None:
    assert priority_of(sync_type) is expected


def test_r18_marketing_activities_leave_a_fifth_of_a_limit_to_sales_activities() -> None:
    assert usable(15, Priority.HIGH) == 15
    assert usable(15, Priority.LOW) == 12
    assert usable(0, Priority.LOW) == 0


def test_r18_a_limit_too_small_to_split_is_shared_rather_than_closed_to_marketing() -> None:
    # One search a second: holding it back would stop the feeds for good, not put them second.
    assert usable(1, Priority.LOW) == 1
    assert usable(2, Priority.LOW) == 1
