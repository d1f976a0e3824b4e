"""The Salesforce sources of a poll run: Tasks and Events (``queryAll`` on ``SystemModstamp``,
each record routed to its type's queue, R10), and Contacts and Leads changed (R4 from the
Salesforce side: a person that now matches a HubSpot contact makes it sync). Their first pages
come in one composite call (``SalesforceReads``)."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from activity_sync.domain import SalesforceActivityType, SyncType
from activity_sync.messages import ChangeKind, ChangeMessage, ChangeSource, ContactChangeMessage
from activity_sync.ports import SoqlQuery
from activity_sync.rules.echo import parse_salesforce_datetime, same_version
from activity_sync.rules.owner_mapping import normalize_email
from activity_sync.rules.salesforce_ids import normalize_salesforce_id, same_salesforce_id
from activity_sync.rules.salesforce_types import classify_salesforce_activity
from activity_sync.usecases.poll.context import PollContext, Steps
from activity_sync.usecases.poll.watermarks import Watermark

SALESFORCE_POLL_FIELDS = ("Id", "TaskSubtype", "IsDeleted", "SystemModstamp", "LastModifiedById")
SALESFORCE_PEOPLE = ("Contact", "Lead")


class SalesforceActivitySource:
    """``queryAll`` on ``SystemModstamp``: every switched-on type of ``sobject`` (Task, Event) in
    one query, each record routed to its type's queue (R10), from the earliest switch (R11:
    nothing older than a type's own switch is queued for it), leaving out the service's own
    writes (R14, R18)."""

    def __init__(
        self,
        context: PollContext,
        sobject: str,
        enabled: Mapping[SalesforceActivityType, dt.datetime],
        until: dt.datetime,
        sync_type: SyncType,
    ) -> None:
        self.name = f"salesforce#{sobject}"
        self.sync_type: SyncType | None = sync_type
        self._context = context
        self._sobject = sobject
        self._enabled = enabled
        self._until = until
        self._watermark = f"poll#salesforce#{sobject}"
        legacy = [f"poll#{SyncType.salesforce_to_hubspot(t).key}" for t in enabled]
        # Read when the job (or the composite read) starts: a corrupt watermark fails this job only.
        self._since: Callable[[], Watermark] = functools.cache(
            lambda: context.marks.since(self._watermark, min(enabled.values()), fallback=legacy)
        )
        # Registered now, with the run's other queries: their first pages come in one call.
        self._rows: Iterator[dict[str, Any]] = context.salesforce_reads.add(self._query)

    def _query(self) -> SoqlQuery:
        conditions = [
            f"SystemModstamp >= {soql_datetime(self._since().at)}",
            f"SystemModstamp < {soql_datetime(self._until)}",
        ]
        service_user = quoted_id(self._context.salesforce().user_id)
        if service_user is not None:
            # R14/R18: the service's own writes never cost a read (their Outbound Messages are
            # left out by the flows' entry condition too).
            conditions.append(f"LastModifiedById != {service_user}")
        fields = ", ".join(
            SALESFORCE_POLL_FIELDS if self._sobject == "Task" else ("Id", "IsDeleted", "SystemModstamp")
        )
        where = " AND ".join(conditions)
        # Only constants, datetimes we format and a validated id are interpolated.
        soql = f"SELECT {fields} FROM {self._sobject} WHERE {where} ORDER BY SystemModstamp, Id"  # noqa: S608  # nosec B608  # as above
        return SoqlQuery(soql, include_deleted=True)

    def steps(self) -> Steps:
        context, sobject, enabled = self._context, self._sobject, self._enabled
        since = self._since()
        salesforce = context.salesforce()
        service_user = quoted_id(salesforce.user_id)
        stamp = salesforce_key

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
            if context.links is None:
                return set()
            links = context.links.by_salesforce_ids(stamp(row)[1] for row in rows if not row.get("IsDeleted"))
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
            return context.send(changes)

        yield from context.steps(self._watermark, since, self._rows, stamp, queue, synced, self._until)


class SalesforcePeopleSource:
    """R4 from the Salesforce side: a Contact or Lead created (or given an email) that matches a
    HubSpot contact makes that contact sync; the contact linker links it and wakes what waits. One
    query per object per run, one HubSpot search per 100 emails (R18)."""

    def __init__(self, context: PollContext, sobject: str, earliest: dt.datetime, until: dt.datetime) -> None:
        self.name = f"salesforce_people#{sobject}"
        self.sync_type: SyncType | None = None
        self._context = context
        self._sobject = sobject
        self._until = until
        self._watermark = f"poll#salesforce_people#{sobject}"
        self._since: Callable[[], Watermark] = functools.cache(
            lambda: context.marks.since(self._watermark, earliest)
        )
        self._rows: Iterator[dict[str, Any]] = context.salesforce_reads.add(self._query)

    def _query(self) -> SoqlQuery:
        unconverted = " AND IsConverted = false" if self._sobject == "Lead" else ""
        since, until = soql_datetime(self._since().at), soql_datetime(self._until)
        window = f"SystemModstamp >= {since} AND SystemModstamp < {until}"
        return SoqlQuery(
            f"SELECT Id, Email, SystemModstamp FROM {self._sobject} "  # noqa: S608  # nosec B608  # constants and datetimes we format
            f"WHERE {window}{unconverted} AND Email != null ORDER BY SystemModstamp, Id"
        )

    def steps(self) -> Steps:
        context = self._context
        stamp = salesforce_key

        def queue(rows: list[dict[str, Any]]) -> int:
            contacts = context.contacts.find(str(row.get("Email") or "") for row in rows)
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
            return context.send_contacts(changes.values())

        yield from context.steps(self._watermark, self._since(), self._rows, stamp, queue, until=self._until)


def soql_datetime(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def salesforce_key(row: Mapping[str, Any]) -> tuple[dt.datetime | None, str]:
    """A Salesforce row's instant and 18-character id (its place in the watermark)."""
    return parse_salesforce_datetime(row.get("SystemModstamp")), normalize_salesforce_id(str(row["Id"]))


def quoted_id(user_id: str) -> str | None:
    try:
        return f"'{normalize_salesforce_id(user_id)}'"
    except ValueError:
        return None
