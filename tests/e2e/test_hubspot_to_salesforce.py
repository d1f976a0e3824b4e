"""HubSpot -> Salesforce, one case per activity type of R1, checked the way a Salesforce admin checks
a synced activity: the Task exists exactly once, with the R9 subject, the S2 Task Type, on the right
Contact or Lead (R3/R6) and assigned to the right user (R7/R8).

The portal: Alice (a Salesforce Contact, HubSpot owner Bruno, mapped) and Lin (a Salesforce Lead,
HubSpot owner Carla, who has no Salesforce user). Both are matched by email (R4). Every HubSpot
activity below happens after its switch went on; webhooks, the activity route and one poll bring
them in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import requests

from activity_sync.adapters.salesforce_answers import soql_quote
from activity_sync.domain import HubSpotActivityType
from activity_sync_tools.rehearsal import PORTAL_ID
from tests.e2e.support import E2E, h2s, iso, utcnow

pytestmark = pytest.mark.e2e

# S2: the Task Type each switch is given; notes have none.
TASK_TYPES: Mapping[HubSpotActivityType, str | None] = {
    HubSpotActivityType.FORM_SUBMISSION: "Other",
    HubSpotActivityType.MARKETING_EMAIL: "Email",
    HubSpotActivityType.SALES_EMAIL: "Email",
    HubSpotActivityType.MEETING: "Meeting",
    HubSpotActivityType.CALL: "Call",
    HubSpotActivityType.NOTE: None,
    HubSpotActivityType.DOCUMENT_VIEW: "Other",
    HubSpotActivityType.TASK: "Other",
    HubSpotActivityType.INTEGRATION_EVENT: "Other",
}


@dataclasses.dataclass(frozen=True)
class Case:
    """What the admin expects to find in Salesforce for one HubSpot activity."""

    name: str
    activity_type: HubSpotActivityType
    subject: str
    person: str  # "alice" (Contact) or "lin" (Lead)
    assigned_to: str  # "ana", "bruno" or "integration" (R7 step 1, 2 or 3)
    subtype: str = "Task"


CASES = [
    Case(
        "form_submission", HubSpotActivityType.FORM_SUBMISSION, "Submitted: Contact Us", "lin", "integration"
    ),
    Case(
        "marketing_email_sent",
        HubSpotActivityType.MARKETING_EMAIL,
        "Sent: April Newsletter",
        "alice",
        "bruno",
    ),
    Case(
        "marketing_email_open",
        HubSpotActivityType.MARKETING_EMAIL,
        "Opened: April Newsletter",
        "lin",
        "integration",
    ),
    Case(
        "marketing_email_click",
        HubSpotActivityType.MARKETING_EMAIL,
        "Clicked: April Newsletter",
        "alice",
        "bruno",
    ),
    # Emails have no R7 step 1: Ana owns the email, Bruno (Alice's owner) gets the Task.
    Case("sales_email_sent", HubSpotActivityType.SALES_EMAIL, "Sent: Pricing for Acme", "alice", "bruno"),
    Case("sales_email_open", HubSpotActivityType.SALES_EMAIL, "Opened: Pricing for Acme", "alice", "bruno"),
    Case("sales_email_reply", HubSpotActivityType.SALES_EMAIL, "Replied: Pricing for Acme", "alice", "bruno"),
    # Meetings have no R7 step 1 either: Ana booked it, Bruno gets it.
    Case("meeting", HubSpotActivityType.MEETING, "Meeting: Quarterly review", "alice", "bruno"),
    # Carla made the call but has no Salesforce user: step 2, Alice's owner Bruno.
    Case("call", HubSpotActivityType.CALL, "Call: Discovery call", "alice", "bruno", subtype="Call"),
    # Ana wrote the note on Lin (owner Carla, unmapped): step 1, Ana.
    Case("note", HubSpotActivityType.NOTE, "Note: Spoke with Lin about the renewal", "lin", "ana"),
    # Dave's Salesforce user is inactive (R8: active users only): step 2, Alice's owner Bruno.
    Case("note_by_inactive_user", HubSpotActivityType.NOTE, "Note: Dave was here", "alice", "bruno"),
    Case("document_view", HubSpotActivityType.DOCUMENT_VIEW, "Viewed: Pricing deck.pdf", "alice", "bruno"),
    Case("task", HubSpotActivityType.TASK, "Send the proposal", "lin", "ana"),
    # The event names Ana as its owner, but integration events have no owner step; Lin's owner is
    # unmapped: step 3, the integration user.
    Case(
        "integration_event",
        HubSpotActivityType.INTEGRATION_EVENT,
        "Zoom: Webinar attended",
        "lin",
        "integration",
    ),
]


@dataclasses.dataclass
class Portal:
    people: dict[str, str]  # "alice"/"lin" -> Salesforce Contact/Lead id
    contacts: dict[str, str]  # "alice"/"lin" -> HubSpot contact id
    activity_ids: dict[str, str]  # case name -> HubSpot engagement/activity id, where HubSpot has one


@pytest.fixture(scope="module")
def portal(e2e: E2E) -> Portal:
    hubspot, salesforce = e2e.hubspot, e2e.salesforce
    # Given Alice (a Salesforce Contact) and Lin (a Salesforce Lead), matched by email (R4)
    alice_email, lin_email = e2e.tag("alice"), e2e.tag("lin")
    people = {
        "alice": salesforce.person("Contact", alice_email, owner="bruno", last_name="Almeida"),
        "lin": salesforce.person("Lead", lin_email, last_name="Lopes"),
    }
    contacts = {
        "alice": hubspot.contact(alice_email, owner="bruno"),
        "lin": hubspot.contact(lin_email, owner="carla"),
    }
    # and every HubSpot -> Salesforce switch on, each with its Task Type (S1, S2)
    for activity_type, task_type in TASK_TYPES.items():
        e2e.switch_on(h2s(activity_type), task_type=task_type)

    # When activities of every type happen in HubSpot
    now = iso(utcnow())
    ids: dict[str, str] = {}
    form = hubspot.admin("POST", "forms", {"name": "Contact Us", "fields": ["email", "firstname"]})
    submitted = requests.post(
        f"{hubspot.url}/submissions/v3/integration/submit/{PORTAL_ID}/{form['id']}",
        json={
            "fields": [{"name": "email", "value": lin_email}, {"name": "firstname", "value": "Lin"}],
            "context": {"pageUri": "https://e2e.example/contact", "pageName": "Contact"},
        },
        timeout=10,
    )
    assert submitted.ok, submitted.text
    newsletter = hubspot.admin("POST", "marketing-emails", {"name": "April Newsletter", "subject": "News"})
    hubspot.admin(
        "POST",
        "email-events",
        {
            "events": [
                {"type": "SENT", "recipient": alice_email, "emailId": newsletter["id"]},
                {"type": "OPEN", "recipient": lin_email, "emailId": newsletter["id"]},
                {"type": "CLICK", "recipient": alice_email, "emailId": newsletter["id"]},
            ]
        },
    )
    email = hubspot.engagement(
        "emails",
        {
            "hs_timestamp": now,
            "hs_email_subject": "Pricing for Acme",
            "hs_email_direction": "EMAIL",
            "hs_email_status": "SENT",
            "hs_email_text": "Here is our pricing.",
        },
        [contacts["alice"]],
        owner="ana",
    )
    ids["sales_email_sent"] = ids["sales_email_open"] = email
    hubspot.admin("POST", "sales-email-events", {"emailId": email, "type": "OPEN"})
    hubspot.admin("POST", "sales-email-events", {"emailId": email, "type": "OPEN"})  # opened twice
    tracked = hubspot.admin("POST", "sales-email-events", {"emailId": email, "type": "REPLY"})
    ids["sales_email_reply"] = str(tracked["reply"]["id"])
    ids["meeting"] = hubspot.engagement(
        "meetings",
        {"hs_timestamp": now, "hs_meeting_title": "Quarterly review", "hs_meeting_start_time": now},
        [contacts["alice"]],
        owner="ana",
    )
    ids["call"] = hubspot.engagement(
        "calls",
        {
            "hs_timestamp": now,
            "hs_call_title": "Discovery call",
            "hs_call_direction": "OUTBOUND",
            "hs_call_duration": "754000",
            "hs_call_body": "Budget confirmed",
        },
        [contacts["alice"]],
        owner="carla",
    )
    ids["note"] = hubspot.engagement(
        "notes",
        {"hs_timestamp": now, "hs_note_body": "<p>Spoke with Lin about the <b>renewal</b></p>"},
        [contacts["lin"]],
        owner="ana",
    )
    ids["note_by_inactive_user"] = hubspot.engagement(
        "notes", {"hs_note_body": "Dave was here"}, [contacts["alice"]], owner="dave"
    )
    ids["task"] = hubspot.engagement(
        "tasks",
        {
            "hs_timestamp": now,
            "hs_task_subject": "Send the proposal",
            "hs_task_status": "NOT_STARTED",
            "hs_task_priority": "HIGH",
        },
        [contacts["lin"]],
        owner="ana",
    )
    ids["document_view"], ids["integration_event"] = "view-" + email, "zoom-" + email
    posted = e2e.world.post_activity(
        [
            {
                "type": "document_view",
                "id": ids["document_view"],
                "occurred_at": now,
                "contact_ids": [contacts["alice"]],
                "properties": {"document_name": "Pricing deck.pdf"},
            },
            {
                "type": "integration_event",
                "id": ids["integration_event"],
                "occurred_at": now,
                "contact_ids": [contacts["lin"]],
                "owner_id": hubspot.owners["ana"],
                "properties": {"app_name": "Zoom", "event_name": "Webinar attended"},
            },
        ]
    )
    assert posted.status_code == 200, posted.text
    e2e.poll_and_drain()  # the poll reads the feeds, and overlaps the webhooks and the route
    return Portal(people, contacts, ids)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_r1_r3_each_hubspot_activity_type_becomes_one_salesforce_task(
    e2e: E2E, portal: Portal, case: Case
) -> None:
    # Given the activity of this type happened in HubSpot after its switch went on (fixture)
    # When the admin looks for its Task in Salesforce
    people = ", ".join(soql_quote(p) for p in portal.people.values())
    tasks = e2e.salesforce.tasks(f"WhoId IN ({people}) AND Subject = {soql_quote(case.subject)}")

    # Then there is exactly one, with the R9 subject, on the right person, assigned per R7
    assert len(tasks) == 1, f"{case.name}: {len(tasks)} Tasks with subject {case.subject!r}: {tasks}"
    task = tasks[0]
    assert task["WhoId"] == portal.people[case.person]
    assert task["OwnerId"] == e2e.salesforce.users[case.assigned_to], (
        f"{case.name}: assigned to {task['OwnerId']}, expected {case.assigned_to} "
        f"({e2e.salesforce.users[case.assigned_to]})"
    )
    assert task["TaskSubtype"] == case.subtype
    # and the Task carries the activity's identity (R3/R15)
    assert task["HubSpot_Activity_Id__c"], task
    if case.name in portal.activity_ids:
        assert task["HubSpot_Activity_Id__c"].endswith(f":{portal.activity_ids[case.name]}")


@pytest.mark.parametrize("activity_type", list(TASK_TYPES), ids=[t.value for t in TASK_TYPES])
def test_s2_each_type_writes_its_task_type_and_none_writes_no_type(
    e2e: E2E, portal: Portal, activity_type: HubSpotActivityType
) -> None:
    # Given every type synced with the Task Type of its switch (notes: none)
    expected = TASK_TYPES[activity_type]
    cases = [c for c in CASES if c.activity_type is activity_type]

    # When the admin reads the Tasks of this type (by the identity they carry)
    people = ", ".join(soql_quote(p) for p in portal.people.values())
    tasks = e2e.salesforce.tasks(
        f"WhoId IN ({people}) AND HubSpot_Activity_Id__c LIKE {soql_quote(f'hs:{activity_type.value}:%')}"
    )

    # Then each has exactly the configured Type, and no Type at all where the setting is none
    assert len(tasks) == len(cases), tasks
    assert [t["Type"] for t in tasks] == [expected] * len(cases)


def test_r3_task_fields_carry_the_activity_content(e2e: E2E, portal: Portal) -> None:
    # Given the note, the call and the task synced (fixture)
    # When the admin opens them in Salesforce
    people = ", ".join(soql_quote(p) for p in portal.people.values())

    def one(subject: str) -> dict[str, Any]:
        found = e2e.salesforce.tasks(f"WhoId IN ({people}) AND Subject = {soql_quote(subject)}")
        assert len(found) == 1, found
        return found[0]

    note = one("Note: Spoke with Lin about the renewal")
    call = one("Call: Discovery call")
    task = one("Send the proposal")

    # Then what happened is there: the note's text without HTML, the call's notes, and the open
    # HubSpot task as an open, high-priority Salesforce task; logged activities are completed
    assert note["Description"] == "Spoke with Lin about the renewal"
    assert note["Status"] == "Completed"
    assert call["Description"] == "Budget confirmed"
    assert task["Status"] == "Not Started"
    assert task["Priority"] == "High"


def test_r15_webhooks_plus_an_overlapping_poll_made_no_second_task(e2e: E2E, portal: Portal) -> None:
    # Given every activity arrived by webhook or route and again through the poll (fixture)
    # When the admin counts the Tasks on Alice and Lin
    tasks = [
        *e2e.salesforce.tasks_on(portal.people["alice"]),
        *e2e.salesforce.tasks_on(portal.people["lin"]),
    ]

    # Then there is one per activity, and no identity appears twice
    identities = [t["HubSpot_Activity_Id__c"] for t in tasks]
    assert len(identities) == len(set(identities)), identities
    assert len(tasks) == len(CASES), sorted(t["Subject"] for t in tasks)


@dataclasses.dataclass
class Later:
    person: str  # Omar's Salesforce Contact
    pia: str  # Pia's Salesforce Contact (her HubSpot owner, Carla, has no Salesforce user)
    long_text: str


@pytest.fixture(scope="module")
def later(e2e: E2E, portal: Portal) -> Iterator[Later]:
    # Given Omar and Pia, whose HubSpot contacts name their Salesforce Contacts (salesforcecontactid, R4)
    people: dict[str, tuple[str, str]] = {}
    for name, owner in (("omar", "bruno"), ("pia", "carla")):
        email = e2e.tag(name)
        person = e2e.salesforce.person("Contact", email, owner="bruno", last_name=name.title())
        people[name] = (person, e2e.hubspot.contact(email, owner=owner, salesforcecontactid=person))
    # and, while the stack runs, the admin changes the call subject template (R9, S3) and makes Ana
    # the integration user (S4)
    settings = e2e.world.service.settings
    calls = h2s(HubSpotActivityType.CALL)
    template = "Phone: {title} ({date})"
    settings.save_type_settings(
        calls, dataclasses.replace(settings.type_settings(calls), subject_template=template), by="e2e"
    )
    settings.set_integration_user_id(e2e.salesforce.users["ana"])
    # When Carla logs a call with Omar, Ana writes him a long note, and an integration posts an
    # event for Pia
    omar = people["omar"][1]
    e2e.hubspot.engagement("calls", {"hs_call_title": "Renewal call"}, [omar], owner="carla")
    long_text = " ".join(f"word{n}" for n in range(80))  # 559 characters
    e2e.hubspot.engagement("notes", {"hs_note_body": f"<p>{long_text}</p>"}, [omar], owner="ana")
    posted = e2e.world.post_activity(
        {
            "type": "integration_event",
            "id": f"pia-{omar}",
            "occurred_at": iso(utcnow()),
            "contact_ids": [people["pia"][1]],
            "properties": {"app_name": "Calendly", "event_name": "Demo booked"},
        }
    )
    assert posted.status_code == 200, posted.text
    e2e.drain()
    yield Later(people["omar"][0], people["pia"][0], long_text)
    settings.set_integration_user_id(e2e.salesforce.users["integration"])


def test_r9_s3_a_subject_template_changed_in_settings_applies_without_a_redeploy(
    e2e: E2E, later: Later
) -> None:
    # Given the call template was changed while the stack ran (fixture)
    # When the admin reads the call's Task
    calls = [t for t in e2e.salesforce.tasks_on(later.person) if t["TaskSubtype"] == "Call"]

    # Then it follows the new template
    assert [t["Subject"] for t in calls] == [f"Phone: Renewal call ({utcnow().date().isoformat()})"]


def test_r9_a_long_note_subject_is_cut_to_255_characters_and_the_description_keeps_it_all(
    e2e: E2E, later: Later
) -> None:
    # Given a 559-character note (fixture)
    # When the admin reads its Task
    notes = [t for t in e2e.salesforce.tasks_on(later.person) if t["TaskSubtype"] == "Task"]

    # Then the subject is the note's start, within Salesforce's 255 characters; the text is whole
    assert len(notes) == 1, notes
    subject = notes[0]["Subject"]
    assert subject.startswith("Note: word0 word1 ")
    assert len(subject) <= 255
    assert notes[0]["Description"] == later.long_text


def test_r7_s4_the_integration_user_set_in_settings_gets_what_no_owner_maps_to(
    e2e: E2E, later: Later
) -> None:
    # Given Ana made the integration user, and Pia's owner (Carla) has no Salesforce user (fixture)
    # When the admin reads the Task of the integration's event for Pia
    tasks = e2e.salesforce.tasks_on(later.pia)

    # Then it is assigned to the configured integration user
    assert [(t["Subject"], t["OwnerId"]) for t in tasks] == [
        ("Calendly: Demo booked", e2e.salesforce.users["ana"])
    ]
