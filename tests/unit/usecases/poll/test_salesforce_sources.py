"""The Salesforce sources (``usecases.poll.salesforce_sources``): Tasks and Events read with
``queryAll`` from their watermark, routed by subtype (R10), the service's own writes left out (R14),
every first page in one composite call (R18); Contacts and Leads that now match a HubSpot contact
(R4 from the Salesforce side)."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from activity_sync.messages import ChangeSource
from activity_sync.ports import (
    VendorApiError,
)
from activity_sync.rules.salesforce_ids import normalize_salesforce_id
from activity_sync.usecases.poll import PollLimits
from tests.unit.usecases.poll.support import (
    ENABLED_AT,
    NOTE,
    NOW,
    SERVICE_USER,
    SF_CALL,
    SF_EMAIL,
    SF_MEETING,
    SF_TASK,
    UNTIL,
    FakeSalesforce,
    Stack,
    note,
    sf_id,
)

# ------------------------------------------------------------------------- durable paging


def test_a_failing_salesforce_read_keeps_what_was_queued_and_resumes_after_it(stack: Stack) -> None:
    # Given five meeting changes, and Salesforce failing after the fourth row
    stack.switch_on(SF_MEETING)
    stamps = [ENABLED_AT + dt.timedelta(minutes=i) for i in range(1, 6)]
    for i, stamp in enumerate(stamps, start=1):
        stack.salesforce.add("Event", sf_id("00U", i), stamp)
    stack.salesforce.fail_after["Event"] = (4, VendorApiError("salesforce", 503, "down", retryable=True))

    # When the poller runs two rows per step
    summary = stack.poller(PollLimits(step=2)).run(NOW)

    # Then the two steps done were queued and the watermark holds the last change queued
    assert len(stack.changes(SF_MEETING)) == 4
    assert stack.watermark("poll#salesforce#Event") == stamps[3]
    assert "salesforce#Event" in summary.failed

    # When Salesforce is back
    del stack.salesforce.fail_after["Event"]
    stack.poller(PollLimits(step=2)).run(NOW + dt.timedelta(minutes=5))

    # Then the next run asks only from there on, and queues only what it had not
    assert f"SystemModstamp >= {stamps[3].strftime('%Y-%m-%dT%H:%M:%SZ')}" in stack.salesforce.queries[-1]
    assert [c.object_id[:15] for c in stack.changes(SF_MEETING)] == [sf_id("00U", 5)]


def test_r14_the_services_own_salesforce_writes_are_not_read_back(stack: Stack) -> None:
    # Given a Task the service wrote and one a rep wrote
    stack.switch_on(SF_TASK)
    stack.salesforce.add(
        "Task",
        sf_id("00T", 1),
        NOW - dt.timedelta(hours=1),
        TaskSubtype="Task",
        LastModifiedById=SERVICE_USER,
    )
    stack.salesforce.add(
        "Task",
        sf_id("00T", 2),
        NOW - dt.timedelta(hours=1),
        TaskSubtype="Task",
        LastModifiedById="005000000000009",
    )

    # When the poller runs
    stack.poller().run(NOW)

    # Then the query leaves out the service's user, and only the rep's Task is queued
    assert f"LastModifiedById != '{SERVICE_USER}AAA'" in stack.salesforce.queries[-1]
    assert [c.object_id[:15] for c in stack.changes(SF_TASK)] == [sf_id("00T", 2)]


def test_r18_a_run_reads_the_first_pages_of_all_its_salesforce_queries_in_one_call(stack: Stack) -> None:
    # Given Salesforce Tasks and Events switched on, and a HubSpot type (so that Salesforce
    # Contacts and Leads are polled too), with a change of each
    stack.switch_on(SF_TASK)
    stack.switch_on(SF_MEETING)
    stack.switch_on(NOTE)
    changed = ENABLED_AT + dt.timedelta(hours=1)
    stack.salesforce.add("Task", normalize_salesforce_id(sf_id("00T", 1)), changed, TaskSubtype="Task")
    stack.salesforce.add("Event", normalize_salesforce_id(sf_id("00U", 2)), changed)

    # When the poller runs
    stack.poller().run(NOW)

    # Then the four queries went out in one composite call, and each change is queued
    [composite] = stack.salesforce.composites
    assert sorted(re.search(r"FROM (\w+)", soql).group(1) for soql in composite) == [  # type: ignore[union-attr]
        "Contact",
        "Event",
        "Lead",
        "Task",
    ]
    assert len(stack.changes(SF_TASK)) == 1
    assert len(stack.changes(SF_MEETING)) == 1


def test_a_corrupt_salesforce_watermark_or_an_unknown_user_id_fails_only_the_jobs_that_need_it(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given Salesforce Events and HubSpot notes switched on, a change of each and of a Contact,
    # the Events' watermark corrupt, and the service's user id unknown to Salesforce (a 503)
    stack.switch_on(SF_MEETING)
    stack.switch_on(NOTE)
    changed = ENABLED_AT + dt.timedelta(hours=1)
    stack.salesforce.add("Event", normalize_salesforce_id(sf_id("00U", 3)), changed)
    stack.salesforce.add(
        "Contact", normalize_salesforce_id(sf_id("003", 4)), changed, Email="ada@example.com"
    )
    stack.hubspot.contacts["ada@example.com"] = "501"
    stack.hubspot.engagements["notes"] = [note("701", changed)]
    stack.state.set_watermark("poll#salesforce#Event", "{not a watermark")

    def unknown_user(_: object) -> str:
        raise VendorApiError("salesforce", 503, "userinfo unavailable", retryable=True)

    monkeypatch.setattr(FakeSalesforce, "user_id", property(unknown_user))

    # When the poller runs
    summary = stack.poller().run(NOW)

    # Then the Events job failed alone: the notes and the Salesforce Contact were polled
    assert set(summary.failed) == {"salesforce#Event"}
    assert [c.object_id for c in stack.changes(NOTE)] == ["701"]
    assert [c.hubspot_contact_id for c in stack.contact_changes()] == ["501"]


def test_r10_one_task_query_serves_every_task_type_each_routed_by_its_subtype(stack: Stack) -> None:
    # Given Task and Email switched on (Call off, and Email switched on later than Task)
    stack.switch_on(SF_TASK)
    stack.switch_on(SF_EMAIL, NOW - dt.timedelta(hours=2))
    stamp = NOW - dt.timedelta(hours=1)
    stack.salesforce.add("Task", sf_id("00T", 1), stamp, TaskSubtype="Task")
    stack.salesforce.add("Task", sf_id("00T", 2), stamp, TaskSubtype="Email")
    stack.salesforce.add("Task", sf_id("00T", 3), stamp, TaskSubtype="Call")
    stack.salesforce.add("Task", sf_id("00T", 4), NOW - dt.timedelta(hours=3), TaskSubtype="Email")

    # When the poller runs
    summary = stack.poller().run(NOW)

    # Then one query read them all, and each went to its own type's queue - the call nowhere (its
    # switch is off) and the email changed before its switch went on nowhere either (R11)
    assert len([q for q in stack.salesforce.queries if "FROM Task" in q]) == 1
    assert [c.object_id[:15] for c in stack.changes(SF_TASK)] == [sf_id("00T", 1)]
    assert [c.object_id[:15] for c in stack.changes(SF_EMAIL)] == [sf_id("00T", 2)]
    assert stack.changes(SF_CALL) == []
    assert summary.queued["salesforce#Task"] == 2


# ------------------------------------------------------------ contacts matching in Salesforce


def test_salesforce_contact_and_lead_changes_wake_the_matching_hubspot_contacts_only(stack: Stack) -> None:
    # Given notes switched on; 150 Salesforce Contacts changed, one of them matching a HubSpot
    # contact (in another case), a changed Lead matching another, and a Lead changed too early
    stack.switch_on(NOTE)
    stack.hubspot.contacts = {"ana@example.com": "101", "lea@example.com": "103"}
    for i in range(150):
        email = "ANA@example.com" if i == 7 else f"nobody{i}@example.com"
        stack.salesforce.add("Contact", sf_id("003", i), NOW - dt.timedelta(minutes=30), Email=email)
    stack.salesforce.add("Lead", sf_id("00Q", 1), NOW - dt.timedelta(minutes=20), Email="lea@example.com")
    stack.salesforce.add("Lead", sf_id("00Q", 2), ENABLED_AT - dt.timedelta(days=2), Email="old@example.com")

    # When the poller runs
    summary = stack.poller().run(NOW)

    # Then the matching HubSpot contacts (and only they) go to the contact linker
    changes = stack.contact_changes()
    assert sorted((c.hubspot_contact_id, c.source) for c in changes) == [
        ("101", ChangeSource.SALESFORCE_POLL),
        ("103", ChangeSource.SALESFORCE_POLL),
    ]
    assert summary.queued["salesforce_people#Contact"] == 1
    assert summary.queued["salesforce_people#Lead"] == 1
    # ... for one query per object, unconverted Leads only, and one search per 100 emails
    people_queries = [q for q in stack.salesforce.queries if "FROM Contact" in q or "FROM Lead" in q]
    assert len(people_queries) == 2
    assert "IsConverted = false" in next(q for q in people_queries if "FROM Lead" in q)
    assert sorted(len(s) for s in stack.hubspot.email_searches) == [1, 50, 100]
    # ... and the next run starts from where this one ended
    assert stack.watermark("poll#salesforce_people#Lead") == UNTIL


def test_salesforce_people_are_not_polled_while_no_hubspot_to_salesforce_switch_is_on(stack: Stack) -> None:
    # Given only a Salesforce -> HubSpot switch on, and a changed Salesforce Contact
    stack.switch_on(SF_MEETING)
    stack.hubspot.contacts = {"ana@example.com": "101"}
    stack.salesforce.add("Contact", sf_id("003", 1), NOW - dt.timedelta(minutes=30), Email="ana@example.com")

    # When the poller runs
    stack.poller().run(NOW)

    # Then no one is looked up or queued: nothing HubSpot -> Salesforce can be waiting
    assert not any("FROM Contact" in q for q in stack.salesforce.queries)
    assert stack.contact_changes() == []
