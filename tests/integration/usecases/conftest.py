"""In-process AWS (moto) holding the template's own tables and queues, for use-case tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from activity_sync_tools.local.aws import create_table
from activity_sync_tools.local.nested import load_stack_template
from activity_sync_tools.local.template import TemplateResolver, build_stack_model
from tests.moto_env import use_fake_aws

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def stack_tables(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Every DynamoDB table of template.yaml (keys, indexes, TTL as declared), in moto."""
    use_fake_aws(monkeypatch)
    model = build_stack_model(TemplateResolver(load_stack_template(ROOT / "template.yaml")), ROOT)
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        for table in model.tables.values():
            create_table(dynamodb, table)
        yield {logical_id: table.name for logical_id, table in model.tables.items()}
