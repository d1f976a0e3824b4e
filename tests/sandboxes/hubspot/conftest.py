"""Fixtures: one HubSpot sandbox per test session, served in-process on a free port and reset to an
empty portal before every test (stopping a server costs half a second); the official
``hubspot-api-client`` for the API, ``requests`` for admin routes and the endpoints the client
lacks; a local webhook receiver; and HubSpot's OpenAPI specs for response validation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hubspot import HubSpot

from activity_sync_tools.sandbox.core import RunningServer
from activity_sync_tools.sandbox.hubspot import start_hubspot_sandbox
from activity_sync_tools.sandbox.hubspot.testing import (
    Admin,
    OpenApi,
    WebhookReceiver,
    openapi_directory,
    webhook_receiver,
)

TOKEN = "hubspot-sandbox-token"
REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def server() -> Iterator[RunningServer]:
    running = start_hubspot_sandbox()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def admin(server: RunningServer) -> Admin:
    helper = Admin(server)
    helper.post("reset")
    return helper


@pytest.fixture
def client(server: RunningServer, admin: Admin) -> HubSpot:
    return HubSpot(access_token=TOKEN, host=server.url)


@pytest.fixture
def relaxed_limits(admin: Admin) -> None:
    """For tests about something other than limits that make many calls in a moment."""
    admin.post("rate-limits", {"rate_limit_per_10s": 100_000, "search_per_second": 10_000})


@pytest.fixture
def owner(admin: Admin) -> dict[str, Any]:
    created: dict[str, Any] = admin.post(
        "owners", {"email": "ana.rep@example.com", "firstName": "Ana", "lastName": "Rep"}
    )
    return created


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with webhook_receiver() as running:
        yield running


@pytest.fixture(scope="session")
def openapi() -> OpenApi:
    directory = openapi_directory(REPO_ROOT)
    if not directory.is_dir():
        pytest.skip(
            f"HubSpot's OpenAPI specs are not at {directory}; set HUBSPOT_OPENAPI_DIR to validate responses"
        )
    return OpenApi(directory)
