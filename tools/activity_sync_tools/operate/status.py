"""``activity-sync status [--since DATE]``: now apart from history.

* **Now** - the backlog as it stands: each type's switch, what is in its queue (delayed messages
  are those the API budget held back), the activities parked waiting for a contact (by reason;
  an activity that waited and then synced is no longer here), and the dead letters in its queue.
* **History** - the outcome figures of every activity since DATE (all days when absent), each
  R16 outcome by reason, feed activities the poller found outside their window included
  (``skipped: outside_window``), and the dead letters registered in the period.
* **API use** - per vendor, the calls of the last 24 hours, the operator's allocation, the
  vendor's own remaining figure, and the split per type (``adapters.budget``).
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections import Counter
from typing import TYPE_CHECKING, Any

from activity_sync_tools.operate.dead_letters import DeadLetterQueues
from activity_sync_tools.operate.output import console, print_json, table
from activity_sync_tools.operate.target import CONTACT_CHANGES, Stack, add_target

if TYPE_CHECKING:
    from activity_sync_tools.cli import Subcommands

# Activities parked with no associated contact wait under this partition (usecases.hubspot_to_salesforce).
NO_ASSOCIATED_CONTACT = "no_associated_contact"


def register(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "status", help="the backlog now, the outcomes over a period, and API use", description=__doc__
    )
    add_target(parser)
    parser.add_argument("--since", type=dt.date.fromisoformat, help="first day of the history (YYYY-MM-DD)")
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    stack = Stack(arguments)
    report = {
        "problems": problems(stack),
        "now": backlog(stack),
        "history": history(stack, arguments.since),
        "api_use_24h": api_use(stack),
    }
    if arguments.json:
        print_json(report)
        return 0
    _print(report, arguments.since)
    return 0


def problems(stack: Stack) -> list[str]:
    """What is wrong with the stack's set-up that nothing else would say."""
    from activity_sync.usecases.ingest import PORTAL_CHECK_OFF

    found = []
    if stack.record_urls.hubspot_portal_id is None:
        found.append(PORTAL_CHECK_OFF)
    return found


def backlog(stack: Stack) -> dict[str, dict[str, Any]]:
    """Queue key -> its switch, queue, parked activities by reason, and dead letters, now."""
    from activity_sync.adapters.dynamodb import SyncStateItem
    from activity_sync.domain import ALL_SYNC_TYPES
    from activity_sync.rules.switches import is_on

    waiting: dict[str, Counter[str]] = {}
    seen: set[tuple[str, str]] = set()
    # An activity with several contacts is parked under each: counted once.
    for item in SyncStateItem.scan(SyncStateItem.pk.startswith("waiting#")):
        sync_key, _, activity_id = item.sk.rpartition("#")
        if (sync_key, activity_id) in seen:
            continue
        seen.add((sync_key, activity_id))
        unassociated = item.pk == "waiting#unassociated"
        reason = NO_ASSOCIATED_CONTACT if unassociated else (item.reason or "unknown")
        waiting.setdefault(sync_key, Counter())[reason] += 1
    dead = DeadLetterQueues(stack).depths()
    queues = stack.queue_urls()
    now: dict[str, dict[str, Any]] = {}
    for sync_type in ALL_SYNC_TYPES:
        settings = stack.service.settings.type_settings(sync_type, fresh=True)
        now[sync_type.key] = {
            "switch": settings.enabled_at.isoformat() if is_on(settings) and settings.enabled_at else "off",
            "queue": stack.queue_counts(queues[sync_type.key]) if sync_type.key in queues else None,
            "waiting": dict(sorted(waiting.get(sync_type.key, Counter()).items())),
            "dead_letters": dead.get(sync_type.key, 0),
        }
    if CONTACT_CHANGES in queues:
        now[CONTACT_CHANGES] = {
            "switch": None,
            "queue": stack.queue_counts(queues[CONTACT_CHANGES]),
            "waiting": {},
            "dead_letters": dead.get(CONTACT_CHANGES, 0),
        }
    return now


