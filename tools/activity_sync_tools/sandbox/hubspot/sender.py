"""The background sender behind both kinds of HubSpot webhook: the app's subscriptions
(:mod:`.webhooks`: batches of events, signed) and the workflow *Send a webhook* action
(:mod:`.workflows`: one activity a request, with a bearer token).

Requests wait in a queue; a daemon thread sends each once it is due and records every attempt as a
delivery. Up to ``max_concurrent_requests`` are in flight at once, a new one leaving as soon as one
is answered, as HubSpot's webhook throttling allows (``maxConcurrentRequests`` in the webhooks v3
settings; *Event throttling* in the app's Webhooks tab). A failure is queued again with
``attemptNumber`` + 1 after a doubling backoff (scaled down to fractions of a second; a 429 waits
``Retry-After`` times ``retry_after_scale``) until an answer is final or the settings allow no more
attempts. ``flush`` sends everything pending at once. A subclass says what differs: the request,
how many queued items share one, and which answers are final.

``deliver_twice`` (a fault-injection setting) sends every request that was answered 2XX once more
at once, byte for byte (same body, signature, timestamp and ids), as a sender that missed the
acknowledgement would; the copy is logged with trigger ``duplicate`` and ``duplicateOf`` (the
original's ``deliveryId``), and is never retried. ``duplicates_sent`` counts them since the last
reset.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, ClassVar

import requests

MAX_CONCURRENT_REQUESTS = 100


@dataclass
class SenderSettings:
    """How the sender times out and retries a request (HubSpot's rules, scaled down); the two kinds
    of webhook extend these with their own settings."""

    max_retries: int = 10
    retry_backoff_seconds: float = 0.05
    max_backoff_seconds: float = 2.0
    retry_after_scale: float = 1.0
    timeout_seconds: float = 5.0
    deliver_twice: bool = False  # every acknowledged request is sent again (receivers must dedupe)
    max_concurrent_requests: int = 1  # requests in flight at once (settable where the vendor lets one)

    RETRY_NUMBERS = ("retry_backoff_seconds", "max_backoff_seconds", "retry_after_scale", "timeout_seconds")

    def may_retry(self, attempt_number: int) -> bool:
        """Whether a request that failed at ``attempt_number`` is sent again."""
        return attempt_number < self.max_retries

    def set_numbers(self, body: dict[str, Any], names: tuple[str, ...]) -> None:
        """Set the seconds and factors ``names`` that ``body`` gives; ValueError when one is negative."""
        for name in names:
            if name in body:
                value = float(body[name])
                if value < 0:
                    raise ValueError(f"{name} must not be negative")
                setattr(self, name, value)

    def set_deliver_twice(self, body: dict[str, Any]) -> None:
        """Set ``deliver_twice`` when ``body`` gives it; ValueError unless it is true or false."""
        if "deliver_twice" in body:
            if not isinstance(body["deliver_twice"], bool):
                raise ValueError("deliver_twice must be true or false")
            self.deliver_twice = body["deliver_twice"]

    def set_max_concurrent_requests(self, body: dict[str, Any]) -> None:
        """Set ``max_concurrent_requests`` when ``body`` gives it; ValueError unless it is 1 to 100."""
        if "max_concurrent_requests" in body:
            value = body["max_concurrent_requests"]
            whole = isinstance(value, int) and not isinstance(value, bool)
            if not whole or not 1 <= value <= MAX_CONCURRENT_REQUESTS:
                raise ValueError(
                    f"max_concurrent_requests must be a whole number from 1 to {MAX_CONCURRENT_REQUESTS}"
                )
            self.max_concurrent_requests = value

    def describe(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in ("max_retries", *self.RETRY_NUMBERS, "deliver_twice")}


@dataclass
class Queued[ContentT]:
    """What one request carries, waiting to be sent (again)."""

    content: ContentT
    sequence: int  # kept by its retries: one flush sends it at most once
    attempt_number: int = 0
    due_at: float = 0.0  # time.monotonic(): not sent before (retry backoff)
    queued_at: float = 0.0  # time.monotonic(): a batching window runs from here

    def ready_at(self, batch_window: float) -> float:
        return max(self.due_at, self.queued_at + batch_window)


@dataclass(frozen=True)
class OutgoingRequest:
    """One POST the sender makes."""

    url: str
    body: str
    headers: dict[str, str]
    shown: dict[str, Any]  # what its delivery record shows of it, after the fields every record has
    follow_redirects: bool = True


@dataclass
class Delivery:
    """One attempt, as the deliveries admin routes list it."""

    delivery_id: int
    trigger: str  # background | flush | duplicate
    at: str
    url: str
    status: int | None
    error: str | None
    outcome: str  # delivered | retrying | rejected | abandoned
    duration_ms: int
    shown: dict[str, Any]
    retry_in_seconds: float | None = None
    duplicate_of: int | None = None  # a deliver_twice copy: the original's delivery id

    # A flat JSON object like several others here (options, settings); only the shape is shared.
    def to_api(self) -> dict[str, Any]:
        body = {
            "deliveryId": self.delivery_id,
            "trigger": self.trigger,
            "at": self.at,
            "url": self.url,
            "status": self.status,
            "error": self.error,
            "outcome": self.outcome,
            "durationMs": self.duration_ms,
            "retryInSeconds": self.retry_in_seconds,
            **self.shown,
        }
        if self.duplicate_of is not None:
            body["duplicateOf"] = self.duplicate_of
        return body


class BackgroundSender[ContentT](ABC):
    """Queues requests and sends them from a background thread, retrying failures with backoff.

    Subclasses set ``settings``, ``thread_name`` and ``batch_size`` and implement the abstract
    methods below; the base class owns the queue, the thread, the retries and the delivery log.
    """

    thread_name: ClassVar[str]
    batch_size: ClassVar[int] = 1
    settings: SenderSettings

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._delivery_lock = threading.Lock()
        self._pending: list[Queued[ContentT]] = []
        self._deliveries: collections.deque[Delivery] = collections.deque(maxlen=10_000)
        self._next_sequence = 1
        self._next_delivery_id = 1
        self.duplicates_sent = 0
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._sessions: list[requests.Session] = []
        self._pool: ThreadPoolExecutor | None = None  # the threads of concurrent requests, kept
        self._thread_session = threading.local()  # one Session a sending thread: none is shared

    # -- what a subclass says ------------------------------------------------------------------
    @abstractmethod
    def _request(self, batch: list[Queued[ContentT]]) -> OutgoingRequest:
        """The POST that carries ``batch`` (at most ``batch_size`` items)."""

    @abstractmethod
    def _is_rejection(self, status: int) -> bool:
        """Whether a non-2XX ``status`` is final (not retried)."""

    @abstractmethod
    def _reset_own_state(self) -> None:
        """A subclass's part of :meth:`reset` (called with the sender idle and locked)."""

    def _batch_window_seconds(self) -> float:
        """How long a new item waits for others to share its request."""
        return 0.0

    def _has_target(self) -> bool:
        """Whether pending items can be sent now (False keeps them queued)."""
        return True

    # -- state ---------------------------------------------------------------------------------
    def reset(self) -> None:
        # Wait out an in-flight delivery so that nothing it requeues survives the reset.
        with self._idle():
            self._pending.clear()
            self._deliveries.clear()
            self._next_sequence = self._next_delivery_id = 1
            self.duplicates_sent = 0
            self._reset_own_state()

    @contextlib.contextmanager
    def _idle(self) -> Iterator[None]:
        """Hold the queue with no request in flight, so that no retry is queued meanwhile."""
        with self._delivery_lock, self._condition:
            yield

    def deliveries(self) -> list[dict[str, Any]]:
        with self._condition:
            return [d.to_api() for d in self._deliveries]

    def clear_deliveries(self) -> None:
        with self._condition:
            self._deliveries.clear()

    def pending_count(self) -> int:
        with self._condition:
            return len(self._pending)

    def settings_changed(self) -> None:
        """Wake the sender so that changed settings (a batching window, a target) apply at once."""
        with self._condition:
            self._condition.notify_all()

    # -- sending -------------------------------------------------------------------------------
    def _queue(self, contents: list[ContentT]) -> None:
        """Queue a request for each of ``contents``, to be sent as soon as the batching allows."""
        if not contents:
            return
        with self._condition:
            for content in contents:
                now = time.monotonic()
                self._pending.append(Queued(content, self._next_sequence, 0, now, now))
                self._next_sequence += 1
            self._ensure_sender()
            self._condition.notify_all()

    def flush(self) -> list[dict[str, Any]]:
        """Send every pending request now (each at most once), ignoring batching and backoff."""
        return [d.to_api() for d in self._deliver("flush", include_not_due=True)]

    def close(self) -> None:
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._condition:
            sessions, self._sessions = self._sessions, []
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        for session in sessions:
            session.close()

    def _ensure_sender(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._stopping and not self._pending:
                    self._condition.wait()
                if self._stopping:
                    return
                # Wait out the batching window so that a burst of changes shares a request.
                window = self._batch_window_seconds()
                wait = min(p.ready_at(window) for p in self._pending) - time.monotonic()
                if wait > 0:
                    self._condition.wait(timeout=wait)
                    continue
            self._deliver("background", include_not_due=False)

    def _deliver(self, trigger: str, *, include_not_due: bool) -> list[Delivery]:
        """Send what is pending (each item at most once), up to ``max_concurrent_requests`` requests
        in flight: the next leaves as soon as one is answered. Answers the deliveries in the order
        their requests left."""
        posted: list[list[Delivery]] = []
        in_flight: dict[Future[list[Delivery]], int] = {}
        attempted: set[int] = set()
        with self._delivery_lock:
            while True:
                batch = self._take(attempted, include_not_due) if len(in_flight) < self._limit() else []
                if batch:
                    attempted.update(p.sequence for p in batch)
                    posted.append([])
                    if self._limit() == 1 and not in_flight:
                        posted[-1] = self._post(batch, trigger)
                    else:
                        in_flight[self._senders().submit(self._post, batch, trigger)] = len(posted) - 1
                    continue
                if not in_flight:
                    return [delivery for deliveries in posted for delivery in deliveries]
                answered, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in answered:
                    posted[in_flight.pop(future)] = future.result()

    def _limit(self) -> int:
        return max(1, self.settings.max_concurrent_requests)

    def _take(self, attempted: set[int], include_not_due: bool) -> list[Queued[ContentT]]:
        """The next request's items (none when nothing is ready or there is no target)."""
        with self._condition:
            now = time.monotonic()
            ready = [
                p
                for p in self._pending
                if p.sequence not in attempted and (include_not_due or p.due_at <= now)
            ][: self.batch_size]
            if not ready or not self._has_target():
                return []
            taken = {p.sequence for p in ready}
            self._pending = [p for p in self._pending if p.sequence not in taken]
            return ready

    def _post(self, batch: list[Queued[ContentT]], trigger: str) -> list[Delivery]:
        """Send ``batch``'s request and log it (and its copy, with ``deliver_twice``)."""
        request = self._request(batch)
        delivery, retry_after = self._send(request, trigger)
        if _succeeded(delivery.status):
            pass
        elif delivery.status is not None and self._is_rejection(delivery.status):
            delivery.outcome = "rejected"
        else:
            self._schedule_retries(batch, delivery, delivery.status, retry_after)
        self._log(delivery)
        if not (_succeeded(delivery.status) and self.settings.deliver_twice):
            return [delivery]
        # The very same request (signature and timestamp included) right away; a copy that fails
        # is not retried: the original already got through.
        duplicate, _ = self._send(request, "duplicate")
        duplicate.duplicate_of = delivery.delivery_id
        if duplicate.status is not None and self._is_rejection(duplicate.status):
            duplicate.outcome = "rejected"
        elif not _succeeded(duplicate.status):
            duplicate.outcome = "abandoned"
        self._log(duplicate)
        with self._condition:
            self.duplicates_sent += 1
        return [delivery, duplicate]

    def _send(self, request: OutgoingRequest, trigger: str) -> tuple[Delivery, str | None]:
        """POST ``request`` once: its delivery record (outcome ``delivered`` until the caller says
        otherwise) and the answer's ``Retry-After``."""
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        retry_after: str | None = None
        try:
            response = self._session().post(
                request.url,
                data=request.body.encode(),
                headers=request.headers,
                timeout=self.settings.timeout_seconds,
                allow_redirects=request.follow_redirects,
            )
            status = response.status_code
            retry_after = response.headers.get("Retry-After")
            response.close()
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        delivery = Delivery(
            delivery_id=0,
            trigger=trigger,
            at=dt.datetime.now(dt.UTC).isoformat(),
            url=request.url,
            status=status,
            error=error,
            outcome="delivered",
            duration_ms=int((time.monotonic() - started) * 1000),
            shown=request.shown,
        )
        return delivery, retry_after

    def _senders(self) -> ThreadPoolExecutor:
        with self._condition:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(MAX_CONCURRENT_REQUESTS, thread_name_prefix=self.thread_name)
            return self._pool

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._thread_session, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False  # requests go straight to the target, never via a proxy
            self._thread_session.session = session
            with self._condition:
                self._sessions.append(session)
        return session

    def _log(self, delivery: Delivery) -> None:
        with self._condition:
            delivery.delivery_id = self._next_delivery_id
            self._next_delivery_id += 1
            self._deliveries.append(delivery)

    def _schedule_retries(
        self, batch: list[Queued[ContentT]], delivery: Delivery, status: int | None, retry_after: str | None
    ) -> None:
        settings = self.settings
        retrying = [p for p in batch if settings.may_retry(p.attempt_number)]
        if not retrying:
            delivery.outcome = "abandoned"
            return
        attempt = min(p.attempt_number for p in retrying)
        delay = min(settings.retry_backoff_seconds * (2**attempt), settings.max_backoff_seconds)
        if status == 429 and retry_after:
            with contextlib.suppress(ValueError):
                delay = float(retry_after) * settings.retry_after_scale
        delivery.outcome = "retrying"
        delivery.retry_in_seconds = delay
        now = time.monotonic()
        with self._condition:
            for failed in retrying:
                retry = Queued(failed.content, failed.sequence, failed.attempt_number + 1, now + delay, now)
                self._pending.append(retry)
            self._condition.notify_all()


def _succeeded(status: int | None) -> bool:
    return status is not None and 200 <= status < 300
