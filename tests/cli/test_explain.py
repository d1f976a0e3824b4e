"""``activity-sync explain ID`` on a synced, a waiting, a skipped and a dead-lettered activity, by
its HubSpot id and by its Salesforce id: the story from the stored state and both vendors."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from activity_sync.domain import HubSpotActivityType, SalesforceActivityType
from tests.cli.conftest import Cli
from tests.e2e.support import E2E, h2s, iso, s2h, utcnow

pytestmark = pytest.mark.e2e

NOTES = h2s(HubSpotActivityType.NOTE)


@dataclasses.dataclass(frozen=True)
class Cases:
    synced: str  # a note on a contact that syncs
    task: str  # its Salesforce Task
    contact: str
    waiting: str  # a note on a contact that does not sync
    skipped: str  # a note written before the switch went on, edited after
    dead: str  # an integration event for a contact HubSpot does not have
    salesforce_task: str  # a task a rep logged in Salesforce, synced to HubSpot


@pytest.fixture(scope="module")
def cases(ops: E2E) -> Cases:
    # Given a contact that syncs and one that does not, a note written before the notes switch
    # went on (edited after it), a note by Ana on each contact after it, an integration event for
    # a contact HubSpot does not have, and a task a rep logged in Salesforce with its switch on
    email = ops.tag("explained")
    person = ops.salesforce.person("Contact", email, owner="bruno")
    contact = ops.hubspot.contact(email, owner="bruno")
    stranger = ops.hubspot.contact(ops.tag("stranger"), owner="bruno")
    skipped = ops.hubspot.engagement("notes", {"hs_note_body": "Before the switch"}, [contact], owner="ana")
    ops.drain()
    ops.switch_on(NOTES)
    ops.switch_on(h2s(HubSpotActivityType.INTEGRATION_EVENT))
    ops.switch_on(s2h(SalesforceActivityType.TASK))
    ops.hubspot.update("notes", skipped, {"hs_note_body": "Before the switch, edited after"})
    synced = ops.hubspot.engagement("notes", {"hs_note_body": "Renewal talk"}, [contact], owner="ana")
    waiting = ops.hubspot.engagement("notes", {"hs_note_body": "Cold lead"}, [stranger], owner="ana")
    ghost = {
        "type": "integration_event",
        "id": "explain-ghost",
        "occurred_at": iso(utcnow()),
        "contact_ids": ["999999992"],
        "properties": {"app_name": "Zoom", "event_name": "Webinar"},
    }
    assert ops.world.post_activity(ghost).status_code == 200
    salesforce_task = ops.salesforce.create(
        "Task", {"Subject": "Rep's follow-up", "TaskSubtype": "Task", "WhoId": person}, as_user="ana"
    )
    ops.drain()
    task = ops.salesforce.tasks_for_activity(f"hs:note:{synced}")[0]["Id"]
    return Cases(synced, task, contact, waiting, skipped, "explain-ghost", salesforce_task)


def test_explain_a_synced_note_tells_its_contact_owner_chain_and_task(
    ops: E2E, cases: Cases, cli: Cli
) -> None:
    # When the operator asks about the synced note, by its HubSpot id and by its Task's id
    story = cli.json("explain", cases.synced)
    by_task = cli.json("explain", cases.task)
    shown = cli("explain", cases.synced)

    # Then it is synced to its Task, with the switch and the window that let it through
    assert story["verdict"] == f"synced: Salesforce Task {cases.task}"
    sections = story["sections"]
    assert sections["type and switch"]["type"] == NOTES.key
    assert sections["window (R5)"]["decision"] == "inside: it may sync"
    # and the contact it went on, and why (the only one that syncs)
    assert sections["contacts (R4, R6)"][cases.contact].endswith("<- chosen")
    # and the owner chain: Ana wrote it and maps to her Salesforce user (step 1 decides)
    ana = ops.salesforce.users["ana"]
    assert sections["owner (R7)"]["Assigned To"] == f"{ana} (decided by activity_owner)"
    assert sections["link"]["Salesforce Task"] == cases.task
    assert any("synced to Task" in what for _, what in story["history"])
    # And the Task's id tells the same story
    assert by_task["verdict"] == story["verdict"]
    assert f"{cases.task} is the service's copy of HubSpot hs:note:{cases.synced}" in str(by_task["sections"])
    # And the table says it too
    assert shown.status == 0, shown.err
    assert f"synced: Salesforce Task {cases.task}" in shown.out
    assert "owner (R7)" in shown.out


def test_explain_a_waiting_note_says_its_contact_does_not_sync(cases: Cases, cli: Cli) -> None:
    # When the operator asks about the note on the contact with no Salesforce person
    story = cli.json("explain", cases.waiting)
    # Then it waits for its contact, and the history says when it was set aside
    assert story["verdict"].startswith("waiting: contact_not_syncing")
    contacts = story["sections"]["contacts (R4, R6)"]
    assert any("does not sync: no Salesforce Contact or Lead" in line for line in contacts.values())
    assert any(what.startswith("set aside to wait: contact_not_syncing") for _, what in story["history"])


def test_explain_a_skipped_note_gives_the_dates_of_its_window(cases: Cases, cli: Cli) -> None:
    # When the operator asks about the note written before the switch went on
    story = cli.json("explain", cases.skipped)
    # Then it is skipped as outside its window, with the dates the decision used
    window = story["sections"]["window (R5)"]
    assert story["verdict"].startswith("skipped: outside_window")
    assert window["decision"] == "outside_window"
    assert window["occurred at"] < window["opens"]


def test_explain_a_dead_lettered_event_gives_the_reason(cases: Cases, cli: Cli) -> None:
    # When the operator asks about the integration event for an unknown contact
    story = cli.json("explain", cases.dead)
    # Then it is dead-lettered with its reason and what to do, and its contact is unknown to HubSpot
    assert story["verdict"] == "dead-lettered: no HubSpot contact 999999992"
    assert story["sections"]["type and switch"]["type"] == "hubspot_to_salesforce#integration_event"
    assert story["sections"]["dead letter"]["what to do"].startswith(
        "fix the cause, then: activity-sync redrive"
    )
    assert story["sections"]["contacts (R4, R6)"]["999999992"] == "unknown to HubSpot"


def test_explain_a_salesforce_task_synced_to_hubspot(ops: E2E, cases: Cases, cli: Cli) -> None:
    # When the operator asks about the task the rep logged in Salesforce
    story = cli.json("explain", cases.salesforce_task)
    # Then it is synced to a HubSpot task on the contact, with its window and owner mapping
    assert story["verdict"].startswith("synced: HubSpot tasks ")
    sections = story["sections"]
    assert sections["type and switch"]["type"] == "salesforce_to_hubspot#task"
    assert sections["window (R11)"]["decision"].startswith("inside")
    assert sections["contact (R12)"]["HubSpot contact"] == cases.contact
    assert sections["owner (R13)"]["Assigned To"].startswith(ops.salesforce.users["ana"])


def test_explain_a_synced_posted_event_says_its_type_has_no_read_api(
    ops: E2E, cases: Cases, cli: Cli
) -> None:
    # Given an integration event posted for the contact that syncs, and synced
    event = {
        "type": "integration_event",
        "id": "explain-posted",
        "occurred_at": iso(utcnow()),
        "contact_ids": [cases.contact],
        "properties": {"app_name": "Zoom", "event_name": "Webinar attended"},
    }
    assert ops.world.post_activity(event).status_code == 200
    ops.drain()
    assert len(ops.salesforce.tasks_for_activity("hs:integration_event:explain-posted")) == 1

    # When the operator asks about it, Then it is synced, and not "gone from HubSpot"
    story = cli.json("explain", "explain-posted", "--type", "integration_event")
    assert story["verdict"].startswith("synced"), story
    assert "no read API" in story["verdict"]
    assert "gone" not in story["verdict"]


def test_explain_a_posted_event_skipped_for_its_window_tells_the_syncers_decision(
    ops: E2E, cases: Cases, cli: Cli
) -> None:
    # Given an integration event posted for the contact that syncs, which happened long before its
    # window opened: skipped, and HubSpot has no API to read it back by
    occurred_at = iso(utcnow() - dt.timedelta(days=400))
    event = {
        "type": "integration_event",
        "id": "explain-too-old",
        "occurred_at": occurred_at,
        "contact_ids": [cases.contact],
        "properties": {"app_name": "Zoom", "event_name": "Webinar long ago"},
    }
    assert ops.world.post_activity(event).status_code == 200
    ops.drain()
    assert ops.salesforce.tasks_for_activity("hs:integration_event:explain-too-old") == []

    # When the operator asks about it, by its id alone
    story = cli.json("explain", "explain-too-old")

    # Then the answer is the syncer's decision, with the facts it was made on - not "unknown"
    assert story["verdict"].startswith("skipped: outside_window"), story
    assert "no read API" in story["verdict"]
    assert story["sections"]["type and switch"]["type"] == "hubspot_to_salesforce#integration_event"
    assert story["sections"]["window (R5)"]["occurred at"].startswith(occurred_at[:10])
