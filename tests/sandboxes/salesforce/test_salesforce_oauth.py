"""OAuth token flows and session lifetime."""

from __future__ import annotations

import base64
import datetime as dt

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce.exceptions import SalesforceExpiredSession

from activity_sync_tools.sandbox.salesforce import (
    SalesforceSandbox,
    sandbox_session,
    start_salesforce_sandbox,
)
from activity_sync_tools.sandbox.salesforce.testing import (
    CLIENT_ID,
    CLIENT_SECRET,
    Harness,
    SalesforceClient,
    error_content,
)

pytestmark = pytest.mark.integration


def _rsa_key() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[bytes, bytes]:
    return _rsa_key()


def _assertion(
    private: bytes,
    *,
    sub: str = "alice@example.com",
    aud: str = "https://login.salesforce.com",
    iss: str = CLIENT_ID,
    expires_in: int = 180,
) -> str:
    # Shaped like simple-salesforce's own JWT login: exp is a string of epoch seconds.
    expiry = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=expires_in)
    payload = {"iss": iss, "sub": sub, "aud": aud, "exp": f"{expiry.timestamp():.0f}"}
    return jwt.encode(payload, private, algorithm="RS256")


def test_client_credentials_issues_a_token_shaped_like_salesforce(harness: Harness) -> None:
    # Given the sandbox's connected app credentials
    # When a client asks for a token with grant_type=client_credentials
    response = harness.token()
    # Then it gets Salesforce's token answer, running as the integration (run-as) user
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"access_token", "instance_url", "id", "token_type", "issued_at", "signature"}
    assert body["token_type"] == "Bearer"
    assert body["instance_url"] == harness.url
    assert body["id"].endswith("/" + harness.keys["integration"])
    assert body["access_token"].startswith("00D")


def test_client_credentials_accepts_http_basic_and_rejects_a_bad_secret(harness: Harness) -> None:
    # Given the client credentials sent as HTTP Basic
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    # When the token endpoint is called with and without the right secret
    good = harness.http.post(
        f"{harness.url}/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
        timeout=30,
    )
    bad = harness.token(client_secret="wrong")
    unknown = harness.token(grant_type="password")
    # Then only the right secret gets a token; failures are OAuth error objects with HTTP 400
    assert good.status_code == 200
    assert bad.status_code == 400
    assert bad.json() == {"error": "invalid_client", "error_description": "invalid client credentials"}
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "unsupported_grant_type"


def test_client_credentials_runs_as_the_configured_run_as_user(harness: Harness) -> None:
    # Given alice configured as the run-as user
    harness.admin.post("/run-as", {"user": "@alice"})
    # When a client-credentials session creates a task
    sf = harness.client()
    created = sf.Task.create({"Subject": "Who am I"})
    # Then the task is created and owned by alice
    task = sf.Task.get(created["id"])
    assert task["CreatedById"] == harness.keys["alice"]
    assert task["OwnerId"] == harness.keys["alice"]


