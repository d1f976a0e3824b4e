"""Test helpers for code that talks to the Salesforce sandbox: an admin client for the
``/_sandbox/`` routes and a harness that opens simple-salesforce clients against a running sandbox.

Used by the sandbox's own fidelity tests and available to the service's tests."""

from __future__ import annotations

from typing import Any, cast

import requests
from simple_salesforce.api import Salesforce, SFType
from simple_salesforce.exceptions import SalesforceError

from activity_sync_tools.sandbox.core import RunningServer
from activity_sync_tools.sandbox.salesforce import SalesforceSandbox, sandbox_session

CLIENT_ID = "salesforce-sandbox-client-id"
CLIENT_SECRET = "salesforce-sandbox-client-secret"  # noqa: S105 - the sandbox default, public
API_VERSION = "59.0"

BASE_SEED: dict[str, Any] = {
    "users": [
        {
            "key": "alice",
            "Username": "alice@example.com",
            "Email": "alice@example.com",
            "FirstName": "Alice",
            "LastName": "Smith",
        },
        {
            "key": "bob",
            "Username": "bob@example.com",
            "Email": "Bob@Example.com",
            "FirstName": "Bob",
            "LastName": "Jones",
        },
    ],
    "accounts": [{"key": "acme", "Name": "Acme"}],
    "contacts": [
        {
            "key": "ada",
            "FirstName": "Ada",
            "LastName": "Lovelace",
            "Email": "ada@example.com",
            "AccountId": "@acme",
            "OwnerId": "@alice",
        },
    ],
    "leads": [
        {
            "key": "lin",
            "FirstName": "Lin",
            "LastName": "Chen",
            "Company": "Chen Co",
            "Email": "lin@example.com",
        }
    ],
    "opportunities": [
        {
            "key": "deal",
            "Name": "Big deal",
            "StageName": "Prospecting",
            "CloseDate": "2024-06-30",
            "AccountId": "@acme",
        }
    ],
}


class SalesforceClient(Salesforce):
    """simple-salesforce's client with precise types for what tests use (``sf.Task`` is an
    ``SFType``; REST helpers answer decoded JSON). Behaviour is unchanged."""

    def __getattr__(self, name: str) -> SFType:
        return cast(SFType, super().__getattr__(name))

    def restful(
        self, path: str, params: dict[str, Any] | None = None, method: str = "GET", **kwargs: Any
    ) -> Any:
        return super().restful(path, params, method, **kwargs)

    def oauth2(self, path: str, params: dict[str, Any] | None = None, method: str = "GET") -> Any:
        return super().oauth2(path, params, method)

    def describe(self, **kwargs: Any) -> Any:
        return super().describe(**kwargs)


def error_content(error: SalesforceError) -> Any:
    """The decoded error body simple-salesforce attached to an exception (a Salesforce error array)."""
    return cast(Any, error.content)


class Admin:
    """The sandbox's ``/_sandbox/`` routes through requests."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.http = sandbox_session(server)

    def call(self, method: str, path: str, expected: int | None = None, **kwargs: Any) -> requests.Response:
        response = self.http.request(method, f"{self.server.url}/_sandbox{path}", timeout=30, **kwargs)
        if expected is not None:
            assert response.status_code == expected, response.text
        return response

    def post(self, path: str, body: Any = None, expected: int | None = 200) -> Any:
        return self.call("POST", path, expected, json=body if body is not None else {}).json()

    def get(self, path: str) -> Any:
        return self.call("GET", path, 200).json()

    def patch(self, path: str, body: Any, expected: int | None = 200) -> Any:
        return self.call("PATCH", path, expected, json=body).json()


class Harness:
    """A running sandbox plus clients; ``keys`` maps seed keys to record ids."""

    def __init__(self, server: RunningServer, seed: dict[str, Any] | None = None) -> None:
        self.server = server
        self.url = server.url
        self.admin = Admin(server)
        self.http = sandbox_session(server)
        self.keys: dict[str, str] = self.admin.post("/seed", seed if seed is not None else BASE_SEED)["keys"]

    @property
    def sandbox(self) -> SalesforceSandbox:
        app = self.server.app
        assert isinstance(app, SalesforceSandbox)
        return app

    def token(self, **form: str) -> requests.Response:
        data = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
        data.update(form)
        return self.http.post(f"{self.url}/services/oauth2/token", data=data, timeout=30)

    def access_token(self) -> str:
        response = self.token()
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def client(self, token: str | None = None, version: str = API_VERSION) -> SalesforceClient:
        return SalesforceClient(
            instance_url=self.url,
            session_id=token or self.access_token(),
            session=sandbox_session(self.server),
            version=version,
        )

    def api(self, method: str, path: str, token: str, **kwargs: Any) -> requests.Response:
        """A raw REST call (to look at status codes and headers simple-salesforce hides)."""
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return self.http.request(
            method, f"{self.url}/services/data/v{API_VERSION}{path}", headers=headers, timeout=30, **kwargs
        )
