"""``activity-sync doctor``: every prerequisite of an install, checked live, read-only.

One table - check, state (ok / problem / warning), what was found, the one-line fix with the guide's
section - over the stack (SSM parameters by name; tables; queues; the portal id; with ``--stack``
the poller's rule and the alarm topic), HubSpot (the token and its scopes, the portal, the service's
property, owners, API versions) and Salesforce (the token and the user it runs as, its permission
set, the API version, the External ID field on Task and Event, the Task types, the Outbound
Messages and their flows, the daily API limit). It writes nothing - its vendor calls are not even
charged to the service's shared budget - prints no secret, and exits 1 when any check is a problem.

Its vendor calls: HubSpot 7 (token, account, 4 property reads, owners: one page); Salesforce 13
with the project's metadata (token, 3 queries, versions, 2 describes, limits, and through the
Tooling API the messages, each message's definition and each active flow's actions: 1 + 2 + 2),
one more (``userinfo``) when the token does not name its user.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from activity_sync.domain import HUBSPOT_SALESFORCE_ID_PROPERTY as HUBSPOT_PROPERTY
from activity_sync.domain import SALESFORCE_EXTERNAL_ID_FIELD as EXTERNAL_ID_FIELD
from activity_sync_tools.operate.output import console, print_json, table
from activity_sync_tools.operate.target import Stack, add_target

if TYPE_CHECKING:
    from activity_sync_tools.cli import Subcommands

OK, PROBLEM, WARNING = "ok", "problem", "warning"
SETUP_HUBSPOT = "docs/setup-hubspot.md"
SETUP_SALESFORCE = "docs/setup-salesforce.md"
README_DEPLOY = "README.md, Deploying"
# The HubSpot objects the service writes, and marks with its property (docs/setup-hubspot.md §4).
PROPERTY_OBJECTS = ("calls", "emails", "meetings", "tasks")
# The integration user's permission set, as salesforce/force-app/main/default/permissionsets names it.
PERMISSION_SET = "HubSpot_Activity_Sync_Integration"
# What the HubSpot client reads outside the date-based API, and until when (docs/setup-hubspot.md §7).
LEGACY_FEEDS_END = dt.date(2027, 9, 30)


@dataclass(frozen=True)
class Check:
    area: str
    name: str
    state: str
    found: str
    fix: str = ""


def register(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "doctor", help="check every prerequisite of the install, live and read-only", description=__doc__
    )
    add_target(parser)
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    stack = Stack(arguments, metered=False)  # read-only: not even the shared budget is written
    checks = list(Doctor(stack).checks())
    problems = [check for check in checks if check.state == PROBLEM]
    if arguments.json:
        print_json({"checks": [asdict(check) for check in checks], "problems": len(problems)})
        return 1 if problems else 0
    colours = {OK: "green", PROBLEM: "bold red", WARNING: "yellow"}
    console().print(
        table(
            "doctor: the install, checked live",
            ["area", "check", "state", "found", "fix"],
            [[c.area, c.name, f"[{colours[c.state]}]{c.state}[/]", c.found, c.fix] for c in checks],
        )
    )
    warnings = sum(1 for check in checks if check.state == WARNING)
    console().print(f"{len(checks)} checks: {len(problems)} problems, {warnings} warnings")
    return 1 if problems else 0


class Doctor:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.service = stack.service
        self._described: dict[str, dict[str, Any]] = {}
        # How the fixes name this target, so that they can be pasted as they are.
        # (``--local`` with its file: the option's value is optional, so an action after it would be
        # read as the file)
        self.target = (
            f"--stack {stack.arguments.stack}"
            if stack.arguments.stack
            else f"--local {stack.arguments.local}"
        )

    def checks(self) -> Iterator[Check]:
        for area, name, check in self._all():
            try:
                yield check()
            except Exception as error:  # a check that fails to run is a problem it reports
                yield Check(area, name, PROBLEM, _short(error))

    def _all(self) -> list[tuple[str, str, Callable[[], Check]]]:
        # A local stack has no EventBridge rule (its runtime runs the schedule) and no SNS topic.
        deployed: list[tuple[str, str, Callable[[], Check]]] = (
            [("AWS", "poller schedule", self.poller_schedule), ("AWS", "alarm topic", self.alarm_topic)]
            if self.stack.arguments.stack
            else []
        )
        return [
            ("AWS", "SSM parameters", self.ssm_parameters),
            ("AWS", "tables", self.tables),
            ("AWS", "queues", self.queues),
            ("AWS", "HubSpotPortalId", self.portal_id_parameter),
            *deployed,
            ("HubSpot", "token and scopes", self.hubspot_token),
            ("HubSpot", "portal", self.hubspot_portal),
            ("HubSpot", f"property {HUBSPOT_PROPERTY}", self.hubspot_property),
            ("HubSpot", "owners", self.hubspot_owners),
            ("HubSpot", "API versions", self.hubspot_api_versions),
            ("Salesforce", "token and user", self.salesforce_user),
            ("Salesforce", "permission set", self.salesforce_permission_set),
            ("Salesforce", "API version", self.salesforce_api_version),
            ("Salesforce", f"{EXTERNAL_ID_FIELD} field", self.salesforce_external_id),
            ("Salesforce", "Task types", self.salesforce_task_types),
            ("Salesforce", "Outbound Messages", self.salesforce_outbound_messages),
            ("Salesforce", "daily API limit", self.salesforce_daily_limit),
        ]

    def _describe(self, sobject: str) -> dict[str, Any]:
        """The sObject's describe, read once per run (the External ID and Task types share it)."""
        if sobject not in self._described:
            self._described[sobject] = dict(
                self.service.salesforce().read_resource(f"sobjects/{sobject}/describe")
            )
        return self._described[sobject]

    # -- AWS -------------------------------------------------------------------------------------
    def ssm_parameters(self) -> Check:
        from activity_sync.config import RECEIVER_PARAMETERS, VENDOR_PARAMETERS

        prefix = self.stack.config.ssm_prefix
        ssm = _boto3_client("ssm")
        # (a plain parameter: nothing is decrypted to tell which secret the flow needs; the other
        # checks decrypt only what they compare - the Outbound Message token - and print no value)
        flows = ssm.get_parameters(Names=[f"{prefix}/salesforce/auth-flow"])["Parameters"]
        flow = flows[0]["Value"] if flows else "client_credentials"
        unused = {
            "client_credentials": "salesforce/jwt-private-key",
            "jwt_bearer": "salesforce/client-secret",
        }
        optional = {"salesforce/username", "hubspot/api-base-url", "salesforce/api-version"}
        wanted = [
            name
            for name in dict.fromkeys((*VENDOR_PARAMETERS, *RECEIVER_PARAMETERS))
            if name != unused.get(flow) and not (name == "salesforce/username" and flow != "jwt_bearer")
        ]
        found: set[str] = set()
        for start in range(0, len(wanted), 10):  # GetParameters takes ten names; values stay encrypted
            names = [f"{prefix}/{name}" for name in wanted[start : start + 10]]
            answer = ssm.get_parameters(Names=names, WithDecryption=False)
            found |= {parameter["Name"].removeprefix(prefix + "/") for parameter in answer["Parameters"]}
        missing = [name for name in wanted if name not in found and name not in optional]
        if missing:
            return Check(
                "AWS",
                "SSM parameters",
                PROBLEM,
                f"missing under {prefix}/: {', '.join(missing)}",
                f"aws ssm put-parameter --type SecureString --name {prefix}/{missing[0]} "
                f"--value ... ({README_DEPLOY})",
            )
        return Check("AWS", "SSM parameters", OK, f"{len(found)} present under {prefix}/ (names only)")

    def tables(self) -> Check:
        dynamodb = _boto3_client("dynamodb")
        names = [
            self.stack.config.settings_table,
            self.stack.config.links_table,
            self.stack.config.sync_state_table,
        ]
        states = {name: dynamodb.describe_table(TableName=name)["Table"]["TableStatus"] for name in names}
        inactive = [f"{name} ({state})" for name, state in states.items() if state != "ACTIVE"]
        if inactive:
            return Check(
                "AWS", "tables", PROBLEM, f"not active: {', '.join(inactive)}", "wait for the deployment"
            )
        return Check("AWS", "tables", OK, f"{len(states)} active")

    def queues(self) -> Check:
        urls = [*self.stack.queue_urls().values(), *self.stack.dead_letter_queue_urls().values()]
        sqs = self.stack.sqs
        for url in urls:
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return Check("AWS", "queues", OK, f"{len(urls)} queues and dead-letter queues reachable")

    def portal_id_parameter(self) -> Check:
        from activity_sync.usecases.ingest import PORTAL_CHECK_OFF

        if self.stack.record_urls.hubspot_portal_id is None:
            return Check(
                "AWS",
                "HubSpotPortalId",
                PROBLEM,
                PORTAL_CHECK_OFF,
                f"sam deploy with HubSpotPortalId set ({README_DEPLOY})",
            )
        return Check("AWS", "HubSpotPortalId", OK, str(self.stack.record_urls.hubspot_portal_id))

    def poller_schedule(self) -> Check:
        return schedule_check(_boto3_client("events"), self._physical_id("PollerSchedule"))

    def alarm_topic(self) -> Check:
        return alarm_topic_check(_boto3_client("sns"), self._physical_id("AlarmTopic"))

    def _physical_id(self, logical_id: str) -> str:
        resource = _boto3_client("cloudformation").describe_stack_resource(
            StackName=self.stack.arguments.stack, LogicalResourceId=logical_id
        )
        return str(resource["StackResourceDetail"]["PhysicalResourceId"])

    # -- HubSpot ---------------------------------------------------------------------------------
    def hubspot_token(self) -> Check:
        from activity_sync.rules.hubspot_subscriptions import REQUIRED_SCOPES

        info = self.service.hubspot().access_token_info()
        if info is None:
            return Check(
                "HubSpot",
                "token and scopes",
                WARNING,
                "HubSpot does not list this token's scopes; the checks below read with it",
                f"compare the app's scopes with the {len(REQUIRED_SCOPES)} of {SETUP_HUBSPOT} §2",
            )
        held = set(info.get("scopes") or [])
        missing = [scope for scope in REQUIRED_SCOPES if scope not in held]
        if missing:
            return Check(
                "HubSpot",
                "token and scopes",
                PROBLEM,
                f"the token works but lacks: {', '.join(missing)}",
                f"add them to the app's requiredScopes, upload, reinstall ({SETUP_HUBSPOT} §2)",
            )
        return Check(
            "HubSpot", "token and scopes", OK, f"works; holds the {len(REQUIRED_SCOPES)} scopes needed"
        )

    def hubspot_portal(self) -> Check:
        expected = self.stack.record_urls.hubspot_portal_id
        actual = self.service.hubspot().account_details().get("portalId")
        if expected is not None and actual is not None and int(actual) != expected:
            return Check(
                "HubSpot",
                "portal",
                PROBLEM,
                f"the token is of portal {actual}, the stack expects {expected}",
                f"set HubSpotPortalId to {actual}, or use this portal's token ({README_DEPLOY})",
            )
        return Check("HubSpot", "portal", OK, f"portal {actual}")

    def hubspot_property(self) -> Check:
        hubspot = self.service.hubspot()
        wrong, present = [], []
        for object_type in PROPERTY_OBJECTS:
            definition = hubspot.property_definition(object_type, HUBSPOT_PROPERTY)
            if definition is None:
                continue
            present.append(object_type)
            if not definition.get("hasUniqueValue"):
                wrong.append(object_type)
        if wrong:
            return Check(
                "HubSpot",
                f"property {HUBSPOT_PROPERTY}",
                PROBLEM,
                f"on {', '.join(wrong)} without unique values: upserts by it cannot work",
                "delete it there (its values go with it); the service makes it again, unique "
                f"({SETUP_HUBSPOT} §4)",
            )
        absent = [o for o in PROPERTY_OBJECTS if o not in present]
        return Check(
            "HubSpot",
            f"property {HUBSPOT_PROPERTY}",
            OK,
            f"unique on {', '.join(present) or 'none yet'}"
            + (f"; made on first write on {', '.join(absent)}" if absent else ""),
        )

    def hubspot_owners(self) -> Check:
        owners = self.service.hubspot().owners()
        if not owners:
            return Check(
                "HubSpot",
                "owners",
                WARNING,
                "none readable: every Task goes to the contact's owner or the integration user (R7)",
                f"check the app holds crm.objects.owners.read ({SETUP_HUBSPOT} §2)",
            )
        return Check("HubSpot", "owners", OK, f"{len(owners)} readable (R7, R8)")

    def hubspot_api_versions(self) -> Check:
        from activity_sync.adapters.hubspot_api import API_VERSION

        return Check(
            "HubSpot",
            "API versions",
            WARNING,
            f"CRM on {API_VERSION}; marketing email events, forms and form submissions on legacy APIs "
            f"supported until {LEGACY_FEEDS_END:%B %Y}",
            f"upgrade the service before then ({SETUP_HUBSPOT} §7)",
        )

    # -- Salesforce ------------------------------------------------------------------------------
    def salesforce_user(self) -> Check:
        from activity_sync.adapters.salesforce_answers import soql_quote

        salesforce = self.service.salesforce()
        user_id = salesforce.user_id
        soql = f"SELECT Id, Username, IsActive FROM User WHERE Id = {soql_quote(user_id)}"  # noqa: S608
        rows = list(salesforce.query(soql))
        configured = self.service.settings.integration_user_id()
        if not rows or not rows[0].get("IsActive"):
            return Check(
                "Salesforce",
                "token and user",
                PROBLEM,
                f"runs as {user_id}, which is not an active user",
                f"give the External Client App an active run-as user ({SETUP_SALESFORCE})",
            )
        if configured and configured != user_id:
            return Check(
                "Salesforce",
                "token and user",
                WARNING,
                f"runs as {user_id}; the integration user configured is {configured}",
                f"activity-sync settings {self.target} integration-user {user_id} ({SETUP_SALESFORCE})",
            )
        return Check(
            "Salesforce",
            "token and user",
            OK,
            f"works; runs as {rows[0].get('Username')} ({user_id}), active",
        )

    def salesforce_permission_set(self) -> Check:
        """The project's permission set is assigned to the user the service runs as, and something
        it holds grants API access."""
        from activity_sync.adapters.salesforce_answers import soql_quote

        salesforce = self.service.salesforce()
        user_id = salesforce.user_id
        rows = list(
            salesforce.query(
                "SELECT PermissionSet.Name, PermissionSet.PermissionsApiEnabled FROM PermissionSetAssignment "  # noqa: S608
                f"WHERE AssigneeId = {soql_quote(user_id)}"
            )
        )
        names = {str((row.get("PermissionSet") or {}).get("Name")) for row in rows}
        api = any((row.get("PermissionSet") or {}).get("PermissionsApiEnabled") for row in rows)
        if PERMISSION_SET not in names:
            return Check(
                "Salesforce",
                "permission set",
                PROBLEM,
                f"{PERMISSION_SET} is not assigned to {user_id}",
                f"sf org assign permset --name {PERMISSION_SET} --on-behalf-of <integration username> "
                f"({SETUP_SALESFORCE})",
            )
        if not api:
            return Check(
                "Salesforce",
                "permission set",
                PROBLEM,
                f"nothing {user_id} holds grants API Enabled",
                SETUP_SALESFORCE,
            )
        return Check("Salesforce", "permission set", OK, f"{PERMISSION_SET} assigned; API Enabled")

    def salesforce_api_version(self) -> Check:
        salesforce = self.service.salesforce()
        versions = salesforce.api_versions()
        wanted = salesforce.api_version
        if wanted not in versions:
            return Check(
                "Salesforce",
                "API version",
                PROBLEM,
                f"{wanted} not served by the org (it serves {versions[0]}-{versions[-1]})",
                f"set {self.stack.config.ssm_prefix}/salesforce/api-version to {versions[-1]} "
                f"({SETUP_SALESFORCE})",
            )
        return Check("Salesforce", "API version", OK, f"{wanted} (newest served: {versions[-1]})")

    def salesforce_external_id(self) -> Check:
        salesforce = self.service.salesforce()
        wrong = []
        for sobject in ("Task", "Event"):
            fields = {
                f["name"]: f
                for f in salesforce.read_resource(f"sobjects/{sobject}/describe").get("fields", [])
            }
            definition = fields.get(EXTERNAL_ID_FIELD)
            if definition is None:
                wrong.append(f"{sobject}: missing (or hidden from the integration user)")
            elif not definition.get("externalId"):
                wrong.append(f"{sobject}: not an External ID")
        if wrong:
            return Check(
                "Salesforce",
                f"{EXTERNAL_ID_FIELD} field",
                PROBLEM,
                "; ".join(wrong),
                f"deploy salesforce/ and assign its permission set ({SETUP_SALESFORCE})",
            )
        return Check(
            "Salesforce",
            f"{EXTERNAL_ID_FIELD} field",
            OK,
            "an External ID on Task and Event, visible to the user",
        )

    def salesforce_task_types(self) -> Check:
        """Each Task type chosen is in ``Task.Type``: a problem for a type switched on (its Tasks
        would be refused), a warning for one switched off (they would be, once it is on)."""
        from activity_sync.domain import ALL_SYNC_TYPES, Direction
        from activity_sync.rules.switches import is_on

        chosen: dict[str, tuple[str, bool]] = {}
        for sync_type in ALL_SYNC_TYPES:
            settings = self.service.settings.type_settings(sync_type)
            if sync_type.direction is Direction.HUBSPOT_TO_SALESFORCE and settings.task_type:
                chosen[sync_type.key] = (settings.task_type, is_on(settings))
        type_field = next((f for f in self._describe("Task").get("fields", []) if f["name"] == "Type"), None)
        if type_field is None:
            return Check(
                "Salesforce",
                "Task types",
                PROBLEM,
                "Task.Type is hidden from the integration user",
                SETUP_SALESFORCE,
            )
        values = {
            str(entry["value"]) for entry in type_field.get("picklistValues") or [] if entry.get("active")
        }
        missing = {key: (value, on) for key, (value, on) in chosen.items() if value not in values}
        if missing:
            key, (value, _) = next(iter(missing.items()))
            return Check(
                "Salesforce",
                "Task types",
                PROBLEM if any(on for _, on in missing.values()) else WARNING,
                ", ".join(f"{v!r} ({k}{'' if on else ', switched off'})" for k, (v, on) in missing.items())
                + " not in the Task.Type picklist",
                f"add {value!r} to Task.Type, or: activity-sync settings {self.target} set {key} "
                f"--task-type <a Task.Type value> ({SETUP_SALESFORCE})",
            )
        found = f"{len(chosen)} chosen, all in Task.Type" if chosen else "none chosen (Tasks get no Type)"
        return Check("Salesforce", "Task types", OK, found)

    def salesforce_outbound_messages(self) -> Check:
        """Each of Task and Event has an Outbound Message to this stack's route with its token, sent
        by an active record-triggered flow: the messages (Tooling API), one read each for its full
        name and endpoint, the active flows on Task and Event (``FlowDefinitionView``, a data API
        query), one read each for the actions of its active version (Tooling API)."""
        from activity_sync.adapters.salesforce_answers import soql_quote

        salesforce = self.service.salesforce()
        base = self.stack.outbound_message_url()
        from activity_sync.config import load_connection_settings

        token = load_connection_settings(
            self.stack.config, ("webhooks/outbound-message-token",), force_fetch=True
        ).get("webhooks/outbound-message-token")
        if token is None:
            return Check(
                "Salesforce",
                "Outbound Messages",
                PROBLEM,
                "cannot tell whether they carry its token: webhooks/outbound-message-token is not set",
                "set it first (SSM parameters, above)",
            )
        messages = salesforce.tooling_query(
            "SELECT Id, EntityDefinitionId FROM WorkflowOutboundMessage "
            "WHERE EntityDefinitionId IN ('Task', 'Event')"
        )
        flows = list(
            salesforce.query(
                "SELECT ApiName, ActiveVersionId, TriggerObjectOrEventId FROM FlowDefinitionView "
                "WHERE IsActive = true AND TriggerObjectOrEventId IN ('Task', 'Event')"
            )
        )
        sent: set[str] = set()  # <Object>.<message>, called by an active flow
        for flow in flows:
            for version in salesforce.tooling_query(
                "SELECT Id, Metadata FROM Flow WHERE Id = " + soql_quote(str(flow["ActiveVersionId"]))  # noqa: S608
            ):
                sent |= {
                    str(call.get("actionName"))
                    for call in (version.get("Metadata") or {}).get("actionCalls") or []
                    if call.get("actionType") == "outboundMessage"
                }
        wrong: list[str] = []
        for sobject in ("Task", "Event"):
            endpoints: dict[str, str] = {}  # full name -> endpoint
            for message in (m for m in messages if m["EntityDefinitionId"] == sobject):
                for described in salesforce.tooling_query(
                    "SELECT Id, FullName, Metadata FROM WorkflowOutboundMessage WHERE Id = "  # noqa: S608
                    + soql_quote(str(message["Id"]))
                ):
                    endpoints[str(described["FullName"])] = str(
                        (described.get("Metadata") or {}).get("endpointUrl")
                    )
            if not endpoints:
                wrong.append(f"{sobject}: no Outbound Message")
                continue
            right = [name for name, url in endpoints.items() if url == f"{base}/{token}"]
            if not right:
                shown = ", ".join(_shown_endpoint(url, base, token) for url in endpoints.values())
                wrong.append(f"{sobject}: sent to {shown}, not this stack's route with its token")
            elif not any(name in sent for name in right):
                wrong.append(f"{sobject}: {right[0]} is called by no active flow")
        if wrong:
            return Check(
                "Salesforce",
                "Outbound Messages",
                PROBLEM,
                "; ".join(wrong),
                "salesforce/scripts/configure-outbound-messages.sh, deploy, activate the flows "
                f"({SETUP_SALESFORCE})",
            )
        return Check(
            "Salesforce", "Outbound Messages", OK, f"Task and Event send to {base}/<token>, from active flows"
        )

    def salesforce_daily_limit(self) -> Check:
        limits = self.service.salesforce().read_resource("limits")["DailyApiRequests"]
        allocation = self.service.settings.global_settings().salesforce_daily_allocation
        left, maximum = int(limits["Remaining"]), int(limits["Max"])
        found = f"{left:,} of {maximum:,} calls left today; allocation {allocation or 'none'}"
        if allocation and allocation > int(limits["Max"]):
            return Check(
                "Salesforce",
                "daily API limit",
                PROBLEM,
                found + ": the allocation exceeds the org's limit",
                f"activity-sync settings {self.target} budget salesforce_daily_allocation {maximum} "
                f"(at most the org's {maximum:,}; {README_DEPLOY})",
            )
        return Check("Salesforce", "daily API limit", OK, found)


