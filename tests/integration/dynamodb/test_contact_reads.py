"""R4/R6/R7/R18: a linked contact is read from HubSpot once for the whole stack, not once a minute
per container: the read is kept in its link, which every syncer reads anyway, until it is five
minutes old; the contact linker keeps each read it makes there too (a new owner, say)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from typing import Any, cast

from activity_sync.adapters.dynamodb import LinkRepository
from activity_sync.ports import HubSpotApi, HubSpotRecord, Link
from activity_sync.usecases.directories import CONTACT_READ_SECONDS, ContactDirectory

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
LEAD = "00Q000000000001AAA"


class Portal:
    """HubSpot's contacts, read in batches and counted."""

    def __init__(self) -> None:
        self.owners = {"c1": "77", "c2": "78", "c3": "79"}
        self.reads: list[list[str]] = []

    def read_objects(
        self, object_type: str, ids: Sequence[str], properties: Sequence[str]
    ) -> dict[str, HubSpotRecord]:
        assert object_type == "contacts"
        self.reads.append(sorted(ids))
        return {
            i: HubSpotRecord(i, {"createdate": "2025-01-01T00:00:00Z", "hubspot_owner_id": self.owners[i]})
            for i in ids
            if i in self.owners
        }


class Now:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> dt.datetime:
        return self.at


def _container(portal: Portal, now: Now, links: LinkRepository) -> ContactDirectory:
    # the per-container cache is off: what is shown is what the links carry from one to another
    return ContactDirectory(lambda: cast(HubSpotApi, portal), ttl_seconds=0, links=links, now=now)


def _linked(links: LinkRepository, *contact_ids: str) -> None:
    links.save(Link("contact", c, LEAD[:-3] + c[-1] + "AA", "email") for c in contact_ids)


def test_r18_a_linked_contact_read_by_one_container_costs_the_others_no_call(tables: dict[str, Any]) -> None:
    # Given two linked contacts, an unlinked one, and two syncer containers
    links, portal, now = LinkRepository(), Portal(), Now()
    _linked(links, "c1", "c2")
    first, second = _container(portal, now, links), _container(portal, now, links)

    # When the first needs the three contacts, then the second a minute later
    read_first = first.read(["c1", "c2", "c3"], links=links.links("contact", ["c1", "c2", "c3"]))
    now.at += dt.timedelta(minutes=1)
    read_second = second.read(["c1", "c2", "c3"], links=links.links("contact", ["c1", "c2", "c3"]))

    # Then HubSpot was read once for the linked ones: the second took them from their links, with
    # what R6 and R7 read; only the unlinked contact was read again
    assert portal.reads == [["c1", "c2", "c3"], ["c3"]]
    for read in (read_first, read_second):
        assert {c: r.properties["hubspot_owner_id"] for c, r in read.items()} == {
            "c1": "77",
            "c2": "78",
            "c3": "79",
        }
        assert read["c1"].properties["createdate"] == "2025-01-01T00:00:00Z"


def test_r7_a_read_older_than_five_minutes_is_read_again_and_kept_anew(tables: dict[str, Any]) -> None:
    # Given a linked contact read at T0, whose owner then changed without any webhook
    links, portal, now = LinkRepository(), Portal(), Now()
    _linked(links, "c1")
    directory = _container(portal, now, links)
    directory.read(["c1"], links=links.links("contact", ["c1"]))
    portal.owners["c1"] = "99"

    # When it is needed just before and just after five minutes
    now.at = T0 + dt.timedelta(seconds=CONTACT_READ_SECONDS - 1)
    before = directory.read(["c1"], links=links.links("contact", ["c1"]))["c1"]
    now.at = T0 + dt.timedelta(seconds=CONTACT_READ_SECONDS)
    after = directory.read(["c1"], links=links.links("contact", ["c1"]))["c1"]

    # Then the kept read served until then, and the new owner after; the link keeps the new read
    assert (before.properties["hubspot_owner_id"], after.properties["hubspot_owner_id"]) == ("77", "99")
    assert len(portal.reads) == 2
    kept = links.links("contact", ["c1"])["c1"].contact or {}
    assert (kept["hubspot_owner_id"], kept["read_at"]) == ("99", now.at.isoformat())


def test_r4_contacts_woken_because_they_started_to_sync_are_always_read_afresh(
    tables: dict[str, Any],
) -> None:
    # Given a linked contact read a moment ago
    links, portal, now = LinkRepository(), Portal(), Now()
    _linked(links, "c1")
    directory = _container(portal, now, links)
    directory.read(["c1"], links=links.links("contact", ["c1"]))

    # When it is needed fresh (its activities were woken because it started to sync)
    directory.read(["c1"], fresh=["c1"], links=links.links("contact", ["c1"]))

    # Then HubSpot is read again
    assert portal.reads == [["c1"], ["c1"]]


