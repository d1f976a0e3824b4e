"""A full local rehearsal: both vendor sandboxes and the local stack, wired together the way a
real deployment is wired to a real portal and org.

* The stack's SSM parameters point at the sandboxes (template parameter overrides, exactly what
  ``sam deploy --parameter-overrides`` would set) and its secrets are SecureStrings, as an
  operator would create them.
* The HubSpot sandbox sends its v3-signed webhooks to the stack's ``/webhooks/hubspot`` route and
  the Salesforce sandbox its Outbound Messages to ``/webhooks/salesforce/outbound-messages``.
* This process can read and change the stack's settings through the product's own repositories.

Used by ``make demo`` and the end-to-end tests::

    with Rehearsal.start(hubspot_seed=..., salesforce_seed=...) as world:
        world.settings.save_type_settings(...)
        ...
        world.drain()
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import requests

from activity_sync_tools.hubspot_project import PLACEHOLDER_TARGET_URL, WEBHOOKS_COMPONENT, project_files
from activity_sync_tools.sandbox.core import RunningServer
from activity_sync_tools.sandbox.hubspot.webhooks import settings_from_project

if TYPE_CHECKING:
    from activity_sync_tools.sandbox.salesforce import SalesforceSandbox

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
STAGE = "dev"
PREFIX = f"/activity-sync/{STAGE}"
HUBSPOT_TOKEN = "hubspot-sandbox-token"  # noqa: S105 - the sandbox's documented credential
HUBSPOT_CLIENT_SECRET = "hubspot-sandbox-client-secret"  # noqa: S105 - the sandbox's documented credential
SALESFORCE_CLIENT_ID = "salesforce-sandbox-client-id"
SALESFORCE_CLIENT_SECRET = "salesforce-sandbox-client-secret"  # noqa: S105 - the sandbox's documented credential
ACTIVITY_ROUTE_TOKEN = "rehearsal-activity-route-token"  # noqa: S105 - local only
OUTBOUND_MESSAGE_TOKEN = "rehearsal-outbound-message-token"  # noqa: S105 - local only
CANARY_HUBSPOT_TOKEN = "rehearsal-canary-hubspot-token"  # noqa: S105 - local only
CANARY_HUBSPOT_APP_ID = 4_200_099
CANARY_SALESFORCE_CLIENT_ID = "rehearsal-canary-client"
CANARY_SALESFORCE_CLIENT_SECRET = "rehearsal-canary-client-secret"  # noqa: S105 - local only
PORTAL_ID = 62515
# What the app subscribes to: the subscriptions of the project the operator uploads (hubspot-app/),
# as the sandbox sets them up from its webhooks component.
WEBHOOK_SUBSCRIPTIONS = settings_from_project(project_files(PLACEHOLDER_TARGET_URL)[WEBHOOKS_COMPONENT])[
    "subscriptions"
]
OUTBOUND_FIELDS = {
    "Task": ["Id", "TaskSubtype", "LastModifiedById", "SystemModstamp"],
    "Event": ["Id", "LastModifiedById", "SystemModstamp"],
}


def salesforce_app(world: Rehearsal) -> SalesforceSandbox:
    return cast("SalesforceSandbox", world.salesforce.app)


def configure_outbound_messages(sandbox: SalesforceSandbox, api_url: str) -> None:
    """The org's Outbound Messages for Tasks and Events, sent to the stack's route with its token.
    The flows leave out the integration user's own changes (their entry condition)."""
    sandbox.configure_outbound(
        f"{api_url}/webhooks/salesforce/outbound-messages/{OUTBOUND_MESSAGE_TOKEN}",
        ["Task", "Event"],
        OUTBOUND_FIELDS,
        skip_changes_by=["@integration"],
    )


