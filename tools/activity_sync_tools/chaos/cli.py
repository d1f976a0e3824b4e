"""``python -m activity_sync_tools.chaos`` (``make chaos``): run the fault suite, print its accounts,
write them as JSON, and exit 1 on any loss, duplicate or budget overrun."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any

from activity_sync_tools.chaos.suite import ChaosPlan, ChaosResult, run_chaos
from activity_sync_tools.operate.output import console, table
from activity_sync_tools.run_results import add_result_arguments, write_results

ROOT = Path(__file__).resolve().parents[3]
DEFAULTS = ChaosPlan()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m activity_sync_tools.chaos",
        description=(
            "Make N activities over every type in both directions on the local stack while the "
            "sandboxes fail a share of the calls, deliver every notification twice, workers are killed "
            "mid-batch and the API budget is small; then account for every activity. Exits 1 on any "
            "loss, duplicate or budget overrun."
        ),
    )
    parser.add_argument(
        "--n", type=int, default=int(os.environ.get("CHAOS_N") or DEFAULTS.n), help="activities (%(default)s)"
    )
    parser.add_argument(
        "--fault-rate", type=float, default=DEFAULTS.fault_rate, help="share of vendor calls that fail"
    )
    parser.add_argument("--kills", type=int, default=DEFAULTS.kills, help="workers killed mid-batch")
    parser.add_argument(
        "--hubspot-per-10s",
        type=int,
        default=DEFAULTS.hubspot_requests_per_10s,
        help="HubSpot calls per 10 s (the budget's setting and the portal's limit)",
    )
    parser.add_argument(
        "--hubspot-searches-per-second", type=int, default=DEFAULTS.hubspot_searches_per_second
    )
    parser.add_argument("--hubspot-daily", type=int, default=DEFAULTS.hubspot_daily_allocation)
    parser.add_argument("--salesforce-daily", type=int, default=DEFAULTS.salesforce_daily_allocation)
    parser.add_argument(
        "--drain-timeout", type=float, default=DEFAULTS.drain_timeout_seconds, help="seconds to drain"
    )
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed, help="the faults' random seed")
    add_result_arguments(parser, ROOT / "chaos-results", "accounts")
    parser.add_argument("--state-dir", type=Path, default=None, help="keep the local stack's logs here")
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    try:
        plan = ChaosPlan(
            n=arguments.n,
            fault_rate=arguments.fault_rate,
            kills=arguments.kills,
            hubspot_requests_per_10s=arguments.hubspot_per_10s,
            hubspot_searches_per_second=arguments.hubspot_searches_per_second,
            hubspot_daily_allocation=arguments.hubspot_daily,
            salesforce_daily_allocation=arguments.salesforce_daily,
            drain_timeout_seconds=arguments.drain_timeout,
            seed=arguments.seed,
        )
    except ValueError as error:
        print(f"chaos: {error}", file=sys.stderr)
        return 2
    started = dt.datetime.now(dt.UTC)

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    log(f"chaos: N={plan.n}, {plan.fault_rate:.0%} of vendor calls failing, {plan.kills} workers killed")
    result = run_chaos(plan, log=log, state_dir=arguments.state_dir)
    document = {"started": started.isoformat(timespec="seconds"), **result.to_dict()}
    paths = write_results(document, arguments.results_dir, started, arguments.json)
    show(result)
    print(f"\nthe figures as JSON: {', '.join(str(p) for p in paths)}")
    return 1 if result.failures else 0


def show(result: ChaosResult) -> None:
    out = console()
    rows: list[list[Any]] = []
    for key, outcome in sorted(result.outcomes.items()):
        rows.append(
            [
                key,
                outcome.created,
                outcome.synced,
                outcome.waiting,
                outcome.dead_lettered,
                outcome.lost,
                outcome.duplicated,
                result.deferred_for_budget.get(key, 0),
            ]
        )
    total = result.total
    rows.append(
        [
            "total",
            total.created,
            total.synced,
            total.waiting,
            total.dead_lettered,
            total.lost,
            total.duplicated,
            sum(result.deferred_for_budget.values()),
        ]
    )
    columns = ["type", "#created", "#synced", "#waiting", "#dead-lettered", "#lost", "#duplicated"]
    out.print(table("Every activity", [*columns, "#deferred for budget"], rows))
    reasons = [
        [key, reason, count]
        for key, counts in result.waiting_by_reason.items()
        for reason, count in counts.items()
    ]
    out.print(table("Waiting, by reason", ["type", "reason", "#activities"], reasons or [["-", "none", 0]]))
    dead = [
        [key, reason, count]
        for key, counts in result.dead_letters_by_reason.items()
        for reason, count in counts.items()
    ]
    out.print(table("Dead letters, by reason", ["type", "reason", "#records"], dead or [["-", "none", 0]]))
    out.print(
        table(
            "Vendor calls against the budget",
            ["vendor", "limit", "#allowed", "#used", "within"],
            [[c.vendor, c.limit_name, c.limit, c.used, "no" if c.exceeded else "yes"] for c in result.budget],
        )
    )
    calls = result.vendor_calls
    faults = result.faults_injected
    out.print(
        table(
            "Faults",
            ["vendor", "#calls", "#failed by a fault", "injected"],
            [
                [
                    vendor.title(),
                    figures["calls"],
                    figures["failed_by_fault"],
                    ", ".join(f"{kind} {n}" for kind, n in sorted(faults.get(vendor, {}).items())),
                ]
                for vendor, figures in calls.items()
            ],
        )
    )
    squeeze = result.squeeze
    if squeeze:
        allocation, used = squeeze["salesforce_allocation"], squeeze["salesforce_used_before"]
        sales = f"{squeeze['sales_synced_while_squeezed']} of {squeeze['sales_made']}"
        marketing = f"{squeeze['marketing_synced_while_squeezed']} of {squeeze['marketing_made']}"
        verdict = "held" if squeeze["priorities_held"] else "NOT held"
        out.print(
            f"Priorities: with the Salesforce allocation squeezed to {allocation} ({used} used), "
            f"{sales} sales activities synced and {marketing} marketing ones "
            f"({squeeze['deferrals_for_budget']} deferrals for the budget, "
            f"{squeeze['marketing_calls_reserved_while_squeezed']} calls reserved for them); "
            f"{squeeze['salesforce_used_after']} used when it was given back: {verdict}"
        )
    emails = result.sales_emails
    if emails:
        several = emails["emails_with_several_events"]
        out.print(
            f"Sales emails: {emails['emails']} ({emails['events']} events, {several} with several), "
            f"{emails['to_contacts_not_syncing']} to {emails['contacts_not_syncing']} contacts that did "
            f"not sync, {emails['contacts_woken']} of those contacts woken; "
            f"{result.dead_letters_for_storage} dead letters for a write DynamoDB refused"
        )
    twice = ", ".join(f"{name} {n}" for name, n in result.duplicate_deliveries.items())
    out.print(f"Delivered twice: {twice}")
    out.print(f"Workers killed mid-batch: {len(result.kills)} ({', '.join(result.kills) or 'none'})")
    seconds = result.seconds
    out.print(
        f"Time: set-up {seconds['set_up']:.0f} s, making {seconds['making']:.0f} s, "
        f"draining {seconds['draining']:.0f} s, the squeeze and its drain {seconds['squeeze']:.0f} s "
        f"({'drained' if result.drained else 'NOT drained'})"
    )
    if result.failures:
        out.print(f"[bold red]FAILED[/]: {'; '.join(result.failures)}")
    else:
        out.print(
            f"[bold green]PASSED[/]: {total.created} activities, 0 lost, 0 duplicated, every limit kept"
        )
