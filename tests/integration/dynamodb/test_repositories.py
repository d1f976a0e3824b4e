"""R18 in DynamoDB: a batch costs a request, not a request per record; settings are read once per
few seconds per container; both directions of a link are one BatchGetItem away."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from activity_sync.adapters.dynamodb import (
    LinkRepository,
    SettingsRepository,
    SyncStateRepository,
)
from activity_sync.domain import HubSpotActivityType, SyncType, TypeSettings
from activity_sync.ports import Link

NOTE = SyncType.hubspot_to_salesforce(HubSpotActivityType.NOTE)
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_settings_are_read_with_one_scan_and_kept_for_their_cache_time(
    tables: dict[str, str], requests_sent: Counter[str]
) -> None:
    # Given a switch on, an override and the global item
    writer = SettingsRepository()
    writer.save_type_settings(NOTE, TypeSettings(enabled=True, enabled_at=NOW, task_type="Call"), by="test")
    writer.set_override("contact", "101", "003000000000001AAA")
    writer.set_integration_user_id("005000000000001AAA")
    clock = FakeClock()
    reader = SettingsRepository(cache_seconds=10, clock=clock)
    requests_sent.clear()
    # When a container reads them many times within its cache time
    for _ in range(50):
        assert reader.type_settings(NOTE).task_type == "Call"
        assert reader.overrides("contact") == {"101": "003000000000001AAA"}
        assert reader.integration_user_id() == "005000000000001AAA"
    # Then it paid one Scan
    assert requests_sent == Counter({"Scan": 1})
    # And a change made meanwhile shows once the cache time has passed
    writer.save_type_settings(NOTE, TypeSettings(enabled=True, enabled_at=NOW, task_type="Email"), by="test")
    assert reader.type_settings(NOTE).task_type == "Call"
    clock.now += 10
    assert reader.type_settings(NOTE).task_type == "Email"
    # Or at once when asked for a fresh copy
    writer.save_type_settings(NOTE, TypeSettings(), by="test")
    assert reader.type_settings(NOTE, fresh=True) == TypeSettings()


def test_global_settings_keep_each_others_values(tables: dict[str, str]) -> None:
    settings = SettingsRepository(cache_seconds=0)
    settings.set_integration_user_id("005000000000001AAA")
    settings.set_sync_deletions(True)
    settings.set_allocation("salesforce_daily_allocation", 5000)
    settings.remember_salesforce_api_user("005000000000002AAA")
    current = settings.global_settings()
    assert current.integration_user_id == "005000000000001AAA"
    assert current.sync_deletions is True
    assert current.salesforce_daily_allocation == 5000
    assert current.salesforce_api_user_id == "005000000000002AAA"
    settings.set_allocation("salesforce_daily_allocation", None)
    assert settings.global_settings().salesforce_daily_allocation is None


def test_a_batch_of_links_is_written_and_read_both_ways_in_a_handful_of_requests(
    tables: dict[str, str], requests_sent: Counter[str]
) -> None:
    links = LinkRepository()
    written = [
        Link(
            "activity",
            f"hubspot:note:{i}",
            f"00T00000000{i:04d}AAA",
            "sync",
            f"fp{i}",
            "salesforce",
            {"n": i},
        )
        for i in range(100)
    ]
    requests_sent.clear()
    # When a batch of 100 links is written
    assert links.save(written) == 100
    # Then both items of each went in BatchWriteItem requests of 25
    assert requests_sent == Counter({"BatchWriteItem": 8})
    requests_sent.clear()
    # And each direction is read back with one BatchGetItem per 100 keys
    forward = links.links("activity", [link.hubspot_id for link in written])
    backward = links.by_salesforce_ids(link.salesforce_id for link in written)
    assert requests_sent == Counter({"BatchGetItem": 2})
    assert forward["hubspot:note:7"].salesforce_id == "00T000000000007AAA"
    mirror = backward["00T000000000007AAA"]
    assert (mirror.hubspot_object_type, mirror.hubspot_id) == ("activity", "hubspot:note:7")
    assert mirror.written_version("salesforce") is not None
    # And writing what is already stored costs nothing
    requests_sent.clear()
    assert links.save(written, forward) == 0
    assert requests_sent == Counter()
    # And unlinking removes both sides
    links.unlink([forward["hubspot:note:7"]])
    assert "hubspot:note:7" not in links.links("activity", ["hubspot:note:7"])
    assert links.by_salesforce_id("00T000000000007AAA") is None


def test_a_weaker_match_never_replaces_a_link(tables: dict[str, str]) -> None:
    links = LinkRepository()
    assert links.link_if_absent("contact", "101", "003000000000001AAA", source="email_match")
    assert not links.link_if_absent("contact", "101", "003000000000002AAA", source="email_match")
    assert links.links("contact", ["101"])["101"].salesforce_id == "003000000000001AAA"
    assert links.by_salesforce_id("003000000000001AAA") is not None


def test_r16_a_batchs_outcomes_cost_one_update_per_outcome(
    tables: dict[str, str], requests_sent: Counter[str]
) -> None:
    state = SyncStateRepository()
    requests_sent.clear()
    state.count_outcomes(NOTE, {("synced", None): 180, ("skipped", "unchanged"): 20}, day=NOW.date())
    state.count_outcomes(NOTE, {("synced", None): 20}, day=NOW.date())
    assert requests_sent == Counter({"UpdateItem": 3})
    assert state.outcome_figures(NOTE) == {"synced": 200, "skipped:unchanged": 20}


def test_one_dead_letter_per_record_and_reason(tables: dict[str, str]) -> None:
    state = SyncStateRepository()
    assert state.claim_dead_letter(NOTE.key, "42", "Salesforce refused: FIELD_INTEGRITY", "{}")
    assert not state.claim_dead_letter(NOTE.key, "42", "Salesforce refused: FIELD_INTEGRITY", "{}")
    assert state.claim_dead_letter(NOTE.key, "42", "another reason", "{}")
    assert state.release_dead_letters(NOTE.key, ["42"]) == 2
    assert state.claim_dead_letter(NOTE.key, "42", "Salesforce refused: FIELD_INTEGRITY", "{}")
