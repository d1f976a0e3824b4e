"""What every poll source shares, below them all: the run's ports and watermarks, how a source
queues what it found (``send``), how it walks a stream a durable step at a time (``steps``), the
limits of a step, what a warm container keeps between runs, and the lookups a run shares (contacts
by email, the Salesforce queries read in one composite call). Nothing here knows the scheduler."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import batched
from typing import Any, Protocol

from activity_sync.domain import SyncType
from activity_sync.messages import ChangeMessage, ContactChangeMessage
from activity_sync.ports import ChangeQueue, HubSpotApi, LinkStore, SalesforceApi, SoqlQuery, SyncStateStore
from activity_sync.rules.owner_mapping import normalize_email
from activity_sync.usecases.poll.watermarks import RunWatermarks, Watermark

# Queries end this long before now: a change is read once it has settled (indexed by HubSpot's
# search, committed in Salesforce). The template's PollSettleSeconds sets it per stack.
SETTLE_LAG = dt.timedelta(minutes=2)
# A feed's first run also reads this far before its window, to count what lies outside it (R16).
LOOK_BEFORE_WINDOW = dt.timedelta(days=30)
FORMS_LIST_SECONDS = 900  # a new form is found within this (its submissions wait, none is lost)
MARKETING_NAMES_SECONDS = 3600  # read again at once when an event names an email not known yet
# The IN filter of a HubSpot search takes 100 values: one search per 100 emails (R18).
EMAIL_SEARCH_BATCH = 100

# One unit of durable progress: the number of messages it queued. A job is a generator of steps,
# so the scheduler can stop it between two steps (time budget) without losing what was done.
type Steps = Generator[int, None, None]


@dataclass(frozen=True)
class PollLimits:
    """How much one step does: few enough messages that a step fits in the time left after the
    deadline check; enough that a step is a handful of API calls, not one per record (R18)."""

    step: int = 100  # messages queued per step (ten SendMessageBatch calls at most)
    hubspot_page: int = 200  # a HubSpot search page
    salesforce_page: int = 2000  # a SOQL batch (queryMore page)
    unassociated_batch: int = 200  # parked activities re-queued per run


class Kept[T]:
    """A value kept ``seconds`` per container (the poller's container is warm between runs)."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._clock = clock
        self._value: tuple[float, T] | None = None

    def get(self, fetch: Callable[[], T], *, fresh: bool = False) -> T:
        if fresh or self._value is None or self._clock() - self._value[0] >= self._seconds:
            self._value = (self._clock(), fetch())
        return self._value[1]


class PollCaches:
    """What the poller keeps between runs in a warm container: the list of forms and the marketing
    emails' names (both change rarely; each costs a call or more to read)."""

    def __init__(
        self, forms_seconds: float = FORMS_LIST_SECONDS, names_seconds: float = MARKETING_NAMES_SECONDS
    ) -> None:
        self.forms: Kept[list[dict[str, Any]]] = Kept(forms_seconds)
        self.marketing_names: Kept[dict[str, str]] = Kept(names_seconds)


class ContactLookup:
    """Lower-cased email -> HubSpot contact id, one search per 100 emails not seen yet this run
    (a recipient who opened on three days is looked up once)."""

    def __init__(self, hubspot: Callable[[], HubSpotApi]) -> None:
        self._hubspot = hubspot
        self._known: dict[str, str | None] = {}

    def find(self, emails: Iterable[str | None]) -> dict[str, str]:
        requested = {e for e in (normalize_email(x) for x in emails) if e}
        missing = sorted(requested - self._known.keys())
        for chunk in batched(missing, EMAIL_SEARCH_BATCH):
            found = self._hubspot().find_contacts_by_email(list(chunk), ["email"])
            for email in chunk:
                record = found.get(email)
                self._known[email] = record.id if record is not None else None
        return {email: contact_id for email in requested if (contact_id := self._known.get(email))}


class SalesforceReads:
    """The run's Salesforce queries (Tasks, Events, Contacts, Leads): the first pages of all of
    them come in one composite call, made when the first job reads its rows (R18: one call a run
    where there were four). A query's text is made then, not before, so that a failure to make it
    (the service's user id) falls on a job, as a read's failure does."""

    def __init__(self, salesforce: Callable[[], SalesforceApi]) -> None:
        self._salesforce = salesforce
        self._queries: list[Callable[[], SoqlQuery]] = []
        self._rows: list[Iterator[dict[str, Any]] | Exception] | None = None

    def add(self, query: Callable[[], SoqlQuery]) -> Iterator[dict[str, Any]]:
        """The rows of ``query``, read (with the others added before the first is read) on demand."""
        index = len(self._queries)
        self._queries.append(query)
        return self._read(index)

    def _read(self, index: int) -> Iterator[dict[str, Any]]:
        if self._rows is None:
            # A query that cannot be made (a corrupt watermark, the user id unknown) fails its own
            # job when it reads, not the others.
            made: list[SoqlQuery | Exception] = []
            for query in self._queries:
                try:
                    made.append(query())
                except Exception as error:  # raised again by its own job
                    made.append(error)
            together = iter(self._salesforce().query_together([q for q in made if isinstance(q, SoqlQuery)]))
            self._rows = [q if isinstance(q, Exception) else next(together) for q in made]
        rows = self._rows[index]
        if isinstance(rows, Exception):
            raise rows
        yield from rows


@dataclass
class PollContext:
    """One run, as its sources see it: the ports, the run's watermarks and shared lookups, and
    what the sources count for the run (activities of a feed seen outside their window, R16)."""

    state: SyncStateStore
    hubspot: Callable[[], HubSpotApi]
    salesforce: Callable[[], SalesforceApi]
    queues: ChangeQueue
    links: LinkStore | None
    limits: PollLimits
    caches: PollCaches
    marks: RunWatermarks
    contacts: ContactLookup
    salesforce_reads: SalesforceReads
    outside: Counter[SyncType] = field(default_factory=Counter)

    def send(self, changes: Iterable[ChangeMessage]) -> int:
        batch = list(changes)
        return self.queues.send_changes(batch) if batch else 0

    def send_contacts(self, changes: Iterable[ContactChangeMessage]) -> int:
        batch = list(changes)
        return self.queues.send_contact_changes(batch) if batch else 0

    def steps[T](
        self,
        name: str,
        since: Watermark,
        items: Iterable[T],
        key: Callable[[T], tuple[dt.datetime | None, str]],
        queue: Callable[[list[T]], int],
        skip: Callable[[list[T]], set[str]] = lambda _items: set(),
        until: dt.datetime | None = None,
    ) -> Steps:
        """Queue ``items`` (oldest first; ``key`` gives each one's instant and id) a step at a
        time: those read again at the watermark's instant are passed over, those ``skip`` names
        are not queued; after each step the watermark holds the last instant and its ids. At the
        end, the watermark moves to ``until`` (nothing more before it)."""
        mark = since
        for chunk in batched((item for item in items if since.passes(*key(item))), self.limits.step):
            batch = list(chunk)
            passed = skip(batch)
            queued = queue([item for item in batch if key(item)[1] not in passed])
            mark = mark.advanced([key(item) for item in batch])
            self.marks.set(name, mark.to_text())
            yield queued
        if until is not None and until > mark.at:
            self.marks.move(name, Watermark(until).to_text())


class Source(Protocol):
    """One job of a run: a source of changes, walked a durable step at a time."""

    name: str  # the job's name in the run's summary (a sync type key, ``salesforce#Task``...)
    sync_type: SyncType | None  # whose priority its calls have (None: every type's)

    def steps(self) -> Steps: ...
