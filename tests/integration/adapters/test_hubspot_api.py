"""HubSpotClient against the HubSpot sandbox: every port method, batching and paging, the call
budget (counted by the sandbox's request log and by the client itself), retries and error mapping."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pytest

from activity_sync.adapters.http import (
    CALL_BUDGET_SECONDS,
    MIN_REQUEST_SECONDS,
    SETTLE_SECONDS,
    Deadline,
    call_seconds,
    worst_case_call_seconds,
)
from activity_sync.adapters.hubspot_answers import parse_instant
from activity_sync.adapters.hubspot_api import (
    API_VERSION,
    ASSOCIATIONS,
    OBJECTS,
    OWNERS,
    PROPERTIES,
    HubSpotClient,
)
from activity_sync.ports import HubSpotApi, NewObject, VendorApiError
from activity_sync_tools.sandbox.core import RunningServer
from activity_sync_tools.sandbox.hubspot.testing import Admin, OpenApi, openapi_directory

from .conftest import HUBSPOT_TOKEN, SandboxLog

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.integration

NOTE_TO_CONTACT = 202
T0 = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)


def _iso(instant: dt.datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def _seed(admin: Admin, body: dict[str, Any]) -> dict[str, dict[str, str]]:
    refs: dict[str, dict[str, str]] = admin.post("seed", body)["refs"]
    return refs


def _note(ref: str, **extra: Any) -> dict[str, Any]:
    return {"ref": ref, "properties": {"hs_note_body": f"note {ref}", "hs_timestamp": _iso(T0)}, **extra}


def _seed_notes(admin: Admin, count: int) -> list[str]:
    notes = [_note(f"n{i}") for i in range(count)]
    refs = _seed(admin, {"notes": notes})
    return [refs["notes"][f"n{i}"] for i in range(count)]


def test_the_client_implements_the_port_and_spends_nothing_on_empty_input(
    hubspot: HubSpotClient, hubspot_log: SandboxLog
) -> None:
    port: HubSpotApi = hubspot  # mypy checks the structural match

    assert port.read_objects("notes", [], ["hs_note_body"]) == {}
    assert port.associated_ids("notes", "contacts", []) == {}
    assert port.find_contacts_by_email([], []) == {}
    assert port.upsert_objects("notes", "activity_sync_key", []) == []
    assert port.create_objects("notes", "activity_sync_key", []) == []
    assert port.associate("notes", "contacts", []) == []
    assert list(port.search_modified("notes", T0, T0, [])) == []
    assert hubspot.calls.total() == 0
    assert hubspot_log.total() == 0


# -- read_objects ----------------------------------------------------------------------------------


def test_read_objects_chunks_250_ids_into_three_batch_reads_and_drops_missing_ids(
    hubspot: HubSpotClient, hubspot_admin: Admin, hubspot_log: SandboxLog
) -> None:
    # Given 250 notes and two ids that do not exist
    ids = _seed_notes(hubspot_admin, 250)
    hubspot_log.clear()

    # When they are read in one call
    found = hubspot.read_objects("notes", [*ids, "999999998", "999999999"], ["hs_note_body"])

    # Then every existing note comes back once, the missing ids are simply absent,
    # and it cost three batch calls (100 + 100 + 52 inputs) by both the sandbox's and the client's count
    assert set(found) == set(ids)
    assert found[ids[7]].properties["hs_note_body"] == "note n7"
    created_at = found[ids[7]].created_at
    assert created_at is not None
    assert created_at.utcoffset() == dt.timedelta(0)
    assert hubspot_log.count("POST", f"{OBJECTS}/notes/batch/read") == 3
    assert hubspot.calls[f"POST {OBJECTS}/notes/batch/read"] == 3
    assert hubspot.calls.total() == 3


def test_read_objects_by_a_unique_property_keys_results_by_the_value_asked_for(
    hubspot: HubSpotClient, hubspot_admin: Admin
) -> None:
    # Given two contacts
    _seed(
        hubspot_admin,
        {
            "contacts": [
                {"properties": {"email": "ada@example.com", "firstname": "Ada"}},
                {"properties": {"email": "lin@example.com", "firstname": "Lin"}},
            ]
        },
    )

    # When they are read by email
    found = hubspot.read_objects(
        "contacts",
        ["ada@example.com", "nobody@example.com", "lin@example.com"],
        ["firstname"],
        id_property="email",
    )

    # Then the keys are the emails asked for
    assert {k: r.properties["firstname"] for k, r in found.items()} == {
        "ada@example.com": "Ada",
        "lin@example.com": "Lin",
    }


# -- associated_ids ----------------------------------------------------------------------------------


def test_associated_ids_follows_one_ids_own_paging_and_keeps_ids_without_associations(
    hubspot: HubSpotClient, hubspot_admin: Admin, hubspot_log: SandboxLog
) -> None:
    # Given a contact with 501 notes (the sandbox pages associations by 500) and one with none
    refs = _seed(
        hubspot_admin,
        {
            "contacts": [{"ref": "busy", "properties": {"email": "busy@example.com"}}, {"ref": "idle"}],
            "notes": [_note(f"n{i}", associations=["contacts:busy"]) for i in range(501)],
        },
    )
    busy, idle = refs["contacts"]["busy"], refs["contacts"]["idle"]
    hubspot_log.clear()

    # When the contacts' notes are read
    associated = hubspot.associated_ids("contacts", "notes", [busy, idle])

    # Then all 501 notes are found through a second request for the busy contact's next page,
    # and the contact without notes is still a key
    assert sorted(associated[busy]) == sorted(refs["notes"].values())
    assert associated[idle] == []
    assert hubspot_log.count("POST", f"{ASSOCIATIONS}/contacts/notes/batch/read") == 2
    assert hubspot.calls.total() == 2


def test_associated_ids_sends_up_to_1000_ids_per_batch_read(
    hubspot: HubSpotClient, hubspot_admin: Admin, hubspot_log: SandboxLog
) -> None:
    # Given 1,001 notes, each on one contact
    refs = _seed(
        hubspot_admin,
        {
            "contacts": [{"ref": "c"}],
            "notes": [_note(f"n{i}", associations=["contacts:c"]) for i in range(1001)],
        },
    )
    note_ids = [refs["notes"][f"n{i}"] for i in range(1001)]
    hubspot_log.clear()

    # When their contacts are read
    associated = hubspot.associated_ids("notes", "contacts", note_ids)

    # Then two calls cover them (HubSpot's batch read limit is 1,000 ids)
    assert all(associated[n] == [refs["contacts"]["c"]] for n in note_ids)
    assert hubspot_log.count("POST", f"{ASSOCIATIONS}/notes/contacts/batch/read") == 2


# -- search_modified -------------------------------------------------------------------------------


def _seed_notes_at(server: RunningServer, instants: list[dt.datetime]) -> list[str]:
    """Notes whose hs_lastmodifieddate is exactly the given instants (the sandbox stamps records
    with its clock, so the clock is frozen at each instant while seeding, then released)."""
    app: Any = server.app
    ids: list[str] = []
    try:
        current: dt.datetime | None = None
        batch: list[dict[str, Any]] = []

        def flush() -> None:
            if batch:
                assert current is not None
                app.clock.set(current, frozen=True)
                refs = app.load_seed({"notes": batch})
                ids.extend(refs["notes"][entry["ref"]] for entry in batch)
                batch.clear()

        for index, instant in enumerate(instants):
            if instant != current:
                flush()
                current = instant
            batch.append(_note(f"n{index}"))
        flush()
    finally:
        # The rate limiter runs on the sandbox clock: let it move again.
        app.clock.set(max(instants) + dt.timedelta(minutes=5))
    return ids


def test_search_modified_returns_the_window_oldest_first_across_short_pages(
    hubspot: HubSpotClient, hubspot_server: RunningServer, hubspot_admin: Admin, hubspot_log: SandboxLog
) -> None:
    # Given notes modified before, inside and after a window, and search pages that come back
    # short of the limit while more results remain (as HubSpot's do)
    instants = [T0 + dt.timedelta(minutes=m) for m in range(-2, 12)]
    ids = _seed_notes_at(hubspot_server, instants)
    hubspot_admin.post("config", {"search_short_page_by": 195})  # pages of 5 results
    hubspot_log.clear()

    # When the window [T0, T0 + 10 min) is searched
    found = list(hubspot.search_modified("notes", T0, T0 + dt.timedelta(minutes=10), ["hs_note_body"]))

    # Then exactly the ten notes inside it come back, oldest first, every short page followed
    assert [r.id for r in found] == ids[2:12]
    stamps = [r.properties["hs_lastmodifieddate"] or "" for r in found]
    assert stamps == sorted(stamps)
    assert found[0].properties["hs_note_body"] == "note n2"
    assert hubspot_log.count("POST", f"{OBJECTS}/notes/search") == 2


def test_search_modified_gets_past_the_10000_result_cap_by_restarting_from_the_last_instant(
    hubspot: HubSpotClient, hubspot_server: RunningServer, hubspot_admin: Admin, hubspot_log: SandboxLog
) -> None:
    # Given 10,300 notes modified in groups of 100 per second (so the cap falls inside a group)
    hubspot_admin.post("rate-limits", {"search_per_second": 1000})
    instants = [T0 + dt.timedelta(seconds=i // 100) for i in range(10_300)]
    ids = _seed_notes_at(hubspot_server, instants)
    hubspot_log.clear()

    # When every note modified in the window is searched
    found = list(hubspot.search_modified("notes", T0, T0 + dt.timedelta(hours=1), ["hs_note_body"]))

    # Then each note comes back exactly once, in modification order, although one query can page
    # through 10,000 results only: 50 pages, then a restart from the 99th second (whose 100 notes
    # were already seen) finishing in 2 pages
    assert len(found) == 10_300
    assert {r.id for r in found} == set(ids)
    stamps = [r.properties["hs_lastmodifieddate"] or "" for r in found]
    assert stamps == sorted(stamps)
    assert hubspot_log.count("POST", f"{OBJECTS}/notes/search") == 52
    assert hubspot.calls[f"POST {OBJECTS}/notes/search"] == 52


def test_search_modified_walks_a_capped_single_instant_by_object_id(
    hubspot: HubSpotClient, hubspot_server: RunningServer, hubspot_admin: Admin
) -> None:
    # Given more notes modified in one millisecond than one query can page through
    # (a cap of 200 here stands in for HubSpot's 10,000)
    hubspot.search_result_cap = 200
    hubspot.search_page_size = 100
    hubspot_admin.post("rate-limits", {"search_per_second": 1000})
    ids = _seed_notes_at(hubspot_server, [T0] * 450 + [T0 + dt.timedelta(seconds=1)] * 3)

    # When the window is searched
    found = list(hubspot.search_modified("notes", T0, T0 + dt.timedelta(minutes=1), []))

    # Then every note comes back once, the crowded instant first
    assert len(found) == 453
    assert {r.id for r in found} == set(ids)
    assert {r.id for r in found[:450]} == set(ids[:450])


def test_search_modified_of_contacts_uses_lastmodifieddate(
    hubspot: HubSpotClient, hubspot_admin: Admin
) -> None:
    # Given a contact modified now
    _seed(hubspot_admin, {"contacts": [{"properties": {"email": "ada@example.com"}}]})
    now = dt.datetime.now(dt.UTC)

    # When contacts modified in the last hour are searched
    found = list(
        hubspot.search_modified(
            "contacts", now - dt.timedelta(hours=1), now + dt.timedelta(minutes=1), ["email"]
        )
    )

    # Then the contact is found (contacts have no hs_lastmodifieddate property to filter on)
    assert [r.properties["email"] for r in found] == ["ada@example.com"]


# -- owners, marketing, forms ------------------------------------------------------------------------


def test_owners_lists_active_and_archived_owners(hubspot: HubSpotClient, hubspot_admin: Admin) -> None:
    # Given two active owners and an archived one
    hubspot_admin.post(
        "owners",
        {
            "owners": [
                {"email": "ana@example.com", "firstName": "Ana"},
                {"email": "Ben@Example.com", "firstName": "Ben"},
                {"email": "old@example.com", "firstName": "Old", "archived": True},
            ]
        },
    )

    # When the owners are listed
    owners = hubspot.owners()

    # Then all three come back, the archived one inactive
    assert {(o.email, o.active) for o in owners} == {
        ("ana@example.com", True),
        ("ben@example.com", True),
        ("old@example.com", False),
    }
    assert all(o.id.isdigit() for o in owners)


def test_email_events_filters_types_and_the_half_open_window_and_pages_by_offset(
    hubspot: HubSpotClient, hubspot_admin: Admin, hubspot_log: SandboxLog
) -> None:
    # Given a marketing email with 1,001 opens inside the window, a click at its start, a click at
    # its end (excluded) and a send (not asked for)
    start, end = T0, T0 + dt.timedelta(days=1)
    opens = [
        {
            "type": "OPEN",
            "recipient": f"r{i}@example.com",
            "email": "news",
            "created": _iso(start + dt.timedelta(seconds=i)),
        }
        for i in range(1001)
    ]
    _seed(
        hubspot_admin,
        {
            "marketing_emails": [{"ref": "news", "name": "March newsletter", "subject": "News"}],
            "email_events": [
                *opens,
                {"type": "CLICK", "recipient": "a@example.com", "email": "news", "created": _iso(start)},
                {"type": "CLICK", "recipient": "b@example.com", "email": "news", "created": _iso(end)},
                {"type": "SENT", "recipient": "a@example.com", "email": "news", "created": _iso(start)},
            ],
        },
    )
    hubspot_log.clear()

    # When the events in [start, end) are read, every kind in one stream
    pages = list(hubspot.email_event_pages(start, end))
    events = [e for page in pages for e in page.events]

    # Then 1,001 opens, the click and the send inside the window come back, in two pages of at
    # most 1,000, each page naming the offset that asked for it
    assert sum(1 for e in events if e["type"] == "OPEN") == 1001
    assert [e["recipient"] for e in events if e["type"] == "CLICK"] == ["a@example.com"]
    assert [e["type"] for e in events if e["type"] == "SENT"] == ["SENT"]
    assert hubspot_log.count("GET", "/email/public/v1/events") == 2
    assert pages[0].offset is None
    assert pages[1].offset == pages[0].next_offset is not None
    assert pages[-1].next_offset is None
    # And a read resumed from a page's offset starts at that page
    resumed = list(hubspot.email_event_pages(start, end, pages[1].offset))
    assert [len(p.events) for p in resumed] == [len(pages[1].events)]


def test_marketing_email_names_map_event_campaign_ids_to_email_names(
    hubspot: HubSpotClient, hubspot_server: RunningServer, hubspot_admin: Admin
) -> None:
    # Given two marketing emails, one since archived, and an open of each
    refs = _seed(
        hubspot_admin,
        {
            "marketing_emails": [
                {"ref": "a", "name": "Welcome", "subject": "Hi"},
                {"ref": "b", "name": "March newsletter", "subject": "News"},
            ],
            "email_events": [
                {"type": "OPEN", "recipient": "ada@example.com", "email": "a", "created": _iso(T0)},
                {"type": "OPEN", "recipient": "ada@example.com", "email": "b", "created": _iso(T0)},
            ],
        },
    )
    app: Any = hubspot_server.app
    with app.lock:  # the sandbox has no route that archives a marketing email
        app.marketing.emails[int(refs["marketing_emails"]["a"])].archived = True
    events = [e for page in hubspot.email_event_pages(T0, T0 + dt.timedelta(seconds=1)) for e in page.events]

    # When the names are read
    names = hubspot.marketing_email_names()

    # Then each event's campaign id names its email, archived or not
    assert sorted(names[str(e["emailCampaignId"])] for e in events) == ["March newsletter", "Welcome"]


def test_forms_pages_through_every_form(
    hubspot: HubSpotClient, hubspot_admin: Admin, hubspot_log: SandboxLog
) -> None:
    # Given 51 forms
    _seed(hubspot_admin, {"forms": [{"name": f"Form {i}", "fields": ["email"]} for i in range(51)]})
    hubspot_log.clear()

    # When the forms are listed
    forms = hubspot.forms()

    # Then all 51 come back in two pages
    assert sorted(f["name"] for f in forms) == sorted(f"Form {i}" for i in range(51))
    assert hubspot_log.count("GET", "/marketing/v3/forms") == 2


def test_form_submissions_stop_at_the_first_one_older_than_since(
    hubspot: HubSpotClient, hubspot_admin: Admin, hubspot_log: SandboxLog
) -> None:
    # Given a form with 120 submissions, one an hour
    submissions = [
        {"submittedAt": _iso(T0 - dt.timedelta(hours=h)), "values": {"email": f"s{h}@example.com"}}
        for h in range(120)
    ]
    refs = _seed(
        hubspot_admin,
        {"forms": [{"ref": "f", "name": "Contact Us", "fields": ["email"], "submissions": submissions}]},
    )
    form_id = refs["forms"]["f"]
    hubspot_log.clear()

    # When the submissions of the last 10 hours are read
    recent = list(hubspot.form_submissions(form_id, T0 - dt.timedelta(hours=10)))

    # Then the 11 newest come back, newest first, from the first page only
    assert [s["values"][0]["value"] for s in recent] == [f"s{h}@example.com" for h in range(11)]
    assert hubspot_log.count("GET", f"/form-integrations/v1/submissions/forms/{form_id}") == 1

    # And reading them all pages until the feed ends (50 + 50 + 20)
    assert len(list(hubspot.form_submissions(form_id, T0 - dt.timedelta(days=30)))) == 120
    assert hubspot_log.count("GET", f"/form-integrations/v1/submissions/forms/{form_id}") == 4


# -- contacts by email -------------------------------------------------------------------------------


def test_find_contacts_by_email_is_case_insensitive_and_chunks_100_values(
    hubspot: HubSpotClient, hubspot_admin: Admin, hubspot_log: SandboxLog
) -> None:
    # Given 150 contacts
    _seed(
        hubspot_admin,
        {
            "contacts": [
                {"properties": {"email": f"p{i}@example.com", "firstname": f"P{i}"}} for i in range(150)
            ]
        },
    )
    hubspot_log.clear()

    # When they are looked up by email in mixed case, with an unknown address
    found = hubspot.find_contacts_by_email(
        [f"P{i}@Example.COM" for i in range(150)] + ["ghost@example.com"], ["firstname"]
    )

    # Then every known contact is found under its lower-cased email, in two searches
    assert len(found) == 150
    assert found["p42@example.com"].properties["firstname"] == "P42"
    assert "ghost@example.com" not in found
    assert hubspot_log.count("POST", f"{OBJECTS}/contacts/search") == 2


# -- writes ----------------------------------------------------------------------------------------


def test_upsert_objects_creates_then_updates_in_batches_of_100_in_input_order(
    hubspot: HubSpotClient, hubspot_log: SandboxLog
) -> None:
    # Given a unique property on notes
    hubspot.ensure_unique_property("notes", "activity_sync_key", "Activity sync key")
    inputs = [
        {"activity_sync_key": f"sf-{i}", "hs_note_body": f"body {i}", "hs_timestamp": _iso(T0)}
        for i in range(250)
    ]
    hubspot_log.clear()

    # When 250 notes are upserted twice
    first = hubspot.upsert_objects("notes", "activity_sync_key", inputs)
    second = hubspot.upsert_objects(
        "notes", "activity_sync_key", [{**item, "hs_note_body": "edited"} for item in reversed(inputs)]
    )

    # Then the first pass creates them, the second updates the same records, results follow the
    # input order, and each pass cost three calls
    assert all(r.success and r.created is True for r in first)
    assert all(r.success and r.created is False for r in second)
    assert [r.id for r in second] == [r.id for r in reversed(first)]
    assert len({r.id for r in first}) == 250
    assert hubspot_log.count("POST", f"{OBJECTS}/notes/batch/upsert") == 6
    note_id = first[0].id or ""
    stored = hubspot.read_objects("notes", [note_id], ["hs_note_body", "activity_sync_key"])[note_id]
    assert (stored.properties["hs_note_body"], stored.properties["activity_sync_key"]) == ("edited", "sf-0")


def test_upsert_objects_isolates_an_invalid_record_and_writes_the_others(
    hubspot: HubSpotClient, hubspot_log: SandboxLog
) -> None:
    # Given ten tasks, one with a status HubSpot does not know
    hubspot.ensure_unique_property("tasks", "activity_sync_key", "Activity sync key")
    inputs: list[dict[str, str | None]] = [
        {
            "activity_sync_key": f"t-{i}",
            "hs_task_subject": f"Task {i}",
            "hs_timestamp": _iso(T0),
            "hs_task_status": "NOT_STARTED",
        }
        for i in range(10)
    ]
    inputs[6]["hs_task_status"] = "SNOOZED"
    hubspot_log.clear()

    # When they are upserted in one call
    results = hubspot.upsert_objects("tasks", "activity_sync_key", inputs)

    # Then only that task fails, with HubSpot's validation error, and the nine others are written
    assert [r.success for r in results] == [True] * 6 + [False] + [True] * 3
    assert results[6].error_codes == ["VALIDATION_ERROR"]
    assert "hs_task_status" in results[6].message
    # (seven calls: the batch, its halves, then halving the failing half down to the bad task)
    assert hubspot_log.statuses("POST", f"{OBJECTS}/tasks/batch/upsert") == [
        400,
        200,
        400,
        400,
        200,
        400,
        200,
    ]


def test_upsert_objects_raises_when_every_record_fails_the_same_way(
    hubspot: HubSpotClient, hubspot_log: SandboxLog
) -> None:
    # Given an id property that is not a unique-value property
    hubspot_log.clear()

    # When notes are upserted by it
    with pytest.raises(VendorApiError) as raised:
        hubspot.upsert_objects("notes", "hs_note_body", [{"hs_note_body": f"n{i}"} for i in range(8)])

    # Then the request's own error is raised (not retryable) after three calls: the batch and its halves
    assert raised.value.status == 400
    assert raised.value.retryable is False
    assert hubspot_log.count("POST", f"{OBJECTS}/notes/batch/upsert") == 3


def test_create_objects_creates_with_associations_in_one_call_per_100_in_input_order(
    hubspot: HubSpotClient, hubspot_admin: Admin, hubspot_log: SandboxLog
) -> None:
    # Given a unique property on notes and two contacts
    hubspot.ensure_unique_property("notes", "activity_sync_key", "Activity sync key")
    refs = _seed(hubspot_admin, {"contacts": [{"ref": "a"}, {"ref": "b"}]})
    contact_a, contact_b = refs["contacts"]["a"], refs["contacts"]["b"]
    inputs = [
        NewObject(
            {"activity_sync_key": f"new-{i}", "hs_note_body": f"body {i}", "hs_timestamp": _iso(T0)},
            [(contact_a if i % 2 else contact_b, NOTE_TO_CONTACT)],
        )
        for i in range(150)
    ]
    hubspot_log.clear()

    # When 150 notes are created with their contacts
    results = hubspot.create_objects("notes", "activity_sync_key", inputs)

    # Then each is created once, on its contact, results in input order, in two calls and no
    # association call
    assert all(r.success and r.id for r in results)
    assert len({r.id for r in results}) == 150
    assert hubspot_log.count("POST", f"{OBJECTS}/notes/batch/create") == 2
    assert hubspot_log.count("POST", f"{ASSOCIATIONS}/notes/contacts/batch/create") == 0
    ids = [r.id or "" for r in results]
    stored = hubspot.read_objects("notes", ids[:2], ["activity_sync_key"])
    assert [stored[i].properties["activity_sync_key"] for i in ids[:2]] == ["new-0", "new-1"]
    associated = hubspot.associated_ids("notes", "contacts", ids)
    assert [associated[i] for i in ids[:2]] == [[contact_b], [contact_a]]
    assert all(len(associated[i]) == 1 for i in ids)


def test_the_create_request_is_the_one_hubspots_spec_describes(
    hubspot: HubSpotClient, hubspot_admin: Admin, hubspot_log: SandboxLog
) -> None:
    # Given HubSpot's own OpenAPI spec of calls (the version the client calls), and a contact
    directory = openapi_directory(ROOT)
    assert directory.is_dir(), f"HubSpot's OpenAPI specs are not at {directory}; set HUBSPOT_OPENAPI_DIR"
    hubspot.ensure_unique_property("calls", "activity_sync_key", "Activity sync key")
    contact = _seed(hubspot_admin, {"contacts": [{"ref": "c"}]})["contacts"]["c"]
    hubspot_log.clear()

    # When two calls are created, one with a contact and one with none
    hubspot.create_objects(
        "calls",
        "activity_sync_key",
        [
            NewObject({"activity_sync_key": "a", "hs_timestamp": _iso(T0)}, [(contact, 194), (contact, 194)]),
            NewObject({"activity_sync_key": "b", "hs_timestamp": _iso(T0)}),
        ],
    )

    # Then the body sent is a BatchInputSimplePublicObjectBatchInputForCreate (associations
    # present even when empty: the spec requires them), each associated record named once
    (sent,) = [e for e in hubspot_log.entries() if e["path"].endswith("/calls/batch/create")]
    body = json.loads(sent["body"])
    OpenApi(directory / API_VERSION).validate(
        "calls.json", "BatchInputSimplePublicObjectBatchInputForCreate", body
    )
    assert [len(i["associations"]) for i in body["inputs"]] == [1, 0]


def test_create_objects_refuses_alone_the_input_naming_a_record_that_exists(
    hubspot: HubSpotClient, hubspot_log: SandboxLog
) -> None:
    # Given a note created with key "dup-1"
    hubspot.ensure_unique_property("notes", "activity_sync_key", "Activity sync key")
    note = {"hs_note_body": "first", "hs_timestamp": _iso(T0)}
    (first,) = hubspot.create_objects(
        "notes", "activity_sync_key", [NewObject({**note, "activity_sync_key": "dup-1"})]
    )
    hubspot_log.clear()

    # When a batch creating it again beside a new one is sent
    results = hubspot.create_objects(
        "notes",
        "activity_sync_key",
        [
            NewObject({**note, "hs_note_body": "second", "activity_sync_key": key})
            for key in ("dup-0", "dup-1")
        ],
    )

    # Then, each input carrying its trace id, HubSpot creates the new one and refuses the other
    # alone with its reason (207), in one call; the first note is untouched, nothing is made twice
    assert [r.success for r in results] == [True, False]
    assert results[1].error_codes == ["VALIDATION_ERROR"]
    assert "activity_sync_key" in results[1].message
    assert hubspot_log.statuses("POST", f"{OBJECTS}/notes/batch/create") == [207]
    created = hubspot.read_objects(
        "notes", ["dup-0", "dup-1"], ["hs_note_body"], id_property="activity_sync_key"
    )
    assert {key: record.properties["hs_note_body"] for key, record in created.items()} == {
        "dup-0": "second",
        "dup-1": "first",
    }
    assert created["dup-1"].id == first.id


def test_a_validation_rule_refuses_only_the_records_that_break_it_with_the_property_named(
    hubspot: HubSpotClient, hubspot_admin: Admin, hubspot_log: SandboxLog
) -> None:
    # Given a portal whose validation rules require a call body (enforced on API writes from 2026-09)
    hubspot.ensure_unique_property("calls", "activity_sync_key", "Activity sync key")
    hubspot_admin.post("config", {"validation_rules": {"calls": ["hs_call_body"]}})
    call = {"hs_timestamp": _iso(T0), "hs_call_title": "Call"}
    hubspot_log.clear()

    # When three calls are created, the second without a body
    created = hubspot.create_objects(
        "calls",
        "activity_sync_key",
        [
            NewObject({**call, "activity_sync_key": "c0", "hs_call_body": "b"}),
            NewObject({**call, "activity_sync_key": "c1"}),
            NewObject({**call, "activity_sync_key": "c2", "hs_call_body": "b"}),
        ],
    )
    # and four are upserted, two of them without a body (no per-record answer: HubSpot refuses
    # the batch, so the client halves it until the bad ones stand alone)
    upserted = hubspot.upsert_objects(
        "calls",
        "activity_sync_key",
        [
            {**call, "activity_sync_key": "u0", "hs_call_body": "b"},
            {**call, "activity_sync_key": "u1"},
            {**call, "activity_sync_key": "u2", "hs_call_body": "b"},
            {**call, "activity_sync_key": "u3"},
        ],
    )

    # Then the create wrote the good two in one call (207) and refused the other alone, and the
    # upsert wrote the good two; each refusal says VALIDATION_ERROR and names the property
    assert [r.success for r in created] == [True, False, True]
    assert hubspot_log.statuses("POST", f"{OBJECTS}/calls/batch/create") == [207]
    assert [r.success for r in upserted] == [True, False, True, False]
    for refused in (created[1], upserted[1], upserted[3]):
        assert refused.error_codes == ["VALIDATION_ERROR"]
        assert refused.message.startswith("VALIDATION_ERROR: hs_call_body is required"), refused.message
    stored = hubspot.read_objects(
        "calls", ["c0", "c1", "c2", "u0", "u1", "u2", "u3"], [], id_property="activity_sync_key"
    )
    assert sorted(stored) == ["c0", "c2", "u0", "u2"]


def test_create_objects_raises_what_a_retry_may_cure_and_refuses_inputs_without_their_key(
    hubspot_server: RunningServer, hubspot_log: SandboxLog
) -> None:
    # Given a client allowed one retry, and HubSpot answering batch creates with 503s for a while
    client = HubSpotClient(hubspot_server.url, HUBSPOT_TOKEN, max_retries=1)
    client.ensure_unique_property("notes", "activity_sync_key", "Activity sync key")
    hubspot_log.fault(f"POST {OBJECTS}/notes/batch/create", "server_error", times=2)
    note = {"hs_note_body": "n", "hs_timestamp": _iso(T0), "activity_sync_key": "later"}

    # When a note is created
    with pytest.raises(VendorApiError) as raised:
        client.create_objects("notes", "activity_sync_key", [NewObject(note)])

    # Then the outage is raised as retryable (the queue tries the batch again later), not
    # reported as a refusal of the records
    assert (raised.value.status, raised.value.retryable) == (503, True)
    # and inputs without their key, or sharing one, are a programming error, sent nowhere
    with pytest.raises(ValueError, match="activity_sync_key"):
        client.create_objects("notes", "activity_sync_key", [NewObject({"hs_note_body": "n"})])
    with pytest.raises(ValueError, match="share"):
        client.create_objects("notes", "activity_sync_key", [NewObject(note), NewObject(note)])
    assert hubspot_log.count("POST", f"{OBJECTS}/notes/batch/create") == 2


def test_update_objects_updates_by_id_in_batches_and_reports_missing_records(
    hubspot: HubSpotClient, hubspot_admin: Admin, hubspot_log: SandboxLog
) -> None:
    # Given 120 notes
    ids = _seed_notes(hubspot_admin, 120)
    updates: list[tuple[str, dict[str, str | None]]] = [
        (note_id, {"hs_note_body": f"new {note_id}"}) for note_id in ids
    ]
    updates.insert(5, ("999999999", {"hs_note_body": "nobody"}))
    updates.append((ids[0], {"hs_timestamp": _iso(T0 + dt.timedelta(days=1))}))
    hubspot_log.clear()

    # When they, a note that does not exist, and a second change to the first are sent at once
    results = hubspot.update_objects("notes", updates)

    # Then each input has its outcome in order (the two changes to the first note merged into one
    # write), the missing note fails with HubSpot's OBJECT_NOT_FOUND, in two calls
    assert [r.success for r in results] == [True] * 5 + [False] + [True] * 116
    assert results[5].error_codes == ["OBJECT_NOT_FOUND"]
    assert results[0].id == ids[0]
    assert results[-1] == results[0]
    assert hubspot_log.count("POST", f"{OBJECTS}/notes/batch/update") == 2
    first = hubspot.read_objects("notes", [ids[0]], ["hs_note_body", "hs_timestamp"])[ids[0]]
    assert first.properties["hs_note_body"] == f"new {ids[0]}"
    assert parse_instant(first.properties["hs_timestamp"]) == T0 + dt.timedelta(days=1)


def test_associate_creates_pairs_in_batches_and_reports_failed_pairs(
    hubspot: HubSpotClient, hubspot_admin: Admin, hubspot_log: SandboxLog
) -> None:
    # Given 150 notes and a contact
    refs = _seed(hubspot_admin, {"contacts": [{"ref": "c"}], "notes": [_note(f"n{i}") for i in range(150)]})
    contact = refs["contacts"]["c"]
    pairs = [(refs["notes"][f"n{i}"], contact, NOTE_TO_CONTACT) for i in range(150)]
    pairs.insert(3, (refs["notes"]["n0"], "999999999", NOTE_TO_CONTACT))
    hubspot_log.clear()

    # When the pairs are associated
    results = hubspot.associate("notes", "contacts", pairs)

    # Then every real pair succeeds, the pair with an unknown contact fails, in two calls
    assert [r.success for r in results] == [True] * 3 + [False] + [True] * 147
    assert hubspot_log.count("POST", f"{ASSOCIATIONS}/notes/contacts/batch/create") == 2
    assert sorted(hubspot.associated_ids("contacts", "notes", [contact])[contact]) == sorted(
        refs["notes"].values()
    )


def test_ensure_unique_property_is_idempotent(hubspot: HubSpotClient, hubspot_admin: Admin) -> None:
    # When the property is ensured twice
    hubspot.ensure_unique_property("calls", "activity_sync_salesforce_id", "Salesforce id")
    hubspot.ensure_unique_property("calls", "activity_sync_salesforce_id", "Salesforce id")

    # Then it exists once, as a unique string property
    definition = hubspot_admin.api("GET", f"{PROPERTIES}/calls/activity_sync_salesforce_id").json()
    assert definition["hasUniqueValue"] is True
    assert definition["type"] == "string"


# -- retries and errors ------------------------------------------------------------------------------


def test_a_429_is_retried_after_its_retry_after(hubspot: HubSpotClient, hubspot_log: SandboxLog) -> None:
    # Given the next batch read is rate limited for one second
    hubspot_log.fault(f"POST {OBJECTS}/notes/batch/read", "rate_limit", times=1, retry_after=1)
    started = time.monotonic()

    # When notes are read
    found = hubspot.read_objects("notes", ["1"], [])

    # Then the client waited as told and tried again, and counted both calls
    assert found == {}
    assert time.monotonic() - started >= 1.0
    assert hubspot_log.statuses("POST", "/batch/read") == [429, 207]
    assert hubspot.calls[f"POST {OBJECTS}/notes/batch/read"] == 2
    assert hubspot.retries.total() == 1


def test_503s_are_retried_with_backoff(hubspot: HubSpotClient, hubspot_log: SandboxLog) -> None:
    # Given the owners endpoint fails twice
    hubspot_log.fault(f"GET {OWNERS}", "status", status=503, times=2)

    # When owners are listed
    hubspot.owners()

    # Then the third try succeeded
    assert hubspot_log.statuses("GET", f"{OWNERS}")[:3] == [503, 503, 200]


def test_the_search_rate_limit_of_the_sandbox_is_respected(
    hubspot: HubSpotClient, hubspot_admin: Admin, hubspot_log: SandboxLog
) -> None:
    # Given one search a second is allowed
    hubspot_admin.post("rate-limits", {"search_per_second": 1})

    # When two searches run back to back
    hubspot.find_contacts_by_email(["a@example.com"], [])
    hubspot.find_contacts_by_email(["b@example.com"], [])

    # Then the second was refused once and retried after HubSpot's Retry-After
    assert hubspot_log.statuses("POST", f"{OBJECTS}/contacts/search") == [200, 429, 200]


def test_exhausted_retries_raise_a_retryable_error(
    hubspot_server: RunningServer, hubspot_log: SandboxLog
) -> None:
    # Given a client allowed one retry and an endpoint failing three times
    client = HubSpotClient(hubspot_server.url, HUBSPOT_TOKEN, max_retries=1)
    hubspot_log.fault(f"GET {OWNERS}", "server_error", times=3)

    # When owners are listed
    with pytest.raises(VendorApiError) as raised:
        client.owners()

    # Then the 5xx surfaces as retryable after two calls
    assert raised.value.vendor == "hubspot"
    assert raised.value.status == 503
    assert raised.value.retryable is True
    assert client.calls.total() == 2


def test_a_retry_after_too_long_to_wait_fails_fast_as_retryable(
    hubspot: HubSpotClient, hubspot_log: SandboxLog
) -> None:
    # Given HubSpot asks to wait ten minutes (a daily limit, say)
    hubspot_log.fault(f"GET {OWNERS}", "rate_limit", times=1, retry_after=600)
    started = time.monotonic()

    # When owners are listed
    with pytest.raises(VendorApiError) as raised:
        hubspot.owners()

    # Then the client does not sleep through it: the queue retries the message later
    assert time.monotonic() - started < 5
    assert raised.value.status == 429
    assert raised.value.retryable is True
    assert "RATE_LIMITS" in str(raised.value)
    assert hubspot_log.count("GET", f"{OWNERS}") == 1


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(400, False), (401, False), (403, False), (404, False), (409, False), (502, True)],
)
def test_http_errors_map_to_vendor_api_errors(
    hubspot_server: RunningServer, hubspot_log: SandboxLog, status: int, retryable: bool
) -> None:
    # Given the forms endpoint answers with the status every time
    client = HubSpotClient(hubspot_server.url, HUBSPOT_TOKEN, max_retries=0)
    hubspot_log.fault("GET /marketing/v3/forms", "status", status=status, times=None)

    # When forms are listed
    with pytest.raises(VendorApiError) as raised:
        client.forms()

    # Then the error carries the status and says whether a later try may succeed
    assert (raised.value.status, raised.value.retryable) == (status, retryable)


def test_a_wrong_token_is_not_retryable(hubspot_server: RunningServer, hubspot_admin: Admin) -> None:
    client = HubSpotClient(hubspot_server.url, "not-the-token")

    with pytest.raises(VendorApiError) as raised:
        client.owners()

    assert (raised.value.status, raised.value.retryable) == (401, False)
    assert "INVALID_AUTHENTICATION" in str(raised.value)
    assert client.calls.total() == 1


def test_a_dropped_connection_is_retried(hubspot: HubSpotClient, hubspot_log: SandboxLog) -> None:
    # Given the connection is dropped once without an answer
    hubspot_log.fault(f"POST {OBJECTS}/notes/batch/read", "drop", times=1)

    # When notes are read
    assert hubspot.read_objects("notes", ["1"], []) == {}

    # Then the client reconnected and asked again
    assert hubspot_log.count("POST", f"{OBJECTS}/notes/batch/read") == 2


def test_r18_retries_stop_where_the_invocation_would_run_out_of_time(
    hubspot_server: RunningServer, hubspot_log: SandboxLog
) -> None:
    # Given an endpoint answering 429 with Retry-After: 2, and a client with 3.5 s of calls left
    deadline = Deadline()
    client = HubSpotClient(hubspot_server.url, HUBSPOT_TOKEN, deadline=deadline)
    hubspot_log.fault(f"GET {OWNERS}", "rate_limit", retry_after=2, times=None)
    deadline.set_in(MIN_REQUEST_SECONDS + 1.5)
    # When owners are listed
    with pytest.raises(VendorApiError) as raised:
        client.owners()
    # Then the client asked once and gave up (a wait of 2 s would leave no time for another try):
    # retryable, so the message is retried later by its queue instead of the function timing out
    assert raised.value.retryable
    assert hubspot_log.count("GET", f"{OWNERS}") == 1
    # And with no time left at all, no request starts
    deadline.set_in(MIN_REQUEST_SECONDS / 2)
    with pytest.raises(VendorApiError, match="no time left"):
        client.forms()
    assert hubspot_log.count("GET", "/marketing/v3/forms") == 0


def test_r18_the_retry_budget_fits_in_the_syncers_timeout() -> None:
    # The worst a call could take without a deadline is cut by it: the deadline a syncer sets
    # (RETRY_BUDGET_SECONDS), plus the time it keeps to settle its batch, fits in its timeout.
    from activity_sync_tools.local.nested import load_stack_template

    resources = load_stack_template(ROOT / "template.yaml")["Resources"]
    syncer = resources["HubSpotNoteSyncer"]["Properties"]
    assert worst_case_call_seconds() > syncer["Timeout"]  # why the deadline exists
    assert syncer["Timeout"] > CALL_BUDGET_SECONDS + SETTLE_SECONDS
    assert call_seconds(syncer["Timeout"]) == CALL_BUDGET_SECONDS
    assert call_seconds(20) == 20 - SETTLE_SECONDS
