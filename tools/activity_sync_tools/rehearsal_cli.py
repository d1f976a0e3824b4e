"""``activity-sync rehearse``: both sandboxes and the local stack, wired together, in the
foreground - a portal, an org and the service to try settings and flows against before pointing
the service at production. Other commands reach it with ``--local``."""

from __future__ import annotations

import argparse
import json
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from activity_sync_tools.cli import Subcommands


def register(subcommands: Subcommands) -> None:
    rehearse = subcommands.add_parser(
        "rehearse",
        help="run the sandboxes and the local stack wired together, until Ctrl-C",
        description=__doc__,
    )
    rehearse.add_argument("--hubspot-seed", type=Path, help="HubSpot sandbox seed (JSON or YAML)")
    rehearse.add_argument("--salesforce-seed", type=Path, help="Salesforce sandbox seed (JSON or YAML)")
    rehearse.add_argument("--state-dir", type=Path, default=Path(".local"), help="logs and endpoints.json")
    rehearse.add_argument("--schedules", action="store_true", help="run the poller on its schedule too")
    rehearse.set_defaults(run=run)


def _seed(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    import yaml

    loaded: dict[str, Any] = (
        yaml.safe_load(path.read_text()) if path.suffix in (".yaml", ".yml") else json.loads(path.read_text())
    )
    return loaded


def run(arguments: argparse.Namespace) -> int:
    from activity_sync_tools.rehearsal import ACTIVITY_ROUTE_TOKEN, Rehearsal

    stop = threading.Event()

    def request_stop(_signal: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    with Rehearsal.start(
        hubspot_seed=_seed(arguments.hubspot_seed),
        salesforce_seed=_seed(arguments.salesforce_seed),
        state_dir=arguments.state_dir,
        schedules=arguments.schedules,
    ) as world:
        print(f"HubSpot sandbox     {world.hubspot.url}   (token hubspot-sandbox-token)")
        print(f"Salesforce sandbox  {world.salesforce.url}   (CA bundle {world.salesforce.ca_bundle})")
        print(f"local stack API     {world.stack.api_url}")
        route = f"{world.stack.api_url}/webhooks/hubspot/activities"
        print(f"activity route      {route}  (Bearer {ACTIVITY_ROUTE_TOKEN})")
        endpoints = arguments.state_dir / "endpoints.json"
        # The sandboxes beside the stack's own endpoints, for the commands that drive them
        # (``activity-sync hubspot-project --local --upload-to-sandbox``).
        described = json.loads(endpoints.read_text())
        described.update(
            hubspot_sandbox_url=world.hubspot.url,
            salesforce_sandbox_url=world.salesforce.url,
            salesforce_ca_bundle=str(world.salesforce.ca_bundle),
        )
        endpoints.write_text(json.dumps(described, indent=2), encoding="utf-8")
        print(f"endpoints file      {endpoints}   (use --local with other commands)")
        print("Ready. Ctrl-C stops everything.", flush=True)
        stop.wait()
    return 0
