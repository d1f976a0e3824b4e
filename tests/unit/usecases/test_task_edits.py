"""R14 (``usecases.task_edits``), on in-memory ports: a person's edit of a task's copy goes to its
original - a HubSpot task copy completed in HubSpot completes the Salesforce Task; a Salesforce Task
made from a HubSpot task, renamed in Salesforce, renames the HubSpot task - once, in one call a
batch; the service's own write coming back, or an edit of a copy HubSpot owns, goes nowhere."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from activity_sync.domain import (
    SALESFORCE_EXTERNAL_ID_FIELD,
    HubSpotActivity,
    HubSpotActivityType,
    SalesforceActivityType,
)
from activity_sync.ports import HubSpotRecord, Link, StoredLink
from activity_sync.rules.activity_mapping import hubspot_activity_from_salesforce
from activity_sync.rules.hubspot_records import engagement_activity
from activity_sync.usecases.batch import BatchResult
from activity_sync.usecases.task_edits import HubSpotOriginals, SalesforceOriginals
from tests.fakes.storage import InMemoryLinks
from tests.fakes.vendors import InMemoryHubSpot, InMemorySalesforce

TRANSIENT = frozenset({"UNABLE_TO_LOCK_ROW"})
WRITTEN = "2026-12-02T10:00:00Z"


@dataclass
class Copy:
    activity: HubSpotActivity
    record: HubSpotRecord | None
    message_ids: list[str] = field(default_factory=lambda: ["m-1"])


@dataclass
class Edit:
    record: dict[str, Any]
    link: StoredLink | None = None
    message_ids: list[str] = field(default_factory=lambda: ["m-1"])


@dataclass
class Tally:
    counts: Counter[tuple[str, str | None]] = field(default_factory=Counter)

    def __call__(self, status: str, reason: str | None, n: int) -> None:
        self.counts[(status, str(reason) if reason else None)] += n


def save_into(links: InMemoryLinks) -> Callable[[Sequence[Link]], None]:
    def save(new: Sequence[Link]) -> None:
        links.save(new)

    return save


def _hubspot_task(task_id: str, status: str, priority: str = "MEDIUM") -> Copy:
    properties = {"hs_task_subject": "Send the quote", "hs_task_status": status, "hs_task_priority": priority}
    record = HubSpotRecord(task_id, {**properties, "hs_timestamp": WRITTEN, "hs_createdate": WRITTEN})
    return Copy(engagement_activity(HubSpotActivityType.TASK, record, ["201"]), record)


def test_r14_a_task_copy_completed_in_hubspot_completes_its_salesforce_original_once() -> None:
    # Given a Salesforce Task copied to HubSpot as task 77, the link remembering the state written
    salesforce, links, tally = InMemorySalesforce(), InMemoryLinks(), Tally()
    original = salesforce.add(
        "Task", {"Subject": "Send the quote", "Status": "Not Started", "Priority": "Normal"}
    )
    written_state = {"hs_task_status": "NOT_STARTED", "hs_task_priority": "MEDIUM"}
    links.save([Link("tasks", "77", original, "sync", "f", "hubspot", {"task_state": written_state})])
    originals = SalesforceOriginals(
        HubSpotActivityType.TASK,
        salesforce,
        links,
        tally,
        save_into(links),
        TRANSIENT,
    )

    # When the service's own write comes back, nothing happens
    result = BatchResult()
    originals.update([_hubspot_task("77", "NOT_STARTED")], result)
    assert salesforce.calls["update"] == 0
    assert tally.counts[("skipped", "echo")] == 1

    # When a person marks the copy completed and raises its priority in HubSpot
    originals.update([_hubspot_task("77", "COMPLETED", "HIGH")], result)

    # Then the Salesforce original is completed, in one call, and the link remembers the new state
    assert (result.retry, result.dead) == ({}, {})
    assert salesforce.calls["update"] == 1
    assert (salesforce.records[original]["Status"], salesforce.records[original]["Priority"]) == (
        "Completed",
        "High",
    )
    assert (links.links("tasks", ["77"])["77"].details or {})["task_state"] == {
        "hs_task_status": "COMPLETED",
        "hs_task_priority": "HIGH",
    }
    # and the same change delivered again costs nothing
    originals.update([_hubspot_task("77", "COMPLETED", "HIGH")], result)
    assert salesforce.calls["update"] == 1


def test_r14_a_note_copy_edited_in_hubspot_stays_in_hubspot() -> None:
    salesforce, links, tally = InMemorySalesforce(), InMemoryLinks(), Tally()
    original = salesforce.add("Task", {"Subject": "Call", "Status": "Completed"})
    links.save([Link("notes", "5", original, "sync", "f", "hubspot", {"task_state": {}})])
    record = HubSpotRecord("5", {"hs_note_body": "edited", "hs_createdate": WRITTEN, "hs_timestamp": WRITTEN})
    note = Copy(engagement_activity(HubSpotActivityType.NOTE, record, ["201"]), record)
    originals = SalesforceOriginals(
        HubSpotActivityType.NOTE, salesforce, links, tally, save_into(links), TRANSIENT
    )

    originals.update([note], BatchResult())

    assert salesforce.calls["update"] == 0
    assert tally.counts[("skipped", "echo")] == 1


def _salesforce_edit(external_id: str, subject: str) -> Edit:
    return Edit(
        {
            "Id": "00T000000000009AAA",
            "Subject": subject,
            "Status": "Completed",
            "Priority": "High",
            "TaskSubtype": "Task",
            SALESFORCE_EXTERNAL_ID_FIELD: external_id,
        }
    )


def _hubspot_originals(hubspot: InMemoryHubSpot, tally: Tally, saved: list[Link]) -> HubSpotOriginals:
    return HubSpotOriginals(
        SalesforceActivityType.TASK,
        hubspot,
        lambda record: hubspot_activity_from_salesforce(record, SalesforceActivityType.TASK, None),
        tally,
        saved.extend,
        frozenset({"RATE_LIMITS"}),
    )


def test_r14_a_task_made_from_a_hubspot_task_renamed_in_salesforce_renames_the_hubspot_task() -> None:
    # Given HubSpot task 77, whose Salesforce Task a rep renamed and completed
    hubspot, tally, saved = InMemoryHubSpot(), Tally(), list[Link]()
    hubspot.add("tasks", "77", {"hs_task_subject": "Send the quote", "hs_task_status": "NOT_STARTED"})
    originals = _hubspot_originals(hubspot, tally, saved)

    # When the edit reaches the service
    result = BatchResult()
    originals.update([_salesforce_edit("hs:task:77", "Send the signed quote")], result)

    # Then the HubSpot task says so, in one call
    assert (result.retry, result.dead) == ({}, {})
    assert hubspot.calls["update_objects"] == 1
    updated = hubspot.objects["tasks"]["77"].properties
    assert (updated["hs_task_subject"], updated["hs_task_status"]) == ("Send the signed quote", "COMPLETED")
    assert tally.counts[("synced", "update_of_hubspot_task")] == 1


def test_r14_an_edit_of_a_task_made_from_a_hubspot_note_stays_in_salesforce() -> None:
    hubspot, tally, saved = InMemoryHubSpot(), Tally(), list[Link]()
    hubspot.add("notes", "5", {"hs_note_body": "Budget confirmed"})

    _hubspot_originals(hubspot, tally, saved).update(
        [_salesforce_edit("hs:note:5", "Renamed")], BatchResult()
    )

    assert hubspot.calls["update_objects"] == 0
    assert hubspot.objects["notes"]["5"].properties == {"hs_note_body": "Budget confirmed"}
    assert tally.counts[("skipped", "edit_of_hubspot_copy")] == 1


def test_r16_a_hubspot_task_gone_from_hubspot_dead_letters_the_edit_with_hubspots_words() -> None:
    hubspot, tally, saved = InMemoryHubSpot(), Tally(), list[Link]()
    result = BatchResult()

    _hubspot_originals(hubspot, tally, saved).update([_salesforce_edit("hs:task:404", "Renamed")], result)

    assert list(result.dead) == ["m-1"]
    assert "OBJECT_NOT_FOUND" in result.dead["m-1"]
    assert saved == []
