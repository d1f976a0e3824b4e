"""``make demo``: the whole service on this machine, against a small sandbox portal and org.

1. Both sandboxes start, seeded with a small portal and org: contacts that sync (through
   HubSpot's Salesforce id property, an email match with a Contact, an email match with a Lead) and
   one that does not yet; owners mapped by email and one unmapped; activities, form submissions and
   marketing email events from before the switches go on.
2. The local stack starts from template.yaml, wired to the sandboxes.
3. Every switch is turned on, with a Salesforce Task Type for most HubSpot types.
4. New HubSpot activities of all nine types happen: webhooks, the activity route and the poller
   bring them in; the contact that did not sync starts to, and its waiting activity follows.
5. Salesforce tasks, emails, calls and events are created and edited by a rep: Outbound Messages
   bring them to HubSpot; a task completed in Salesforce updates its HubSpot twin.
6. A summary: per type what synced, waited and why; a sample of the Salesforce Tasks; the HubSpot
   activities that came from Salesforce; and proof that nothing bounced back.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Mapping
from typing import Any

import requests

from activity_sync.adapters.hubspot_api import MARKETING_EMAILS, OBJECTS, OWNERS
from activity_sync.adapters.salesforce_answers import soql_quote
from activity_sync.domain import ALL_SYNC_TYPES, Direction, HubSpotActivityType, TypeSettings
from activity_sync.rules.switches import turn_on
from activity_sync_tools.rehearsal import PORTAL_ID, Rehearsal, salesforce_app
from activity_sync_tools.settings_cli import format_status

TASK_TYPES: Mapping[HubSpotActivityType, str | None] = {
    HubSpotActivityType.FORM_SUBMISSION: "Other",
    HubSpotActivityType.MARKETING_EMAIL: "Email",
    HubSpotActivityType.SALES_EMAIL: "Email",
    HubSpotActivityType.MEETING: "Meeting",
    HubSpotActivityType.CALL: "Call",
    HubSpotActivityType.NOTE: None,  # S2: no Task Type at all
    HubSpotActivityType.DOCUMENT_VIEW: "Other",
    HubSpotActivityType.TASK: None,
    HubSpotActivityType.INTEGRATION_EVENT: "Other",
}


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def salesforce_seed() -> dict[str, Any]:
    return {
        "picklists": {"Task.Type": ["Call", "Email", "Meeting", "Other"]},
        "users": [
            {
                "key": "ana",
                "Username": "ana@demo.example",
                "Email": "Ana@Demo.example",
                "FirstName": "Ana",
                "LastName": "Reis",
                "IsActive": True,
            },
            {
                "key": "bruno",
                "Username": "bruno@demo.example",
                "Email": "bruno@demo.example",
                "FirstName": "Bruno",
                "LastName": "Costa",
                "IsActive": True,
            },
        ],
        "accounts": [{"key": "acme", "Name": "Acme"}],
        "contacts": [
            {
                "key": "alice",
                "FirstName": "Alice",
                "LastName": "Almeida",
                "Email": "alice@acme.example",
                "AccountId": "@acme",
                "OwnerId": "@ana",
            },
            {
                "key": "bob",
                "FirstName": "Bob",
                "LastName": "Barros",
                "Email": "bob@globex.example",
                "OwnerId": "@bruno",
            },
        ],
        "leads": [
            {
                "key": "lin",
                "FirstName": "Lin",
                "LastName": "Lopes",
                "Company": "Initech",
                "Email": "lin@initech.example",
            }
        ],
    }


def hubspot_seed(now: dt.datetime, alice_salesforce_id: str) -> dict[str, Any]:
    def ago(days: float) -> str:
        return _iso(now - dt.timedelta(days=days))

    return {
        "owners": [
            {"ref": "ana", "email": "ana@demo.example", "firstName": "Ana", "lastName": "Reis"},
            {"ref": "bruno", "email": "bruno@demo.example", "firstName": "Bruno", "lastName": "Costa"},
            {"ref": "carla", "email": "carla@demo.example", "firstName": "Carla", "lastName": "Dias"},
        ],
        "contacts": [
            {
                "ref": "alice",
                "owner": "ana",
                "createdAt": ago(400),
                "properties": {
                    "email": "alice@acme.example",
                    "firstname": "Alice",
                    "lastname": "Almeida",
                    "salesforcecontactid": alice_salesforce_id,
                },
            },
            {
                "ref": "bob",
                "owner": "bruno",
                "createdAt": ago(30),
                "properties": {"email": "bob@globex.example", "firstname": "Bob", "lastname": "Barros"},
            },
            {
                "ref": "lin",
                "owner": "carla",
                "createdAt": ago(10),
                "properties": {"email": "lin@initech.example", "firstname": "Lin", "lastname": "Lopes"},
            },
            {
                "ref": "dora",
                "owner": "ana",
                "createdAt": ago(5),
                "properties": {"email": "dora@umbrella.example", "firstname": "Dora", "lastname": "Duarte"},
            },
        ],
        # Before the switches go on: forward-only types never sync these (R5).
        "notes": [
            {
                "ref": "old-note",
                "owner": "ana",
                "createdAt": ago(2),
                "properties": {"hs_timestamp": ago(2), "hs_note_body": "Old note, before the sync"},
                "associations": ["contacts:alice"],
            }
        ],
        "calls": [
            {
                "ref": "old-call",
                "owner": "bruno",
                "createdAt": ago(3),
                "properties": {"hs_timestamp": ago(3), "hs_call_title": "Old call"},
                "associations": ["contacts:bob"],
            }
        ],
        "marketing_emails": [
            {"ref": "newsletter", "name": "April Newsletter", "subject": "What's new in April"}
        ],
        "email_events": [
            {"type": "OPEN", "recipient": "alice@acme.example", "email": "newsletter", "created": ago(10)},
            {"type": "OPEN", "recipient": "bob@globex.example", "email": "newsletter", "created": ago(40)},
            {"type": "CLICK", "recipient": "lin@initech.example", "email": "newsletter", "created": ago(2)},
        ],
        "forms": [
            {
                "ref": "contact-us",
                "name": "Contact Us",
                "fields": ["email", "firstname"],
                "submissions": [
                    {
                        "submittedAt": ago(200),
                        "values": {"email": "alice@acme.example"},
                        "pageUrl": "https://demo.example/contact",
                    },
                    {
                        "submittedAt": ago(400),
                        "values": {"email": "bob@globex.example"},
                        "pageUrl": "https://demo.example/contact",
                    },
                ],
            }
        ],
    }


class Demo:
    def __init__(self, world: Rehearsal) -> None:
        self.world = world
        self.hubspot_url = world.hubspot.url
        self.session = requests.Session()
        self.sf_session = requests.Session()
        self.sf_session.verify = str(world.salesforce.ca_bundle)
        self.sf_session.trust_env = False

    # -- HubSpot, as its users would act ---------------------------------------------------------
    def hubspot_admin(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        response = self.session.request(method, f"{self.hubspot_url}/_sandbox/{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def hubspot_api(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        response = self.session.request(
            method,
            f"{self.hubspot_url}{path}",
            json=body,
            headers={"Authorization": "Bearer hubspot-sandbox-token"},
            timeout=30,
        )
        response.raise_for_status()
        return response.json() if response.content else None

    def contact_id(self, email: str) -> str:
        found = self.hubspot_api(
            "POST",
            f"{OBJECTS}/contacts/search",
            {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": email}]}]},
        )
        return str(found["results"][0]["id"])

    def owner_id(self, email: str) -> str:
        owners = self.hubspot_api("GET", f"{OWNERS}?email={email}")
        return str(owners["results"][0]["id"])

    def engagement(self, object_type: str, properties: Mapping[str, Any], contacts: list[str]) -> str:
        created = self.hubspot_admin(
            "POST",
            f"objects/{object_type}",
            {
                "properties": dict(properties),
                "associations": [{"type": "contacts", "id": c} for c in contacts],
            },
        )
        return str(created["id"])

    # -- Salesforce, as a rep would act ----------------------------------------------------------
    def salesforce_admin(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        response = self.sf_session.request(
            method, f"{self.world.salesforce.url}/_sandbox/{path}", json=body, timeout=30
        )
        response.raise_for_status()
        return response.json()

    def soql(self, query: str) -> list[dict[str, Any]]:
        from simple_salesforce.api import Salesforce

        token = salesforce_app(self.world).issue_session()
        client = Salesforce(
            instance_url=self.world.salesforce.url, session_id=token, session=self.sf_session, version="62.0"
        )
        return [dict(r) for r in client.query_all(query)["records"]]


def heading(text: str) -> None:
    print(f"\n=== {text} " + "=" * max(0, 86 - len(text)), flush=True)


def run() -> int:
    started = time.monotonic()
    now = dt.datetime.now(dt.UTC)
    heading("Starting the HubSpot and Salesforce sandboxes and the local stack")
    with Rehearsal.start(salesforce_seed=salesforce_seed()) as world:
        demo = Demo(world)
        alice_sf = demo.soql("SELECT Id FROM Contact WHERE Email = 'alice@acme.example'")[0]["Id"]
        demo.hubspot_admin("POST", "seed", hubspot_seed(now, alice_sf))
        print(f"HubSpot sandbox     {world.hubspot.url}")
        print(f"Salesforce sandbox  {world.salesforce.url}")
        print(f"local stack API     {world.stack.api_url}  (AWS on {world.stack.aws_endpoint_url})")

        heading("Turning every switch on (S1) with a Task Type for most HubSpot types (S2)")
        switched_on = dt.datetime.now(dt.UTC)
        for sync_type in ALL_SYNC_TYPES:
            task_type = (
                TASK_TYPES[HubSpotActivityType(sync_type.type)]
                if sync_type.direction is Direction.HUBSPOT_TO_SALESFORCE
                else None
            )
            settings = turn_on(TypeSettings(task_type=task_type), switched_on)
            world.service.settings.save_type_settings(sync_type, settings, by="demo")
            print(f"  {sync_type.key:<42} on   task type: {task_type or '-'}")
        time.sleep(0.05)  # new activities are strictly after enabled_at

        heading("HubSpot -> Salesforce: new activities of all nine types")
        alice, bob, lin, dora = (
            demo.contact_id(e)
            for e in (
                "alice@acme.example",
                "bob@globex.example",
                "lin@initech.example",
                "dora@umbrella.example",
            )
        )
        ana, carla = demo.owner_id("ana@demo.example"), demo.owner_id("carla@demo.example")
        stamp = _iso(dt.datetime.now(dt.UTC))
        demo.engagement(
            "notes",
            {
                "hs_timestamp": stamp,
                "hs_note_body": "<p>Spoke with Alice about the <b>renewal</b></p>",
                "hubspot_owner_id": ana,
            },
            [alice],
        )
        demo.engagement(
            "calls",
            {
                "hs_timestamp": stamp,
                "hs_call_title": "Discovery call",
                "hubspot_owner_id": carla,
                "hs_call_direction": "OUTBOUND",
                "hs_call_duration": "754000",
                "hs_call_body": "Budget confirmed",
            },
            [bob],
        )
        demo.engagement(
            "meetings",
            {
                "hs_timestamp": stamp,
                "hs_meeting_title": "Quarterly review",
                "hs_meeting_start_time": stamp,
                "hubspot_owner_id": ana,
            },
            [lin],
        )
        demo.engagement(
            "tasks",
            {
                "hs_timestamp": stamp,
                "hs_task_subject": "Send the proposal",
                "hs_task_status": "NOT_STARTED",
                "hs_task_priority": "HIGH",
                "hubspot_owner_id": ana,
            },
            [alice],
        )
        email = demo.engagement(
            "emails",
            {
                "hs_timestamp": stamp,
                "hs_email_subject": "Pricing for Acme",
                "hs_email_direction": "EMAIL",
                "hs_email_status": "SENT",
                "hs_email_text": "Here is our pricing.",
            },
            [alice, bob],
        )
        demo.hubspot_admin("POST", "sales-email-events", {"emailId": email, "type": "OPEN"})
        demo.engagement("notes", {"hs_timestamp": stamp, "hs_note_body": "Dora asked for a demo"}, [dora])
        demo.hubspot_admin(
            "POST",
            "email-events",
            {
                "type": "OPEN",
                "recipient": "bob@globex.example",
                "emailId": demo.hubspot_api("GET", MARKETING_EMAILS)["results"][0]["id"],
            },
        )
        form_id = demo.hubspot_api("GET", "/marketing/v3/forms")["results"][0]["id"]
        requests.post(
            f"{world.hubspot.url}/submissions/v3/integration/submit/{PORTAL_ID}/{form_id}",
            json={
                "fields": [
                    {"name": "email", "value": "lin@initech.example"},
                    {"name": "firstname", "value": "Lin"},
                ],
                "context": {"pageUri": "https://demo.example/contact", "pageName": "Contact"},
            },
            timeout=10,
        ).raise_for_status()
        # No API lists these: a workflow's webhook action posts them to the activity route.
        demo.hubspot_admin("POST", "document-views", {"contact": lin, "document_name": "Pricing deck.pdf"})
        demo.hubspot_admin(
            "POST", "timeline-events", {"contact": bob, "app_name": "Zoom", "event_name": "Webinar attended"}
        )
        world.drain()
        world.poll()  # the feeds without webhooks: marketing email events, form submissions
        world.drain()

        heading("Dora starts to sync: a Salesforce Contact with her email appears")
        demo.salesforce_admin(
            "POST",
            "sobjects/Contact",
            {
                "as_user": "@ana",
                "fields": {"FirstName": "Dora", "LastName": "Duarte", "Email": "dora@umbrella.example"},
            },
        )
        demo.hubspot_admin("PATCH", f"objects/contacts/{dora}", {"properties": {"lastname": "Duarte-Silva"}})
        world.drain()

        heading("Salesforce -> HubSpot: a rep logs a task, an email, a call and a meeting")
        who = {
            "alice": alice_sf,
            "lin": demo.soql("SELECT Id FROM Lead WHERE Email = 'lin@initech.example'")[0]["Id"],
        }
        bob_sf = demo.soql("SELECT Id FROM Contact WHERE Email = 'bob@globex.example'")[0]["Id"]
        task = demo.salesforce_admin(
            "POST",
            "sobjects/Task",
            {
                "as_user": "@ana",
                "fields": {
                    "Subject": "Prepare the contract",
                    "Status": "Not Started",
                    "Priority": "High",
                    "TaskSubtype": "Task",
                    "WhoId": who["alice"],
                    "ActivityDate": now.date().isoformat(),
                },
            },
        )
        demo.salesforce_admin(
            "POST",
            "sobjects/Task",
            {
                "as_user": "@bruno",
                "fields": {
                    "Subject": "Email: next steps",
                    "Status": "Completed",
                    "TaskSubtype": "Email",
                    "WhoId": bob_sf,
                    "Description": "Sent the next steps.",
                },
            },
        )
        demo.salesforce_admin(
            "POST",
            "sobjects/Task",
            {
                "as_user": "@ana",
                "fields": {
                    "Subject": "Call with Lin",
                    "Status": "Completed",
                    "TaskSubtype": "Call",
                    "CallType": "Inbound",
                    "CallDurationInSeconds": 300,
                    "WhoId": who["lin"],
                },
            },
        )
        start = now + dt.timedelta(days=2)
        demo.salesforce_admin(
            "POST",
            "sobjects/Event",
            {
                "as_user": "@ana",
                "fields": {
                    "Subject": "Onsite workshop",
                    "StartDateTime": _iso(start),
                    "EndDateTime": _iso(start + dt.timedelta(hours=2)),
                    "WhoId": who["alice"],
                },
            },
        )
        world.drain()
        heading("The rep completes the task in Salesforce: its HubSpot twin is updated, not copied")
        task_id = task.get("id") or task.get("Id")
        demo.salesforce_admin(
            "PATCH", f"sobjects/Task/{task_id}", {"as_user": "@ana", "fields": {"Status": "Completed"}}
        )
        world.drain()

        report(world, demo)
        usage = world.stack.aws_usage()
    print(f"\ndemo finished in {time.monotonic() - started:.1f} s")
    if usage["refused_count"]:  # a function's role lacks a right it used: AWS would refuse it too
        for refusal in usage["refused"][:5]:
            print(f"refused: {refusal['caller']} {refusal['message']}", file=sys.stderr)
        print(f"{usage['refused_count']} AWS requests refused by a function's role", file=sys.stderr)
        return 1
    return 0


def report(world: Rehearsal, demo: Demo) -> None:
    heading("Outcome per type (synced; waiting/skipped with the reason)")
    figures = {t.key: world.service.state.outcome_figures(t) for t in ALL_SYNC_TYPES}
    print(format_status(figures))

    heading("Salesforce Tasks written by the service (sample)")
    users = {
        u["Id"]: f"{u['FirstName']} {u['LastName']}"
        for u in demo.soql("SELECT Id, FirstName, LastName FROM User")
    }
    people = {
        r["Id"]: f"{r.get('FirstName') or ''} {r['LastName']}".strip()
        for r in demo.soql("SELECT Id, FirstName, LastName FROM Contact")
        + demo.soql("SELECT Id, FirstName, LastName FROM Lead")
    }
    tasks = demo.soql(
        "SELECT Subject, Type, OwnerId, WhoId, HubSpot_Activity_Id__c FROM Task "
        "WHERE HubSpot_Activity_Id__c != null ORDER BY CreatedDate"
    )
    print(f"{'Subject':<46} {'Type':<8} {'Assigned To':<16} {'Who':<18} HubSpot activity")
    for row in tasks:
        owner = users.get(row["OwnerId"], row["OwnerId"])
        who = people.get(row["WhoId"], row["WhoId"])
        subject = str(row["Subject"])[:45]
        print(
            f"{subject:<46} {row.get('Type') or '-':<8} {owner:<16} {who:<18} {row['HubSpot_Activity_Id__c']}"
        )

    heading("HubSpot activities written by the service (from Salesforce)")
    for object_type, title in (
        ("tasks", "hs_task_subject"),
        ("emails", "hs_email_subject"),
        ("calls", "hs_call_title"),
        ("meetings", "hs_meeting_title"),
    ):
        found = demo.hubspot_api(
            "POST",
            f"{OBJECTS}/{object_type}/search",
            {
                "filterGroups": [
                    {"filters": [{"propertyName": "activity_sync_salesforce_id", "operator": "HAS_PROPERTY"}]}
                ],
                "properties": [title, "activity_sync_salesforce_id", "hs_task_status", "hubspot_owner_id"],
            },
        )
        for record in found["results"]:
            props = record["properties"]
            extra = f" status={props['hs_task_status']}" if object_type == "tasks" else ""
            name = str(props.get(title))[:40]
            print(f"  {object_type:<9} {name:<41} <- {props['activity_sync_salesforce_id']}{extra}")

    heading("Each function under its own role (as template.yaml declares it)")
    print(f"AWS requests the functions' roles did not allow: {world.stack.aws_usage()['refused_count']}")

    heading("No echoes (R14)")
    service_user = soql_quote(salesforce_app(world).run_as_user_id)
    echoes = demo.soql(
        f"SELECT Id FROM Task WHERE HubSpot_Activity_Id__c = null AND CreatedById = {service_user}"  # noqa: S608
    )
    print(f"Salesforce Tasks the service created without a HubSpot identity: {len(echoes)}")


def main() -> int:
    try:
        return run()
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
