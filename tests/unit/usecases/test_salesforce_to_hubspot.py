"""Salesforce -> HubSpot (``usecases.salesforce_to_hubspot``) through its public ``handle``, on
in-memory ports: a rep's Task becomes one HubSpot task on the contact with the person's email
(R10, R12), once however often it is notified (R15, R18); the service's own writes are not copied
back (R14); a Task on a person HubSpot has no contact for is dead-lettered with the reason (R17);
nothing older than the switch is copied (R11); a Task deleted in Salesforce keeps its HubSpot copy
unless deletions are turned on."""

from __future__ import annotations

import datetime as dt

from activity_sync.domain import (
    HUBSPOT_SALESFORCE_ID_PROPERTY,
    SALESFORCE_EXTERNAL_ID_FIELD,
    SalesforceActivityType,
    SyncType,
    TypeSettings,
)
from activity_sync.messages import ChangeKind, ChangeMessage, ChangeSource
from activity_sync.ports import Link
from activity_sync.rules.echo import fingerprint
from activity_sync.rules.switches import turn_on
from activity_sync.usecases.batch import BatchResult
from activity_sync.usecases.directories import OwnerDirectory
from activity_sync.usecases.salesforce_to_hubspot import SalesforceToHubSpot
from tests.fakes.storage import InMemoryLinks, InMemorySettings, InMemorySyncState
from tests.fakes.vendors import InMemoryHubSpot, InMemorySalesforce

TASKS = SyncType.salesforce_to_hubspot(SalesforceActivityType.TASK)
SWITCHED_ON = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
AFTER = "2026-12-02T10:00:00.000+0000"
BEFORE = "2026-11-20T10:00:00.000+0000"
REP = "005000000000002AAA"


class World:
    def __init__(self) -> None:
        self.hubspot = InMemoryHubSpot()
        self.salesforce = InMemorySalesforce()
        self.settings = InMemorySettings()
        self.links = InMemoryLinks()
        self.state = InMemorySyncState()
        self.settings.save_type_settings(TASKS, turn_on(TypeSettings(), SWITCHED_ON), by="test")
        self.person = self.salesforce.add("Contact", {"LastName": "Duarte", "Email": "dora@example.com"})
        self.stranger = self.salesforce.add("Contact", {"LastName": "Nobody", "Email": "nobody@example.com"})
        self.hubspot.add("contacts", "201", {"email": "dora@example.com"})

    def task(self, subject: str, *, who: str, created: str = AFTER, by: str = REP) -> str:
        return self.salesforce.add(
            "Task",
            {
                "Subject": subject,
                "TaskSubtype": "Task",
                "Status": "Not Started",
                "Priority": "Normal",
                "WhoId": who,
                "OwnerId": REP,
                "CreatedDate": created,
                "LastModifiedDate": created,
                "SystemModstamp": created,
                "LastModifiedById": by,
            },
        )

    def syncer(self) -> SalesforceToHubSpot:
        return SalesforceToHubSpot(
            SalesforceActivityType.TASK,
            settings=self.settings,
            links=self.links,
            state=self.state,
            hubspot=self.hubspot,
            salesforce=self.salesforce,
            owners=OwnerDirectory(lambda: self.hubspot, lambda: self.salesforce, self.settings),
        )

    def handle(self, *task_ids: str) -> BatchResult:
        return self.syncer().handle(
            [
                (
                    f"m-{task_id}",
                    ChangeMessage(
                        sync_type=TASKS.key,
                        object_id=task_id,
                        source=ChangeSource.SALESFORCE_OUTBOUND_MESSAGE,
                    ),
                )
                for task_id in task_ids
            ]
        )

    def copies(self, task_id: str) -> list[str]:
        return [
            r.id
            for r in self.hubspot.records("tasks")
            if r.properties.get(HUBSPOT_SALESFORCE_ID_PROPERTY) == task_id
        ]