def test_jwt_bearer_flow_with_a_key_given_to_the_constructor(rsa_keys: tuple[bytes, bytes]) -> None:
    # Given a sandbox that knows the connected app's certificate and a user bob
    private, public = rsa_keys
    server = start_salesforce_sandbox(jwt_public_key_pem=public)
    try:
        http = sandbox_session(server)
        assert isinstance(server.app, SalesforceSandbox)
        server.app.create_user(
            {"Username": "bob@example.com", "Email": "bob@example.com", "LastName": "Jones"}
        )
        # When bob's signed assertion is exchanged for a token
        response = http.post(
            f"{server.url}/services/oauth2/token",
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": _assertion(private, sub="bob@example.com"),
            },
            timeout=30,
        )
        # Then the session runs as bob and works with simple-salesforce
        assert response.status_code == 200, response.text
        body = response.json()
        sf = SalesforceClient(
            instance_url=body["instance_url"], session_id=body["access_token"], session=http, version="59.0"
        )
        info = sf.oauth2("userinfo")
        assert info["preferred_username"] == "bob@example.com"
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("claims", "error"),
    [
        ({"sub": "nobody@example.com"}, "invalid_grant"),
        ({"aud": "https://evil.example.com"}, "invalid_grant"),
        ({"iss": "another-app"}, "invalid_client_id"),
        ({"expires_in": -10}, "invalid_grant"),
    ],
)
def test_jwt_bearer_rejects_bad_assertions(
    harness: Harness, rsa_keys: tuple[bytes, bytes], claims: dict[str, object], error: str
) -> None:
    # Given a public key registered through the admin route
    private, public = rsa_keys
    harness.admin.post("/jwt-key", {"public_key_pem": public.decode()})
    # When an assertion with one bad claim is presented
    assertion = _assertion(private, **claims)  # type: ignore[arg-type]
    response = harness.token(grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer", assertion=assertion)
    # Then the token endpoint refuses it with Salesforce's OAuth error
    assert response.status_code == 400
    assert response.json()["error"] == error


def test_jwt_bearer_rejects_a_signature_from_another_key(
    harness: Harness, rsa_keys: tuple[bytes, bytes]
) -> None:
    # Given the registered key and an assertion signed by a different key
    harness.admin.post("/jwt-key", {"public_key_pem": rsa_keys[1].decode()})
    other_private, _ = _rsa_key()
    # When it is presented
    response = harness.token(
        grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer", assertion=_assertion(other_private)
    )
    # Then it is an invalid assertion
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant", "error_description": "invalid assertion"}


def test_jwt_bearer_rejects_an_inactive_user(harness: Harness, rsa_keys: tuple[bytes, bytes]) -> None:
    # Given alice deactivated
    harness.admin.post("/jwt-key", {"public_key_pem": rsa_keys[1].decode()})
    harness.admin.patch(f"/users/{harness.keys['alice']}", {"IsActive": False})
    # When alice's assertion is presented
    response = harness.token(
        grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer", assertion=_assertion(rsa_keys[0])
    )
    # Then no session is opened
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_session_expires_after_its_lifetime_on_the_sandbox_clock(harness: Harness) -> None:
    # Given a working session
    sf = harness.client()
    assert sf.limits()["DailyApiRequests"]["Max"] == 100_000
    # When the sandbox clock passes the session lifetime (2 hours by default)
    harness.admin.post("/clock", {"advance_seconds": 7201})
    # Then every call fails with 401 INVALID_SESSION_ID, which simple-salesforce raises as expired
    with pytest.raises(SalesforceExpiredSession) as raised:
        sf.query("SELECT Id FROM Task")
    assert error_content(raised.value) == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]


def test_admin_route_expires_all_sessions(harness: Harness) -> None:
    # Given two working sessions
    first, second = harness.client(), harness.client()
    first.query("SELECT Id FROM Contact")
    # When the admin expires all sessions
    expired = harness.admin.post("/sessions/expire")
    # Then both fail and a new token works again
    assert expired["expired"] >= 2
    for client in (first, second):
        with pytest.raises(SalesforceExpiredSession):
            client.query("SELECT Id FROM Contact")
    assert harness.client().query("SELECT Id FROM Contact")["totalSize"] == 1


def test_missing_or_unknown_bearer_token_is_rejected(harness: Harness) -> None:
    # Given no token and a made-up token
    # When the REST API is called
    missing = harness.http.get(f"{harness.url}/services/data/v59.0/limits", timeout=30)
    unknown = harness.api("GET", "/limits", "00D000000000000!made-up")
    # Then both answer 401 INVALID_SESSION_ID
    for response in (missing, unknown):
        assert response.status_code == 401
        assert response.json()[0]["errorCode"] == "INVALID_SESSION_ID"


def test_deactivating_the_session_user_invalidates_the_session(harness: Harness) -> None:
    # Given a session running as alice
    token = harness.admin.post("/sessions", {"user": "@alice"}, expected=201)["access_token"]
    sf = harness.client(token)
    sf.Contact.get(harness.keys["ada"])
    # When alice is deactivated
    harness.admin.patch(f"/users/{harness.keys['alice']}", {"IsActive": False})
    # Then her session stops working
    with pytest.raises(SalesforceExpiredSession):
        sf.Contact.get(harness.keys["ada"])


def test_another_external_client_app_gets_tokens_for_its_own_run_as_user(harness: Harness) -> None:
    # Given a second app of the org (a person's, e.g. the canary's), run as Rita
    rita = harness.admin.post(
        "/users",
        {"Username": "rita@example.com", "Email": "rita@example.com", "LastName": "Rep"},
        expected=201,
    )["id"]
    harness.admin.post("/clients", {"client_id": "canary-app", "client_secret": "s3cret", "run_as": rita})

    # When it asks for a token with client credentials
    granted = harness.token(client_id="canary-app", client_secret="s3cret")
    refused = harness.token(client_id="canary-app", client_secret="wrong")

    # Then it acts as Rita (what it writes is hers), and only with its own secret
    assert granted.status_code == 200, granted.text
    client = harness.client(granted.json()["access_token"])
    task = client.Task.create({"Subject": "Written by Rita's app", "Status": "Not Started"})
    assert client.Task.get(task["id"])["CreatedById"] == rita
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_client"
    assert harness.access_token()  # the service's own app is unchanged
