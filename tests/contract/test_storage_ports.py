"""What the storage ports promise, held by the in-memory fakes and the DynamoDB adapters alike:
each test runs once on each (``stores`` in conftest.py). A fake that drifts from the tables fails
here before any use-case test can pass on a behaviour DynamoDB does not have."""

from __future__ import annotations

import datetime as dt

import pytest

from activity_sync.domain import HubSpotActivityType, SalesforceActivityType, SyncType, TypeSettings
from activity_sync.ports import Link
from tests.contract.conftest import Stores

NOTE = SyncType.hubspot_to_salesforce(HubSpotActivityType.NOTE)
CALL = SyncType.hubspot_to_salesforce(HubSpotActivityType.CALL)
EVENT = SyncType.hubspot_to_salesforce(HubSpotActivityType.INTEGRATION_EVENT)
S2H_TASK = SyncType.salesforce_to_hubspot(SalesforceActivityType.TASK)
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


# ------------------------------------------------------------------------------------------- links


def test_a_link_reads_back_from_both_sides_with_what_it_says(stores: Stores) -> None:
    written = Link(
        "activity", "hs:note:1", "00T000000000001AAA", "sync", "fp", "salesforce", {"fields": ["A"]}
    )
    assert stores.links.save([written]) == 1

    forward = stores.links.links("activity", ["hs:note:1", "hs:note:2"])
    assert set(forward) == {"hs:note:1"}
    link = forward["hs:note:1"]
    assert (link.salesforce_id, link.fingerprint, link.written_side, link.source) == (
        "00T000000000001AAA",
        "fp",
        "salesforce",
        "sync",
    )
    assert link.details == {"fields": ["A"]}
    assert (link.hubspot_object_type, link.hubspot_id) == ("activity", "hs:note:1")
    assert link.updated_at is not None
    mirror = stores.links.by_salesforce_id("00T000000000001AAA")
    assert mirror is not None
    assert (mirror.hubspot_object_type, mirror.hubspot_id, mirror.fingerprint) == (
        "activity",
        "hs:note:1",
        "fp",
    )
    assert stores.links.by_salesforce_ids(["00T000000000001AAA", "00T000000000009AAA", ""]).keys() == {
        "00T000000000001AAA"
    }


def test_a_link_already_stored_is_not_written_again(stores: Stores) -> None:
    link = Link("activity", "hs:note:1", "00T000000000001AAA", "sync", "fp", "salesforce")
    stores.links.save([link])
    stored = stores.links.links("activity", ["hs:note:1"])
    assert stores.links.save([link], stored) == 0
    changed = Link("activity", "hs:note:1", "00T000000000001AAA", "sync", "fp2", "salesforce")
    assert stores.links.save([changed], stored) == 1
    assert stores.links.links("activity", ["hs:note:1"])["hs:note:1"].fingerprint == "fp2"


def test_a_link_named_twice_is_written_once_as_it_is_the_last_time(stores: Stores) -> None:
    written = stores.links.save(
        [
            Link("activity", "hs:note:1", "00T000000000001AAA", "sync", "old"),
            Link("contact", "501", "003000000000001AAA", "email"),
            Link("activity", "hs:note:1", "00T000000000001AAA", "sync", "new"),
            Link("contact", "502", "003000000000001AAA", "email"),
        ]
    )
    assert written == 3
    assert stores.links.links("activity", ["hs:note:1"])["hs:note:1"].fingerprint == "new"
    mirror = stores.links.by_salesforce_id("003000000000001AAA")
    assert mirror is not None
    assert mirror.hubspot_id == "502"  # the shared mirror names the later link


def test_a_weaker_match_never_replaces_a_link(stores: Stores) -> None:
    assert stores.links.link_if_absent("contact", "101", "003000000000001AAA", source="email_match")
    assert not stores.links.link_if_absent("contact", "101", "003000000000002AAA", source="email_match")
    assert stores.links.links("contact", ["101"])["101"].salesforce_id == "003000000000001AAA"
    assert stores.links.by_salesforce_id("003000000000001AAA") is not None


def test_a_newer_contact_read_is_kept_an_older_one_or_one_after_a_rewrite_is_not(stores: Stores) -> None:
    stores.links.save([Link("contact", "601", "003000000000009AAA", "email")])
    link = stores.links.links("contact", ["601"])["601"]
    first = {"email": "a@example.com", "read_at": "2026-12-01T10:00:00+00:00"}
    older = {"email": "old@example.com", "read_at": "2026-12-01T09:00:00+00:00"}
    newer = {"email": "b@example.com", "read_at": "2026-12-01T11:00:00+00:00"}
    # Given a first read kept
    assert stores.links.refresh_contacts([(link, first)]) == 1
    current = stores.links.links("contact", ["601"])["601"]
    assert current.contact == first
    # When an older read comes after it, it is not kept; of two reads in one call, the newer is
    assert stores.links.refresh_contacts([(current, older)]) == 0
    assert stores.links.refresh_contacts([(current, older), (current, newer)]) == 1
    assert stores.links.links("contact", ["601"])["601"].contact == newer
    # When the link is rewritten after it was read, a read made from the old link is not kept
    stores.links.save([Link("contact", "601", "003000000000008AAA", "override")])
    later = {"email": "c@example.com", "read_at": "2026-12-01T12:00:00+00:00"}
    assert stores.links.refresh_contacts([(current, later)]) == 0
    assert stores.links.links("contact", ["601"])["601"].salesforce_id == "003000000000008AAA"


