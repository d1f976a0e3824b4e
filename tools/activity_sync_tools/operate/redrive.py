"""``activity-sync redrive [TYPE] [--reason TEXT]``: once the cause is fixed, move the selected
dead letters back to their type's queue, with a progress bar.

Each record's entry in the dead-letter registry is released first (so that, should it fail
again, it is dead-lettered again rather than recognised as already there), then its message is
sent to the type's queue unchanged (an import stays an import), then deleted from the dead-letter
queue. Safe to run twice, or after an interruption: what was sent and not yet deleted is sent
again, and the syncers are idempotent (R15)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

from activity_sync_tools.operate.dead_letters import SQS_BATCH, DeadLetter, DeadLetterQueues, select
from activity_sync_tools.operate.errors import add_selection, selected_keys
from activity_sync_tools.operate.output import console, print_json, progress, table
from activity_sync_tools.operate.target import Stack

if TYPE_CHECKING:
    from activity_sync_tools.cli import Subcommands

# Long enough to move a few thousand dead letters; what is not moved shows again after it.
MOVE_VISIBILITY_SECONDS = 300


def register(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "redrive",
        help="move dead letters back to their type's queue, once the cause is fixed",
        description=__doc__,
    )
    add_selection(parser)
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    stack = Stack(arguments)
    queues = DeadLetterQueues(stack)
    targets = stack.queue_urls()
    moved: dict[str, int] = {}
    with queues.held(selected_keys(queues, arguments), visibility=MOVE_VISIBILITY_SECONDS) as letters:
        chosen = [letter for letter in select(letters, arguments.reason) if letter.queue_key in targets]
        with progress(quiet=arguments.json) as bar:
            task = bar.add_task("re-driving", total=len(chosen))
            for key in dict.fromkeys(letter.queue_key for letter in chosen):
                batch = [letter for letter in chosen if letter.queue_key == key]
                for start in range(0, len(batch), SQS_BATCH):
                    sent = _move(stack, queues, targets[key], batch[start : start + SQS_BATCH])
                    moved[key] = moved.get(key, 0) + sent
                    bar.advance(task, len(batch[start : start + SQS_BATCH]))
    if arguments.json:
        print_json({"moved": moved, "selected": len(chosen)})
        return 0 if sum(moved.values()) == len(chosen) else 1
    out = console()
    if not chosen:
        out.print("no dead letters to re-drive")
        return 0
    out.print(table("re-driven to their type's queue", ["type", "#moved"], sorted(moved.items())))
    failed = len(chosen) - sum(moved.values())
    if failed:
        out.print(f"{failed} could not be sent; they stay in their dead-letter queue")
        return 1
    out.print("'activity-sync status' follows them; 'activity-sync errors' shows any that fail again")
    return 0


def _move(stack: Stack, queues: DeadLetterQueues, queue_url: str, letters: Sequence[DeadLetter]) -> int:
    """Release, send, delete (at most ten); how many were moved."""
    stack.service.state.release_dead_letters(letters[0].queue_key, [letter.record_id for letter in letters])
    response = stack.sqs.send_message_batch(
        QueueUrl=queue_url,
        Entries=[{"Id": str(i), "MessageBody": letter.body} for i, letter in enumerate(letters)],
    )
    sent = [letters[int(entry["Id"])] for entry in response.get("Successful", [])]
    queues.delete(sent)
    return len(sent)
