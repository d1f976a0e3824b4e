"""What the service refuses (R17), what it cannot write and keeps with a reason (R16), and what a
batch of activities costs in vendor calls (R18).

Calls stay switched off here, so any call notification that gets through is counted in the call
figures (``waiting:type_off``) and nothing else: the signed-webhook checks measure exactly what
reached the queues.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import requests

from activity_sync.adapters.hubspot_api import OBJECTS
from activity_sync.domain import HubSpotActivityType, SalesforceActivityType
from activity_sync_tools.operate.dead_letters import DeadLetter as OperatorDeadLetter
from activity_sync_tools.rehearsal import OUTBOUND_MESSAGE_TOKEN, PORTAL_ID, salesforce_app
from tests.e2e.support import E2E, TASK_TYPE_VALUES, h2s, iso, s2h, utcnow

pytestmark = pytest.mark.e2e

EVENTS = h2s(HubSpotActivityType.INTEGRATION_EVENT)
CALLS = h2s(HubSpotActivityType.CALL)
NOTES = h2s(HubSpotActivityType.NOTE)


@dataclasses.dataclass
class Desk:
    contact: str  # a HubSpot contact that syncs
    person: str  # its Salesforce Contact


@pytest.fixture(scope="module")
def desk(e2e: E2E) -> Iterator[Desk]:
    # Given a contact that syncs, integration events and notes switched on, calls off
    email = e2e.tag("rita")
    person = e2e.salesforce.person("Contact", email, owner="ana", last_name="Rocha")
    contact = e2e.hubspot.contact(email, owner="ana")
    e2e.switch_on(EVENTS, task_type="Other")
    e2e.switch_on(NOTES)
    yield Desk(contact, person)
    # The org's picklist as the other modules know it
    e2e.salesforce.admin(
        "POST",
        "picklists",
        {"object": "Task", "field": "Type", "values": TASK_TYPE_VALUES, "restricted": False},
    )


def _event(desk: Desk, event_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "integration_event",
        "id": event_id,
        "occurred_at": iso(utcnow()),
        "contact_ids": [desk.contact],
        "properties": {"app_name": "Zoom", "event_name": event_id},
    }
    body.update(overrides)
    return body


def _event_tasks(e2e: E2E, *event_ids: str) -> list[dict[str, Any]]:
    """The Tasks of these integration events (by the identity they carry)."""
    identities = ", ".join(f"'hs:integration_event:{event_id}'" for event_id in event_ids)
    return e2e.salesforce.tasks(f"HubSpot_Activity_Id__c IN ({identities})")


def test_r17_malformed_activity_posts_get_a_clear_400_and_change_nothing(e2e: E2E, desk: Desk) -> None:
    url = f"{e2e.world.stack.api_url}/webhooks/hubspot/activities"
    headers = {"Authorization": "Bearer rehearsal-activity-route-token", "Content-Type": "application/json"}
    no_contacts = _event(desk, "bad-1", contact_ids=[])
    without_id = {k: v for k, v in _event(desk, "bad-2").items() if k != "id"}
    bad_posts: list[tuple[str, str, str]] = [
        # (what, body, a word the error message must contain)
        ("not JSON", "{not json", "JSON"),
        ("no contacts", json.dumps(no_contacts), "contact_ids"),
        ("no id", json.dumps(without_id), "id"),
        ("unknown type", json.dumps(_event(desk, "bad-3", type="webinar_attended")), "type"),
        ("a type read from the API", json.dumps(_event(desk, "bad-4", type="note")), "note"),
        (
            "a time without zone",
            json.dumps(_event(desk, "bad-5", occurred_at="2026-01-01T10:00:00")),
            "occurred_at",
        ),
        ("one bad item in a list", json.dumps([_event(desk, "bad-6"), no_contacts]), "activity 1"),
        ("101 activities", json.dumps([_event(desk, f"bad-8-{n}") for n in range(101)]), "100"),
        ("oversized", json.dumps(_event(desk, "bad-7", properties={"app_name": "x" * 2_000_000})), "large"),
        (
            "a lone UTF-16 surrogate (JSON escapes it; UTF-8 cannot hold it)",
            json.dumps(
                _event(desk, "bad-9", properties={"app_name": "Zoom", "event_name": "Webinar \ud800"})
            ),
            "properties.event_name",
        ),
    ]

    # When a sender posts each of them
    answers = {
        what: requests.post(url, data=body, headers=headers, timeout=30) for what, body, _ in bad_posts
    }
    e2e.drain()

    # Then nothing was synced or queued: not even the good item of the refused list
    assert _event_tasks(e2e, *(f"bad-{n}" for n in range(1, 10)), "bad-8-0") == []
    assert e2e.figures(EVENTS) == {}
    # and each got a 4xx with a message that says what is wrong
    unclear = [
        f"{what}: {answers[what].status_code} {answers[what].text[:200]}"
        for what, _, word in bad_posts
        if not (400 <= answers[what].status_code < 500 and word.lower() in answers[what].text.lower())
    ]
    assert unclear == []


def test_r17_the_activity_route_wants_its_bearer_token(e2e: E2E, desk: Desk) -> None:
    url = f"{e2e.world.stack.api_url}/webhooks/hubspot/activities"
    body = json.dumps(_event(desk, "no-token"))
    # When a sender posts without the token, and with a wrong one
    missing = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10)
    wrong = requests.post(url, data=body, headers={"Authorization": "Bearer guess"}, timeout=10)
    e2e.drain()

    # Then both are refused as unauthorized, and nothing syncs
    assert (missing.status_code, wrong.status_code) == (401, 401), (missing.text, wrong.text)
    assert "token" in missing.json()["message"]
    assert _event_tasks(e2e, "no-token") == []


def test_r17_badly_signed_or_stale_hubspot_webhooks_get_401_and_change_nothing(e2e: E2E, desk: Desk) -> None:
    now_ms = int(time.time() * 1000)
    body = json.dumps(
        [
            {
                "eventId": 900001,
                "subscriptionId": 1,
                "portalId": PORTAL_ID,
                "appId": 4200001,
                "occurredAt": now_ms,
                "subscriptionType": "object.creation",
                "attemptNumber": 0,
                "objectId": 987654321,
                "objectTypeId": "0-48",
                "changeSource": "CRM_UI",
            }
        ]
    )
    # When the same call-created event arrives signed with another secret, with a signature from
    # six minutes ago, and unsigned
    forged = e2e.signed_hubspot_post(body, secret="not-the-client-secret")
    stale = e2e.signed_hubspot_post(body, timestamp_ms=now_ms - 6 * 60 * 1000)
    unsigned = requests.post(
        f"{e2e.world.stack.api_url}/webhooks/hubspot",
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    e2e.drain()

    # Then each is refused as unauthorized with its reason, and none reached the call queue
    for name, answer in (("forged", forged), ("stale", stale), ("unsigned", unsigned)):
        assert answer.status_code == 401, f"{name}: {answer.status_code} {answer.text}"
        assert answer.json()["message"], name
    assert e2e.figures(CALLS) == {}

    # When properly signed deliveries arrive: a body that is not JSON, an event of a type the service
    # has no use for, and the call-created event (the control)
    malformed = e2e.signed_hubspot_post("[{not json")
    deal = json.loads(body)[0] | {
        "eventId": 900002,
        "subscriptionType": "deal.creation",
        "objectTypeId": "0-3",
    }
    unknown = e2e.signed_hubspot_post(json.dumps([deal]))
    genuine = e2e.signed_hubspot_post(body)
    e2e.drain()

    # Then the malformed body is refused with its reason; the unknown event is accepted but named
    # as ignored, with why; and only the call event was queued: once, waiting for the call switch
    assert malformed.status_code == 400, malformed.text
    assert "JSON" in malformed.json()["message"], malformed.text
    assert unknown.status_code == 200, unknown.text
    assert [i["eventId"] for i in unknown.json()["ignored"]] == [900002], unknown.text
    assert "deal.creation" in unknown.json()["ignored"][0]["reason"]
    assert genuine.status_code == 200, genuine.text
    assert e2e.figures(CALLS) == {"waiting:type_off": 1}


def test_r17_an_outbound_message_from_another_org_gets_a_4xx_and_changes_nothing(
    e2e: E2E, desk: Desk
) -> None:
    # Given an Outbound Message the org really sent, about a task a rep logged (Salesforce -> HubSpot
    # tasks are off here: it waits for the switch)
    tasks = s2h(SalesforceActivityType.TASK)
    e2e.salesforce.create(
        "Task", {"Subject": "Rep's task", "TaskSubtype": "Task", "WhoId": desk.person}, as_user="ana"
    )
    e2e.drain()
    deliveries = e2e.salesforce.admin("GET", "outbound-messages/deliveries?include_envelope=1")["deliveries"]
    envelopes = [d["envelope"] for d in deliveries if d["acked"] and d["envelope"]]
    assert envelopes, deliveries
    genuine = envelopes[-1]
    org_id = salesforce_app(e2e.world).org_id
    assert f"<OrganizationId>{org_id}</OrganizationId>" in genuine
    forged = genuine.replace(org_id, "00D000000000001AAA")
    url = f"{e2e.world.stack.api_url}/webhooks/salesforce/outbound-messages/{OUTBOUND_MESSAGE_TOKEN}"
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
    waiting = e2e.figures(tasks).get("waiting:type_off", 0)
    assert waiting >= 1

    # When the same message arrives from another org, and as a body that is not XML
    from_elsewhere = requests.post(url, data=forged.encode(), headers=headers, timeout=10)
    garbage = requests.post(url, data=b"<soapenv:Envelope", headers=headers, timeout=10)
    e2e.drain()

    # Then both are refused with a 4xx saying why, and nothing reached the Salesforce task queue
    assert from_elsewhere.status_code == 403, from_elsewhere.text
    assert "OrganizationId" in from_elsewhere.text
    assert 400 <= garbage.status_code < 500, garbage.text
    assert e2e.figures(tasks) == {"waiting:type_off": waiting}

    # When the genuine message is delivered again: Salesforce's retry of the same notification, and
    # (the control) the same record notified afresh
    retry = requests.post(url, data=genuine.encode(), headers=headers, timeout=10)
    fresh = re.sub(r"<Notification><Id>[^<]*</Id>", "<Notification><Id>04l8d0000000e2eAAA</Id>", genuine)
    notified_again = requests.post(url, data=fresh.encode(), headers=headers, timeout=10)
    e2e.drain()

    # Then both are acknowledged. The fresh notification is queued (it waits for the switch, off
    # here); the repeat is not queued again when it reaches the receiver container that queued the
    # original (each remembers its envelopes), and when it reaches another it is queued and settled
    # by the syncer without a second write
    # (test_r15_an_outbound_message_delivered_twice_makes_one_hubspot_activity_and_one_write)
    assert (retry.status_code, notified_again.status_code) == (200, 200), (retry.text, notified_again.text)
    assert "<Ack>true</Ack>" in retry.text
    assert e2e.figures(tasks)["waiting:type_off"] in (waiting + 1, waiting + 2)


def test_r16_r17_a_list_of_activities_just_under_the_size_cap_is_accepted_whole(e2e: E2E, desk: Desk) -> None:
    # Given ten webinar events, each with a 24,000-character transcript: some 240 KB, just under the
    # route's 256,000-byte cap
    events: list[Mapping[str, Any]] = [
        _event(
            desk,
            f"webinar-{n}",
            properties={"app_name": "Zoom", "event_name": f"Webinar {n}", "transcript": "x" * 24_000},
        )
        for n in range(10)
    ]
    assert 230_000 < len(json.dumps(events)) < 256_000

    # When the integration posts them in one request
    answer = e2e.world.post_activity(events)
    e2e.drain()

    # Then they are accepted, and each becomes one Task
    assert answer.status_code == 200, (
        answer.status_code,
        answer.text,
        e2e.function_log("WebhookReceiver", 8),
    )
    tasks = _event_tasks(e2e, *(f"webinar-{n}" for n in range(10)))
    assert sorted(t["Subject"] for t in tasks) == sorted(f"Zoom: Webinar {n}" for n in range(10))


def test_r17_an_activity_for_an_unknown_contact_is_refused_with_its_reason(e2e: E2E, desk: Desk) -> None:
    # Given no HubSpot contact has id 999999991
    # When an integration posts an event for it
    answer = e2e.world.post_activity(_event(desk, "ghost-1", contact_ids=["999999991"]))
    e2e.drain()

    # Then it is refused at once, or it rests in the dead-letter queue naming the unknown contact
    # (not parked forever as "waiting for the contact to sync")
    letters = [d for d in e2e.dead_letters(EVENTS) if d.body.get("object_id") == "ghost-1"]
    refused_now = 400 <= answer.status_code < 500 and "999999991" in answer.text
    dead_lettered = len(letters) == 1 and "999999991" in letters[0].reason
    assert refused_now or dead_lettered, (
        f"route answered {answer.status_code} {answer.text}; "
        f"dead letters {letters}; figures {e2e.figures(EVENTS)}"
    )


def test_r16_a_task_salesforce_refuses_rests_in_the_dead_letter_queue_with_its_reason(
    e2e: E2E, desk: Desk
) -> None:
    # Given the org restricts its Task Type picklist, and integration events are set to a Task Type
    # that is not in it
    e2e.salesforce.admin(
        "POST",
        "picklists",
        {"object": "Task", "field": "Type", "values": TASK_TYPE_VALUES, "restricted": True},
    )
    e2e.set_task_type(EVENTS, "Webinar")

    # When an integration posts an event for the contact
    answer = e2e.world.post_activity(_event(desk, "refused-1"))
    assert answer.status_code == 200, answer.text
    e2e.drain()

    # Then no Task exists, and the event rests in its type's dead-letter queue with Salesforce's reason
    assert _event_tasks(e2e, "refused-1") == []
    letters = [d for d in e2e.dead_letters(EVENTS) if d.body.get("object_id") == "refused-1"]
    assert len(letters) == 1, (letters, e2e.function_log("HubSpotIntegrationEventSyncer"))
    reason = letters[0].reason
    assert "Webinar" in reason or "RESTRICTED_PICKLIST" in reason.upper(), reason

    # When the admin fixes the setting and re-drives the dead letters
    e2e.set_task_type(EVENTS, "Other")
    moved = e2e.redrive(EVENTS)
    e2e.drain()

    # Then the event syncs, once, with the fixed Task Type, and its letter is gone from the queue
    assert moved >= 1  # with whatever else rested there
    tasks = _event_tasks(e2e, "refused-1")
    assert [(t["Subject"], t["Type"]) for t in tasks] == [("Zoom: refused-1", "Other")]
    assert [d for d in e2e.dead_letters(EVENTS) if d.body.get("object_id") == "refused-1"] == []


def test_r18_a_burst_of_notes_costs_one_collections_upsert_per_batch(e2e: E2E, desk: Desk) -> None:
    notes = 30
    # Given a contact that syncs and the note switch on
    before_counters = e2e.salesforce.counters()["counters"]
    before_used = e2e.salesforce.admin("GET", "limits")["used"]
    before_hubspot = e2e.hubspot.counters()["total"]
    before_batches = e2e.invocations("HubSpotNoteSyncer")

    # When Ana writes 30 notes on the contact in quick succession
    for n in range(notes):
        e2e.hubspot.engagement("notes", {"hs_note_body": f"Budget note {n}"}, [desk.contact], owner="ana")
    e2e.drain()

    # Then all 30 are Tasks
    tasks = [t for t in e2e.salesforce.tasks_on(desk.person) if t["Subject"].startswith("Note: Budget note")]
    assert len(tasks) == notes
    # and they cost a handful of Salesforce calls: one sObject Collections upsert per syncer batch
    after_counters = e2e.salesforce.counters()["counters"]
    spent = {
        route: count - before_counters.get(route, 0)
        for route, count in after_counters.items()
        if count != before_counters.get(route, 0)
    }
    upserts = sum(n for route, n in spent.items() if "composite/sobjects" in route and "PATCH" in route)
    batches = e2e.invocations("HubSpotNoteSyncer") - before_batches
    # one upsert per batch, and notes written in quick succession fill one batch (up to 1,000 in
    # its 1-second window) or two at most
    assert upserts == batches, (spent, batches)
    assert 1 <= batches <= 2, (spent, batches)
    # counted against the org's daily allocation: the upserts, the owner map's user query, the
    # new contact's match by email (a Contact and a Lead query) and this test's read back
    used = e2e.salesforce.admin("GET", "limits")["used"] - before_used
    assert used <= batches + 4, spent
    # and HubSpot was read in batches too, not once per note: the notes and their associations,
    # two calls a batch (the contact comes from its link), and at most the owner map's build
    hubspot_calls = e2e.hubspot.counters()["total"] - before_hubspot
    assert hubspot_calls <= 2 * batches + 2, (hubspot_calls, batches)


def test_r18_a_batch_that_updates_tasks_and_creates_others_writes_them_in_one_call(
    e2e: E2E, desk: Desk
) -> None:
    # Given two notes on the contact that are Tasks already
    kept = [
        e2e.hubspot.engagement("notes", {"hs_note_body": f"Kept note {n}"}, [desk.contact], owner="ana")
        for n in range(2)
    ]
    e2e.drain()
    before_counters = e2e.salesforce.counters()["counters"]
    before_batches = e2e.invocations("HubSpotNoteSyncer")

    # When Ana edits both and, in the same breath, writes two new ones
    for n, note in enumerate(kept):
        e2e.hubspot.update("notes", note, {"hs_note_body": f"Edited note {n}"})
    fresh = [
        e2e.hubspot.engagement("notes", {"hs_note_body": f"Fresh note {n}"}, [desk.contact], owner="ana")
        for n in range(2)
    ]
    e2e.drain()

    # Then the edited notes updated their Tasks and the new ones are Tasks
    for n, note in enumerate(kept):
        tasks = e2e.salesforce.tasks_for_activity(f"hs:note:{note}")
        assert [t["Subject"] for t in tasks] == [f"Note: Edited note {n}"]
    for n, note in enumerate(fresh):
        tasks = e2e.salesforce.tasks_for_activity(f"hs:note:{note}")
        assert [t["Subject"] for t in tasks] == [f"Note: Fresh note {n}"]
    # and each syncer batch wrote them with one Salesforce call: a batch that updates Tasks (by
    # Id) and creates others (by External ID) sends both as Collections requests of one
    # composite call
    after_counters = e2e.salesforce.counters()["counters"]
    spent = {
        route: count - before_counters.get(route, 0)
        for route, count in after_counters.items()
        if count != before_counters.get(route, 0)
    }
    writes = 0
    for route, n in spent.items():
        methods, _, path = route.partition(" ")
        if path.endswith("/composite") or ("PATCH" in methods and "/composite/sobjects" in path):
            writes += n
    assert 1 <= writes <= e2e.invocations("HubSpotNoteSyncer") - before_batches, spent


def test_r15_a_note_whose_link_was_lost_updates_its_task_in_place_not_a_second_one(
    e2e: E2E, desk: Desk
) -> None:
    # Given a note synced as a Task, whose link the service then lost (or another batch made the
    # Task and has not saved its link yet)
    note = e2e.hubspot.engagement("notes", {"hs_note_body": "First words"}, [desk.contact], owner="ana")
    e2e.drain()
    links = e2e.world.service.links
    lost = links.links("activity", [f"hs:note:{note}"])
    assert len(lost) == 1
    links.unlink(lost.values())

    # When Ana edits the note
    e2e.hubspot.update("notes", note, {"hs_note_body": "Second words"})
    e2e.drain()

    # Then the creation was refused (the Task exists, and its TaskSubtype cannot be written again)
    # and the same Task was updated instead: one Task, edited, linked again, nothing dead-lettered
    tasks = e2e.salesforce.tasks_for_activity(f"hs:note:{note}")
    assert [(t["Id"], t["Subject"]) for t in tasks] == [
        (lost[f"hs:note:{note}"].salesforce_id, "Note: Second words")
    ]
    assert links.links("activity", [f"hs:note:{note}"])[f"hs:note:{note}"].salesforce_id == tasks[0]["Id"]
    assert e2e.dead_letters(NOTES) == []
    log = e2e.world.stack.function_log("HubSpotNoteSyncer").read_text(encoding="utf-8")
    assert "Tasks that exist already (made meanwhile by another batch, or their links lost)" in log


def test_r7_r18_a_new_contact_owner_assigns_the_next_task_and_linked_contacts_cost_no_hubspot_read(
    e2e: E2E, desk: Desk
) -> None:
    # Given Rita's contact, owned by Ana, syncs (the contact linker kept its read in her link), and
    # a note without an owner written on her became a Task assigned to Ana (R7: the contact's owner)
    first = e2e.hubspot.engagement("notes", {"hs_note_body": "Before the handover"}, [desk.contact])
    e2e.drain()
    assert [t["OwnerId"] for t in e2e.salesforce.tasks_for_activity(f"hs:note:{first}")] == [
        e2e.salesforce.users["ana"]
    ]

    # When Rita's contact is handed over to Bruno (a contact.propertyChange webhook on its owner),
    # and another note without an owner is written on her
    e2e.hubspot.update("contacts", desk.contact, {"hubspot_owner_id": e2e.hubspot.owners["bruno"]})
    e2e.drain()
    mark = e2e.hubspot.request_mark()
    second = e2e.hubspot.engagement("notes", {"hs_note_body": "After the handover"}, [desk.contact])
    e2e.drain()

    # Then its Task is assigned to Bruno at once, the first one stays with Ana (R6, R7), and the
    # note syncer read the contact from its link, not from HubSpot
    assert [t["OwnerId"] for t in e2e.salesforce.tasks_for_activity(f"hs:note:{second}")] == [
        e2e.salesforce.users["bruno"]
    ]
    assert [t["OwnerId"] for t in e2e.salesforce.tasks_for_activity(f"hs:note:{first}")] == [
        e2e.salesforce.users["ana"]
    ]
    spent = e2e.hubspot.requests_since(mark)
    assert ("POST", f"{OBJECTS}/contacts/batch/read") not in spent, spent


def test_r15_a_write_retried_after_an_expired_session_and_a_salesforce_error_makes_one_task(
    e2e: E2E, desk: Desk
) -> None:
    # Given Salesforce will answer the next Task write with an expired session, then with a 500
    upserts = "PATCH /services/data/*/composite/sobjects/Task/*"
    for kind in ("expired_session", "server_error"):
        e2e.salesforce.admin("POST", "faults", {"route": upserts, "kind": kind, "times": 1})

    # When Ana writes a note on the contact
    note = e2e.hubspot.engagement(
        "notes", {"hs_note_body": "Written during an outage"}, [desk.contact], owner="ana"
    )
    e2e.drain()

    # Then both faults were met, and the note is one Task all the same
    faults = e2e.salesforce.admin("GET", "faults")["faults"]
    assert [(f["kind"], f["hits"]) for f in faults] == [("expired_session", 1), ("server_error", 1)]
    e2e.salesforce.admin("DELETE", "faults")
    tasks = e2e.salesforce.tasks_for_activity(f"hs:note:{note}")
    assert [t["Subject"] for t in tasks] == ["Note: Written during an outage"]
    assert e2e.dead_letters(NOTES) == []


def test_r16_calls_hubspots_validation_rules_refuse_rest_alone_with_the_property_named(
    e2e: E2E, desk: Desk
) -> None:
    # Given calls copied to HubSpot: four a rep logged earlier, two of them without notes
    salesforce_calls = s2h(SalesforceActivityType.CALL)
    e2e.switch_on(salesforce_calls)

    def log(subject: str, **fields: str) -> str:
        call = {"Subject": subject, "TaskSubtype": "Call", "Status": "Completed", "WhoId": desk.person}
        return e2e.salesforce.create("Task", {**call, **fields}, as_user="ana")

    notes = {"Description": "Talked pricing"}
    earlier = [log(f"Call {n}", **(notes if n % 2 == 0 else {})) for n in range(4)]
    e2e.drain()
    # and then a validation rule of the portal's admin requiring a call body (HubSpot checks API
    # writes against such rules from version 2026-09 on)
    e2e.hubspot.admin("POST", "config", {"validation_rules": {"calls": ["hs_call_body"]}})

    # When the rep renames the four calls (one batch of updates, two of which break the rule) and
    # logs two new ones, one without notes (one batch of creates)
    for call in earlier:
        e2e.salesforce.update("Task", call, {"Subject": f"Renamed {call}"}, as_user="ana")
    e2e.drain()
    new_good, new_bare = log("New call", Description="Booked a demo"), log("New call without notes")
    e2e.drain()

    # Then the calls with notes are in HubSpot as they are now; each call without rests alone in
    # the dead-letter queue, with HubSpot's words naming the property, all under one reason (one
    # group in `activity-sync errors`)
    def copies(salesforce_id: str) -> list[dict[str, Any]]:
        return e2e.hubspot.search_eq("calls", "activity_sync_salesforce_id", salesforce_id, ["hs_call_title"])

    bare = [earlier[1], earlier[3], new_bare]
    assert [c[0]["hs_call_title"] for c in map(copies, (earlier[0], earlier[2]))] == [
        f"Renamed {earlier[0]}",
        f"Renamed {earlier[2]}",
    ]
    assert len(copies(new_good)) == 1
    letters = [d for d in e2e.dead_letters(salesforce_calls) if d.body.get("object_id") in bare]
    log_lines = e2e.function_log("SalesforceCallSyncer")
    assert sorted(d.body["object_id"] for d in letters) == sorted(bare), log_lines
    for letter in letters:
        assert "VALIDATION_ERROR" in letter.reason, letter.reason
        assert "hs_call_body" in letter.reason, letter.reason
    assert len({_reason_kind(d.reason) for d in letters}) == 1, [d.reason for d in letters]

    # When the admin relaxes the rule and re-drives the dead letters
    e2e.hubspot.admin("POST", "config", {"validation_rules": {}})
    e2e.redrive(salesforce_calls)
    e2e.drain()

    # Then the three calls sync, once each, as they are now, and their letters are gone
    assert [len(copies(call)) for call in bare] == [1, 1, 1]
    assert copies(earlier[1])[0]["hs_call_title"] == f"Renamed {earlier[1]}"
    assert [d for d in e2e.dead_letters(salesforce_calls) if d.body.get("object_id") in bare] == []


def _reason_kind(reason: str) -> str:
    """How ``activity-sync errors`` groups this reason."""
    return OperatorDeadLetter("calls", "m", "r", "{}", reason, None, "url").reason_kind
