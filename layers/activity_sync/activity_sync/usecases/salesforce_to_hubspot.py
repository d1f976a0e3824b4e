"""Salesforce -> HubSpot: where a Salesforce Task (task, email, call) or Event becomes a HubSpot
activity on the right contact (R10-R13), without echoes (R14).

A batch costs one sObject Collections retrieve, one HubSpot batch upsert by the unique property
``activity_sync_salesforce_id`` (so a retry or a race can never make a second activity, R15) and
one association batch per target object, plus DynamoDB link reads (R18).

Echoes (R14), decided per record from its link:
* the service's own write coming back (fields as written, or the API user's last modification
  stamped as read back) -> skipped;
* a Task the service created from a HubSpot task, then edited by a person in Salesforce -> the
  HubSpot task is updated (status, subject, priority…), never copied as a new activity; edits of
  copies of other HubSpot activity types stay in Salesforce (HubSpot owns those);
* anything else -> upserted into HubSpot.
Conflicting edits on both sides: the later modification wins; a tie goes to Salesforce
(``rules.echo.resolve_conflicting_edit``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from activity_sync.adapters.dynamodb import LinkItem, LinkRepository, SettingsRepository, SyncStateRepository
from activity_sync.domain import (
    HUBSPOT_SALESFORCE_ID_PROPERTY,
    SALESFORCE_EXTERNAL_ID_FIELD,
    HubSpotActivityType,
    SalesforceActivityType,
    SyncType,
)
from activity_sync.messages import ChangeKind, ChangeMessage
from activity_sync.observability import logger
from activity_sync.ports import HubSpotApi, SalesforceApi, VendorApiError, WriteResult
from activity_sync.rules.activity_mapping import (
    COMPANY_ASSOCIATION,
    CONTACT_ASSOCIATION,
    DEAL_ASSOCIATION,
    EVENT_FIELDS,
    TASK_FIELDS,
    HubSpotActivityDraft,
    hubspot_activity_from_salesforce,
)
from activity_sync.rules.echo import (
    ChangeOrigin,
    WrittenVersion,
    classify_salesforce_change,
    fingerprint,
    parse_salesforce_datetime,
)
from activity_sync.rules.switches import is_on
from activity_sync.rules.task_mapping import HubSpotActivityKey
from activity_sync.rules.windows import SkipReason, should_sync_salesforce_change
from activity_sync.usecases.batch import BatchResult
from activity_sync.usecases.hubspot_to_salesforce import OwnerDirectory

TRANSIENT_HUBSPOT_ERRORS = frozenset({"RATE_LIMITS", "429", "500", "502", "503", "504"})
# Object types whose unique id property this container has made sure of (one call per cold start).
_ENSURED_PROPERTIES: set[str] = set()


def written_version(link: LinkItem | None, side: str) -> WrittenVersion | None:
    """What the service last wrote on ``side`` for this link, as the echo rules want it."""
    if link is None or link.written_side != side or not link.fingerprint:
        return None
    details: Mapping[str, Any] = link.details or {}
    modstamp = details.get("modstamp")
    return WrittenVersion(
        fingerprint=link.fingerprint,
        field_names=tuple(details.get("fields", ())),
        modified_at=parse_salesforce_datetime(modstamp) if modstamp else None,
    )


@dataclass
class _Pending:
    record: dict[str, Any]
    message_ids: list[str] = field(default_factory=list)
    draft: HubSpotActivityDraft | None = None


class SalesforceToHubSpot:
    def __init__(
        self,
        activity_type: SalesforceActivityType,
        *,
        settings: SettingsRepository,
        links: LinkRepository,
        state: SyncStateRepository,
        hubspot: HubSpotApi,
        salesforce: SalesforceApi,
        owners: OwnerDirectory,
    ) -> None:
        self.activity_type = activity_type
        self.sync_type = SyncType.salesforce_to_hubspot(activity_type)
        self.sobject = "Event" if activity_type is SalesforceActivityType.MEETING else "Task"
        self._settings = settings
        self._links = links
        self._state = state
        self._hubspot = hubspot
        self._salesforce = salesforce
        self._owners = owners

    def handle(self, changes: Sequence[tuple[str, ChangeMessage]]) -> BatchResult:
        result = BatchResult()
        settings = self._settings.type_settings(self.sync_type)
        if not is_on(settings):
            self._count("waiting", SkipReason.TYPE_OFF, len(changes))
            return result
        upserts = [(mid, c) for mid, c in changes if c.kind is ChangeKind.UPSERT]
        self._count("skipped", "deleted_in_salesforce", len(changes) - len(upserts))
        try:
            fields = EVENT_FIELDS if self.sobject == "Event" else TASK_FIELDS
            records = self._salesforce.retrieve(
                self.sobject, list(dict.fromkeys(c.object_id for _, c in upserts)), fields
            )
            pending: dict[str, _Pending] = {}
            for message_id, change in upserts:
                record = records.get(change.object_id)
                if record is None:
                    self._count("skipped", "not_found_in_salesforce", 1)
                    continue
                pending.setdefault(change.object_id, _Pending(record)).message_ids.append(message_id)
            native, edits = self._classify(list(pending.values()), settings)
            self._update_hubspot_tasks(edits, result)
            self._upsert(native, result)
        except VendorApiError as error:
            logger.warning("vendor call failed", extra={"error": str(error)})
            for message_id, _ in upserts:
                if message_id not in result.dead:
                    result.retry.setdefault(message_id, str(error))
        return result

    def _classify(self, pending: list[_Pending], settings: Any) -> tuple[list[_Pending], list[_Pending]]:
        native: list[_Pending] = []
        edits: list[_Pending] = []
        for item in pending:
            record = item.record
            created = parse_salesforce_datetime(record.get("CreatedDate"))
            modified = parse_salesforce_datetime(record.get("LastModifiedDate"))
            if created is None or modified is None:
                self._count("skipped", "no_dates", 1)
                continue
            if not should_sync_salesforce_change(created, modified, settings).should_sync:
                self._count("skipped", SkipReason.OUTSIDE_WINDOW, 1)  # R11: not retroactive
                continue
            link = self._links.by_salesforce_id(str(record["Id"]))
            origin = classify_salesforce_change(
                record,
                service_user_id=self._salesforce.user_id,
                last_written=written_version(link, "salesforce"),
            )
            if origin is ChangeOrigin.OWN_WRITE:
                self._count("skipped", SkipReason.ECHO, 1)
            elif origin is ChangeOrigin.EDIT_OF_OWN_COPY:
                edits.append(item)
            else:
                unchanged = written_version(link, "hubspot")
                item.draft = self._draft(record)
                if unchanged is not None and unchanged.fingerprint == fingerprint(item.draft.properties):
                    self._count("skipped", "unchanged", 1)
                    continue
                native.append(item)
        return native, edits

    def _draft(self, record: Mapping[str, Any]) -> HubSpotActivityDraft:
        owner = self._owners.current().hubspot_owner_for(record.get("OwnerId"))  # R13
        return hubspot_activity_from_salesforce(record, self.activity_type, owner)

    def _update_hubspot_tasks(self, edits: list[_Pending], result: BatchResult) -> None:
        """A Task that came from a HubSpot task was edited in Salesforce: update that HubSpot task."""
        updates: list[tuple[_Pending, str, dict[str, str | None]]] = []
        for item in edits:
            try:
                key = HubSpotActivityKey.parse(str(item.record.get(SALESFORCE_EXTERNAL_ID_FIELD, "")))
            except ValueError:
                self._count("skipped", "edit_of_unknown_copy", 1)
                continue
            if (
                key.type is not HubSpotActivityType.TASK
                or self.activity_type is not SalesforceActivityType.TASK
            ):
                self._count("skipped", "edit_of_hubspot_copy", 1)
                continue
            draft = self._draft(item.record)
            properties = {
                name: value
                for name, value in draft.properties.items()
                if name
                in (
                    "hs_task_subject",
                    "hs_task_body",
                    "hs_task_status",
                    "hs_task_priority",
                    "hubspot_owner_id",
                )
            }
            updates.append((item, key.id, properties))
        if not updates:
            return
        outcomes = self._hubspot.update_objects(
            "tasks", [(hubspot_id, props) for _, hubspot_id, props in updates]
        )
        for (item, hubspot_id, _), outcome in zip(updates, outcomes, strict=True):
            if outcome.success:
                self._count("synced", "update_of_hubspot_task", 1)
            else:
                self._fail(
                    item,
                    f"HubSpot refused the update of task {hubspot_id}: {outcome.message}",
                    outcome,
                    result,
                )

    def _upsert(self, native: list[_Pending], result: BatchResult) -> None:
        ready = [item for item in native if item.draft is not None]
        if not ready:
            return
        object_type = ready[0].draft.object_type if ready[0].draft else ""
        if object_type not in _ENSURED_PROPERTIES:
            # The upsert key: a unique-value property the service creates on first use (R15).
            self._hubspot.ensure_unique_property(
                object_type, HUBSPOT_SALESFORCE_ID_PROPERTY, "Salesforce record id"
            )
            _ENSURED_PROPERTIES.add(object_type)
        outcomes = self._hubspot.upsert_objects(
            object_type,
            HUBSPOT_SALESFORCE_ID_PROPERTY,
            [item.draft.properties for item in ready if item.draft],
        )
        synced: list[tuple[_Pending, str]] = []
        for item, outcome in zip(ready, outcomes, strict=True):
            if outcome.success and outcome.id:
                synced.append((item, outcome.id))
            else:
                self._fail(
                    item, f"HubSpot refused the {object_type} upsert: {outcome.message}", outcome, result
                )
        self._associate(object_type, synced, result)
        for item, hubspot_id in synced:
            assert item.draft is not None
            self._links.link(
                object_type,
                hubspot_id,
                str(item.record["Id"]),
                source="sync",
                fingerprint=fingerprint(item.draft.properties),
                written_side="hubspot",
                details={"fields": sorted(item.draft.properties)},
            )
        self._count("synced", None, len(synced))

    def _associate(self, object_type: str, synced: list[tuple[_Pending, str]], result: BatchResult) -> None:
        """R12: the contact behind WhoId, and the company/deal behind WhatId where linked."""
        pairs: dict[str, list[tuple[str, str, int]]] = {"contacts": [], "companies": [], "deals": []}
        targets = {
            "contacts": CONTACT_ASSOCIATION,
            "companies": COMPANY_ASSOCIATION,
            "deals": DEAL_ASSOCIATION,
        }
        unlinked = 0
        for item, hubspot_id in synced:
            who = self._linked_hubspot_object(item.record.get("WhoId"))
            if who is not None and who[0] == "contact":
                pairs["contacts"].append((hubspot_id, who[1], CONTACT_ASSOCIATION[object_type]))
            else:
                unlinked += 1
            what = self._linked_hubspot_object(item.record.get("WhatId"))
            if what is not None and what[0] in ("company", "deal"):
                target = "companies" if what[0] == "company" else "deals"
                pairs[target].append((hubspot_id, what[1], targets[target][object_type]))
        self._count("synced", "without_hubspot_contact", unlinked)
        for to_type, batch in pairs.items():
            if batch:
                for outcome in self._hubspot.associate(object_type, to_type, batch):
                    if not outcome.success:
                        logger.warning("association refused", extra={"error": outcome.message, "to": to_type})

    def _linked_hubspot_object(self, salesforce_id: object) -> tuple[str, str] | None:
        if not isinstance(salesforce_id, str) or not salesforce_id:
            return None
        link = self._links.by_salesforce_id(salesforce_id)
        if link is None:
            return None
        _, object_type, hubspot_id = link.pk.split("#", 2)
        return object_type, hubspot_id

    def _fail(self, item: _Pending, reason: str, outcome: WriteResult, result: BatchResult) -> None:
        target = result.retry if TRANSIENT_HUBSPOT_ERRORS & set(outcome.error_codes) else result.dead
        for message_id in item.message_ids:
            target[message_id] = reason

    def _count(self, status: str, reason: str | None, n: int) -> None:
        if n > 0:
            self._state.count_outcome(self.sync_type, status, str(reason) if reason else None, n)
            logger.info(
                "outcome", extra={"sync_type": self.sync_type.key, "status": status, "reason": reason, "n": n}
            )
