"""The poller: jobs isolated from each other, a time budget, exactly-once progress in small
durable steps, nothing synced queued again, contacts that start to match on the Salesforce side
(R4), and activities parked with no contact.

Vendors are fakes (only the calls the poller makes); DynamoDB and SQS are moto, holding the
tables and queues of template.yaml itself.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any, cast

import boto3
import pytest
from moto import mock_aws

from activity_sync.adapters.dynamodb import (
    LinkRepository,
    SettingsRepository,
    SyncStateItem,
    SyncStateRepository,
    bind_tables,
)
from activity_sync.adapters.queues import ChangeQueues
from activity_sync.config import RuntimeConfig
from activity_sync.domain import HubSpotActivityType, SalesforceActivityType, SyncType, TypeSettings
from activity_sync.messages import ChangeMessage, ChangeSource, ContactChangeMessage
from activity_sync.ports import (
    EmailEventPage,
    HubSpotApi,
    HubSpotRecord,
    Link,
    SalesforceApi,
    SoqlQuery,
    VendorApiError,
)
from activity_sync.rules.salesforce_ids import normalize_salesforce_id
from activity_sync.usecases.poll import SETTLE_LAG, PollCaches, Poller, PollLimits, PollSummary, Watermark
from activity_sync_tools.local.aws import create_queue, queues_in_creation_order
from activity_sync_tools.local.nested import load_stack_template
from activity_sync_tools.local.template import StackModel, TemplateResolver, build_stack_model
from tests.moto_env import stack_tables, use_fake_aws

ROOT = Path(__file__).resolve().parents[3]
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
ENABLED_AT = NOW - dt.timedelta(days=1)

NOTE = SyncType.hubspot_to_salesforce(HubSpotActivityType.NOTE)
TASK = SyncType.hubspot_to_salesforce(HubSpotActivityType.TASK)
MARKETING = SyncType.hubspot_to_salesforce(HubSpotActivityType.MARKETING_EMAIL)
FORMS = SyncType.hubspot_to_salesforce(HubSpotActivityType.FORM_SUBMISSION)
SF_MEETING = SyncType.salesforce_to_hubspot(SalesforceActivityType.MEETING)
SF_TASK = SyncType.salesforce_to_hubspot(SalesforceActivityType.TASK)
SF_EMAIL = SyncType.salesforce_to_hubspot(SalesforceActivityType.EMAIL)
SF_CALL = SyncType.salesforce_to_hubspot(SalesforceActivityType.CALL)
SERVICE_USER = "005000000000001"
UNTIL = NOW - SETTLE_LAG


# ------------------------------------------------------------------------------------- fakes


class FakeClock:
    """``time.monotonic`` stand-in; the fake vendors spend its seconds."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _sf_stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _sf_id(prefix: str, n: int) -> str:
    return f"{prefix}{n:012d}"  # 15 characters: the poller turns it into the 18-character form


