"""Deploy-time safety (#24): alarms that can reach someone, data that survives a mistaken delete,
a log key only this stack's logs may use, and each route throttled on its own. Read from the
expanded template (each type's syncer.yaml in place)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from activity_sync_tools.local.nested import load_stack_template

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE: dict[str, Any] = load_stack_template(ROOT / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
DATA_TABLES = ("SettingsTable", "LinksTable", "SyncStateTable")


def _allows(key_policy: dict[str, Any], service: str, actions: set[str]) -> bool:
    for statement in key_policy["Statement"]:
        principal = statement.get("Principal") or {}
        granted = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if statement["Effect"] == "Allow" and principal.get("Service") == service:
            return all(any(re.fullmatch(g.replace("*", ".*"), a) for g in granted) for a in actions)
    return False


def test_every_topic_an_alarm_targets_can_be_published_to_by_cloudwatch() -> None:
    alarms = {k: v["Properties"] for k, v in RESOURCES.items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    assert len(alarms) == 14  # thirteen types' dead-letter queues and the contact queue's
    topics = {action["Ref"] for alarm in alarms.values() for action in alarm["AlarmActions"]}
    for topic_id in topics:
        topic = RESOURCES[topic_id]
        assert topic["Type"] == "AWS::SNS::Topic"
        key = topic["Properties"].get("KmsMasterKeyId")
        # alias/aws/sns cannot grant CloudWatch its use: a key of the stack's own must
        assert isinstance(key, dict), f"{topic_id} is encrypted with {key!r}, which CloudWatch cannot use"
        key_resource = RESOURCES[key["Ref"]]
        assert key_resource["Type"] == "AWS::KMS::Key"
        assert _allows(
            key_resource["Properties"]["KeyPolicy"],
            "cloudwatch.amazonaws.com",
            {"kms:Decrypt", "kms:GenerateDataKey"},
        )


def test_the_data_tables_survive_a_mistaken_delete_or_replace() -> None:
    for table in DATA_TABLES:
        resource = RESOURCES[table]
        assert resource["DeletionPolicy"] == "Retain", table
        assert resource["UpdateReplacePolicy"] == "Retain", table
        assert resource["Properties"]["DeletionProtectionEnabled"] is True, table


def test_the_logs_key_serves_only_this_stacks_log_groups() -> None:
    [statement] = [
        s
        for s in RESOURCES["LogsKey"]["Properties"]["KeyPolicy"]["Statement"]
        if (s.get("Principal") or {}).get("Service", {}) != {}
        and "logs" in str((s.get("Principal") or {}).get("Service"))
    ]
    context = statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    assert context["Fn::Sub"].endswith(":log-group:${AWS::StackName}-*")


def test_each_route_is_throttled_on_its_own() -> None:
    api = RESOURCES["WebhookApi"]["Properties"]
    routes = {
        f"{e['Properties']['Method']} {e['Properties']['Path']}"
        for function in RESOURCES.values()
        if function["Type"] == "AWS::Serverless::Function"
        for e in (function["Properties"].get("Events") or {}).values()
        if e["Type"] == "HttpApi"
    }
    assert set(api["RouteSettings"]) == routes
    limits = {route: settings["ThrottlingRateLimit"] for route, settings in api["RouteSettings"].items()}
    # HubSpot's signed deliveries get the most room; the route that only answers 401 the least
    assert max(limits, key=limits.__getitem__) == "POST /webhooks/hubspot"
    assert min(limits, key=limits.__getitem__) == "POST /webhooks/salesforce/outbound-messages"
