"""Which HubSpot activities sync, when, and onto whom: the time windows (R5), the switch (S1), the
contact that does not sync yet (R4) and the choice among several contacts (R6).

History is made in the past with ``created``/``submittedAt``/``createdAt`` in the seeds, before the
switches go on; then the switches go on, one poll reads the feeds, and people keep working.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from activity_sync.domain import HubSpotActivityType
from tests.e2e.support import E2E, h2s, iso, utcnow

pytestmark = pytest.mark.e2e

DAY = dt.timedelta(days=1)


@dataclasses.dataclass
class Person:
    email: str
    hubspot_id: str
    salesforce_id: str | None  # None: no Salesforce Contact or Lead has the email (yet)


@dataclasses.dataclass
class History:
    start: dt.datetime  # the "now" the history's past was measured from
    enabled_at: dt.datetime
    people: dict[str, Person]
    ids: dict[str, str]  # HubSpot activity ids by name


def _person(
    e2e: E2E,
    name: str,
    *,
    syncs: bool = True,
    created_at: dt.datetime | None = None,
    by_property: bool = False,
) -> Person:
    """A HubSpot contact; when it ``syncs``, a Salesforce Contact with its email (R4's email match),
    also named in HubSpot's ``salesforcecontactid`` property when ``by_property``."""
    email = e2e.tag(name)
    salesforce_id = e2e.salesforce.person("Contact", email, last_name=name.title()) if syncs else None
    extra = {"salesforcecontactid": salesforce_id} if by_property and salesforce_id else {}
    return Person(
        email, e2e.hubspot.contact(email, owner="bruno", created_at=created_at, **extra), salesforce_id
    )


@pytest.fixture(scope="module")
def history(e2e: E2E) -> History:
    hubspot = e2e.hubspot
    start = utcnow()
    people: dict[str, Person] = {}
    # Given people: most sync (a Salesforce Contact with their email, R4); Dora does not yet
    for name in ("m29", "m31", "f364", "f366", "fwd"):
        people[name] = _person(e2e, name)
    people["dora"] = _person(e2e, "dora", syncs=False)
    lena_email = e2e.tag("lena")
    lena_lead = e2e.salesforce.person("Lead", lena_email, last_name="Lima")
    people["lena"] = Person(lena_email, hubspot.contact(lena_email, owner="bruno"), lena_lead)
    # R6 (these sync through HubSpot's salesforcecontactid property): contacts created on the same
    # date (the later one in the day has the lower id) ...
    tie_day = dt.datetime.combine((start - 10 * DAY).date(), dt.time(), tzinfo=dt.UTC)
    people["tie_late"] = _person(
        e2e, "tielate", by_property=True, created_at=tie_day + dt.timedelta(hours=18)
    )
    people["tie_early"] = _person(
        e2e, "tieearly", by_property=True, created_at=tie_day + dt.timedelta(hours=6)
    )
    # ... on different dates (the more recent one has the lower id) ...
    people["recent"] = _person(e2e, "recent", by_property=True, created_at=start - 3 * DAY)
    people["older"] = _person(e2e, "older", by_property=True, created_at=start - 20 * DAY)
    # ... and a newest contact that does not sync beside an older one that does
    people["newest"] = _person(e2e, "newest", by_property=True, syncs=False, created_at=start - 1 * DAY)
    people["synced"] = _person(e2e, "synced", by_property=True, created_at=start - 15 * DAY)

    # and history from before the switches go on: marketing email events and form submissions ...
    def event(name: str, days: int) -> dict[str, Any]:
        return {
            "type": "OPEN",
            "recipient": people[name].email,
            "email": "digest",
            "created": iso(start - days * DAY),
        }

    def submission(name: str, days: int) -> dict[str, Any]:
        return {
            "submittedAt": iso(start - days * DAY),
            "values": {"email": people[name].email},
            "pageUrl": "https://e2e.example/webinar",
        }

    hubspot.admin(
        "POST",
        "seed",
        {
            "marketing_emails": [{"ref": "digest", "name": "Digest", "subject": "The digest"}],
            "email_events": [event("m29", 29), event("m31", 31), event("dora", 29), event("dora", 31)],
            "forms": [
                {
                    "ref": "webinar",
                    "name": "Webinar signup",
                    "fields": ["email"],
                    "submissions": [
                        submission("f364", 364),
                        submission("f366", 366),
                        submission("dora", 364),
                        submission("dora", 366),
                    ],
                }
            ],
        },
    )
    # ... and engagements: a note written and a call made before the switches go on
    ids = {
        "old_note": hubspot.engagement("notes", {"hs_note_body": "Old note"}, [people["fwd"].hubspot_id]),
        "old_call": hubspot.engagement(
            "calls",
            {"hs_timestamp": iso(start - DAY), "hs_call_title": "Old call"},
            [people["fwd"].hubspot_id],
        ),
    }

    # When the switches go on (meetings stay off)
    enabled_at = utcnow()
    for activity_type in (
        HubSpotActivityType.MARKETING_EMAIL,
        HubSpotActivityType.FORM_SUBMISSION,
        HubSpotActivityType.NOTE,
        HubSpotActivityType.CALL,
        HubSpotActivityType.SALES_EMAIL,
        HubSpotActivityType.INTEGRATION_EVENT,
    ):
        enabled_at = e2e.switch_on(h2s(activity_type), task_type="Other")
    # and people keep working: the old note and call are edited, an integration posts an event
    # that happened an hour ago and one that happens now
    hubspot.update("notes", ids["old_note"], {"hs_note_body": "Old note, edited"})
    hubspot.update("calls", ids["old_call"], {"hs_call_title": "Old call, renamed"})
    for name, occurred_at in (
        ("event_before", enabled_at - dt.timedelta(hours=1)),
        ("event_after", utcnow()),
    ):
        ids[name] = f"{name}-{people['fwd'].hubspot_id}"
        posted = e2e.world.post_activity(
            {
                "type": "integration_event",
                "id": ids[name],
                "occurred_at": iso(occurred_at),
                "contact_ids": [people["fwd"].hubspot_id],
                "properties": {"app_name": "Zoom", "event_name": name},
            }
        )
        assert posted.status_code == 200, posted.text
    # a meeting is booked while its switch is off
    ids["meeting"] = hubspot.engagement(
        "meetings", {"hs_meeting_title": "Switched off"}, [people["fwd"].hubspot_id]
    )
    # activities with several contacts (R6)
    ids["tie_note"] = hubspot.engagement(
        "notes",
        {"hs_note_body": "Same-date tie"},
        [people["tie_late"].hubspot_id, people["tie_early"].hubspot_id],
    )
    ids["recent_note"] = hubspot.engagement(
        "notes", {"hs_note_body": "Most recent"}, [people["older"].hubspot_id, people["recent"].hubspot_id]
    )
    ids["two_recipients"] = hubspot.engagement(
        "emails",
        {
            "hs_email_subject": "Proposal for both of you",
            "hs_email_direction": "EMAIL",
            "hs_email_status": "SENT",
        },
        [people["newest"].hubspot_id, people["synced"].hubspot_id],
    )
    # a note on Lena, a Lead
    ids["lena_before"] = hubspot.engagement(
        "notes", {"hs_note_body": "Lead stage"}, [people["lena"].hubspot_id]
    )
    # and a note is written on Dora, who does not sync
    ids["dora_note"] = hubspot.engagement(
        "notes", {"hs_note_body": "Dora asked for a demo"}, [people["dora"].hubspot_id]
    )
    e2e.poll_and_drain()
    return History(start, enabled_at, people, ids)


def _tasks_on(e2e: E2E, person: Person) -> list[dict[str, Any]]:
    assert person.salesforce_id is not None
    return e2e.salesforce.tasks_on(person.salesforce_id)


def test_r5_marketing_email_events_29_days_before_enabling_sync_31_days_do_not(
    e2e: E2E, history: History
) -> None:
    # Given opens of the same email 29 and 31 days before the switch went on, by contacts that sync
    # When the poll has read the events feed (fixture)
    in_window = _tasks_on(e2e, history.people["m29"])
    too_old = _tasks_on(e2e, history.people["m31"])

    # Then the open inside the 30-day window is a Task, dated when it happened; the other is not
    assert [(t["Subject"], t["ActivityDate"]) for t in in_window] == [
        ("Opened: Digest", (history.start - 29 * DAY).date().isoformat())
    ]
    assert too_old == []


def test_r5_form_submissions_364_days_before_enabling_sync_366_days_do_not(
    e2e: E2E, history: History
) -> None:
    # Given submissions 364 and 366 days before the switch went on, by contacts that sync
    # When the poll has read the submissions (fixture)
    in_window = _tasks_on(e2e, history.people["f364"])
    too_old = _tasks_on(e2e, history.people["f366"])

    # Then the one inside the one-year window is a Task; the other is not
    assert [(t["Subject"], t["ActivityDate"]) for t in in_window] == [
        ("Submitted: Webinar signup", (history.start - 364 * DAY).date().isoformat())
    ]
    assert too_old == []


def test_r5_forward_only_types_never_sync_what_happened_before_enabled_at(e2e: E2E, history: History) -> None:
    # Given a note and a call from before the switches went on, edited afterwards, and an integration
    # event that happened an hour before (plus one that happens after, which must sync)
    # When webhooks, the activity route and the poll have brought them in (fixture)
    tasks = _tasks_on(e2e, history.people["fwd"])

    # Then only the event from after the switch is a Task
    assert [t["Subject"] for t in tasks] == ["Zoom: event_after"]
    # and the others are accounted for as outside their window (R16)
    for activity_type in (
        HubSpotActivityType.NOTE,
        HubSpotActivityType.CALL,
        HubSpotActivityType.INTEGRATION_EVENT,
    ):
        figures = e2e.figures(h2s(activity_type))
        assert figures.get("skipped:outside_window", 0) >= 1, (activity_type, figures)


def test_s1_a_type_switched_off_syncs_nothing_and_says_type_off(e2e: E2E, history: History) -> None:
    # Given the meeting switch is off (never turned on)
    # When a meeting was booked on a contact that syncs (fixture)
    meetings = e2e.salesforce.tasks(f"HubSpot_Activity_Id__c = 'hs:meeting:{history.ids['meeting']}'")
    subjects = [t["Subject"] for t in _tasks_on(e2e, history.people["fwd"])]

    # Then no Task exists for it, and its figure says it waits for the switch
    assert meetings == []
    assert "Meeting: Switched off" not in subjects
    assert e2e.figures(h2s(HubSpotActivityType.MEETING)).get("waiting:type_off", 0) >= 1


def test_r6_the_most_recently_created_contact_gets_the_task(e2e: E2E, history: History) -> None:
    # Given a note on two syncing contacts: one created 3 days ago (lower id), one 20 days ago
    # When it synced (fixture)
    on_recent = _tasks_on(e2e, history.people["recent"])
    on_older = _tasks_on(e2e, history.people["older"])

    # Then its single Task is on the more recently created contact, whatever the ids
    assert [t["Subject"] for t in on_recent] == ["Note: Most recent"]
    assert on_older == []


def test_r6_same_date_tie_goes_to_the_highest_id(e2e: E2E, history: History) -> None:
    # Given a note on two syncing contacts created on the same date: the one created later that
    # day has the lower id
    # When it synced (fixture)
    on_late = _tasks_on(e2e, history.people["tie_late"])
    on_early = _tasks_on(e2e, history.people["tie_early"])

    # Then its single Task is on the contact with the highest id
    assert int(history.people["tie_early"].hubspot_id) > int(history.people["tie_late"].hubspot_id)
    assert [t["Subject"] for t in on_early] == ["Note: Same-date tie"]
    assert on_late == []


def test_r6_a_sales_email_to_two_recipients_is_one_task_on_the_contact_that_syncs(
    e2e: E2E, history: History
) -> None:
    # Given a sales email to two recipients: the newest contact does not sync, the older one does
    # When it synced (fixture)
    tasks = e2e.salesforce.tasks(
        f"HubSpot_Activity_Id__c = 'hs:sales_email:sent:{history.ids['two_recipients']}'"
    )

    # Then it is one Task, on the contact that syncs
    assert len(tasks) == 1, tasks
    assert tasks[0]["WhoId"] == history.people["synced"].salesforce_id
    assert tasks[0]["Subject"] == "Sent: Proposal for both of you"


def test_r4_activities_wait_for_their_contact_and_sync_within_their_windows_when_it_starts(
    e2e: E2E, history: History
) -> None:
    dora = history.people["dora"]
    # Given Dora, who does not sync, with a note written after the switch went on, opens of the
    # digest 29 and 31 days before it, and submissions 364 and 366 days before it
    assert e2e.figures(h2s(HubSpotActivityType.NOTE)).get("waiting:contact_not_syncing", 0) >= 1
    assert e2e.salesforce.tasks(f"HubSpot_Activity_Id__c = 'hs:note:{history.ids['dora_note']}'") == []

    # When a rep creates a Salesforce Contact with her email, and her HubSpot contact changes
    dora.salesforce_id = e2e.salesforce.create(
        "Contact", {"LastName": "Duarte", "Email": dora.email}, as_user="ana"
    )
    e2e.hubspot.update("contacts", dora.hubspot_id, {"lastname": "Duarte"})
    # (her new Contact is seen on the Salesforce side, by the poller's look at changed Contacts:
    # the change of her last name is of a property R4 does not read, and sends nothing)
    e2e.drain()
    e2e.poll_after_this_second()

    # Then what waited inside its window syncs onto her, once each; what is outside does not
    tasks = sorted((t["Subject"], t["ActivityDate"]) for t in _tasks_on(e2e, dora))
    assert tasks == sorted(
        [
            ("Note: Dora asked for a demo", utcnow().date().isoformat()),
            ("Opened: Digest", (history.start - 29 * DAY).date().isoformat()),
            ("Submitted: Webinar signup", (history.start - 364 * DAY).date().isoformat()),
        ]
    )


def test_r4_after_a_lead_is_converted_new_activities_go_on_its_contact(e2e: E2E, history: History) -> None:
    lena = history.people["lena"]
    assert lena.salesforce_id is not None
    # Given Lena, who synced as a Salesforce Lead (matched by email): her note is a Task on the Lead
    before = e2e.salesforce.tasks_for_activity(f"hs:note:{history.ids['lena_before']}")
    assert [t["WhoId"] for t in before] == [lena.salesforce_id]

    # When a rep converts the Lead into a Contact, her HubSpot contact changes, and then Ana writes
    # another note on her
    converted = e2e.salesforce.admin(
        "POST", f"leads/{lena.salesforce_id}/convert", {"as_user": e2e.salesforce.users["ana"]}
    )
    e2e.hubspot.update("contacts", lena.hubspot_id, {"lastname": "Lima (customer)"})
    # (a change of a property R4 does not read costs no Salesforce query; the conversion itself is
    # seen on the Salesforce side, by the poller's look at changed Contacts and Leads - whose SOQL
    # window ends at the start of the current second)
    e2e.drain()
    e2e.poll_after_this_second()
    after = e2e.hubspot.engagement("notes", {"hs_note_body": "Customer stage"}, [lena.hubspot_id])
    e2e.drain()

    # Then the new note's Task is on the Contact the Lead became (a converted Lead takes no new
    # activities in Salesforce)
    tasks = e2e.salesforce.tasks_for_activity(f"hs:note:{after}")
    assert [t["WhoId"] for t in tasks] == [converted["contact_id"]]
