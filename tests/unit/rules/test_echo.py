"""R14: no echoes, no ping-pong; the fingerprint of synced fields; the conflicting-edit rule."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from activity_sync.domain import HubSpotActivity, HubSpotActivityType
from activity_sync.rules.echo import (
    ChangeOrigin,
    Side,
    WrittenVersion,
    carries_hubspot_activity_id,
    carries_salesforce_id,
    classify_hubspot_change,
    classify_salesforce_change,
    copy_edit_flows_back,
    fingerprint,
    is_copy_from_salesforce,
    is_own_salesforce_write,
    parse_salesforce_datetime,
    resolve_conflicting_edit,
    same_version,
)

SERVICE_USER = "0055g00000Ab1CdAAJ"
REP_USER = "0055g00000Zz9YxAAJ"
MODSTAMP = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
WRITTEN = {"Subject": "Note: hi", "Status": "Completed", "Description": None}


def salesforce_record(**overrides: object) -> dict[str, object]:
    record: dict[str, object] = {
        "Id": "00T5g000001aBcDEAU",
        "Subject": "Note: hi",
        "Status": "Completed",
        "Description": None,
        "LastModifiedById": SERVICE_USER,
        "SystemModstamp": "2024-05-01T10:00:00.000+0000",
        "HubSpot_Activity_Id__c": "hs:note:1",
    }
    record.update(overrides)
    return record


def hubspot_note(updated_at: datetime | None = None, **properties: str) -> HubSpotActivity:
    return HubSpotActivity(
        type=HubSpotActivityType.NOTE,
        id="1",
        occurred_at=MODSTAMP,
        properties=properties,
        updated_at=updated_at,
    )


def test_r14_a_salesforce_task_carrying_a_hubspot_activity_id_is_the_services_copy() -> None:
    # Given a Task with HubSpot_Activity_Id__c, edited by a rep, never written... as far as we know
    # When classifying the change / Then never a new HubSpot activity: at most an update of the original
    record = salesforce_record(LastModifiedById=REP_USER, Subject="Note: edited")
    assert carries_hubspot_activity_id(record)
    assert (
        classify_salesforce_change(record, service_user_id=SERVICE_USER, last_written=None)
        is ChangeOrigin.EDIT_OF_OWN_COPY
    )


def test_r14_the_services_own_salesforce_write_is_not_bounced_back() -> None:
    # Given the service wrote the Task and read back its SystemModstamp
    last_written = WrittenVersion.of({"Subject": "old subject"}, modified_at=MODSTAMP)
    # When the poller sees it, last modified by the API user with that modstamp (even with content changed
    # by a trigger) / Then it is the service's own write
    record = salesforce_record(Subject="changed by a trigger")
    assert is_own_salesforce_write(record, SERVICE_USER[:15], last_written)
    assert (
        classify_salesforce_change(record, service_user_id=SERVICE_USER, last_written=last_written)
        is ChangeOrigin.OWN_WRITE
    )


def test_r14_a_later_write_by_the_api_user_is_not_taken_for_the_last_one() -> None:
    # Given the service's last write had modstamp 10:00, but the record now shows 10:05 and other content
    last_written = WrittenVersion.of(WRITTEN, modified_at=MODSTAMP)
    record = salesforce_record(SystemModstamp="2024-05-01T10:05:00.000+0000", Subject="Note: changed")
    # When classifying / Then not an own write (someone used the API user's login, or another tool did)
    assert not is_own_salesforce_write(record, SERVICE_USER, last_written)
    assert (
        classify_salesforce_change(record, service_user_id=SERVICE_USER, last_written=last_written)
        is ChangeOrigin.EDIT_OF_OWN_COPY
    )


def test_r14_a_change_whose_synced_fields_equal_the_last_write_is_an_echo() -> None:
    # Given the service wrote Subject/Status/Description and a rep saved the Task without changing them
    last_written = WrittenVersion.of(WRITTEN)
    record = salesforce_record(
        LastModifiedById=REP_USER, SystemModstamp="2024-05-02T09:00:00.000+0000", Priority="High"
    )
    # When classifying / Then nothing the service syncs changed: an echo (fields it did not write are ignored)
    assert (
        classify_salesforce_change(record, service_user_id=SERVICE_USER, last_written=last_written)
        is ChangeOrigin.OWN_WRITE
    )


def test_r14_a_task_created_in_salesforce_is_native() -> None:
    # Given a rep's own Task without a HubSpot activity id / When classifying / Then it syncs normally
    record = salesforce_record(LastModifiedById=REP_USER, HubSpot_Activity_Id__c=None)
    assert (
        classify_salesforce_change(record, service_user_id=SERVICE_USER, last_written=None)
        is ChangeOrigin.NATIVE
    )


def test_r14_a_hubspot_activity_carrying_the_salesforce_id_property_is_never_a_new_task() -> None:
    # Given a HubSpot note the service created from a Salesforce Task, later edited in HubSpot
    note = hubspot_note(activity_sync_salesforce_id="00T5g000001aBcDEAU", body="edited")
    # When classifying / Then it is the service's copy: never a new Task
    assert carries_salesforce_id(note)
    assert classify_hubspot_change(note, None) is ChangeOrigin.EDIT_OF_OWN_COPY


def test_r14_only_a_task_copys_state_changed_by_a_person_flows_back_to_the_original() -> None:
    written = {"hs_task_status": "NOT_STARTED", "hs_task_priority": "HIGH", "hs_task_subject": "Call"}
    completed = {**written, "hs_task_status": "COMPLETED"}
    # A task copy as written, or with values equal in meaning (empty and absent), is an echo.
    assert not copy_edit_flows_back(True, written, written)
    cleared = {**written, "hs_task_priority": ""}
    assert not copy_edit_flows_back(True, cleared, {**written, "hs_task_priority": None})
    # A person completed it: the original is updated.
    assert copy_edit_flows_back(True, completed, written)
    # Nothing remembered of the write, or not a task (a note copy edited in HubSpot): never back.
    assert not copy_edit_flows_back(True, completed, None)
    assert not copy_edit_flows_back(True, completed, {})
    assert not copy_edit_flows_back(False, completed, written)


def test_r14_a_copy_is_told_by_the_salesforce_id_property_alone() -> None:
    assert is_copy_from_salesforce({"activity_sync_salesforce_id": "00T000000000001AAA"})
    assert not is_copy_from_salesforce({"activity_sync_salesforce_id": "  "})
    assert not is_copy_from_salesforce({"activity_sync_salesforce_id": None})
    assert not is_copy_from_salesforce({"hs_note_body": "hello"})


def test_r14_the_services_own_hubspot_write_is_an_echo_by_content() -> None:
    # Given the service last wrote body "hi" to a HubSpot note / When the webhook shows the same body
    note = hubspot_note(activity_sync_salesforce_id="00T5g000001aBcDEAU", body="hi")
    # Then it is the service's own write
    assert classify_hubspot_change(note, WrittenVersion.of({"body": "hi"})) is ChangeOrigin.OWN_WRITE


def test_r14_the_services_own_hubspot_write_is_an_echo_by_modification_time() -> None:
    # Given the service read back hs_lastmodifieddate after writing / When a change with that time arrives
    note = hubspot_note(updated_at=MODSTAMP, body="normalised by HubSpot")
    # Then it is the service's own write even if HubSpot reformatted the content
    assert (
        classify_hubspot_change(note, WrittenVersion.of({"body": "hi"}, modified_at=MODSTAMP))
        is ChangeOrigin.OWN_WRITE
    )


def test_r14_a_hubspot_activity_created_in_hubspot_is_native() -> None:
    # Given a note a rep wrote in HubSpot / When classifying / Then it syncs normally
    assert classify_hubspot_change(hubspot_note(body="new"), None) is ChangeOrigin.NATIVE


def test_r14_fingerprint_ignores_order_and_treats_missing_none_and_empty_alike() -> None:
    # Given the same content in another order, with a cleared field as None, "" or absent
    # When fingerprinting / Then the same hash
    assert fingerprint({"A": "1", "B": None}) == fingerprint({"C": "", "A": "1"}) == fingerprint({"A": "1"})


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"Duration": 5}, {"Duration": 5.0}),
        ({"Description": "a\r\nb"}, {"Description": "a\nb "}),
        (
            {"When": datetime(2024, 5, 1, 12, 0, tzinfo=UTC)},
            {"When": datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))},
        ),
        ({"ActivityDate": date(2024, 5, 1)}, {"ActivityDate": "2024-05-01"}),
    ],
    ids=["int-float", "line-endings", "same-instant", "date-vs-text"],
)
def test_r14_fingerprint_is_equal_for_values_equal_in_meaning(
    first: dict[str, object], second: dict[str, object]
) -> None:
    # Given two spellings of the same values / When fingerprinting / Then the same hash
    assert fingerprint(first) == fingerprint(second)


@pytest.mark.parametrize(
    "other",
    [
        {"Subject": "Note: hi!"},
        {"Subject": "Note: hi", "Status": "Open"},
        {"subject": "Note: hi"},
        {"Subject": True},
    ],
)
def test_r14_fingerprint_changes_when_a_synced_value_changes(other: dict[str, object]) -> None:
    # Given different content, an extra value, another field name, another type / When fingerprinting
    # Then a different hash
    assert fingerprint({"Subject": "Note: hi"}) != fingerprint(other)


def test_r14_fingerprint_can_be_limited_to_the_synced_fields() -> None:
    # Given a record with system fields too / When fingerprinting only Subject / Then as if alone
    assert fingerprint({"Subject": "x", "SystemModstamp": "…"}, keys=["Subject"]) == fingerprint(
        {"Subject": "x"}
    )


def test_r14_fingerprint_refuses_values_it_cannot_compare() -> None:
    # Given a naive datetime or an object / When fingerprinting / Then an error rather than a wrong hash
    with pytest.raises(ValueError, match="naive"):
        fingerprint({"When": datetime(2024, 5, 1, 12, 0)})
    with pytest.raises(TypeError):
        fingerprint({"Tags": ["a"]})


def test_r14_salesforce_timestamps_parse_with_their_offset() -> None:
    # Given Salesforce's timestamp spelling / When parsing / Then an aware datetime at that instant
    assert parse_salesforce_datetime("2024-05-01T10:00:00.000+0000") == MODSTAMP
    assert parse_salesforce_datetime(None) is None
    with pytest.raises(ValueError, match="time zone"):
        parse_salesforce_datetime("2024-05-01T10:00:00")


def test_r14_conflicting_edits_the_later_modification_wins() -> None:
    # Given both sides edited since the last sync / When resolving / Then the later edit's side
    earlier, later = MODSTAMP, MODSTAMP + timedelta(seconds=1)
    assert resolve_conflicting_edit(later, earlier) is Side.HUBSPOT
    assert resolve_conflicting_edit(earlier, later) is Side.SALESFORCE


def test_r14_conflicting_edits_at_the_same_instant_go_to_salesforce() -> None:
    # Given both edits at the same instant (in different offsets) / When resolving / Then Salesforce
    same_instant = MODSTAMP.astimezone(timezone(timedelta(hours=-3)))
    assert resolve_conflicting_edit(MODSTAMP, same_instant) is Side.SALESFORCE


def test_r14_conflict_resolution_needs_timezone_aware_times() -> None:
    # Given a naive time / When resolving / Then a ValueError
    with pytest.raises(ValueError, match="timezone-aware"):
        resolve_conflicting_edit(datetime(2024, 5, 1), MODSTAMP)


@pytest.mark.parametrize(
    ("stored", "notified", "same"),
    [
        ("2026-12-02T14:00:00.000+0000", datetime(2026, 12, 2, 14, 0, tzinfo=UTC), True),
        ("2026-12-02T14:00:00+00:00", datetime(2026, 12, 2, 14, 0, tzinfo=UTC), True),
        ("2026-12-02T14:00:00.000+0000", datetime(2026, 12, 2, 14, 0, 0, 1000, tzinfo=UTC), False),
        ("2026-12-02T14:00:00.000+0000", None, False),
        (None, datetime(2026, 12, 2, 14, 0, tzinfo=UTC), False),
        ("not a time", datetime(2026, 12, 2, 14, 0, tzinfo=UTC), False),
    ],
)
def test_r14_r18_a_record_is_the_version_synced_when_its_modification_instant_is_the_one_stored(
    stored: object, notified: datetime | None, same: bool
) -> None:
    assert same_version(stored, notified) is same
