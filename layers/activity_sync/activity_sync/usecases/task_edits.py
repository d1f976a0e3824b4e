"""R14: a task's copy is never copied back; a person's edit of the copy goes to its original.

* A HubSpot task the service copied from a Salesforce Task, completed or re-prioritised in HubSpot:
  the Salesforce Task the link names gets the new status and priority (``SalesforceOriginals``).
* A Salesforce Task the service made from a HubSpot task, edited in Salesforce: that HubSpot task
  gets the edit (``HubSpotOriginals``).

Each is one batch call of the vendor's for every edit of a batch, and each remembers what it wrote
in the link, so the write coming back (a webhook, a poll) is known as the service's own (R18).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from activity_sync.domain import (
    SALESFORCE_EXTERNAL_ID_FIELD,
    HubSpotActivity,
    HubSpotActivityType,
    SalesforceActivityType,
)
from activity_sync.ports import (
    HubSpotApi,
    HubSpotRecord,
    Link,
    LinkStore,
    SalesforceApi,
    StoredLink,
    WriteResult,
)
from activity_sync.rules.activity_mapping import HubSpotActivityDraft
from activity_sync.rules.echo import WrittenVersion, copy_edit_flows_back, fingerprint
from activity_sync.rules.hubspot_records import ENGAGEMENTS
from activity_sync.rules.task_mapping import HubSpotActivityKey, task_priority, task_status
from activity_sync.rules.windows import SkipReason
from activity_sync.usecases.batch import BatchResult

Count = Callable[[str, str | None, int], None]
SaveLinks = Callable[[Sequence[Link]], None]

# What a person may change on a HubSpot task that the service then carries to Salesforce.
HUBSPOT_TASK_EDITABLE = (
    "hs_task_subject",
    "hs_task_body",
    "hs_task_status",
    "hs_task_priority",
    "hubspot_owner_id",
)


class HubSpotCopy(Protocol):
    """A HubSpot activity of the batch that the service copied from Salesforce."""

    @property
    def activity(self) -> HubSpotActivity: ...
    @property
    def record(self) -> HubSpotRecord | None: ...
    @property
    def message_ids(self) -> list[str]: ...


class SalesforceCopy(Protocol):
    """A Salesforce Task of the batch that the service made from a HubSpot activity."""

    @property
    def record(self) -> Mapping[str, Any]: ...
    @property
    def link(self) -> StoredLink | None: ...
    @property
    def message_ids(self) -> list[str]: ...


def settle(
    message_ids: Sequence[str],
    outcome: WriteResult,
    transient: frozenset[str],
    reason: str,
    result: BatchResult,
) -> None:
    """A refused write: retried when the vendor's error may pass, dead-lettered with its words if not."""
    target = result.retry if transient & set(outcome.error_codes) else result.dead
    for message_id in message_ids:
        target[message_id] = reason


@dataclass
class SalesforceOriginals:
    """HubSpot task copies edited in HubSpot -> their Salesforce originals."""

    activity_type: HubSpotActivityType
    salesforce: SalesforceApi
    links: LinkStore
    count: Count
    save_links: SaveLinks
    transient_errors: frozenset[str]

    def update(self, copies: Sequence[HubSpotCopy], result: BatchResult) -> None:
        """When it is the service's own write coming back, nothing happens; when a person completed
        or re-prioritised a task copy in HubSpot, the Salesforce original is updated instead - the
        one the link names, not whatever the (editable) HubSpot property says."""
        if not copies:
            return
        spec = ENGAGEMENTS.get(self.activity_type)
        links = self.links.links(spec.object_type, [c.activity.id for c in copies]) if spec else {}
        edits: list[tuple[HubSpotCopy, StoredLink]] = []
        for item in copies:
            link = links.get(item.activity.id)
            written: Mapping[str, str | None] = ((link.details or {}) if link else {}).get("task_state") or {}
            raw = item.record.properties if item.record else {}
            if link is None or not copy_edit_flows_back(
                self.activity_type is HubSpotActivityType.TASK, raw, written
            ):
                self.count("skipped", SkipReason.ECHO, 1)
                continue
            edits.append((item, link))
        if not edits:
            return
        outcomes = self.salesforce.update(
            "Task",
            [
                {
                    "Id": link.salesforce_id,
                    "Status": task_status(item.activity),
                    "Priority": task_priority(item.activity),
                }
                for item, link in edits
            ],
        )
        remembered: list[Link] = []
        for (item, link), outcome in zip(edits, outcomes, strict=True):
            if not outcome.success:
                reason = f"Salesforce refused the update of {link.salesforce_id}: {outcome.message}"
                settle(item.message_ids, outcome, self.transient_errors, reason, result)
                continue
            # Remember the state just carried over, so a repeat of this change is not sent again.
            raw = item.record.properties if item.record else {}
            details = dict(link.details or {})
            details["task_state"] = {name: raw.get(name) for name in details.get("task_state", {})}
            remembered.append(
                Link(
                    link.hubspot_object_type,
                    item.activity.id,
                    link.salesforce_id,
                    link.source or "sync",
                    link.fingerprint,
                    link.written_side,
                    details,
                )
            )
        self.save_links(remembered)
        self.count("synced", "update_of_salesforce_task", len(remembered))


@dataclass
class HubSpotOriginals:
    """Salesforce Tasks made from HubSpot tasks, edited in Salesforce -> those HubSpot tasks."""

    activity_type: SalesforceActivityType
    hubspot: HubSpotApi
    draft: Callable[[Mapping[str, Any]], HubSpotActivityDraft]
    count: Count
    save_links: SaveLinks
    transient_errors: frozenset[str]

    def update(self, edits: Sequence[SalesforceCopy], result: BatchResult) -> None:
        updates: list[tuple[SalesforceCopy, str, dict[str, str | None]]] = []
        for item in edits:
            try:
                key = HubSpotActivityKey.parse(str(item.record.get(SALESFORCE_EXTERNAL_ID_FIELD, "")))
            except ValueError:
                self.count("skipped", "edit_of_unknown_copy", 1)
                continue
            if (
                key.type is not HubSpotActivityType.TASK
                or self.activity_type is not SalesforceActivityType.TASK
            ):
                self.count("skipped", "edit_of_hubspot_copy", 1)
                continue
            draft = self.draft(item.record)
            properties = {
                name: value for name, value in draft.properties.items() if name in HUBSPOT_TASK_EDITABLE
            }
            original = item.link.hubspot_original_write() if item.link is not None else None
            if original is not None and original.fingerprint == fingerprint(properties, original.field_names):
                self.count("skipped", "unchanged", 1)  # the HubSpot task already says this (R14, R18)
                continue
            updates.append((item, key.id, properties))
        if not updates:
            return
        outcomes = self.hubspot.update_objects(
            "tasks", [(hubspot_id, props) for _, hubspot_id, props in updates]
        )
        remembered: list[Link] = []
        for (item, hubspot_id, written), outcome in zip(updates, outcomes, strict=True):
            if not outcome.success:
                reason = f"HubSpot refused the update of task {hubspot_id}: {outcome.message}"
                settle(item.message_ids, outcome, self.transient_errors, reason, result)
                continue
            self.count("synced", "update_of_hubspot_task", 1)
            if item.link is not None:
                # R14: when this write comes back (a webhook, a poll), it is known as ours.
                version = WrittenVersion.of(written)
                remembered.append(
                    item.link.with_details(
                        hubspot_write={
                            "fingerprint": version.fingerprint,
                            "fields": list(version.field_names),
                        }
                    )
                )
        self.save_links(remembered)
