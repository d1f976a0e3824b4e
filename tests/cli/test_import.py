"""``activity-sync import`` (R11): registered, with a progress bar and the ``--wait`` summary."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from activity_sync.domain import HUBSPOT_SALESFORCE_ID_PROPERTY
from tests.cli.conftest import Cli
from tests.e2e.support import E2E

pytestmark = pytest.mark.e2e


def _copies(ops: E2E, salesforce_id: str) -> list[dict[str, str]]:
    records = ops.hubspot.all_records("tasks")
    return [r for r in records if r.get(HUBSPOT_SALESFORCE_ID_PROPERTY) == salesforce_id]


def test_import_brings_history_over_once_and_says_what_synced(ops: E2E, cli: Cli) -> None:
    # Given a task a rep logged in Salesforce before the Tasks switch went on, on a contact that syncs
    email = ops.tag("imported")
    ops.hubspot.contact(email, owner="ana")
    person = ops.salesforce.person("Contact", email, owner="ana")
    task = ops.salesforce.create(
        "Task", {"Subject": "Old call notes", "TaskSubtype": "Task", "WhoId": person}, as_user="ana"
    )
    ops.drain()
    assert cli("settings", "enable", "salesforce_to_hubspot#task").status == 0
    since = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    until = (dt.date.today() + dt.timedelta(days=1)).isoformat()

    # When the operator imports the range that holds it, waiting for the result
    first = cli("import", "--since", since, "--until", until, "--types", "task", "--wait")

    # Then the command answers with this import's share of each figure, and the task is in HubSpot
    assert first.status == 0, first.err
    assert "this import's share of each figure" in first.out
    # (the service's own Tasks of other tests in the range are queued too, and skipped as echoes)
    row = next(line for line in first.out.splitlines() if line.startswith("│ task "))
    queued, synced = (int(cell) for cell in row.strip("│ ").split("│")[1:3])
    assert (queued >= 1, synced) == (True, 1), first.out
    assert len(_copies(ops, task)) == 1

    # When it runs again over the same range (as JSON)
    second = cli("import", "--since", since, "--until", until, "--types", "task", "--wait", "--json")

    # Then the record is queued again but nothing new is made: one copy, its sync unchanged
    assert second.status == 0, second.err
    summary = json.loads(second.out)["summary"]["task"]
    assert summary["queued"] == queued
    assert "synced" not in summary
    assert summary.get("skipped:unchanged", 0) >= 1
    assert len(_copies(ops, task)) == 1


def test_import_refuses_a_type_whose_switch_is_off(ops: E2E, cli: Cli) -> None:
    # Given the Salesforce calls switch is off
    # When the operator imports calls
    answer = cli("import", "--since", "2026-01-01", "--types", "call")
    # Then nothing is queued, and the answer says which switch to turn on
    assert answer.status == 1
    assert "switch these on first" in answer.err
    assert "call" in answer.err
