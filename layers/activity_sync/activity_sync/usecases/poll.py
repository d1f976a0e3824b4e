"""The poller: the safety net under the webhooks, and the only source for the feeds that have none.

Each run, for every switched-on type:

* HubSpot engagements (notes, calls, meetings, tasks, sales emails): a search on
  ``hs_lastmodifieddate`` since the type's watermark (minus an overlap, so a record indexed late is
  not missed) -> ids on the type's queue. Re-queueing a record already synced costs no Salesforce
  call: its syncer sees the Task is unchanged (R15, R18).
* Marketing email events (v1 feed) and form submissions (v1 feed): read since the watermark - on
  the first run since ``enabled_at`` minus the look-back window (R5: 30 days, one year) - and
  queued with their content, each event or submission under its own id.
* Salesforce Tasks and Events: ``queryAll`` on ``SystemModstamp`` since the watermark, routed by
  ``TaskSubtype`` (R10); on the first run since ``enabled_at`` (R11: nothing older).

A watermark moves only after everything up to it is queued; a failed run starts again from the
old one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from activity_sync.adapters.dynamodb import SettingsRepository, SyncStateRepository
from activity_sync.adapters.hubspot_activities import ENGAGEMENTS, parse_hubspot_time
from activity_sync.adapters.queues import ChangeQueues
from activity_sync.domain import (
    EmailEventKind,
    HubSpotActivityType,
    SalesforceActivityType,
    SyncType,
    TypeSettings,
)
from activity_sync.messages import ChangeKind, ChangeMessage, ChangeSource
from activity_sync.observability import logger
from activity_sync.ports import HubSpotApi, SalesforceApi
from activity_sync.rules.owner_mapping import normalize_email
from activity_sync.rules.salesforce_ids import normalize_salesforce_id
from activity_sync.rules.salesforce_types import task_subtype_condition
from activity_sync.rules.switches import is_on
from activity_sync.rules.windows import window_start

OVERLAP = dt.timedelta(minutes=5)
MARKETING_EVENT_KINDS: Mapping[str, EmailEventKind] = {
    "SENT": EmailEventKind.SENT,
    "OPEN": EmailEventKind.OPEN,
    "CLICK": EmailEventKind.CLICK,
}
SALESFORCE_POLL_FIELDS = ("Id", "TaskSubtype", "IsDeleted", "SystemModstamp")


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


def _soql_datetime(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class PollSummary:
    queued: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    def add(self, sync_type: SyncType, n: int) -> None:
        self.queued[sync_type.key] = self.queued.get(sync_type.key, 0) + n


class Poller:
    def __init__(
        self,
        *,
        settings: SettingsRepository,
        state: SyncStateRepository,
        hubspot: Callable[[], HubSpotApi],
        salesforce: Callable[[], SalesforceApi],
        queues: ChangeQueues,
    ) -> None:
        self._settings = settings
        self._state = state
        self._hubspot = hubspot
        self._salesforce = salesforce
        self._queues = queues

    def run(self, now: dt.datetime) -> PollSummary:
        summary = PollSummary()
        all_settings = self._settings.all_type_settings()
        for key, settings in all_settings.items():
            if not is_on(settings):
                continue
            sync_type = SyncType.parse(key)
            watermark_name = f"poll#{key}"
            since = self._since(watermark_name, sync_type, settings)
            until = now
            if isinstance(sync_type.type, HubSpotActivityType):
                changes = self._hubspot_changes(sync_type.type, since, until)
            else:
                changes = self._salesforce_changes(sync_type.type, since, until)
            queued = self._queues.send_changes(changes) if changes else 0
            summary.add(sync_type, queued)
            # Next time, start a little before this run's end: late-indexed records are caught.
            self._state.set_watermark(watermark_name, _iso(until - OVERLAP))
        logger.info("poll done", extra={"queued": summary.queued})
        return summary

    def _since(self, watermark_name: str, sync_type: SyncType, settings: TypeSettings) -> dt.datetime:
        assert settings.enabled_at is not None
        if isinstance(sync_type.type, HubSpotActivityType):
            earliest = window_start(sync_type.type, settings.enabled_at)
        else:
            earliest = settings.enabled_at
        stored = self._state.watermark(watermark_name)
        if stored is None:
            return earliest
        return max(dt.datetime.fromisoformat(stored), earliest)

    # ------------------------------------------------------------------------------- HubSpot
    def _hubspot_changes(
        self, activity_type: HubSpotActivityType, since: dt.datetime, until: dt.datetime
    ) -> list[ChangeMessage]:
        sync_key = SyncType.hubspot_to_salesforce(activity_type).key
        spec = ENGAGEMENTS.get(activity_type)
        if spec is not None:
            return [
                ChangeMessage(sync_type=sync_key, object_id=record.id, source=ChangeSource.HUBSPOT_POLL)
                for record in self._hubspot().search_modified(
                    spec.object_type, since, until, ["hs_object_id"]
                )
            ]
        if activity_type is HubSpotActivityType.MARKETING_EMAIL:
            return self._marketing_email_events(sync_key, since, until)
        if activity_type is HubSpotActivityType.FORM_SUBMISSION:
            return self._form_submissions(sync_key, since, until)
        return []  # document views and integration events only arrive through the activity route

    def _contacts_by_email(self, emails: Iterable[str]) -> dict[str, str]:
        wanted = sorted({e for e in (normalize_email(x) for x in emails) if e})
        if not wanted:
            return {}
        found = self._hubspot().find_contacts_by_email(wanted, ["email"])
        return {email: record.id for email, record in found.items()}

    def _marketing_email_events(
        self, sync_key: str, since: dt.datetime, until: dt.datetime
    ) -> list[ChangeMessage]:
        hubspot = self._hubspot()
        events = list(hubspot.email_events(since, until, list(MARKETING_EVENT_KINDS)))
        if not events:
            return []
        names = hubspot.marketing_email_names()
        contacts = self._contacts_by_email(str(e.get("recipient", "")) for e in events)
        changes: list[ChangeMessage] = []
        for event in events:
            contact_id = contacts.get(normalize_email(str(event.get("recipient", ""))) or "")
            kind = MARKETING_EVENT_KINDS.get(str(event.get("type")))
            if kind is None:
                continue
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

    def _form_submissions(self, sync_key: str, since: dt.datetime, until: dt.datetime) -> list[ChangeMessage]:
        hubspot = self._hubspot()
        collected: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for form in hubspot.forms():
            for submission in hubspot.form_submissions(str(form["id"]), since):
                submitted_at = parse_hubspot_time(submission.get("submittedAt"))
                if submitted_at is not None and since <= submitted_at < until:
                    collected.append((form, submission))
        if not collected:
            return []

        def email_of(submission: Mapping[str, Any]) -> str:
            values = {v.get("name"): v.get("value") for v in submission.get("values", [])}
            return str(values.get("email") or "")

        contacts = self._contacts_by_email(email_of(s) for _, s in collected)
        changes: list[ChangeMessage] = []
        for form, submission in collected:
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
        return changes

    # ---------------------------------------------------------------------------- Salesforce
    def _salesforce_changes(
        self, activity_type: SalesforceActivityType, since: dt.datetime, until: dt.datetime
    ) -> list[ChangeMessage]:
        sync_key = SyncType.salesforce_to_hubspot(activity_type).key
        window = f"SystemModstamp >= {_soql_datetime(since)} AND SystemModstamp < {_soql_datetime(until)}"
        if activity_type is SalesforceActivityType.MEETING:
            soql = (
                f"SELECT Id, IsDeleted, SystemModstamp FROM Event WHERE {window} ORDER BY SystemModstamp, Id"  # noqa: S608 - built from datetimes we format
            )
        else:
            where = f"{window} AND {task_subtype_condition(activity_type)}"
            fields = "Id, TaskSubtype, IsDeleted, SystemModstamp"
            soql = f"SELECT {fields} FROM Task WHERE {where} ORDER BY SystemModstamp, Id"  # noqa: S608 - constants
        return [
            ChangeMessage(
                sync_type=sync_key,
                object_id=normalize_salesforce_id(str(row["Id"])),
                source=ChangeSource.SALESFORCE_POLL,
                kind=ChangeKind.DELETION if row.get("IsDeleted") else ChangeKind.UPSERT,
            )
            for row in self._salesforce().query(soql, include_deleted=True)
        ]
