"""``activity-sync sandbox``: both vendor sandboxes in the foreground, for ``activity-sync local up``
(or a deployed stack pointed at this machine) to talk to.

``--seed FILE`` (JSON or YAML) holds one section per sandbox, ``{"hubspot": {...}, "salesforce":
{...}}``, each in that sandbox's own seed format; a sandbox without a section starts empty.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from activity_sync_tools.cli import Subcommands

SEED_SECTIONS = ("hubspot", "salesforce")


def register(subcommands: Subcommands) -> None:
    sandbox = subcommands.add_parser(
        "sandbox",
        help="run the HubSpot and Salesforce sandboxes in the foreground",
        description="Serve both vendor sandboxes, print their URLs and credentials, stay up until Ctrl-C.",
    )
    sandbox.add_argument(
        "--hubspot-port", type=int, default=8081, help="(default: %(default)s; 0 picks a free port)"
    )
    sandbox.add_argument(
        "--salesforce-port", type=int, default=8082, help="(default: %(default)s; 0 picks a free port)"
    )
    sandbox.add_argument("--seed", type=Path, default=None, metavar="FILE", help="seed data, JSON or YAML")
    sandbox.set_defaults(run=run_sandbox)


def read_seed(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, dict) or set(data) - set(SEED_SECTIONS):
        raise ValueError(f"a seed file is a mapping with the sections {' and '.join(SEED_SECTIONS)}")
    return data


def hubspot_details(server: Any) -> dict[str, str]:
    app = server.app
    return {
        "private app token": str(app.token),
        "webhook client secret": str(app.webhooks.settings.client_secret),
        "portal id": str(app.portal_id),
        "app id": str(app.app_id),
    }


def salesforce_details(server: Any) -> dict[str, str]:
    app = server.app
    return {
        "token URL": f"{server.url}/services/oauth2/token",
        "client id": str(app.client_id),
        "client secret": str(app.client_secret),
        "org id": str(app.org_id),
        "API version": str(app.api_version),
        "CA bundle": f"{server.ca_bundle}   (REQUESTS_CA_BUNDLE for its clients)",
    }


def local_up_hint(hubspot: Any, salesforce: Any) -> str:
    """The ``activity-sync local up`` options that point the local stack at these sandboxes."""
    overrides = {
        "HubSpotApiBaseUrl": hubspot.url,
        "HubSpotPortalId": str(hubspot.app.portal_id),
        "SalesforceTokenUrl": f"{salesforce.url}/services/oauth2/token",
        "SalesforceClientId": str(salesforce.app.client_id),
        "SalesforceOrgId": str(salesforce.app.org_id),
    }
    pairs = " ".join(f"{key}={value}" for key, value in overrides.items())
    ca_bundle = f"REQUESTS_CA_BUNDLE={salesforce.ca_bundle}"
    return f"activity-sync local up --parameter-overrides {pairs} --env {ca_bundle}"


def run_sandbox(arguments: argparse.Namespace) -> int:
    from activity_sync_tools.local.cli import wait_for_stop_signal
    from activity_sync_tools.sandbox.hubspot import start_hubspot_sandbox
    from activity_sync_tools.sandbox.salesforce import start_salesforce_sandbox

    try:
        seed = read_seed(arguments.seed)
    except (OSError, ValueError) as error:
        print(f"activity-sync sandbox: {error}", file=sys.stderr)
        return 2
    servers: list[Any] = []
    try:
        hubspot = start_hubspot_sandbox(arguments.hubspot_port, seed=seed.get("hubspot"))
        servers.append(hubspot)
        salesforce = start_salesforce_sandbox(arguments.salesforce_port, seed=seed.get("salesforce"))
        servers.append(salesforce)
        for title, server, details in (
            ("HubSpot", hubspot, hubspot_details(hubspot)),
            ("Salesforce", salesforce, salesforce_details(salesforce)),
        ):
            print(f"{title:<11} {server.url}")
            for name, value in details.items():
                print(f"  {name:<22} {value}")
        print(f"\nPoint the local stack at them:\n  {local_up_hint(hubspot, salesforce)}")
        wait_for_stop_signal("\nReady. Ctrl-C stops the sandboxes.")
    except ValueError as error:  # a seed the sandbox refuses
        print(f"activity-sync sandbox: {error}", file=sys.stderr)
        return 2
    finally:
        for server in reversed(servers):
            server.stop()
    return 0
