"""``activity-sync settings`` and ``activity-sync status``: read and change the settings items
(S1-S4) and read the outcome figures (R16) of a deployed stack or of the local stack.

Which stack: ``--local`` reads the endpoints file ``activity-sync local up`` writes
(``.local/endpoints.json``); ``--stack NAME`` reads a deployed stack's outputs through
CloudFormation (your usual AWS credentials and region). The same changes can be made by hand as
DynamoDB items in the console; this command adds the checks (switch semantics, subject templates,
the org's Task.Type picklist) and the ``enabled_at`` stamp.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from activity_sync.config import RuntimeConfig
    from activity_sync.service import Service
    from activity_sync_tools.cli import Subcommands

DEFAULT_ENDPOINTS_FILE = Path(".local/endpoints.json")


def _add_target(parser: argparse.ArgumentParser) -> None:
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


def register(subcommands: Subcommands) -> None:
    settings = subcommands.add_parser(
        "settings", help="show or change the sync settings (switches, task types…)"
    )
    _add_target(settings)
    actions = settings.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("show", help="every type's settings, the integration user and the overrides")
    enable = actions.add_parser("enable", help="turn a type's switch on (records enabled_at = now)")
    enable.add_argument("sync_type", help="e.g. hubspot_to_salesforce#note (see 'show')")
    enable.add_argument("--task-type", help="Salesforce Task.Type value for this type, or 'none'")
    disable = actions.add_parser("disable", help="turn a type's switch off")
    disable.add_argument("sync_type")
    change = actions.add_parser("set", help="change a type's task type or subject template")
    change.add_argument("sync_type")
    change.add_argument("--task-type", help="a Task.Type picklist value, or 'none'")
    change.add_argument("--subject-template", help="e.g. 'Opened: {email_name}'; 'default' to remove")
    user = actions.add_parser("integration-user", help="set the Salesforce integration user (S4)")
    user.add_argument("user_id")
    deletions = actions.add_parser(
        "deletions", help="whether deleting a synced record deletes its twin on the other side (default off)"
    )
    deletions.add_argument("state", choices=["on", "off"])
    override = actions.add_parser("override", help="link a HubSpot owner/contact to a Salesforce id by hand")
    override.add_argument("kind", choices=["owner", "contact"])
    override.add_argument("hubspot_id")
    override.add_argument("salesforce_id", help="a User (owner) or Contact/Lead (contact) id; 'none' removes")
    settings.set_defaults(run=run_settings)

    status = subcommands.add_parser(
        "status", help="outcome figures per type: synced, waiting and why, skipped"
    )
    _add_target(status)
    status.add_argument("--since", type=dt.date.fromisoformat, help="first day counted (YYYY-MM-DD)")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(run=run_status)


def queue_logical_id(sync_key: str) -> str:
    """template.yaml's name for a sync type's queue: hubspot_to_salesforce#form_submission ->
    HubSpotFormSubmissionQueue (the template test keeps the two in step)."""
    direction, _, type_name = sync_key.partition("#")
    side = "HubSpot" if direction == "hubspot_to_salesforce" else "Salesforce"
    return side + "".join(part.capitalize() for part in type_name.split("_")) + "Queue"


def _queue_environ(queue_urls: dict[str, str]) -> dict[str, str]:
    from activity_sync.config import queue_env_var
    from activity_sync.domain import ALL_SYNC_TYPES

    environ = {
        queue_env_var(t): queue_urls[queue_logical_id(t.key)]
        for t in ALL_SYNC_TYPES
        if queue_logical_id(t.key) in queue_urls
    }
    if "ContactChangesQueue" in queue_urls:
        environ["QUEUE_URL_CONTACT_CHANGES"] = queue_urls["ContactChangesQueue"]
    return environ


def runtime_config(arguments: argparse.Namespace) -> RuntimeConfig:
    """Point this process at the chosen stack's tables (and, locally, the embedded AWS)."""
    from activity_sync.config import RuntimeConfig

    if arguments.stack:
        import boto3

        stack = boto3.client("cloudformation").describe_stacks(StackName=arguments.stack)["Stacks"][0]
        stage = arguments.stage or next(
            (p["ParameterValue"] for p in stack.get("Parameters", []) if p["ParameterKey"] == "Stage"), "dev"
        )
        # The stack's directory in SSM names its tables and every type's queues.
        return RuntimeConfig.load({"STAGE": stage})
    endpoints_file = arguments.local or DEFAULT_ENDPOINTS_FILE
    try:
        endpoints: dict[str, Any] = json.loads(Path(endpoints_file).read_text())
    except FileNotFoundError:
        raise SystemExit(
            f"{endpoints_file} not found: start the local stack ('activity-sync local up') or name a --stack"
        ) from None
    os.environ["AWS_ENDPOINT_URL"] = endpoints["aws_endpoint_url"]
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ["AWS_DEFAULT_REGION"] = endpoints.get("region", "us-east-1")
    tables = endpoints["tables"]
    environ = {
        "STAGE": arguments.stage or "dev",
        "SETTINGS_TABLE": tables["SettingsTable"],
        "LINKS_TABLE": tables["LinksTable"],
        "SYNC_STATE_TABLE": tables["SyncStateTable"],
        "IDEMPOTENCY_TABLE": tables["IdempotencyTable"],
        **_queue_environ(endpoints.get("queues", {})),
    }
    return RuntimeConfig.from_environ(environ)