def test_unlinking_removes_both_sides_from_either_side(stores: Stores) -> None:
    stores.links.save(
        [
            Link("activity", "hs:call:1", "00T000000000002AAA", "sync"),
            Link("activity", "hs:call:2", "00T000000000003AAA", "sync"),
        ]
    )
    forward = stores.links.links("activity", ["hs:call:1"])["hs:call:1"]
    mirror = stores.links.by_salesforce_id("00T000000000003AAA")
    assert mirror is not None
    stores.links.unlink([forward, mirror, forward])
    assert stores.links.links("activity", ["hs:call:1", "hs:call:2"]) == {}
    assert stores.links.by_salesforce_ids(["00T000000000002AAA", "00T000000000003AAA"]) == {}


# ---------------------------------------------------------------------------------------- settings


def test_settings_read_as_the_defaults_until_saved(stores: Stores) -> None:
    settings = stores.settings
    assert settings.type_settings(NOTE) == TypeSettings()
    assert settings.global_settings().integration_user_id is None
    assert settings.sync_deletions() is False
    assert settings.overrides("contact") == {}

    on = TypeSettings(enabled=True, enabled_at=NOW, task_type="Call", subject_template="{title}")
    settings.save_type_settings(NOTE, on, by="test")
    assert settings.type_settings(NOTE, fresh=True) == on
    assert settings.all_type_settings(fresh=True) == {NOTE.key: on}
    assert settings.type_settings(CALL) == TypeSettings()


def test_global_settings_keep_each_others_values(stores: Stores) -> None:
    settings = stores.settings
    settings.set_integration_user_id("005000000000001AAA")
    settings.set_sync_deletions(True)
    settings.set_allocation("salesforce_daily_allocation", 5000)
    settings.remember_salesforce_api_user("005000000000002AAA")
    current = settings.global_settings(fresh=True)
    assert (current.integration_user_id, current.sync_deletions) == ("005000000000001AAA", True)
    assert (current.salesforce_daily_allocation, current.salesforce_api_user_id) == (
        5000,
        "005000000000002AAA",
    )
    settings.set_allocation("salesforce_daily_allocation", None)
    assert settings.global_settings(fresh=True).salesforce_daily_allocation is None
    assert settings.integration_user_id() == "005000000000001AAA"


def test_an_allocation_must_be_a_known_setting_and_not_negative(stores: Stores) -> None:
    with pytest.raises(ValueError, match="unknown"):
        stores.settings.set_allocation("calls_per_minute", 5)
    with pytest.raises(ValueError, match="negative"):
        stores.settings.set_allocation("hubspot_daily_allocation", -1)


def test_overrides_are_set_and_removed_by_kind(stores: Stores) -> None:
    settings = stores.settings
    settings.set_override("contact", "101", "003000000000001AAA", note="merged")
    settings.set_override("owner", "77", "005000000000001AAA")
    assert settings.overrides("contact") == {"101": "003000000000001AAA"}
    assert settings.overrides("owner") == {"77": "005000000000001AAA"}
    settings.delete_override("contact", "101")
    settings.invalidate()
    assert settings.overrides("contact") == {}


# -------------------------------------------------------------------------------------- sync state


def test_watermarks_are_read_back_one_and_all(stores: Stores) -> None:
    state = stores.state
    assert state.watermark("notes") is None
    state.set_watermark("notes", "1")
    state.set_watermarks({"calls": "2", "notes": "3"})
    assert state.watermark("notes") == "3"
    assert state.watermarks() == {"notes": "3", "calls": "2"}


def test_an_activity_waits_once_under_each_contact_the_later_parking_winning(stores: Stores) -> None:
    state = stores.state
    state.add_waiting_many(
        [
            (["201", "202", "201"], NOTE, "9001", {"n": 1}, "contact_not_syncing"),
            (["201"], NOTE, "9002", {"n": 2}, "contact_not_syncing"),
            (["201", "202"], NOTE, "9001", {"n": 3}, "contact_not_syncing"),
        ]
    )
    waiting = state.waiting_for("201")
    assert [(w.key, w.message, w.reason) for w in waiting] == [
        (f"{NOTE.key}#9001", {"n": 3}, "contact_not_syncing"),
        (f"{NOTE.key}#9002", {"n": 2}, "contact_not_syncing"),
    ]
    assert (waiting[0].contact_id, waiting[0].sync_key, waiting[0].activity_id) == ("201", NOTE.key, "9001")
    assert [w.key for w in state.waiting_for("202")] == [f"{NOTE.key}#9001"]
    state.remove_waiting(waiting)
    assert state.waiting_for("201") == []
    assert len(state.waiting_for("202")) == 1