class FakeSalesforce:
    """``query`` over in-memory rows, honouring the poller's SystemModstamp window and order."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.queries: list[str] = []
        self.composites: list[list[str]] = []  # the queries of each composite call
        self.seconds_per_row = 0.0
        self.fail_after: dict[str, tuple[int, Exception]] = {}  # sobject -> (rows yielded, error)

    user_id = SERVICE_USER + "AAA"  # the user the service signs in as

    def add(self, sobject: str, record_id: str, modified: dt.datetime, **fields: Any) -> None:
        row = {"Id": record_id, "SystemModstamp": _sf_stamp(modified), "IsDeleted": False, **fields}
        self.rows.setdefault(sobject, []).append(row)

    def query_together(self, queries: Sequence[SoqlQuery]) -> list[Iterator[dict[str, Any]]]:
        """As the adapter: one composite call (recorded with its queries) when the first is read."""
        sent: list[list[str]] = []

        def rows(query: SoqlQuery) -> Iterator[dict[str, Any]]:
            if not sent:
                sent.append([q.soql for q in queries])
                self.composites.append(sent[0])
            yield from self.query(query.soql, include_deleted=query.include_deleted)

        return [rows(query) for query in queries]

    def query(self, soql: str, *, include_deleted: bool = False) -> Iterator[dict[str, Any]]:
        self.queries.append(soql)
        sobject = re.search(r"FROM (\w+)", soql)
        window = re.search(r"SystemModstamp >= (\S+) AND SystemModstamp < (\S+)", soql)
        not_by = re.search(r"LastModifiedById != '(\w+)'", soql)
        assert sobject is not None
        assert window is not None
        since, until = (dt.datetime.fromisoformat(v) for v in window.groups())
        rows = sorted(
            (
                r
                for r in self.rows.get(sobject.group(1), [])
                if since <= dt.datetime.fromisoformat(r["SystemModstamp"]) < until
                and not (not_by and str(r.get("LastModifiedById", ""))[:15] == not_by.group(1)[:15])
            ),
            key=lambda r: (r["SystemModstamp"], r["Id"]),
        )
        failure = self.fail_after.get(sobject.group(1))
        for index, row in enumerate(rows):
            if failure is not None and index == failure[0]:
                raise failure[1]
            self.clock.now += self.seconds_per_row
            yield row
        if failure is not None and len(rows) <= failure[0]:
            raise failure[1]


class FakeHubSpot:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.contacts: dict[str, str] = {}  # lower-cased email -> contact id
        self.engagements: dict[str, list[HubSpotRecord]] = {}
        self.search_error: Exception | None = None
        self.search_fail_after: int | None = None
        self.events: list[dict[str, Any]] = []
        self.event_windows: list[tuple[dt.datetime, dt.datetime]] = []
        self.event_page_size = 1000
        self.event_offsets: list[str | None] = []
        self.seconds_per_event_call = 0.0
        self.forms_calls = 0
        self.names_calls = 0
        self.forms_list: list[dict[str, Any]] = []
        self.submissions: dict[str, list[dict[str, Any]]] = {}
        self.failing_forms: set[str] = set()
        self.email_searches: list[list[str]] = []

    def search_modified(
        self, object_type: str, since: dt.datetime, until: dt.datetime, properties: Sequence[str]
    ) -> Iterator[HubSpotRecord]:
        if self.search_error is not None:
            raise self.search_error
        records = [
            r
            for r in self.engagements.get(object_type, [])
            if since <= dt.datetime.fromisoformat(str(r.properties["hs_lastmodifieddate"])) < until
        ]
        for index, record in enumerate(records):
            if self.search_fail_after is not None and index == self.search_fail_after:
                raise VendorApiError("hubspot", 502, "bad gateway", retryable=True)
            yield record

    def email_event_pages(
        self, since: dt.datetime, until: dt.datetime, offset: str | None = None
    ) -> Iterator[EmailEventPage]:
        self.event_windows.append((since, until))
        since_ms, until_ms = since.timestamp() * 1000, until.timestamp() * 1000
        inside = [e for e in self.events if since_ms <= e["created"] < until_ms]
        start = int(offset or 0)
        while True:
            self.event_offsets.append(None if start == 0 else str(start))
            self.clock.now += self.seconds_per_event_call
            page = inside[start : start + self.event_page_size]
            following = start + self.event_page_size
            next_offset = str(following) if following < len(inside) else None
            yield EmailEventPage(page, None if start == 0 else str(start), next_offset)
            if next_offset is None:
                return
            start = following

    def marketing_email_names(self) -> dict[str, str]:
        self.names_calls += 1
        return {"77": "Spring newsletter"}

    def forms(self) -> list[dict[str, Any]]:
        self.forms_calls += 1
        return self.forms_list

    def form_submissions(self, form_id: str, since: dt.datetime) -> Iterator[dict[str, Any]]:
        if form_id in self.failing_forms:
            raise VendorApiError("hubspot", 404, "form not found", retryable=False)
        since_ms = since.timestamp() * 1000
        newest_first = sorted(self.submissions.get(form_id, []), key=lambda s: -s["submittedAt"])
        yield from (s for s in newest_first if s["submittedAt"] >= since_ms)

    def find_contacts_by_email(
        self, emails: Sequence[str], properties: Sequence[str]
    ) -> dict[str, HubSpotRecord]:
        self.email_searches.append(list(emails))
        return {
            e.lower(): HubSpotRecord(id=self.contacts[e.lower()], properties={"email": e.lower()})
            for e in emails
            if e.lower() in self.contacts
        }


def _note(record_id: str, modified: dt.datetime) -> HubSpotRecord:
    return HubSpotRecord(id=record_id, properties={"hs_lastmodifieddate": modified.isoformat()})


def _ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


# ---------------------------------------------------------------------------------- the stack


@dataclass
class Stack:
    config: RuntimeConfig
    sqs: Any
    settings: SettingsRepository
    state: SyncStateRepository
    clock: FakeClock
    hubspot: FakeHubSpot
    salesforce: FakeSalesforce

    def poller(
        self,
        limits: PollLimits | None = None,
        queues: ChangeQueues | None = None,
        caches: PollCaches | None = None,
    ) -> Poller:
        return Poller(
            caches=caches,
            settings=self.settings,
            state=self.state,
            hubspot=lambda: cast(HubSpotApi, self.hubspot),
            salesforce=lambda: cast(SalesforceApi, self.salesforce),
            queues=queues or ChangeQueues(self.config, self.sqs),
            links=LinkRepository(),
            limits=limits,
            clock=self.clock,
        )

    def switch_on(self, sync_type: SyncType, enabled_at: dt.datetime = ENABLED_AT) -> None:
        self.settings.save_type_settings(
            sync_type, TypeSettings(enabled=True, enabled_at=enabled_at), by="test"
        )

    def drain(self, queue_url: str) -> list[dict[str, Any]]:
        bodies: list[dict[str, Any]] = []
        while True:
            response = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
            messages = response.get("Messages", [])
            if not messages:
                return bodies
            bodies.extend(json.loads(m["Body"]) for m in messages)
            self.sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )

    def changes(self, sync_type: SyncType) -> list[ChangeMessage]:
        return [ChangeMessage.from_dict(b) for b in self.drain(self.config.queue_url(sync_type))]

    def contact_changes(self) -> list[ContactChangeMessage]:
        assert self.config.contact_queue_url is not None
        return [ContactChangeMessage.from_dict(b) for b in self.drain(self.config.contact_queue_url)]

    def watermark(self, name: SyncType | str) -> dt.datetime | None:
        key = f"poll#{name.key}" if isinstance(name, SyncType) else name
        value = self.state.watermark(key)
        return None if value is None else Watermark.parse(value).at


@pytest.fixture(scope="module")
def stack_model() -> StackModel:
    # In-process moto names queues after the regional endpoint; the template's Refs must agree.
    resolver = TemplateResolver(
        load_stack_template(ROOT / "template.yaml"), aws_endpoint_url="https://sqs.us-east-1.amazonaws.com"
    )
    return build_stack_model(resolver, ROOT)


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, stack_model: StackModel) -> Iterator[Stack]:
    use_fake_aws(monkeypatch)
    model = stack_model
    with mock_aws(), stack_tables(model):
        sqs = boto3.client("sqs")
        for queue in queues_in_creation_order(model):
            create_queue(sqs, queue)
        environment = model.functions["Poller"].environment
        directory = model.ssm_values_under(f"{environment['SSM_PREFIX']}/stack")
        config = RuntimeConfig.from_directory(directory, environment)
        bind_tables(config)
        clock = FakeClock()
        yield Stack(
            config=config,
            sqs=sqs,
            settings=SettingsRepository(),
            state=SyncStateRepository(),
            clock=clock,
            hubspot=FakeHubSpot(clock),
            salesforce=FakeSalesforce(clock),
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
    stack.salesforce.add("Event", _sf_id("00U", 1), NOW - dt.timedelta(hours=1))

    # When the poller runs
    summary = stack.poller().run(NOW)

    # Then the failure is counted against notes, whose watermark has not moved ...
    assert list(summary.failed) == [NOTE.key]
    assert str(error) in summary.failed[NOTE.key]
    assert stack.watermark(NOTE) is None
    assert stack.changes(NOTE) == []
    # ... and the meetings, polled after it, were queued and moved on
    assert [c.object_id[:15] for c in stack.changes(SF_MEETING)] == [_sf_id("00U", 1)]
    assert stack.watermark("poll#salesforce#Event") == UNTIL
    assert summary.queued["salesforce#Event"] == 1


# ----------------------------------------------------------------- time budget, exactly once


def test_the_deadline_stops_new_work_and_the_next_run_resumes_exactly_there(stack: Stack) -> None:
    # Given six Salesforce meeting changes, two per step, each row costing a second
    stack.switch_on(SF_MEETING)
    stamps = [ENABLED_AT + dt.timedelta(minutes=i) for i in range(1, 7)]
    for i, stamp in enumerate(stamps, start=1):
        stack.salesforce.add("Event", _sf_id("00U", i), stamp)
    stack.salesforce.seconds_per_row = 1.0
    limits = PollLimits(step=2)

    # When the poller runs with 3.5 seconds left
    summary = stack.poller(limits).run(NOW, deadline=3.5)

    # Then no step started after the deadline: two steps (four rows) were queued ...
    assert sorted(c.object_id[:15] for c in stack.changes(SF_MEETING)) == [
        _sf_id("00U", i) for i in range(1, 5)
    ]
    # ... the watermark is at the last change queued, and the job is reported unfinished
    assert stack.watermark("poll#salesforce#Event") == stamps[3]
    assert summary.unfinished == ["salesforce#Event"]
    assert summary.failed == {}

    # When the next run has time enough
    stack.poller(limits).run(NOW + dt.timedelta(minutes=5))

    # Then it queues the rest - and nothing it had queued already - and catches up
    assert sorted(c.object_id[:15] for c in stack.changes(SF_MEETING)) == [_sf_id("00U", 5), _sf_id("00U", 6)]
    assert stack.watermark("poll#salesforce#Event") == NOW + dt.timedelta(minutes=5) - SETTLE_LAG


def test_a_few_seconds_a_run_over_thousands_of_records_advances_every_run_and_queues_each_once(
    stack: Stack,
) -> None:
    # Given 2,000 Salesforce Task changes, several sharing each instant, each read costing 10 ms
    stack.switch_on(SF_TASK)
    for i in range(2000):
        stack.salesforce.add(
            "Task", _sf_id("00T", i), ENABLED_AT + dt.timedelta(seconds=i // 3), TaskSubtype="Task"
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
    stack.salesforce.add("Event", _sf_id("00U", 1), NOW - dt.timedelta(hours=1))
    stack.hubspot.engagements["notes"] = [_note("501", NOW - dt.timedelta(hours=1))]
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
        stack.salesforce.add("Event", _sf_id("00U", i), ENABLED_AT + dt.timedelta(minutes=i))
    stack.salesforce.add("Task", _sf_id("00T", 1), NOW - dt.timedelta(hours=1), TaskSubtype="Task")
    stack.salesforce.seconds_per_row = 1.0

    # When the poller runs with less time than the backlog needs
    summary = stack.poller(PollLimits(step=2)).run(NOW, deadline=10.0)

    # Then the meetings made progress and so did the tasks after them
    meeting_mark = stack.watermark("poll#salesforce#Event")
    assert meeting_mark is not None
    assert ENABLED_AT < meeting_mark < UNTIL
    assert summary.unfinished == ["salesforce#Event"]
    assert [c.object_id[:15] for c in stack.changes(SF_TASK)] == [_sf_id("00T", 1)]
    assert stack.watermark("poll#salesforce#Task") == UNTIL


# ------------------------------------------------------------------------- durable paging


def test_a_failing_salesforce_read_keeps_what_was_queued_and_resumes_after_it(stack: Stack) -> None:
    # Given five meeting changes, and Salesforce failing after the fourth row
    stack.switch_on(SF_MEETING)
    stamps = [ENABLED_AT + dt.timedelta(minutes=i) for i in range(1, 6)]
    for i, stamp in enumerate(stamps, start=1):
        stack.salesforce.add("Event", _sf_id("00U", i), stamp)
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
    assert [c.object_id[:15] for c in stack.changes(SF_MEETING)] == [_sf_id("00U", 5)]


def test_hubspot_engagement_search_moves_the_watermark_step_by_step(stack: Stack) -> None:
    # Given five notes modified one after the other, and the search failing after the fourth
    stack.switch_on(NOTE)
    stamps = [ENABLED_AT + dt.timedelta(minutes=i) for i in range(1, 6)]
    stack.hubspot.engagements["notes"] = [_note(str(500 + i), s) for i, s in enumerate(stamps, start=1)]
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
        _note("601", synced_at),
        _note("602", synced_at + dt.timedelta(hours=1)),
    ]
    task_id = normalize_salesforce_id(_sf_id("00T", 7))
    stack.salesforce.add("Task", task_id, synced_at, TaskSubtype="Task")
    LinkRepository().save(
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
            Link("tasks", "901", task_id, "sync", details={"source_modified_at": _sf_stamp(synced_at)}),
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

    stack.hubspot.engagements["notes"] = [copy("7001"), _note("7002", modified)]
    stack.hubspot.engagements["tasks"] = [
        copy("8001", **written),
        copy("8002", **{**written, "hs_task_status": "COMPLETED"}),
        copy("8003", **written),
    ]
    LinkRepository().save(
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


def test_r14_the_services_own_salesforce_writes_are_not_read_back(stack: Stack) -> None:
    # Given a Task the service wrote and one a rep wrote
    stack.switch_on(SF_TASK)
    stack.salesforce.add(
        "Task",
        _sf_id("00T", 1),
        NOW - dt.timedelta(hours=1),
        TaskSubtype="Task",
        LastModifiedById=SERVICE_USER,
    )
    stack.salesforce.add(
        "Task",
        _sf_id("00T", 2),
        NOW - dt.timedelta(hours=1),
        TaskSubtype="Task",
        LastModifiedById="005000000000009",
    )

    # When the poller runs
    stack.poller().run(NOW)

    # Then the query leaves out the service's user, and only the rep's Task is queued
    assert f"LastModifiedById != '{SERVICE_USER}AAA'" in stack.salesforce.queries[-1]
    assert [c.object_id[:15] for c in stack.changes(SF_TASK)] == [_sf_id("00T", 2)]


def test_r18_a_run_reads_the_first_pages_of_all_its_salesforce_queries_in_one_call(stack: Stack) -> None:
    # Given Salesforce Tasks and Events switched on, and a HubSpot type (so that Salesforce
    # Contacts and Leads are polled too), with a change of each
    stack.switch_on(SF_TASK)
    stack.switch_on(SF_MEETING)
    stack.switch_on(NOTE)
    changed = ENABLED_AT + dt.timedelta(hours=1)
    stack.salesforce.add("Task", normalize_salesforce_id(_sf_id("00T", 1)), changed, TaskSubtype="Task")
    stack.salesforce.add("Event", normalize_salesforce_id(_sf_id("00U", 2)), changed)

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
    stack.salesforce.add("Event", normalize_salesforce_id(_sf_id("00U", 3)), changed)
    stack.salesforce.add(
        "Contact", normalize_salesforce_id(_sf_id("003", 4)), changed, Email="ada@example.com"
    )
    stack.hubspot.contacts["ada@example.com"] = "501"
    stack.hubspot.engagements["notes"] = [_note("701", changed)]
    SyncStateRepository().set_watermark("poll#salesforce#Event", "{not a watermark")

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
    stack.salesforce.add("Task", _sf_id("00T", 1), stamp, TaskSubtype="Task")
    stack.salesforce.add("Task", _sf_id("00T", 2), stamp, TaskSubtype="Email")
    stack.salesforce.add("Task", _sf_id("00T", 3), stamp, TaskSubtype="Call")
    stack.salesforce.add("Task", _sf_id("00T", 4), NOW - dt.timedelta(hours=3), TaskSubtype="Email")

    # When the poller runs
    summary = stack.poller().run(NOW)

    # Then one query read them all, and each went to its own type's queue - the call nowhere (its
    # switch is off) and the email changed before its switch went on nowhere either (R11)
    assert len([q for q in stack.salesforce.queries if "FROM Task" in q]) == 1
    assert [c.object_id[:15] for c in stack.changes(SF_TASK)] == [_sf_id("00T", 1)]
    assert [c.object_id[:15] for c in stack.changes(SF_EMAIL)] == [_sf_id("00T", 2)]
    assert stack.changes(SF_CALL) == []
    assert summary.queued["salesforce#Task"] == 2


# ------------------------------------------------------------------------------------ feeds


def _open(n: int, moment: dt.datetime, recipient: str | None = None) -> dict[str, Any]:
    return {
        "id": f"e{n}",
        "type": "OPEN",
        "created": _ms(moment),
        "recipient": recipient or f"r{n}@example.com",
        "emailCampaignId": 77,
    }


def test_a_marketing_backlog_is_read_in_one_stream_page_by_page_and_resumed_where_it_stopped(
    stack: Stack,
) -> None:
    # Given marketing emails switched on now, an open every day of the 30-day look-back, one 31
    # days back and kinds the service does not sync; pages of 7 events, each costing a second
    enabled_at = NOW
    stack.switch_on(MARKETING, enabled_at)
    stack.hubspot.contacts = {"known@example.com": "101"}
    inside = [
        _open(n, enabled_at - dt.timedelta(days=n, hours=1), "Known@Example.com" if n == 0 else None)
        for n in range(30)
    ]
    outside = _open(99, enabled_at - dt.timedelta(days=31))
    delivered = {**_open(98, enabled_at - dt.timedelta(days=2)), "type": "DELIVERED"}
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


def test_r18_a_run_reads_every_watermark_in_one_query_and_writes_its_moves_in_one_batch(
    stack: Stack,
) -> None:
    # Given six types switched on, polled once already
    for sync_type in (NOTE, TASK, MARKETING, SF_TASK, SF_EMAIL, SF_MEETING):
        stack.switch_on(sync_type)
    stack.poller().run(NOW)
    requests: Counter[str] = Counter()
    client = SyncStateItem._get_connection().connection.client
    client.meta.events.register("before-call.dynamodb", lambda model, **_: requests.update([str(model.name)]))

    # When the next run, five minutes on, finds a note to queue and nothing else
    stack.hubspot.engagements["notes"] = [_note("1", NOW + dt.timedelta(minutes=1))]
    stack.poller().run(NOW + dt.timedelta(minutes=5))

    # Then the sync state table saw one Query for every watermark (and one for the page of parked
    # activities), one write for the note's step, and one BatchWriteItem for the jobs that moved to
    # the end of their interval
    assert len(stack.changes(NOTE)) == 1
    assert requests["Query"] == 2, requests
    assert requests["GetItem"] == 0, requests
    assert requests["BatchWriteItem"] == 1, requests
    assert requests["PutItem"] <= 1, requests


def test_an_idle_marketing_feed_costs_one_call_a_run_and_the_names_are_kept(stack: Stack) -> None:
    stack.switch_on(MARKETING, NOW)
    caches = PollCaches()
    for run in range(3):
        stack.hubspot.events = [_open(run, NOW + dt.timedelta(minutes=5 * run))]
        stack.poller(caches=caches).run(NOW + dt.timedelta(minutes=5 * run + 3))
    assert len(stack.hubspot.event_offsets) == 3
    assert stack.hubspot.names_calls == 1


def test_r9_an_email_sent_since_the_names_were_read_is_named_after_one_more_read(stack: Stack) -> None:
    stack.switch_on(MARKETING, NOW)
    caches = PollCaches()
    stack.hubspot.events = [_open(1, NOW - dt.timedelta(hours=1))]
    stack.poller(caches=caches).run(NOW)
    # Given names kept from that run, and opens of an email they do not name (over three steps)
    stack.hubspot.events = [
        {**_open(n, NOW + dt.timedelta(minutes=n)), "emailCampaignId": 78} for n in range(2, 8)
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
        {"conversionId": f"c{i}", "submittedAt": _ms(s), "values": []} for i, s in enumerate(stamps)
    ] + [{"conversionId": "too-old", "submittedAt": _ms(NOW - dt.timedelta(days=366)), "values": []}]

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


# ------------------------------------------------------------ contacts matching in Salesforce


def test_salesforce_contact_and_lead_changes_wake_the_matching_hubspot_contacts_only(stack: Stack) -> None:
    # Given notes switched on; 150 Salesforce Contacts changed, one of them matching a HubSpot
    # contact (in another case), a changed Lead matching another, and a Lead changed too early
    stack.switch_on(NOTE)
    stack.hubspot.contacts = {"ana@example.com": "101", "lea@example.com": "103"}
    for i in range(150):
        email = "ANA@example.com" if i == 7 else f"nobody{i}@example.com"
        stack.salesforce.add("Contact", _sf_id("003", i), NOW - dt.timedelta(minutes=30), Email=email)
    stack.salesforce.add("Lead", _sf_id("00Q", 1), NOW - dt.timedelta(minutes=20), Email="lea@example.com")
    stack.salesforce.add("Lead", _sf_id("00Q", 2), ENABLED_AT - dt.timedelta(days=2), Email="old@example.com")

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
    stack.salesforce.add("Contact", _sf_id("003", 1), NOW - dt.timedelta(minutes=30), Email="ana@example.com")

    # When the poller runs
    stack.poller().run(NOW)

    # Then no one is looked up or queued: nothing HubSpot -> Salesforce can be waiting
    assert not any("FROM Contact" in q for q in stack.salesforce.queries)
    assert stack.contact_changes() == []


# ------------------------------------------------------------------ activities with no contact


def _park_unassociated(stack: Stack, sync_type: SyncType, ids: Iterable[str]) -> None:
    for activity_id in ids:
        message = ChangeMessage(
            sync_type=sync_type.key, object_id=activity_id, source=ChangeSource.CONTACT_STARTED_SYNCING
        )
        stack.state.add_waiting_many(
            [(["unassociated"], sync_type, activity_id, message.to_dict(), "no_associated_contact")]
        )


def test_unassociated_activities_are_requeued_and_removed_a_bounded_number_per_run(stack: Stack) -> None:
    # Given 25 notes parked with no contact, one task (its switch off), and 20 re-checks per run
    stack.switch_on(NOTE)
    _park_unassociated(stack, NOTE, (f"n{i:02d}" for i in range(25)))
    _park_unassociated(stack, TASK, ["t1"])
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
    _park_unassociated(stack, NOTE, ["n1"])

    class QuickSyncerQueues(ChangeQueues):
        def send_changes(self, changes: Iterable[ChangeMessage]) -> int:
            sent = super().send_changes(changes)
            _park_unassociated(stack, NOTE, ["n1"])
            return sent

    # When the poller runs
    stack.poller(queues=QuickSyncerQueues(stack.config, stack.sqs)).run(NOW)

    # Then the note was re-queued and its fresh parking survives (R16: nothing lost)
    assert [c.object_id for c in stack.changes(NOTE)] == ["n1"]
    assert [i.key for i in stack.state.waiting_for("unassociated")] == [f"{NOTE.key}#n1"]
