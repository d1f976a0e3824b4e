"""R7: Assigned To is the activity's owner (tasks, notes, calls), else the contact's owner, else the
integration user (S4)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from activity_sync.domain import (
    EMAIL_EVENT_KINDS_BY_TYPE,
    ContactCandidate,
    HubSpotActivity,
    HubSpotActivityType,
    HubSpotOwner,
    SalesforceUser,
)
from activity_sync.rules.assignment import Assignment, AssignmentStep, assign_task_owner
from activity_sync.rules.owner_mapping import build_owner_map

ACTIVITY_OWNER_USER = "0055g00000Ab1CdAAJ"
CONTACT_OWNER_USER = "0055g00000Zz9YxAAJ"
INTEGRATION_USER = "0055g00000IntEgAAJ"
OWNER_MAP = build_owner_map(
    [
        HubSpotOwner("1", "rep@example.com"),
        HubSpotOwner("2", "manager@example.com"),
        HubSpotOwner("3", "gone@x.com"),
    ],
    [
        SalesforceUser(ACTIVITY_OWNER_USER, "rep@example.com"),
        SalesforceUser(CONTACT_OWNER_USER, "manager@example.com"),
    ],
)
WITH_OWNERS = [HubSpotActivityType.TASK, HubSpotActivityType.NOTE, HubSpotActivityType.CALL]
WITHOUT_OWNERS = [activity_type for activity_type in HubSpotActivityType if activity_type not in WITH_OWNERS]


def activity(activity_type: HubSpotActivityType, owner_id: str | None) -> HubSpotActivity:
    events = EMAIL_EVENT_KINDS_BY_TYPE.get(activity_type)
    return HubSpotActivity(
        type=activity_type,
        id="1",
        occurred_at=datetime(2024, 5, 1, tzinfo=UTC),
        owner_id=owner_id,
        email_event=events[0] if events else None,
    )


def contact(owner_id: str | None) -> ContactCandidate:
    return ContactCandidate("7", datetime(2024, 1, 1, tzinfo=UTC), "0035g00000AbCdEAAV", owner_id)


@pytest.mark.parametrize("activity_type", WITH_OWNERS)
def test_r7_a_mapped_activity_owner_is_assigned_for_tasks_notes_and_calls(
    activity_type: HubSpotActivityType,
) -> None:
    # Given a task/note/call owned by a mapped rep, on a contact owned by a mapped manager
    # When assigning / Then the rep (step 1)
    assignment = assign_task_owner(activity(activity_type, "1"), contact("2"), OWNER_MAP, INTEGRATION_USER)
    assert assignment == Assignment(ACTIVITY_OWNER_USER, AssignmentStep.ACTIVITY_OWNER)


@pytest.mark.parametrize("activity_type", WITHOUT_OWNERS)
def test_r7_the_activity_owner_is_ignored_for_types_without_owners(
    activity_type: HubSpotActivityType,
) -> None:
    # Given e.g. a marketing email or a meeting that carries an owner id anyway
    # When assigning / Then step 1 does not apply: the contact's owner (step 2)
    assignment = assign_task_owner(activity(activity_type, "1"), contact("2"), OWNER_MAP, INTEGRATION_USER)
    assert assignment == Assignment(CONTACT_OWNER_USER, AssignmentStep.CONTACT_OWNER)


@pytest.mark.parametrize(
    "activity_owner", [None, "3", "999"], ids=["no-owner", "unmapped-owner", "unknown-owner"]
)
def test_r7_without_a_mapped_activity_owner_the_contacts_owner_is_assigned(
    activity_owner: str | None,
) -> None:
    # Given a note with no owner, or one not mapped to a Salesforce user / When assigning
    # Then the contact's mapped owner
    assignment = assign_task_owner(
        activity(HubSpotActivityType.NOTE, activity_owner), contact("2"), OWNER_MAP, INTEGRATION_USER
    )
    assert assignment == Assignment(CONTACT_OWNER_USER, AssignmentStep.CONTACT_OWNER)


@pytest.mark.parametrize("contact_owner", [None, "3"], ids=["no-contact-owner", "unmapped-contact-owner"])
def test_r7_with_neither_owner_mapped_the_integration_user_is_assigned(contact_owner: str | None) -> None:
    # Given an unmapped activity owner and an unmapped (or missing) contact owner / When assigning
    # Then the integration user (step 3), as an 18-character id even when configured with 15
    assignment = assign_task_owner(
        activity(HubSpotActivityType.CALL, "3"), contact(contact_owner), OWNER_MAP, INTEGRATION_USER[:15]
    )
    assert assignment == Assignment(INTEGRATION_USER, AssignmentStep.INTEGRATION_USER)


def test_s4_an_integration_user_that_is_not_a_user_id_is_a_clear_error() -> None:
    # Given a Contact id configured as integration user / When it is needed / Then a ValueError
    with pytest.raises(ValueError, match="expected User"):
        assign_task_owner(
            activity(HubSpotActivityType.NOTE, None), contact(None), OWNER_MAP, "0035g00000AbCdEAAV"
        )
