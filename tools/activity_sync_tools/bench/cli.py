"""``python -m activity_sync_tools.bench`` (``make bench``): run the workload, print the table, write
the JSON."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from activity_sync_tools.bench.report import (
    RunResult,
    build_rows,
    console_width,
    goal_summary,
    markdown_table,
    render_table,
    to_json,
)
from activity_sync_tools.run_results import add_result_arguments, write_results

DEFAULT_N = 3000  # the scale of issue #8's figures; about 4 minutes on two cores
ROOT = Path(__file__).resolve().parents[3]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m activity_sync_tools.bench",
        description=(
            "Measure what the service costs per activity on the local stack against the sandboxes: "
            "vendor calls, AWS requests, CPU, latency, cold imports and dollars per million, next to a "
            "naive one-call-per-record baseline and the goals of issue #8."
        ),
    )
    parser.add_argument(
        "--n",
        type=int,
        default=int(os.environ.get("BENCH_N") or DEFAULT_N),
        help="activities in the mixed run (default: $BENCH_N or %(default)s)",
    )
    parser.add_argument(
        "--burst", type=int, default=None, help="notes in the burst (default: 5 N, 1,000 at most)"
    )
    parser.add_argument(
        "--trickle", type=int, default=None, help="notes in the trickle (default: N/10, 5 to 25)"
    )
    parser.add_argument(
        "--import-runs",
        type=int,
        default=15,
        # One fresh process's import time swings by ±40 % on a shared two-core VM (boto3: 130-250 ms
        # in one minute); the median of fifteen, alternating with the baseline, holds still.
        help="fresh processes per cold import (default: %(default)s)",
    )
    add_result_arguments(parser, ROOT / "bench-results", "figures")
    parser.add_argument(
        "--markdown", action="store_true", help="also print the table as Markdown (for the README)"
    )
    parser.add_argument("--state-dir", type=Path, default=None, help="keep the local stack's logs here")
    return parser


def _git_commit() -> str | None:
    try:
        finished = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git from PATH, read-only
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except OSError:
        return None
    return finished.stdout.strip() or None


def run(arguments: argparse.Namespace) -> int:
    from activity_sync_tools.bench.imports import measure_imports
    from activity_sync_tools.bench.workload import Plan, run_workload

    started_at = dt.datetime.now(dt.UTC)
    started = time.monotonic()
    plan = Plan.from_n(arguments.n, burst=arguments.burst, trickle=arguments.trickle)

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    log(
        f"bench: N={plan.n} (HubSpot→Salesforce {plan.hubspot_live} + {plan.hubspot_missed} found by the "
        f"poller, Salesforce→HubSpot {plan.salesforce_live} + {plan.salesforce_missed}), "
        f"trickle {plan.trickle}, burst {plan.burst}"
    )
    measured = run_workload(plan, log=log, state_dir=arguments.state_dir)
    log(f"cold imports: {arguments.import_runs} fresh processes each")
    handlers = {
        f"{measured.function_code_dirs[function_id].name}/app.py"
        + (f" (SYNC_TYPE={environment['SYNC_TYPE']})" if "SYNC_TYPE" in environment else ""): (
            measured.function_code_dirs[function_id],
            environment,
        )
        for function_id, environment in measured.function_environments.items()
    }
    imports = measure_imports(handlers, runs=arguments.import_runs)
    seconds = time.monotonic() - started
    result = RunResult(
        meta={
            "started_at": started_at.isoformat(timespec="seconds"),
            "seconds": round(seconds, 1),
            "n": plan.n,
            "burst": plan.burst,
            "trickle": plan.trickle,
            "contacts": plan.contacts,
            "commit": _git_commit(),
            "python": platform.python_version(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "event_sources": measured.event_sources,
        },
        phases=measured.phases,
        latency_seconds=measured.latency_seconds,
        imports_ms=imports,
        notes=[
            "Per-activity figures divide a phase's counts (read before and after it, after draining, one "
            "poll included) by the activities it made.",
            "Vendor calls exclude token requests and the form posts the bench makes as a site visitor.",
            "AWS requests are the functions' and the SQS event sources'; SQS receives that found nothing "
            "are left out (they depend on idle time) and reported as sqs_empty_receives.",
            "Lambda GB-s are billed invocation durations times memory; init phases (cold starts) are "
            "reported apart (init_gb_seconds), not in the cost.",
            "Latency: Salesforce Task CreatedDate minus HubSpot note createdAt, both sandboxes' own stamps.",
        ],
    )
    rows = build_rows(result)
    title = (
        f"activity-sync bench — N={plan.n}, burst {plan.burst}, trickle {plan.trickle} — "
        f"{started_at:%Y-%m-%d %H:%M} UTC, commit {result.meta['commit']}, {seconds / 60:.1f} min"
    )
    from rich.console import Console

    Console(width=console_width()).print(render_table(rows, title))
    if arguments.markdown:
        print(markdown_table(rows))
    document: dict[str, Any] = to_json(result, rows)
    document["meta"]["title"] = title
    document["goals"] = goal_summary(rows)
    written = write_results(document, arguments.results_dir, started_at, arguments.json)
    summary = goal_summary(rows)
    print(
        f"goals met: {summary['met']}, not met: {summary['not_met']}; "
        f"figures in {', '.join(str(p) for p in written)}; took {seconds:.0f} s"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    if arguments.n < 6:
        print("bench: --n must be at least 6", file=sys.stderr)
        return 2
    try:
        return run(arguments)
    except KeyboardInterrupt:
        return 130
