"""Records that live on: edits on one side update the twin on the other (R3), repeats change nothing
(R15), and edits on both sides end with exactly one record on each side and no ping-pong (R14).

Alice is a Salesforce Contact owned by Ana, with a HubSpot contact owned by Ana. The story runs in
rounds, each drained before the next:

1. Ana writes three notes and two tasks in HubSpot and logs two tasks in Salesforce; one note's
   creation webhook is delivered twice more.
2. Ana edits the note; completes one HubSpot task in HubSpot, the other's Task in Salesforce;
   completes, in HubSpot, the copy of her Salesforce task; and hands another one to Bruno.
3. Ana renames the Salesforce task in Salesforce; the admin pauses the note switch (off, then on
   again) and Ana edits a note synced before the pause.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from activity_sync.domain import HUBSPOT_SALESFORCE_ID_PROPERTY, HubSpotActivityType, SalesforceActivityType
from tests.e2e.support import E2E, h2s, s2h

pytestmark = pytest.mark.e2e


@dataclasses.dataclass
class Story:
    alice_sf: str
    alice: str
    hubspot_ids: dict[str, str]  # HubSpot note/task ids by name
    salesforce_ids: dict[str, str]  # Salesforce Task ids by name, as they were after round 1
    observed: dict[str, Any]  # what the admins saw between rounds
    duplicate_answers: list[int]  # the receiver's answers to the repeated webhook deliveries


def _one(rows: list[dict[str, Any]], what: str) -> dict[str, Any]:
    assert len(rows) == 1, f"{what}: expected exactly one, found {len(rows)}: {rows}"
    return rows[0]


def _task_of(e2e: E2E, kind: str, hubspot_id: str) -> dict[str, Any]:
    return _one(e2e.salesforce.tasks_for_activity(f"hs:{kind}:{hubspot_id}"), f"Task for {kind} {hubspot_id}")


def _hubspot_copies(e2e: E2E, salesforce_id: str) -> list[dict[str, Any]]:
    return e2e.hubspot.search_eq(
        "tasks", HUBSPOT_SALESFORCE_ID_PROPERTY, salesforce_id, ["hs_task_subject", "hs_task_status"]
    )


@pytest.fixture(scope="module")
def story(e2e: E2E) -> Story:
    hubspot, salesforce = e2e.hubspot, e2e.salesforce
    email = e2e.tag("alice")
    alice_sf = salesforce.person("Contact", email, owner="ana", last_name="Almeida")
    alice = hubspot.contact(email, owner="ana")
    e2e.drain()
    for sync_type in (
        h2s(HubSpotActivityType.NOTE),
        h2s(HubSpotActivityType.TASK),
        s2h(SalesforceActivityType.TASK),
    ):
        e2e.switch_on(sync_type)

    # Round 1: new records on both sides
    hs = {
        "note": hubspot.engagement("notes", {"hs_note_body": "First version"}, [alice], owner="ana"),
        "toggled": hubspot.engagement("notes", {"hs_note_body": "Before the pause"}, [alice], owner="ana"),
        "duplicated": hubspot.engagement(
            "notes", {"hs_note_body": "Delivered three times"}, [alice], owner="ana"
        ),
        "done_in_hubspot": hubspot.engagement(
            "tasks",
            {"hs_task_subject": "Send the proposal", "hs_task_status": "NOT_STARTED"},
            [alice],
            owner="ana",
        ),
        "done_in_salesforce": hubspot.engagement(
            "tasks", {"hs_task_subject": "Call back", "hs_task_status": "NOT_STARTED"}, [alice], owner="ana"
        ),
    }
    sf = {
        "rep_task": salesforce.create(
            "Task",
            {
                "Subject": "Prepare the contract",
                "Status": "Not Started",
                "TaskSubtype": "Task",
                "WhoId": alice_sf,
            },
            as_user="ana",
        ),
        "reassigned": salesforce.create(
            "Task", {"Subject": "Check the invoice", "TaskSubtype": "Task", "WhoId": alice_sf}, as_user="ana"
        ),
    }
    # HubSpot delivers the duplicated note's creation webhook twice more (R15: at-least-once)
    e2e.world.flush()
    deliveries = hubspot.admin("GET", "webhooks/deliveries")["deliveries"]
    creation = [
        event
        for delivery in deliveries
        for event in delivery["events"]
        if str(event.get("objectId")) == hs["duplicated"] and event["subscriptionType"] == "object.creation"
    ]
    assert creation, deliveries
    answers = [e2e.signed_hubspot_post(json.dumps(creation[:1])).status_code for _ in range(2)]
    e2e.drain()
    observed: dict[str, Any] = {}
    for name in ("note", "duplicated", "toggled"):
        sf[name] = _task_of(e2e, "note", hs[name])["Id"]
    for name in ("done_in_hubspot", "done_in_salesforce"):
        sf[name] = _task_of(e2e, "task", hs[name])["Id"]
    hs["rep_task_copy"] = _one(_hubspot_copies(e2e, sf["rep_task"]), "copy of the rep's task")["id"]
    hs["reassigned_copy"] = _one(_hubspot_copies(e2e, sf["reassigned"]), "copy of the invoice task")["id"]
    observed["reassigned_owner_before"] = hubspot.read("tasks", hs["reassigned_copy"], ["hubspot_owner_id"])[
        "hubspot_owner_id"
    ]

    # Round 2: edits
    hubspot.update("notes", hs["note"], {"hs_note_body": "Second version"})
    hubspot.update("tasks", hs["done_in_hubspot"], {"hs_task_status": "COMPLETED"})
    salesforce.update("Task", sf["done_in_salesforce"], {"Status": "Completed"}, as_user="ana")
    hubspot.update("tasks", hs["rep_task_copy"], {"hs_task_status": "COMPLETED"})
    salesforce.update("Task", sf["reassigned"], {"OwnerId": salesforce.users["bruno"]}, as_user="ana")
    e2e.drain()
    observed["rep_task_after_hubspot_completion"] = salesforce.get("Task", sf["rep_task"])["Status"]

    # Round 3: the Salesforce task is renamed in Salesforce; the note switch is paused and resumed,
    # and a note synced before the pause is edited
    salesforce.update("Task", sf["rep_task"], {"Subject": "Prepare the contract (v2)"}, as_user="ana")
    e2e.switch_off(h2s(HubSpotActivityType.NOTE))
    e2e.switch_on(h2s(HubSpotActivityType.NOTE))
    hubspot.update("notes", hs["toggled"], {"hs_note_body": "After the pause"})
    e2e.drain()
    return Story(alice_sf, alice, hs, sf, observed, answers)


def test_r3_an_edited_hubspot_note_updates_the_same_task(e2e: E2E, story: Story) -> None:
    # Given a note synced as a Task (round 1)
    # When it was edited in HubSpot (round 2)
    task = _task_of(e2e, "note", story.hubspot_ids["note"])

    # Then the same Task carries the new text; no second Task exists
    assert task["Id"] == story.salesforce_ids["note"]
    assert task["Subject"] == "Note: Second version"
    assert task["Description"] == "Second version"


def test_r3_a_synced_note_still_updates_its_task_after_its_switch_was_turned_off_and_on(
    e2e: E2E, story: Story
) -> None:
    # Given a note synced as a Task (round 1)
    # When the note switch was turned off and on again, and then the note was edited (round 3)
    task = _task_of(e2e, "note", story.hubspot_ids["toggled"])

    # Then the same Task carries the edit: pausing a type does not freeze what it already synced
    assert task["Id"] == story.salesforce_ids["toggled"]
    assert task["Subject"] == "Note: After the pause", e2e.figures(h2s(HubSpotActivityType.NOTE))


def test_r3_a_task_completed_in_hubspot_completes_the_same_salesforce_task(e2e: E2E, story: Story) -> None:
    # Given a HubSpot task synced as a Salesforce Task (round 1)
    # When it was completed in HubSpot (round 2)
    task = _task_of(e2e, "task", story.hubspot_ids["done_in_hubspot"])

    # Then the same Task is completed
    assert task["Id"] == story.salesforce_ids["done_in_hubspot"]
    assert task["Status"] == "Completed"


def test_r15_a_duplicate_webhook_delivery_makes_no_second_task(e2e: E2E, story: Story) -> None:
    # Given a note whose creation webhook HubSpot delivered three times, all accepted
    assert story.duplicate_answers == [200, 200]
    # When everything was processed (round 1)
    tasks = e2e.salesforce.tasks_for_activity(f"hs:note:{story.hubspot_ids['duplicated']}")

    # Then there is one Task for it
    assert [t["Id"] for t in tasks] == [story.salesforce_ids["duplicated"]]


def test_r14_hubspot_task_completed_in_salesforce_ends_as_one_record_on_each_side(
    e2e: E2E, story: Story
) -> None:
    hubspot_id = story.hubspot_ids["done_in_salesforce"]
    # Given a HubSpot task synced to Salesforce (round 1)
    # When a rep completed its Task in Salesforce (round 2)
    task = _task_of(e2e, "task", hubspot_id)
    original = e2e.hubspot.read("tasks", hubspot_id, ["hs_task_status", "hs_task_subject"])
    copies_back = _hubspot_copies(e2e, task["Id"])

    # Then Salesforce has one Task, completed; HubSpot has the original task, completed, and no copy
    assert task["Id"] == story.salesforce_ids["done_in_salesforce"]
    assert task["Status"] == "Completed"
    assert original["hs_task_status"] == "COMPLETED"
    assert copies_back == []


def test_r14_salesforce_task_completed_in_hubspot_then_edited_in_salesforce_ends_as_one_record_on_each_side(
    e2e: E2E, story: Story
) -> None:
    rep_task = story.salesforce_ids["rep_task"]
    # Given a rep's Salesforce task synced to HubSpot (round 1), completed in HubSpot (round 2) and
    # renamed in Salesforce (round 3)
    # When the admins look on both sides
    in_salesforce = e2e.salesforce.tasks(
        f"WhoId = '{story.alice_sf}' AND Subject LIKE 'Prepare the contract%'"
    )
    in_hubspot = _hubspot_copies(e2e, rep_task)

    # Then there is exactly one record on each side: the original Task and its one HubSpot copy
    assert [t["Id"] for t in in_salesforce] == [rep_task]
    assert in_salesforce[0]["HubSpot_Activity_Id__c"] is None  # the original, not a copy of the copy
    assert [c["id"] for c in in_hubspot] == [story.hubspot_ids["rep_task_copy"]]
    # and the rename reached HubSpot
    assert in_hubspot[0]["hs_task_subject"] == "Prepare the contract (v2)"
    # and the completion made in HubSpot was neither lost on the way to Salesforce (R3: a task
    # completed in HubSpot updates its Salesforce Task) nor undone by the later rename
    assert story.observed["rep_task_after_hubspot_completion"] == "Completed"
    assert in_hubspot[0]["hs_task_status"] == "COMPLETED"


def test_r13_reassigning_a_salesforce_task_reassigns_its_hubspot_copy(e2e: E2E, story: Story) -> None:
    # Given Ana's Salesforce task synced to HubSpot as Ana's (round 1)
    assert story.observed["reassigned_owner_before"] == e2e.hubspot.owners["ana"]
    # When she assigned it to Bruno in Salesforce (round 2)
    copies = _hubspot_copies(e2e, story.salesforce_ids["reassigned"])

    # Then the same HubSpot task is now Bruno's
    assert [c["id"] for c in copies] == [story.hubspot_ids["reassigned_copy"]]
    owner = e2e.hubspot.read("tasks", copies[0]["id"], ["hubspot_owner_id"])["hubspot_owner_id"]
    assert owner == e2e.hubspot.owners["bruno"]


def test_r14_no_ping_pong_a_second_drain_makes_no_vendor_calls(e2e: E2E, story: Story) -> None:
    # Given everything above synced and drained
    before = (e2e.hubspot.counters()["total"], e2e.salesforce.counters()["total"])

    # When the stack is drained again (pending notifications flushed, queues emptied)
    e2e.drain()

    # Then neither vendor received a single call: nothing bounced back and forth
    after = (e2e.hubspot.counters()["total"], e2e.salesforce.counters()["total"])
    assert after == before, f"HubSpot, Salesforce calls before {before}, after {after}"


def test_r14_r15_an_overlapping_poll_over_everything_synced_writes_nothing(e2e: E2E, story: Story) -> None:
    # Given everything above synced and drained, all of it modified within the poll's overlap
    hubspot_seen = len(e2e.hubspot.admin("GET", "requests")["requests"])
    salesforce_seen = len(e2e.salesforce.admin("GET", "requests")["requests"])

    # When the poller runs (twice: a poll overlapping the previous one) and its changes are synced
    e2e.world.poll()
    e2e.world.poll()
    e2e.drain()

    # Then the vendors were only read: no record was created or changed on either side
    hubspot_writes = _writes(e2e.hubspot.admin("GET", "requests")["requests"][hubspot_seen:])
    salesforce_writes = _writes(e2e.salesforce.admin("GET", "requests")["requests"][salesforce_seen:])
    assert hubspot_writes == [], hubspot_writes
    assert salesforce_writes == [], salesforce_writes
    tasks = e2e.salesforce.tasks_on(story.alice_sf)
    assert len(tasks) == 7, [t["Subject"] for t in tasks]


READ_SUFFIXES = ("/search", "/batch/read", "/query", "/queryAll", "/oauth2/token")


def _writes(entries: list[dict[str, Any]]) -> list[str]:
    """The requests that create or change records (searches, batch reads and composite requests
    made of queries are POSTs too)."""
    return [
        f"{e['method']} {e['path']}"
        for e in entries
        if e["method"] in ("POST", "PATCH", "PUT", "DELETE")
        and not e["path"].endswith(READ_SUFFIXES)
        and not _composite_of_reads(e)
    ]


def _composite_of_reads(entry: dict[str, Any]) -> bool:
    if not entry["path"].endswith("/composite"):
        return False
    subrequests = json.loads(entry.get("body") or "{}").get("compositeRequest") or []
    return bool(subrequests) and all(str(s.get("method")).upper() == "GET" for s in subrequests)
