"""In-process AWS (moto) holding the template's own tables and queues, for use-case tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from activity_sync_tools.local.aws import create_table
from activity_sync_tools.local.template import TemplateResolver, build_stack_model, load_template

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def stack_tables(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Every DynamoDB table of template.yaml (keys, indexes, TTL as declared), in moto."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    model = build_stack_model(TemplateResolver(load_template(ROOT / "template.yaml")), ROOT)
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        for table in model.tables.values():
            create_table(dynamodb, table)
        yield {logical_id: table.name for logical_id, table in model.tables.items()}
