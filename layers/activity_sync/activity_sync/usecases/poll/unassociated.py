"""The activities parked with no associated contact (an association added later brings them in):
a bounded page of them goes back to their queues each run, and the syncer parks again those still
alone."""

from __future__ import annotations

from activity_sync.domain import SyncType
from activity_sync.json_fields import Invalid
from activity_sync.messages import ChangeMessage
from activity_sync.observability import logger
from activity_sync.ports import WaitingActivity
from activity_sync.usecases.hubspot_to_salesforce import UNASSOCIATED
from activity_sync.usecases.poll.context import PollContext, Steps

UNASSOCIATED_CURSOR = "poll#unassociated#cursor"


class UnassociatedSource:
    """Re-queue a bounded page of the activities parked with no contact. The partition is walked in
    key order with a cursor, wrapping round at the end: the syncer parks a still unassociated
    activity again under the same key (behind the cursor), so every item is re-checked once per
    round and the one checked longest ago goes first - without reading the whole partition each
    run."""

    def __init__(self, context: PollContext, switched_on: set[str]) -> None:
        self.name = "unassociated"
        self.sync_type: SyncType | None = None
        self._context = context
        self._on = switched_on

    def steps(self) -> Steps:
        context = self._context
        after = context.marks.get(UNASSOCIATED_CURSOR)
        limit = context.limits.unassociated_batch
        items = context.state.waiting_page(UNASSOCIATED, after, limit)
        if not items and after is not None:
            items = context.state.waiting_page(UNASSOCIATED, None, limit)  # end of a round: wrap
        changes: list[ChangeMessage] = []
        handled: list[WaitingActivity] = []
        for item in items:
            try:
                change = ChangeMessage.from_dict(item.message)
            except Invalid:
                # Kept where it is (it expires by TTL) and passed over by the cursor: logged, not lost.
                logger.error(
                    "unreadable parked activity", extra={"contact": item.contact_id, "key": item.key}
                )
                continue
            if change.sync_type not in self._on:
                continue  # its switch is off: it stays parked until the switch is on again
            changes.append(change)
            handled.append(item)
        queued = context.send(changes)
        # Only items not parked again meanwhile: a syncer quick enough to re-park one between the
        # send and here has written a fresh item, which must stay.
        context.state.remove_waiting_unless_parked_again(handled)
        context.marks.move(UNASSOCIATED_CURSOR, items[-1].key if len(items) == limit else "")
        yield queued
