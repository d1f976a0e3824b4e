"""The bench's figures: what a run measured, turned into rows (measured / naive / goal / met), one
table on the terminal and the same figures as JSON.

The goals are those of issue #8: Salesforce calls at most 1/150 per activity for one busy type and
1/50 mixed; HubSpot calls at most 1/30; DynamoDB requests at most 0.5; syncer CPU at most 5 ms; cost
at most $3 per million activities; a burst's p99 at most 30 s and a trickle's p50 at most 2 s from
the HubSpot record's creation to the Salesforce Task's; each handler's cold import at most twice
``import boto3``.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from activity_sync_tools.bench import prices
from activity_sync_tools.bench.measure import Counts
from activity_sync_tools.bench.naive import naive_calls
from activity_sync_tools.bench.stats import median, percentile

MIXED = "mixed"
HUBSPOT_TO_SALESFORCE = "hubspot_to_salesforce"
SALESFORCE_TO_HUBSPOT = "salesforce_to_hubspot"
BURST = "burst"
TRICKLE = "trickle"
RECEIVER = "WebhookReceiver"


@dataclass(frozen=True)
class Goal:
    """At most ``limit`` (``text`` is how issue #8 says it)."""

    limit: float
    text: str

    def met(self, value: float | None) -> bool | None:
        return None if value is None else value <= self.limit


GOALS = {
    "salesforce_busy": Goal(1 / 150, "≤ 1/150"),
    "salesforce_mixed": Goal(1 / 50, "≤ 1/50"),
    "hubspot": Goal(1 / 30, "≤ 1/30"),
    "dynamodb": Goal(0.5, "≤ 0.5"),
    "syncer_cpu_ms": Goal(5.0, "≤ 5 ms"),
    "cost_per_million": Goal(3.0, "≤ $3"),
    "burst_p99_s": Goal(30.0, "≤ 30 s"),
    "trickle_p50_s": Goal(2.0, "≤ 2 s"),
    "import_ratio": Goal(2.0, "≤ 2x boto3"),
    # Every function runs under its own role locally: a request its role does not allow is refused
    # as AWS would refuse it, and a run that met any is not one to trust.
    "refused_requests": Goal(0, "0"),
}


@dataclass
class Phase:
    """One measured part of a run: the activities it made (sync type key -> how many), what they
    cost (the counts' difference across the phase, after draining) and how many synced."""

    name: str
    activities: Counter[str]
    counts: Counts
    seconds: float = 0.0
    synced: int = 0  # activities found on the other side at the end

    @property
    def total(self) -> int:
        return sum(self.activities.values())


@dataclass
class RunResult:
    """Everything a run measured."""

    meta: dict[str, Any]
    phases: dict[str, Phase]
    latency_seconds: dict[str, list[float]] = field(default_factory=dict)  # trickle / burst
    imports_ms: dict[str, list[float]] = field(default_factory=dict)  # "import boto3" and handlers
    notes: list[str] = field(default_factory=list)

    def combined(self, *names: str) -> Phase:
        chosen = [self.phases[name] for name in names if name in self.phases]
        counts = Counts()
        activities: Counter[str] = Counter()
        for phase in chosen:
            counts = counts + phase.counts
            activities += phase.activities
        return Phase(
            "+".join(names),
            activities,
            counts,
            sum(p.seconds for p in chosen),
            sum(p.synced for p in chosen),
        )


@dataclass(frozen=True)
class Row:
    section: str
    figure: str
    measured: float | None
    kind: str = "number"  # per_activity | ms | seconds | usd | ratio | number
    naive: float | None = None
    goal: Goal | None = None

    @property
    def met(self) -> bool | None:
        return None if self.goal is None else self.goal.met(self.measured)

    def to_dict(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "figure": self.figure,
            "measured": self.measured,
            "naive": self.naive,
            "goal": None if self.goal is None else {"at_most": self.goal.limit, "text": self.goal.text},
            "met": self.met,
            "text": {
                "measured": format_value(self.measured, self.kind),
                "naive": format_value(self.naive, self.kind),
            },
        }


def format_value(value: float | None, kind: str) -> str:
    if value is None:
        return "—"
    match kind:
        case "per_activity":
            if value == 0:
                return "0"
            if value < 0.5:
                one_in = 1 / value
                return f"{value:.4f} (1/{one_in:,.0f})" if one_in >= 10 else f"{value:.3f} (1/{one_in:.1f})"
            return f"{value:,.2f}"
        case "ms":
            return f"{value:,.1f} ms"
        case "seconds":
            return f"{value:,.2f} s"
        case "usd":
            return f"${value:,.2f}"
        case "ratio":
            return f"{value:.2f}x"
        case _:
            return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3f}"


def _per(value: float, activities: int) -> float | None:
    return None if activities <= 0 else value / activities


