"""The ``activity-sync`` command line.

Each subcommand lives in its own module that exposes ``register(subcommands)``: it adds its parser
to the ``subcommands`` action and sets ``run`` (a function taking the parsed arguments and returning
the exit status) as a default. Adding a subcommand means adding its module to
:data:`COMMAND_MODULES`; modules import their heavy dependencies inside ``run`` so that ``--help``
stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Protocol, cast

COMMAND_MODULES: tuple[str, ...] = (
    "activity_sync_tools.local.cli",
    "activity_sync_tools.local.sandbox_cli",
    "activity_sync_tools.settings_cli",
    "activity_sync_tools.operate.import_history",
    "activity_sync_tools.operate.errors",
    "activity_sync_tools.operate.redrive",
    "activity_sync_tools.operate.status",
    "activity_sync_tools.operate.doctor",
    "activity_sync_tools.operate.canary",
    "activity_sync_tools.operate.explain",
    "activity_sync_tools.operate.preview",
    "activity_sync_tools.rehearsal_cli",
    "activity_sync_tools.hubspot_project",
)

# What ``ArgumentParser.add_subparsers()`` returns.
type Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]


class CommandModule(Protocol):
    def register(self, subcommands: Subcommands) -> None: ...


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="activity-sync",
        description="HubSpot <-> Salesforce activity sync: local runtime, sandboxes and operations.",
    )
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        module = cast(CommandModule, importlib.import_module(module_name))
        module.register(subcommands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    return int(arguments.run(arguments))


if __name__ == "__main__":
    sys.exit(main())
