"""OAuth 2.0 for the sandbox: the token endpoint's two server-to-server flows and the sessions
they open.

* ``grant_type=client_credentials`` with the connected app's ``client_id``/``client_secret`` (form
  fields or HTTP Basic). The session runs as the org's configured *run-as* user, as Salesforce's
  client-credentials flow runs as the app's "Run As" user.
* ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` with an RS256 ``assertion`` whose
  ``iss`` is the client id, ``sub`` the username of an active user, ``aud``
  ``https://login.salesforce.com``, ``https://test.salesforce.com`` or the sandbox's own URL, and
  ``exp`` in the future on the sandbox clock (simple-salesforce sends ``exp`` as a string;
  Salesforce accepts that, so the sandbox does too).

Answers follow Salesforce: ``{access_token, instance_url, id, token_type, issued_at, signature,
scope}`` where ``signature`` is base64(HMAC-SHA256(client_secret, id + issued_at)); failures are
HTTP 400 ``{"error", "error_description"}``. Sessions last ``session_lifetime_seconds`` on the
sandbox clock from issue (an absolute lifetime; real orgs time out after inactivity).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from typing import Any

import jwt

from activity_sync_tools.sandbox.core import SandboxClock

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LOGIN_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")


@dataclass
class Session:
    token: str
    user_id: str
    client_id: str
    issued_at: dt.datetime
    expires_at: dt.datetime


class SessionRegistry:
    def __init__(self, org_id: str, clock: SandboxClock, lifetime_seconds: int) -> None:
        self.org_id = org_id
        self.clock = clock
        self.lifetime = dt.timedelta(seconds=lifetime_seconds)
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}

    def issue(self, user_id: str, client_id: str) -> Session:
        now = self.clock.now()
        # Real access tokens start with the 15-character org id and an exclamation mark.
        token = f"{self.org_id[:15]}!{secrets.token_urlsafe(48)}"
        session = Session(token, user_id, client_id, now, now + self.lifetime)
        with self._lock:
            self._sessions[token] = session
        return session

    def lookup(self, token: str) -> Session | None:
        with self._lock:
            session = self._sessions.get(token)
        if session is None or self.clock.now() >= session.expires_at:
            return None
        return session

    def expire(self, token: str | None = None) -> int:
        with self._lock:
            if token is None:
                count = len(self._sessions)
                self._sessions.clear()
                return count
            return 1 if self._sessions.pop(token, None) else 0

    def describe(self) -> list[dict[str, Any]]:
        now = self.clock.now()
        with self._lock:
            return [
                {
                    "user_id": s.user_id,
                    "client_id": s.client_id,
                    "issued_at": s.issued_at.isoformat(),
                    "expires_at": s.expires_at.isoformat(),
                    "active": now < s.expires_at,
                }
                for s in self._sessions.values()
            ]


class OAuthFailure(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


def signature(client_secret: str, identity_url: str, issued_at: str) -> str:
    digest = hmac.new(client_secret.encode(), (identity_url + issued_at).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def client_from_basic_auth(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip()).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, _, client_secret = decoded.partition(":")
    return client_id, client_secret


def verify_jwt_assertion(
    assertion: str,
    *,
    public_key_pem: bytes,
    client_id: str,
    audiences: tuple[str, ...],
    now: dt.datetime,
) -> str:
    """The ``sub`` (username) of a valid assertion; raises :class:`OAuthFailure` otherwise."""
    try:
        claims: dict[str, Any] = jwt.decode(
            assertion,
            public_key_pem,
            algorithms=["RS256"],
            # Time claims are checked below against the sandbox clock, not the machine's.
            options={
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
            },
        )
    except jwt.InvalidSignatureError:
        raise OAuthFailure("invalid_grant", "invalid assertion") from None
    except jwt.PyJWTError:
        raise OAuthFailure("invalid_grant", "invalid assertion") from None
    if claims.get("iss") != client_id:
        raise OAuthFailure("invalid_client_id", "client identifier invalid")
    audience = claims.get("aud")
    given = audience if isinstance(audience, list) else [audience]
    wanted = {item.rstrip("/") for item in audiences}
    if not any(isinstance(item, str) and item.rstrip("/") in wanted for item in given):
        raise OAuthFailure("invalid_grant", "audience is invalid")
    try:
        expires = float(str(claims.get("exp")))
    except ValueError:
        raise OAuthFailure("invalid_grant", "invalid assertion") from None
    if expires <= now.timestamp():
        raise OAuthFailure("invalid_grant", "expired authorization code")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise OAuthFailure("invalid_grant", "invalid assertion")
    return subject
