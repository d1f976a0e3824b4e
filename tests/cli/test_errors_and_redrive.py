"""``activity-sync errors`` and ``activity-sync redrive`` on real dead letters: integration events
Salesforce refuses (a Task Type its restricted picklist lacks) and one for a contact HubSpot does
not have, all produced by the product itself on the local stack."""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from activity_sync.domain import HubSpotActivityType
from tests.cli.conftest import Cli
from tests.e2e.support import E2E, TASK_TYPE_VALUES, h2s, iso, utcnow

pytestmark = pytest.mark.e2e

EVENTS = h2s(HubSpotActivityType.INTEGRATION_EVENT)


@dataclasses.dataclass(frozen=True)
class Failures:
    contact: str  # a HubSpot contact that syncs
    person: str  # its Salesforce Contact
    refused: tuple[str, ...]  # events whose Task Salesforce refused
    ghost: str  # the event for a contact HubSpot does not have


def _event(event_id: str, contact: str) -> dict[str, Any]:
    return {
        "type": "integration_event",
        "id": event_id,
        "occurred_at": iso(utcnow()),
        "contact_ids": [contact],
        "properties": {"app_name": "Zoom", "event_name": event_id},
    }


@pytest.fixture(scope="module")
def failures(ops: E2E) -> Iterator[Failures]:
    # Given a contact that syncs, integration events switched on with a Task Type the org's
    # restricted picklist does not have, two events for the contact and one for an unknown contact
    email = ops.tag("errors")
    person = ops.salesforce.person("Contact", email, owner="ana")
    contact = ops.hubspot.contact(email, owner="ana")
    picklist = {"object": "Task", "field": "Type", "values": TASK_TYPE_VALUES}
    ops.salesforce.admin("POST", "picklists", {**picklist, "restricted": True})
    ops.switch_on(EVENTS, task_type="Webinar")
    refused = ("refused-a", "refused-b")
    for event_id in refused:
        assert ops.world.post_activity(_event(event_id, contact)).status_code == 200
    assert ops.world.post_activity(_event("ghost-1", "999999991")).status_code == 200
    ops.drain()
    yield Failures(contact, person, refused, "ghost-1")
    ops.salesforce.admin("POST", "picklists", {**picklist, "restricted": False})


def test_errors_groups_dead_letters_by_type_and_reason_with_their_records(
    failures: Failures, cli: Cli, tmp_path: Path
) -> None:
    # When the operator lists the dead letters, twice, and exports them
    first = cli.json("errors")
    again = cli.json("errors", "integration_event")
    table = cli("errors", "--csv", str(tmp_path / "errors.csv"))

    # Then the two refused Tasks are one card (their reasons differ only by record) and the
    # unknown contact another, each with its records
    cards = {(g["type"], g["count"]): g for g in first}
    refused = cards[(EVENTS.key, 2)]
    assert "Webinar" in refused["reason"] or "RESTRICTED_PICKLIST" in refused["reason"].upper()
    records = sorted(refused["records"], key=lambda r: r["hubspot_id"])
    assert [r["hubspot_id"] for r in records] == list(failures.refused)
    assert {r["hubspot_contact_id"] for r in records} == {failures.contact}
    assert {r["salesforce_person_id"] for r in records} == {failures.person}
    # with where to open them: the portal's contact, the org's Contact
    assert records[0]["hubspot_contact_url"].endswith(f"/contacts/62515/record/0-1/{failures.contact}")
    assert records[0]["salesforce_person_url"].endswith(f"/{failures.person}")
    ghost = cards[(EVENTS.key, 1)]
    assert "999999991" in ghost["records"][0]["reason"]
    assert ghost["records"][0]["hubspot_id"] == failures.ghost
    # And reading them consumed nothing: the second look sees the same three
    assert sorted(r["message_id"] for g in again for r in g["records"]) == sorted(
        r["message_id"] for g in first for r in g["records"]
    )
    # And the table and the export say the same
    assert table.status == 0, table.err
    assert "3 dead letter(s) in 2 group(s)" in table.out
    assert failures.contact in table.out
    with (tmp_path / "errors.csv").open(encoding="utf-8") as file:
        exported = list(csv.DictReader(file))
    assert sorted(row["hubspot_id"] for row in exported) == sorted([*failures.refused, failures.ghost])


def test_errors_selects_by_type_and_reason(failures: Failures, cli: Cli) -> None:
    # When the operator asks for the notes' dead letters, and for the integration events' whose
    # reason names the unknown contact
    notes = cli.json("errors", "hubspot_to_salesforce#note")
    ghost = cli.json("errors", "integration_event", "--reason", "999999991")
    # Then there are none of the first, and only the ghost of the second
    assert notes == []
    assert [r["hubspot_id"] for g in ghost for r in g["records"]] == [failures.ghost]
    # And a type that is not one is refused with the list of types
    unknown = cli("errors", "webinar")
    assert unknown.status == 1
    assert "hubspot_to_salesforce#integration_event" in unknown.err


def test_redrive_moves_the_fixed_ones_back_safely_twice_and_a_new_failure_dead_letters_again(
    ops: E2E, failures: Failures, cli: Cli
) -> None:
    # Given the cause of the refused Tasks is fixed (a Task Type the picklist has)
    ops.set_task_type(EVENTS, "Other")

    # When the operator re-drives the integration events whose reason names the picklist
    reason = "Webinar"
    moved = cli("redrive", "integration_event", "--reason", reason, "--json")
    ops.drain()

    # Then both synced, once each, and only the ghost is left in the dead-letter queue
    assert moved.status == 0, moved.err
    assert json.loads(moved.out) == {"moved": {EVENTS.key: 2}, "selected": 2}
    identities = ", ".join(f"'hs:integration_event:{e}'" for e in failures.refused)
    tasks = ops.salesforce.tasks(f"HubSpot_Activity_Id__c IN ({identities})")
    assert sorted((t["Subject"], t["Type"]) for t in tasks) == [
        ("Zoom: refused-a", "Other"),
        ("Zoom: refused-b", "Other"),
    ]
    assert [r["hubspot_id"] for g in cli.json("errors") for r in g["records"]] == [failures.ghost]

    # When the same re-drive runs again
    again = cli("redrive", "integration_event", "--reason", reason)
    # Then it finds nothing to move, and changes nothing
    assert again.status == 0, again.err
    assert "no dead letters to re-drive" in again.out

    # When the ghost is re-driven although its cause is not fixed
    ghost = cli("redrive", "integration_event", "--reason", "999999991")
    ops.drain()
    # Then it fails again and is back in the dead-letter queue with its reason (its registry entry
    # was released), not lost
    assert ghost.status == 0, ghost.err
    assert "re-driven" in ghost.out
    back = cli.json("errors")
    assert [(g["count"], r["hubspot_id"]) for g in back for r in g["records"]] == [(1, failures.ghost)]
    assert "999999991" in back[0]["records"][0]["reason"]