def _service(arguments: argparse.Namespace) -> Service:
    from activity_sync.service import Service

    return Service(runtime_config(arguments))


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def run_settings(arguments: argparse.Namespace) -> int:
    from activity_sync.domain import ALL_SYNC_TYPES, Direction, HubSpotActivityType, SyncType
    from activity_sync.rules.salesforce_ids import InvalidSalesforceIdError, normalize_salesforce_id
    from activity_sync.rules.subjects import SubjectTemplateError, validate_subject_overrides
    from activity_sync.rules.switches import set_switch
    from activity_sync.rules.task_type import TaskTypeError, validate_task_type

    service = _service(arguments)
    repository = service.settings
    now = dt.datetime.now(dt.UTC)
    by = f"cli:{os.environ.get('USER', 'unknown')}"

    if arguments.action == "show":
        rows = []
        for sync_type in ALL_SYNC_TYPES:
            settings = repository.type_settings(sync_type)
            rows.append(
                {
                    "type": sync_type.key,
                    "enabled": settings.enabled,
                    "enabled_at": settings.enabled_at.isoformat() if settings.enabled_at else None,
                    "task_type": settings.task_type,
                    "subject_template": settings.subject_template,
                }
            )
        print(
            json.dumps(
                {
                    "types": rows,
                    "integration_user_id": repository.integration_user_id(),
                    "sync_deletions": repository.sync_deletions(),
                    "owner_overrides": repository.overrides("owner"),
                    "contact_overrides": repository.overrides("contact"),
                },
                indent=2,
            )
        )
        return 0
    if arguments.action == "integration-user":
        try:
            repository.set_integration_user_id(normalize_salesforce_id(arguments.user_id))
        except InvalidSalesforceIdError as error:
            return _fail(str(error))
        print(f"integration user set to {normalize_salesforce_id(arguments.user_id)}")
        return 0
    if arguments.action == "deletions":
        repository.set_sync_deletions(arguments.state == "on")
        print(f"deletion sync {arguments.state}")
        return 0
    if arguments.action == "override":
        if arguments.salesforce_id == "none":
            repository.delete_override(arguments.kind, arguments.hubspot_id)
            print(f"{arguments.kind} override for {arguments.hubspot_id} removed")
            return 0
        try:
            salesforce_id = normalize_salesforce_id(arguments.salesforce_id)
        except InvalidSalesforceIdError as error:
            return _fail(str(error))
        repository.set_override(arguments.kind, arguments.hubspot_id, salesforce_id)
        print(f"{arguments.kind} {arguments.hubspot_id} -> {salesforce_id}")
        return 0

    try:
        sync_type = SyncType.parse(arguments.sync_type)
    except ValueError as error:
        return _fail(str(error))
    settings = repository.type_settings(sync_type)
    if arguments.action in ("enable", "disable"):
        settings = set_switch(settings, arguments.action == "enable", now)
    task_type = getattr(arguments, "task_type", None)
    if task_type is not None:
        if sync_type.direction is not Direction.HUBSPOT_TO_SALESFORCE:
            return _fail("a task type applies to HubSpot -> Salesforce types only (S2)")
        wanted = None if task_type.lower() == "none" else task_type
        try:
            picklist = service.salesforce().picklist_values("Task", "Type") if wanted else []
            settings = replace(settings, task_type=validate_task_type(wanted, picklist))
        except TaskTypeError as error:
            return _fail(str(error))
    template = getattr(arguments, "subject_template", None)
    if template is not None:
        settings = replace(settings, subject_template=None if template == "default" else template)
        try:
            validate_subject_overrides(HubSpotActivityType(sync_type.type), settings)
        except (SubjectTemplateError, ValueError) as error:
            return _fail(str(error))
    repository.save_type_settings(sync_type, settings, by=by)
    state = "on" if settings.enabled else "off"
    since = f" since {settings.enabled_at.isoformat()}" if settings.enabled and settings.enabled_at else ""
    print(f"{sync_type.key}: {state}{since}; task type: {settings.task_type or 'none'}")
    return 0


