"""The poller: the safety net under the webhooks, and the only source for the feeds that have none.

Each run does a list of independent **jobs**, one per source of changes:

* HubSpot engagements (notes, calls, meetings, tasks, sales emails), one job per switched-on type:
  a search on ``hs_lastmodifieddate`` from the type's watermark (``hubspot_sources``).
* Marketing email events: the v1 feed over the whole window in one stream, a page (1,000 events)
  at a time, every kind at once (``hubspot_sources``).
* Form submissions: each form's feed (newest first) back to the form's own watermark; the list of
  forms is kept an hour per container (``hubspot_sources``).
* Salesforce Tasks (every switched-on Task type in one query, routed by ``TaskSubtype``, R10) and
  Events: ``queryAll`` on ``SystemModstamp``, leaving out the service's own writes
  (``salesforce_sources``).
* While any HubSpot->Salesforce switch is on: Salesforce Contacts and (unconverted) Leads changed
  -> the HubSpot contacts with the same emails -> the contact queue, so the contact linker links
  them and wakes the activities waiting for them (R4 from the Salesforce side,
  ``salesforce_sources``); and a bounded page of the activities parked with no associated contact
  goes back to their queues (``unassociated``).

**Exactly once, in small durable steps** (``context.PollContext.steps``, ``watermarks``). A step
queues at most ``PollLimits.step`` messages (one or two SendMessageBatch calls and one vendor page
at most), then writes the watermark: the instant of the last record queued and the ids queued at
that instant. The next step - in this run or the next - starts *at* that instant and passes over
those ids, so a run that stops (its time budget, an error, the API budget) resumes exactly where
it stopped, re-queueing nothing and skipping nothing. Each query ends ``SETTLE_LAG`` before now:
what changed in the last moments (not yet indexed by HubSpot's search, not yet committed by
Salesforce) is read by the next run, once.

**Nothing already synced is queued again.** A record whose modification instant is the one stored
with its link at its last sync is passed over (one BatchGetItem per step), as are the service's own
Salesforce writes (R14, R18).

Jobs are isolated (one type's 403 does not stop the others), share the run's time budget fairly
(each gets its share first, then the time left goes to those still behind), start in a rotating
order so that none is always last, and spend the shared API budget with their type's priority
(``scheduler``). Every module here imports ``context`` and ``watermarks`` below it; none imports
the scheduler.
"""

from activity_sync.usecases.poll.context import LOOK_BEFORE_WINDOW, SETTLE_LAG, PollCaches, PollLimits
from activity_sync.usecases.poll.hubspot_sources import MARKETING_EVENT_KINDS
from activity_sync.usecases.poll.scheduler import Poller, PollSummary
from activity_sync.usecases.poll.watermarks import Watermark

__all__ = [
    "LOOK_BEFORE_WINDOW",
    "MARKETING_EVENT_KINDS",
    "SETTLE_LAG",
    "PollCaches",
    "PollLimits",
    "PollSummary",
    "Poller",
    "Watermark",
]
