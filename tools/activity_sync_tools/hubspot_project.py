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
from activity_sync_tools.operate.target import DEFAULT_ENDPOINTS_FILE, read_endpoints

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
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# The receiver answers within HubSpot's five seconds; ten requests at once are plenty.
MAX_CONCURRENT_REQUESTS = 10
REPOSITORY_COPY = Path(__file__).resolve().parents[2] / "hubspot-app"
APP_COMPONENT = "src/app/app-hsmeta.json"
WEBHOOKS_COMPONENT = "src/app/webhooks/webhooks-hsmeta.json"


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
        APP_COMPONENT: {
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
        WEBHOOKS_COMPONENT: {
            "uid": WEBHOOKS_UID,
            "type": "webhooks",
            "config": {
                "settings": {"targetUrl": target_url, "maxConcurrentRequests": MAX_CONCURRENT_REQUESTS},
                "subscriptions": {"crmObjects": crm_objects, "legacyCrmObjects": legacy_crm_objects},
            },
        },
    }


def check_target_url(url: str) -> None:
    """HubSpot sends webhooks to https only; plain http is for a local stack and the sandbox."""
    parts = urlsplit(url)
    local = parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS
    if not (parts.scheme == "https" or local) or not parts.netloc or not parts.path.endswith(WEBHOOK_PATH):
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


def upload_to_sandbox(sandbox_url: str, component: dict[str, Any]) -> dict[str, Any]:
    """What ``hs project upload`` does to a portal's webhooks, done to the HubSpot sandbox."""
    import requests

    from activity_sync_tools.sandbox.hubspot.webhooks import settings_from_project

    session = requests.Session()
    session.trust_env = False
    response = session.post(
        f"{sandbox_url.rstrip('/')}/_sandbox/webhooks", json=settings_from_project(component), timeout=30
    )
    response.raise_for_status()
    described: dict[str, Any] = response.json()
    return described


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
    target.add_argument(
        "--local",
        type=Path,
        nargs="?",
        const=DEFAULT_ENDPOINTS_FILE,
        metavar="ENDPOINTS_JSON",
        help="the rehearsal's local stack (default file: %(const)s)",
    )
    parser.add_argument("--app-name", default=APP_NAME, help="its name in HubSpot (default: %(default)s)")
    parser.add_argument(
        "--out", type=Path, default=Path(".hubspot-project"), help="where to write it (default: %(default)s)"
    )
    parser.add_argument(
        "--upload-to-sandbox",
        nargs="?",
        const="",
        metavar="URL",
        help="set the HubSpot sandbox's webhooks up from the rendered project, as an upload would "
        "(default with --local: the rehearsal's sandbox)",
    )
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    endpoints = read_endpoints(arguments.local) if arguments.local else {}
    if arguments.local:
        target_url = f"{endpoints['api_url'].rstrip('/')}{WEBHOOK_PATH}"
    else:
        target_url = arguments.target_url or stack_webhook_url(arguments.stack)
    try:
        written = render(arguments.out, target_url, arguments.app_name)
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    for path in written:
        print(path)
    if arguments.upload_to_sandbox is not None:
        sandbox_url = arguments.upload_to_sandbox or endpoints.get("hubspot_sandbox_url")
        if not sandbox_url:
            raise SystemExit("error: which sandbox? --upload-to-sandbox URL, or --local with a rehearsal")
        component = json.loads((arguments.out / WEBHOOKS_COMPONENT).read_text())
        described = upload_to_sandbox(sandbox_url, component)
        print(
            f"HubSpot sandbox {sandbox_url}: {len(described['subscriptions'])} subscriptions, "
            f"sending to {described['target_url']}"
        )
        return 0
    print(f"Next: cd {arguments.out} && hs project upload   (npm: @hubspot/cli; `hs account auth` first)")
    return 0
