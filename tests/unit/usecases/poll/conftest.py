"""The ``stack`` fixture of the poller's tests: fake vendors and in-memory ports, new per test."""

from __future__ import annotations

import pytest

from tests.fakes.queues import InMemoryChangeQueue
from tests.fakes.storage import InMemoryLinks, InMemorySettings, InMemorySyncState
from tests.unit.usecases.poll.support import FakeClock, FakeHubSpot, FakeSalesforce, Stack


@pytest.fixture
def stack() -> Stack:
    clock = FakeClock()
    return Stack(
        settings=InMemorySettings(),
        state=InMemorySyncState(),
        links=InMemoryLinks(),
        queues=InMemoryChangeQueue(),
        clock=clock,
        hubspot=FakeHubSpot(clock),
        salesforce=FakeSalesforce(clock),
    )