def history(stack: Stack, since: dt.date | None) -> dict[str, dict[str, int]]:
    """Sync type key -> outcome label (``synced``, ``waiting:<reason>``, ``skipped:<reason>``,
    ``deleted:<reason>``, ``dead_lettered``) -> count since ``since``."""
    from activity_sync.domain import ALL_SYNC_TYPES

    figures: dict[str, dict[str, int]] = {}
    start = dt.datetime.combine(since, dt.time(), tzinfo=dt.UTC) if since else None
    for sync_type in ALL_SYNC_TYPES:
        outcomes = stack.service.state.outcome_figures(sync_type, since)
        registered = [
            item
            for item in stack.service.state.dead_letters(sync_type.key)
            if start is None or (item.failed_at is not None and item.failed_at >= start)
        ]
        if registered:
            outcomes["dead_lettered"] = len(registered)
        figures[sync_type.key] = dict(sorted(outcomes.items()))
    return figures


def api_use(stack: Stack) -> dict[str, dict[str, Any]]:
    """Vendor -> calls in the last 24 hours, the allocation, the vendor's own figures, per type."""
    from activity_sync.adapters.budget import HUBSPOT, SALESFORCE
    from activity_sync.domain import ALL_SYNC_TYPES

    allocations = stack.service.settings.global_settings(fresh=True)
    allocation = {
        HUBSPOT: allocations.hubspot_daily_allocation,
        SALESFORCE: allocations.salesforce_daily_allocation,
    }
    used: dict[str, dict[str, Any]] = {}
    # The budget names a type's share t_<key with "#" as "_">: shown by the type's own key.
    keys = {t.key.replace("#", "_"): t.key for t in ALL_SYNC_TYPES}
    for vendor, budget in stack.service.budgets.items():
        usage = budget.usage(hours=24)
        usage["by_type"] = {keys.get(name, name): n for name, n in usage["by_type"].items()}
        used[vendor] = {"allocation": allocation.get(vendor), **usage}
    return used


def _reasons(figures: dict[str, int], status: str) -> str:
    return ", ".join(
        f"{label.partition(':')[2] or status}: {n}"
        for label, n in figures.items()
        if label.partition(":")[0] == status
    )


def _print(report: dict[str, Any], since: dt.date | None) -> None:
    out = console()
    for problem in report["problems"]:
        out.print(f"[bold red]problem:[/] {problem}")
    if report["problems"]:
        out.print()
    now_rows = []
    for key, entry in report["now"].items():
        queue = entry["queue"] or {}
        waiting = ", ".join(f"{reason}: {n}" for reason, n in entry["waiting"].items())
        switch = entry["switch"]
        now_rows.append(
            (
                key,
                "-" if switch is None else ("off" if switch == "off" else f"on since {switch[:16]}"),
                queue.get("visible", 0) + queue.get("in_flight", 0),
                queue.get("delayed", 0),
                waiting,
                entry["dead_letters"],
            )
        )
    columns = ["type", "switch", "#queued", "#held back", "waiting now (reason: n)", "#dead letters"]
    out.print(table("now: the backlog", columns, now_rows))
    out.print()
    period = f"since {since.isoformat()}" if since else "all days kept"
    # Only the types with an outcome in the period: the backlog above lists every type.
    history_rows = [
        (
            key,
            sum(n for label, n in figures.items() if label.partition(":")[0] == "synced"),
            _reasons(figures, "waiting"),
            _reasons(figures, "skipped"),
            sum(n for label, n in figures.items() if label.partition(":")[0] == "deleted"),
            figures.get("dead_lettered", 0),
        )
        for key, figures in report["history"].items()
        if figures
    ]
    columns = [
        "type",
        "#synced",
        "set aside to wait (reason: n)",
        "skipped (reason: n)",
        "#deleted",
        "#dead-lettered",
    ]
    out.print(
        table(f"history: outcomes {period}", columns, history_rows)
        if history_rows
        else f"history: no outcome {period}"
    )
    out.print()
    api_rows = []
    for vendor, use in report["api_use_24h"].items():
        own = use.get("vendor") or {}
        remaining = f"{own['remaining']} of {own['limit']}" if own else "not seen yet"
        split = ", ".join(f"{key}: {n}" for key, n in sorted(use["by_type"].items(), key=lambda kv: -kv[1]))
        api_rows.append((vendor, use["used"], use["allocation"] or "vendor's limit", remaining, split))
    columns = ["vendor", "#calls", "allocation", "vendor's own remaining", "per type"]
    out.print(table("API use, last 24 hours", columns, api_rows))
