"""Which stack a command works on, and the product's objects bound to it.

``--local [ENDPOINTS_JSON]`` reads the endpoints file the local stack writes (``activity-sync local
up`` or ``rehearse``: ``.local/endpoints.json``); ``--stack NAME`` finds a deployed stack's stage
through CloudFormation (your usual AWS credentials and region) and its tables and queues in the
stack's directory in SSM, as the functions do.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from activity_sync.config import RuntimeConfig
    from activity_sync.service import Service

DEFAULT_ENDPOINTS_FILE = Path(".local/endpoints.json")
# The contact linker's queue, by the key its dead-letter registry uses (functions/contact_linker).
CONTACT_CHANGES = "contact_changes"
# Hosts that sign in to Salesforce but do not name the org: no record URL can be made from them.
GENERIC_SALESFORCE_HOSTS = ("login.salesforce.com", "test.salesforce.com")


def add_target(parser: argparse.ArgumentParser, *, json_output: bool = True) -> None:
    """``--local`` / ``--stack`` / ``--stage``, and ``--json`` for the commands that print figures."""
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--local",
        type=Path,
        nargs="?",
        const=DEFAULT_ENDPOINTS_FILE,
        metavar="ENDPOINTS_JSON",
        help="the local stack (default file: %(const)s)",
    )
    target.add_argument("--stack", metavar="NAME", help="a deployed stack, by CloudFormation stack name")
    parser.add_argument("--stage", default=None, help="SSM stage (default: the stack's, or dev)")
    if json_output:
        parser.add_argument("--json", action="store_true", help="machine-readable output")


def read_endpoints(path: Path) -> dict[str, Any]:
    """The local stack's endpoints file (written by ``local up`` and ``rehearse``)."""
    try:
        endpoints: dict[str, Any] = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise SystemExit(
            f"{path} not found: start the local stack ('activity-sync local up') or name a --stack"
        ) from None
    return endpoints


def queue_logical_id(sync_key: str) -> str:
    """template.yaml's name for a sync type's queue: hubspot_to_salesforce#form_submission ->
    HubSpotFormSubmissionQueue (the template test keeps the two in step)."""
    direction, _, type_name = sync_key.partition("#")
    side = "HubSpot" if direction == "hubspot_to_salesforce" else "Salesforce"
    return side + "".join(part.capitalize() for part in type_name.split("_")) + "Queue"


def runtime_config(arguments: argparse.Namespace) -> RuntimeConfig:
    """Point this process at the chosen stack's tables and queues (and, locally, the embedded AWS)."""
    from activity_sync.config import RuntimeConfig, queue_env_var
    from activity_sync.domain import ALL_SYNC_TYPES, SyncType

    if arguments.stack:
        import boto3

        stack = boto3.client("cloudformation").describe_stacks(StackName=arguments.stack)["Stacks"][0]
        stage = arguments.stage or next(
            (p["ParameterValue"] for p in stack.get("Parameters", []) if p["ParameterKey"] == "Stage"), "dev"
        )
        # The stack's directory in SSM names its tables and every type's queues.
        return RuntimeConfig.load({"STAGE": stage})
    endpoints = read_endpoints(arguments.local or DEFAULT_ENDPOINTS_FILE)
    os.environ["AWS_ENDPOINT_URL"] = endpoints["aws_endpoint_url"]
    if endpoints.get("salesforce_ca_bundle"):
        # The rehearsal's Salesforce sandbox speaks TLS with a certificate of its own; a local
        # target calls nothing else over TLS.
        os.environ["REQUESTS_CA_BUNDLE"] = endpoints["salesforce_ca_bundle"]
    from activity_sync_tools.local.iam import use_operator_credentials

    use_operator_credentials(os.environ)
    os.environ["AWS_DEFAULT_REGION"] = endpoints.get("region", "us-east-1")
    tables = endpoints["tables"]
    queues: dict[str, str] = endpoints.get("queues", {})
    environ = {
        "STAGE": arguments.stage or "dev",
        "SETTINGS_TABLE": tables["SettingsTable"],
        "LINKS_TABLE": tables["LinksTable"],
        "SYNC_STATE_TABLE": tables["SyncStateTable"],
        "IDEMPOTENCY_TABLE": tables["IdempotencyTable"],
        **{
            queue_env_var(t): queues[queue_logical_id(t.key)]
            for t in ALL_SYNC_TYPES
            if queue_logical_id(t.key) in queues
        },
    }
    if "ContactChangesQueue" in queues:
        environ["QUEUE_URL_CONTACT_CHANGES"] = queues["ContactChangesQueue"]
    dead_letters: dict[SyncType, str] = {}
    for sync_type in ALL_SYNC_TYPES:
        name = queue_logical_id(sync_type.key).removesuffix("Queue") + "DeadLetterQueue"
        if name in queues:
            dead_letters[sync_type] = queues[name]
    return replace(
        RuntimeConfig.from_environ(environ),
        dead_letter_queue_urls=dead_letters,
        contact_dead_letter_queue_url=queues.get("ContactChangesDeadLetterQueue"),
    )


