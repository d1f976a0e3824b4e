"""End-to-end helpers: the whole stack on the local runtime, wired to both vendor sandboxes
(``activity_sync_tools.rehearsal``), and the people who use it.

``E2E`` is what a HubSpot administrator, a Salesforce admin and their reps can do and see: records
made in the sandboxes' UIs (admin routes: they count against no API limit and fire the vendors'
notifications), Salesforce read back with simple-salesforce, HubSpot read back with
``hubspot-api-client``, the service's switches and outcome figures through the product's own
repositories, the stack's dead-letter queues and the function logs.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from pathlib import Path
from typing import Any, cast

import requests
from hubspot import HubSpot
from urllib3.util.retry import Retry

from activity_sync.adapters.salesforce_answers import soql_quote
from activity_sync.domain import (
    Direction,
    HubSpotActivityType,
    SalesforceActivityType,
    SyncType,
    TypeSettings,
)
from activity_sync.rules.switches import turn_off, turn_on
from activity_sync_tools.rehearsal import HUBSPOT_CLIENT_SECRET, HUBSPOT_TOKEN, Rehearsal, salesforce_app
from activity_sync_tools.sandbox.salesforce import sandbox_session
from activity_sync_tools.sandbox.salesforce.testing import SalesforceClient

API_VERSION = "62.0"
TASK_FIELDS = (
    "Id",
    "Subject",
    "Type",
    "WhoId",
    "OwnerId",
    "Status",
    "Priority",
    "Description",
    "TaskSubtype",
    "ActivityDate",
    "HubSpot_Activity_Id__c",
    "CreatedById",
    "LastModifiedById",
)
# The org's Task.Type picklist (S2): every Task Type the tests choose is one of these.
TASK_TYPE_VALUES = ["Call", "Email", "Meeting", "Other"]

# The org and portal every module starts from. HubSpot owners Ana and Bruno map to Salesforce users
# by email (case-insensitively: Ana's Salesforce email is capitalised, R8); Carla has no user; Dave's
# user is inactive.
SALESFORCE_SEED: dict[str, Any] = {
    "picklists": {"Task.Type": TASK_TYPE_VALUES},
    "users": [
        {
            "key": "ana",
            "Username": "ana@e2e.example",
            "Email": "Ana@E2E.example",
            "FirstName": "Ana",
            "LastName": "Reis",
            "IsActive": True,
        },
        {
            "key": "bruno",
            "Username": "bruno@e2e.example",
            "Email": "bruno@e2e.example",
            "FirstName": "Bruno",
            "LastName": "Costa",
            "IsActive": True,
        },
        {
            "key": "dave",
            "Username": "dave@e2e.example",
            "Email": "dave@e2e.example",
            "FirstName": "Dave",
            "LastName": "Dias",
            "IsActive": False,
        },
    ],
    "accounts": [{"key": "acme", "Name": "Acme"}],
}
HUBSPOT_SEED: dict[str, Any] = {
    "owners": [
        {"ref": "ana", "email": "ana@e2e.example", "firstName": "Ana", "lastName": "Reis"},
        {"ref": "bruno", "email": "bruno@e2e.example", "firstName": "Bruno", "lastName": "Costa"},
        {"ref": "carla", "email": "carla@e2e.example", "firstName": "Carla", "lastName": "Dias"},
        {"ref": "dave", "email": "dave@e2e.example", "firstName": "Dave", "lastName": "Dias"},
    ],
}

# Each type's queue and dead-letter queue, as template.yaml names them.
QUEUE_PREFIX: Mapping[str, str] = {
    "hubspot_to_salesforce#form_submission": "HubSpotFormSubmission",
    "hubspot_to_salesforce#marketing_email": "HubSpotMarketingEmail",
    "hubspot_to_salesforce#sales_email": "HubSpotSalesEmail",
    "hubspot_to_salesforce#meeting": "HubSpotMeeting",
    "hubspot_to_salesforce#call": "HubSpotCall",
    "hubspot_to_salesforce#note": "HubSpotNote",
    "hubspot_to_salesforce#document_view": "HubSpotDocumentView",
    "hubspot_to_salesforce#task": "HubSpotTask",
    "hubspot_to_salesforce#integration_event": "HubSpotIntegrationEvent",
    "salesforce_to_hubspot#task": "SalesforceTask",
    "salesforce_to_hubspot#email": "SalesforceEmail",
    "salesforce_to_hubspot#call": "SalesforceCall",
    "salesforce_to_hubspot#meeting": "SalesforceMeeting",
}


def h2s(activity_type: HubSpotActivityType) -> SyncType:
    return SyncType(Direction.HUBSPOT_TO_SALESFORCE, activity_type)


def s2h(activity_type: SalesforceActivityType) -> SyncType:
    return SyncType(Direction.SALESFORCE_TO_HUBSPOT, activity_type)


def iso(moment: dt.datetime) -> str:
    """HubSpot's timestamp format: UTC, milliseconds, ``Z``."""
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclasses.dataclass(frozen=True)
class DeadLetter:
    body: dict[str, Any]
    attributes: dict[str, str]

    @property
    def reason(self) -> str:
        return self.attributes.get("failure_reason", "")


