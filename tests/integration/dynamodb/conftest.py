"""The DynamoDB repositories against moto, on the tables template.yaml declares, with every request
the repositories send counted by operation (they promise a request per batch, not per record)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pynamodb.connection.base
import pytest

from tests.moto_env import bound_stack_tables


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
    with bound_stack_tables(monkeypatch) as names:
        yield names