@dataclass(frozen=True)
class RecordUrls:
    """Where a person opens a record in its app, when the stack's settings say which portal and
    which org (the HubSpot portal id; a My Domain token URL): None otherwise."""

    hubspot_portal_id: int | None
    hubspot_app: str
    salesforce_base: str | None

    @classmethod
    def from_settings(cls, portal_id: int | None, hubspot_api: str, token_url: str | None) -> RecordUrls:
        # EU portals live on app-eu1 when their API is api-eu1.
        api_host = urlsplit(hubspot_api).hostname or ""
        app = "https://app-eu1.hubspot.com" if api_host.startswith("api-eu1.") else "https://app.hubspot.com"
        parts = urlsplit(token_url or "")
        known = parts.hostname and parts.hostname not in GENERIC_SALESFORCE_HOSTS
        base = f"{parts.scheme}://{parts.netloc}" if known else None
        return cls(portal_id, app, base)

    def hubspot_contact(self, contact_id: str | None) -> str | None:
        if not contact_id or self.hubspot_portal_id is None:
            return None
        return f"{self.hubspot_app}/contacts/{self.hubspot_portal_id}/record/0-1/{contact_id}"

    def salesforce_record(self, record_id: str | None) -> str | None:
        # /<id> opens any record (Salesforce redirects to its Lightning page).
        return f"{self.salesforce_base}/{record_id}" if record_id and self.salesforce_base else None


class _CurrentStderr:
    """Whatever ``sys.stderr`` is when a log line is written (a test's capture comes and goes)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def quiet_product_logs() -> None:
    """The functions' JSON log lines are for CloudWatch: here only warnings are shown, on stderr,
    so that stdout stays the command's answer (a table or --json)."""
    from activity_sync.observability import logger

    logger.setLevel(logging.WARNING)
    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(_CurrentStderr())


class Stack:
    """The product's service bound to the chosen stack, and what the commands need beside it."""

    def __init__(self, arguments: argparse.Namespace, *, metered: bool = True) -> None:
        """``metered=False``: the vendor calls are not charged to the service's shared budget (a
        write), for commands that must only read."""
        from activity_sync.service import Service

        quiet_product_logs()
        self.arguments = arguments
        self.config = runtime_config(arguments)
        self.service: Service = Service(self.config, metered=metered)

    @cached_property
    def sqs(self) -> Any:
        return self.service.queues.client

    def queue_urls(self) -> dict[str, str]:
        """Queue key (a sync type key, or ``contact_changes``) -> the queue its consumer reads."""
        urls = {sync_type.key: url for sync_type, url in self.config.queue_urls.items()}
        if self.config.contact_queue_url:
            urls[CONTACT_CHANGES] = self.config.contact_queue_url
        return urls

    def dead_letter_queue_urls(self) -> dict[str, str]:
        """Queue key -> its dead-letter queue, in the order of the types."""
        from activity_sync.domain import ALL_SYNC_TYPES

        known = self.config.dead_letter_queue_urls
        urls = {t.key: known[t] for t in ALL_SYNC_TYPES if t in known}
        if self.config.contact_dead_letter_queue_url:
            urls[CONTACT_CHANGES] = self.config.contact_dead_letter_queue_url
        return urls

    def outbound_message_url(self) -> str:
        """Where the org's Outbound Messages must go (before the token): the stack's
        ``SalesforceOutboundMessageUrl`` output, or the local stack's route (``LookupError``: the
        stack has no such output)."""
        if self.arguments.stack:
            import boto3

            stack = boto3.client("cloudformation").describe_stacks(StackName=self.arguments.stack)["Stacks"][
                0
            ]
            for output in stack.get("Outputs", []):
                if output["OutputKey"] == "SalesforceOutboundMessageUrl":
                    return str(output["OutputValue"]).rstrip("/")
            raise LookupError(f"stack {self.arguments.stack} has no SalesforceOutboundMessageUrl output")
        endpoints = read_endpoints(self.arguments.local or DEFAULT_ENDPOINTS_FILE)
        return f"{endpoints['api_url']}/webhooks/salesforce/outbound-messages"

    @cached_property
    def record_urls(self) -> RecordUrls:
        from activity_sync.config import load_connection_settings

        settings = load_connection_settings(
            self.config, ("hubspot/portal-id", "hubspot/api-base-url", "salesforce/token-url")
        )
        return RecordUrls.from_settings(
            settings.hubspot_portal_id, settings.hubspot_api_base_url, settings.get("salesforce/token-url")
        )

    def queue_counts(self, url: str) -> dict[str, int]:
        """Messages in a queue: visible, in flight, and delayed (held back by the API budget)."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return {
            "visible": int(attributes.get("ApproximateNumberOfMessages", 0)),
            "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
            "delayed": int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
        }


def queue_key(text: str) -> str:
    """A TYPE argument: a sync type key (``hubspot_to_salesforce#note``), a type name that only one
    direction has (``note``), or ``contact_changes``."""
    from activity_sync.domain import ALL_SYNC_TYPES

    keys = [t.key for t in ALL_SYNC_TYPES] + [CONTACT_CHANGES]
    matches = [key for key in keys if text in (key, key.partition("#")[2])]
    if len(matches) == 1:
        return matches[0]
    if matches:  # a type both directions have: name the two, not every type
        raise SystemExit(f"error: {text!r} is ambiguous: {' or '.join(matches)}")
    raise SystemExit(f"error: {text!r} is not a type; one of: {', '.join(keys)}")