def usage_of(counts: Counts) -> prices.Usage:
    reads, writes = counts.capacity()
    return prices.Usage(
        lambda_requests=counts.function_total("invocations"),
        lambda_gb_seconds=counts.function_total("gb_seconds"),
        dynamodb_write_units=writes,
        dynamodb_read_units=reads,
        sqs_requests=counts.sqs_requests,
        # Every HTTP API request invokes the webhook receiver once (refused ones too).
        http_api_requests=counts.function_total("invocations", [RECEIVER]),
    )


def build_rows(result: RunResult) -> list[Row]:
    mixed = result.combined(HUBSPOT_TO_SALESFORCE, SALESFORCE_TO_HUBSPOT)
    views: list[tuple[str, Phase]] = [("mixed", mixed)]
    for name, label in (
        (HUBSPOT_TO_SALESFORCE, "HubSpot→Salesforce"),
        (SALESFORCE_TO_HUBSPOT, "Salesforce→HubSpot"),
    ):
        if name in result.phases:
            views.append((label, result.phases[name]))
    if BURST in result.phases:
        views.append(("one busy type (burst of notes)", result.phases[BURST]))
    rows: list[Row] = []

    section = "Vendor API calls per activity"
    for label, phase in views:
        naive = naive_calls(phase.activities)
        goal = GOALS["salesforce_mixed"] if label == "mixed" else None
        if label.startswith("one busy type"):
            goal = GOALS["salesforce_busy"]
        rows.append(
            Row(
                section,
                f"Salesforce calls — {label}",
                _per(phase.counts.salesforce_calls, phase.total),
                "per_activity",
                _per(naive.salesforce, phase.total),
                goal,
            )
        )
    for label, phase in views:
        naive = naive_calls(phase.activities)
        rows.append(
            Row(
                section,
                f"HubSpot calls — {label}",
                _per(phase.counts.hubspot_calls, phase.total),
                "per_activity",
                _per(naive.hubspot, phase.total),
                GOALS["hubspot"] if label in ("mixed", "one busy type (burst of notes)") else None,
            )
        )

    section = "AWS per activity"
    for label, phase in views:
        rows.append(
            Row(
                section,
                f"DynamoDB requests — {label}",
                _per(phase.counts.dynamodb_requests, phase.total),
                "per_activity",
                goal=GOALS["dynamodb"] if label == "mixed" else None,
            )
        )
    refused = sum(phase.counts.refused for phase in result.phases.values())
    rows.append(
        Row(
            section,
            "AWS requests refused by IAM — every phase",
            refused,
            "number",
            goal=GOALS["refused_requests"],
        )
    )
    reads, writes = mixed.counts.capacity()
    rows.append(Row(section, "DynamoDB read request units — mixed", _per(reads, mixed.total), "per_activity"))
    rows.append(
        Row(section, "DynamoDB write request units — mixed", _per(writes, mixed.total), "per_activity")
    )
    for label, phase in views:
        rows.append(
            Row(
                section,
                f"SQS requests — {label}",
                _per(phase.counts.sqs_requests, phase.total),
                "per_activity",
            )
        )
    rows.append(
        Row(
            section,
            "Lambda invocations — mixed",
            _per(mixed.counts.function_total("invocations"), mixed.total),
            "per_activity",
        )
    )
    rows.append(
        Row(
            section,
            "HTTP API requests — mixed",
            _per(mixed.counts.function_total("invocations", [RECEIVER]), mixed.total),
            "per_activity",
        )
    )

    section = "Compute per activity"
    for label, phase in views:
        syncers = phase.counts.syncers()
        rows.append(
            Row(
                section,
                f"Syncer CPU — {label}",
                _per(phase.counts.function_total("cpu_ms", syncers), phase.total),
                "ms",
                goal=GOALS["syncer_cpu_ms"] if label == "mixed" else None,
            )
        )
    rows.append(
        Row(
            section,
            "All functions' CPU — mixed",
            _per(mixed.counts.function_total("cpu_ms"), mixed.total),
            "ms",
        )
    )
    for function_id in sorted(mixed.counts.functions):
        metrics = mixed.counts.functions[function_id]
        if not metrics.get("invocations"):
            continue
        rows.append(
            Row(
                section,
                f"  of which {function_id}",
                _per(float(metrics.get("cpu_ms", 0)), mixed.total),
                "ms",
            )
        )
    rows.append(
        Row(section, "Lambda GB-s — mixed", _per(mixed.counts.function_total("gb_seconds"), mixed.total))
    )

    section = "Latency, HubSpot record → Salesforce Task"
    trickle = result.latency_seconds.get(TRICKLE, [])
    burst = result.latency_seconds.get(BURST, [])
    rows.append(
        Row(
            section,
            f"trickle p50 ({len(trickle)} notes, one at a time)",
            percentile(trickle, 50) if trickle else None,
            "seconds",
            goal=GOALS["trickle_p50_s"],
        )
    )
    rows.append(Row(section, "trickle p99", percentile(trickle, 99) if trickle else None, "seconds"))
    rows.append(
        Row(
            section,
            f"burst p50 ({len(burst)} notes at once)",
            percentile(burst, 50) if burst else None,
            "seconds",
        )
    )
    rows.append(
        Row(
            section,
            "burst p99",
            percentile(burst, 99) if burst else None,
            "seconds",
            goal=GOALS["burst_p99_s"],
        )
    )

    section = "Cold import (median of fresh processes)"
    baseline = median(result.imports_ms.get("import boto3", []))
    rows.append(Row(section, "import boto3", baseline, "ms"))
    for name, samples in sorted(result.imports_ms.items()):
        if name == "import boto3":
            continue
        value = median(samples)
        rows.append(Row(section, f"{name}", value, "ms"))
        ratio = None if value is None or not baseline else value / baseline
        short = name.split(" ")[0]
        rows.append(Row(section, f"  {short} ÷ import boto3", ratio, "ratio", goal=GOALS["import_ratio"]))

    section = f"Cost per million activities (AWS list prices, {prices.REGION}, {prices.PRICES_AS_OF})"
    for label, phase in views:
        cost = prices.cost_per_million(usage_of(phase.counts), phase.total) if phase.total else None
        rows.append(
            Row(
                section,
                f"total — {label}",
                cost,
                "usd",
                goal=GOALS["cost_per_million"] if label == "mixed" else None,
            )
        )
    if mixed.total:
        for item, dollars in prices.cost_breakdown(usage_of(mixed.counts)).items():
            rows.append(Row(section, f"  {item} — mixed", dollars / mixed.total * 1_000_000, "usd"))
        # Locally a function's duration includes waiting on the emulators, all in one process on
        # this machine; its CPU time is a floor for what it would be billed on Lambda.
        floor = dataclasses.replace(usage_of(mixed.counts), lambda_gb_seconds=mixed.counts.cpu_gb_seconds())
        rows.append(
            Row(
                section,
                "total — mixed, with durations as short as the CPU time (a floor)",
                prices.cost_per_million(floor, mixed.total),
                "usd",
            )
        )
    return rows


