"""The HubSpot sources (``usecases.poll.hubspot_sources``): engagements searched from their
watermark (nothing synced queued again, the service's own copies passed over, R14, R18), the
marketing email events feed read in one stream and resumed where it stopped, and form submissions
per form."""

from __future__ import annotations

import datetime as dt

from activity_sync.messages import ChangeMessage
from activity_sync.ports import (
    HubSpotRecord,
    Link,
)
from activity_sync.rules.salesforce_ids import normalize_salesforce_id
from activity_sync.usecases.poll import PollCaches, PollLimits
from tests.unit.usecases.poll.support import (
    ENABLED_AT,
    FORMS,
    MARKETING,
    NOTE,
    NOW,
    SF_TASK,
    TASK,
    UNTIL,
    Stack,
    email_open,
    ms,
    note,
    sf_id,
    sf_stamp,
)


def test_hubspot_engagement_search_moves_the_watermark_step_by_step(stack: Stack) -> None:
    # Given five notes modified one after the other, and the search failing after the fourth
    stack.switch_on(NOTE)
    stamps = [ENABLED_AT + dt.timedelta(minutes=i) for i in range(1, 6)]
    stack.hubspot.engagements["notes"] = [note(str(500 + i), s) for i, s in enumerate(stamps, start=1)]
    stack.hubspot.search_fail_after = 4

    # When the poller runs two records per step
    summary = stack.poller(PollLimits(step=2)).run(NOW)

    # Then the first two steps are queued and the watermark holds the last one queued
    assert sorted(c.object_id for c in stack.changes(NOTE)) == ["501", "502", "503", "504"]
    assert stack.watermark(NOTE) == stamps[3]
    assert NOTE.key in summary.failed


# ---------------------------------------------------------------- nothing synced queued again


def test_r18_a_record_unchanged_since_its_last_sync_is_not_queued_again(stack: Stack) -> None:
    # Given two notes and a Salesforce task, of which one note and the task synced in the state
    # they have now, and the other note changed since its sync
    stack.switch_on(NOTE)
    stack.switch_on(SF_TASK)
    synced_at = ENABLED_AT + dt.timedelta(hours=1)
    stack.hubspot.engagements["notes"] = [
        note("601", synced_at),
        note("602", synced_at + dt.timedelta(hours=1)),
    ]
    task_id = normalize_salesforce_id(sf_id("00T", 7))
    stack.salesforce.add("Task", task_id, synced_at, TaskSubtype="Task")
    stack.links.save(
        [
            Link(
                "activity",
                "hs:note:601",
                "00T000000000601AAA",
                "sync",
                details={"source_modified_at": synced_at.isoformat()},
            ),
            Link(
                "activity",
                "hs:note:602",
                "00T000000000602AAA",
                "sync",
                details={"source_modified_at": synced_at.isoformat()},
            ),
            Link("tasks", "901", task_id, "sync", details={"source_modified_at": sf_stamp(synced_at)}),
        ]
    )

    # When the poller runs
    stack.poller().run(NOW)

    # Then only the note changed since its sync is queued
    assert [c.object_id for c in stack.changes(NOTE)] == ["602"]
    assert stack.changes(SF_TASK) == []
    assert stack.watermark("poll#salesforce#Task") == UNTIL


def test_r14_the_services_own_hubspot_copies_are_not_read_back_unless_a_task_copys_state_changed(
    stack: Stack,
) -> None:
    # Given copies the service made in HubSpot of Salesforce records: a note, a task still as
    # written, a task a person completed since, and a task copy with no link (yet); and one
    # note made by a person
    stack.switch_on(NOTE)
    stack.switch_on(TASK)
    written = {"hs_task_status": "NOT_STARTED", "hs_task_priority": "HIGH", "hs_task_subject": "Call"}
    modified = ENABLED_AT + dt.timedelta(hours=1)

    def copy(record_id: str, **state: str) -> HubSpotRecord:
        properties = {
            "hs_lastmodifieddate": modified.isoformat(),
            "activity_sync_salesforce_id": f"00T00000000{record_id}AAA",
            **state,
        }
        return HubSpotRecord(id=record_id, properties=properties)

    stack.hubspot.engagements["notes"] = [copy("7001"), note("7002", modified)]
    stack.hubspot.engagements["tasks"] = [
        copy("8001", **written),
        copy("8002", **{**written, "hs_task_status": "COMPLETED"}),
        copy("8003", **written),
    ]
    stack.links.save(
        [
            Link("tasks", record_id, f"00T00000000{record_id}AAA", "sync", details={"task_state": written})
            for record_id in ("8001", "8002")
        ]
    )

    # When the poller runs
    stack.poller().run(NOW)

    # Then only the person's note and the completed task copy are queued: the syncer would read
    # the others only to skip them as the service's own writes
    assert [c.object_id for c in stack.changes(NOTE)] == ["7002"]
    assert [c.object_id for c in stack.changes(TASK)] == ["8002"]


# ------------------------------------------------------------------------------------ feeds


