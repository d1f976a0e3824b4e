"""The poll run (``usecases.poll.scheduler``): jobs isolated from each other, a time budget
shared fairly, exactly-once progress a durable step at a time, and the watermarks read and written
in as few requests as a run allows (R18)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from itertools import pairwise
from typing import Any

import pytest

from activity_sync.ports import (
    VendorApiError,
)
from activity_sync.usecases.poll import SETTLE_LAG, PollLimits
from tests.unit.usecases.poll.support import (
    ENABLED_AT,
    MARKETING,
    NOTE,
    NOW,
    SF_EMAIL,
    SF_MEETING,
    SF_TASK,
    TASK,
    UNTIL,
    Stack,
    note,
    sf_id,
)

# ------------------------------------------------------------------------------ isolation


@pytest.mark.parametrize(
    "error",
    [
        VendorApiError("hubspot", 403, "This app hasn't been granted all required scopes", retryable=False),
        RuntimeError("unexpected"),
    ],
    ids=["vendor-403", "any-exception"],
)
def test_a_failing_type_does_not_stop_the_others_and_keeps_its_watermark(
    stack: Stack, error: Exception
) -> None:
    # Given notes (first in the poll order) failing, and Salesforce meetings with a change to poll
    stack.switch_on(NOTE)
    stack.switch_on(SF_MEETING)
    stack.hubspot.search_error = error
    stack.salesforce.add("Event", sf_id("00U", 1), NOW - dt.timedelta(hours=1))

    # When the poller runs
    summary = stack.poller().run(NOW)

    # Then the failure is counted against notes, whose watermark has not moved ...
    assert list(summary.failed) == [NOTE.key]
    assert str(error) in summary.failed[NOTE.key]
    assert stack.watermark(NOTE) is None
    assert stack.changes(NOTE) == []
    # ... and the meetings, polled after it, were queued and moved on
    assert [c.object_id[:15] for c in stack.changes(SF_MEETING)] == [sf_id("00U", 1)]
    assert stack.watermark("poll#salesforce#Event") == UNTIL
    assert summary.queued["salesforce#Event"] == 1


# ----------------------------------------------------------------- time budget, exactly once


def test_the_deadline_stops_new_work_and_the_next_run_resumes_exactly_there(stack: Stack) -> None:
    # Given six Salesforce meeting changes, two per step, each row costing a second
    stack.switch_on(SF_MEETING)
    stamps = [ENABLED_AT + dt.timedelta(minutes=i) for i in range(1, 7)]
    for i, stamp in enumerate(stamps, start=1):
        stack.salesforce.add("Event", sf_id("00U", i), stamp)
    stack.salesforce.seconds_per_row = 1.0
    limits = PollLimits(step=2)

    # When the poller runs with 3.5 seconds left
    summary = stack.poller(limits).run(NOW, deadline=3.5)

    # Then no step started after the deadline: two steps (four rows) were queued ...
    assert sorted(c.object_id[:15] for c in stack.changes(SF_MEETING)) == [
        sf_id("00U", i) for i in range(1, 5)
    ]
    # ... the watermark is at the last change queued, and the job is reported unfinished
    assert stack.watermark("poll#salesforce#Event") == stamps[3]
    assert summary.unfinished == ["salesforce#Event"]
    assert summary.failed == {}

    # When the next run has time enough
    stack.poller(limits).run(NOW + dt.timedelta(minutes=5))

    # Then it queues the rest - and nothing it had queued already - and catches up
    assert sorted(c.object_id[:15] for c in stack.changes(SF_MEETING)) == [sf_id("00U", 5), sf_id("00U", 6)]
    assert stack.watermark("poll#salesforce#Event") == NOW + dt.timedelta(minutes=5) - SETTLE_LAG


def test_a_few_seconds_a_run_over_thousands_of_records_advances_every_run_and_queues_each_once(
    stack: Stack,
) -> None:
    # Given 2,000 Salesforce Task changes, several sharing each instant, each read costing 10 ms
    stack.switch_on(SF_TASK)
    for i in range(2000):
        stack.salesforce.add(
            "Task", sf_id("00T", i), ENABLED_AT + dt.timedelta(seconds=i // 3), TaskSubtype="Task"
        )
    stack.salesforce.seconds_per_row = 0.01

    # When the poller runs again and again with three seconds each time
    queued: list[str] = []
    marks: list[dt.datetime] = []
    for run in range(30):
        stack.clock.now = 1000.0 * run
        stack.poller().run(NOW + dt.timedelta(minutes=run), deadline=stack.clock.now + 3)
        mark = stack.watermark("poll#salesforce#Task")
        assert mark is not None
        marks.append(mark)
        queued += [c.object_id for c in stack.changes(SF_TASK)]
        if len(queued) >= 2000:
            break

    # Then every run moved the watermark on, and each change was queued exactly once
    assert len(marks) > 3
    assert all(earlier < later for earlier, later in pairwise(marks))
    assert len(queued) == len(set(queued)) == 2000


def test_no_work_starts_once_the_deadline_has_passed(stack: Stack) -> None:
    # Given two switched-on types with changes
    stack.switch_on(SF_MEETING)
    stack.switch_on(NOTE)
    stack.salesforce.add("Event", sf_id("00U", 1), NOW - dt.timedelta(hours=1))
    stack.hubspot.engagements["notes"] = [note("501", NOW - dt.timedelta(hours=1))]
    stack.clock.now = 10.0

    # When the poller runs after its deadline
    summary = stack.poller().run(NOW, deadline=9.0)

    # Then nothing was queried, queued or moved: every job waits for the next run
    assert stack.salesforce.queries == []
    assert stack.changes(SF_MEETING) == []
    assert stack.watermark("poll#salesforce#Event") is None
    assert stack.watermark(NOTE) is None
    assert "salesforce#Event" in summary.unfinished
    assert NOTE.key in summary.unfinished


def test_a_big_backlog_does_not_starve_the_types_polled_after_it(stack: Stack) -> None:
    # Given Salesforce meetings (polled first) with a long backlog, and one task change
    stack.switch_on(SF_MEETING)
    stack.switch_on(SF_TASK)
    for i in range(1, 41):
        stack.salesforce.add("Event", sf_id("00U", i), ENABLED_AT + dt.timedelta(minutes=i))
    stack.salesforce.add("Task", sf_id("00T", 1), NOW - dt.timedelta(hours=1), TaskSubtype="Task")
    stack.salesforce.seconds_per_row = 1.0

    # When the poller runs with less time than the backlog needs
    summary = stack.poller(PollLimits(step=2)).run(NOW, deadline=10.0)

    # Then the meetings made progress and so did the tasks after them
    meeting_mark = stack.watermark("poll#salesforce#Event")
    assert meeting_mark is not None
    assert ENABLED_AT < meeting_mark < UNTIL
    assert summary.unfinished == ["salesforce#Event"]
    assert [c.object_id[:15] for c in stack.changes(SF_TASK)] == [sf_id("00T", 1)]
    assert stack.watermark("poll#salesforce#Task") == UNTIL


def test_r18_a_run_reads_every_watermark_in_one_query_and_writes_its_moves_in_one_batch(
    stack: Stack,
) -> None:
    # Given six types switched on, polled once already
    for sync_type in (NOTE, TASK, MARKETING, SF_TASK, SF_EMAIL, SF_MEETING):
        stack.switch_on(sync_type)
    stack.poller().run(NOW)
    requests: Counter[str] = Counter()
    for name in ("watermark", "watermarks", "set_watermark", "set_watermarks", "waiting_page"):
        method = getattr(stack.state, name)

        def counted(*args: Any, _name: str = name, _method: Any = method, **kwargs: Any) -> Any:
            requests[_name] += 1
            return _method(*args, **kwargs)

        setattr(stack.state, name, counted)

    # When the next run, five minutes on, finds a note to queue and nothing else
    stack.hubspot.engagements["notes"] = [note("1", NOW + dt.timedelta(minutes=1))]
    stack.poller().run(NOW + dt.timedelta(minutes=5))

    # Then the sync state saw one read of every watermark (one Query in DynamoDB) and one of the
    # page of parked activities, no read of a single watermark, one write for the note's step, and
    # one batch write (one BatchWriteItem) for the jobs that moved to the end of their interval
    assert len(stack.changes(NOTE)) == 1
    assert requests["watermarks"] == 1, requests
    assert requests["waiting_page"] == 1, requests
    assert requests["watermark"] == 0, requests
    assert requests["set_watermarks"] == 1, requests
    assert requests["set_watermark"] <= 1, requests