def schedule_check(events: Any, rule_name: str) -> Check:
    """The poller's EventBridge rule is enabled (a disabled one stops the safety net: nothing is
    fetched that a webhook missed)."""
    rule = events.describe_rule(Name=rule_name)
    if rule.get("State") != "ENABLED":
        return Check(
            "AWS",
            "poller schedule",
            PROBLEM,
            f"{rule_name} is {rule.get('State', 'unknown').lower()}",
            f"aws events enable-rule --name {rule_name} ({README_DEPLOY})",
        )
    return Check("AWS", "poller schedule", OK, f"{rule_name}: {rule.get('ScheduleExpression')}, enabled")


def alarm_topic_check(sns: Any, topic_arn: str) -> Check:
    """Someone hears the dead-letter alarms: the topic has a confirmed subscription."""
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic_arn).get("Subscriptions", [])
    confirmed = [s for s in subscriptions if s["SubscriptionArn"] not in ("PendingConfirmation", "Deleted")]
    if not confirmed:
        pending = len(subscriptions) - len(confirmed)
        return Check(
            "AWS",
            "alarm topic",
            PROBLEM,
            "no confirmed subscription: dead-letter alarms reach nobody"
            + (f" ({pending} pending confirmation)" if pending else ""),
            f"aws sns subscribe --topic-arn {topic_arn} --protocol email --notification-endpoint ... "
            f"({README_DEPLOY})",
        )
    return Check(
        "AWS",
        "alarm topic",
        OK,
        ", ".join(sorted({f"{s['Protocol']}" for s in confirmed})) + f" subscription(s): {len(confirmed)}",
    )


def _shown_endpoint(url: str, base: str, token: str) -> str:
    """An Outbound Message's endpoint as it may be printed: its token never, only whether it is
    this stack's (``<token>``), another (``<another token>``) or missing (``<no token>``)."""
    route, _, last = url.rpartition("/")
    if url.rstrip("/") == base or url.rstrip("/").endswith("/outbound-messages"):
        return f"{url.rstrip('/')}/<no token>"
    return f"{route}/{'<token>' if token and last == token else '<another token>'}"


def _boto3_client(service: str) -> Any:
    import boto3

    return boto3.client(service)  # type: ignore[call-overload]


def _short(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= 300 else text[:297] + "..."
