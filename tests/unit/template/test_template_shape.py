"""The template promises of the foundation: one syncer per activity type, each with its own queue,
dead-letter queue, alarm and concurrency cap (so one noisy type can neither starve nor break
another), and the resources every function needs. Checked on the expanded stack: template.yaml
with each type's nested syncer.yaml in place, as CloudFormation deploys it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from activity_sync.domain import ALL_SYNC_TYPES
from activity_sync_tools.local.nested import load_stack_template
from activity_sync_tools.local.template import load_template

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE: dict[str, Any] = load_stack_template(ROOT / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]


def _functions() -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::Function"}


def _syncers() -> dict[str, dict[str, Any]]:
    return {k: v for k, v in _functions().items() if v["CodeUri"] == "functions/syncer/"}


def test_one_syncer_per_sync_type() -> None:
    sync_types = sorted(p["Environment"]["Variables"]["SYNC_TYPE"] for p in _syncers().values())
    assert sync_types == sorted(t.key for t in ALL_SYNC_TYPES)
    assert len(sync_types) == 13


@pytest.mark.parametrize("syncer", sorted(_syncers()))
def test_each_syncer_has_its_own_queue_dlq_alarm_and_concurrency(syncer: str) -> None:
    properties = _syncers()[syncer]
    event = properties["Events"]["Queue"]["Properties"]
    queue_id = event["Queue"]["Fn::GetAtt"][0]
    queue = RESOURCES[queue_id]["Properties"]
    dlq_id = queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    timeout = properties.get("Timeout", TEMPLATE["Globals"]["Function"]["Timeout"])
    # Given the syncer's event source, Then it reports partial failures and caps its concurrency
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["ScalingConfig"]["MaximumConcurrency"] == {
        "Ref": f"{syncer.removesuffix('Syncer')}MaxConcurrency"
    }
    # And its queue is its own, with a visibility of at least 6x the timeout and a redrive policy
    assert queue["VisibilityTimeout"] >= 6 * timeout
    assert queue["RedrivePolicy"]["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}
    assert dlq_id == queue_id.removesuffix("Queue") + "DeadLetterQueue"
    # And the function dead-letters with reasons into that same DLQ
    assert properties["Environment"]["Variables"]["DEAD_LETTER_QUEUE_URL"] == {"Ref": dlq_id}
    # And an alarm watches that DLQ
    alarms = [
        r["Properties"]
        for r in RESOURCES.values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        and r["Properties"]["Dimensions"][0]["Value"] == {"Fn::GetAtt": [dlq_id, "QueueName"]}
    ]
    assert len(alarms) == 1


def test_thirteen_syncer_queues_each_with_its_own_dead_letter_queue() -> None:
    queues = [
        RESOURCES[p["Events"]["Queue"]["Properties"]["Queue"]["Fn::GetAtt"][0]] for p in _syncers().values()
    ]
    dlqs = {q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0] for q in queues}
    assert len(queues) == 13
    assert len(dlqs) == 13


def test_runtime_is_a_supported_python_on_arm64() -> None:
    function_globals = TEMPLATE["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.12"
    assert function_globals["Architectures"] == ["arm64"]


def test_tables_are_on_demand_with_point_in_time_recovery() -> None:
    tables = [r["Properties"] for r in RESOURCES.values() if r["Type"] == "AWS::DynamoDB::Table"]
    assert len(tables) == 4
    for table in tables:
        assert table["BillingMode"] == "PAY_PER_REQUEST"
        assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_no_secret_is_a_template_value() -> None:
    # Secrets are SecureString parameters the operator creates; the template only names them.
    text = (ROOT / "template.yaml").read_text()
    parameters = [r["Properties"] for r in RESOURCES.values() if r["Type"] == "AWS::SSM::Parameter"]
    assert all(p["Type"] == "String" for p in parameters)
    for secret in ("private-app-token", "webhook-client-secret", "client-secret", "jwt-private-key"):
        assert not any(secret in str(p["Name"]) for p in parameters)
    assert not re.search(r"(?i)(password|secret)\s*:\s*\S", text.split("Resources:")[0])


def test_http_api_routes_serve_both_vendors() -> None:
    receiver = _functions()["WebhookReceiver"]
    routes = sorted((e["Properties"]["Method"], e["Properties"]["Path"]) for e in receiver["Events"].values())
    assert routes == [
        ("POST", "/webhooks/hubspot"),
        ("POST", "/webhooks/hubspot/activities"),
        ("POST", "/webhooks/salesforce/outbound-messages"),
        ("POST", "/webhooks/salesforce/outbound-messages/{token}"),
    ]


def test_poller_runs_on_a_schedule_parameter() -> None:
    schedule = _functions()["Poller"]["Events"]["Schedule"]["Properties"]["Schedule"]
    assert schedule == {"Ref": "PollSchedule"}


def test_operator_cli_finds_each_type_queue_by_its_template_name() -> None:
    from activity_sync_tools.operate.target import queue_logical_id

    for properties in _syncers().values():
        queue_id = properties["Events"]["Queue"]["Properties"]["Queue"]["Fn::GetAtt"][0]
        assert queue_logical_id(properties["Environment"]["Variables"]["SYNC_TYPE"]) == queue_id


def test_each_type_is_declared_once_as_a_nested_syncer_with_its_own_concurrency_parameter() -> None:
    # Given the template a user reads (before expansion)
    declared = load_template(ROOT / "template.yaml")
    applications = {
        logical_id: resource["Properties"]
        for logical_id, resource in declared["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Application"
        and resource["Properties"]["Location"] != "dashboard.yaml"  # the stack's one dashboard
    }
    # Then each sync type is one nested syncer.yaml, capped by its own parameter
    assert sorted(p["Parameters"]["SyncType"] for p in applications.values()) == sorted(
        t.key for t in ALL_SYNC_TYPES
    )
    for logical_id, properties in applications.items():
        assert properties["Location"] == "syncer.yaml"
        assert properties["Parameters"]["MaxConcurrency"] == {"Ref": f"{logical_id}MaxConcurrency"}
        assert f"{logical_id}MaxConcurrency" in declared["Parameters"]


def test_the_template_a_user_reads_stays_short() -> None:
    lines = (ROOT / "template.yaml").read_text().splitlines()
    assert len(lines) < 700, f"template.yaml has {len(lines)} lines; keep per-type blocks in syncer.yaml"


def test_every_type_registers_its_queues_in_the_stack_directory() -> None:
    # The receiver, the poller and the CLI find each type's queues in SSM (activity_sync.config).
    entries = {
        logical_id.removesuffix("DirectoryEntry")
        for logical_id, resource in RESOURCES.items()
        if resource["Type"] == "AWS::SSM::Parameter" and logical_id.endswith("DirectoryEntry")
    }
    assert {name.removesuffix("Syncer") for name in _syncers()} == entries
