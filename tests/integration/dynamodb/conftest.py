"""The DynamoDB repositories against moto, on the tables template.yaml declares, with every request
the repositories send counted by operation (they promise a request per batch, not per record)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pynamodb.connection.base
import pytest
from moto import mock_aws

from activity_sync.adapters.dynamodb import bind_tables
from activity_sync.config import RuntimeConfig
from activity_sync_tools.local.nested import load_stack_template
from activity_sync_tools.local.template import TemplateResolver, build_stack_model
from tests.moto_env import stack_tables, use_fake_aws

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def requests_sent(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """DynamoDB operations sent by pynamodb, by name (``BatchGetItem``, ``UpdateItem``…)."""
    sent: Counter[str] = Counter()
    original = pynamodb.connection.base.Connection._make_api_call

    def counting(self: Any, operation_name: str, operation_kwargs: dict[str, Any]) -> dict[str, Any]:
        sent[operation_name] += 1
        return original(self, operation_name, operation_kwargs)

    monkeypatch.setattr(pynamodb.connection.base.Connection, "_make_api_call", counting)
    return sent


@pytest.fixture
def tables(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Every table of the stack in moto, with the repositories' models bound to them."""
    use_fake_aws(monkeypatch)
    model = build_stack_model(TemplateResolver(load_stack_template(ROOT / "template.yaml")), ROOT)
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
