"""One API budget per vendor, shared by every function of the stack (R18).

Thirteen syncers, the contact linker and the poller call HubSpot and Salesforce at the same time;
each asks its vendor's budget before every call, and the budget lives in one DynamoDB item per
vendor and hour (sync state table, ``pk`` = ``budget#<vendor>``, ``sk`` = ``hour#YYYYMMDDHH``),
changed only by conditional updates, so concurrent functions can never spend more than it allows:

* **rate windows** (HubSpot: ``hubspot_requests_per_10s`` per rolling 10 seconds, default 190 for
  a Professional private app, and ``hubspot_searches_per_second``, default 4), kept as fixed
  windows small enough that no rolling span the vendor counts sees more (``VendorLimits``): the
  item holds the current window and what was reserved in it;
* **the operator's allocation** (``salesforce_daily_allocation``, ``hubspot_daily_allocation``:
  calls per rolling 24 hours): a reservation succeeds only if the current hour plus the 24
  complete hours before it stay within it (a little stricter than a rolling day, never looser);
* **the vendor's own daily figure** (``Sforce-Limit-Info: api-usage=used/max``,
  ``X-HubSpot-RateLimit-Daily-Remaining``): recorded from responses, and the service stops
  before the last ``VENDOR_RESERVE_SHARE`` of it, which is left to the org's other integrations.

Marketing activities stop at 80 % of each limit, sales activities may use it all
(``rules.priority``). A function reserves a few calls at a time (one conditional UpdateItem,
usually, per reservation) and spends them locally. When the budget is spent it waits for the next
window if that is a moment away, else raises ``BudgetExhausted`` and its messages go back to their
queue with a delay (``waiting: api_budget``), without spending a delivery towards the dead-letter
queue.

The item's counters are plain top-level numbers written with UpdateItem expressions (a per-type
split, ``t_<type>``, has a name per type), so this adapter talks to DynamoDB through boto3
rather than a pynamodb model.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import boto3
from botocore.exceptions import ClientError

from activity_sync.domain import SyncType
from activity_sync.observability import logger
from activity_sync.ports import BudgetExhausted
from activity_sync.rules.priority import Priority, priority_of, usable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

HUBSPOT = "hubspot"
SALESFORCE = "salesforce"
HUBSPOT_WINDOW_SECONDS = 10.0
DEFAULT_HUBSPOT_REQUESTS_PER_10S = 190  # a Professional or Enterprise private app
DEFAULT_HUBSPOT_SEARCHES_PER_SECOND = 4  # HubSpot documents "about 4-5" per token
VENDOR_RESERVE_SHARE = 0.1  # of the vendor's own daily limit, left to the org's other integrations
HOURS_KEPT = 48  # hours a budget item is kept (TTL): the rolling day and a margin
MAX_CHUNK = 5
SQS_MAX_DELAY_SECONDS = 900
# The longest a message handed back for the budget waits before it tries again (SQS allows 15
# minutes). Lower it to notice sooner a budget that returns (an allocation raised, a test).
HOLD_SECONDS = max(
    1, min(SQS_MAX_DELAY_SECONDS, int(os.environ.get("ACTIVITY_SYNC_BUDGET_HOLD_SECONDS") or 900))
)

Kind = Literal["call", "search"]


@dataclass(frozen=True)
class VendorLimits:
    """What a vendor allows the service, as the settings and the vendor's answers say."""

    calls_per_window: int | None = None
    window_seconds: float = HUBSPOT_WINDOW_SECONDS
    searches_per_second: int | None = None
    daily_allocation: int | None = None

    @classmethod
    def rolling(
        cls, calls: int, seconds: float, *, searches_per_second: int | None, daily_allocation: int | None
    ) -> VendorLimits:
        """``calls`` in any ``seconds`` however placed, as HubSpot counts (a rolling window, on the
        instants its calls arrive): fixed windows of a tenth of the span, each allowed a twelfth of
        the calls. A rolling span overlaps at most eleven windows, and a twelfth when a call reserved
        at the end of one arrives in the next (up to a window's length later), so the vendor never
        sees more than ``calls``."""
        return cls(
            calls_per_window=max(1, calls // 12),
            window_seconds=seconds / 10,
            searches_per_second=searches_per_second,
            daily_allocation=daily_allocation,
        )

    @property
    def searches_per_window(self) -> int | None:
        """Searches allowed in each fixed one-second window: a third of the rate, since a rolling
        second overlaps two windows and a third when a search arrives up to a second after it was
        reserved (at least one: below three a second, a rolling second may see up to three)."""
        return max(1, self.searches_per_second // 3) if self.searches_per_second else None


def hour_id(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y%m%d%H")


def _type_attribute(sync_key: str | None) -> str:
    return "t_" + re.sub(r"[^a-z0-9_]", "_", sync_key or "shared")


@dataclass
class _Window:
    """This container's view of the item: the windows it saw last and the vendor's figures."""

    window: int | None = None
    search_window: int | None = None


class ApiBudget:
    """The budget of one vendor, as one function sees it (one per container and vendor)."""

    def __init__(
        self,
        vendor: str,
        table: str,
        limits: Callable[[], VendorLimits],
        *,
        client: DynamoDBClient | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        max_wait_seconds: float = 3.0,
    ) -> None:
        self.vendor = vendor
        self._table = table
        self._limits = limits
        self._client = client
        self._clock = clock
        self._sleep = sleep
        self.max_wait_seconds = max_wait_seconds
        self.priority = Priority.HIGH
        self.sync_key: str | None = None
        self._lock = threading.Lock()
        self._seen = _Window()
        self._allowance = 0
        self._allowance_window: tuple[str, int | None, VendorLimits, Priority] | None = None
        self._chunk = 1
        self._spent_in_chunk = 0
        self._previous: tuple[str, int] | None = None  # (hour, calls in the 24 hours before it)
        self._vendor_remaining: int | None = None
        self._vendor_limit: int | None = None
        self._vendor_dirty = False
        self.reserved = 0  # calls reserved by this container (figures, tests)
        self.acquired = 0  # calls permitted to this container: the calls it made

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            self._client = boto3.client("dynamodb")
        return self._client

    @contextmanager
    def working_for(self, sync_type: SyncType | None) -> Iterator[None]:
        """Spend on behalf of ``sync_type`` (its priority and its share of the figures)."""
        previous = (self.priority, self.sync_key)
        self.priority, self.sync_key = priority_of(sync_type), sync_type.key if sync_type else None
        try:
            yield
        finally:
            self.priority, self.sync_key = previous

    # -- what the vendor says --------------------------------------------------------------------
    def observe(self, remaining: int | None, limit: int | None) -> None:
        """The vendor's own daily figures from a response's headers (recorded with the next
        reservation: no extra request)."""
        if remaining is None:
            return
        with self._lock:
            self._vendor_remaining = remaining
            self._vendor_limit = limit if limit is not None else self._vendor_limit
            self._vendor_dirty = True

    # -- spending --------------------------------------------------------------------------------
    def acquire(self, kind: Kind = "call") -> None:
        """Permission for one call (a search counts against both the call and the search limits);
        waits a moment for a new window, else raises BudgetExhausted."""
        with self._lock:
            while True:
                try:
                    self._take(kind)
                    self.acquired += 1
                    return
                except _WaitFor as wait:
                    if wait.seconds > self.max_wait_seconds:
                        logger.warning(
                            "API budget spent",
                            extra={"vendor": self.vendor, "scope": wait.scope, "retry_after": wait.seconds},
                        )
                        raise BudgetExhausted(
                            self.vendor, wait.scope, wait.seconds, hold_seconds=HOLD_SECONDS
                        ) from None
                    self._sleep(max(wait.seconds, 0.01))

    def _take(self, kind: Kind) -> None:
        self._check_vendor_floor()
        now = self._clock()
        limits = self._limits()
        window = self._window_number(now, limits)
        # Calls reserved ahead are spent only in the window, under the limits and for the priority
        # they were reserved for: an allocation lowered (or a job of lower priority) reserves anew.
        current = (hour_id(now), window, limits, self.priority)
        if kind == "call" and self._allowance > 0 and self._allowance_window == current:
            self._allowance -= 1
            self._spent_in_chunk += 1
            return
        # Size the next reservation by how much of the last one was used: a busy container takes
        # a few calls at a time, an idle one no more than it needs.
        self._chunk = min(MAX_CHUNK, self._spent_in_chunk + 1) if self._allowance == 0 else 1
        if limits.calls_per_window:
            self._chunk = max(1, min(self._chunk, usable(limits.calls_per_window, self.priority)))
        calls = 1 if kind == "search" else self._chunk
        calls = self._reserve(now, limits, calls=calls, searches=1 if kind == "search" else 0)
        if kind == "call":
            self._allowance, self._allowance_window, self._spent_in_chunk = calls - 1, current, 1

    def _check_vendor_floor(self) -> None:
        if self._vendor_remaining is None or not self._vendor_limit:
            return
        floor = math.ceil(self._vendor_limit * VENDOR_RESERVE_SHARE)
        if self.priority is Priority.LOW:
            floor = max(floor, self._vendor_limit - usable(self._vendor_limit, Priority.LOW))
        if self._vendor_remaining <= floor:
            # The vendor's day is nearly spent by everyone: wait for the next hour's look.
            raise _WaitFor("the vendor's daily limit", self._seconds_to_next_hour())

    @staticmethod
    def _window_number(now: float, limits: VendorLimits) -> int | None:
        return int(now // limits.window_seconds) if limits.calls_per_window else None

    def _seconds_to_next_hour(self) -> float:
        now = self._clock()
        return 3600 - (now % 3600)

    def _reserve(self, now: float, limits: VendorLimits, *, calls: int, searches: int) -> int:
        """Reserve ``calls`` (fewer if only fewer are left) and ``searches``; how many calls."""
        hour = hour_id(now)
        window = self._window_number(now, limits)
        search_window = int(now) if searches and limits.searches_per_window else None
        for _ in range(4):
            expression = _Update(calls)
            expression.add("used", ":calls")
            expression.add(_type_attribute(self.sync_key), ":calls")
            if limits.daily_allocation is not None:
                cap = usable(limits.daily_allocation, self.priority) - self._used_before(hour) - calls
                if cap < 0:
                    raise _WaitFor("the daily allocation", self._seconds_to_next_hour())
                expression.condition("attribute_not_exists(used) OR used <= :day_cap", {":day_cap": cap})
            if window is not None and limits.calls_per_window:
                cap = usable(limits.calls_per_window, self.priority) - calls
                if cap < 0:  # this priority may not call at all at such a low rate
                    raise _WaitFor("the 10-second rate", SQS_MAX_DELAY_SECONDS)
                expression.window("w", "wused", window, cap, calls, same=self._seen.window == window)
            if search_window is not None and limits.searches_per_window:
                cap = usable(limits.searches_per_window, self.priority) - searches
                if cap < 0:
                    raise _WaitFor("the search rate", SQS_MAX_DELAY_SECONDS)
                expression.window(
                    "sw",
                    "sused",
                    search_window,
                    cap,
                    searches,
                    same=self._seen.search_window == search_window,
                )
            if self._vendor_dirty and self._vendor_remaining is not None:
                expression.set("vendor_remaining", ":vr", self._vendor_remaining)
                expression.set("vendor_limit", ":vl", self._vendor_limit or 0)
                expression.set("vendor_seen_at", ":vs", int(now))
            expression.set("expires_at", ":ttl", int(now) + HOURS_KEPT * 3600)
            try:
                self.client.update_item(
                    TableName=self._table,
                    Key={"pk": {"S": f"budget#{self.vendor}"}, "sk": {"S": f"hour#{hour}"}},
                    **expression.arguments(),
                )
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
                calls = self._explain_refusal(hour, now, limits, window, search_window, calls, searches)
                continue
            self._seen.window = window if window is not None else self._seen.window
            self._seen.search_window = (
                search_window if search_window is not None else self._seen.search_window
            )
            self._vendor_dirty = False
            self.reserved += calls
            return calls
        raise _WaitFor("a busy budget", 0.1)

    def _explain_refusal(
        self,
        hour: str,
        now: float,
        limits: VendorLimits,
        window: int | None,
        search_window: int | None,
        calls: int,
        searches: int,
    ) -> int:
        """A conditional update was refused: read the item to see which branch to take next and
        how many calls are left to take (fewer than asked, at the end of a window or a day), or
        which limit is spent (raises _WaitFor)."""
        item = self._read(hour)
        stored_window = _number(item, "w")
        stored_search = _number(item, "sw")
        self._seen.window, self._seen.search_window = stored_window, stored_search
        left = calls
        if limits.daily_allocation is not None:
            cap = usable(limits.daily_allocation, self.priority) - self._used_before(hour)
            left = min(left, cap - (_number(item, "used") or 0))
            if left < 1:
                raise _WaitFor("the daily allocation", self._seconds_to_next_hour())
        if window is not None and limits.calls_per_window:
            if stored_window is not None and stored_window > window:
                raise _WaitFor(
                    "the 10-second rate (clock skew)", (stored_window - window) * limits.window_seconds
                )
            if stored_window == window:
                left = min(
                    left, usable(limits.calls_per_window, self.priority) - (_number(item, "wused") or 0)
                )
                if left < 1:
                    raise _WaitFor("the 10-second rate", (window + 1) * limits.window_seconds - now)
        if search_window is not None and limits.searches_per_window:
            if stored_search is not None and stored_search > search_window:
                raise _WaitFor("the search rate (clock skew)", float(stored_search - search_window))
            if stored_search == search_window and (_number(item, "sused") or 0) + searches > usable(
                limits.searches_per_window, self.priority
            ):
                raise _WaitFor("the search rate", search_window + 1 - now)
        return max(1, left)

    def _read(self, hour: str) -> dict[str, Any]:
        response = self.client.get_item(
            TableName=self._table,
            Key={"pk": {"S": f"budget#{self.vendor}"}, "sk": {"S": f"hour#{hour}"}},
            ConsistentRead=True,
        )
        return dict(response.get("Item") or {})

    def _used_before(self, hour: str) -> int:
        """Calls reserved in the 24 complete hours before ``hour`` (final once past: read once an
        hour per container)."""
        if self._previous is not None and self._previous[0] == hour:
            return self._previous[1]
        start = dt.datetime.strptime(hour, "%Y%m%d%H").replace(tzinfo=dt.UTC)
        keys = [
            {
                "pk": {"S": f"budget#{self.vendor}"},
                "sk": {"S": f"hour#{(start - dt.timedelta(hours=h)):%Y%m%d%H}"},
            }
            for h in range(1, 25)
        ]
        total = 0
        request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
        while request:
            response = self.client.batch_get_item(RequestItems=request)
            total += sum(
                _number(item, "used") or 0 for item in response.get("Responses", {}).get(self._table, [])
            )
            request = dict(response.get("UnprocessedKeys") or {})
        self._previous = (hour, total)
        return total

    # -- figures -----------------------------------------------------------------------------------
    def usage(self, hours: int = 24) -> dict[str, Any]:
        """Calls reserved over the last ``hours`` (this hour included), by type, with the vendor's
        last figures: what ``activity-sync status`` shows."""
        now = self._clock()
        start = dt.datetime.fromtimestamp(now, dt.UTC).replace(minute=0, second=0, microsecond=0)
        keys = [
            {
                "pk": {"S": f"budget#{self.vendor}"},
                "sk": {"S": f"hour#{(start - dt.timedelta(hours=h)):%Y%m%d%H}"},
            }
            for h in range(hours)
        ]
        used = 0
        by_type: dict[str, int] = {}
        vendor: dict[str, int] = {}
        latest_seen = -1
        response = self.client.batch_get_item(RequestItems={self._table: {"Keys": keys}})
        for item in response.get("Responses", {}).get(self._table, []):
            used += _number(item, "used") or 0
            for name, value in item.items():
                if name.startswith("t_") and "N" in value:
                    key = name.removeprefix("t_")
                    by_type[key] = by_type.get(key, 0) + int(value["N"])
            seen = _number(item, "vendor_seen_at")
            if seen is not None and seen > latest_seen:
                latest_seen = seen
                vendor = {
                    "remaining": _number(item, "vendor_remaining") or 0,
                    "limit": _number(item, "vendor_limit") or 0,
                    "seen_at": seen,
                }
        return {"used": used, "by_type": by_type, "vendor": vendor or None}


class _WaitFor(Exception):
    """A signal inside ApiBudget (never raised out of it): a limit is spent for ``seconds``."""

    def __init__(self, scope: str, seconds: float) -> None:
        super().__init__(scope)
        self.scope = scope
        self.seconds = max(0.0, seconds)


def _number(item: dict[str, Any], name: str) -> int | None:
    value = item.get(name)
    return int(value["N"]) if isinstance(value, dict) and "N" in value else None


class _Update:
    """An UpdateItem expression assembled from parts."""

    def __init__(self, calls: int) -> None:
        self._adds: list[str] = []
        self._sets: list[str] = []
        self._conditions: list[str] = []
        self._names: dict[str, str] = {}
        self._values: dict[str, dict[str, str]] = {":calls": {"N": str(calls)}}

    def _name(self, attribute: str) -> str:
        placeholder = f"#a{len(self._names)}"
        self._names[placeholder] = attribute
        return placeholder

    def add(self, attribute: str, value: str) -> None:
        self._adds.append(f"{self._name(attribute)} {value}")

    def set(self, attribute: str, placeholder: str, value: int) -> None:
        self._sets.append(f"{self._name(attribute)} = {placeholder}")
        self._values[placeholder] = {"N": str(value)}

    def condition(self, text: str, values: dict[str, int]) -> None:
        self._conditions.append(text)
        self._values.update({k: {"N": str(v)} for k, v in values.items()})

    def window(
        self, window_attr: str, used_attr: str, number: int, cap: int, amount: int, *, same: bool
    ) -> None:
        """Reserve ``amount`` in window ``number``: added to it when it is the stored one (and
        stays within ``cap``), or starting it when the stored one is older."""
        w, u = self._name(window_attr), self._name(used_attr)
        number_value, cap_value, amount_value = f":{window_attr}", f":{window_attr}_cap", f":{window_attr}_n"
        self._values[number_value] = {"N": str(number)}
        self._values[amount_value] = {"N": str(amount)}
        if same:
            self._conditions.append(f"{w} = {number_value} AND {u} <= {cap_value}")
            self._values[cap_value] = {"N": str(cap)}
            self._adds.append(f"{u} {amount_value}")
        else:
            self._conditions.append(f"attribute_not_exists({w}) OR {w} < {number_value}")
            self._sets.append(f"{w} = {number_value}")
            self._sets.append(f"{u} = {amount_value}")

    def arguments(self) -> dict[str, Any]:
        parts = []
        if self._sets:
            parts.append("SET " + ", ".join(self._sets))
        if self._adds:
            parts.append("ADD " + ", ".join(self._adds))
        arguments: dict[str, Any] = {
            "UpdateExpression": " ".join(parts),
            "ExpressionAttributeNames": self._names,
            "ExpressionAttributeValues": self._values,
        }
        if self._conditions:
            # DynamoDB refuses redundant parentheses: only a disjunction among others needs them.
            parts = [f"({c})" if " OR " in c and len(self._conditions) > 1 else c for c in self._conditions]
            arguments["ConditionExpression"] = " AND ".join(parts)
        return arguments
