"""The storage ports, twice: the in-memory fakes the use-case tests use, and the DynamoDB adapters
on moto with the tables template.yaml declares. Every test here runs on both (``stores``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from activity_sync.ports import LinkStore, SettingsStore, SyncStateStore
from tests.fakes.storage import InMemoryLinks, InMemorySettings, InMemorySyncState


@dataclass(frozen=True)
class Stores:
    links: LinkStore
    settings: SettingsStore
    state: SyncStateStore


@pytest.fixture(params=["memory", pytest.param("dynamodb", marks=pytest.mark.integration)])
def stores(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stores]:
    if request.param == "memory":
        yield Stores(InMemoryLinks(), InMemorySettings(), InMemorySyncState())
        return
    from activity_sync.adapters.dynamodb import LinkRepository, SettingsRepository, SyncStateRepository
    from tests.moto_env import bound_stack_tables

    with bound_stack_tables(monkeypatch):
        yield Stores(LinkRepository(), SettingsRepository(cache_seconds=0), SyncStateRepository())
