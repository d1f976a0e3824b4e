"""Activities parked with no associated contact (``usecases.poll.unassociated``): a bounded page
goes back to its queues each run, and one parked again meanwhile stays parked."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from activity_sync.messages import ChangeMessage, ChangeSource
from activity_sync.usecases.poll import PollLimits, PollSummary
from tests.fakes.queues import InMemoryChangeQueue
from tests.unit.usecases.poll.support import NOTE, NOW, TASK, Stack, park_unassociated

# ------------------------------------------------------------------ activities with no contact


def test_unassociated_activities_are_requeued_and_removed_a_bounded_number_per_run(stack: Stack) -> None:
    # Given 25 notes parked with no contact, one task (its switch off), and 20 re-checks per run
    stack.switch_on(NOTE)
    park_unassociated(stack, NOTE, (f"n{i:02d}" for i in range(25)))
    park_unassociated(stack, TASK, ["t1"])
    limits = PollLimits(unassociated_batch=20)

    # When the poller runs
    first: PollSummary = stack.poller(limits).run(NOW)

    # Then 20 go back to the note queue and leave the parking
    requeued = stack.changes(NOTE)
    assert len(requeued) == 20
    assert first.queued["unassociated"] == 20
    assert len(stack.state.waiting_for("unassociated")) == 6

    # When the poller runs again
    stack.poller(limits).run(NOW + dt.timedelta(minutes=5))

    # Then the other 5 follow; every note went back exactly once and the task stays parked
    requeued += stack.changes(NOTE)
    assert sorted(c.object_id for c in requeued) == [f"n{i:02d}" for i in range(25)]
    assert all(c.source is ChangeSource.CONTACT_STARTED_SYNCING for c in requeued)
    assert [i.key for i in stack.state.waiting_for("unassociated")] == [f"{TASK.key}#t1"]
    assert stack.changes(TASK) == []


def test_the_unassociated_batch_is_200_by_default() -> None:
    assert PollLimits().unassociated_batch == 200


def test_an_unassociated_activity_parked_again_while_requeued_stays_parked(stack: Stack) -> None:
    # Given a parked note, and a syncer so quick that it parks the note again (still alone)
    # between the poller's send and its clean-up
    stack.switch_on(NOTE)
    park_unassociated(stack, NOTE, ["n1"])

    class QuickSyncerQueues(InMemoryChangeQueue):
        def send_changes(self, changes: Iterable[ChangeMessage]) -> int:
            sent = super().send_changes(changes)
            park_unassociated(stack, NOTE, ["n1"])
            return sent

    # When the poller runs
    quick = QuickSyncerQueues()
    stack.poller(queues=quick).run(NOW)

    # Then the note was re-queued and its fresh parking survives (R16: nothing lost)
    assert [c.object_id for c in quick.take(NOTE.key)] == ["n1"]
    assert [i.key for i in stack.state.waiting_for("unassociated")] == [f"{NOTE.key}#n1"]
