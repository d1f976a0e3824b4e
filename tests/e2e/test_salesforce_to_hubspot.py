"""Salesforce -> HubSpot, one case per type of R10, checked the way a HubSpot administrator checks a
synced activity: it exists exactly once (found by the Salesforce id it carries), on the right contact
(associations v4, R12), owned by the HubSpot owner of the Salesforce Assigned To (R13). And R11:
turning the switches on brings nothing over by itself.

Reps work in the Salesforce UI (the sandbox's admin ``sobjects`` route with ``as_user``), which sends
the org's Outbound Messages; one poll overlaps them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
import requests

from activity_sync.adapters.hubspot_api import OBJECTS
from activity_sync.domain import HUBSPOT_SALESFORCE_ID_PROPERTY, SalesforceActivityType
from activity_sync_tools.rehearsal import OUTBOUND_MESSAGE_TOKEN
from tests.e2e.support import E2E, iso, s2h, utcnow

pytestmark = pytest.mark.e2e


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    activity_type: SalesforceActivityType
    sobject: str
    object_type: str  # the HubSpot object it becomes
    title_property: str
    fields: dict[str, Any]
    person: str  # whose record: "alice" (a Contact) or "lin" (a Lead)
    rep: str  # who creates it and is Assigned To: "ana" or "bruno"


def _cases(start: dt.datetime) -> list[Case]:
    return [
        Case(
            "task",
            SalesforceActivityType.TASK,
            "Task",
            "tasks",
            "hs_task_subject",
            {
                "Subject": "Prepare the contract",
                "Status": "Not Started",
                "Priority": "High",
                "TaskSubtype": "Task",
            },
            "alice",
            "ana",
        ),
        Case(
            "email",
            SalesforceActivityType.EMAIL,
            "Task",
            "emails",
            "hs_email_subject",
            {
                "Subject": "Email: next steps",
                "Status": "Completed",
                "TaskSubtype": "Email",
                "Description": "Hi",
            },
            "alice",
            "bruno",
        ),
        Case(
            "call",
            SalesforceActivityType.CALL,
            "Task",
            "calls",
            "hs_call_title",
            {
                "Subject": "Call with Lin",
                "Status": "Completed",
                "TaskSubtype": "Call",
                "CallType": "Inbound",
                "CallDurationInSeconds": 300,
            },
            "lin",
            "ana",
        ),
        Case(
            "meeting",
            SalesforceActivityType.MEETING,
            "Event",
            "meetings",
            "hs_meeting_title",
            {
                "Subject": "Onsite workshop",
                "StartDateTime": iso(start + dt.timedelta(days=2)),
                "EndDateTime": iso(start + dt.timedelta(days=2, hours=2)),
            },
            "alice",
            "bruno",
        ),
    ]


CASE_NAMES = ["task", "email", "call", "meeting"]


@dataclasses.dataclass
class Org:
    people: dict[str, str]  # name -> Salesforce Contact/Lead id
    contacts: dict[str, str]  # name -> HubSpot contact id
    records: dict[str, str]  # case or record name -> Salesforce id
    cases: dict[str, Case]


@pytest.fixture(scope="module")
def org(e2e: E2E) -> Org:
    salesforce, hubspot = e2e.salesforce, e2e.hubspot
    start = utcnow()
    # Given Alice (a Contact) and Lin (a Lead), each with a HubSpot contact matched by email (R4)
    emails = {name: e2e.tag(name) for name in ("alice", "lin", "late")}
    people = {
        "alice": salesforce.person("Contact", emails["alice"], owner="ana", last_name="Almeida"),
        "lin": salesforce.person("Lead", emails["lin"], last_name="Lopes"),
    }
    contacts = {name: hubspot.contact(email) for name, email in emails.items()}
    # and records a rep made before the switches went on
    records = {
        "old_task": salesforce.create(
            "Task", {"Subject": "Old task", "TaskSubtype": "Task", "WhoId": people["alice"]}, as_user="ana"
        ),
        "old_call": salesforce.create(
            "Task",
            {"Subject": "Old call", "TaskSubtype": "Call", "Status": "Completed", "WhoId": people["alice"]},
            as_user="ana",
        ),
    }
    e2e.drain()
    # and Late: a HubSpot contact whose Salesforce Contact (same email) a rep creates afterwards
    people["late"] = salesforce.create(
        "Contact", {"LastName": "Late", "Email": emails["late"]}, as_user="ana"
    )

    # When the four switches go on
    for activity_type in SalesforceActivityType:
        e2e.switch_on(s2h(activity_type))
    # and reps log a task, an email, a call and a meeting, and one on Late
    cases = {case.name: case for case in _cases(start)}
    for case in cases.values():
        records[case.name] = salesforce.create(
            case.sobject, {**case.fields, "WhoId": people[case.person]}, as_user=case.rep
        )
    records["late_task"] = salesforce.create(
        "Task",
        {"Subject": "Follow up with Late", "TaskSubtype": "Task", "WhoId": people["late"]},
        as_user="ana",
    )
    # and a rep edits the call logged before the switches went on
    salesforce.update("Task", records["old_call"], {"Subject": "Old call, notes added"}, as_user="ana")
    e2e.poll_and_drain()  # Outbound Messages, then a poll that overlaps them
    return Org(people, contacts, records, cases)


def _copies(e2e: E2E, object_type: str, salesforce_id: str) -> list[dict[str, Any]]:
    """The HubSpot activities that carry this Salesforce id."""
    return e2e.hubspot.search_eq(
        object_type, HUBSPOT_SALESFORCE_ID_PROPERTY, salesforce_id, ["hubspot_owner_id", "hs_timestamp"]
    )


@pytest.mark.parametrize("name", CASE_NAMES)
def test_r10_r12_r13_each_salesforce_type_becomes_one_hubspot_activity_on_the_right_contact(
    e2e: E2E, org: Org, name: str
) -> None:
    case = org.cases[name]
    # Given a rep logged this record on a person whose HubSpot contact syncs (fixture)
    # When the HubSpot administrator looks for its copy
    copies = _copies(e2e, case.object_type, org.records[name])

    # Then there is exactly one activity of the matching HubSpot type
    assert len(copies) == 1, f"{name}: {copies}"
    copy = e2e.hubspot.read(case.object_type, copies[0]["id"], [case.title_property, "hubspot_owner_id"])
    assert copy[case.title_property] == case.fields["Subject"]
    # on the contact linked to the record's WhoId (R12)
    assert e2e.hubspot.associated_contacts(case.object_type, copies[0]["id"]) == [org.contacts[case.person]]
    # owned by the HubSpot owner of the rep it is assigned to (R13)
    assert copy["hubspot_owner_id"] == e2e.hubspot.owners[case.rep]


def test_r10_a_salesforce_task_keeps_its_status_and_priority(e2e: E2E, org: Org) -> None:
    # Given an open, high-priority task synced (fixture)
    copies = _copies(e2e, "tasks", org.records["task"])
    assert len(copies) == 1, copies

    # When the HubSpot administrator opens it
    task = e2e.hubspot.read("tasks", copies[0]["id"], ["hs_task_status", "hs_task_priority"])

    # Then it is open and high priority in HubSpot too
    assert (task["hs_task_status"], task["hs_task_priority"]) == ("NOT_STARTED", "HIGH")


def test_r11_records_created_before_the_switch_went_on_do_not_sync(e2e: E2E, org: Org) -> None:
    # Given a task a rep created before the switch went on, left alone since
    # When the switch went on, Outbound Messages and a poll ran (fixture)
    copies = _copies(e2e, "tasks", org.records["old_task"])

    # Then it is not in HubSpot; it waited for the switch while it was off
    assert copies == []
    assert e2e.figures(s2h(SalesforceActivityType.TASK)).get("waiting:type_off", 0) >= 1


def test_r11_a_record_updated_after_the_switch_went_on_syncs(e2e: E2E, org: Org) -> None:
    # Given a call logged before the switch went on, which a rep edited after (fixture)
    # When the HubSpot administrator looks for it
    copies = _copies(e2e, "calls", org.records["old_call"])

    # Then it is there, once, as edited
    assert len(copies) == 1, copies
    assert (
        e2e.hubspot.read("calls", copies[0]["id"], ["hs_call_title"])["hs_call_title"]
        == "Old call, notes added"
    )


def test_r12_r4_a_task_on_a_contact_matched_by_email_lands_on_that_hubspot_contact(
    e2e: E2E, org: Org
) -> None:
    # Given Late's HubSpot contact, and a Salesforce Contact with the same email that a rep created
    # later (they sync by the email match, R4), and a task the rep logged on that Contact
    # When it synced (fixture)
    copies = _copies(e2e, "tasks", org.records["late_task"])

    # Then the HubSpot task exists once and is on Late's contact, not an orphan
    assert len(copies) == 1, copies
    assert e2e.hubspot.associated_contacts("tasks", copies[0]["id"]) == [org.contacts["late"]]


def _log_call(e2e: E2E, person: str, subject: str) -> str:
    """A completed call a rep logs in Salesforce on ``person``; its id."""
    fields = {"Subject": subject, "TaskSubtype": "Call", "Status": "Completed", "WhoId": person}
    return e2e.salesforce.create("Task", fields, as_user="ana")


def _writes(requests: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The CRM batch writes among HubSpot requests (creates, upserts, association creates)."""
    return [(method, path) for method, path in requests if "/batch/" in path and not path.endswith("/read")]


