"""Shared by the tests that run AWS in-process on moto: a clean, credential-less AWS environment."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from activity_sync_tools.local.template import StackModel


def use_fake_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and region, and nothing that would send boto3 to a real or local endpoint."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    from activity_sync_tools.local.aws import dynamodb_as_aws
    from activity_sync_tools.local.iam import set_enforcement

    dynamodb_as_aws()  # a repeated key in a batch is refused, as DynamoDB refuses it
    # moto in process (mock_aws) answers these tests as no principal in particular: a local stack
    # that ran before in this process leaves its IAM enforcement behind (moto's settings are
    # process-wide), and mock_aws has already reset its principals away.
    set_enforcement(False)


@contextlib.contextmanager
def stack_tables(model: StackModel) -> Iterator[dict[str, str]]:
    """Inside ``mock_aws``: every table ``model`` declares, created in moto (logical id -> name).
    The repositories' models are bound to them by the caller, and bound back as they were after."""
    import boto3

    from activity_sync.adapters.dynamodb import ALL_MODELS
    from activity_sync_tools.local.aws import create_table

    bound: dict[Any, tuple[str, str | None]] = {m: (m.Meta.table_name, m.Meta.region) for m in ALL_MODELS}
    dynamodb = boto3.client("dynamodb")
    for table in model.tables.values():
        create_table(dynamodb, table)
    try:
        yield {logical_id: table.name for logical_id, table in model.tables.items()}
    finally:
        for model_class, (table_name, region) in bound.items():
            model_class.Meta.table_name = table_name
            model_class.Meta.region = region
            model_class._connection = None


@contextlib.contextmanager
def bound_stack_tables(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """moto in process, holding every table template.yaml declares, with the DynamoDB adapters'
    models bound to them (logical id -> table name)."""
    from pathlib import Path

    from moto import mock_aws

    from activity_sync.adapters.dynamodb import bind_tables
    from activity_sync.config import RuntimeConfig
    from activity_sync_tools.local.nested import load_stack_template
    from activity_sync_tools.local.template import TemplateResolver, build_stack_model

    root = Path(__file__).resolve().parents[1]
    use_fake_aws(monkeypatch)
    model = build_stack_model(TemplateResolver(load_stack_template(root / "template.yaml")), root)
    with mock_aws(), stack_tables(model) as names:
        bind_tables(
            RuntimeConfig.from_environ(
                {
                    "SETTINGS_TABLE": names["SettingsTable"],
                    "LINKS_TABLE": names["LinksTable"],
                    "SYNC_STATE_TABLE": names["SyncStateTable"],
                    "IDEMPOTENCY_TABLE": names["IdempotencyTable"],
                }
            )
        )
        yield names