class HubSpotSide:
    """The HubSpot portal: what its users do in the UI (admin routes) and what an administrator
    reads back through the public API (``hubspot-api-client``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()
        self.http.trust_env = False
        # As HubSpot advises: honour Retry-After on 429 (search allows 5 requests a second).
        retry = Retry(
            total=8,
            status_forcelist=(429,),
            allowed_methods=None,
            backoff_factor=0.2,
            respect_retry_after_header=True,
        )
        self.client: Any = HubSpot(access_token=HUBSPOT_TOKEN, host=url, retry=retry)

    # -- as HubSpot users act -------------------------------------------------------------------
    def admin(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, f"{self.url}/_sandbox/{path}", json=body, timeout=30)
        assert response.ok, f"{method} /_sandbox/{path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    @cached_property
    def owners(self) -> dict[str, str]:
        """Owner id by first name (lower case): ``ana``, ``bruno``, ``carla``, ``dave``."""
        listed = self.admin("GET", "owners")["results"]
        return {str(o["firstName"]).lower(): str(o["id"]) for o in listed}

    def contact(
        self,
        email: str,
        *,
        owner: str | None = None,
        created_at: dt.datetime | None = None,
        **properties: str,
    ) -> str:
        """A contact created in HubSpot (``owner``: ana, bruno or carla)."""
        props: dict[str, str] = {"email": email, "firstname": email.split("@")[0], **properties}
        if owner:
            props["hubspot_owner_id"] = self.owners[owner]
        body: dict[str, Any] = {"properties": props}
        if created_at is not None:
            body["createdAt"] = iso(created_at)
        return str(self.admin("POST", "objects/contacts", body)["id"])

    def engagement(
        self,
        object_type: str,
        properties: Mapping[str, str],
        contacts: Sequence[str],
        *,
        owner: str | None = None,
        created_at: dt.datetime | None = None,
    ) -> str:
        """A note, call, meeting, task or email logged in HubSpot on ``contacts``."""
        props = {"hs_timestamp": iso(created_at or utcnow()), **properties}
        if owner:
            props["hubspot_owner_id"] = self.owners[owner]
        body: dict[str, Any] = {
            "properties": props,
            "associations": [{"type": "contacts", "id": c} for c in contacts],
        }
        if created_at is not None:
            body["createdAt"] = iso(created_at)
        return str(self.admin("POST", f"objects/{object_type}", body)["id"])

    def update(self, object_type: str, object_id: str, properties: Mapping[str, str]) -> None:
        self.admin("PATCH", f"objects/{object_type}/{object_id}", {"properties": dict(properties)})

    # -- as an administrator reads ----------------------------------------------------------------
    def read(self, object_type: str, object_id: str, properties: Sequence[str]) -> dict[str, Any]:
        found = self.client.crm.objects.basic_api.get_by_id(
            object_type, object_id, properties=list(properties)
        )
        return dict(found.properties)

    def search_eq(
        self, object_type: str, prop: str, value: str, properties: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """Every record whose ``prop`` equals ``value`` (id included as ``hs_object_id``)."""
        from hubspot.crm.objects import PublicObjectSearchRequest

        request = PublicObjectSearchRequest(
            filter_groups=[{"filters": [{"propertyName": prop, "operator": "EQ", "value": value}]}],
            properties=[prop, "hs_object_id", *properties],
            limit=100,
        )
        page = self.client.crm.objects.search_api.do_search(object_type, public_object_search_request=request)
        return [{"id": str(r.id), **dict(r.properties)} for r in page.results]

    def associated_contacts(self, object_type: str, object_id: str) -> list[str]:
        """Associations v4: the contacts an activity is on."""
        page = self.client.crm.associations.v4.basic_api.get_page(object_type, object_id, "contacts")
        return sorted(str(r.to_object_id) for r in page.results)

    def all_records(self, object_type: str) -> list[dict[str, Any]]:
        """Every live record of a type, straight from the portal (the sandbox's admin view)."""
        return [
            {"id": str(r["id"]), **r["properties"]}
            for r in self.admin("GET", f"objects/{object_type}")["results"]
        ]

    def counters(self) -> dict[str, Any]:
        return cast("dict[str, Any]", self.admin("GET", "counters"))

    def request_mark(self) -> int:
        """How many API requests the portal has answered so far (see ``requests_since``)."""
        return int(self.counters()["total"])

    def requests_since(self, mark: int) -> list[tuple[str, str]]:
        """(method, path) of every API request answered after ``mark``."""
        logged = self.admin("GET", "requests")["requests"][mark:]
        return [(str(e["method"]), str(e["path"])) for e in logged]


class SalesforceSide:
    """The Salesforce org: records made by reps in the UI (admin ``sobjects`` route with
    ``as_user``, which sends Outbound Messages) and read back through the REST API."""

    def __init__(self, world: Rehearsal) -> None:
        self.world = world
        self.url = world.salesforce.url
        self.http = sandbox_session(world.salesforce)

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, f"{self.url}/_sandbox/{path}", json=body, timeout=30)
        assert response.ok, f"{method} /_sandbox/{path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    @cached_property
    def client(self) -> SalesforceClient:
        token = salesforce_app(self.world).issue_session()
        return SalesforceClient(
            instance_url=self.url,
            session_id=token,
            session=sandbox_session(self.world.salesforce),
            version=API_VERSION,
        )

    @cached_property
    def users(self) -> dict[str, str]:
        """User id by key: ``ana``, ``bruno`` and ``integration`` (the user the service runs as)."""
        app = salesforce_app(self.world)
        return {
            "ana": app.seed_keys["ana"],
            "bruno": app.seed_keys["bruno"],
            "integration": app.run_as_user_id,
        }

    def seed(self, data: Mapping[str, Any]) -> dict[str, str]:
        """Records an admin loads (no API call, no Outbound Message): answers key -> id."""
        return cast("dict[str, str]", self.admin("POST", "seed", dict(data))["keys"])

    def person(self, kind: str, email: str, *, owner: str | None = None, last_name: str = "E2E") -> str:
        """A Contact or Lead with this email, loaded by the admin."""
        key = f"p-{uuid.uuid4().hex[:10]}"
        entry: dict[str, Any] = {"key": key, "LastName": last_name, "Email": email}
        if kind == "Lead":
            entry["Company"] = "E2E Co"
        if owner:
            entry["OwnerId"] = self.users[owner]
        section = "leads" if kind == "Lead" else "contacts"
        return self.seed({section: [entry]})[key]

    def create(self, sobject: str, fields: Mapping[str, Any], *, as_user: str) -> str:
        """A record a rep creates in the UI (sends Outbound Messages)."""
        created = self.admin(
            "POST", f"sobjects/{sobject}", {"as_user": self.users[as_user], "fields": dict(fields)}
        )
        return str(created["id"])

    def update(self, sobject: str, record_id: str, fields: Mapping[str, Any], *, as_user: str) -> None:
        """A rep edits a record in the UI (sends Outbound Messages)."""
        self.admin(
            "PATCH",
            f"sobjects/{sobject}/{record_id}",
            {"as_user": self.users[as_user], "fields": dict(fields)},
        )

    def soql(self, query: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self.client.query_all(query)["records"]]

    def tasks(self, where: str) -> list[dict[str, Any]]:
        return self.soql(f"SELECT {', '.join(TASK_FIELDS)} FROM Task WHERE {where}")  # noqa: S608 - test input

    def tasks_for_activity(self, external_id: str) -> list[dict[str, Any]]:
        """The Tasks that carry this HubSpot activity's identity (``HubSpot_Activity_Id__c``)."""
        return self.tasks(f"HubSpot_Activity_Id__c = {soql_quote(external_id)}")

    def tasks_on(self, who_id: str) -> list[dict[str, Any]]:
        return self.tasks(f"WhoId = {soql_quote(who_id)}")

    def get(self, sobject: str, record_id: str) -> dict[str, Any]:
        return cast("dict[str, Any]", self.admin("GET", f"sobjects/{sobject}/{record_id}"))

    def counters(self) -> dict[str, Any]:
        return cast("dict[str, Any]", self.admin("GET", "counters"))