def test_waiting_activities_are_read_a_page_at_a_time_in_key_order(stores: Stores) -> None:
    state = stores.state
    state.add_waiting_many([(["unassociated"], NOTE, f"n{i:02d}", {}, "no_contact") for i in range(5)])
    first = state.waiting_page("unassociated", None, 2)
    assert [w.activity_id for w in first] == ["n00", "n01"]
    rest = state.waiting_page("unassociated", first[-1].key, 10)
    assert [w.activity_id for w in rest] == ["n02", "n03", "n04"]


def test_a_waiting_activity_parked_again_since_it_was_read_is_not_removed(stores: Stores) -> None:
    state = stores.state
    state.add_waiting_many([(["u"], NOTE, "1", {"v": 1}, "r"), (["u"], NOTE, "2", {"v": 1}, "r")])
    read = state.waiting_for("u")
    state.add_waiting_many([(["u"], NOTE, "2", {"v": 2}, "r")])  # parked again meanwhile
    assert state.remove_waiting_unless_parked_again(read) == 1
    assert [(w.activity_id, w.message) for w in state.waiting_for("u")] == [("2", {"v": 2})]


def test_outcome_figures_add_up_per_type_and_day(stores: Stores) -> None:
    state = stores.state
    state.count_outcomes(NOTE, {("synced", None): 180, ("skipped", "unchanged"): 20}, day=NOW.date())
    state.count_outcomes(NOTE, {("synced", None): 20, ("waiting", "contact_not_syncing"): 0}, day=NOW.date())
    state.count_outcomes(NOTE, {("synced", None): 5}, day=NOW.date() - dt.timedelta(days=2))
    state.count_outcomes(S2H_TASK, {("synced", None): 7}, day=NOW.date())
    assert state.outcome_figures(NOTE) == {"synced": 205, "skipped:unchanged": 20}
    assert state.outcome_figures(NOTE, since=NOW.date()) == {"synced": 200, "skipped:unchanged": 20}
    assert state.outcome_figures(S2H_TASK) == {"synced": 7}
    assert state.outcome_figures(CALL) == {}


def test_a_shared_value_reads_back_with_when_it_was_stored_until_forgotten(stores: Stores) -> None:
    state = stores.state
    assert state.shared("owners") is None
    state.save_shared("owners", {"to_salesforce": {"1": "005"}}, keep=dt.timedelta(minutes=20))
    found = state.shared("owners")
    assert found is not None
    stored_at, payload = found
    assert payload == {"to_salesforce": {"1": "005"}}
    assert stored_at.tzinfo is not None
    state.forget_shared("owners")
    assert state.shared("owners") is None


def test_one_dead_letter_per_record_and_reason_until_released(stores: Stores) -> None:
    state = stores.state
    assert state.claim_dead_letter(NOTE.key, "42", "Salesforce refused: FIELD_INTEGRITY", '{"a": 1}')
    assert not state.claim_dead_letter(NOTE.key, "42", "Salesforce refused: FIELD_INTEGRITY", "{}")
    assert state.claim_dead_letter(NOTE.key, "42", "another reason", "{}")
    assert state.claim_dead_letter(NOTE.key, "43", "another reason", "{}")
    assert state.claim_dead_letter(CALL.key, "42", "another reason", "{}")
    entries = list(state.dead_letters(NOTE.key))
    assert sorted((e.record_id, e.reason) for e in entries) == [
        ("42", "Salesforce refused: FIELD_INTEGRITY"),
        ("42", "another reason"),
        ("43", "another reason"),
    ]
    assert {e.body for e in entries if e.reason.startswith("Salesforce")} == {'{"a": 1}'}
    assert state.release_dead_letters(NOTE.key, ["42", "42"]) == 2
    assert [e.record_id for e in state.dead_letters(NOTE.key)] == ["43"]
    assert [e.record_id for e in state.dead_letters(CALL.key)] == ["42"]
    assert state.claim_dead_letter(NOTE.key, "42", "Salesforce refused: FIELD_INTEGRITY", "{}")


def test_a_posted_activity_skipped_for_good_is_remembered_with_its_message_the_later_entry_winning(
    stores: Stores,
) -> None:
    state = stores.state
    assert state.skipped(EVENT, "ev-1") is None
    state.remember_skipped(
        [
            (EVENT, "ev-1", {"id": "ev-1", "attempt": 1}, "outside_window"),
            (EVENT, "ev-2", {"id": "ev-2"}, "outside_window"),
            (EVENT, "ev-1", {"id": "ev-1", "attempt": 2}, "outside_window"),
        ]
    )
    state.remember_skipped([])  # nothing to keep: nothing changes
    assert state.skipped(EVENT, "ev-3") is None
    skip = state.skipped(EVENT, "ev-1")
    assert skip is not None
    assert (skip.sync_type_key, skip.activity_id, dict(skip.message), skip.reason) == (
        EVENT.key,
        "ev-1",
        {"id": "ev-1", "attempt": 2},
        "outside_window",
    )
    assert skip.decided_at is not None
    assert state.skipped(NOTE, "ev-1") is None  # by type
    assert state.skipped(EVENT, "ev-3") is None