def test_r18_reads_are_kept_in_one_request_and_never_over_a_link_rewritten_meanwhile(
    tables: dict[str, Any], requests_sent: Counter[str]
) -> None:
    # Given three linked contacts, their links read, and then one of them re-linked (the contact
    # linker found a converted Lead's Contact, say) before the reads are kept
    links = LinkRepository()
    _linked(links, "c1", "c2", "c3")
    stale = links.links("contact", ["c1", "c2", "c3"])
    read_at = {"read_at": T0.isoformat(), "createdate": "2025-01-01T00:00:00Z"}
    links.save([Link("contact", "c3", "003000000000003AAA", "email")])
    requests_sent.clear()

    # When reads of all three are kept, on the links as read
    kept = links.refresh_contacts(
        [(stale[c], {**read_at, "hubspot_owner_id": c}) for c in ("c1", "c2", "c3")]
    )

    # Then nothing is kept - not over the new link, nor the two beside it - in one request; the
    # next read tries again
    assert kept == 0
    assert requests_sent == Counter({"TransactWriteItems": 1})
    now_linked = links.links("contact", ["c1", "c2", "c3"])
    assert [now_linked[c].contact for c in ("c1", "c2", "c3")] == [None, None, None]
    assert now_linked["c3"].salesforce_id == "003000000000003AAA"

    # When the two untouched ones are kept on their links as read
    assert links.refresh_contacts([(stale[c], {**read_at, "hubspot_owner_id": c}) for c in ("c1", "c2")]) == 2

    # Then they hold the read, and their links are otherwise as they were
    after = links.links("contact", ["c1", "c2"])
    assert [(after[c].contact or {}).get("hubspot_owner_id") for c in ("c1", "c2")] == ["c1", "c2"]
    assert [after[c].salesforce_id for c in ("c1", "c2")] == [stale[c].salesforce_id for c in ("c1", "c2")]
    assert [after[c].updated_at for c in ("c1", "c2")] == [stale[c].updated_at for c in ("c1", "c2")]


def test_r7_of_two_reads_kept_at_once_the_later_one_stays_whichever_lands_first(
    tables: dict[str, Any],
) -> None:
    # Given a linked contact whose link two readers hold as read: a syncer that read owner 77 at
    # T0, and the contact linker that read the new owner 99 a second later (its webhook)
    links = LinkRepository()
    _linked(links, "c1", "c2")
    held = links.links("contact", ["c1", "c2"])

    def read(owner: str, at: dt.datetime) -> dict[str, str]:
        return {"read_at": at.isoformat(), "createdate": "2025-01-01T00:00:00Z", "hubspot_owner_id": owner}

    older, newer = read("77", T0), read("99", T0 + dt.timedelta(seconds=1))

    # When, for c1, the newer read is kept first and then the older; for c2 the other way round
    assert links.refresh_contacts([(held["c1"], newer)]) == 1
    assert links.refresh_contacts([(held["c1"], older)]) == 0
    assert links.refresh_contacts([(held["c2"], older)]) == 1
    assert links.refresh_contacts([(held["c2"], newer)]) == 1

    # Then both keep the new owner
    kept = links.links("contact", ["c1", "c2"])
    assert [(kept[c].contact or {}).get("hubspot_owner_id") for c in ("c1", "c2")] == ["99", "99"]


class Salesforce:
    """People by email: every email is one Contact."""

    def __init__(self) -> None:
        self.lookups = 0

    def people_by_email(self, emails: Sequence[str]) -> dict[str, dict[str, list[str]]]:
        self.lookups += 1
        return {email: {"Contact": ["003000000000007AAA"]} for email in emails}


def test_r4_r18_a_recheck_that_finds_the_same_person_keeps_the_read_and_rewrites_no_link(
    tables: dict[str, Any], requests_sent: Counter[str]
) -> None:
    # Given a contact the linker linked by email
    from activity_sync.adapters.dynamodb import SettingsRepository, SyncStateRepository
    from activity_sync.usecases.link_contacts import ContactLinker

    links = LinkRepository()

    class Portal:
        def read_objects(
            self, object_type: str, ids: Sequence[str], properties: Sequence[str]
        ) -> dict[str, HubSpotRecord]:
            return {
                i: HubSpotRecord(
                    i,
                    {
                        "email": "rita@example.com",
                        "createdate": "2025-01-01T00:00:00Z",
                        "hubspot_owner_id": "77",
                    },
                )
                for i in ids
            }

    linker = ContactLinker(
        settings=SettingsRepository(),
        links=links,
        state=SyncStateRepository(),
        hubspot=cast(HubSpotApi, Portal()),
        salesforce=cast(Any, Salesforce()),
        queues=cast(Any, None),
    )
    assert linker.link(["c9"]) == {"c9": "003000000000007AAA"}
    first = links.links("contact", ["c9"])["c9"]
    requests_sent.clear()

    # When Salesforce's side asks for it to be checked again and it matches the same person
    assert linker.link(["c9"], recheck={"c9"}) == {"c9": "003000000000007AAA"}

    # Then the link is not rewritten: only the new read is kept, in one transaction
    assert requests_sent["BatchWriteItem"] == 0
    assert requests_sent["TransactWriteItems"] == 1
    again = links.links("contact", ["c9"])["c9"]
    assert again.updated_at == first.updated_at
    assert (again.contact or {})["read_at"] > (first.contact or {})["read_at"]