class E2E:
    """The rehearsal plus the people using it."""

    def __init__(self, world: Rehearsal) -> None:
        self.world = world
        self.hubspot = HubSpotSide(world.hubspot.url)
        self.salesforce = SalesforceSide(world)

    @staticmethod
    def tag(name: str) -> str:
        """A unique, readable email for one test's person."""
        return f"{name}.{uuid.uuid4().hex[:8]}@e2e.example"

    # -- the service's settings and figures ---------------------------------------------------------
    def switch_on(self, sync_type: SyncType, *, task_type: str | None = None) -> dt.datetime:
        """Turn a switch on (S1) with its Task Type (S2); answers ``enabled_at``."""
        settings = self.world.service.settings
        current = dataclasses.replace(settings.type_settings(sync_type), task_type=task_type)
        now = utcnow()
        updated = turn_on(current, now)
        settings.save_type_settings(sync_type, updated, by="e2e")
        time.sleep(0.01)  # what happens next happens strictly after enabled_at (milliseconds in HubSpot)
        assert updated.enabled_at is not None
        return updated.enabled_at

    def switch_off(self, sync_type: SyncType) -> None:
        settings = self.world.service.settings
        settings.save_type_settings(
            sync_type, turn_off(settings.type_settings(sync_type), utcnow()), by="e2e"
        )

    def set_task_type(self, sync_type: SyncType, task_type: str | None) -> None:
        settings = self.world.service.settings
        current: TypeSettings = settings.type_settings(sync_type)
        settings.save_type_settings(sync_type, dataclasses.replace(current, task_type=task_type), by="e2e")

    def figures(self, sync_type: SyncType) -> dict[str, int]:
        return cast("dict[str, int]", self.world.service.state.outcome_figures(sync_type))

    def reset_service_state(self) -> None:
        """Factory settings for the next module, on the same stack and sandboxes: every switch off
        (its DynamoDB item deleted, as an admin could in the console, S3) and no poll watermark,
        waiting activity or outcome figure left (the sync-state table emptied). The links between
        records stay: they are the records' identities."""
        self.world.flush()
        self.world.stack.wait_until_drained(timeout=120)
        dynamodb = self.world.stack.boto3_client("dynamodb")
        settings_table = self.world.stack.table_names["SettingsTable"]
        for item in _scan(dynamodb, settings_table):
            if "#" in item["pk"]["S"]:  # a direction#type item; "global" and overrides stay
                dynamodb.delete_item(TableName=settings_table, Key={"pk": item["pk"]})
        state_table = self.world.stack.table_names["SyncStateTable"]
        for item in _scan(dynamodb, state_table):
            dynamodb.delete_item(TableName=state_table, Key={"pk": item["pk"], "sk": item["sk"]})

    def warm_up(self) -> None:
        """Start every queue consumer's execution environment at once (as provisioned concurrency
        would), so that cold starts overlap instead of adding up along the first syncs. An empty
        batch does nothing; the webhook receiver is warmed through its route (a refused post)."""
        stack = self.world.stack
        consumers = sorted(
            ({f"{prefix}Syncer" for prefix in QUEUE_PREFIX.values()} | {"ContactLinker"})
            & set(stack.function_names)
        )
        with ThreadPoolExecutor(max_workers=len(consumers) + 1) as pool:
            pool.submit(requests.post, f"{stack.api_url}/webhooks/hubspot/activities", data="", timeout=60)
            results = list(
                pool.map(lambda function_id: stack.invoke(function_id, {"Records": []}), consumers)
            )
        failed = [(f, r.error_message) for f, r in zip(consumers, results, strict=True) if not r.ok]
        assert not failed, failed

    # -- moving things along ------------------------------------------------------------------------
    def drain(self) -> None:
        self.world.drain()

    def poll_and_drain(self) -> None:
        """Run the poller now (it overlaps whatever webhooks are still bringing in) and drain."""
        self.world.poll()
        self.world.drain()

    def poll_after_this_second(self) -> None:
        """Run the poller once the current second is over, and drain: its SOQL windows are whole
        seconds, up to the start of the current one, so a Salesforce change made in this second
        is read by a poll that starts in the next. Waits only for the rest of the second."""
        now = time.time()
        time.sleep(int(now) + 1 - now + 0.01)
        self.poll_and_drain()

    # -- the stack ----------------------------------------------------------------------------------
    def dead_letters(self, sync_type: SyncType) -> list[DeadLetter]:
        """What rests in the type's dead-letter queue (left there: visibility timeout 0)."""
        sqs = self.world.stack.boto3_client("sqs")
        url = self.world.stack.queue_urls[f"{QUEUE_PREFIX[sync_type.key]}DeadLetterQueue"]
        letters: dict[str, DeadLetter] = {}
        for _ in range(5):
            received = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                VisibilityTimeout=0,
                WaitTimeSeconds=0,
            ).get("Messages", [])
            for message in received:
                attributes = {
                    name: str(value.get("StringValue", ""))
                    for name, value in message.get("MessageAttributes", {}).items()
                }
                letters[message["MessageId"]] = DeadLetter(json.loads(message["Body"]), attributes)
        return list(letters.values())

    def redrive(self, sync_type: SyncType) -> int:
        """Move every dead letter of the type back to its queue, as the README's re-drive (SQS's
        message move task) does; answers how many moved."""
        sqs = self.world.stack.boto3_client("sqs")
        prefix = QUEUE_PREFIX[sync_type.key]
        source = self.world.stack.queue_urls[f"{prefix}DeadLetterQueue"]
        target = self.world.stack.queue_urls[f"{prefix}Queue"]
        moved = 0
        while True:
            received = sqs.receive_message(
                QueueUrl=source, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
            ).get("Messages", [])
            if not received:
                return moved
            for message in received:
                sqs.send_message(QueueUrl=target, MessageBody=message["Body"])
                sqs.delete_message(QueueUrl=source, ReceiptHandle=message["ReceiptHandle"])
                moved += 1

    def invocations(self, function_id: str) -> int:
        """How many times the function has run so far (its log's REPORT lines)."""
        path = self.world.stack.function_log(function_id)
        if not path.exists():
            return 0
        return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("REPORT "))

    def queued(self, sync_type: SyncType) -> int:
        sqs = self.world.stack.boto3_client("sqs")
        url = self.world.stack.queue_urls[f"{QUEUE_PREFIX[sync_type.key]}Queue"]
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    def function_log(self, function_id: str, tail: int = 40) -> str:
        path = self.world.stack.function_log(function_id)
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines() if path.exists() else []
        return "\n".join(lines[-tail:])

    # -- raw routes (R17) ---------------------------------------------------------------------------
    def signed_hubspot_post(
        self, body: str, *, secret: str = HUBSPOT_CLIENT_SECRET, timestamp_ms: int | None = None
    ) -> requests.Response:
        """POST to the stack's HubSpot webhook route, signed as HubSpot signs (v3)."""
        url = f"{self.world.stack.api_url}/webhooks/hubspot"
        timestamp = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
        message = f"POST{url}{body}{timestamp}".encode()
        signature = base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()
        return requests.post(
            url,
            data=body.encode(),
            headers={
                "Content-Type": "application/json",
                "X-HubSpot-Signature-v3": signature,
                "X-HubSpot-Request-Timestamp": timestamp,
            },
            timeout=10,
        )