def test_a_marketing_backlog_is_read_in_one_stream_page_by_page_and_resumed_where_it_stopped(
    stack: Stack,
) -> None:
    # Given marketing emails switched on now, an open every day of the 30-day look-back, one 31
    # days back and kinds the service does not sync; pages of 7 events, each costing a second
    enabled_at = NOW
    stack.switch_on(MARKETING, enabled_at)
    stack.hubspot.contacts = {"known@example.com": "101"}
    inside = [
        email_open(n, enabled_at - dt.timedelta(days=n, hours=1), "Known@Example.com" if n == 0 else None)
        for n in range(30)
    ]
    outside = email_open(99, enabled_at - dt.timedelta(days=31))
    delivered = {**email_open(98, enabled_at - dt.timedelta(days=2)), "type": "DELIVERED"}
    stack.hubspot.events = [*inside, outside, delivered]
    stack.hubspot.event_page_size = 7
    stack.hubspot.seconds_per_event_call = 1.0

    # When the poller runs repeatedly with 2.5 seconds each time, 3 events a step
    queued: list[ChangeMessage] = []
    for run in range(20):
        stack.clock.now = 100.0 * run
        stack.poller(PollLimits(step=3)).run(NOW, deadline=stack.clock.now + 2.5)
        queued.extend(stack.changes(MARKETING))
        if stack.watermark(MARKETING) == UNTIL:
            break

    # Then the feed was read over one window, every kind at once, page after page - each page once
    assert set(stack.hubspot.event_windows) == {(enabled_at - dt.timedelta(days=60), UNTIL)}
    assert stack.hubspot.event_offsets.count(None) == 1
    # ... every open of the window was queued exactly once, and the open outside it never, but
    # counted (R16) - as is nothing of the kinds that are not synced
    assert sorted(c.object_id for c in queued) == sorted(f"open:e{n}" for n in range(30))
    assert stack.state.outcome_figures(MARKETING) == {"skipped:outside_window": 1}
    first = next(c for c in queued if c.object_id == "open:e0")
    assert first.payload is not None
    assert first.payload["contact_ids"] == ["101"]
    assert first.payload["properties"] == {"email_name": "Spring newsletter"}


def test_an_idle_marketing_feed_costs_one_call_a_run_and_the_names_are_kept(stack: Stack) -> None:
    stack.switch_on(MARKETING, NOW)
    caches = PollCaches()
    for run in range(3):
        stack.hubspot.events = [email_open(run, NOW + dt.timedelta(minutes=5 * run))]
        stack.poller(caches=caches).run(NOW + dt.timedelta(minutes=5 * run + 3))
    assert len(stack.hubspot.event_offsets) == 3
    assert stack.hubspot.names_calls == 1


def test_r9_an_email_sent_since_the_names_were_read_is_named_after_one_more_read(stack: Stack) -> None:
    stack.switch_on(MARKETING, NOW)
    caches = PollCaches()
    stack.hubspot.events = [email_open(1, NOW - dt.timedelta(hours=1))]
    stack.poller(caches=caches).run(NOW)
    # Given names kept from that run, and opens of an email they do not name (over three steps)
    stack.hubspot.events = [
        {**email_open(n, NOW + dt.timedelta(minutes=n)), "emailCampaignId": 78} for n in range(2, 8)
    ]
    stack.poller(PollLimits(step=2), caches=caches).run(NOW + dt.timedelta(minutes=30))
    # Then the names were read once more in that run, not once a step
    assert stack.hubspot.names_calls == 2
    assert all(
        c.payload and c.payload["properties"]["email_name"] == "Email 78"
        for c in stack.changes(MARKETING)[1:]
    )


def test_form_submissions_are_queued_oldest_first_per_form_and_a_failing_form_holds_back_only_itself(
    stack: Stack,
) -> None:
    # Given form submissions switched on now (one year of look-back), a form with five submissions
    # in the window and one older, and a second form whose feed fails
    stack.switch_on(FORMS, NOW)
    stack.hubspot.forms_list = [{"id": "f-ok", "name": "Contact Us"}, {"id": "f-broken", "name": "Gone"}]
    stack.hubspot.failing_forms = {"f-broken"}
    stamps = [NOW - dt.timedelta(days=300 - 10 * i) for i in range(5)]
    stack.hubspot.submissions["f-ok"] = [
        {"conversionId": f"c{i}", "submittedAt": ms(s), "values": []} for i, s in enumerate(stamps)
    ] + [{"conversionId": "too-old", "submittedAt": ms(NOW - dt.timedelta(days=366)), "values": []}]

    # When the poller runs two submissions per step
    summary = stack.poller(PollLimits(step=2)).run(NOW)

    # Then the working form's submissions in the window are queued, in order, and its watermark
    # caught up; the one outside the year is counted, not queued (R5, R16)
    assert [c.object_id for c in stack.changes(FORMS)] == [f"c{i}" for i in range(5)]
    assert stack.watermark(f"poll#{FORMS.key}#form#f-ok") == UNTIL
    assert stack.state.outcome_figures(FORMS) == {"skipped:outside_window": 1}
    # ... while the broken form failed the job and its own watermark stays put
    assert FORMS.key in summary.failed
    assert stack.state.watermark(f"poll#{FORMS.key}#form#f-broken") is None


def test_the_list_of_forms_is_read_once_an_hour_not_every_run(stack: Stack) -> None:
    stack.switch_on(FORMS, NOW)
    stack.hubspot.forms_list = [{"id": "f1", "name": "Contact Us"}]
    caches = PollCaches()
    for run in range(3):
        stack.poller(caches=caches).run(NOW + dt.timedelta(minutes=5 * run))
    assert stack.hubspot.forms_calls == 1
