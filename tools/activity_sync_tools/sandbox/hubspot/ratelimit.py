"""HubSpot's API limits, counted against the sandbox clock.

* a rolling ten-second window (private app default: 190 requests) — search requests are exempt
  (the OpenAPI specs mark search with ``x-hubspot-rate-limit-exemptions: ten-secondly``);
* a daily allowance (reset at midnight UTC here; HubSpot uses the account's time zone);
* a per-second limit of its own for search (about 5 requests per second).

Non-search responses carry ``X-HubSpot-RateLimit-*`` headers; search responses carry none.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from .errors import HubSpotError

TEN_SECONDS_MS = 10_000
ONE_SECOND_MS = 1_000
DAY_MS = 86_400_000


@dataclass
class RateLimitSettings:
    per_10s: int = 190
    daily: int = 1_000_000
    search_per_second: int = 5

    def update(self, body: dict[str, Any]) -> None:
        for key, attribute in (
            ("rate_limit_per_10s", "per_10s"),
            ("daily_limit", "daily"),
            ("search_per_second", "search_per_second"),
        ):
            if key in body:
                value = int(body[key])
                if value < 0:
                    raise ValueError(f"{key} must not be negative")
                setattr(self, attribute, value)


@dataclass(frozen=True)
class Admission:
    """A request the limiter let through, with the numbers for its response headers."""

    is_search: bool
    remaining_10s: int
    remaining_daily: int


class RateLimiter:
    def __init__(self, settings: RateLimitSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._ten_second_window: deque[int] = deque()
        self._search_window: deque[int] = deque()
        self._day = -1
        self._daily_used = 0

    def reset_usage(self) -> None:
        with self._lock:
            self._ten_second_window.clear()
            self._search_window.clear()
            self._day = -1
            self._daily_used = 0

    def admit(self, now_ms: int, *, is_search: bool) -> Admission:
        """Count a request, or raise HubSpot's 429 without counting it."""
        with self._lock:
            day = now_ms // DAY_MS
            if day != self._day:
                self._day, self._daily_used = day, 0
            _expire(self._ten_second_window, now_ms - TEN_SECONDS_MS)
            _expire(self._search_window, now_ms - ONE_SECOND_MS)
            if self._daily_used >= self.settings.daily:
                seconds_to_midnight = max(1, ((day + 1) * DAY_MS - now_ms) // 1000)
                raise rate_limit_error("You have reached your daily limit.", "DAILY", seconds_to_midnight)
            if is_search:
                if len(self._search_window) >= self.settings.search_per_second:
                    raise rate_limit_error("You have reached your secondly limit.", "SECONDLY", 1)
                self._search_window.append(now_ms)
            else:
                if len(self._ten_second_window) >= self.settings.per_10s:
                    oldest = self._ten_second_window[0]
                    wait = max(1, -(-(oldest + TEN_SECONDS_MS - now_ms) // 1000))
                    raise rate_limit_error(
                        "You have reached your ten_secondly_rolling limit.", "TEN_SECONDLY_ROLLING", wait
                    )
                self._ten_second_window.append(now_ms)
            self._daily_used += 1
            return Admission(
                is_search=is_search,
                remaining_10s=max(0, self.settings.per_10s - len(self._ten_second_window)),
                remaining_daily=max(0, self.settings.daily - self._daily_used),
            )

    def headers(self, admission: Admission) -> dict[str, str]:
        if admission.is_search:
            return {}
        return {
            "X-HubSpot-RateLimit-Daily": str(self.settings.daily),
            "X-HubSpot-RateLimit-Daily-Remaining": str(admission.remaining_daily),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(TEN_SECONDS_MS),
            "X-HubSpot-RateLimit-Max": str(self.settings.per_10s),
            "X-HubSpot-RateLimit-Remaining": str(admission.remaining_10s),
        }

    def describe(self, now_ms: int) -> dict[str, Any]:
        with self._lock:
            _expire(self._ten_second_window, now_ms - TEN_SECONDS_MS)
            _expire(self._search_window, now_ms - ONE_SECOND_MS)
            daily_used = self._daily_used if now_ms // DAY_MS == self._day else 0
            return {
                "rate_limit_per_10s": self.settings.per_10s,
                "daily_limit": self.settings.daily,
                "search_per_second": self.settings.search_per_second,
                "used_10s": len(self._ten_second_window),
                "used_search_1s": len(self._search_window),
                "used_daily": daily_used,
            }


def rate_limit_error(message: str, policy: str, retry_after: int) -> HubSpotError:
    return HubSpotError(
        429,
        message,
        "RATE_LIMITS",
        extra={"errorType": "RATE_LIMIT", "policyName": policy},
        headers={"Retry-After": str(retry_after)},
    )


def _expire(window: deque[int], before: int) -> None:
    while window and window[0] <= before:
        window.popleft()
