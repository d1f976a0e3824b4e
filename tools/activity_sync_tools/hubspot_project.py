"""``activity-sync hubspot-project``: the HubSpot app as code.

Renders the HubSpot developer-platform project of the service - a privately distributed app with
static auth, exactly the scopes the service uses, and its webhook subscriptions aimed at a stack's
``HubSpotWebhookUrl`` - from the one declaration in ``activity_sync.rules.hubspot_subscriptions``.
``hubspot-app/`` in the repository is this project rendered for no stack (a placeholder target URL);
render it for yours, then upload it with HubSpot's CLI::

    activity-sync hubspot-project --stack activity-sync --out .hubspot-project
    cd .hubspot-project && hs project upload

File shapes: HubSpot's project docs (developers.hubspot.com/docs/apps/developer-platform/build-apps/
create-an-app, .../add-features/configure-webhooks). ``make test`` checks them with HubSpot's own
parser, ``@hubspot/project-parsing-lib`` (``hubspot/validate``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from activity_sync.rules.hubspot_subscriptions import REQUIRED_SCOPES, WEBHOOK_SUBSCRIPTIONS

if TYPE_CHECKING:
    from activity_sync_tools.cli import Subcommands

# The newest platform version HubSpot's CLI (8.14) and project-parsing-lib (0.23) take as current.
PLATFORM_VERSION = "2026.03"
PROJECT_NAME = "activity-sync"
APP_NAME = "HubSpot-Salesforce activity sync"
APP_UID = "activity_sync_app"
WEBHOOKS_UID = "activity_sync_webhooks"
PLACEHOLDER_TARGET_URL = "https://example.invalid/webhooks/hubspot"
WEBHOOK_PATH = "/webhooks/hubspot"
# The receiver answers within HubSpot's five seconds; ten requests at once are plenty.
MAX_CONCURRENT_REQUESTS = 10
REPOSITORY_COPY = Path(__file__).resolve().parents[2] / "hubspot-app"


def project_files(target_url: str, app_name: str = APP_NAME) -> dict[str, dict[str, Any]]:
    """The project's files (relative path -> JSON) for a stack's webhook URL."""
    check_target_url(target_url)
    crm_objects: list[dict[str, Any]] = []
    legacy_crm_objects: list[dict[str, Any]] = []
    for subscription in WEBHOOK_SUBSCRIPTIONS:
        entry: dict[str, Any] = {"subscriptionType": subscription.subscription_type}
        if subscription.activity is not None:
            entry["objectType"] = subscription.activity.project_name
        if subscription.property_name:
            entry["propertyName"] = subscription.property_name
        entry["active"] = True
        (crm_objects if subscription.activity is not None else legacy_crm_objects).append(entry)
    return {
        "hsproject.json": {"name": PROJECT_NAME, "srcDir": "src", "platformVersion": PLATFORM_VERSION},
        "src/app/app-hsmeta.json": {
            "uid": APP_UID,
            "type": "app",
            "config": {
                "name": app_name,
                "description": (
                    "Copies activities between HubSpot and Salesforce (the activity-sync AWS stack). "
                    "Its token reads and writes activities; its webhooks tell the stack what changed."
                ),
                "distribution": "private",
                "auth": {
                    "type": "static",
                    "requiredScopes": list(REQUIRED_SCOPES),
                    "optionalScopes": [],
                    "conditionallyRequiredScopes": [],
                },
                "permittedUrls": {"fetch": [], "iframe": [], "img": []},
            },
        },
        "src/app/webhooks/webhooks-hsmeta.json": {
            "uid": WEBHOOKS_UID,
            "type": "webhooks",
            "config": {
                "settings": {"targetUrl": target_url, "maxConcurrentRequests": MAX_CONCURRENT_REQUESTS},
                "subscriptions": {"crmObjects": crm_objects, "legacyCrmObjects": legacy_crm_objects},
            },
        },
    }


def check_target_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc or not parts.path.endswith(WEBHOOK_PATH):
        raise ValueError(f"the webhook target must be the stack's https://…{WEBHOOK_PATH} URL, not {url!r}")


def render(directory: Path, target_url: str, app_name: str = APP_NAME) -> list[Path]:
    """Write the project under ``directory``; returns the files written."""
    written = []
    for relative, content in project_files(target_url, app_name).items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written


def stack_webhook_url(stack_name: str) -> str:
    """The deployed stack's ``HubSpotWebhookUrl`` output."""
    import boto3

    stack = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
    for output in stack.get("Outputs", []):
        if output["OutputKey"] == "HubSpotWebhookUrl":
            return str(output["OutputValue"])
    raise SystemExit(f"stack {stack_name} has no HubSpotWebhookUrl output: is it this project's stack?")


def register(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "hubspot-project",
        help="render the HubSpot app (scopes, webhook subscriptions) for a stack, for `hs project upload`",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--stack", metavar="NAME", help="take the webhook URL from this CloudFormation stack")
    target.add_argument("--target-url", metavar="URL", help=f"the stack's https://…{WEBHOOK_PATH} URL")
    parser.add_argument("--app-name", default=APP_NAME, help="its name in HubSpot (default: %(default)s)")
    parser.add_argument(
        "--out", type=Path, default=Path(".hubspot-project"), help="where to write it (default: %(default)s)"
    )
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    target_url = arguments.target_url or stack_webhook_url(arguments.stack)
    try:
        written = render(arguments.out, target_url, arguments.app_name)
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    for path in written:
        print(path)
    print(f"Next: cd {arguments.out} && hs project upload   (npm: @hubspot/cli; `hs account auth` first)")
    return 0
