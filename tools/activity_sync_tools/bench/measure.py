"""What the bench counts, and how counts before and after a phase become what the phase cost.

A :class:`Counts` is read from the running world (the sandboxes' request counters, the embedded
AWS's meter, the local runtime's function metrics); the difference of two is the phase's
:class:`Counts` too. Everything here is pure: the workload reads, this module subtracts and adds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Vendor routes that are not the service spending its API budget: OAuth token requests (their own
# limits, not the daily API allocation) and the form posts the bench makes as site visitors.
EXCLUDED_ROUTE_PARTS = ("/services/oauth2/", "/submissions/v3/integration/")

# Who the embedded AWS counted requests for (see activity_sync_tools.local.metering): the
# functions by logical id, the SQS event sources, the runtime's own bookkeeping and other clients.
EVENT_SOURCES = "(event sources)"
NOT_THE_SERVICE = ("(local runtime)", "(client)")
EMPTY_RECEIVE = "ReceiveMessage (empty)"

FUNCTION_FIELDS = (
    "invocations",
    "errors",
    "cold_starts",
    "duration_ms",
    "billed_duration_ms",
    "cpu_ms",
    "init_duration_ms",
    "init_cpu_ms",
    "gb_seconds",
    "init_gb_seconds",
)


def service_routes(counters: Mapping[str, int]) -> Counter[str]:
    """A sandbox's request counters without the routes that are not the service's API spend."""
    return Counter(
        {
            route: count
            for route, count in counters.items()
            if count and not any(part in route for part in EXCLUDED_ROUTE_PARTS)
        }
    )


@dataclass
class Counts:
    """Everything counted at one moment (or, as a difference, over a phase)."""

    salesforce: Counter[str] = field(default_factory=Counter)  # requests by route
    hubspot: Counter[str] = field(default_factory=Counter)
    aws_requests: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # service, op, caller
    read_units: Counter[tuple[str, str]] = field(default_factory=Counter)  # table, caller
    write_units: Counter[tuple[str, str]] = field(default_factory=Counter)
    functions: dict[str, Counter[str]] = field(default_factory=dict)  # logical id -> FUNCTION_FIELDS
    memory_mb: dict[str, int] = field(default_factory=dict)
    refused: int = 0  # AWS requests the embedded AWS refused as IAM would (a role lacking a right)

    @classmethod
    def read(
        cls,
        *,
        salesforce_counters: Mapping[str, int],
        hubspot_counters: Mapping[str, int],
        aws_usage: Mapping[str, Any],
        function_metrics: Mapping[str, Mapping[str, Any]],
    ) -> Counts:
        counts = cls(
            salesforce=service_routes(salesforce_counters),
            hubspot=service_routes(hubspot_counters),
        )
        counts.refused = int(aws_usage.get("refused_count", 0))
        for row in aws_usage.get("requests", []):
            counts.aws_requests[(row["service"], row["operation"], row["caller"])] += int(row["count"])
        for row in aws_usage.get("dynamodb_capacity", []):
            key = (str(row["table"]), str(row["caller"]))
            counts.read_units[key] += float(row["read_units"])  # type: ignore[assignment]
            counts.write_units[key] += float(row["write_units"])  # type: ignore[assignment]
        for function_id, metrics in function_metrics.items():
            counts.functions[function_id] = Counter({name: metrics.get(name, 0) for name in FUNCTION_FIELDS})
            counts.memory_mb[function_id] = int(metrics.get("memory_mb", 0))
        return counts

    def __sub__(self, before: Counts) -> Counts:
        return Counts(
            salesforce=_minus(self.salesforce, before.salesforce),
            hubspot=_minus(self.hubspot, before.hubspot),
            aws_requests=_minus(self.aws_requests, before.aws_requests),
            read_units=_minus(self.read_units, before.read_units),
            write_units=_minus(self.write_units, before.write_units),
            functions={
                function_id: _minus(metrics, before.functions.get(function_id, Counter()))
                for function_id, metrics in self.functions.items()
            },
            memory_mb=dict(self.memory_mb),
            refused=self.refused - before.refused,
        )

    def __add__(self, other: Counts) -> Counts:
        function_ids = set(self.functions) | set(other.functions)
        return Counts(
            salesforce=self.salesforce + other.salesforce,
            hubspot=self.hubspot + other.hubspot,
            aws_requests=self.aws_requests + other.aws_requests,
            read_units=self.read_units + other.read_units,
            write_units=self.write_units + other.write_units,
            functions={
                function_id: self.functions.get(function_id, Counter())
                + other.functions.get(function_id, Counter())
                for function_id in function_ids
            },
            memory_mb={**other.memory_mb, **self.memory_mb},
            refused=self.refused + other.refused,
        )

    # -- the figures a phase is judged by ----------------------------------------------------------
    @property
    def salesforce_calls(self) -> int:
        return sum(self.salesforce.values())

    @property
    def hubspot_calls(self) -> int:
        return sum(self.hubspot.values())

    def service_requests(self, service: str) -> Counter[str]:
        """The service's requests to one AWS service by operation: its functions' and its event
        sources', without SQS receives that found nothing (their number depends on how long the
        queues sat idle, not on the activities)."""
        by_operation: Counter[str] = Counter()
        for (name, operation, caller), count in self.aws_requests.items():
            if name == service and caller not in NOT_THE_SERVICE and operation != EMPTY_RECEIVE:
                by_operation[operation] += count
        return by_operation

    def requests_by_caller(self, service: str) -> Counter[str]:
        by_caller: Counter[str] = Counter()
        for (name, operation, caller), count in self.aws_requests.items():
            if name == service and caller not in NOT_THE_SERVICE and operation != EMPTY_RECEIVE:
                by_caller[caller] += count
        return by_caller

    def empty_receives(self) -> int:
        return sum(
            count
            for (name, operation, caller), count in self.aws_requests.items()
            if name == "sqs" and operation == EMPTY_RECEIVE and caller not in NOT_THE_SERVICE
        )

    @property
    def dynamodb_requests(self) -> int:
        return sum(self.service_requests("dynamodb").values())

    @property
    def sqs_requests(self) -> int:
        return sum(self.service_requests("sqs").values())

    def capacity(self) -> tuple[float, float]:
        """(read request units, write request units) the service's functions consumed."""
        reads = sum(units for (_, caller), units in self.read_units.items() if caller not in NOT_THE_SERVICE)
        writes = sum(
            units for (_, caller), units in self.write_units.items() if caller not in NOT_THE_SERVICE
        )
        return float(reads), float(writes)

    def function_total(self, name: str, function_ids: Iterable[str] | None = None) -> float:
        chosen = (
            self.functions
            if function_ids is None
            else {f: self.functions.get(f, Counter()) for f in function_ids}
        )
        return float(sum(metrics.get(name, 0) for metrics in chosen.values()))

    def cpu_gb_seconds(self) -> float:
        """GB-seconds if every invocation had lasted only as long as its CPU time."""
        return sum(
            float(metrics.get("cpu_ms", 0)) / 1000 * self.memory_mb.get(function_id, 0) / 1024
            for function_id, metrics in self.functions.items()
        )

    def syncers(self) -> list[str]:
        return sorted(function_id for function_id in self.functions if function_id.endswith("Syncer"))

    def to_dict(self) -> dict[str, Any]:
        reads, writes = self.capacity()
        return {
            "salesforce_calls": self.salesforce_calls,
            "salesforce_by_route": dict(sorted(self.salesforce.items())),
            "hubspot_calls": self.hubspot_calls,
            "hubspot_by_route": dict(sorted(self.hubspot.items())),
            "dynamodb_requests": self.dynamodb_requests,
            "dynamodb_by_operation": dict(sorted(self.service_requests("dynamodb").items())),
            "dynamodb_by_caller": dict(sorted(self.requests_by_caller("dynamodb").items())),
            "dynamodb_read_units": round(reads, 3),
            "dynamodb_write_units": round(writes, 3),
            "dynamodb_capacity_by_table": {
                f"{table} / {caller}": {
                    "read_units": round(float(self.read_units.get((table, caller), 0.0)), 3),
                    "write_units": round(float(self.write_units.get((table, caller), 0.0)), 3),
                }
                for (table, caller) in sorted(set(self.read_units) | set(self.write_units))
                if caller not in NOT_THE_SERVICE
            },
            "sqs_requests": self.sqs_requests,
            "sqs_by_operation": dict(sorted(self.service_requests("sqs").items())),
            "sqs_by_caller": dict(sorted(self.requests_by_caller("sqs").items())),
            "sqs_empty_receives": self.empty_receives(),
            "ssm_requests": sum(self.service_requests("ssm").values()),
            "functions": {
                function_id: {name: round(float(metrics.get(name, 0)), 6) for name in FUNCTION_FIELDS}
                for function_id, metrics in sorted(self.functions.items())
                if metrics.get("invocations")
            },
        }


def _minus[K](after: Counter[K], before: Counter[K]) -> Counter[K]:
    """``after - before`` keeping every key, without Counter's dropping of zero and negative counts
    (a counter never goes down, so a negative would be a bug to see, not to hide)."""
    result: Counter[K] = Counter()
    for key in set(after) | set(before):
        value = after.get(key, 0) - before.get(key, 0)
        if value:
            result[key] = value
    return result