def test_r12_a_reps_task_becomes_one_hubspot_task_on_the_contact_with_the_persons_email() -> None:
    world = World()
    task = world.task("Call back about renewal", who=world.person)

    result = world.handle(task)

    # Then one HubSpot task, made with its association in one call, on the contact found by email
    assert (result.retry, result.dead, result.defer) == ({}, {}, {})
    [copy] = world.copies(task)
    assert world.hubspot.records("tasks")[0].properties["hs_task_subject"] == "Call back about renewal"
    assert world.hubspot.associations[("tasks", copy, "contacts")] == ["201"]
    assert world.hubspot.calls["create_objects"] == 1
    # And both links are kept: the copy's, and the contact's (matched by email)
    link = world.links.by_salesforce_id(task)
    assert link is not None
    assert (link.hubspot_object_type, link.hubspot_id) == ("tasks", copy)
    assert world.links.links("contact", ["201"])["201"].salesforce_id == world.person

    # When the same notification comes again (R15, R18): nothing more is written
    again = world.handle(task)
    assert (again.retry, again.dead) == ({}, {})
    assert world.copies(task) == [copy]
    assert (world.hubspot.calls["create_objects"], world.hubspot.calls["upsert_objects"]) == (1, 0)


def test_r14_a_task_the_service_wrote_coming_back_is_not_copied_back() -> None:
    world = World()
    # Given a Task the service wrote from a HubSpot note, and its link as the note's syncer saves it
    task = world.task("Note: Budget confirmed", who=world.person, by=world.salesforce.user_id)
    world.salesforce.records[task][SALESFORCE_EXTERNAL_ID_FIELD] = "hs:note:7"
    written = {"Subject": "Note: Budget confirmed", "Status": "Not Started", "Priority": "Normal"}
    world.links.save(
        [
            Link(
                "activity",
                "hs:note:7",
                task,
                "sync",
                fingerprint(written),
                "salesforce",
                {"fields": sorted(written)},
            )
        ]
    )

    # When its Outbound Message comes
    result = world.handle(task)

    # Then it is known as the service's own write: nothing is copied to HubSpot
    assert (result.retry, result.dead) == ({}, {})
    assert world.copies(task) == []
    assert world.state.outcome_figures(TASKS) == {"skipped:echo": 1}


def test_r17_a_task_on_a_person_hubspot_has_no_contact_for_is_dead_lettered_with_the_reason() -> None:
    world = World()
    task = world.task("For nobody", who=world.stranger)

    result = world.handle(task)

    assert list(result.dead) == [f"m-{task}"]
    assert f"no HubSpot contact for {world.stranger}" in result.dead[f"m-{task}"]
    assert world.copies(task) == []


def test_r11_a_task_from_before_the_switch_is_not_copied() -> None:
    world = World()
    task = world.task("Last month", who=world.person, created=BEFORE)

    world.handle(task)

    assert world.copies(task) == []
    assert world.state.outcome_figures(TASKS) == {"skipped:outside_window": 1}


def _delete(world: World, task_id: str) -> BatchResult:
    """The Task deleted in Salesforce, its deletion handled."""
    world.salesforce.records.pop(task_id)
    deleted = ChangeMessage(
        sync_type=TASKS.key, object_id=task_id, source=ChangeSource.SALESFORCE_POLL, kind=ChangeKind.DELETION
    )
    return world.syncer().handle([(f"m-deleted-{task_id}", deleted)])


def test_a_task_deleted_in_salesforce_keeps_its_hubspot_copy_by_default_and_the_pair_ends() -> None:
    world = World()
    task = world.task("Kept", who=world.person)
    world.handle(task)
    [copy] = world.copies(task)

    result = _delete(world, task)

    assert (result.retry, result.dead) == ({}, {})
    assert world.copies(task) == [copy]
    assert world.hubspot.calls["archive_objects"] == 0
    assert world.links.by_salesforce_id(task) is None


def test_with_deletions_on_a_task_deleted_in_salesforce_archives_its_hubspot_copy() -> None:
    world = World()
    task = world.task("Gone", who=world.person)
    world.handle(task)
    world.settings.set_sync_deletions(True)

    _delete(world, task)

    assert world.copies(task) == []
    assert world.hubspot.calls["archive_objects"] == 1
    assert world.links.by_salesforce_id(task) is None


def test_r16_a_task_whose_subject_holds_a_lone_surrogate_fails_nothing_else_and_syncs_readable() -> None:
    world = World()
    stray = world.task("Call \udfff back", who=world.person)
    sound = world.task("Send the quote", who=world.person)

    result = world.handle(stray, sound)

    assert (result.retry, result.dead) == ({}, {})
    [copy] = world.copies(stray)
    subjects = {r.id: r.properties["hs_task_subject"] for r in world.hubspot.records("tasks")}
    assert subjects[copy] == "Call \ufffd back"
    assert len(world.copies(sound)) == 1
