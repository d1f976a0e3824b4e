"""Salesforce sign-in for the REST client (``adapters.salesforce_api``): OAuth 2.0 client
credentials or JWT bearer for one connected app (an External Client App) and user, the token cached
per warm Lambda and renewed when Salesforce says the session expired. PyJWT is imported on first use
(the JWT bearer flow only). API facts are in shared/reference/salesforce-api.md unless a comment
cites a Salesforce page.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

import requests

from activity_sync.adapters.http import (
    MAX_RETRIES,
    REQUEST_TIMEOUT,
    log_retry,
    mount_retries,
    transport_error,
)
from activity_sync.adapters.salesforce_answers import VENDOR
from activity_sync.observability import logger
from activity_sync.ports import VendorApiError

if TYPE_CHECKING:
    pass

Flow = Literal["client_credentials", "jwt_bearer"]
JWT_LIFETIME_SECONDS = 180  # Salesforce accepts an assertion whose exp is at most 3 minutes ahead
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
OAUTH_TOKEN_PATH = "/services/oauth2/token"  # noqa: S105  # nosec B105  # a URL path, not a secret


@dataclass(frozen=True)
class SalesforceToken:
    access_token: str
    instance_url: str
    identity_url: str | None = None

    @property
    def user_id(self) -> str | None:
        """The user the token runs as: the last segment of the identity URL ``…/id/00D…/005…``."""
        if not self.identity_url:
            return None
        segment = urlsplit(self.identity_url).path.rstrip("/").rsplit("/", 1)[-1]
        return segment or None


# A warm Lambda reuses its token across invocations (one token request per cold start).
_TOKEN_CACHE: dict[tuple[str, str, str | None], SalesforceToken] = {}
_TOKEN_CACHE_LOCK = threading.Lock()


def forget_cached_tokens() -> None:
    """Drop every cached token (tests; a rotated connected-app secret)."""
    with _TOKEN_CACHE_LOCK:
        _TOKEN_CACHE.clear()


def default_jwt_audience(token_url: str) -> str:
    """The ``aud`` Salesforce expects for a token URL: login/test.salesforce.com for production and
    sandbox orgs, including their My Domain hosts; the URL's own origin otherwise (an Experience
    Cloud site, a local sandbox)
    (https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_oauth_jwt_flow.htm)."""
    parts = urlsplit(token_url)
    host = (parts.hostname or "").lower()
    if host.endswith(".sandbox.my.salesforce.com"):
        return "https://test.salesforce.com"
    if host.endswith(".my.salesforce.com"):
        return "https://login.salesforce.com"
    return f"{parts.scheme}://{parts.netloc}"


class SalesforceAuth:
    """Gets and caches an access token for one connected app (and user, for JWT bearer)."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        *,
        flow: Flow = "client_credentials",
        client_secret: str | None = None,
        username: str | None = None,
        private_key_pem: str | None = None,
        audience: str | None = None,
        session: requests.Session | None = None,
        max_retries: int = MAX_RETRIES,
    ) -> None:
        if flow not in ("client_credentials", "jwt_bearer"):
            raise ValueError(f"unknown Salesforce auth flow {flow!r}")
        if flow == "client_credentials" and not client_secret:
            raise ValueError("the client_credentials flow needs client_secret")
        if flow == "jwt_bearer" and not (username and private_key_pem):
            raise ValueError("the jwt_bearer flow needs username and private_key_pem")
        self.token_url = token_url
        self.client_id = client_id
        self.flow = flow
        self._client_secret = client_secret
        self.username = username if flow == "jwt_bearer" else None
        self._private_key_pem = private_key_pem
        self.audience = audience or default_jwt_audience(token_url)
        self._session = session or requests.Session()
        self.calls: Counter[str] = Counter()
        mount_retries(
            self._session,
            allowed_methods=("GET", "PATCH", "DELETE", "POST"),
            listener=self._on_retry,
            max_retries=max_retries,
        )

    @property
    def _cache_key(self) -> tuple[str, str, str | None]:
        return (self.token_url, self.client_id, self.username)

    def token(self) -> tuple[str, str]:
        """(access token, instance URL), from the cache or a new token request."""
        current = self.current()
        return current.access_token, current.instance_url

    def cached(self) -> SalesforceToken | None:
        """The cached token, if any (no request)."""
        with _TOKEN_CACHE_LOCK:
            return _TOKEN_CACHE.get(self._cache_key)

    def current(self) -> SalesforceToken:
        with _TOKEN_CACHE_LOCK:
            cached = _TOKEN_CACHE.get(self._cache_key)
        if cached is not None:
            return cached
        issued = self._request_token()
        with _TOKEN_CACHE_LOCK:
            _TOKEN_CACHE[self._cache_key] = issued
        return issued

    def invalidate(self, access_token: str | None = None) -> None:
        """Forget the cached token (only if it is still ``access_token``, when given, so that a
        token another caller just renewed survives)."""
        with _TOKEN_CACHE_LOCK:
            cached = _TOKEN_CACHE.get(self._cache_key)
            if cached is not None and (access_token is None or cached.access_token == access_token):
                del _TOKEN_CACHE[self._cache_key]

    def _form(self) -> dict[str, str]:
        if self.flow == "client_credentials":
            assert self._client_secret is not None  # nosec B101  # narrows a type; checked in __init__
            return {
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self._client_secret,
            }
        assert self.username is not None  # nosec B101  # narrows a type; checked in __init__
        assert self._private_key_pem is not None  # nosec B101  # narrows a type; checked in __init__
        claims = {
            "iss": self.client_id,
            "sub": self.username,
            "aud": self.audience,
            "exp": int(time.time()) + JWT_LIFETIME_SECONDS,
        }
        import jwt  # PyJWT and cryptography: only the JWT bearer flow pays for them

        assertion = jwt.encode(claims, self._private_key_pem, algorithm="RS256")
        return {"grant_type": JWT_BEARER_GRANT, "assertion": assertion}

    def _request_token(self) -> SalesforceToken:
        what = f"POST {OAUTH_TOKEN_PATH}"
        self.calls[what] += 1
        try:
            response = self._session.post(
                self.token_url, data=self._form(), timeout=REQUEST_TIMEOUT, verify=self._session.verify
            )
        except requests.RequestException as error:
            raise transport_error(VENDOR, what, error) from error
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict) or not body.get("access_token"):
            detail = (
                f"{body.get('error')}: {body.get('error_description')}"
                if isinstance(body, dict) and body.get("error")
                else (response.text or response.reason or "")[:300]
            )
            status = response.status_code
            raise VendorApiError(
                VENDOR, status, f"{what} ({self.flow}): {detail}", retryable=status == 429 or status >= 500
            )
        token = SalesforceToken(
            access_token=str(body["access_token"]),
            instance_url=str(body.get("instance_url") or "").rstrip("/"),
            identity_url=body.get("id"),
        )
        if not token.instance_url:
            raise VendorApiError(VENDOR, 200, f"{what}: answer has no instance_url", retryable=False)
        logger.info(
            "Salesforce access token issued",
            extra={
                "vendor": VENDOR,
                "flow": self.flow,
                "instance_url": token.instance_url,
                "user_id": token.user_id,
            },
        )
        return token

    def _on_retry(
        self, method: str, url: str, status: int | None, wait: float | None, error: Exception | None
    ) -> None:
        key = f"{method} {urlsplit(url).path}"
        self.calls[key] += 1
        log_retry(VENDOR, key, status, wait, error)
