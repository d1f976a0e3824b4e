"""The poll run: which sources run (one per switched-on type, the Salesforce Task types together,
the people and the unassociated re-checks while any HubSpot -> Salesforce switch is on), in which
order (rotating, so that none is always last), and how they share the run's time (each its share
first, then the time left over to those still behind) and the API budget (each with its type's
priority). A source's failure is its own: the others go on."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field

from activity_sync.domain import Direction, SalesforceActivityType, SyncType, TypeSettings
from activity_sync.observability import logger
from activity_sync.ports import (
    BudgetExhausted,
    CallBudget,
    ChangeQueue,
    HubSpotApi,
    LinkStore,
    SalesforceApi,
    SettingsStore,
    SyncStateStore,
    VendorApiError,
)
from activity_sync.rules.switches import is_on
from activity_sync.rules.windows import SkipReason
from activity_sync.usecases.poll.context import (
    SETTLE_LAG,
    ContactLookup,
    PollCaches,
    PollContext,
    PollLimits,
    SalesforceReads,
    Source,
    Steps,
)
from activity_sync.usecases.poll.hubspot_sources import hubspot_source
from activity_sync.usecases.poll.salesforce_sources import (
    SALESFORCE_PEOPLE,
    SalesforceActivitySource,
    SalesforcePeopleSource,
)
from activity_sync.usecases.poll.unassociated import UnassociatedSource
from activity_sync.usecases.poll.watermarks import RunWatermarks

ROTATION = "poll#rotation"


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

    @classmethod
    def of(cls, source: Source) -> _Job:
        return cls(source.name, source.steps(), source.sync_type)


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

    def run(self, now: dt.datetime, deadline: float | None = None) -> PollSummary:
        """Poll every switched-on type. ``deadline`` is a ``clock()`` (``time.monotonic``) value:
        no step starts after it; None means no time limit."""
        summary = PollSummary()
        on = {key: s for key, s in self._settings.all_type_settings(fresh=True).items() if is_on(s)}
        context = PollContext(
            state=self._state,
            hubspot=self._hubspot,
            salesforce=self._salesforce,
            queues=self._queues,
            links=self._links,
            limits=self._limits,
            caches=self._caches,
            marks=RunWatermarks(self._state),
            contacts=ContactLookup(self._hubspot),
            salesforce_reads=SalesforceReads(self._salesforce),
        )
        try:
            jobs = self._rotate(context, [_Job.of(s) for s in self._sources(context, on, now - self._settle)])
            self._schedule(jobs, deadline, summary)
        finally:
            context.marks.flush()
        self._count_outside(context)
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

    @staticmethod
    def _sources(context: PollContext, on: Mapping[str, TypeSettings], until: dt.datetime) -> list[Source]:
        sources: list[Source] = []
        hubspot_to_salesforce: dict[str, dt.datetime] = {}
        salesforce_tasks: dict[SalesforceActivityType, dt.datetime] = {}
        for key in sorted(on):  # a stable order, so that the rotation is fair
            settings = on[key]
            sync_type = SyncType.parse(key)
            assert settings.enabled_at is not None  # nosec B101  # narrows a type: is_on() holds
            if sync_type.direction is Direction.HUBSPOT_TO_SALESFORCE:
                hubspot_to_salesforce[key] = settings.enabled_at
                source = hubspot_source(context, sync_type, settings.enabled_at, until)
                if source is not None:
                    sources.append(source)
            elif sync_type.type is SalesforceActivityType.MEETING:
                sources.append(
                    SalesforceActivitySource(
                        context, "Event", {sync_type.type: settings.enabled_at}, until, sync_type
                    )
                )
            else:
                salesforce_tasks[SalesforceActivityType(sync_type.type)] = settings.enabled_at
        if salesforce_tasks:
            # One query for every Task type on, routed by TaskSubtype (R10).
            tasks = SyncType.salesforce_to_hubspot(SalesforceActivityType.TASK)
            sources.append(SalesforceActivitySource(context, "Task", salesforce_tasks, until, tasks))
        if hubspot_to_salesforce:
            # A Salesforce person changed before the earliest switch went on was visible to the
            # syncer when it first looked for a match, so nothing older needs a second look.
            earliest = min(hubspot_to_salesforce.values())
            sources += [
                SalesforcePeopleSource(context, sobject, earliest, until) for sobject in SALESFORCE_PEOPLE
            ]
            sources.append(UnassociatedSource(context, set(hubspot_to_salesforce)))
        return sources

    @staticmethod
    def _rotate(context: PollContext, jobs: list[_Job]) -> list[_Job]:
        """Start one job further along each run: whichever job runs last (and gets the least of
        the time left over) changes from run to run."""
        if not jobs:
            return jobs
        stored = context.marks.get(ROTATION) or ""
        offset = int(stored) % len(jobs) if stored.isdecimal() else 0
        context.marks.move(ROTATION, str((offset + 1) % len(jobs)))
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

    def _count_outside(self, context: PollContext) -> None:
        """Feed activities seen outside their window (R5) are skipped, and counted (R16)."""
        for sync_type, n in context.outside.items():
            self._state.count_outcomes(sync_type, {("skipped", str(SkipReason.OUTSIDE_WINDOW)): n})
