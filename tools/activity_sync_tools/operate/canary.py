"""``activity-sync canary --contact EMAIL``: a live round trip through the stack, then nothing left.

On a contact present on both sides it writes as a person would - never with the service's own
credentials, whose writes the service sets aside by design (R14) - and times three legs:

1. a HubSpot note becomes a Salesforce Task;
2. an edit of the note reaches the Task;
3. a Salesforce Task becomes a HubSpot task.

Then it removes what it made, on both sides and the links. What it makes is marked
``[activity-sync canary <run>]``, and recorded before anything else happens in the sync state's
shared values, so a run that was interrupted is cleaned up by the next one first. A type switched
off is reported as that leg's failure, never switched on. Exit 0 when every leg completed in its
timeout; 1 otherwise, with ``explain``'s answer for the record that did not arrive; 2 when the
canary cannot start (its identities or the contact missing).

Its identities, in SSM under the stack's prefix: ``canary/hubspot-token`` (a token of another
HubSpot app, e.g. a service key, with notes and tasks read/write) and ``canary/salesforce-client-id``
and ``canary/salesforce-client-secret`` (a second External Client App with client credentials, run
as a person who does not hold the ``HubSpot_Activity_Sync_Writer`` permission).
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from activity_sync_tools.operate.output import console, print_json, table
from activity_sync_tools.operate.target import Stack, add_target

if TYPE_CHECKING:
    from activity_sync_tools.cli import Subcommands

LEFTOVERS = "canary"  # the shared value naming what a run made, until it is removed
NOTE_TO_CONTACT = 202  # HubSpot's note -> contact association type
NOTES_KEY = "hubspot_to_salesforce#note"
TASKS_KEY = "salesforce_to_hubspot#task"
POLL_SECONDS = 1.0


@dataclass
class Leg:
    name: str
    ok: bool = False
    seconds: float | None = None
    detail: str = ""


def register(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "canary", help="a live round trip through the stack, then nothing left", description=__doc__
    )
    add_target(parser)
    parser.add_argument("--contact", required=True, metavar="EMAIL", help="a contact on both sides")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds each leg may take (120)")
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    stack = Stack(arguments)
    try:
        canary = Canary(stack, arguments.timeout)
    except LookupError as missing:
        raise SystemExit(f"error: {missing}") from None
    legs = canary.run(arguments.contact)
    if arguments.json:
        print_json({"run": canary.run_id, "legs": [asdict(leg) for leg in legs]})
    else:
        console().print(
            table(
                f"canary {canary.run_id}",
                ["leg", "state", "# seconds", "detail"],
                [
                    [
                        leg.name,
                        "ok" if leg.ok else "FAILED",
                        "" if leg.seconds is None else f"{leg.seconds:.1f}",
                        leg.detail,
                    ]
                    for leg in legs
                ],
            )
        )
    return 0 if legs and all(leg.ok for leg in legs) else 1


class Canary:
    def __init__(self, stack: Stack, timeout: float) -> None:
        from activity_sync.adapters.hubspot_api import HubSpotClient
        from activity_sync.adapters.salesforce_oauth import SalesforceAuth

        self.stack = stack
        self.service = stack.service
        self.timeout = timeout
        self.run_id = uuid.uuid4().hex[:8]
        self.marker = f"[activity-sync canary {self.run_id}]"
        from activity_sync.config import load_connection_settings

        identities = (
            "canary/hubspot-token",
            "canary/salesforce-client-id",
            "canary/salesforce-client-secret",
        )
        values = load_connection_settings(stack.config, identities, force_fetch=True)
        missing = [f"{stack.config.ssm_prefix}/{name}" for name in identities if not values.get(name)]
        if missing:
            raise LookupError(f"the canary needs its own identities; not set: {', '.join(missing)}")
        connection = self.service.connection()
        self.hubspot = HubSpotClient(connection.hubspot_api_base_url, values.require("canary/hubspot-token"))
        self.salesforce_auth = SalesforceAuth(
            connection.require("salesforce/token-url"),
            values.require("canary/salesforce-client-id"),
            flow="client_credentials",
            client_secret=values.require("canary/salesforce-client-secret"),
        )
        self.api_version = connection.get("salesforce/api-version") or "62.0"
        # What this run made, by kind; "pending": the Salesforce identities of notes whose Task never
        # showed up - an attempt still in flight (a vendor failing, then recovering) may write it
        # after the run, so every later run looks for them first.
        self.made: dict[str, list[str]] = {"notes": [], "tasks": [], "salesforce": [], "pending": []}

    # -- the run ---------------------------------------------------------------------------------
    def run(self, email: str) -> list[Leg]:
        leftovers, still_pending = self._leftovers()
        self._clean_up(leftovers)
        self.made["pending"] = still_pending
        self._save()
        legs: list[Leg] = []
        try:
            contact, person = self._people(email)
            legs += self._hubspot_legs(contact)
            legs.append(self._salesforce_leg(person))
        finally:
            self._clean_up(self.made)
            self.made = {"pending": self.made["pending"]}
            self._save()
        return legs

    def _people(self, email: str) -> tuple[str, str]:
        contacts = self.service.hubspot().find_contacts_by_email([email], ["email"])
        people = self.service.salesforce().people_by_email([email]).get(email.lower(), {})
        person = next(iter([*people.get("Contact", []), *people.get("Lead", [])]), None)
        if email.lower() not in contacts or person is None:
            raise SystemExit(f"error: {email} must be a HubSpot contact and a Salesforce Contact or Lead")
        return contacts[email.lower()].id, person

    def _hubspot_legs(self, contact: str) -> list[Leg]:
        from activity_sync.adapters.hubspot_api import OBJECTS

        first, edit = Leg("HubSpot note -> Salesforce Task"), Leg("note edit -> Task")
        if not self._switched_on(NOTES_KEY, first):
            edit.detail = "not tried"
            return [first, edit]
        started = time.monotonic()
        note = self.hubspot.request_json(
            "POST",
            f"{OBJECTS}/notes",
            body={
                "properties": {"hs_note_body": f"{self.marker} note", "hs_timestamp": _now()},
                "associations": [
                    {
                        "to": {"id": contact},
                        "types": [
                            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": NOTE_TO_CONTACT}
                        ],
                    }
                ],
            },
        )["id"]
        self._remember("notes", str(note))
        self._remember("pending", f"hs:note:{note}")
        task = self._wait(lambda: self._salesforce_task(f"hs:note:{note}"))
        if task is None:
            first.detail = self._explained(str(note), "note", "not in Salesforce")
            edit.detail = "not tried"
            return [first, edit]
        first.ok, first.seconds, first.detail = True, time.monotonic() - started, f"Task {task['Id']}"
        started = time.monotonic()
        self.hubspot.request_json(
            "PATCH",
            f"{OBJECTS}/notes/{note}",
            body={"properties": {"hs_note_body": f"{self.marker} note, edited"}},
        )
        edited = self._wait(
            lambda: (
                (t := self._salesforce_task(f"hs:note:{note}"))
                and "edited" in str(t.get("Description"))
                and t
            )
        )
        if edited:
            edit.ok, edit.seconds, edit.detail = (
                True,
                time.monotonic() - started,
                "the Task's description changed",
            )
        else:
            edit.detail = self._explained(str(note), "note", "the edit did not reach the Task")
        return [first, edit]

    def _salesforce_leg(self, person: str) -> Leg:
        from simple_salesforce.api import Salesforce

        leg = Leg("Salesforce Task -> HubSpot task")
        if not self._switched_on(TASKS_KEY, leg):
            return leg
        started = time.monotonic()
        token, instance_url = self.salesforce_auth.token()
        salesforce = Salesforce(instance_url=instance_url, session_id=token, version=self.api_version)
        created = salesforce.Task.create(  # type: ignore[operator]
            {
                "Subject": f"{self.marker} task",
                "WhoId": person,
                "Status": "Not Started",
                "TaskSubtype": "Task",
            }
        )
        task_id = str(created["id"])
        self._remember("salesforce", task_id)
        copy = self._wait(lambda: self._hubspot_copy(task_id))
        if copy is None:
            leg.detail = self._explained(task_id, None, "no HubSpot copy")
            return leg
        self._remember("tasks", copy)
        leg.ok, leg.seconds, leg.detail = True, time.monotonic() - started, f"HubSpot task {copy}"
        return leg

    # -- what it reads ---------------------------------------------------------------------------
    def _switched_on(self, key: str, leg: Leg) -> bool:
        from activity_sync.domain import SyncType
        from activity_sync.rules.switches import is_on

        if is_on(self.service.settings.type_settings(SyncType.parse(key), fresh=True)):
            return True
        leg.detail = f"{key} is switched off (the canary never switches a type on)"
        return False

    def _salesforce_task(self, external_id: str, *, remember: bool = True) -> dict[str, Any] | None:
        from activity_sync.adapters.salesforce_answers import soql_quote
        from activity_sync.domain import SALESFORCE_EXTERNAL_ID_FIELD as FIELD

        rows = list(
            self.service.salesforce().query(
                f"SELECT Id, Description FROM Task WHERE {FIELD} = {soql_quote(external_id)}"  # noqa: S608
            )
        )
        if rows and remember:
            self.made["pending"] = [p for p in self.made["pending"] if p != external_id]
            self._remember("salesforce", str(rows[0]["Id"]))
        return rows[0] if rows else None

    def _hubspot_copy(self, salesforce_id: str) -> str | None:
        from activity_sync.adapters.hubspot_api import OBJECTS
        from activity_sync.domain import HUBSPOT_SALESFORCE_ID_PROPERTY as PROPERTY

        answer = self.service.hubspot().request(
            "POST",
            f"{OBJECTS}/tasks/search",
            body={
                "filterGroups": [
                    {"filters": [{"propertyName": PROPERTY, "operator": "EQ", "value": salesforce_id}]}
                ],
                "properties": [PROPERTY],
                "limit": 1,
            },
            accept=frozenset({400}),  # the property is made on the service's first write: not yet
        )
        results = answer.json().get("results") or [] if answer.status_code == 200 else []
        return str(results[0]["id"]) if results else None

    def _wait(self, probe: Callable[[], Any]) -> Any:
        deadline = time.monotonic() + self.timeout
        while True:
            found = probe()
            if found or time.monotonic() >= deadline:
                return found or None
            time.sleep(POLL_SECONDS)

    def _explained(self, record_id: str, hubspot_type: str | None, what: str) -> str:
        """What ``explain`` answers for the record that did not arrive (a HubSpot activity of
        ``hubspot_type``, or a Salesforce record)."""
        from activity_sync_tools.operate.explain import Story, explain_hubspot, explain_salesforce

        story = Story(record_id)
        try:
            if hubspot_type:
                explain_hubspot(self.stack, record_id, hubspot_type, story)
            else:
                explain_salesforce(self.stack, record_id, story)
        except Exception as error:  # the leg failed either way; say why explain could not tell
            return f"{what} in {self.timeout:.0f} s; explain failed: {error}"
        return f"{what} in {self.timeout:.0f} s; explain: {story.verdict}"

    # -- leaving nothing behind -------------------------------------------------------------------
    def _remember(self, kind: str, record_id: str) -> None:
        if record_id not in self.made[kind]:
            self.made[kind].append(record_id)
            self._save()

    def _save(self) -> None:
        """What is left to remove, kept before anything else happens (an interrupted run's is
        removed by the next); nothing left, nothing kept."""
        if any(v for k, v in self.made.items() if k != "pending"):
            self.service.state.save_shared(LEFTOVERS, self.made, dt.timedelta(days=30))
        elif self.made.get("pending"):
            # Past a day no attempt is in flight any more (the queues' retries end within hours).
            self.service.state.save_shared(LEFTOVERS, self.made, dt.timedelta(days=1))
        else:
            self.service.state.forget_shared(LEFTOVERS)

    def _leftovers(self) -> tuple[dict[str, list[str]], list[str]]:
        """What earlier runs left to remove (the Tasks written late for their pending notes
        included), and the pending notes whose Task has still not shown up."""
        stored = self.service.state.shared(LEFTOVERS)
        leftovers = {k: list(v) for k, v in (stored[1] if stored else {}).items()}
        still_pending = []
        for external_id in leftovers.pop("pending", []):
            task = self._salesforce_task(external_id, remember=False)
            if task is None:
                still_pending.append(external_id)
            else:
                leftovers.setdefault("salesforce", []).append(str(task["Id"]))
                leftovers.setdefault("links", []).append(external_id)
        return leftovers, still_pending

    def _clean_up(self, made: dict[str, list[str]]) -> None:
        from activity_sync.adapters.hubspot_api import OBJECTS

        if not any(v for k, v in made.items() if k != "pending"):
            return
        hubspot = self.service.hubspot()
        for object_type in ("notes", "tasks"):
            for record_id in made.get(object_type, []):
                hubspot.request("DELETE", f"{OBJECTS}/{object_type}/{record_id}", accept=frozenset({404}))
        salesforce_ids = made.get("salesforce", [])
        if salesforce_ids:
            self.service.salesforce().delete(salesforce_ids)
        links = self.service.links
        stale = [*links.by_salesforce_ids(salesforce_ids).values()]
        notes = [f"hs:note:{n}" for n in made.get("notes", [])] + made.get("links", [])
        stale += [*links.links("activity", notes).values()]
        stale += [*links.links("tasks", made.get("tasks", [])).values()]
        if stale:
            links.unlink(stale)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
