"""``activity-sync doctor`` on the local stack with both sandboxes: all green on a correct
rehearsal, then each prerequisite broken in turn is named as a problem with its fix, and put back."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from activity_sync.domain import HubSpotActivityType
from tests.cli.conftest import Cli
from tests.e2e.support import E2E, TASK_TYPE_VALUES, h2s

pytestmark = pytest.mark.e2e

EVENTS = h2s(HubSpotActivityType.INTEGRATION_EVENT)


def checks(cli: Cli, expected_status: int) -> dict[str, dict[str, Any]]:
    answer = cli("doctor", "--json")
    assert answer.status == expected_status, (answer.out, answer.err)
    report = json.loads(answer.out)
    return {check["name"]: check for check in report["checks"]}


@contextlib.contextmanager
def broken(ops: E2E) -> Iterator[E2E]:
    """The rehearsal, put back as it was once the test that broke it has looked."""
    try:
        yield ops
    finally:
        ops.hubspot.admin("POST", "config", {"token_scopes": list(_default_scopes())})
        ops.salesforce.admin(
            "POST", "field-access", {"object": "Task", "field": "HubSpot_Activity_Id__c", "accessible": True}
        )
        ops.switch_off(EVENTS)
        ops.set_task_type(EVENTS, None)


def _default_scopes() -> tuple[str, ...]:
    from activity_sync.rules.hubspot_subscriptions import REQUIRED_SCOPES

    return REQUIRED_SCOPES


def test_doctor_is_green_on_a_correct_rehearsal(cli: Cli) -> None:
    found = checks(cli, 0)

    assert {name for name, check in found.items() if check["state"] == "problem"} == set()
    assert found["SSM parameters"]["state"] == "ok"
    assert "names only" in found["SSM parameters"]["found"]
    assert found["token and scopes"]["state"] == "ok"
    assert found["portal"]["found"] == "portal 62515"
    assert found["HubSpot_Activity_Id__c field"]["state"] == "ok"
    assert found["API versions"]["state"] == "warning"  # the legacy feeds end in September 2027


def test_doctor_prints_no_secret_in_its_table_or_its_json(cli: Cli, ops: E2E) -> None:
    pages = ops.world.stack.boto3_client("ssm").get_paginator("get_parameters_by_path")
    secrets = [
        parameter["Value"]
        for page in pages.paginate(Path="/activity-sync/dev", Recursive=True, WithDecryption=True)
        for parameter in page["Parameters"]
        if parameter["Type"] == "SecureString"
    ]
    assert len(secrets) >= 5  # the vendors' credentials and the three webhook secrets

    printed = cli("doctor").out + cli("doctor", "--json").out

    assert [secret for secret in secrets if secret in printed] == []


def test_doctor_names_a_missing_ssm_parameter_with_its_fix(cli: Cli, ops: E2E) -> None:
    ssm = ops.world.stack.boto3_client("ssm")
    name = "/activity-sync/dev/webhooks/outbound-message-token"
    value = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    ssm.delete_parameter(Name=name)
    try:
        found = checks(cli, 1)
    finally:
        ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)

    check = found["SSM parameters"]
    assert found["Outbound Messages"]["found"].endswith("webhooks/outbound-message-token is not set")
    assert check["state"] == "problem"
    assert "webhooks/outbound-message-token" in check["found"]
    assert check["fix"].startswith(f"aws ssm put-parameter --type SecureString --name {name}")
    assert value not in str(found)


def test_doctor_names_a_missing_scope(cli: Cli, ops: E2E) -> None:
    with broken(ops):
        ops.hubspot.admin("POST", "config", {"token_scopes": [s for s in _default_scopes() if s != "forms"]})
        check = checks(cli, 1)["token and scopes"]

    assert check["state"] == "problem"
    assert check["found"].endswith("lacks: forms")
    assert "setup-hubspot.md §2" in check["fix"]


def test_doctor_names_a_missing_external_id_field(cli: Cli, ops: E2E) -> None:
    with broken(ops):
        ops.salesforce.admin(
            "POST", "field-access", {"object": "Task", "field": "HubSpot_Activity_Id__c", "accessible": False}
        )
        check = checks(cli, 1)["HubSpot_Activity_Id__c field"]

    assert check["state"] == "problem"
    assert check["found"] == "Task: missing (or hidden from the integration user)"
    assert "permission set" in check["fix"]


def test_doctor_names_a_task_type_not_in_the_picklist(cli: Cli, ops: E2E) -> None:
    assert "Webinar" not in TASK_TYPE_VALUES
    with broken(ops):
        ops.switch_on(EVENTS, task_type="Webinar")
        check = checks(cli, 1)["Task types"]

    assert check["state"] == "problem"
    assert check["found"] == f"'Webinar' ({EVENTS.key}) not in the Task.Type picklist"
    assert " settings --local " in check["fix"]
    assert "--task-type" in check["fix"]


def test_doctor_names_outbound_messages_sent_elsewhere_or_removed(cli: Cli, ops: E2E) -> None:
    from activity_sync_tools.rehearsal import configure_outbound_messages, salesforce_app

    sandbox = salesforce_app(ops.world)
    try:
        # Given the org's Outbound Messages pointing at another URL
        ops.salesforce.admin("DELETE", "outbound-messages")
        configure_outbound_messages(sandbox, "https://elsewhere.example.com")
        elsewhere = checks(cli, 1)["Outbound Messages"]
        # And then removed
        ops.salesforce.admin("DELETE", "outbound-messages")
        removed = checks(cli, 1)["Outbound Messages"]
    finally:
        ops.salesforce.admin("DELETE", "outbound-messages")
        configure_outbound_messages(sandbox, ops.world.stack.api_url)

    # Then each is a problem naming the object and where they go, never the token
    assert elsewhere["state"] == "problem"
    assert (
        "Task: sent to https://elsewhere.example.com/webhooks/salesforce/outbound-messages/<token>"
        in (elsewhere["found"])
    )
    assert removed["found"] == "Task: no Outbound Message; Event: no Outbound Message"
    assert "configure-outbound-messages.sh" in removed["fix"]
    assert checks(cli, 0)["Outbound Messages"]["state"] == "ok"


def test_doctor_names_a_permission_set_not_assigned(cli: Cli, ops: E2E) -> None:
    # Given the project's permission set no longer assigned to the integration user
    assignments = ops.salesforce.admin("GET", "sobjects/PermissionSetAssignment")["records"]
    (assignment,) = [a for a in assignments if a["AssigneeId"] == ops.salesforce.users["integration"]]
    ops.salesforce.admin("DELETE", f"sobjects/PermissionSetAssignment/{assignment['Id']}")
    try:
        check = checks(cli, 1)["permission set"]
    finally:
        ops.salesforce.admin(
            "POST",
            "sobjects/PermissionSetAssignment",
            {"AssigneeId": assignment["AssigneeId"], "PermissionSetId": assignment["PermissionSetId"]},
        )

    # Then it is a problem, with the command that assigns it
    assert check["state"] == "problem"
    user = assignment["AssigneeId"]
    assert check["found"] == f"HubSpot_Activity_Sync_Integration is not assigned to {user}"
    assert check["fix"].startswith("sf org assign permset --name HubSpot_Activity_Sync_Integration")
    assert checks(cli, 0)["permission set"]["state"] == "ok"
