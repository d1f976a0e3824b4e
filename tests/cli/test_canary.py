"""``activity-sync canary`` on the rehearsal: a round trip with its latencies, red with the right leg
named when a switch is off or a vendor call fails, and both sandboxes left as it found them."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from activity_sync.domain import HubSpotActivityType, SalesforceActivityType
from activity_sync.rules.switches import is_on
from tests.cli.conftest import Cli
from tests.e2e.support import E2E, h2s, s2h

pytestmark = pytest.mark.e2e

NOTES, TASKS = h2s(HubSpotActivityType.NOTE), s2h(SalesforceActivityType.TASK)


@pytest.fixture(scope="module")
def email(ops: E2E) -> str:
    address = ops.tag("canary")
    ops.salesforce.person("Contact", address, owner="ana")
    ops.hubspot.contact(address, owner="ana")
    return address


def world_as_found(ops: E2E) -> dict[str, Any]:
    """What the canary must leave as it was: activities on both sides and their links. (The people
    the service learned on the way - the contact's and the owners' links - stay known, as after
    any sync on that contact.)"""
    table = ops.world.stack.table_names["LinksTable"]
    items = ops.world.stack.boto3_client("dynamodb").scan(TableName=table)["Items"]
    people = ("hubspot#contact#", "hubspot#owner#", "salesforce#003", "salesforce#00Q", "salesforce#005")
    return {
        "hubspot notes": sorted(r["id"] for r in ops.hubspot.all_records("notes")),
        "hubspot tasks": sorted(r["id"] for r in ops.hubspot.all_records("tasks")),
        "salesforce tasks": sorted(r["Id"] for r in ops.salesforce.soql("SELECT Id, Subject FROM Task")),
        "activity links": sorted(i["pk"]["S"] for i in items if not i["pk"]["S"].startswith(people)),
    }


def canary(cli: Cli, email: str, *extra: str) -> tuple[int, dict[str, Any]]:
    answer = cli("canary", "--contact", email, "--json", *extra)
    return answer.status, json.loads(answer.out)


def test_the_canary_makes_a_round_trip_with_latencies_and_leaves_nothing(
    cli: Cli, ops: E2E, email: str
) -> None:
    ops.switch_on(NOTES)
    ops.switch_on(TASKS)
    before = world_as_found(ops)

    status, report = canary(cli, email)
    ops.drain()

    assert status == 0, report
    assert [leg["name"] for leg in report["legs"]] == [
        "HubSpot note -> Salesforce Task",
        "note edit -> Task",
        "Salesforce Task -> HubSpot task",
    ]
    assert all(leg["ok"] and leg["seconds"] > 0 for leg in report["legs"]), report
    assert world_as_found(ops) == before


def test_a_type_switched_off_fails_its_leg_and_stays_off(cli: Cli, ops: E2E, email: str) -> None:
    ops.switch_on(NOTES)
    ops.switch_off(TASKS)
    before = world_as_found(ops)

    status, report = canary(cli, email)
    ops.drain()

    assert status == 1
    legs = {leg["name"]: leg for leg in report["legs"]}
    assert legs["HubSpot note -> Salesforce Task"]["ok"]
    assert not legs["Salesforce Task -> HubSpot task"]["ok"]
    assert "salesforce_to_hubspot#task is switched off" in legs["Salesforce Task -> HubSpot task"]["detail"]
    assert not is_on(ops.world.service.settings.type_settings(TASKS, fresh=True))  # never switched on
    assert world_as_found(ops) == before


def test_a_failing_vendor_names_the_leg_with_explains_answer(cli: Cli, ops: E2E, email: str) -> None:
    ops.switch_on(NOTES)
    ops.switch_on(TASKS)
    before = world_as_found(ops)
    upserts = "PATCH /services/data/*/composite/sobjects/Task/*"
    ops.salesforce.admin(
        "POST", "faults", {"route": upserts, "kind": "server_error", "status": 500, "times": 1000}
    )
    try:
        status, report = canary(cli, email, "--timeout", "6")
    finally:
        ops.salesforce.admin("DELETE", "faults")
    ops.drain()

    # Then the leg that did not complete is named, with explain's answer for its note
    assert status == 1
    first = report["legs"][0]
    assert (first["name"], first["ok"]) == ("HubSpot note -> Salesforce Task", False)
    assert first["detail"].startswith("not in Salesforce in 6 s; explain: ")
    # And once Salesforce answers again, what an attempt still in flight wrote late is removed by
    # the next run, which itself completes
    assert canary(cli, email)[0] == 0
    ops.drain()
    assert world_as_found(ops) == before


def test_what_an_interrupted_run_left_is_removed_first(cli: Cli, ops: E2E, email: str) -> None:
    # Given a run that died after writing a note (its record of what it made is all that is left)
    ops.switch_on(NOTES)
    ops.switch_on(TASKS)
    before = world_as_found(ops)
    contact = ops.hubspot.contact(ops.tag("canary-left"), owner="ana")
    left = ops.hubspot.engagement("notes", {"hs_note_body": "[activity-sync canary dead] note"}, [contact])
    ops.world.service.state.save_shared(
        "canary", {"notes": [left], "tasks": [], "salesforce": []}, dt.timedelta(days=1)
    )

    # When the canary runs again
    status, _ = canary(cli, email)
    ops.drain()

    # Then the leftover is gone too, and nothing else is left
    assert status == 0
    assert left not in world_as_found(ops)["hubspot notes"]
    assert world_as_found(ops)["hubspot notes"] == before["hubspot notes"]
    assert ops.world.service.state.shared("canary") is None
