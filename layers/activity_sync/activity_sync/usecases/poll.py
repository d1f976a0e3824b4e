"""The poller: the safety net under the webhooks, and the only source for the feeds that have none.

Each run does a list of independent **jobs**, one per source of changes:

* HubSpot engagements (notes, calls, meetings, tasks, sales emails), one job per switched-on type:
  a search on ``hs_lastmodifieddate`` from the type's watermark.
* Marketing email events: the v1 feed over the whole window in one stream, a page (1,000 events)
  at a time, every kind at once (not a day or a kind at a time).
* Form submissions: each form's feed (newest first) back to the form's own watermark; the list of
  forms is kept an hour per container.
* Salesforce Tasks (every switched-on Task type in one query, routed by ``TaskSubtype``, R10) and
  Events: ``queryAll`` on ``SystemModstamp``, leaving out the service's own writes.
* While any HubSpot->Salesforce switch is on: Salesforce Contacts and (unconverted) Leads changed
  -> the HubSpot contacts with the same emails -> the contact queue, so the contact linker links
  them and wakes the activities waiting for them (R4 from the Salesforce side); and a bounded page
  of the activities parked with no associated contact goes back to their queues.

**Exactly once, in small durable steps.** A step queues at most ``PollLimits.step`` messages (one
or two SendMessageBatch calls and one vendor page at most), then writes the watermark: the instant
of the last record queued and the ids queued at that instant. The next step - in this run or the
next - starts *at* that instant and passes over those ids, so a run that stops (its time budget, an
error, the API budget) resumes exactly where it stopped, re-queueing nothing and skipping nothing.
Each query ends ``SETTLE_LAG`` before now: what changed in the last moments (not yet indexed by
HubSpot's search, not yet committed by Salesforce) is read by the next run, once.

**Nothing already synced is queued again.** A record whose modification instant is the one stored
with its link at its last sync is passed over (one BatchGetItem per step), as are the service's own
Salesforce writes (R14, R18).

Jobs are isolated (one type's 403 does not stop the others), share the run's time budget fairly
(each gets its share first, then the time left goes to those still behind), start in a rotating
order so that none is always last, and spend the shared API budget with their type's priority.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from itertools import batched
from typing import Any

from activity_sync.domain import (
    HUBSPOT_SALESFORCE_ID_PROPERTY,
    Direction,
    EmailEventKind,
    HubSpotActivityType,
    SalesforceActivityType,
    SyncType,
    TypeSettings,
)
from activity_sync.json_fields import Invalid
from activity_sync.messages import ChangeKind, ChangeMessage, ChangeSource, ContactChangeMessage
from activity_sync.observability import logger
from activity_sync.ports import (
    BudgetExhausted,
    CallBudget,
    ChangeQueue,
    HubSpotApi,
    HubSpotRecord,
    LinkStore,
    SalesforceApi,
    SettingsStore,
    SoqlQuery,
    SyncStateStore,
    VendorApiError,
    WaitingActivity,
)
from activity_sync.rules.echo import (
    TASK_STATE_PROPERTIES,
    copy_edit_flows_back,
    is_copy_from_salesforce,
    parse_salesforce_datetime,
    same_version,
)
from activity_sync.rules.hubspot_records import ENGAGEMENTS, modified_property, parse_hubspot_time
from activity_sync.rules.owner_mapping import normalize_email
from activity_sync.rules.salesforce_ids import normalize_salesforce_id, same_salesforce_id
from activity_sync.rules.salesforce_types import classify_salesforce_activity
from activity_sync.rules.switches import is_on
from activity_sync.rules.task_mapping import HubSpotActivityKey
from activity_sync.rules.windows import SkipReason, window_start
from activity_sync.usecases.hubspot_to_salesforce import UNASSOCIATED

# Queries end this long before now: a change is read once it has settled (indexed by HubSpot's
# search, committed in Salesforce). The template's PollSettleSeconds sets it per stack.
SETTLE_LAG = dt.timedelta(minutes=2)
# A feed's first run also reads this far before its window, to count what lies outside it (R16).
LOOK_BEFORE_WINDOW = dt.timedelta(days=30)
FORMS_LIST_SECONDS = 900  # a new form is found within this (its submissions wait, none is lost)
MARKETING_NAMES_SECONDS = 3600  # read again at once when an event names an email not known yet
MARKETING_EVENT_KINDS: Mapping[str, EmailEventKind] = {
    "SENT": EmailEventKind.SENT,
    "OPEN": EmailEventKind.OPEN,
    "CLICK": EmailEventKind.CLICK,
}
SALESFORCE_POLL_FIELDS = ("Id", "TaskSubtype", "IsDeleted", "SystemModstamp", "LastModifiedById")
# The IN filter of a HubSpot search takes 100 values: one search per 100 emails (R18).
EMAIL_SEARCH_BATCH = 100
SALESFORCE_PEOPLE = ("Contact", "Lead")
ROTATION = "poll#rotation"
UNASSOCIATED_CURSOR = "poll#unassociated#cursor"
UNASSOCIATED_JOB = "unassociated"

# One unit of durable progress: the number of messages it queued. A job is a generator of steps,
# so the scheduler can stop it between two steps (time budget) without losing what was done.
type Steps = Generator[int, None, None]


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


def _soql_datetime(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class PollLimits:
    """How much one step does: few enough messages that a step fits in the time left after the
    deadline check; enough that a step is a handful of API calls, not one per record (R18)."""

    step: int = 100  # messages queued per step (ten SendMessageBatch calls at most)
    hubspot_page: int = 200  # a HubSpot search page
    salesforce_page: int = 2000  # a SOQL batch (queryMore page)
    unassociated_batch: int = 200  # parked activities re-queued per run


@dataclass
class PollSummary:
    """Per job (a sync type key, ``salesforce#Task``, ``salesforce_people#Contact``/``#Lead``,
    ``unassociated``)."""

    queued: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # job -> error; its watermark stayed put
    unfinished: list[str] = field(default_factory=list)  # stopped by the time budget; resumes next run
    held_back: dict[str, str] = field(default_factory=dict)  # job -> the API budget's reason

    def add(self, job: str, n: int) -> None:
        self.queued[job] = self.queued.get(job, 0) + n


@dataclass
class _Job:
    name: str
    steps: Steps
    sync_type: SyncType | None = None  # whose priority the job's calls have


@dataclass
class Watermark:
    """Where a job stopped: the instant of the last record queued and the ids queued at it."""

    at: dt.datetime
    ids: frozenset[str] = frozenset()

    def to_text(self) -> str:
        return json.dumps({"at": _iso(self.at), "ids": sorted(self.ids)})

    @classmethod
    def parse(cls, text: str) -> Watermark:
        if text.startswith("{"):
            value = json.loads(text)
            return cls(dt.datetime.fromisoformat(value["at"]), frozenset(value.get("ids") or ()))
        return cls(dt.datetime.fromisoformat(text))  # the instant alone (earlier versions)

    def passes(self, stamp: dt.datetime | None, record_id: str) -> bool:
        """Whether a record read from this watermark on is new: not one queued at the instant."""
        return not (stamp is not None and stamp <= self.at and record_id in self.ids)


class _ContactLookup:
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


class _Kept[T]:
    """A value kept ``seconds`` per container (the poller's container is warm between runs)."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._clock = clock
        self._value: tuple[float, T] | None = None

    def get(self, fetch: Callable[[], T], *, fresh: bool = False) -> T:
        if fresh or self._value is None or self._clock() - self._value[0] >= self._seconds:
            self._value = (self._clock(), fetch())
        return self._value[1]


class _Watermarks:
    """The run's watermarks: all read in one Query when the run starts. A step's progress is
    written at once (a run cut short resumes there); a job's final move to the end of its
    interval is kept and written with the others in one batch when the run ends - lost only if
    the run dies first, and then the next run reads that interval again, which queues nothing
    already synced."""

    def __init__(self, state: SyncStateStore) -> None:
        self._state = state
        self._values = state.watermarks()
        self._moves: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        value = self._moves.get(name, self._values.get(name))
        return value if value else None

    def set(self, name: str, value: str) -> None:
        self._moves.pop(name, None)
        if self._values.get(name) != value:
            self._state.set_watermark(name, value)
        self._values[name] = value

    def move(self, name: str, value: str) -> None:
        if self._values.get(name) != value:
            self._moves[name] = value
        else:
            self._moves.pop(name, None)

    def flush(self) -> None:
        if self._moves:
            self._state.set_watermarks(self._moves)
            self._values.update(self._moves)
            self._moves.clear()


class _SalesforceReads:
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


class PollCaches:
    """What the poller keeps between runs in a warm container: the list of forms and the marketing
    emails' names (both change rarely; each costs a call or more to read)."""

    def __init__(
        self, forms_seconds: float = FORMS_LIST_SECONDS, names_seconds: float = MARKETING_NAMES_SECONDS
    ) -> None:
        self.forms: _Kept[list[dict[str, Any]]] = _Kept(forms_seconds)
        self.marketing_names: _Kept[dict[str, str]] = _Kept(names_seconds)


class Poller:
    def __init__(
        self,
        *,
        settings: SettingsStore,
        state: SyncStateStore,
        hubspot: Callable[[], HubSpotApi],
        salesforce: Callable[[], SalesforceApi],
        queues: ChangeQueue,
        links: LinkStore | None = None,
        budgets: Sequence[CallBudget] = (),
        caches: PollCaches | None = None,
        limits: PollLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
        settle: dt.timedelta = SETTLE_LAG,
    ) -> None:
        self._settle = settle
        self._caches = caches or PollCaches()
        self._settings = settings
        self._state = state
        self._links = links
        self._budgets = list(budgets)
        self._hubspot = hubspot
        self._salesforce = salesforce
        self._queues = queues
        self._limits = limits or PollLimits()
        self._clock = clock
        self._outside: Counter[SyncType] = Counter()
        self._names_refreshed = False
        self._marks: _Watermarks  # read when a run starts

    def run(self, now: dt.datetime, deadline: float | None = None) -> PollSummary:
        """Poll every switched-on type. ``deadline`` is a ``clock()`` (``time.monotonic``) value:
        no step starts after it; None means no time limit."""
        summary = PollSummary()
        on = {key: s for key, s in self._settings.all_type_settings(fresh=True).items() if is_on(s)}
        self._marks = _Watermarks(self._state)
        try:
            jobs = self._rotate(self._jobs(on, now - self._settle))
            self._schedule(jobs, deadline, summary)
        finally:
            self._marks.flush()
        self._count_outside()
        logger.info(
            "poll done",
            extra={
                "queued": summary.queued,
                "failed": summary.failed,
                "unfinished": summary.unfinished,
                "held_back": summary.held_back,
            },
        )
        return summary

    # ----------------------------------------------------------------------------- scheduling
    def _jobs(self, on: Mapping[str, TypeSettings], until: dt.datetime) -> list[_Job]:
        lookup = _ContactLookup(self._hubspot)
        reads = _SalesforceReads(self._salesforce)
        jobs: list[_Job] = []
        hubspot_to_salesforce: dict[str, dt.datetime] = {}
        salesforce_tasks: dict[SalesforceActivityType, dt.datetime] = {}
        for key in sorted(on):  # a stable order, so that the rotation is fair
            settings = on[key]
            sync_type = SyncType.parse(key)
            assert settings.enabled_at is not None  # nosec B101  # narrows a type: is_on() holds
            if sync_type.direction is Direction.HUBSPOT_TO_SALESFORCE:
                hubspot_to_salesforce[key] = settings.enabled_at
                steps = self._hubspot_steps(sync_type, settings.enabled_at, until, lookup)
                if steps is not None:
                    jobs.append(_Job(key, steps, sync_type))
            elif sync_type.type is SalesforceActivityType.MEETING:
                steps = self._salesforce_steps("Event", {sync_type.type: settings.enabled_at}, until, reads)
                jobs.append(_Job("salesforce#Event", steps, sync_type))
            else:
                salesforce_tasks[SalesforceActivityType(sync_type.type)] = settings.enabled_at
        if salesforce_tasks:
            # One query for every Task type on, routed by TaskSubtype (R10).
            tasks = SyncType.salesforce_to_hubspot(SalesforceActivityType.TASK)
            steps = self._salesforce_steps("Task", salesforce_tasks, until, reads)
            jobs.append(_Job("salesforce#Task", steps, tasks))
        if hubspot_to_salesforce:
            # A Salesforce person changed before the earliest switch went on was visible to the
            # syncer when it first looked for a match, so nothing older needs a second look.
            earliest = min(hubspot_to_salesforce.values())
            for sobject in SALESFORCE_PEOPLE:
                steps = self._people_steps(sobject, earliest, until, lookup, reads)
                jobs.append(_Job(f"salesforce_people#{sobject}", steps))
            jobs.append(_Job(UNASSOCIATED_JOB, self._unassociated_steps(set(hubspot_to_salesforce))))
        return jobs

    def _rotate(self, jobs: list[_Job]) -> list[_Job]:
        """Start one job further along each run: whichever job runs last (and gets the least of
        the time left over) changes from run to run."""
        if not jobs:
            return jobs
        stored = self._marks.get(ROTATION) or ""
        offset = int(stored) % len(jobs) if stored.isdecimal() else 0
        self._marks.move(ROTATION, str((offset + 1) % len(jobs)))
        return jobs[offset:] + jobs[:offset]

    def _schedule(self, jobs: list[_Job], deadline: float | None, summary: PollSummary) -> None:
        behind: list[_Job] = []
        # First pass: each job gets an equal share of the time left, so a huge backlog (a year of
        # form submissions) cannot starve the jobs after it. A job always gets one step if any
        # time is left: every job moves every run.
        for index, job in enumerate(jobs):
            if not self._drive(job, self._share_end(deadline, len(jobs) - index), summary):
                behind.append(job)
        # Second pass: the time the quick jobs left over goes to those still behind.
        for job in behind:
            if not self._drive(job, deadline, summary):
                summary.unfinished.append(job.name)
                job.steps.close()

    def _share_end(self, deadline: float | None, jobs_left: int) -> float | None:
        if deadline is None:
            return None
        now = self._clock()
        return now + max(deadline - now, 0.0) / jobs_left

    def _drive(self, job: _Job, stop_at: float | None, summary: PollSummary) -> bool:
        """Run steps until the job is done (True), fails (True: counted, not retried this run),
        is held back by the API budget (True: it resumes next run) or ``stop_at`` comes (False)."""
        while stop_at is None or self._clock() < stop_at:
            try:
                with ExitStack() as spending:
                    for budget in self._budgets:
                        spending.enter_context(budget.working_for(job.sync_type))
                    queued = next(job.steps)
            except StopIteration:
                return True
            except BudgetExhausted as spent:
                logger.info(
                    "poll job held back by the API budget", extra={"job": job.name, "scope": spent.scope}
                )
                summary.held_back[job.name] = str(spent)
                return True
            except VendorApiError as error:
                # Permanent (a 403 for a missing scope) or not, it is this job's problem alone.
                logger.error(
                    "poll job failed",
                    extra={
                        "job": job.name,
                        "vendor": error.vendor,
                        "status": error.status,
                        "retryable": error.retryable,
                        "error": str(error),
                    },
                )
                summary.failed[job.name] = str(error)
                return True
            except Exception as error:
                logger.exception("poll job failed", extra={"job": job.name})
                summary.failed[job.name] = f"{type(error).__name__}: {error}"
                return True
            summary.add(job.name, queued)
        return False

    def _count_outside(self) -> None:
        """Feed activities seen outside their window (R5) are skipped, and counted (R16)."""
        outside, self._outside = self._outside, Counter()
        for sync_type, n in outside.items():
            self._state.count_outcomes(sync_type, {("skipped", str(SkipReason.OUTSIDE_WINDOW)): n})

    # ------------------------------------------------------------------------------ watermarks
    def _since(self, name: str, earliest: dt.datetime, fallback: Sequence[str] = ()) -> Watermark:
        stored = self._marks.get(name)
        for other in fallback:
            if stored is not None:
                break
            stored = self._marks.get(other)
        if stored is None:
            return Watermark(earliest)
        mark = Watermark.parse(stored)
        return mark if mark.at >= earliest else Watermark(earliest)

    def _steps[T](
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
        for chunk in batched((item for item in items if since.passes(*key(item))), self._limits.step):
            batch = list(chunk)
            passed = skip(batch)
            queued = queue([item for item in batch if key(item)[1] not in passed])
            mark = _advanced(mark, [key(item) for item in batch])
            self._marks.set(name, mark.to_text())
            yield queued
        if until is not None and until > mark.at:
            self._marks.move(name, Watermark(until).to_text())

    # ----------------------------------------------------------------------- HubSpot type jobs
    def _hubspot_steps(
        self, sync_type: SyncType, enabled_at: dt.datetime, until: dt.datetime, lookup: _ContactLookup
    ) -> Steps | None:
        """The job of one HubSpot type, or None when the type has nothing to poll."""
        activity_type = HubSpotActivityType(sync_type.type)
        name = f"poll#{sync_type.key}"
        start = window_start(activity_type, enabled_at)
        if activity_type in ENGAGEMENTS:
            return self._engagement_steps(activity_type, name, start, until)
        if activity_type is HubSpotActivityType.MARKETING_EMAIL:
            return self._marketing_email_steps(sync_type, name, start, until, lookup)
        if activity_type is HubSpotActivityType.FORM_SUBMISSION:
            return self._form_steps(sync_type, name, start, until, lookup)
        return None  # document views and integration events only arrive through the activity route

    def _engagement_steps(
        self, activity_type: HubSpotActivityType, name: str, earliest: dt.datetime, until: dt.datetime
    ) -> Steps:
        sync_key = SyncType.hubspot_to_salesforce(activity_type).key
        object_type = ENGAGEMENTS[activity_type].object_type
        modified = modified_property(object_type)
        since = self._since(name, earliest)
        is_task = activity_type is HubSpotActivityType.TASK
        # What tells the service's own copies of Salesforce records apart, and a person's edit of
        # a task copy (R14), comes with the search at no extra call.
        properties = ["hs_object_id", modified, HUBSPOT_SALESFORCE_ID_PROPERTY]
        records = self._hubspot().search_modified(
            object_type, since.at, until, [*properties, *(TASK_STATE_PROPERTIES if is_task else ())]
        )
        first_event = EmailEventKind.SENT if activity_type is HubSpotActivityType.SALES_EMAIL else None

        def stamp(record: HubSpotRecord) -> tuple[dt.datetime | None, str]:
            return parse_hubspot_time(record.properties.get(modified)) or record.updated_at, record.id

        def synced(records: list[HubSpotRecord]) -> set[str]:
            """Passed over: activities synced since their last change, and copies the service made
            of Salesforce records unless a person changed a task copy's state (the syncer would
            read them only to skip them as echoes, R14, R18)."""
            copies: list[HubSpotRecord] = []
            keys: dict[str, HubSpotRecord] = {}
            for r in records:
                if is_copy_from_salesforce(r.properties):
                    copies.append(r)
                else:
                    keys[HubSpotActivityKey(activity_type, r.id, first_event).external_id] = r
            if self._links is None:
                return {r.id for r in copies if not is_task}
            copy_links = self._links.links(object_type, [r.id for r in copies]) if is_task and copies else {}
            links = self._links.links("activity", keys) if keys else {}
            passed = {
                r.id
                for r in copies
                if not copy_edit_flows_back(
                    is_task,
                    r.properties,
                    (link.details or {}).get("task_state") if (link := copy_links.get(r.id)) else None,
                )
            }
            return passed | {
                record.id
                for key, record in keys.items()
                if (link := links.get(key)) is not None
                and same_version((link.details or {}).get("source_modified_at"), stamp(record)[0])
            }

        def queue(chunk: list[HubSpotRecord]) -> int:
            return self._send(
                ChangeMessage(sync_type=sync_key, object_id=r.id, source=ChangeSource.HUBSPOT_POLL)
                for r in chunk
            )

        yield from self._steps(name, since, records, stamp, queue, synced, until)

    def _marketing_email_steps(
        self,
        sync_type: SyncType,
        name: str,
        earliest: dt.datetime,
        until: dt.datetime,
        lookup: _ContactLookup,
    ) -> Steps:
        """The feed over [watermark, until) in one stream, a page at a time. The feed has no
        order to rely on, so progress is the page: after each step the position (the page's
        offset and how many of its events are done) is kept, and a run that stops resumes there.
        The window's end moves the watermark once the stream is read to its end."""
        sync_key = sync_type.key
        stored = self._marks.get(name)
        first_run = stored is None
        since = Watermark.parse(stored).at if stored else earliest - LOOK_BEFORE_WINDOW
        position = _FeedPosition.load(self._marks.get(f"{name}#position"), since)
        end = position.until or until
        hubspot = self._hubspot()
        for page in hubspot.email_event_pages(since, end, position.offset):
            done = position.done if page.offset == position.offset else 0
            events = list(page.events)[done:]
            for chunk in batched(events, self._limits.step):
                wanted = [e for e in chunk if str(e.get("type")) in MARKETING_EVENT_KINDS]
                inside = [e for e in wanted if (parse_hubspot_time(e.get("created")) or since) >= earliest]
                if first_run:
                    self._outside[sync_type] += len(wanted) - len(inside)
                names = self._marketing_names(inside) if inside else {}
                queued = self._send(self._marketing_changes(sync_key, inside, names, lookup))
                done += len(chunk)
                self._marks.set(f"{name}#position", _FeedPosition(end, page.offset, done).to_text())
                yield queued
            position = _FeedPosition(end, page.next_offset, 0)
        self._marks.move(name, Watermark(end).to_text())
        self._marks.move(f"{name}#position", "")

    def _marketing_names(self, events: Sequence[Mapping[str, Any]]) -> Mapping[str, str]:
        """Email campaign id -> name, read again when an event names an email sent since (R9)."""
        names = self._caches.marketing_names.get(self._hubspot().marketing_email_names)
        if not self._names_refreshed and any(str(e.get("emailCampaignId", "")) not in names for e in events):
            self._names_refreshed = True  # once a run: an email deleted since stays unknown
            names = self._caches.marketing_names.get(self._hubspot().marketing_email_names, fresh=True)
        return names

    def _marketing_changes(
        self,
        sync_key: str,
        events: Sequence[Mapping[str, Any]],
        names: Mapping[str, str],
        lookup: _ContactLookup,
    ) -> list[ChangeMessage]:
        contacts = lookup.find(str(e.get("recipient", "")) for e in events)
        changes: list[ChangeMessage] = []
        for event in events:
            kind = MARKETING_EVENT_KINDS[str(event.get("type"))]
            contact_id = contacts.get(normalize_email(str(event.get("recipient", ""))) or "")
            campaign = str(event.get("emailCampaignId", ""))
            payload: dict[str, Any] = {
                "type": HubSpotActivityType.MARKETING_EMAIL.value,
                "id": str(event["id"]),
                "occurred_at": event["created"],
                "contact_ids": [contact_id] if contact_id else [],
                "email_event": kind.value,
                "properties": {"email_name": names.get(campaign, f"Email {campaign}")},
            }
            changes.append(
                ChangeMessage(
                    sync_type=sync_key,
                    object_id=f"{kind.value}:{event['id']}",
                    source=ChangeSource.HUBSPOT_POLL,
                    occurred_at=parse_hubspot_time(event["created"]),
                    payload=payload,
                )
            )
        return changes

    def _form_steps(
        self,
        sync_type: SyncType,
        name: str,
        earliest: dt.datetime,
        until: dt.datetime,
        lookup: _ContactLookup,
    ) -> Steps:
        """Each form has its own watermark (``<type watermark>#form#<id>``): the feed is per form
        and newest first, so one busy form's year of history costs only its own walk, and a form
        that fails holds back only itself."""
        hubspot = self._hubspot()
        first_error: Exception | None = None
        for form in sorted(self._caches.forms.get(hubspot.forms), key=lambda f: str(f["id"])):
            try:
                yield from self._one_form_steps(sync_type, form, name, earliest, until, lookup)
            except BudgetExhausted:
                raise
            except Exception as error:
                # One form's trouble (deleted since the list was read, say) holds back that form only.
                logger.exception("form submissions poll failed", extra={"form_id": str(form["id"])})
                first_error = first_error or error
            yield 0  # a step boundary: this form's watermark is durable
        if first_error is not None:
            raise first_error

    def _one_form_steps(
        self,
        sync_type: SyncType,
        form: Mapping[str, Any],
        type_watermark: str,
        earliest: dt.datetime,
        until: dt.datetime,
        lookup: _ContactLookup,
    ) -> Steps:
        name = f"{type_watermark}#form#{form['id']}"
        stored = self._marks.get(name)
        since = self._since(name, earliest)
        # The first walk reads on a little past the window, to count what lies outside it.
        look_from = since.at - LOOK_BEFORE_WINDOW if stored is None else since.at
        submissions = self._hubspot().form_submissions(str(form["id"]), look_from)
        timed: list[tuple[dt.datetime, Mapping[str, Any]]] = []
        for submission in submissions:
            submitted_at = parse_hubspot_time(submission.get("submittedAt"))
            if submitted_at is None or submitted_at >= until:
                continue
            if submitted_at < earliest:
                if stored is None:
                    self._outside[sync_type] += 1  # seen on the first walk, outside the year (R5, R16)
                continue
            timed.append((submitted_at, submission))
        timed.sort(key=lambda pair: pair[0])  # the feed is newest first; the watermark wants oldest first

        def key(pair: tuple[dt.datetime, Mapping[str, Any]]) -> tuple[dt.datetime | None, str]:
            return pair[0], _submission_id(form, pair[1])

        yield from self._steps(
            name,
            since,
            timed,
            key,
            lambda chunk: self._queue_submissions(sync_type.key, form, [s for _, s in chunk], lookup),
            until=until,
        )

    def _queue_submissions(
        self,
        sync_key: str,
        form: Mapping[str, Any],
        submissions: Sequence[Mapping[str, Any]],
        lookup: _ContactLookup,
    ) -> int:
        def email_of(submission: Mapping[str, Any]) -> str:
            values = {v.get("name"): v.get("value") for v in submission.get("values", [])}
            return str(values.get("email") or "")

        contacts = lookup.find(email_of(s) for s in submissions)
        changes: list[ChangeMessage] = []
        for submission in submissions:
            contact_id = contacts.get(normalize_email(email_of(submission)) or "")
            submission_id = _submission_id(form, submission)
            payload = {
                "type": HubSpotActivityType.FORM_SUBMISSION.value,
                "id": submission_id,
                "occurred_at": submission.get("submittedAt"),
                "contact_ids": [contact_id] if contact_id else [],
                "properties": {
                    "form_name": str(form.get("name", "")),
                    "page_url": str(submission.get("pageUrl") or ""),
                },
            }
            changes.append(
                ChangeMessage(
                    sync_type=sync_key,
                    object_id=submission_id,
                    source=ChangeSource.HUBSPOT_POLL,
                    occurred_at=parse_hubspot_time(submission.get("submittedAt")),
                    payload=payload,
                )
            )
        return self._send(changes)

    # -- Salesforce Tasks and Events
    def _salesforce_steps(
        self,
        sobject: str,
        enabled: Mapping[SalesforceActivityType, dt.datetime],
        until: dt.datetime,
        reads: _SalesforceReads,
    ) -> Steps:
        """``queryAll`` on ``SystemModstamp``: every switched-on type of ``sobject`` in one query,
        each record routed to its type's queue (R10), from the earliest switch (R11: nothing
        older than a type's own switch is queued for it)."""
        name = f"poll#salesforce#{sobject}"
        legacy = [f"poll#{SyncType.salesforce_to_hubspot(t).key}" for t in enabled]
        # Read when the job (or the composite read) starts: a corrupt watermark fails this job only.
        since = functools.cache(lambda: self._since(name, min(enabled.values()), fallback=legacy))

        def query() -> SoqlQuery:
            conditions = [
                f"SystemModstamp >= {_soql_datetime(since().at)}",
                f"SystemModstamp < {_soql_datetime(until)}",
            ]
            service_user = _quoted_id(self._salesforce().user_id)
            if service_user is not None:
                # R14/R18: the service's own writes never cost a read (their Outbound Messages
                # are left out by the flows' entry condition too).
                conditions.append(f"LastModifiedById != {service_user}")
            fields = ", ".join(
                SALESFORCE_POLL_FIELDS if sobject == "Task" else ("Id", "IsDeleted", "SystemModstamp")
            )
            where = " AND ".join(conditions)
            # Only constants, datetimes we format and a validated id are interpolated.
            soql = f"SELECT {fields} FROM {sobject} WHERE {where} ORDER BY SystemModstamp, Id"  # noqa: S608  # nosec B608  # as above
            return SoqlQuery(soql, include_deleted=True)

        return self._salesforce_activity_steps(sobject, enabled, until, name, since, reads.add(query))

    def _salesforce_activity_steps(
        self,
        sobject: str,
        enabled: Mapping[SalesforceActivityType, dt.datetime],
        until: dt.datetime,
        name: str,
        watermark: Callable[[], Watermark],
        rows: Iterator[dict[str, Any]],
    ) -> Steps:
        since = watermark()
        salesforce = self._salesforce()
        service_user = _quoted_id(salesforce.user_id)
        stamp = _salesforce_key

        def routed(row: Mapping[str, Any]) -> SalesforceActivityType | None:
            kind = classify_salesforce_activity(sobject, row.get("TaskSubtype"))
            switched_on = enabled.get(kind) if kind is not None else None
            moment = stamp(row)[0]
            if switched_on is None or moment is None or moment < switched_on:
                return None
            if service_user is None and same_salesforce_id(
                str(row.get("LastModifiedById") or ""), salesforce.user_id
            ):
                return None
            return kind

        def synced(rows: list[dict[str, Any]]) -> set[str]:
            if self._links is None:
                return set()
            links = self._links.by_salesforce_ids(stamp(row)[1] for row in rows if not row.get("IsDeleted"))
            return {
                record_id
                for row in rows
                if (link := links.get(record_id := stamp(row)[1])) is not None
                and same_version((link.details or {}).get("source_modified_at"), stamp(row)[0])
            }

        def queue(rows: list[dict[str, Any]]) -> int:
            changes = []
            for row in rows:
                kind = routed(row)
                if kind is None:
                    continue
                changes.append(
                    ChangeMessage(
                        sync_type=SyncType.salesforce_to_hubspot(kind).key,
                        object_id=stamp(row)[1],
                        source=ChangeSource.SALESFORCE_POLL,
                        kind=ChangeKind.DELETION if row.get("IsDeleted") else ChangeKind.UPSERT,
                    )
                )
            return self._send(changes)

        yield from self._steps(name, since, rows, stamp, queue, synced, until)

    # ---------------------------------------------------------------- contacts starting to sync
    def _people_steps(
        self,
        sobject: str,
        earliest: dt.datetime,
        until: dt.datetime,
        lookup: _ContactLookup,
        reads: _SalesforceReads,
    ) -> Steps:
        """R4 from the Salesforce side: a Contact or Lead created (or given an email) that matches a
        HubSpot contact makes that contact sync; the contact linker links it and wakes what waits.
        One query per object per run, one HubSpot search per 100 emails (R18)."""
        name = f"poll#salesforce_people#{sobject}"
        since = functools.cache(lambda: self._since(name, earliest))  # as for Tasks and Events
        unconverted = " AND IsConverted = false" if sobject == "Lead" else ""

        def query() -> SoqlQuery:
            window = (
                f"SystemModstamp >= {_soql_datetime(since().at)} AND SystemModstamp < {_soql_datetime(until)}"
            )
            return SoqlQuery(
                f"SELECT Id, Email, SystemModstamp FROM {sobject} "  # noqa: S608  # nosec B608  # constants and datetimes we format
                f"WHERE {window}{unconverted} AND Email != null ORDER BY SystemModstamp, Id"
            )

        stamp = _salesforce_key

        def queue(rows: list[dict[str, Any]]) -> int:
            contacts = lookup.find(str(row.get("Email") or "") for row in rows)
            changes: dict[str, ContactChangeMessage] = {}
            for row in rows:
                contact_id = contacts.get(normalize_email(str(row.get("Email") or "")) or "")
                if contact_id is None or contact_id in changes:
                    continue
                changes[contact_id] = ContactChangeMessage(
                    hubspot_contact_id=contact_id,
                    salesforce_person_id=stamp(row)[1],
                    source=ChangeSource.SALESFORCE_POLL,
                    occurred_at=stamp(row)[0],
                )
            return self._queues.send_contact_changes(changes.values()) if changes else 0

        rows = reads.add(query)

        def steps() -> Steps:
            yield from self._steps(name, since(), rows, stamp, queue, until=until)

        return steps()

    # ------------------------------------------------------------- activities with no contact
    def _unassociated_steps(self, on: set[str]) -> Steps:
        """Re-queue a bounded page of the activities parked with no contact. The partition is
        walked in key order with a cursor, wrapping round at the end: the syncer parks a still
        unassociated activity again under the same key (behind the cursor), so every item is
        re-checked once per round and the one checked longest ago goes first - without reading
        the whole partition each run."""
        after = self._marks.get(UNASSOCIATED_CURSOR)
        limit = self._limits.unassociated_batch
        items = self._state.waiting_page(UNASSOCIATED, after, limit)
        if not items and after is not None:
            items = self._state.waiting_page(UNASSOCIATED, None, limit)  # end of a round: wrap
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
            if change.sync_type not in on:
                continue  # its switch is off: it stays parked until the switch is on again
            changes.append(change)
            handled.append(item)
        queued = self._send(changes)
        # Only items not parked again meanwhile: a syncer quick enough to re-park one between the
        # send and here has written a fresh item, which must stay.
        self._state.remove_waiting_unless_parked_again(handled)
        self._marks.move(UNASSOCIATED_CURSOR, items[-1].key if len(items) == limit else "")
        yield queued

    def _send(self, changes: Iterable[ChangeMessage]) -> int:
        batch = list(changes)
        return self._queues.send_changes(batch) if batch else 0


@dataclass(frozen=True)
class _FeedPosition:
    """Where a feed read stopped: the end of the window being read, the offset of the page under
    way (None: the first) and how many of its events are done."""

    until: dt.datetime | None
    offset: str | None
    done: int

    def to_text(self) -> str:
        return json.dumps(
            {"until": _iso(self.until) if self.until else None, "offset": self.offset, "done": self.done}
        )

    @classmethod
    def load(cls, text: str | None, since: dt.datetime) -> _FeedPosition:
        if not text:
            return cls(None, None, 0)
        value = json.loads(text)
        until = dt.datetime.fromisoformat(value["until"]) if value.get("until") else None
        if until is not None and until <= since:
            return cls(None, None, 0)
        return cls(until, value.get("offset"), int(value.get("done") or 0))


def _advanced(mark: Watermark, keys: Sequence[tuple[dt.datetime | None, str]]) -> Watermark:
    """The watermark after ``keys`` (in order): the latest instant and the ids queued at it."""
    latest = max((stamp for stamp, _ in keys if stamp is not None), default=None)
    if latest is None or latest < mark.at:
        return mark
    ids = {record_id for stamp, record_id in keys if stamp == latest}
    if latest == mark.at:
        ids |= mark.ids
    return Watermark(latest, frozenset(ids))


def _salesforce_key(row: Mapping[str, Any]) -> tuple[dt.datetime | None, str]:
    """A Salesforce row's instant and 18-character id (its place in the watermark)."""
    return parse_salesforce_datetime(row.get("SystemModstamp")), normalize_salesforce_id(str(row["Id"]))


def _quoted_id(user_id: str) -> str | None:
    try:
        return f"'{normalize_salesforce_id(user_id)}'"
    except ValueError:
        return None


def _submission_id(form: Mapping[str, Any], submission: Mapping[str, Any]) -> str:
    return str(submission.get("conversionId") or f"{form['id']}:{submission.get('submittedAt')}")
