"""HubSpot -> Salesforce (``usecases.hubspot_to_salesforce``) through its public ``handle``, on
in-memory ports: a note becomes one Task on the contact's person (R3, R4), waits for a contact that
does not sync yet (R4), is dead-lettered for a contact HubSpot does not have (R17), costs no call
when delivered again (R18), never makes a second Task however batches race (R15), is assigned by
the owner chain (R7, R8), and - deletions being off unless turned on - keeps or deletes its Task
when the note is deleted."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from activity_sync.domain import (
    SALESFORCE_EXTERNAL_ID_FIELD,
    HubSpotActivityType,
    HubSpotOwner,
    SalesforceUser,
    SyncType,
    TypeSettings,
)
from activity_sync.messages import ChangeKind, ChangeMessage, ChangeSource
from activity_sync.ports import CollectionWrite, WriteResult
from activity_sync.rules.switches import turn_on
from activity_sync.usecases.directories import ContactDirectory, OwnerDirectory
from activity_sync.usecases.hubspot_to_salesforce import HubSpotToSalesforce
from tests.fakes.queues import InMemoryChangeQueue
from tests.fakes.storage import InMemoryLinks, InMemorySettings, InMemorySyncState
from tests.fakes.vendors import InMemoryHubSpot, InMemorySalesforce

NOTES = SyncType.hubspot_to_salesforce(HubSpotActivityType.NOTE)
SWITCHED_ON = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
WRITTEN = "2026-12-02T10:00:00Z"
SYNCS, WAITS = "101", "102"  # a contact whose Salesforce Contact HubSpot knows; one with none yet


@dataclass
class World:
    hubspot: InMemoryHubSpot = field(default_factory=InMemoryHubSpot)
    salesforce: InMemorySalesforce = field(default_factory=InMemorySalesforce)
    settings: InMemorySettings = field(default_factory=InMemorySettings)
    links: InMemoryLinks = field(default_factory=InMemoryLinks)
    state: InMemorySyncState = field(default_factory=InMemorySyncState)
    queues: InMemoryChangeQueue = field(default_factory=InMemoryChangeQueue)

    def __post_init__(self) -> None:
        self.settings.save_type_settings(
            NOTES, turn_on(TypeSettings(task_type="Call"), SWITCHED_ON), by="test"
        )
        self.person = self.salesforce.add("Contact", {"LastName": "Syncs", "Email": "syncs@example.com"})
        created = "2026-01-01T00:00:00Z"
        self.hubspot.add(
            "contacts",
            SYNCS,
            {"email": "syncs@example.com", "createdate": created, "salesforcecontactid": self.person},
        )
        self.hubspot.add("contacts", WAITS, {"email": "waits@example.com", "createdate": created})

    def note(self, note_id: str, body: str, *contacts: str) -> tuple[str, ChangeMessage]:
        self.hubspot.add(
            "notes", note_id, {"hs_note_body": body, "hs_createdate": WRITTEN, "hs_timestamp": WRITTEN}
        )
        self.hubspot.link("notes", note_id, "contacts", *contacts)
        change = ChangeMessage(sync_type=NOTES.key, object_id=note_id, source=ChangeSource.HUBSPOT_WEBHOOK)
        return f"m-{note_id}", change

    def syncer(self, salesforce: InMemorySalesforce | None = None) -> HubSpotToSalesforce:
        vendor = salesforce or self.salesforce
        return HubSpotToSalesforce(
            HubSpotActivityType.NOTE,
            settings=self.settings,
            links=self.links,
            state=self.state,
            hubspot=self.hubspot,
            salesforce=vendor,
            queues=self.queues,
            owners=OwnerDirectory(lambda: self.hubspot, lambda: vendor, self.settings),
            contacts=ContactDirectory(lambda: self.hubspot, ttl_seconds=0),
        )

    def tasks(self, note_id: str) -> list[dict[str, object]]:
        key = f"hs:note:{note_id}"
        return [t for t in self.salesforce.of_type("Task") if t.get(SALESFORCE_EXTERNAL_ID_FIELD) == key]


def test_r3_a_note_becomes_one_task_on_the_contacts_person_and_its_redelivery_costs_no_call() -> None:
    world = World()
    message = world.note("1", "<p>Budget confirmed</p>", SYNCS)

    # When the note's change is handled
    result = world.syncer().handle([message])

    # Then one Task on the person, in one Salesforce call, and its link saved
    assert (result.retry, result.dead, result.defer) == ({}, {}, {})
    [task] = world.tasks("1")
    assert task["WhoId"] == world.person
    assert task["TaskSubtype"] == "Task"
    assert "Budget confirmed" in str(task["Description"])
    assert world.salesforce.calls["write_together"] == 1
    assert world.links.links("activity", ["hs:note:1"])["hs:note:1"].salesforce_id == task["Id"]

    # When the same change is delivered again (R15, R18)
    again = world.syncer().handle([message])

    # Then nothing more is written: still one Task, no second call
    assert (again.retry, again.dead) == ({}, {})
    assert len(world.tasks("1")) == 1
    assert world.salesforce.calls["write_together"] == 1
    assert world.state.outcome_figures(NOTES) == {"synced": 1, "skipped:unchanged": 1}


def test_r4_a_note_on_a_contact_that_does_not_sync_waits_for_it_and_asks_the_linker() -> None:
    world = World()

    # When a note on a contact with no Salesforce person is handled, with one on a contact that syncs
    result = world.syncer().handle([world.note("2", "Waits", WAITS), world.note("3", "Syncs", SYNCS)])

    # Then it waits under its contact, the contact linker is asked to look for a match, and the
    # other note is written in the same batch
    assert (result.retry, result.dead) == ({}, {})
    assert [w.key for w in world.state.waiting_for(WAITS)] == [f"{NOTES.key}#2"]
    assert [c.hubspot_contact_id for c in world.queues.take_contact_changes()] == [WAITS]
    assert world.tasks("2") == []
    assert len(world.tasks("3")) == 1
    assert world.state.outcome_figures(NOTES) == {"waiting:contact_not_syncing": 1, "synced": 1}


def test_r17_a_note_on_a_contact_hubspot_does_not_have_is_dead_lettered_with_the_reason() -> None:
    world = World()
    result = world.syncer().handle([world.note("4", "Nobody", "999")])
    assert result.dead == {"m-4": "no HubSpot contact 999"}
    assert world.tasks("4") == []


class RacingSalesforce(InMemorySalesforce):
    """An org in which, just before this batch writes, another batch of the same type writes the
    same note (its own delivery of the change): the two batches race."""

    def __init__(self, world: World, other: list[tuple[str, ChangeMessage]]) -> None:
        super().__init__()
        self.records = world.salesforce.records  # one org
        self.calls = world.salesforce.calls
        self._world, self._other = world, other
        self.raced = False

    def write_together(self, writes: Sequence[CollectionWrite]) -> list[list[WriteResult]]:
        if not self.raced:
            self.raced = True
            self._world.syncer().handle(self._other)  # the other batch writes first
        return super().write_together(writes)


def test_r15_a_task_another_batch_made_meanwhile_with_the_same_fields_costs_no_second_call() -> None:
    world = World()
    message = world.note("5", "Raced", SYNCS)
    racing = RacingSalesforce(world, [("m-other", message[1])])

    # When this batch writes the note while another batch has just written it
    result = world.syncer(racing).handle([message])

    # Then its creation was refused (the Task exists) and settled without another call: one
    # write call per batch, no upsert to update it, one Task
    assert (result.retry, result.dead) == ({}, {})
    assert len(world.tasks("5")) == 1
    assert world.salesforce.calls["write_together"] == 2
    assert world.salesforce.calls["upsert"] == 0
    assert world.state.outcome_figures(NOTES) == {"synced": 1, "skipped:unchanged": 1}


def test_r15_a_task_whose_link_was_lost_is_updated_in_place_not_made_twice() -> None:
    world = World()
    message = world.note("6", "First words", SYNCS)
    world.syncer().handle([message])
    [task] = world.tasks("6")
    # Given the link lost, and the note edited since
    world.links.unlink(world.links.links("activity", ["hs:note:6"]).values())
    world.hubspot.add(
        "notes", "6", {"hs_note_body": "Second words", "hs_createdate": WRITTEN, "hs_timestamp": WRITTEN}
    )

    # When the edit is handled
    result = world.syncer().handle([message])

    # Then the creation was refused, and the Task updated in place with what an update may set
    assert (result.retry, result.dead) == ({}, {})
    [updated] = world.tasks("6")
    assert updated["Id"] == task["Id"]
    assert "Second words" in str(updated["Description"])
    assert world.salesforce.calls["upsert"] == 1
    assert world.links.links("activity", ["hs:note:6"])["hs:note:6"].salesforce_id == task["Id"]


# -- Assigned To (R7, R8) ---------------------------------------------------------------------------

ANA, CARLA, GONE = "005000000000002AAA", "005000000000003AAA", "005000000000004AAA"


def _owned(world: World) -> None:
    """HubSpot owners Ana (a Salesforce user by another case of her email), Gil (whose Salesforce
    user is inactive) and Carla (the contact's owner), and their Salesforce users."""
    world.hubspot.owner_list = [
        HubSpotOwner("9", "Ana@Example.com"),
        HubSpotOwner("8", "gil@example.com"),
        HubSpotOwner("7", "carla@example.com"),
    ]
    world.salesforce.users += [
        SalesforceUser(ANA, "ana@example.com"),
        SalesforceUser(GONE, "gil@example.com", is_active=False),
        SalesforceUser(CARLA, "carla@example.com"),
    ]
    contact = world.hubspot.objects["contacts"][SYNCS]
    world.hubspot.add("contacts", SYNCS, {**contact.properties, "hubspot_owner_id": "7"})


def _note_owned_by(world: World, note_id: str, owner: str | None) -> tuple[str, ChangeMessage]:
    message = world.note(note_id, "Owned", SYNCS)
    note = world.hubspot.objects["notes"][note_id]
    world.hubspot.add("notes", note_id, {**note.properties, "hubspot_owner_id": owner})
    return message


def test_r7_r8_the_notes_owner_mapped_by_email_whatever_its_case_is_assigned_the_task() -> None:
    world = World()
    _owned(world)
    world.syncer().handle([_note_owned_by(world, "21", "9")])
    assert [t["OwnerId"] for t in world.tasks("21")] == [ANA]


def test_r7_r8_an_owner_whose_salesforce_user_is_inactive_gives_way_to_the_contacts_owner() -> None:
    world = World()
    _owned(world)
    world.syncer().handle([_note_owned_by(world, "22", "8"), _note_owned_by(world, "23", None)])
    assert [t["OwnerId"] for t in world.tasks("22")] == [CARLA]
    assert [t["OwnerId"] for t in world.tasks("23")] == [CARLA]  # no owner of its own: the contact's


def test_r7_with_no_owner_mapped_the_integration_user_is_assigned_the_task() -> None:
    world = World()
    world.syncer().handle([_note_owned_by(world, "24", "9")])  # no Salesforce user for anyone
    assert [t["OwnerId"] for t in world.tasks("24")] == [world.salesforce.user_id]


# -- deletions (off by default) ---------------------------------------------------------------------


def _deleted(note_id: str) -> tuple[str, ChangeMessage]:
    change = ChangeMessage(
        sync_type=NOTES.key, object_id=note_id, source=ChangeSource.HUBSPOT_WEBHOOK, kind=ChangeKind.DELETION
    )
    return f"m-deleted-{note_id}", change


def test_a_note_deleted_in_hubspot_keeps_its_task_by_default_and_the_pair_ends() -> None:
    world = World()
    world.syncer().handle([world.note("31", "Kept", SYNCS)])
    [task] = world.tasks("31")

    result = world.syncer().handle([_deleted("31")])

    assert (result.retry, result.dead) == ({}, {})
    assert world.tasks("31") == [task]
    assert world.salesforce.calls["delete"] == 0
    assert world.links.links("activity", ["hs:note:31"]) == {}


def test_with_deletions_on_a_note_deleted_in_hubspot_deletes_its_task() -> None:
    world = World()
    world.syncer().handle([world.note("32", "Gone", SYNCS)])
    world.settings.set_sync_deletions(True)

    world.syncer().handle([_deleted("32")])

    assert world.tasks("32") == []
    assert world.salesforce.calls["delete"] == 1
    assert world.links.links("activity", ["hs:note:32"]) == {}


def test_r16_a_note_whose_text_holds_a_lone_surrogate_fails_nothing_else_and_syncs_readable() -> None:
    # Given a note whose body carries a stray escape HubSpot's JSON let through, and a sound one
    world = World()
    stray = world.note("41", "Budget \ud800 confirmed", SYNCS)
    sound = world.note("42", "Signed", SYNCS)

    # When both are handled in one batch
    result = world.syncer().handle([stray, sound])

    # Then both become Tasks: the unreadable code point replaced, nothing retried or dead-lettered
    assert (result.retry, result.dead) == ({}, {})
    [task] = world.tasks("41")
    assert "Budget \ufffd confirmed" in str(task["Description"])
    assert len(world.tasks("42")) == 1