def run_status(arguments: argparse.Namespace) -> int:
    from activity_sync.domain import ALL_SYNC_TYPES

    service = _service(arguments)
    figures = {t.key: service.state.outcome_figures(t, arguments.since) for t in ALL_SYNC_TYPES}
    if arguments.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(format_status(figures))
    return 0


def format_status(figures: dict[str, dict[str, int]]) -> str:
    lines = [f"{'type':<40} {'synced':>7}  waiting / skipped (reason: n)"]
    for key, outcome in figures.items():
        synced = sum(n for label, n in outcome.items() if label == "synced" or label.startswith("synced:"))
        others = ", ".join(
            f"{label}: {n}" for label, n in sorted(outcome.items()) if not label.startswith("synced")
        )
        lines.append(f"{key:<40} {synced:>7}  {others or '-'}")
    return "\n".join(lines)


def _aware_date(text: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), tzinfo=dt.UTC)


def run_import(arguments: argparse.Namespace) -> int:
    import time

    from activity_sync.domain import SalesforceActivityType, SyncType
    from activity_sync.rules.switches import is_on
    from activity_sync.usecases.backfill import import_salesforce_history

    service = _service(arguments)
    types = [SalesforceActivityType(t) for t in arguments.types]
    off = [
        t.value for t in types if not is_on(service.settings.type_settings(SyncType.salesforce_to_hubspot(t)))
    ]
    if off:
        return _fail(
            f"switch these on first (an import syncs through the same switches): {', '.join(off)} "
            "- e.g. activity-sync settings enable salesforce_to_hubspot#task"
        )
    before = {t: service.state.outcome_figures(SyncType.salesforce_to_hubspot(t)) for t in types}

    def progress(activity_type: SalesforceActivityType, queued: int) -> None:
        print(f"  {activity_type.value:<8} queued {queued:>7}", flush=True)

    try:
        queued = import_salesforce_history(
            service.salesforce(), service.queues, types, arguments.since, arguments.until, progress
        )
    except ValueError as error:
        return _fail(str(error))
    window = f"{arguments.since.date()} .. {arguments.until.date()}"
    print(f"queued {sum(queued.values())} record(s) created {window}")
    if not arguments.wait:
        print("they sync in the background; 'activity-sync status' shows the figures")
        return 0
    sqs = service.queues.client
    urls = [service.config.queue_url(SyncType.salesforce_to_hubspot(t)) for t in types]
    deadline = time.monotonic() + arguments.timeout
    while time.monotonic() < deadline:
        depth = 0
        for url in urls:
            attributes = sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            depth += int(attributes["ApproximateNumberOfMessages"])
            depth += int(attributes["ApproximateNumberOfMessagesNotVisible"])
        if depth == 0:
            break
        print(f"  {depth} still in the queues", flush=True)
        time.sleep(2)
    else:
        return _fail(f"not finished after {arguments.timeout:.0f} s; 'activity-sync status' shows progress")
    print("summary (this import's share of each figure):")
    for activity_type in types:
        after = service.state.outcome_figures(SyncType.salesforce_to_hubspot(activity_type))
        delta = {k: after.get(k, 0) - before[activity_type].get(k, 0) for k in after}
        shown = ", ".join(f"{k}: {n}" for k, n in sorted(delta.items()) if n) or "-"
        print(f"  {activity_type.value:<8} queued {queued[activity_type]:>7}  {shown}")
    return 0
