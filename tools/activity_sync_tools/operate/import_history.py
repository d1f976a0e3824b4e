"""``activity-sync import``: R11's explicit import of Salesforce history for a date range.

Turning a Salesforce -> HubSpot switch on imports nothing; this queues the records created in
[since, until) on their type's queue, marked as an import (``usecases.backfill``), with a progress
bar. ``--wait`` follows the queues until they are empty and prints this import's share of each
outcome figure. Running it twice changes nothing more (R15).
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from typing import TYPE_CHECKING

from activity_sync_tools.operate.output import console, print_json, progress, table
from activity_sync_tools.operate.target import Stack, add_target

if TYPE_CHECKING:
    from activity_sync.domain import SalesforceActivityType, SyncType
    from activity_sync_tools.cli import Subcommands

TYPES = ("task", "email", "call", "meeting")  # SalesforceActivityType's values (R10)
WAIT_POLL_SECONDS = 2.0


def aware_date(text: str) -> dt.datetime:
    """A YYYY-MM-DD argument as midnight UTC."""
    return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), tzinfo=dt.UTC)


def register(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "import", help="bring Salesforce history over for a date range (R11)", description=__doc__
    )
    add_target(parser)
    parser.add_argument("--since", type=aware_date, required=True, help="first day (YYYY-MM-DD, UTC)")
    parser.add_argument("--until", type=aware_date, help="day after the last one (default: now)")
    parser.add_argument("--types", nargs="+", choices=TYPES, default=list(TYPES), help="default: all four")
    parser.add_argument("--wait", action="store_true", help="wait until they synced and print a summary")
    parser.add_argument("--timeout", type=float, default=900, help="seconds --wait waits (default 900)")
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    from activity_sync.domain import SalesforceActivityType, SyncType
    from activity_sync.rules.switches import is_on
    from activity_sync.usecases.backfill import import_salesforce_history

    stack = Stack(arguments)
    service = stack.service
    types = [SalesforceActivityType(t) for t in arguments.types]
    sync_types = {t: SyncType.salesforce_to_hubspot(t) for t in types}
    off = [t.value for t in types if not is_on(service.settings.type_settings(sync_types[t], fresh=True))]
    if off:
        raise SystemExit(
            f"error: switch these on first (an import syncs through the same switches): {', '.join(off)}"
            " - e.g. activity-sync settings enable salesforce_to_hubspot#task"
        )
    until = arguments.until or dt.datetime.now(dt.UTC)
    before = {t: _figures(stack, sync_types[t]) for t in types}
    with progress(quiet=arguments.json) as bar:
        tasks = {t: bar.add_task(f"{t.value:<8} queued", total=None) for t in types}

        def advance(activity_type: SalesforceActivityType, queued: int) -> None:
            bar.update(tasks[activity_type], completed=queued)

        try:
            queued = import_salesforce_history(
                service.salesforce(), service.queues, types, arguments.since, until, advance
            )
        except ValueError as error:
            raise SystemExit(f"error: {error}") from None
    window = f"{arguments.since.date()} .. {until.isoformat(timespec='seconds')}"
    report: dict[str, object] = {"window": window, "queued": {t.value: n for t, n in queued.items()}}
    if not arguments.wait:
        if arguments.json:
            print_json(report)
        else:
            console().print(f"queued {sum(queued.values())} record(s) created {window}")
            console().print("they sync in the background; 'activity-sync status' shows the figures")
        return 0
    _wait_for_queues(stack, [sync_types[t] for t in types], sum(queued.values()), arguments)
    summary = {
        t.value: {"queued": queued[t], **_delta(before[t], _figures(stack, sync_types[t]))} for t in types
    }
    report["summary"] = summary
    if arguments.json:
        print_json(report)
        return 0
    console().print(f"queued {sum(queued.values())} record(s) created {window}")
    rows = [
        (
            key,
            figures["queued"],
            figures.get("synced", 0),
            ", ".join(f"{label}: {n}" for label, n in figures.items() if label not in ("queued", "synced")),
        )
        for key, figures in summary.items()
    ]
    columns = ["type", "#queued", "#synced", "other"]
    console().print(table("this import's share of each figure", columns, rows))
    return 0


def _figures(stack: Stack, sync_type: SyncType) -> dict[str, int]:
    """The type's outcome figures, synced ones added up, and its registered dead letters."""
    figures: dict[str, int] = {}
    for label, n in stack.service.state.outcome_figures(sync_type).items():
        key = "synced" if label.startswith("synced") else label
        figures[key] = figures.get(key, 0) + n
    figures["dead-lettered"] = sum(1 for _ in stack.service.state.dead_letters(sync_type.key))
    return figures


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in sorted(after) if after[k] != before.get(k, 0)}


def _wait_for_queues(
    stack: Stack, sync_types: list[SyncType], queued: int, arguments: argparse.Namespace
) -> None:
    """Until the types' queues are empty (visible, in flight or held back), with a progress bar."""
    urls = [stack.config.queue_url(t) for t in sync_types]
    deadline = time.monotonic() + arguments.timeout
    with progress(quiet=arguments.json) as bar:
        task = bar.add_task("syncing", total=max(queued, 1))
        while True:
            depth = sum(sum(stack.queue_counts(url).values()) for url in urls)
            bar.update(task, completed=max(queued - depth, 0) if queued else 1)
            if depth == 0:
                return
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"error: {depth} still queued after {arguments.timeout:.0f} s; "
                    "'activity-sync status' shows progress"
                )
            time.sleep(WAIT_POLL_SECONDS)
