"""Issue #20: DynamoDB refuses a BatchWriteItem (and a TransactWriteItems) that names one key twice
(``ValidationException: Provided list of item keys contains duplicates``), and moto refuses it as
DynamoDB does. Every writer that batches collapses repeated keys first: the later put wins, and a
put and a delete of one key resolve to the one that comes later. A write DynamoDB refuses for good
fails only the items it names (``StorageRefused``), never the rest of the batch."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from activity_sync.adapters.dynamodb import (
    LinkRepository,
    SyncStateItem,
    SyncStateRepository,
)
from activity_sync.domain import HubSpotActivityType, SyncType
from activity_sync.ports import Link, StorageRefused

pytestmark = pytest.mark.integration

SALES_EMAIL = SyncType.hubspot_to_salesforce(HubSpotActivityType.SALES_EMAIL)
NOTE = SyncType.hubspot_to_salesforce(HubSpotActivityType.NOTE)


def _waiting(state: SyncStateRepository, contact: str) -> dict[str, dict[str, Any]]:
    return {item.key: dict(item.message) for item in state.waiting_for(contact)}


def test_moto_refuses_a_batch_that_names_one_key_twice_as_dynamodb_does(tables: dict[str, str]) -> None:
    # Given the raw batch write the writers used to send: one key twice
    # Then moto refuses it as a whole (the shape that dead-lettered sales emails)
    batch = SyncStateItem.batch_write()
    batch.save(SyncStateItem("waiting#1", "k#1"))
    batch.save(SyncStateItem("waiting#1", "k#1", reason="again"))
    with pytest.raises(Exception, match="duplicates"):
        batch.commit()


def test_parking_one_activity_twice_in_a_batch_writes_it_once_the_later_message_winning(
    tables: dict[str, str], requests_sent: Counter[str]
) -> None:
    state = SyncStateRepository()
    # Given a sales email's three events (sent, open, click) parked in one batch under the same
    # two contacts, one of them named twice, and another email beside them
    entries = [
        (["201", "202", "201"], SALES_EMAIL, "9001", {"event": "sent"}, "contact_not_syncing"),
        (["201", "202"], SALES_EMAIL, "9001", {"event": "open"}, "contact_not_syncing"),
        (["201"], SALES_EMAIL, "9002", {"event": "sent"}, "contact_not_syncing"),
        (["201", "202"], SALES_EMAIL, "9001", {"event": "click"}, "contact_not_syncing"),
    ]
    requests_sent.clear()
    # When they are parked together
    state.add_waiting_many(entries)
    # Then one BatchWriteItem carried each key once, and the later message won
    assert requests_sent == Counter({"BatchWriteItem": 1})
    assert _waiting(state, "201") == {
        "hubspot_to_salesforce#sales_email#9001": {"event": "click"},
        "hubspot_to_salesforce#sales_email#9002": {"event": "sent"},
    }
    assert _waiting(state, "202") == {"hubspot_to_salesforce#sales_email#9001": {"event": "click"}}


def test_parking_more_than_a_request_holds_with_repeats_across_requests_keeps_one_item_each(
    tables: dict[str, str],
) -> None:
    state = SyncStateRepository()
    # Given 60 activities each parked twice, 120 entries: more than one request of 25
    entries = [(["300"], NOTE, str(i % 60), {"n": i}, "contact_not_syncing") for i in range(120)]
    # When parked in one call
    state.add_waiting_many(entries)
    # Then each is there once, holding its later message
    waiting = _waiting(state, "300")
    assert len(waiting) == 60
    assert waiting["hubspot_to_salesforce#note#7"] == {"n": 67}


def test_removing_waiting_items_named_twice_deletes_each_once(tables: dict[str, str]) -> None:
    state = SyncStateRepository()
    state.add_waiting_many([(["400"], NOTE, str(i), {}, "contact_not_syncing") for i in range(3)])
    items = state.waiting_for("400")
    # When the same items are removed twice over in one call
    state.remove_waiting([*items, *items])
    # Then they are gone, and nothing was refused
    assert state.waiting_for("400") == []


def test_watermarks_written_together_keep_one_value_each(tables: dict[str, str]) -> None:
    state = SyncStateRepository()
    state.set_watermarks({"notes": "1", "calls": "2"})
    assert state.watermarks() == {"notes": "1", "calls": "2"}


def test_saving_one_link_twice_in_a_batch_keeps_the_later_and_its_mirror(
    tables: dict[str, str], requests_sent: Counter[str]
) -> None:
    links = LinkRepository()
    # Given the same activity linked twice in one batch (a redelivery), and two HubSpot contacts
    # matched to one Salesforce Contact (the same email on both): the mirror key twice
    batch = [
        Link("activity", "hs:note:1", "00T000000000001AAA", "sync", "old", "salesforce"),
        Link("contact", "501", "003000000000001AAA", "email"),
        Link("activity", "hs:note:1", "00T000000000001AAA", "sync", "new", "salesforce"),
        Link("contact", "502", "003000000000001AAA", "email"),
    ]
    requests_sent.clear()
    # When saved together
    written = links.save(batch)
    # Then one request; each link once, the later winning, and the shared mirror names the later
    assert requests_sent == Counter({"BatchWriteItem": 1})
    assert written == 3
    assert links.links("activity", ["hs:note:1"])["hs:note:1"].fingerprint == "new"
    assert set(links.links("contact", ["501", "502"])) == {"501", "502"}
    mirror = links.by_salesforce_id("003000000000001AAA")
    assert mirror is not None
    assert mirror.hubspot_id == "502"


def test_unlinking_a_pair_named_twice_deletes_both_sides_once(tables: dict[str, str]) -> None:
    links = LinkRepository()
    links.save([Link("activity", "hs:call:1", "00T000000000002AAA", "sync")])
    stored = links.links("activity", ["hs:call:1"])["hs:call:1"]
    mirror = links.by_salesforce_id("00T000000000002AAA")
    assert mirror is not None
    # When the pair is ended through both of its items (each names the other)
    links.unlink([stored, mirror, stored])
    # Then both are gone
    assert links.links("activity", ["hs:call:1"]) == {}
    assert links.by_salesforce_id("00T000000000002AAA") is None


def test_a_put_and_a_delete_of_one_key_resolve_to_the_later(tables: dict[str, str]) -> None:
    from activity_sync.adapters.dynamodb import write_batch

    # Given a put then a delete of one key, and a delete then a put of another
    write_batch(
        SyncStateItem,
        [
            ("put", SyncStateItem("t", "a", value="1")),
            ("put", SyncStateItem("t", "b", value="1")),
            ("delete", SyncStateItem("t", "a")),
            ("delete", SyncStateItem("t", "b")),
            ("put", SyncStateItem("t", "b", value="2")),
        ],
    )
    # Then a is gone and b holds the later put
    assert {item.sk: item.value for item in SyncStateItem.query("t")} == {"b": "2"}


def test_released_dead_letters_named_twice_are_released_once(tables: dict[str, str]) -> None:
    state = SyncStateRepository()
    assert state.claim_dead_letter(NOTE.key, "42", "reason", "{}")
    assert state.release_dead_letters(NOTE.key, ["42", "42"]) == 1
    assert list(state.dead_letters(NOTE.key)) == []


def test_contact_reads_of_one_link_twice_in_a_transaction_keep_the_newer(tables: dict[str, str]) -> None:
    links = LinkRepository()
    links.save([Link("contact", "601", "003000000000009AAA", "email")])
    item = links.links("contact", ["601"])["601"]
    older = {"email": "a@example.com", "read_at": "2026-12-01T10:00:00+00:00"}
    newer = {"email": "b@example.com", "read_at": "2026-12-01T11:00:00+00:00"}
    # When two reads of one contact are kept in one call (TransactWriteItems refuses one item twice)
    assert links.refresh_contacts([(item, newer), (item, older)]) == 1
    # Then the newer read is kept
    assert links.links("contact", ["601"])["601"].contact == newer


def test_an_item_dynamodb_refuses_fails_alone_with_its_key_named(tables: dict[str, str]) -> None:
    state = SyncStateRepository()
    # Given a batch of parked activities, one of which is too large for an item (400 KB)
    too_large: dict[str, Any] = {"body": "x" * 500_000}
    entries: list[tuple[list[str], SyncType, str, dict[str, Any], str]] = [
        (["700"], NOTE, "1", {"n": 1}, "contact_not_syncing"),
        (["700"], NOTE, "2", too_large, "contact_not_syncing"),
        (["700"], NOTE, "3", {"n": 3}, "contact_not_syncing"),
    ]
    # When they are parked together
    with pytest.raises(StorageRefused) as refused:
        state.add_waiting_many(entries)
    # Then the refusal names the one key, and the others were written
    assert refused.value.keys == (("waiting#700", "hubspot_to_salesforce#note#2"),)
    assert "ValidationException" in str(refused.value)
    assert set(_waiting(state, "700")) == {"hubspot_to_salesforce#note#1", "hubspot_to_salesforce#note#3"}


def test_a_link_dynamodb_refuses_fails_alone(tables: dict[str, str]) -> None:
    links = LinkRepository()
    huge = {"blob": "y" * 500_000}
    with pytest.raises(StorageRefused) as refused:
        links.save(
            [
                Link("activity", "hs:note:10", "00T000000000010AAA", "sync"),
                Link("activity", "hs:note:11", "00T000000000011AAA", "sync", details=huge),
            ]
        )
    assert ("hubspot#activity#hs:note:11", None) in refused.value.keys
    assert set(links.links("activity", ["hs:note:10", "hs:note:11"])) == {"hs:note:10"}
