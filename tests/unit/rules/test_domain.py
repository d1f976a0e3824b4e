"""The vocabulary (domain.py): sync types (S1, R1, R10), activity records and their validation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from activity_sync.domain import (
    ALL_SYNC_TYPES,
    Direction,
    EmailEventKind,
    HubSpotActivity,
    HubSpotActivityType,
    SalesforceActivityType,
    SalesforceTaskDraft,
    SyncType,
    TypeSettings,
)

NOON = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_r1_hubspot_activity_types_are_the_nine_of_the_spec_in_order() -> None:
    # Given the SPEC's R1 list / When listing the enum / Then the same nine, same order
    assert [member.value for member in HubSpotActivityType] == [
        "form_submission",
        "marketing_email",
        "sales_email",
        "meeting",
        "call",
        "note",
        "document_view",
        "task",
        "integration_event",
    ]


def test_r10_salesforce_activity_types_are_the_four_switches() -> None:
    # Given R10's four switches / When listing the enum / Then tasks, emails, calls, meetings
    assert [member.value for member in SalesforceActivityType] == ["task", "email", "call", "meeting"]


def test_s1_there_are_thirteen_sync_types_hubspot_to_salesforce_first() -> None:
    # Given the two directions / When listing all sync types / Then 9 H->S in R1 order, then 4 S->H
    assert len(ALL_SYNC_TYPES) == 13
    assert [sync_type.type for sync_type in ALL_SYNC_TYPES[:9]] == list(HubSpotActivityType)
    assert all(sync_type.direction is Direction.HUBSPOT_TO_SALESFORCE for sync_type in ALL_SYNC_TYPES[:9])
    assert all(sync_type.direction is Direction.SALESFORCE_TO_HUBSPOT for sync_type in ALL_SYNC_TYPES[9:])
    assert len({sync_type.key for sync_type in ALL_SYNC_TYPES}) == 13


@pytest.mark.parametrize("sync_type", ALL_SYNC_TYPES, ids=lambda sync_type: sync_type.key)
def test_s1_sync_type_key_round_trips(sync_type: SyncType) -> None:
    # Given a sync type / When printing and parsing its key / Then the same sync type comes back
    assert SyncType.parse(sync_type.key) == sync_type


def test_s1_sync_type_key_spells_direction_and_type() -> None:
    # Given the note switch / When asking its key / Then direction#type
    assert SyncType.hubspot_to_salesforce(HubSpotActivityType.NOTE).key == "hubspot_to_salesforce#note"


@pytest.mark.parametrize(
    "key",
    ["", "note", "hubspot_to_salesforce", "hubspot_to_salesforce#", "hubspot_to_salesforce#email", "x#note"],
)
def test_s1_sync_type_parse_rejects_unknown_keys_listing_the_allowed_ones(key: str) -> None:
    # Given a key that names no sync type / When parsing it / Then a ValueError lists the valid keys
    with pytest.raises(ValueError, match=r"unknown sync type .*salesforce_to_hubspot#meeting"):
        SyncType.parse(key)


def test_s1_sync_type_coerces_the_type_to_its_directions_enum() -> None:
    # Given "task" on both directions / When building the sync types / Then each gets its own enum
    hubspot_task = SyncType(Direction.HUBSPOT_TO_SALESFORCE, "task")  # type: ignore[arg-type]
    salesforce_task = SyncType(Direction.SALESFORCE_TO_HUBSPOT, "task")  # type: ignore[arg-type]
    assert hubspot_task.type is HubSpotActivityType.TASK
    assert salesforce_task.type is SalesforceActivityType.TASK
    assert hubspot_task != salesforce_task


def test_s1_sync_type_rejects_a_type_of_the_other_direction() -> None:
    # Given "email", a Salesforce->HubSpot type / When using it H->S / Then a clear error
    with pytest.raises(ValueError, match="not a hubspot_to_salesforce activity type"):
        SyncType(Direction.HUBSPOT_TO_SALESFORCE, SalesforceActivityType.EMAIL)


def test_s1_type_settings_are_off_with_nothing_set_by_default() -> None:
    # Given no stored item / When using the defaults / Then off, no stamp, no type, no templates
    settings = TypeSettings()
    assert (settings.enabled, settings.enabled_at, settings.task_type, settings.subject_template) == (
        False,
        None,
        None,
        None,
    )
    assert dict(settings.email_subject_templates) == {}


def test_s1_type_settings_reject_a_naive_enabled_at() -> None:
    # Given an enabled_at without a time zone / When building settings / Then a ValueError
    with pytest.raises(ValueError, match="timezone-aware"):
        TypeSettings(enabled=True, enabled_at=datetime(2024, 5, 1, 12, 0))


@pytest.mark.parametrize(
    ("activity_type", "event"),
    [
        (HubSpotActivityType.MARKETING_EMAIL, None),
        (HubSpotActivityType.MARKETING_EMAIL, EmailEventKind.REPLY),
        (HubSpotActivityType.SALES_EMAIL, None),
        (HubSpotActivityType.NOTE, EmailEventKind.OPEN),
    ],
)
def test_r1_email_event_kind_must_fit_the_activity_type(
    activity_type: HubSpotActivityType, event: EmailEventKind | None
) -> None:
    # Given a marketing email reply (R1 has none), an email without an event, or a note with one
    # When building the activity / Then a ValueError
    with pytest.raises(ValueError, match="email_event"):
        HubSpotActivity(type=activity_type, id="1", occurred_at=NOON, email_event=event)


def test_r1_sales_email_reply_is_a_valid_event() -> None:
    # Given a sales email reply / When building it / Then it is accepted
    activity = HubSpotActivity(
        type=HubSpotActivityType.SALES_EMAIL, id="1", occurred_at=NOON, email_event=EmailEventKind.REPLY
    )
    assert activity.email_event is EmailEventKind.REPLY


def test_r5_activity_times_must_be_timezone_aware() -> None:
    # Given a naive occurred_at / When building an activity / Then a ValueError (windows need instants)
    with pytest.raises(ValueError, match="occurred_at must be timezone-aware"):
        HubSpotActivity(type=HubSpotActivityType.NOTE, id="1", occurred_at=datetime(2024, 5, 1))


def test_r17_activity_without_an_id_is_rejected() -> None:
    # Given a blank id / When building an activity / Then a ValueError
    with pytest.raises(ValueError, match="non-empty id"):
        HubSpotActivity(type=HubSpotActivityType.NOTE, id=" ", occurred_at=NOON)


def test_r3_task_draft_update_fields_leave_out_subtype_who_and_external_id() -> None:
    # Given a draft with every field / When asking for the update set
    draft = SalesforceTaskDraft(
        external_id="hs:call:1",
        create_fields={
            "Subject": "Call: x",
            "TaskSubtype": "Call",
            "WhoId": "0035g00000AbCdEAAV",
            "OwnerId": "0055g00000Ab1CdAAJ",
            "HubSpot_Activity_Id__c": "hs:call:1",
        },
    )
    # Then TaskSubtype (not updateable), WhoId (the Task stays on its person) and the id are gone
    assert draft.update_fields == {"Subject": "Call: x", "OwnerId": "0055g00000Ab1CdAAJ"}
