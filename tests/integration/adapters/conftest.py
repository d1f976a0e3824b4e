"""Fixtures for the vendor adapter tests: both sandboxes served in-process on free ports for the
whole session (starting one costs more than resetting it) and reset before every test, plus
clients wired to them the way the service wires them in production."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from activity_sync.adapters.hubspot_api import HubSpotClient
from activity_sync.adapters.salesforce_api import SalesforceClient
from activity_sync.adapters.salesforce_oauth import SalesforceAuth, forget_cached_tokens
from activity_sync_tools.sandbox.core import RunningServer
from activity_sync_tools.sandbox.hubspot import start_hubspot_sandbox
from activity_sync_tools.sandbox.hubspot.testing import Admin as HubSpotAdmin
from activity_sync_tools.sandbox.salesforce import sandbox_session, start_salesforce_sandbox
from activity_sync_tools.sandbox.salesforce.testing import CLIENT_ID, CLIENT_SECRET
from activity_sync_tools.sandbox.salesforce.testing import Admin as SalesforceAdmin

HUBSPOT_TOKEN = "hubspot-sandbox-token"


class SandboxLog:
    """What a sandbox received: its request log, filtered by method and path."""

    def __init__(self, session: requests.Session, url: str) -> None:
        self._session = session
        self._url = url

    def entries(self) -> list[dict[str, Any]]:
        response = self._session.get(f"{self._url}/_sandbox/requests", timeout=30)
        response.raise_for_status()
        entries: list[dict[str, Any]] = response.json()["requests"]
        return entries

    def count(self, method: str, path_contains: str) -> int:
        return sum(1 for e in self.entries() if e["method"] == method and path_contains in e["path"])

    def statuses(self, method: str, path_contains: str) -> list[int]:
        return [e["status"] for e in self.entries() if e["method"] == method and path_contains in e["path"]]

    def total(self) -> int:
        response = self._session.get(f"{self._url}/_sandbox/counters", timeout=30)
        response.raise_for_status()
        return int(response.json()["total"])

    def clear(self) -> None:
        self._session.delete(f"{self._url}/_sandbox/requests", timeout=30).raise_for_status()

    def fault(self, route: str, kind: str, **options: Any) -> None:
        body = {"route": route, "kind": kind, **options}
        self._session.post(f"{self._url}/_sandbox/faults", json=body, timeout=30).raise_for_status()


def _plain_session() -> requests.Session:
    # Proxy settings in the environment must not capture requests to the local sandboxes.
    session = requests.Session()
    session.trust_env = False
    return session


# -- HubSpot -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def hubspot_server() -> Iterator[RunningServer]:
    server = start_hubspot_sandbox()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def hubspot_admin(hubspot_server: RunningServer) -> HubSpotAdmin:
    admin = HubSpotAdmin(hubspot_server)
    admin.post("reset")
    return admin


@pytest.fixture
def hubspot_log(hubspot_server: RunningServer, hubspot_admin: HubSpotAdmin) -> SandboxLog:
    return SandboxLog(_plain_session(), hubspot_server.url)


@pytest.fixture
def hubspot(hubspot_server: RunningServer, hubspot_admin: HubSpotAdmin) -> HubSpotClient:
    return HubSpotClient(hubspot_server.url, HUBSPOT_TOKEN, session=_plain_session())


# -- Salesforce ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def salesforce_server() -> Iterator[RunningServer]:
    server = start_salesforce_sandbox()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def salesforce_admin(salesforce_server: RunningServer) -> SalesforceAdmin:
    admin = SalesforceAdmin(salesforce_server)
    admin.post("/reset")
    # A reset sandbox has forgotten every session: start each test from a cold Lambda.
    forget_cached_tokens()
    return admin


@pytest.fixture
def salesforce_log(salesforce_server: RunningServer, salesforce_admin: SalesforceAdmin) -> SandboxLog:
    return SandboxLog(sandbox_session(salesforce_server), salesforce_server.url)


@pytest.fixture
def token_url(salesforce_server: RunningServer) -> str:
    return f"{salesforce_server.url}/services/oauth2/token"


@pytest.fixture
def salesforce_auth(
    salesforce_server: RunningServer, salesforce_admin: SalesforceAdmin, token_url: str
) -> SalesforceAuth:
    return SalesforceAuth(
        token_url,
        CLIENT_ID,
        flow="client_credentials",
        client_secret=CLIENT_SECRET,
        session=sandbox_session(salesforce_server),
    )


@pytest.fixture
def salesforce(salesforce_server: RunningServer, salesforce_auth: SalesforceAuth) -> SalesforceClient:
    return SalesforceClient(salesforce_auth, "62.0", session=sandbox_session(salesforce_server))
