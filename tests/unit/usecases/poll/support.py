"""What the poller's tests share: the fake vendors (only the calls the poller makes), the
in-memory ports, and the run's constants. Every port is a fake (``tests/fakes``, held to the
DynamoDB adapters by ``tests/contract``): no moto, no local runtime."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from activity_sync.domain import HubSpotActivityType, SalesforceActivityType, SyncType, TypeSettings
from activity_sync.messages import ChangeMessage, ChangeSource, ContactChangeMessage
from activity_sync.ports import (
    EmailEventPage,
    HubSpotApi,
    HubSpotRecord,
    SalesforceApi,
    SoqlQuery,
    VendorApiError,
)
from activity_sync.usecases.poll import SETTLE_LAG, PollCaches, Poller, PollLimits, Watermark
from tests.fakes.queues import InMemoryChangeQueue
from tests.fakes.storage import InMemoryLinks, InMemorySettings, InMemorySyncState

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


def sf_stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def sf_id(prefix: str, n: int) -> str:
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
        row = {"Id": record_id, "SystemModstamp": sf_stamp(modified), "IsDeleted": False, **fields}
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


def note(record_id: str, modified: dt.datetime) -> HubSpotRecord:
    return HubSpotRecord(id=record_id, properties={"hs_lastmodifieddate": modified.isoformat()})


def ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


# ---------------------------------------------------------------------------------- the stack


@dataclass
class Stack:
    settings: InMemorySettings
    state: InMemorySyncState
    links: InMemoryLinks
    queues: InMemoryChangeQueue
    clock: FakeClock
    hubspot: FakeHubSpot
    salesforce: FakeSalesforce

    def poller(
        self,
        limits: PollLimits | None = None,
        queues: InMemoryChangeQueue | None = None,
        caches: PollCaches | None = None,
    ) -> Poller:
        return Poller(
            caches=caches,
            settings=self.settings,
            state=self.state,
            hubspot=lambda: cast(HubSpotApi, self.hubspot),
            salesforce=lambda: cast(SalesforceApi, self.salesforce),
            queues=queues or self.queues,
            links=self.links,
            limits=limits,
            clock=self.clock,
        )

    def switch_on(self, sync_type: SyncType, enabled_at: dt.datetime = ENABLED_AT) -> None:
        self.settings.save_type_settings(
            sync_type, TypeSettings(enabled=True, enabled_at=enabled_at), by="test"
        )

    def changes(self, sync_type: SyncType) -> list[ChangeMessage]:
        return self.queues.take(sync_type.key)

    def contact_changes(self) -> list[ContactChangeMessage]:
        return self.queues.take_contact_changes()

    def watermark(self, name: SyncType | str) -> dt.datetime | None:
        key = f"poll#{name.key}" if isinstance(name, SyncType) else name
        value = self.state.watermark(key)
        return None if value is None else Watermark.parse(value).at


def email_open(n: int, moment: dt.datetime, recipient: str | None = None) -> dict[str, Any]:
    return {
        "id": f"e{n}",
        "type": "OPEN",
        "created": ms(moment),
        "recipient": recipient or f"r{n}@example.com",
        "emailCampaignId": 77,
    }


def park_unassociated(stack: Stack, sync_type: SyncType, ids: Iterable[str]) -> None:
    for activity_id in ids:
        message = ChangeMessage(
            sync_type=sync_type.key, object_id=activity_id, source=ChangeSource.CONTACT_STARTED_SYNCING
        )
        stack.state.add_waiting_many(
            [(["unassociated"], sync_type, activity_id, message.to_dict(), "no_associated_contact")]
        )