def test_r18_records_new_to_hubspot_cost_one_hubspot_call_per_batch_their_contact_included(
    e2e: E2E, org: Org
) -> None:
    calls = 20
    # Given Alice's contact syncs and the call switch is on (fixture)
    mark = e2e.hubspot.request_mark()
    before_batches = e2e.invocations("SalesforceCallSyncer")

    # When a rep logs 20 calls on Alice in quick succession
    logged = [_log_call(e2e, org.people["alice"], f"Budget call {n}") for n in range(calls)]
    e2e.drain()

    # Then each is one HubSpot call on Alice's contact
    for salesforce_id in logged:
        copies = _copies(e2e, "calls", salesforce_id)
        assert len(copies) == 1, (salesforce_id, copies)
        assert e2e.hubspot.associated_contacts("calls", copies[0]["id"]) == [org.contacts["alice"]]
    # and writing them cost one batch create per syncer batch, the contact association made in the
    # same call: no upsert, no association call
    spent = e2e.hubspot.requests_since(mark)
    batches = e2e.invocations("SalesforceCallSyncer") - before_batches
    assert _writes(spent) == [("POST", f"{OBJECTS}/calls/batch/create")] * batches, spent
    assert 1 <= batches <= 3, spent


def test_r15_a_copy_whose_link_was_lost_is_updated_in_place_not_made_twice(e2e: E2E, org: Org) -> None:
    # Given a call a rep logged on Lin, synced, whose link the service then lost (a table restored
    # from an older backup, say)
    call = _log_call(e2e, org.people["lin"], "Call about pricing")
    e2e.drain()
    links = e2e.world.service.links
    lost = links.by_salesforce_ids([call])
    assert list(lost) == [call]
    links.unlink(lost.values())

    # When the rep edits the call
    e2e.salesforce.update("Task", call, {"Subject": "Call about pricing, follow-up booked"}, as_user="ana")
    e2e.drain()

    # Then HubSpot still has one copy - the create was refused, the upsert found it - edited, on
    # Lin's contact, and the link is back
    copies = _copies(e2e, "calls", call)
    assert len(copies) == 1, copies
    title = e2e.hubspot.read("calls", copies[0]["id"], ["hs_call_title"])["hs_call_title"]
    assert title == "Call about pricing, follow-up booked"
    assert e2e.hubspot.associated_contacts("calls", copies[0]["id"]) == [org.contacts["lin"]]
    assert links.by_salesforce_ids([call])[call].hubspot_id == copies[0]["id"]
    assert e2e.dead_letters(s2h(SalesforceActivityType.CALL)) == []


