"""HubSpot's HTTP transport, shared by the CRM client and the legacy feeds: one authenticated
``requests`` session with retries (``adapters.http``), every request counted (``calls``) and asked
of the stack's shared API budget first (R18), error answers raised as ``HubSpotApiError``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

from activity_sync.adapters.http import MAX_RETRIES, Deadline, log_retry, mount_retries, transport_error
from activity_sync.adapters.hubspot_answers import VENDOR, hubspot_error
from activity_sync.ports import VendorApiError

if TYPE_CHECKING:
    from activity_sync.adapters.budget import ApiBudget


class HubSpotTransport:
    """Requests to one HubSpot account with one token. ``calls`` counts every HTTP request sent,
    retries included, by ``"METHOD /path"``; ``calls.total()`` is the call budget spent (R18)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        session: requests.Session | None = None,
        budget: ApiBudget | None = None,
        deadline: Deadline | None = None,
        max_retries: int = MAX_RETRIES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._base_path = urlsplit(self.base_url).path.rstrip("/")
        self._token = token
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._session = session or requests.Session()
        self.calls: Counter[str] = Counter()
        self.retries: Counter[str] = Counter()
        self._budget = budget
        self.deadline = deadline or Deadline()
        mount_retries(
            self._session,
            allowed_methods=("GET", "POST"),
            listener=self._on_retry,
            deadline=self.deadline,
            max_retries=max_retries,
        )

    def _on_retry(
        self, method: str, url: str, status: int | None, wait: float | None, error: Exception | None
    ) -> None:
        path = urlsplit(url).path
        if self._base_path and path.startswith(self._base_path):
            path = path[len(self._base_path) :]
        key = f"{method} {path}"
        self._spend(path)  # a retry is a call too
        self.calls[key] += 1
        self.retries[key] += 1
        log_retry(VENDOR, key, status, wait, error, retries_so_far=self.retries[key])

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        accept: frozenset[int] = frozenset(),
    ) -> requests.Response:
        """One request; an error answer raises ``HubSpotApiError`` unless its status is in ``accept``."""
        key = f"{method} {path}"
        timeout = self.deadline.timeout(key, VENDOR)
        self._spend(path)
        self.calls[key] += 1
        try:
            response = self._session.request(
                method,
                self.base_url + path,
                params=params,
                json=body,
                headers=self._headers,
                timeout=timeout,
                # An explicit CA bundle on the session must win over REQUESTS_CA_BUNDLE.
                verify=self._session.verify,
            )
        except requests.RequestException as error:
            raise transport_error(VENDOR, key, error) from error
        self._observe(response)
        if response.status_code >= 400 and response.status_code not in accept:
            raise hubspot_error(response, key)
        return response

    def request_json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """One request whose answer is a JSON object (``{}`` for an empty answer)."""
        response = self.request(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return {}
        try:
            payload = response.json()
        except ValueError as error:
            raise VendorApiError(
                VENDOR, response.status_code, f"{method} {path}: answer is not JSON", retryable=True
            ) from error
        return payload if isinstance(payload, dict) else {"results": payload}

    def _spend(self, path: str) -> None:
        """One call (and, for a search, one search) from the shared budget, or BudgetExhausted."""
        if self._budget is not None:
            self._budget.acquire("search" if path.endswith("/search") else "call")

    def _observe(self, response: requests.Response) -> None:
        """HubSpot's own daily figures (absent on search answers), for the shared budget."""
        if self._budget is None:
            return
        remaining = response.headers.get("X-HubSpot-RateLimit-Daily-Remaining")
        daily = response.headers.get("X-HubSpot-RateLimit-Daily")
        if remaining and remaining.isdigit():
            self._budget.observe(int(remaining), int(daily) if daily and daily.isdigit() else None)
