"""What both vendor clients share over HTTP: retries of throttles and 5xx inside a time budget,
and the mapping of transport failures.

Retries happen below ``requests`` in a mounted urllib3 ``Retry`` that honours ``Retry-After``,
backs off exponentially with jitter, and reports each retry (call counters, the API budget, logs).
Every retry fits in the invocation: a ``Deadline`` (set by the handler from the time the function
has left) caps each request's read timeout and refuses a retry whose wait would end too late. The
call then fails as retryable, and the message is retried later by its queue - never a function
killed by its timeout in the middle of a batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Self

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import InvalidHeader, MaxRetryError, ResponseError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from activity_sync.observability import logger
from activity_sync.ports import VendorApiError

CONNECT_TIMEOUT_SECONDS = 3.05
READ_TIMEOUT_SECONDS = 20.0
REQUEST_TIMEOUT = (CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRIES = 4
# A Retry-After longer than this (a daily limit, say) is not slept through inside one invocation: the
# call fails with a retryable VendorApiError and the message is retried later by its queue.
MAX_RETRY_AFTER_SECONDS = 10.0
BACKOFF_FACTOR_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 8.0
BACKOFF_JITTER_SECONDS = 0.5
# No request starts with less time than this left before the deadline.
MIN_REQUEST_SECONDS = 2.0
# A queue consumer's vendor calls, retries included, are over within this many seconds, and at
# the latest SETTLE_SECONDS before its timeout: the time it keeps to settle every message.
CALL_BUDGET_SECONDS = 45.0
SETTLE_SECONDS = 10.0


def call_seconds(remaining_seconds: float) -> float:
    """How long a queue consumer's vendor calls may take, given the time its invocation has left."""
    return max(0.0, min(CALL_BUDGET_SECONDS, remaining_seconds - SETTLE_SECONDS))


def log_retry(
    vendor: str, route: str, status: int | None, wait: float | None, error: Exception | None, **extra: object
) -> None:
    """One retried vendor request, as every client logs it (the route, the answer, the wait)."""
    logger.warning(
        f"{VENDOR_NAMES.get(vendor, vendor)} request retried",
        extra={
            "vendor": vendor,
            "route": route,
            "status": status,
            "retry_after_seconds": wait,
            "error": None if error is None else repr(error),
            **extra,
        },
    )


VENDOR_NAMES = {"hubspot": "HubSpot", "salesforce": "Salesforce"}
RetryListener = Callable[[str, str, int | None, float | None, Exception | None], None]


class Deadline:
    """When the vendor calls of this invocation must be over (``time.monotonic`` based); unset, no
    limit (the local tools). One per container, shared by both clients, set per invocation."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._at: float | None = None

    def set_in(self, seconds: float) -> None:
        self._at = self._clock() + max(0.0, seconds)

    def clear(self) -> None:
        self._at = None

    def remaining(self) -> float | None:
        return None if self._at is None else self._at - self._clock()

    def timeout(
        self, what: str, vendor: str, read_seconds: float = READ_TIMEOUT_SECONDS
    ) -> tuple[float, float]:
        """The (connect, read) timeout for a request starting now - ``read_seconds`` for the
        answer, or what the invocation has left - and a retryable error when there is no time left
        for one."""
        remaining = self.remaining()
        if remaining is None:
            return (CONNECT_TIMEOUT_SECONDS, read_seconds)
        if remaining < MIN_REQUEST_SECONDS:
            raise VendorApiError(vendor, None, f"{what}: no time left in this invocation", retryable=True)
        return (CONNECT_TIMEOUT_SECONDS, min(read_seconds, remaining - CONNECT_TIMEOUT_SECONDS))


class ReportingRetry(Retry):
    """urllib3's ``Retry`` that reports every retry it decides on (for logs, call counters and the
    API budget) and gives up, instead of sleeping, when the server asks to wait longer than
    ``max_wait_seconds`` or when the wait would end past the deadline."""

    def __init__(
        self,
        *args: Any,
        listener: RetryListener | None = None,
        max_wait_seconds: float = MAX_RETRY_AFTER_SECONDS,
        deadline: Deadline | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.listener = listener
        self.max_wait_seconds = max_wait_seconds
        self.deadline = deadline

    def new(self, **kw: Any) -> Self:
        retry = super().new(**kw)
        retry.listener = self.listener
        retry.max_wait_seconds = self.max_wait_seconds
        retry.deadline = self.deadline
        return retry

    def sleep_for_retry(self, response: BaseHTTPResponse) -> bool:
        try:
            return super().sleep_for_retry(response)
        except InvalidHeader:
            return False  # an unreadable Retry-After: the caller falls back to backoff

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        try:
            wait = self.get_retry_after(response) if response is not None else None
        except InvalidHeader:
            wait = None  # an unreadable Retry-After: fall back to exponential backoff
        if wait is not None and wait > self.max_wait_seconds:
            reason = ResponseError(f"Retry-After {wait:.0f}s is too long to wait")
            raise MaxRetryError(_pool, url, reason)  # type: ignore[arg-type]  # urllib3 does the same
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        remaining = self.deadline.remaining() if self.deadline is not None else None
        planned = wait if wait is not None else retry.get_backoff_time()
        if remaining is not None and remaining - planned < MIN_REQUEST_SECONDS:
            reason = ResponseError("no time left in this invocation for another try")
            raise MaxRetryError(_pool, url, reason)  # type: ignore[arg-type]
        if self.listener is not None:
            status = response.status if response is not None else None
            self.listener(method or "", url or "", status, wait, error)
        return retry


def mount_retries(
    session: requests.Session,
    *,
    allowed_methods: Iterable[str],
    listener: RetryListener,
    deadline: Deadline | None = None,
    max_retries: int = MAX_RETRIES,
) -> None:
    """Mount an adapter retrying connection errors, 429 and 5xx with exponential backoff and
    jitter, honouring ``Retry-After``, for ``allowed_methods`` (the caller vouches that they are
    idempotent), within ``deadline``."""
    retry = ReportingRetry(
        total=max_retries,
        connect=max_retries,
        read=max_retries,
        status=max_retries,
        other=0,
        redirect=0,
        allowed_methods=frozenset(m.upper() for m in allowed_methods),
        status_forcelist=RETRY_STATUSES,
        backoff_factor=BACKOFF_FACTOR_SECONDS,
        backoff_max=BACKOFF_MAX_SECONDS,
        backoff_jitter=BACKOFF_JITTER_SECONDS,
        respect_retry_after_header=True,
        raise_on_status=False,  # the final answer is mapped to VendorApiError by the client
        listener=listener,
        deadline=deadline,
    )
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)


def worst_case_call_seconds(max_retries: int = MAX_RETRIES) -> float:
    """How long one call may take with every try timing out and the longest waits between: what
    the deadline exists to cut short."""
    tries = max_retries + 1
    waits = max_retries * max(MAX_RETRY_AFTER_SECONDS, BACKOFF_MAX_SECONDS + BACKOFF_JITTER_SECONDS)
    return tries * (CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS) + waits


def transport_error(vendor: str, what: str, error: requests.RequestException) -> VendorApiError:
    """A request that got no usable answer. Timeouts and dropped connections may pass; TLS and
    malformed-request problems will not."""
    if isinstance(error, requests.exceptions.SSLError):
        return VendorApiError(vendor, None, f"{what}: TLS failure: {error}", retryable=False)
    retryable = isinstance(
        error, requests.Timeout | requests.ConnectionError | requests.exceptions.RetryError
    )
    return VendorApiError(vendor, None, f"{what}: {type(error).__name__}: {error}", retryable=retryable)
