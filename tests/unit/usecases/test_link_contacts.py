"""R4 (``usecases.link_contacts``) through the contact linker's public ``handle``, on in-memory
ports: a contact whose email matches a Salesforce Contact or Lead is linked and the activities that
waited for it are queued again; one with no match stays unlinked and its activities keep waiting;
a contact linked before whose email did not change costs no Salesforce query (R18)."""

from __future__ import annotations

from activity_sync.domain import HubSpotActivityType, SyncType
from activity_sync.messages import ChangeMessage, ChangeSource, ContactChangeMessage
from activity_sync.usecases.link_contacts import ContactLinker
from tests.fakes.queues import InMemoryChangeQueue
from tests.fakes.storage import InMemoryLinks, InMemorySettings, InMemorySyncState
from tests.fakes.vendors import InMemoryHubSpot, InMemorySalesforce

NOTES = SyncType.hubspot_to_salesforce(HubSpotActivityType.NOTE)
CREATED = "2026-01-01T00:00:00Z"


class World:
    def __init__(self) -> None:
        self.hubspot = InMemoryHubSpot()
        self.salesforce = InMemorySalesforce()
        self.links = InMemoryLinks()
        self.state = InMemorySyncState()
        self.queues = InMemoryChangeQueue()
        self.linker = ContactLinker(
            settings=InMemorySettings(),
            links=self.links,
            state=self.state,
            hubspot=self.hubspot,
            salesforce=self.salesforce,
            queues=self.queues,
        )

    def contact(self, contact_id: str, email: str) -> None:
        self.hubspot.add("contacts", contact_id, {"email": email, "createdate": CREATED})

    def park(self, contact_id: str, *note_ids: str) -> None:
        self.state.add_waiting_many(
            (
                [contact_id],
                NOTES,
                note_id,
                ChangeMessage(
                    sync_type=NOTES.key, object_id=note_id, source=ChangeSource.CONTACT_STARTED_SYNCING
                ).to_dict(),
                "contact_not_syncing",
            )
            for note_id in note_ids
        )

    def handle(self, *contact_ids: str, source: ChangeSource = ChangeSource.ACTIVITY_WAITING) -> None:
        result = self.linker.handle(
            [(f"m-{c}", ContactChangeMessage(hubspot_contact_id=c, source=source)) for c in contact_ids]
        )
        assert (result.retry, result.dead, result.defer) == ({}, {}, {})


def test_r4_a_contact_matching_a_salesforce_contact_by_email_is_linked_and_its_activities_wake() -> None:
    world = World()
    # Given a contact with two notes waiting for it, and a rep's new Contact with the same email
    world.contact("102", "Dora@Example.com")
    world.park("102", "n1", "n2")
    person = world.salesforce.add("Contact", {"LastName": "Duarte", "Email": "dora@example.com"})

    # When the contact is checked
    world.handle("102")

    # Then it is linked to that Contact, both notes are queued again and wait no more, for one
    # HubSpot read and one Salesforce look-up by email
    assert world.links.links("contact", ["102"])["102"].salesforce_id == person
    assert sorted(c.object_id for c in world.queues.take(NOTES.key)) == ["n1", "n2"]
    assert world.state.waiting_for("102") == []
    assert (world.hubspot.calls["read_objects"], world.salesforce.calls["people_by_email"]) == (1, 1)


def test_r4_a_contact_with_no_salesforce_person_stays_unlinked_and_its_activities_keep_waiting() -> None:
    world = World()
    world.contact("103", "nobody@example.com")
    world.park("103", "n3")

    world.handle("103")

    assert world.links.links("contact", ["103"]) == {}
    assert world.queues.take(NOTES.key) == []
    assert [w.activity_id for w in world.state.waiting_for("103")] == ["n3"]


def test_r18_a_linked_contact_whose_email_did_not_change_costs_no_salesforce_query() -> None:
    world = World()
    world.contact("104", "eva@example.com")
    world.salesforce.add("Lead", {"LastName": "Eva", "Company": "Acme", "Email": "eva@example.com"})
    world.handle("104")
    assert world.salesforce.calls["people_by_email"] == 1

    # When HubSpot reports a change of another of its properties
    world.handle("104", source=ChangeSource.HUBSPOT_WEBHOOK)

    # Then it is read (its owner may have changed: the read is kept in the link), not matched again
    assert world.salesforce.calls["people_by_email"] == 1
    assert world.hubspot.calls["read_objects"] == 2