@dataclass
class Rehearsal:
    hubspot: RunningServer
    salesforce: RunningServer
    stack: Any  # activity_sync_tools.local.LocalStack (imported lazily: it loads moto)
    service: Any  # activity_sync.service.Service bound to the stack's tables

    @classmethod
    @contextlib.contextmanager
    def start(
        cls,
        *,
        hubspot_seed: Mapping[str, Any] | None = None,
        salesforce_seed: Mapping[str, Any] | None = None,
        state_dir: Path | None = None,
        schedules: bool = False,
        settings_cache_seconds: float | None = None,
        windows_as_deployed: bool = False,
        forms_listed_each_run: bool = True,
        function_env: Mapping[str, str] | None = None,
    ) -> Iterator[Rehearsal]:
        """``settings_cache_seconds``: how long the functions keep their copy of the settings
        table (the product's default when None; 0 makes every change apply at once, for tests
        that change a setting and act on it in the same second). ``windows_as_deployed``: the
        queues gather batches for as long as the template says (the bench), instead of the local
        runtime's 1-second cap (tests). ``forms_listed_each_run``: the poller lists HubSpot's
        forms on every run, so that a form a test makes is polled at once; False keeps the
        product's cache (the bench, whose one form exists before the first poll).
        ``function_env``: more environment for every function (the fault suite shortens the
        budget's hold, ``ACTIVITY_SYNC_BUDGET_HOLD_SECONDS``)."""
        from activity_sync_tools.local import LocalStack
        from activity_sync_tools.sandbox.hubspot import start_hubspot_sandbox
        from activity_sync_tools.sandbox.salesforce import start_salesforce_sandbox

        with contextlib.ExitStack() as cleanup:
            hubspot = start_hubspot_sandbox(
                seed=dict(hubspot_seed) if hubspot_seed else None, portal_id=PORTAL_ID
            )
            cleanup.callback(hubspot.stop)
            salesforce = start_salesforce_sandbox(seed=dict(salesforce_seed) if salesforce_seed else None)
            cleanup.callback(salesforce.stop)
            salesforce_sandbox = cast("SalesforceSandbox", salesforce.app)
            org_id = salesforce_sandbox.org_id
            stack = LocalStack.start(
                TEMPLATE,
                max_batching_window_seconds=math.inf if windows_as_deployed else 1.0,
                parameter_overrides={
                    "Stage": STAGE,
                    "HubSpotApiBaseUrl": hubspot.url,
                    "HubSpotPortalId": str(PORTAL_ID),
                    "SalesforceTokenUrl": f"{salesforce.url}/services/oauth2/token",
                    "SalesforceAuthFlow": "client_credentials",
                    "SalesforceClientId": SALESFORCE_CLIENT_ID,
                    "SalesforceOrgId": org_id,
                    "SalesforceApiVersion": "62.0",
                    # The sandboxes index and commit at once: nothing to let settle.
                    "PollSettleSeconds": "0",
                },
                # The Salesforce sandbox's certificate is self-signed: the functions trust it the
                # way a corporate proxy's CA is trusted, through requests' CA bundle variable.
                extra_env={
                    "REQUESTS_CA_BUNDLE": str(salesforce.ca_bundle),
                    # Forms come and go between the rehearsal's steps: the poller lists them each run.
                    **({"POLL_FORMS_LIST_SECONDS": "0"} if forms_listed_each_run else {}),
                    **(
                        {"ACTIVITY_SYNC_SETTINGS_CACHE_SECONDS": str(settings_cache_seconds)}
                        if settings_cache_seconds is not None
                        else {}
                    ),
                    **(function_env or {}),
                },
                state_dir=state_dir,
                schedules=schedules,
            )
            cleanup.callback(stack.stop)
            for name, value in {
                "hubspot/private-app-token": HUBSPOT_TOKEN,
                "hubspot/webhook-client-secret": HUBSPOT_CLIENT_SECRET,
                "webhooks/activity-route-token": ACTIVITY_ROUTE_TOKEN,
                "webhooks/outbound-message-token": OUTBOUND_MESSAGE_TOKEN,
                "salesforce/client-secret": SALESFORCE_CLIENT_SECRET,
                # The canary's own identities (activity-sync canary): another HubSpot app's token
                # and a second External Client App run as a person.
                "canary/hubspot-token": CANARY_HUBSPOT_TOKEN,
                "canary/salesforce-client-id": CANARY_SALESFORCE_CLIENT_ID,
                "canary/salesforce-client-secret": CANARY_SALESFORCE_CLIENT_SECRET,
            }.items():
                stack.put_secure_parameter(f"{PREFIX}/{name}", value)
            requests.post(
                f"{hubspot.url}/_sandbox/config",
                json={"app_tokens": {CANARY_HUBSPOT_TOKEN: CANARY_HUBSPOT_APP_ID}},
                timeout=10,
            ).raise_for_status()
            canary_person = salesforce_sandbox.create_user(
                {
                    "Username": "canary.person@sandbox.example.com",
                    "Email": "canary.person@sandbox.example.com",
                    "LastName": "Canary",
                }
            )
            salesforce_sandbox.other_clients[CANARY_SALESFORCE_CLIENT_ID] = (
                CANARY_SALESFORCE_CLIENT_SECRET,
                canary_person,
            )
            requests.post(
                f"{hubspot.url}/_sandbox/webhooks",
                json={
                    "target_url": f"{stack.api_url}/webhooks/hubspot",
                    "client_secret": HUBSPOT_CLIENT_SECRET,
                    "subscriptions": WEBHOOK_SUBSCRIPTIONS,
                },
                timeout=10,
            ).raise_for_status()
            # Document views and other apps' events reach the service the way a portal sends them:
            # a workflow's webhook action posting to the activity route.
            requests.post(
                f"{hubspot.url}/_sandbox/workflow-webhooks",
                json={
                    "target_url": f"{stack.api_url}/webhooks/hubspot/activities",
                    "bearer_token": ACTIVITY_ROUTE_TOKEN,
                },
                timeout=10,
            ).raise_for_status()
            configure_outbound_messages(salesforce_sandbox, stack.api_url)
            # On the way out, the vendors stop notifying before the stack stops listening.
            cleanup.callback(
                requests.delete,
                f"{salesforce.url}/_sandbox/outbound-messages",
                verify=str(salesforce.ca_bundle),
                timeout=10,
            )
            cleanup.callback(requests.delete, f"{hubspot.url}/_sandbox/webhooks", timeout=10)
            cleanup.callback(requests.delete, f"{hubspot.url}/_sandbox/workflow-webhooks", timeout=10)
            service = cls._bind_service(stack, salesforce)
            world = cls(hubspot, salesforce, stack, service)
            yield world

    @staticmethod
    def _bind_service(stack: Any, salesforce: RunningServer) -> Any:
        """The product's own service objects, pointed at the local stack from this process with
        the same resolved environment the functions get."""
        os.environ["AWS_ENDPOINT_URL"] = stack.aws_endpoint_url
        from activity_sync_tools.local.iam import use_operator_credentials

        use_operator_credentials(os.environ)
        os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
        os.environ["REQUESTS_CA_BUNDLE"] = str(salesforce.ca_bundle)
        from activity_sync.config import RuntimeConfig
        from activity_sync.service import Service

        environment = stack.model.functions["WebhookReceiver"].environment
        return Service(RuntimeConfig.load(environment))

    # ------------------------------------------------------------------------------- helpers
    def flush(self) -> None:
        """Deliver what both sandboxes have pending (webhooks, outbound messages) now."""
        requests.post(f"{self.hubspot.url}/_sandbox/webhooks/flush", timeout=60).raise_for_status()
        requests.post(
            f"{self.salesforce.url}/_sandbox/outbound-messages/flush",
            timeout=60,
            verify=str(self.salesforce.ca_bundle),
        ).raise_for_status()

    def drain(self, timeout: float = 120) -> None:
        """Deliver pending vendor notifications and wait until every queue is empty, twice: a
        syncer's work can produce more work (a contact link wakes waiting activities)."""
        for _ in range(3):
            self.flush()
            self.stack.wait_until_drained(timeout=timeout)

    def poll(self) -> None:
        self.stack.trigger_schedule("Poller")

    def post_activity(self, payload: Mapping[str, Any] | list[Mapping[str, Any]]) -> requests.Response:
        return requests.post(
            f"{self.stack.api_url}/webhooks/hubspot/activities",
            json=payload,
            headers={"Authorization": f"Bearer {ACTIVITY_ROUTE_TOKEN}"},
            timeout=10,
        )
