"""``activity-sync errors [TYPE] [--reason TEXT] [--csv FILE]``: the dead letters of every type,
grouped by type and reason like HubSpot's sync error cards, with the records each one is about
(HubSpot and Salesforce ids, and where to open them). Reading them does not consume them
(``dead_letters``); ``activity-sync redrive`` sends them back once the cause is fixed."""

from __future__ import annotations

import argparse
import csv
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from activity_sync_tools.operate.dead_letters import (
    Affected,
    DeadLetter,
    DeadLetterQueues,
    affected_records,
    select,
)
from activity_sync_tools.operate.output import console, print_json, table
from activity_sync_tools.operate.target import Stack, add_target, queue_key

if TYPE_CHECKING:
    from activity_sync_tools.cli import Subcommands

CSV_COLUMNS = (
    "type",
    "reason",
    "failed_at",
    "hubspot_id",
    "hubspot_contact_id",
    "salesforce_id",
    "salesforce_person_id",
    "hubspot_contact_url",
    "salesforce_record_url",
    "salesforce_person_url",
    "message_id",
)


def add_selection(parser: argparse.ArgumentParser) -> None:
    """TYPE and --reason: which dead letters (``errors`` and ``redrive`` select alike)."""
    parser.add_argument(
        "type", nargs="?", metavar="TYPE", help="e.g. hubspot_to_salesforce#note, note, contact_changes"
    )
    add_target(parser)
    parser.add_argument("--reason", metavar="TEXT", help="only those whose reason contains TEXT (any case)")


def register(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "errors", help="the dead letters, grouped by type and reason (read only)", description=__doc__
    )
    add_selection(parser)
    parser.add_argument("--csv", type=Path, metavar="FILE", help="also write one row per dead letter to FILE")
    parser.set_defaults(run=run)


def selected_keys(queues: DeadLetterQueues, arguments: argparse.Namespace) -> list[str]:
    return [queue_key(arguments.type)] if arguments.type else list(queues.urls)


def run(arguments: argparse.Namespace) -> int:
    stack = Stack(arguments)
    queues = DeadLetterQueues(stack)
    with queues.held(selected_keys(queues, arguments)) as letters:
        chosen = select(letters, arguments.reason)
    affected = affected_records(stack, chosen)
    rows = [_row(letter, affected[letter.message_id]) for letter in chosen]
    if arguments.csv:
        with arguments.csv.open("w", newline="", encoding="utf-8") as file:
            writer = csv.DictWriter(file, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    groups = _groups(chosen)
    if arguments.json:
        print_json(
            [
                {
                    "type": key,
                    "reason": kind,
                    "count": len(group),
                    "records": [_row(x, affected[x.message_id]) for x in group],
                }
                for (key, kind), group in groups
            ]
        )
        return 0
    out = console()
    if not chosen:
        out.print(
            "no dead letters" + (f" whose reason contains {arguments.reason!r}" if arguments.reason else "")
        )
        return 0
    out.print(
        f"{len(chosen)} dead letter(s) in {len(groups)} group(s); all of them are still in their queues"
    )
    for (key, kind), group in groups:
        out.print()
        out.print(
            table(
                f"{key}: {len(group)} x {kind}",
                ["HubSpot", "Salesforce", "failed at"],
                (_cells(letter, affected[letter.message_id]) for letter in group),
            )
        )
        if any(letter.reason != kind for letter in group):
            out.print(f"  e.g. {group[0].reason}")
    if arguments.csv:
        out.print(f"\nwritten to {arguments.csv}")
    return 0


def _groups(letters: Sequence[DeadLetter]) -> list[tuple[tuple[str, str], list[DeadLetter]]]:
    """By type and kind of reason, the largest group first (ties: in the order of the types)."""
    groups: dict[tuple[str, str], list[DeadLetter]] = {}
    for letter in letters:
        groups.setdefault((letter.queue_key, letter.reason_kind), []).append(letter)
    return sorted(groups.items(), key=lambda item: -len(item[1]))


def _row(letter: DeadLetter, record: Affected) -> dict[str, Any]:
    return {
        "type": letter.queue_key,
        "reason": letter.reason,
        "failed_at": letter.failed_at,
        "hubspot_id": record.hubspot_id,
        "hubspot_contact_id": record.hubspot_contact_id,
        "salesforce_id": record.salesforce_id,
        "salesforce_person_id": record.salesforce_person_id,
        "hubspot_contact_url": record.urls.get("hubspot_contact"),
        "salesforce_record_url": record.urls.get("salesforce_record"),
        "salesforce_person_url": record.urls.get("salesforce_person"),
        "message_id": letter.message_id,
    }


def _cells(letter: DeadLetter, record: Affected) -> tuple[str, str, str]:
    hubspot = [
        record.hubspot_id or "",
        f"contact {record.hubspot_contact_id}" if record.hubspot_contact_id != record.hubspot_id else "",
        record.urls.get("hubspot_contact", ""),
    ]
    salesforce = [
        record.salesforce_id or "",
        f"person {record.salesforce_person_id}" if record.salesforce_person_id else "",
        record.urls.get("salesforce_record") or record.urls.get("salesforce_person", ""),
    ]
    return (
        "\n".join(line for line in hubspot if line and line != "contact None"),
        "\n".join(line for line in salesforce if line),
        (letter.failed_at or "")[:19],
    )
