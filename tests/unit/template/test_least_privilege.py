"""Least privilege, read from the template itself (expanded: each type's syncer.yaml in place):
each function reads only the secrets it uses, writes only the tables it must, and sends only to
the queues it feeds. The internet-facing receiver never holds the vendors' credentials."""

from __future__ import annotations

import fnmatch
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from activity_sync.domain import ALL_SYNC_TYPES
from activity_sync_tools.local.iam import FunctionRole, function_roles
from activity_sync_tools.local.nested import load_stack_template
from activity_sync_tools.local.template import StackModel, TemplateResolver, build_stack_model

ROOT = Path(__file__).resolve().parents[3]
PREFIX = "arn:aws:ssm:us-east-1:123456789012:parameter/activity-sync/dev"
VENDOR_SECRETS = ("hubspot/private-app-token", "salesforce/client-secret", "salesforce/jwt-private-key")
RECEIVER_SECRETS = (
    "hubspot/webhook-client-secret",
    "webhooks/activity-route-token",
    "webhooks/outbound-message-token",
)
WRITES = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")
SYNCERS = sorted(f"{key}Syncer" for key in ("HubSpotNote", "SalesforceTask", "HubSpotFormSubmission"))


@cache
def _model() -> tuple[StackModel, dict[str, FunctionRole]]:
    template = load_stack_template(ROOT / "template.yaml")
    resolver = TemplateResolver(template)
    return build_stack_model(resolver, ROOT), function_roles(template, resolver, "activity-sync")


def _statements(function_id: str, *, aws_managed: bool = True) -> list[tuple[list[str], list[str]]]:
    """Every Allow statement of the function's role as SAM makes it (SAM's own translator: policy
    templates, inline statements, managed policies, what its events add), resolved to local ARNs;
    without ``aws_managed``, only what the template writes (not AWS's own managed policies)."""
    statements: list[tuple[list[str], list[str]]] = []
    for name, document in _model()[1][function_id].policies.items():
        if not aws_managed and name.startswith("AWS"):
            continue
        for statement in document["Statement"]:
            assert statement["Effect"] == "Allow"
            actions, resources = statement["Action"], statement["Resource"]
            statements.append(
                (
                    actions if isinstance(actions, list) else [actions],
                    resources if isinstance(resources, list) else [resources],
                )
            )
    return statements


def can(function_id: str, action: str, arn: str) -> bool:
    return any(
        any(fnmatch.fnmatchcase(action, pattern) for pattern in actions)
        and any(fnmatch.fnmatchcase(arn, pattern) for pattern in resources)
        for actions, resources in _statements(function_id)
    )


def _table(logical_id: str) -> str:
    return _model()[0].tables[logical_id].arn


def _queue(logical_id: str) -> str:
    return _model()[0].queues[logical_id].arn


def _functions() -> list[str]:
    return sorted(_model()[0].functions)


def test_the_receiver_never_reads_the_vendors_credentials() -> None:
    for secret in VENDOR_SECRETS:
        assert not can("WebhookReceiver", "ssm:GetParameters", f"{PREFIX}/{secret}"), secret
    for secret in RECEIVER_SECRETS:
        assert can("WebhookReceiver", "ssm:GetParameters", f"{PREFIX}/{secret}"), secret


@pytest.mark.parametrize("function_id", ["Poller", "ContactLinker", *SYNCERS])
def test_the_functions_that_call_the_vendors_read_their_credentials_and_no_webhook_secret(
    function_id: str,
) -> None:
    for secret in VENDOR_SECRETS:
        assert can(function_id, "ssm:GetParameters", f"{PREFIX}/{secret}"), secret
    for secret in RECEIVER_SECRETS:
        assert not can(function_id, "ssm:GetParameters", f"{PREFIX}/{secret}"), secret


def test_only_the_functions_that_sync_write_links() -> None:
    writers = {f for f in _functions() if any(can(f, action, _table("LinksTable")) for action in WRITES)}
    assert writers == {f for f in _functions() if f.endswith("Syncer")} | {"ContactLinker"}
    assert can("Poller", "dynamodb:BatchGetItem", _table("LinksTable"))
    assert not can("WebhookReceiver", "dynamodb:GetItem", _table("LinksTable"))


def test_each_table_is_touched_only_by_the_functions_that_need_it() -> None:
    def users(table: str) -> set[str]:
        return {
            f
            for f in _functions()
            if can(f, "dynamodb:GetItem", _table(table)) or can(f, "dynamodb:PutItem", _table(table))
        }

    assert users("IdempotencyTable") == {"WebhookReceiver"}
    assert "WebhookReceiver" not in users("SyncStateTable")
    settings_writers = {f for f in _functions() if can(f, "dynamodb:PutItem", _table("SettingsTable"))}
    assert settings_writers == set()  # settings are written by the operator (CLI, console)


@pytest.mark.parametrize("sync_type", ALL_SYNC_TYPES, ids=lambda t: t.key)
def test_a_syncer_sends_only_to_its_own_queues_and_the_contact_queue(sync_type: Any) -> None:
    model = _model()[0]
    [syncer] = [
        f for f, spec in model.functions.items() if spec.environment.get("SYNC_TYPE") == sync_type.key
    ]
    app = syncer.removesuffix("Syncer")
    allowed = {f"{app}Queue", f"{app}DeadLetterQueue", "ContactChangesQueue"}
    for queue in model.queues:
        assert can(syncer, "sqs:SendMessage", _queue(queue)) == (queue in allowed), queue


def test_the_feeders_send_to_the_type_queues_and_never_to_a_dead_letter_queue() -> None:
    model = _model()[0]
    for function_id in ("WebhookReceiver", "Poller"):
        for queue in model.queues:
            expected = not queue.endswith("DeadLetterQueue")
            assert can(function_id, "sqs:SendMessage", _queue(queue)) == expected, (function_id, queue)
    assert can("ContactLinker", "sqs:SendMessage", _queue("ContactChangesDeadLetterQueue"))
    assert not can("ContactLinker", "sqs:SendMessage", _queue("HubSpotNoteDeadLetterQueue"))


def test_no_role_may_do_everything_on_a_service() -> None:
    # (AWS's managed policies SAM attaches - logs, X-Ray, the SQS event source - are AWS's to scope)
    for function_id in _functions():
        for actions, resources in _statements(function_id, aws_managed=False):
            assert not any(a.endswith(":*") or a == "*" for a in actions), (function_id, actions)
            assert resources != ["*"], (function_id, actions)


@pytest.mark.parametrize("function_id", ["WebhookReceiver", "Poller", "ContactLinker", *SYNCERS])
def test_no_role_reads_parameters_outside_the_stacks_prefix(function_id: str) -> None:
    # SAM's SSMParameterReadPolicy adds ssm:DescribeParameters on *: none of ours may
    for actions, resources in _statements(function_id):
        if any(action.startswith("ssm:") for action in actions):
            assert "ssm:DescribeParameters" not in actions, function_id
            assert all(resource.startswith(PREFIX) for resource in resources), (function_id, resources)