def phase_summaries(result: RunResult) -> dict[str, Any]:
    return {
        name: {
            "activities": dict(sorted(phase.activities.items())),
            "activities_total": phase.total,
            "synced": phase.synced,
            "seconds": round(phase.seconds, 1),
            "counts": phase.counts.to_dict(),
        }
        for name, phase in result.phases.items()
    }


def to_json(result: RunResult, rows: Sequence[Row]) -> dict[str, Any]:
    return {
        "meta": result.meta,
        "prices": [
            {"name": p.name, "usd_per_unit": p.usd, "unit": p.unit, "source": p.source}
            for p in prices.ALL_PRICES
        ],
        "prices_as_of": prices.PRICES_AS_OF,
        "figures": [row.to_dict() for row in rows],
        "phases": phase_summaries(result),
        "latency_seconds": {
            name: [round(v, 3) for v in values] for name, values in result.latency_seconds.items()
        },
        "imports_ms": {name: [round(v, 1) for v in values] for name, values in result.imports_ms.items()},
        "notes": result.notes,
    }


def render_table(rows: Sequence[Row], title: str) -> Any:
    """A rich Table of the rows, one section per group."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_lines=False, header_style="bold")
    table.add_column("figure")
    table.add_column("measured", justify="right")
    table.add_column("naive", justify="right")
    table.add_column("goal", justify="right")
    table.add_column("", justify="left")
    section = None
    for row in rows:
        if row.section != section:
            if section is not None:
                table.add_section()
            table.add_row(f"[bold]{row.section}[/bold]", "", "", "", "")
            section = row.section
        status = {True: "[green]met[/green]", False: "[red]not met[/red]", None: ""}[row.met]
        table.add_row(
            f"  {row.figure}",
            format_value(row.measured, row.kind),
            format_value(row.naive, row.kind) if row.naive is not None else "",
            row.goal.text if row.goal else "",
            status,
        )
    return table


def console_width() -> int:
    """The terminal's width, but never under 120 columns (a pipe or a CI log gets 130)."""
    import shutil

    return max(120, shutil.get_terminal_size((130, 40)).columns)


def render_text(rows: Sequence[Row], title: str, width: int = 130) -> str:
    """The table as plain text (what the terminal shows, without colours)."""
    import io

    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False)
    console.print(render_table(rows, title))
    return buffer.getvalue()


def markdown_table(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table (for the README)."""
    lines = ["| figure | measured | naive | goal | |", "|---|---:|---:|---:|---|"]
    section = None
    for row in rows:
        if row.section != section:
            lines.append(f"| **{row.section}** | | | | |")
            section = row.section
        status = {True: "met", False: "**not met**", None: ""}[row.met]
        naive = format_value(row.naive, row.kind) if row.naive is not None else ""
        goal = row.goal.text if row.goal else ""
        lines.append(
            f"| {row.figure} | {format_value(row.measured, row.kind)} | {naive} | {goal} | {status} |"
        )
    return "\n".join(lines)


def goal_summary(rows: Sequence[Row]) -> Mapping[str, int]:
    judged = [row.met for row in rows if row.met is not None]
    return {"met": sum(1 for m in judged if m), "not_met": sum(1 for m in judged if not m)}