@contextlib.contextmanager
def every_request_allowed(world: Rehearsal) -> Iterator[None]:
    """Fails when a function made a request its own role does not allow while the block ran, even
    one it survived (a warning, a retry): each function runs under its own role locally."""
    before = world.stack.aws_usage()["refused_count"]
    yield
    usage = world.stack.aws_usage()
    if usage["refused_count"] > before:
        shown = usage["refused"][before:] or usage["refused"][-1:]
        raise AssertionError(
            f"{usage['refused_count'] - before} requests the function's own role does not allow: "
            + "; ".join(f"{r['caller']} {r['service']}:{r['operation']}: {r['message']}" for r in shown)
        )


def _scan(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = dynamodb.scan(**kwargs)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@contextlib.contextmanager
def warm_rehearsal(state_dir: Path | None) -> Iterator[Rehearsal]:
    """The stack and both sandboxes with the end-to-end seeds, every consumer warm. The tests
    change a setting and act on it at once: the functions read the settings every batch here
    (tests/unit/adapters cover the few seconds a deployed container keeps them)."""
    with Rehearsal.start(
        hubspot_seed=HUBSPOT_SEED,
        salesforce_seed=SALESFORCE_SEED,
        state_dir=state_dir,
        settings_cache_seconds=0,
    ) as rehearsal:
        E2E(rehearsal).warm_up()
        yield rehearsal
