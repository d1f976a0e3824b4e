"""Fixtures: one Salesforce sandbox per test session, served in-process over TLS on a free port
and reset to a fresh org before every test (stopping a server costs half a second), and clients
that talk to it only through simple-salesforce (API) or requests (OAuth, admin routes)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from activity_sync_tools.sandbox.core import RunningServer
from activity_sync_tools.sandbox.salesforce import sandbox_session, start_salesforce_sandbox
from activity_sync_tools.sandbox.salesforce.testing import Harness, SalesforceClient


@pytest.fixture(scope="session")
def server() -> Iterator[RunningServer]:
    running = start_salesforce_sandbox(outbound_retry_base_seconds=0.05)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def harness(server: RunningServer) -> Harness:
    sandbox_session(server).post(f"{server.url}/_sandbox/reset", timeout=30).raise_for_status()
    return Harness(server)


@pytest.fixture
def sf(harness: Harness) -> SalesforceClient:
    return harness.client()
