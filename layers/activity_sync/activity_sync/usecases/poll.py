"""The poller: the safety net under the webhooks, and the only source for the feeds that have none.

Each run does a list of independent **jobs**, one per switched-on type plus two that help waiting
activities along:

* HubSpot engagements (notes, calls, meetings, tasks, sales emails): a search on
  ``hs_lastmodifieddate`` since the type's watermark -> ids on the type's queue. Re-queueing a
  record already synced costs no Salesforce call: its syncer sees the Task is unchanged (R15, R18).
* Marketing email events (v1 feed): read since the watermark - on the first run since
  ``enabled_at`` minus the 30-day look-back (R5) - one day at a time, queued with their content.
* Form submissions (v1 feed, per form, newest first): read back to the form's own watermark - on
  the first run to ``enabled_at`` minus one year (R5) - and queued oldest first, 100 at a time.
* Salesforce Tasks and Events: ``queryAll`` on ``SystemModstamp`` since the watermark, routed by
  ``TaskSubtype`` (R10); on the first run since ``enabled_at`` (R11: nothing older).
* While any HubSpot->Salesforce switch is on: Salesforce Contacts and (unconverted) Leads changed
  since their watermark -> the HubSpot contacts with the same emails -> the contact queue, so the
  contact linker links them and wakes the activities waiting for them (R4: "the contact is
  triggered to sync" also when the change happens on the Salesforce side).
* While any HubSpot->Salesforce switch is on: up to 200 activities parked with no associated
  contact go back to their queues; the syncer reads them again (an association may exist by now)
  and parks them again if still alone.

Progress is durable in small steps: a page of records is queued, then the watermark moves to the
last one queued; a feed moves one time slice at a time. A run that stops (time budget, an error)
resumes the next time from the last step done, never from the start and never past anything not
queued. Near the end of the window, the watermark stops ``OVERLAP`` short of the run's start, so
a record indexed late is caught by the next run.

Jobs are isolated (one type's 403 does not stop the others), share the run's time budget fairly
(each gets its share first, then the time left goes to those still behind), and start in a
rotating order so that none is always last.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import batched
from typing import Any

from pydantic import ValidationError

from activity_sync.adapters.budget import ApiBudget
from activity_sync.adapters.dynamodb import (
    LinkRepository,
    SettingsRepository,
    SyncStateItem,
    SyncStateRepository,
)
from activity_sync.adapters.hubspot_activities import ENGAGEMENTS, parse_hubspot_time
from activity_sync.adapters.hubspot_api import modified_property
from activity_sync.adapters.queues import ChangeQueues
from activity_sync.domain import (
    Direction,
    EmailEventKind,
    HubSpotActivityType,
    SalesforceActivityType,
    SyncType,
    TypeSettings,
)
from activity_sync.messages import ChangeKind, ChangeMessage, ChangeSource, ContactChangeMessage
from activity_sync.observability import logger
from activity_sync.ports import HubSpotApi, HubSpotRecord, SalesforceApi, VendorApiError
from activity_sync.rules.echo import parse_salesforce_datetime
from activity_sync.rules.owner_mapping import normalize_email
from activity_sync.rules.salesforce_ids import normalize_salesforce_id
from activity_sync.rules.salesforce_types import task_subtype_condition
from activity_sync.rules.switches import is_on
from activity_sync.rules.windows import window_start
from activity_sync.usecases.hubspot_to_salesforce import UNASSOCIATED

OVERLAP = dt.timedelta(minutes=5)
MARKETING_EVENT_KINDS: Mapping[str, EmailEventKind] = {
    "SENT": EmailEventKind.SENT,
    "OPEN": EmailEventKind.OPEN,
    "CLICK": EmailEventKind.CLICK,
}
SALESFORCE_POLL_FIELDS = ("Id", "TaskSubtype", "IsDeleted", "SystemModstamp")
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
    """How much one step does. Small enough that a step fits in the time left after the deadline
    check; large enough that a step is a handful of API calls, not one per record (R18)."""

    hubspot_page: int = 200  # a HubSpot search page
    salesforce_page: int = 2000  # a SOQL batch (queryMore page)
    feed_slice: dt.timedelta = dt.timedelta(days=1)  # marketing email events per step
    feed_chunk: int = 1000  # events per contact lookup and send, inside a slice
    form_chunk: int = 100  # submissions per step (one contact search)
    unassociated_batch: int = 200  # parked activities re-queued per run


@dataclass
class PollSummary:
    """Per job (a sync type key, ``salesforce_people#Contact``/``#Lead``, ``unassociated``)."""

    queued: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # job -> error; its watermark stayed put
    unfinished: list[str] = field(default_factory=list)  # stopped by the time budget; resumes next run

    def add(self, job: str, n: int) -> None:
        self.queued[job] = self.queued.get(job, 0) + n


@dataclass
class _Job:
    name: str
    steps: Steps


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


class Poller:
    def __init__(
        self,
        *,
        settings: SettingsRepository,
        state: SyncStateRepository,
        hubspot: Callable[[], HubSpotApi],
        salesforce: Callable[[], SalesforceApi],
        queues: ChangeQueues,
        links: LinkRepository | None = None,
        budgets: Sequence[ApiBudget] = (),
        limits: PollLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
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
        on = {key: s for key, s in self._settings.all_type_settings().items() if is_on(s)}
        jobs = self._rotate(self._jobs(on, now))
        self._schedule(jobs, deadline, summary)
        logger.info(
            "poll done",
            extra={"queued": summary.queued, "failed": summary.failed, "unfinished": summary.unfinished},
        )
        return summary

    # ----------------------------------------------------------------------------- scheduling
    def _jobs(self, on: Mapping[str, TypeSettings], until: dt.datetime) -> list[_Job]:
        lookup = _ContactLookup(self._hubspot)
        jobs: list[_Job] = []
        hubspot_to_salesforce: dict[str, dt.datetime] = {}
        for key in sorted(on):  # a stable order, so that the rotation is fair
            settings = on[key]
            sync_type = SyncType.parse(key)
            assert settings.enabled_at is not None  # is_on
            if sync_type.direction is Direction.HUBSPOT_TO_SALESFORCE:
                hubspot_to_salesforce[key] = settings.enabled_at
            steps = self._type_steps(sync_type, settings.enabled_at, until, lookup)
            if steps is not None:
                jobs.append(_Job(key, steps))
        if hubspot_to_salesforce:
            # A Salesforce person changed before the earliest switch went on was visible to the
            # syncer when it first looked for a match, so nothing older needs a second look.
            earliest = min(hubspot_to_salesforce.values())
            for sobject in SALESFORCE_PEOPLE:
                steps = self._people_steps(sobject, earliest, until, lookup)
                jobs.append(_Job(f"salesforce_people#{sobject}", steps))
            jobs.append(_Job(UNASSOCIATED_JOB, self._unassociated_steps(set(hubspot_to_salesforce))))
        return jobs

    def _rotate(self, jobs: list[_Job]) -> list[_Job]:
        """Start one job further along each run: whichever job runs last (and gets the least of
        the time left over) changes from run to run."""
        if not jobs:
            return jobs
        stored = self._state.watermark(ROTATION) or ""
        offset = int(stored) % len(jobs) if stored.isdecimal() else 0
        self._state.set_watermark(ROTATION, str((offset + 1) % len(jobs)))
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
        """Run steps until the job is done (True), fails (True: counted, not retried this run) or
        ``stop_at`` comes (False)."""
        while stop_at is None or self._clock() < stop_at:
            try:
                queued = next(job.steps)
            except StopIteration:
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

    # ------------------------------------------------------------------------------ watermarks
    def _since(self, name: str, earliest: dt.datetime, fallback: str | None = None) -> dt.datetime:
        stored = self._state.watermark(name)
        if stored is None and fallback is not None:
            stored = self._state.watermark(fallback)
        if stored is None:
            return earliest
        return max(dt.datetime.fromisoformat(stored), earliest)

    def _advance(self, name: str, since: dt.datetime, to: dt.datetime) -> None:
        # Never backwards: two runs within OVERLAP, or a SOQL bound rounded down to the second,
        # must not make the next run read again what this one started from.
        self._state.set_watermark(name, _iso(max(since, to)))

    def _sorted_steps[T](
        self,
        name: str,
        since: dt.datetime,
        until: dt.datetime,
        items: Iterable[T],
        stamp: Callable[[T], dt.datetime | None],
        size: int,
        queue: Callable[[list[T]], int],
    ) -> Steps:
        """Queue ``items`` (oldest first) ``size`` at a time, moving the watermark to the newest
        one queued after each chunk. The next run starts *at* that instant (the queries are
        ``>=``): records sharing it are queued twice, which is harmless (R15), rather than lost."""
        final = until - OVERLAP
        for chunk in batched(items, size):
            queued = queue(list(chunk))
            stamps = [s for s in map(stamp, chunk) if s is not None]
            if stamps:
                self._advance(name, since, min(max(stamps), final))
            yield queued
        self._advance(name, since, final)

    # ----------------------------------------------------------------------------- type jobs
    def _type_steps(
        self, sync_type: SyncType, enabled_at: dt.datetime, until: dt.datetime, lookup: _ContactLookup
    ) -> Steps | None:
        """The job of one type, or None when the type has nothing to poll."""
        activity_type = sync_type.type
        name = f"poll#{sync_type.key}"
        if isinstance(activity_type, SalesforceActivityType):
            return self._salesforce_steps(activity_type, name, enabled_at, until)
        if activity_type in ENGAGEMENTS:
            return self._engagement_steps(activity_type, name, window_start(activity_type, enabled_at), until)
        if activity_type is HubSpotActivityType.MARKETING_EMAIL:
            return self._marketing_email_steps(name, window_start(activity_type, enabled_at), until, lookup)
        if activity_type is HubSpotActivityType.FORM_SUBMISSION:
            return self._form_steps(name, window_start(activity_type, enabled_at), until, lookup)
        return None  # document views and integration events only arrive through the activity route

    # -- HubSpot engagements
    def _engagement_steps(
        self, activity_type: HubSpotActivityType, name: str, earliest: dt.datetime, until: dt.datetime
    ) -> Steps:
        sync_key = SyncType.hubspot_to_salesforce(activity_type).key
        object_type = ENGAGEMENTS[activity_type].object_type
        modified = modified_property(object_type)
        since = self._since(name, earliest)
        records = self._hubspot().search_modified(object_type, since, until, ["hs_object_id", modified])

        def queue(chunk: list[HubSpotRecord]) -> int:
            return self._queues.send_changes(
                ChangeMessage(sync_type=sync_key, object_id=r.id, source=ChangeSource.HUBSPOT_POLL)
                for r in chunk
            )

        yield from self._sorted_steps(
            name,
            since,
            until,
            records,
            lambda r: parse_hubspot_time(r.properties.get(modified)) or r.updated_at,
            self._limits.hubspot_page,
            queue,
        )

    # -- marketing email events
    def _marketing_email_steps(
        self, name: str, earliest: dt.datetime, until: dt.datetime, lookup: _ContactLookup
    ) -> Steps:
        """One slice of the feed per step: a first run over 30 days moves a day at a time and
        carries on where it stopped. The feed has no order to rely on inside a slice, so the
        watermark moves at slice ends only."""
        sync_key = SyncType.hubspot_to_salesforce(HubSpotActivityType.MARKETING_EMAIL).key
        since = self._since(name, earliest)
        hubspot = self._hubspot()
        names: dict[str, str] | None = None  # fetched once, and only when there are events
        start = since
        while start < until:
            end = min(start + self._limits.feed_slice, until)
            queued = 0
            events = hubspot.email_events(start, end, list(MARKETING_EVENT_KINDS))
            for chunk in batched(events, self._limits.feed_chunk):
                if names is None:
                    names = hubspot.marketing_email_names()
                changes = self._marketing_changes(sync_key, chunk, names, lookup)
                queued += self._queues.send_changes(changes) if changes else 0
            self._advance(name, since, min(end, until - OVERLAP))
            yield queued
            start = end

    def _marketing_changes(
        self,
        sync_key: str,
        events: Sequence[dict[str, Any]],
        names: Mapping[str, str],
        lookup: _ContactLookup,
    ) -> list[ChangeMessage]:
        contacts = lookup.find(str(e.get("recipient", "")) for e in events)
        changes: list[ChangeMessage] = []
        for event in events:
            kind = MARKETING_EVENT_KINDS.get(str(event.get("type")))
            if kind is None:
                continue
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

    # -- form submissions
    def _form_steps(
        self, name: str, earliest: dt.datetime, until: dt.datetime, lookup: _ContactLookup
    ) -> Steps:
        """Each form has its own watermark (``<type watermark>#form#<id>``): the feed is per form
        and newest first, so one busy form's year of history costs only its own walk, and a form
        that fails holds back only itself. A form seen for the first time starts from the type's
        watermark, which moves only once every form has caught up."""
        sync_key = SyncType.hubspot_to_salesforce(HubSpotActivityType.FORM_SUBMISSION).key
        hubspot = self._hubspot()
        first_error: Exception | None = None
        for form in sorted(hubspot.forms(), key=lambda f: str(f["id"])):
            try:
                yield from self._one_form_steps(sync_key, form, name, earliest, until, lookup)
            except Exception as error:
                # One form's trouble (deleted since the list was read, say) holds back that form only.
                logger.exception("form submissions poll failed", extra={"form_id": str(form["id"])})
                first_error = first_error or error
            yield 0  # a step boundary: this form's watermark is durable
        if first_error is not None:
            raise first_error
        self._advance(name, self._since(name, earliest), until - OVERLAP)

    def _one_form_steps(
        self,
        sync_key: str,
        form: Mapping[str, Any],
        type_watermark: str,
        earliest: dt.datetime,
        until: dt.datetime,
        lookup: _ContactLookup,
    ) -> Steps:
        name = f"{type_watermark}#form#{form['id']}"
        since = self._since(name, earliest, fallback=type_watermark)
        timed = [
            (submitted_at, submission)
            for submission in self._hubspot().form_submissions(str(form["id"]), since)
            if (submitted_at := parse_hubspot_time(submission.get("submittedAt"))) is not None
            and since <= submitted_at < until
        ]
        timed.sort(key=lambda pair: pair[0])  # the feed is newest first; the watermark wants oldest first
        yield from self._sorted_steps(
            name,
            since,
            until,
            timed,
            lambda pair: pair[0],
            self._limits.form_chunk,
            lambda chunk: self._queue_submissions(sync_key, form, [s for _, s in chunk], lookup),
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
            submission_id = str(
                submission.get("conversionId") or f"{form['id']}:{submission.get('submittedAt')}"
            )
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
        return self._queues.send_changes(changes) if changes else 0

    # -- Salesforce Tasks and Events
    def _salesforce_steps(
        self, activity_type: SalesforceActivityType, name: str, earliest: dt.datetime, until: dt.datetime
    ) -> Steps:
        sync_key = SyncType.salesforce_to_hubspot(activity_type).key
        since = self._since(name, earliest)
        window = f"SystemModstamp >= {_soql_datetime(since)} AND SystemModstamp < {_soql_datetime(until)}"
        if activity_type is SalesforceActivityType.MEETING:
            soql = (
                f"SELECT Id, IsDeleted, SystemModstamp FROM Event WHERE {window} ORDER BY SystemModstamp, Id"  # noqa: S608 - built from datetimes we format
            )
        else:
            where = f"{window} AND {task_subtype_condition(activity_type)}"
            fields = ", ".join(SALESFORCE_POLL_FIELDS)
            soql = f"SELECT {fields} FROM Task WHERE {where} ORDER BY SystemModstamp, Id"  # noqa: S608 - constants

        def queue(rows: list[dict[str, Any]]) -> int:
            return self._queues.send_changes(
                ChangeMessage(
                    sync_type=sync_key,
                    object_id=normalize_salesforce_id(str(row["Id"])),
                    source=ChangeSource.SALESFORCE_POLL,
                    kind=ChangeKind.DELETION if row.get("IsDeleted") else ChangeKind.UPSERT,
                )
                for row in rows
            )

        yield from self._sorted_steps(
            name,
            since,
            until,
            self._salesforce().query(soql, include_deleted=True),
            lambda row: parse_salesforce_datetime(row.get("SystemModstamp")),
            self._limits.salesforce_page,
            queue,
        )

    # ---------------------------------------------------------------- contacts starting to sync
    def _people_steps(
        self, sobject: str, earliest: dt.datetime, until: dt.datetime, lookup: _ContactLookup
    ) -> Steps:
        """R4 from the Salesforce side: a Contact or Lead created (or given an email) that matches a
        HubSpot contact makes that contact sync; the contact linker links it and wakes what waits.
        One query per object per run, one HubSpot search per 100 emails (R18)."""
        name = f"poll#salesforce_people#{sobject}"
        since = self._since(name, earliest)
        window = f"SystemModstamp >= {_soql_datetime(since)} AND SystemModstamp < {_soql_datetime(until)}"
        unconverted = " AND IsConverted = false" if sobject == "Lead" else ""
        soql = (
            f"SELECT Id, Email, SystemModstamp FROM {sobject} "  # noqa: S608 - constants and datetimes we format
            f"WHERE {window}{unconverted} AND Email != null ORDER BY SystemModstamp, Id"
        )

        def queue(rows: list[dict[str, Any]]) -> int:
            contacts = lookup.find(str(row.get("Email") or "") for row in rows)
            changes: dict[str, ContactChangeMessage] = {}
            for row in rows:
                contact_id = contacts.get(normalize_email(str(row.get("Email") or "")) or "")
                if contact_id is None or contact_id in changes:
                    continue
                changes[contact_id] = ContactChangeMessage(
                    hubspot_contact_id=contact_id,
                    salesforce_person_id=normalize_salesforce_id(str(row["Id"])),
                    source=ChangeSource.SALESFORCE_POLL,
                    occurred_at=parse_salesforce_datetime(row.get("SystemModstamp")),
                )
            return self._queues.send_contact_changes(changes.values()) if changes else 0

        yield from self._sorted_steps(
            name,
            since,
            until,
            self._salesforce().query(soql),
            lambda row: parse_salesforce_datetime(row.get("SystemModstamp")),
            self._limits.salesforce_page,
            queue,
        )

    # ------------------------------------------------------------- activities with no contact
    def _unassociated_steps(self, on: set[str]) -> Steps:
        """Re-queue a bounded page of the activities parked with no contact. The partition is
        walked in key order with a cursor, wrapping round at the end: the syncer parks a still
        unassociated activity again under the same key (behind the cursor), so every item is
        re-checked once per round and the one checked longest ago goes first - without reading
        the whole partition each run."""
        after = self._state.watermark(UNASSOCIATED_CURSOR) or None
        limit = self._limits.unassociated_batch
        items = self._state.waiting_page(UNASSOCIATED, after, limit)
        if not items and after is not None:
            items = self._state.waiting_page(UNASSOCIATED, None, limit)  # end of a round: wrap
        changes: list[ChangeMessage] = []
        handled: list[SyncStateItem] = []
        for item in items:
            try:
                change = ChangeMessage.model_validate(item.payload)
            except ValidationError:
                # Kept where it is (it expires by TTL) and passed over by the cursor: logged, not lost.
                logger.error("unreadable parked activity", extra={"pk": item.pk, "sk": item.sk})
                continue
            if change.sync_type not in on:
                continue  # its switch is off: it stays parked until the switch is on again
            changes.append(change)
            handled.append(item)
        queued = self._queues.send_changes(changes) if changes else 0
        # Only items not parked again meanwhile: a syncer quick enough to re-park one between the
        # send and here has written a fresh item, which must stay.
        self._state.remove_waiting_unless_parked_again(handled)
        self._state.set_watermark(UNASSOCIATED_CURSOR, items[-1].sk if len(items) == limit else "")
        yield queued
