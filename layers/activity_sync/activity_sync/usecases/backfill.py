"""R11's explicit import: bring Salesforce history over for a date range.

Turning a switch on imports nothing by itself; this does, on request. It pages through the
Salesforce records created in [since, until) with ``query`` (2,000 rows a call) and queues them
on their type's queue marked as an import, so the syncer lets them through R11's window. Running
it twice, or over overlapping ranges, changes nothing more: the HubSpot upsert is keyed by the
Salesforce id (R15).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from activity_sync.domain import SalesforceActivityType, SyncType
from activity_sync.messages import ChangeMessage, ChangeSource
from activity_sync.ports import ChangeQueue, SalesforceApi
from activity_sync.rules.salesforce_ids import normalize_salesforce_id
from activity_sync.rules.salesforce_types import task_subtype_condition

QUEUE_CHUNK = 500  # messages sent per progress step


def _soql_datetime(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def import_query(activity_type: SalesforceActivityType, since: dt.datetime, until: dt.datetime) -> str:
    window = f"CreatedDate >= {_soql_datetime(since)} AND CreatedDate < {_soql_datetime(until)}"
    if activity_type is SalesforceActivityType.MEETING:
        return f"SELECT Id FROM Event WHERE {window} ORDER BY CreatedDate, Id"  # noqa: S608  # nosec B608  # formatted dates
    where = f"{window} AND {task_subtype_condition(activity_type)}"
    return f"SELECT Id FROM Task WHERE {where} ORDER BY CreatedDate, Id"  # noqa: S608  # nosec B608  # constants and dates


def import_salesforce_history(
    salesforce: SalesforceApi,
    queues: ChangeQueue,
    types: Sequence[SalesforceActivityType],
    since: dt.datetime,
    until: dt.datetime,
    progress: Callable[[SalesforceActivityType, int], None] = lambda _type, _n: None,
) -> dict[SalesforceActivityType, int]:
    """Queue every record of ``types`` created in [since, until); returns how many per type."""
    if since >= until:
        raise ValueError(f"the range is empty: {since.isoformat()} is not before {until.isoformat()}")
    queued: dict[SalesforceActivityType, int] = {}
    for activity_type in types:
        sync_key = SyncType.salesforce_to_hubspot(activity_type).key
        batch: list[ChangeMessage] = []
        queued[activity_type] = 0
        for row in salesforce.query(import_query(activity_type, since, until)):
            batch.append(
                ChangeMessage(
                    sync_type=sync_key,
                    object_id=normalize_salesforce_id(str(row["Id"])),
                    source=ChangeSource.IMPORT,
                )
            )
            if len(batch) >= QUEUE_CHUNK:
                queued[activity_type] += queues.send_changes(batch)
                progress(activity_type, queued[activity_type])
                batch = []
        if batch:
            queued[activity_type] += queues.send_changes(batch)
        progress(activity_type, queued[activity_type])
    return queued