def test_r15_an_outbound_message_delivered_twice_makes_one_hubspot_activity_and_one_write(
    e2e: E2E, org: Org
) -> None:
    # Given Salesforce delivers every acknowledged Outbound Message once more (an acknowledgement
    # lost on the way back); the receiver queues both copies
    e2e.salesforce.admin("POST", "outbound-messages/settings", {"deliver_twice": True})
    mark = e2e.hubspot.request_mark()
    try:
        # When a rep logs a call on Alice
        call = _log_call(e2e, org.people["alice"], "Call, delivered twice")
        e2e.drain()
        duplicates = e2e.salesforce.admin("GET", "outbound-messages/settings")["duplicates_sent"]
    finally:
        e2e.salesforce.admin("POST", "outbound-messages/settings", {"deliver_twice": False})

    # Then the copy was delivered, yet HubSpot has the call once, written once
    assert duplicates >= 1
    copies = _copies(e2e, "calls", call)
    assert len(copies) == 1, copies
    writes = _writes(e2e.hubspot.requests_since(mark))
    assert writes == [("POST", f"{OBJECTS}/calls/batch/create")], writes
    assert e2e.dead_letters(s2h(SalesforceActivityType.CALL)) == []


def test_r14_r18_an_outbound_message_sent_again_after_its_record_synced_costs_no_vendor_call(
    e2e: E2E, org: Org
) -> None:
    # Given a call a rep logged on Alice, synced, and the Outbound Message that brought it
    call = _log_call(e2e, org.people["alice"], "Call, notified again later")
    e2e.drain()
    deliveries = e2e.salesforce.admin("GET", "outbound-messages/deliveries?include_envelope=1")["deliveries"]
    envelope = [d["envelope"] for d in deliveries if d["acked"] and call in (d["envelope"] or "")][-1]
    salesforce_calls = e2e.salesforce.counters()["total"]
    mark = e2e.hubspot.request_mark()

    # When Salesforce sends that message again later (its acknowledgement was lost)
    url = f"{e2e.world.stack.api_url}/webhooks/salesforce/outbound-messages/{OUTBOUND_MESSAGE_TOKEN}"
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
    again = requests.post(url, data=envelope.encode(), headers=headers, timeout=10)
    e2e.drain()

    # Then it is acknowledged, and the syncer, seeing from the call's link that this very version
    # is in HubSpot, reads and writes nothing on either side
    assert again.status_code == 200, again.text
    assert "<Ack>true</Ack>" in again.text
    assert e2e.salesforce.counters()["total"] == salesforce_calls
    assert e2e.hubspot.requests_since(mark) == []
    assert len(_copies(e2e, "calls", call)) == 1
