"""Issue #20: DynamoDB refusing a write for good (``StorageRefused``: a bug, never a passing fault)
fails only the records that depend on it. Records whose Task was written settle as synced even
when their links are refused; an activity that could not be parked is retried alone; the rest of
the batch goes on. The syncer runs through its public ``handle`` on in-memory fakes."""

from __future__ import annotations

import datetime as dt

from activity_sync.domain import HubSpotActivityType, SyncType, TypeSettings
from activity_sync.messages import ChangeMessage, ChangeSource
from activity_sync.rules.switches import turn_on
from activity_sync.usecases.directories import ContactDirectory, OwnerDirectory
from activity_sync.usecases.hubspot_to_salesforce import HubSpotToSalesforce
from tests.fakes.queues import InMemoryChangeQueue
from tests.fakes.storage import InMemoryLinks, InMemorySettings, InMemorySyncState
from tests.fakes.vendors import InMemoryHubSpot, InMemorySalesforce

EVENTS = SyncType.hubspot_to_salesforce(HubSpotActivityType.INTEGRATION_EVENT)
SWITCHED_ON = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
SYNCS, WAITS = "101", "102"  # a contact with a Salesforce Contact, and one without (yet)


def _syncer(
    links: InMemoryLinks, state: InMemorySyncState, salesforce: InMemorySalesforce
) -> HubSpotToSalesforce:
    hubspot, settings = InMemoryHubSpot(), InMemorySettings()
    person = salesforce.add("Contact", {"LastName": "Syncs", "Email": "syncs@example.com"})
    created = "2026-01-01T00:00:00Z"
    hubspot.add(
        "contacts",
        SYNCS,
        {"email": "syncs@example.com", "createdate": created, "salesforcecontactid": person},
    )
    hubspot.add("contacts", WAITS, {"email": "waits@example.com", "createdate": created})
    settings.save_type_settings(EVENTS, turn_on(TypeSettings(task_type="Other"), SWITCHED_ON), by="test")
    return HubSpotToSalesforce(
        HubSpotActivityType.INTEGRATION_EVENT,
        settings=settings,
        links=links,
        state=state,
        hubspot=hubspot,
        salesforce=salesforce,
        queues=InMemoryChangeQueue(),
        owners=OwnerDirectory(lambda: hubspot, lambda: salesforce, settings),
        contacts=ContactDirectory(lambda: hubspot, ttl_seconds=0),
    )


def _event(event_id: str, contact: str) -> tuple[str, ChangeMessage]:
    payload = {
        "type": "integration_event",
        "id": event_id,
        "occurred_at": "2026-12-02T10:00:00Z",
        "contact_ids": [contact],
        "properties": {"app_name": "Zoom", "event_name": f"Webinar {event_id}"},
    }
    change = ChangeMessage(
        sync_type=EVENTS.key, object_id=event_id, source=ChangeSource.HUBSPOT_ACTIVITY_ROUTE, payload=payload
    )
    return f"m-{event_id}", change


def test_r16_an_activity_dynamodb_refuses_to_park_is_retried_alone() -> None:
    # Given a batch of four events: two on a contact that syncs, two on one that does not yet, and
    # DynamoDB refusing to park one of the latter
    links, state, salesforce = InMemoryLinks(), InMemorySyncState(refuse={"w2"}), InMemorySalesforce()
    batch = [_event("s1", SYNCS), _event("w1", WAITS), _event("s2", SYNCS), _event("w2", WAITS)]

    # When the syncer handles the batch
    result = _syncer(links, state, salesforce).handle(batch)

    # Then only the refused activity's message is retried, with the reason
    assert result.dead == {}
    assert list(result.retry) == ["m-w2"]
    assert "could not park" in result.retry["m-w2"]
    assert "ValidationException" in result.retry["m-w2"]
    # And the other waiting one is parked and counted, the two that sync are written in one call
    assert [w.key for w in state.waiting_for(WAITS)] == [f"{EVENTS.key}#w1"]
    assert state.outcome_figures(EVENTS) == {"waiting:contact_not_syncing": 1, "synced": 2}
    assert salesforce.calls["write_together"] == 1


def test_r16_tasks_written_settle_as_synced_when_dynamodb_refuses_their_links() -> None:
    # Given DynamoDB refusing the link of one of two events whose Tasks are written
    links = InMemoryLinks(refuse={"hubspot#activity#hs:integration_event:s2"})
    state, salesforce = InMemorySyncState(), InMemorySalesforce()

    # When the syncer handles the batch
    result = _syncer(links, state, salesforce).handle([_event("s1", SYNCS), _event("s2", SYNCS)])

    # Then no message fails: both Tasks were written, once, and both count as synced
    assert (result.retry, result.dead, result.defer) == ({}, {}, {})
    assert salesforce.calls["write_together"] == 1
    assert state.outcome_figures(EVENTS) == {"synced": 2}
    # And the link that was not refused is saved
    assert set(links.links("activity", ["hs:integration_event:s1", "hs:integration_event:s2"])) == {
        "hs:integration_event:s1"
    }


def test_r5_posted_activities_skipped_for_their_window_are_remembered_in_one_write_for_explain() -> None:
    # Given a batch of three posted events: two that happened long before their window, one inside
    links, state, salesforce = InMemoryLinks(), InMemorySyncState(), InMemorySalesforce()
    old_a, old_b, recent = _event("old-a", SYNCS), _event("old-b", SYNCS), _event("new", SYNCS)
    for _, change in (old_a, old_b):
        assert change.payload is not None
        change.payload["occurred_at"] = "2024-01-01T00:00:00Z"

    # When the syncer handles it
    result = _syncer(links, state, salesforce).handle([old_a, recent, old_b])

    # Then the old ones are skipped for good, remembered with their message in one batch write, and
    # the recent one syncs and is not remembered as skipped
    assert result.dead == {}
    assert result.retry == {}
    assert state.outcome_figures(EVENTS) == {"skipped:outside_window": 2, "synced": 1}
    assert state.skip_writes == 1
    for event_id in ("old-a", "old-b"):
        skip = state.skipped(EVENTS, event_id)
        assert skip is not None
        assert skip.reason == "outside_window"
        assert skip.message["payload"]["occurred_at"] == "2024-01-01T00:00:00Z"
    assert state.skipped(EVENTS, "new") is None


def test_r5_a_skip_dynamodb_refuses_to_remember_fails_nothing() -> None:
    # Given two posted events long before their window, DynamoDB refusing to remember one of them
    links, state, salesforce = InMemoryLinks(), InMemorySyncState(refuse={"old-a"}), InMemorySalesforce()
    old_a, old_b = _event("old-a", SYNCS), _event("old-b", SYNCS)
    for _, change in (old_a, old_b):
        assert change.payload is not None
        change.payload["occurred_at"] = "2024-01-01T00:00:00Z"

    # When the syncer handles them
    result = _syncer(links, state, salesforce).handle([old_a, old_b])

    # Then both are skipped all the same (the record serves explain, not the sync)
    assert result.dead == {}
    assert result.retry == {}
    assert state.outcome_figures(EVENTS) == {"skipped:outside_window": 2}
    assert state.skipped(EVENTS, "old-a") is None
    assert state.skipped(EVENTS, "old-b") is not None
