"""``activity-sync settings``: read and change the settings items (S1-S4) of a deployed stack or
of the local stack (``activity-sync status`` is in ``operate.status``).

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
from typing import TYPE_CHECKING

from activity_sync_tools.operate.target import Stack, add_target

if TYPE_CHECKING:
    from activity_sync.service import Service
    from activity_sync_tools.cli import Subcommands


def register(subcommands: Subcommands) -> None:
    settings = subcommands.add_parser(
        "settings", help="show or change the sync settings (switches, task types…)"
    )
    add_target(settings, json_output=False)
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
    budget = actions.add_parser(
        "budget", help="the API budget: a vendor's daily allocation or HubSpot's rates ('none' removes)"
    )
    budget.add_argument(
        "name",
        choices=[
            "salesforce_daily_allocation",
            "hubspot_daily_allocation",
            "hubspot_requests_per_10s",
            "hubspot_searches_per_second",
        ],
    )
    budget.add_argument("value", help="calls (a whole number), or 'none' for the default")
    override = actions.add_parser("override", help="link a HubSpot owner/contact to a Salesforce id by hand")
    override.add_argument("kind", choices=["owner", "contact"])
    override.add_argument("hubspot_id")
    override.add_argument("salesforce_id", help="a User (owner) or Contact/Lead (contact) id; 'none' removes")
    settings.set_defaults(run=run_settings)


def _service(arguments: argparse.Namespace) -> Service:
    return Stack(arguments).service


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def run_settings(arguments: argparse.Namespace) -> int:
    from activity_sync.domain import ALL_SYNC_TYPES, Direction, HubSpotActivityType, SyncType
    from activity_sync.rules.salesforce_ids import InvalidSalesforceIdError, normalize_salesforce_id
    from activity_sync.rules.subjects import SubjectTemplateError, validate_subject_overrides
    from activity_sync.rules.switches import set_switch
    from activity_sync.rules.task_type import TaskTypeError, validate_task_type
    from activity_sync.usecases.directories import SHARED_OWNER_MAP

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
    if arguments.action == "budget":
        value = None if arguments.value == "none" else arguments.value
        if value is not None and not value.isdecimal():
            return _fail(f"{arguments.name} takes a whole number of calls or 'none', not {value!r}")
        repository.set_allocation(arguments.name, None if value is None else int(value))
        print(f"{arguments.name} {'removed (the default applies)' if value is None else f'set to {value}'}")
        return 0
    if arguments.action == "override":
        if arguments.salesforce_id == "none":
            repository.delete_override(arguments.kind, arguments.hubspot_id)
            print(f"{arguments.kind} override for {arguments.hubspot_id} removed")
        else:
            try:
                salesforce_id = normalize_salesforce_id(arguments.salesforce_id)
            except InvalidSalesforceIdError as error:
                return _fail(str(error))
            repository.set_override(arguments.kind, arguments.hubspot_id, salesforce_id)
            print(f"{arguments.kind} {arguments.hubspot_id} -> {salesforce_id}")
        if arguments.kind == "owner":
            # The stack's shared owner map is built again with it at the next activity.
            service.state.forget_shared(SHARED_OWNER_MAP)
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


def format_status(figures: dict[str, dict[str, int]]) -> str:
    """The outcome figures per type on a line each (what ``make demo`` prints)."""
    lines = [f"{'type':<40} {'synced':>7}  waiting / skipped (reason: n)"]
    for key, outcome in figures.items():
        synced = sum(n for label, n in outcome.items() if label == "synced" or label.startswith("synced:"))
        others = ", ".join(
            f"{label}: {n}" for label, n in sorted(outcome.items()) if not label.startswith("synced")
        )
        lines.append(f"{key:<40} {synced:>7}  {others or '-'}")
    return "\n".join(lines)
