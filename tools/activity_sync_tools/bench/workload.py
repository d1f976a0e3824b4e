"""The bench's workload, run on the local stack against both sandboxes (``Rehearsal``).

Set-up (not measured): the portal's owners and the org's users (mapped by email), contacts on both
sides with the same email (linked by the service before anything is measured), a marketing email and
a form, every switch on, one warm execution environment per function, a first poll to set the
watermarks, and one activity of every type both ways (each function's first real invocation builds
its clients and reads its configuration: the steady state is what comes after).

Then four measured phases; each reads the counters before, makes its activities, drains, runs the
poller once (as its schedule would), drains again and reads the counters after:

1. **HubSpot → Salesforce** (about half of N, over the nine types): notes, calls, meetings, tasks
   and sales emails through webhooks; document views and integration events through the workflow
   webhook to the activity route; form submissions and marketing email events through the poller
   (they have no webhook); plus the share of N "found by the poller": engagements made while the
   portal's webhook subscription was paused.
2. **Salesforce → HubSpot** (about a third of N, over the four types): Tasks of subtype Task, Email
   and Call and Events, created by reps in the org so that Outbound Messages fire; plus the
   poller's share: records made while the Outbound Messages were paused.
3. **Trickle**: notes made one at a time, each waited for until its Task exists.
4. **Burst**: many notes made at once (one busy type).

Latency is the Salesforce sandbox's own ``CreatedDate`` of the Task minus the HubSpot sandbox's own
``createdAt`` of the note: both sandboxes stamp records with this machine's clock, to the millisecond.
Nothing the bench does to make or find records is counted: it uses the sandboxes' admin routes (no
API budget, like a user in the UI) and reads the Salesforce store in-process; the form posts it
makes as a site visitor are excluded by route (``measure.EXCLUDED_ROUTE_PARTS``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from activity_sync_tools.bench.measure import Counts
from activity_sync_tools.bench.report import (
    BURST,
    HUBSPOT_TO_SALESFORCE,
    SALESFORCE_TO_HUBSPOT,
    TRICKLE,
    Phase,
)
from activity_sync_tools.rehearsal import (
    HUBSPOT_CLIENT_SECRET,
    PORTAL_ID,
    WEBHOOK_SUBSCRIPTIONS,
    Rehearsal,
    configure_outbound_messages,
    salesforce_app,
)

H2S = HUBSPOT_TO_SALESFORCE
S2H = SALESFORCE_TO_HUBSPOT
HUBSPOT_TYPES = (
    "note",
    "call",
    "meeting",
    "task",
    "sales_email",
    "document_view",
    "integration_event",
    "form_submission",
    "marketing_email",
)
WEBHOOK_TYPES = ("note", "call", "meeting", "task", "sales_email")
SALESFORCE_TYPES = ("task", "email", "call", "meeting")
TASK_TYPES: Mapping[str, str | None] = {
    "form_submission": "Other",
    "marketing_email": "Email",
    "sales_email": "Email",
    "meeting": "Meeting",
    "call": "Call",
    "note": None,
    "document_view": "Other",
    "task": None,
    "integration_event": "Other",
}
HUBSPOT_OBJECTS = {
    "note": "notes",
    "call": "calls",
    "meeting": "meetings",
    "task": "tasks",
    "sales_email": "emails",
}
HUBSPOT_COPIES = ("tasks", "emails", "calls", "meetings")  # where Salesforce records land in HubSpot
SALESFORCE_ID_PROPERTY = "activity_sync_salesforce_id"
OWNERS = ("ana", "bruno")
DRAIN_TIMEOUT_SECONDS = 900.0
DEFAULT_BURST = 1000  # notes made at once: an import of one busy type


@dataclass(frozen=True)
class Plan:
    """How many activities each phase makes, from N (the size of the mixed run)."""

    n: int
    burst: int
    trickle: int
    contacts: int

    @classmethod
    def from_n(cls, n: int, *, burst: int | None = None, trickle: int | None = None) -> Plan:
        if n < 6:
            raise ValueError(
                "N must be at least 6 (the mixed run needs every direction and the poller's share)"
            )
        return cls(
            n=n,
            burst=burst if burst is not None else min(5 * n, DEFAULT_BURST),
            trickle=trickle if trickle is not None else min(25, max(5, n // 10)),
            contacts=max(4, min(40, n // 10)),
        )

    @property
    def hubspot_live(self) -> int:
        return round(self.n / 2)

    @property
    def salesforce_live(self) -> int:
        return round(self.n / 3)

    @property
    def missed(self) -> int:
        """The rest: activities whose notification never came, found by the poller."""
        return self.n - self.hubspot_live - self.salesforce_live

    @property
    def hubspot_missed(self) -> int:
        return (self.missed + 1) // 2

    @property
    def salesforce_missed(self) -> int:
        return self.missed // 2


def spread(total: int, kinds: tuple[str, ...]) -> Counter[str]:
    """``total`` over ``kinds`` as evenly as can be (the first kinds get the remainder)."""
    counts: Counter[str] = Counter()
    for index in range(total):
        counts[kinds[index % len(kinds)]] += 1
    return counts


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class Bench:
    """The running world, and what the bench made in it."""

    world: Rehearsal
    plan: Plan
    log: Callable[[str], None] = print
    contacts: list[tuple[str, str, str]] = field(default_factory=list)  # (email, HubSpot id, Salesforce id)
    owners: dict[str, str] = field(default_factory=dict)  # HubSpot owner id by name
    users: dict[str, str] = field(default_factory=dict)  # Salesforce user id by name
    marketing_email_id: str = ""
    form_id: str = ""

    def __post_init__(self) -> None:
        self.hubspot = requests.Session()
        self.hubspot.trust_env = False
        self.salesforce = requests.Session()
        self.salesforce.trust_env = False
        self.salesforce.verify = str(self.world.salesforce.ca_bundle)
        self._sequence = itertools.count(1)
        self._contact_cycle: Iterator[tuple[str, str, str]] | None = None

    # -- the vendors' UIs (admin routes: no API budget, they fire the notifications) ----------------
    def hubspot_admin(self, method: str, path: str, body: Any = None) -> Any:
        return _admin("HubSpot", self.hubspot, self.world.hubspot.url, method, path, body)

    def salesforce_admin(self, method: str, path: str, body: Any = None) -> Any:
        return _admin("Salesforce", self.salesforce, self.world.salesforce.url, method, path, body)

    def next_contact(self) -> tuple[str, str, str]:
        if self._contact_cycle is None:
            self._contact_cycle = itertools.cycle(self.contacts)
        return next(self._contact_cycle)

    def owner(self) -> str:
        return self.owners[OWNERS[next(self._sequence) % len(OWNERS)]]

    # -- counting ----------------------------------------------------------------------------------
    def counts(self) -> Counts:
        stack = self.world.stack
        return Counts.read(
            salesforce_counters=self.salesforce_admin("GET", "counters")["counters"],
            hubspot_counters=self.hubspot_admin("GET", "counters")["counters"],
            aws_usage=stack.aws_usage(),
            function_metrics=stack.function_metrics(),
        )

    def vendor_pending(self) -> int:
        """Notifications the sandboxes have yet to deliver (webhooks, workflow webhooks, Outbound
        Messages): they deliver on their own, as the vendors do; the bench never forces them."""
        return (
            int(self.hubspot_admin("GET", "webhooks")["pending"])
            + int(self.hubspot_admin("GET", "workflow-webhooks")["pending"])
            + len(self.salesforce_admin("GET", "outbound-messages")["pending"])
        )

    def quiesce(self, timeout: float = DRAIN_TIMEOUT_SECONDS) -> None:
        """Wait until the vendors have nothing left to notify and the stack has drained, twice in a
        row (a syncer's work can make more: a Task it writes fires an Outbound Message)."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while quiet < 2:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"still busy after {timeout:g} s: {self.world.stack.pending_work()}")
            if self.vendor_pending():
                quiet = 0
                time.sleep(0.2)
                continue
            self.world.stack.wait_until_drained(timeout=remaining)
            quiet = 0 if self.vendor_pending() else quiet + 1
            time.sleep(0.3)

    def settle(self) -> None:
        """Let everything pending arrive and drain, run the poller once (as its schedule would),
        and drain again."""
        self.quiesce()
        for result in self.world.stack.trigger_schedule("Poller"):
            if not result.ok:
                self.log(f"  the poller failed: {result.error_type}: {result.error_message}")
        self.quiesce()

    def measured(
        self, name: str, make: Callable[[], Counter[str]], synced: Callable[[Counter[str]], int]
    ) -> Phase:
        before = self.counts()
        started = time.monotonic()
        activities = make()
        self.settle()
        seconds = time.monotonic() - started
        phase = Phase(name, activities, self.counts() - before, seconds, synced(activities))
        self.log(f"  {name}: {phase.total} activities, {phase.synced} synced, {seconds:.0f} s")
        return phase

    # -- set-up ------------------------------------------------------------------------------------
    def set_up(self) -> None:
        from activity_sync.domain import ALL_SYNC_TYPES, Direction, TypeSettings
        from activity_sync.rules.switches import turn_on

        self.owners = {
            str(o["firstName"]).lower(): str(o["id"]) for o in self.hubspot_admin("GET", "owners")["results"]
        }
        app = salesforce_app(self.world)
        self.users = {name: app.seed_keys[name] for name in OWNERS}
        seeded = self.salesforce_admin(
            "POST",
            "seed",
            {
                "contacts": [
                    {
                        "key": f"c{index}",
                        "FirstName": f"Person{index}",
                        "LastName": "Bench",
                        "Email": f"person{index}@bench.example",
                        "OwnerId": self.users[OWNERS[index % len(OWNERS)]],
                    }
                    for index in range(self.plan.contacts)
                ]
            },
        )["keys"]
        for index in range(self.plan.contacts):
            email = f"person{index}@bench.example"
            created = self.hubspot_admin(
                "POST",
                "objects/contacts",
                {
                    "properties": {
                        "email": email,
                        "firstname": f"Person{index}",
                        "lastname": "Bench",
                        "hubspot_owner_id": self.owners[OWNERS[index % len(OWNERS)]],
                    }
                },
            )
            self.contacts.append((email, str(created["id"]), str(seeded[f"c{index}"])))
        self.marketing_email_id = str(
            self.hubspot_admin("POST", "marketing-emails", {"name": "Bench Newsletter", "subject": "News"})[
                "id"
            ]
        )
        self.form_id = str(
            self.hubspot_admin("POST", "forms", {"name": "Bench Form", "fields": ["email", "firstname"]})[
                "id"
            ]
        )
        switched_on = dt.datetime.now(dt.UTC)
        for sync_type in ALL_SYNC_TYPES:
            task_type = (
                TASK_TYPES.get(sync_type.type)
                if sync_type.direction is Direction.HUBSPOT_TO_SALESFORCE
                else None
            )
            self.world.service.settings.save_type_settings(
                sync_type, turn_on(TypeSettings(task_type=task_type), switched_on), by="bench"
            )
        time.sleep(0.05)  # what happens next happens strictly after enabled_at
        self.warm_up()
        self.settle()  # the contacts link; the first poll sets every watermark
        # One activity of every type, both ways, before anything is measured: each function's first
        # real invocation builds its clients, reads its configuration and takes its tokens, which a
        # service that has been running for a while has long done.
        self.in_parallel([functools.partial(self.hubspot_activity, t) for t in HUBSPOT_TYPES])
        self.in_parallel([functools.partial(self.salesforce_activity, t) for t in SALESFORCE_TYPES])
        self.settle()

    def warm_up(self) -> None:
        """Warm execution environments, started at once (cold starts overlap), as many per function
        as the measured load keeps busy together - a service under steady load has them all warm:
        each queue consumer as many as its event sources deliver batches at once, the webhook
        receiver as many as HubSpot sends requests at once."""
        from activity_sync_tools.local.workers import function_concurrency, source_concurrency

        stack = self.world.stack
        limit = stack.concurrency_limit
        warming: list[tuple[str, Callable[[], bool]]] = []
        for function_id, spec in sorted(stack.model.functions.items()):
            if spec.queue_sources:
                at_once = sum(source_concurrency(s.maximum_concurrency, limit) for s in spec.queue_sources)
                warming += [(function_id, functools.partial(self._invoked_empty, function_id))] * at_once
            elif spec.http_routes:
                hubspot_at_once = int(self.hubspot_admin("GET", "webhooks")["max_concurrent_requests"])
                at_once = min(hubspot_at_once, function_concurrency(spec, limit))
                warming += [(function_id, self._posted_empty)] * at_once
        with ThreadPoolExecutor(max_workers=len(warming)) as pool:
            results = list(pool.map(lambda item: item[1](), warming))
        failed = sorted({warmed for (warmed, _), ok in zip(warming, results, strict=True) if not ok})
        if failed:
            raise RuntimeError(f"warming up failed: {failed}")

    def _invoked_empty(self, function_id: str) -> bool:
        return bool(self.world.stack.invoke(function_id, {"Records": []}).ok)

    def _posted_empty(self) -> bool:
        # Refused (400) by a warm handler, which is all it is for.
        url = f"{self.world.stack.api_url}/webhooks/hubspot/activities"
        return requests.post(url, data="", timeout=120).status_code < 500

    # -- making activities -------------------------------------------------------------------------
    def hubspot_activity(self, activity_type: str) -> None:
        email, contact, _ = self.next_contact()
        number = next(self._sequence)
        now = _iso(dt.datetime.now(dt.UTC))
        if activity_type in HUBSPOT_OBJECTS:
            self.engagement(activity_type, contact, number, now)
        elif activity_type == "document_view":
            self.hubspot_admin(
                "POST", "document-views", {"contact": contact, "document_name": f"Deck {number}.pdf"}
            )
        elif activity_type == "integration_event":
            self.hubspot_admin(
                "POST",
                "timeline-events",
                {"contact": contact, "app_name": "Zoom", "event_name": f"Webinar {number}"},
            )
        elif activity_type == "form_submission":
            self.submit_form(email)
        elif activity_type == "marketing_email":
            kind = ("SENT", "OPEN", "CLICK")[number % 3]
            self.hubspot_admin(
                "POST",
                "email-events",
                {"events": [{"type": kind, "recipient": email, "emailId": self.marketing_email_id}]},
            )
        else:
            raise ValueError(activity_type)

    def submit_form(self, email: str, attempts: int = 8) -> None:
        """A site visitor's form post; like a browser, it tries again when the portal fails it (the
        fault suite fails a share of every HubSpot route)."""
        for attempt in range(attempts):
            try:
                answer = self.hubspot.post(
                    f"{self.world.hubspot.url}/submissions/v3/integration/submit/{PORTAL_ID}/{self.form_id}",
                    json={
                        "fields": [
                            {"name": "email", "value": email},
                            {"name": "firstname", "value": "Bench"},
                        ],
                        "context": {"pageUri": "https://bench.example/contact", "pageName": "Contact"},
                    },
                    timeout=30,
                )
            except requests.ConnectionError:
                if attempt == attempts - 1:
                    raise
                continue
            if answer.status_code < 500 and answer.status_code != 429:
                answer.raise_for_status()
                return
            time.sleep(0.2)
        answer.raise_for_status()

    def engagement(self, activity_type: str, contact: str, number: int, now: str) -> dict[str, Any]:
        return dict(
            self.hubspot_admin(
                "POST",
                f"objects/{HUBSPOT_OBJECTS[activity_type]}",
                self.engagement_input(activity_type, contact, number, now),
            )
        )

    def engagement_input(self, activity_type: str, contact: str, number: int, now: str) -> dict[str, Any]:
        """What a HubSpot user enters for one activity of ``activity_type`` on ``contact``."""
        properties: dict[str, str] = {"hs_timestamp": now, "hubspot_owner_id": self.owner()}
        match activity_type:
            case "note":
                properties["hs_note_body"] = f"<p>Bench note {number} about the <b>renewal</b></p>"
            case "call":
                properties |= {
                    "hs_call_title": f"Bench call {number}",
                    "hs_call_direction": "OUTBOUND",
                    "hs_call_duration": "300000",
                    "hs_call_body": "Budget confirmed",
                }
            case "meeting":
                properties |= {"hs_meeting_title": f"Bench meeting {number}", "hs_meeting_start_time": now}
            case "task":
                properties |= {
                    "hs_task_subject": f"Bench task {number}",
                    "hs_task_status": "NOT_STARTED",
                    "hs_task_priority": "MEDIUM",
                }
            case "sales_email":
                properties |= {
                    "hs_email_subject": f"Bench email {number}",
                    "hs_email_direction": "EMAIL",
                    "hs_email_status": "SENT",
                    "hs_email_text": "Here is our pricing.",
                }
        return {"properties": properties, "associations": [{"type": "contacts", "id": contact}]}

    def salesforce_activity(self, activity_type: str) -> str:
        _, _, person = self.next_contact()
        number = next(self._sequence)
        rep = OWNERS[number % len(OWNERS)]
        sobject = "Event" if activity_type == "meeting" else "Task"
        fields: dict[str, Any] = {"WhoId": person, "Subject": f"Bench {activity_type} {number}"}
        match activity_type:
            case "task":
                fields |= {"TaskSubtype": "Task", "Status": "Not Started", "Priority": "Normal"}
            case "email":
                fields |= {
                    "TaskSubtype": "Email",
                    "Status": "Completed",
                    "Description": "Sent the next steps.",
                }
            case "call":
                fields |= {
                    "TaskSubtype": "Call",
                    "Status": "Completed",
                    "CallType": "Outbound",
                    "CallDurationInSeconds": 300,
                }
            case "meeting":
                start = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
                fields |= {"StartDateTime": _iso(start), "EndDateTime": _iso(start + dt.timedelta(hours=1))}
        created = self.salesforce_admin(
            "POST", f"sobjects/{sobject}", {"as_user": self.users[rep], "fields": fields}
        )
        return str(created.get("id") or created.get("Id"))

    def in_parallel(self, jobs: list[Callable[[], Any]], workers: int = 6) -> list[Any]:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return [future.result() for future in [pool.submit(job) for job in jobs]]

    # -- pausing the vendors' notifications (the activities the poller has to find) -----------------
    @contextlib.contextmanager
    def hubspot_webhooks_paused(self) -> Iterator[None]:
        self.hubspot_admin("DELETE", "webhooks")
        try:
            yield
        finally:
            self.hubspot_admin(
                "POST",
                "webhooks",
                {
                    "target_url": f"{self.world.stack.api_url}/webhooks/hubspot",
                    "client_secret": HUBSPOT_CLIENT_SECRET,
                    "subscriptions": WEBHOOK_SUBSCRIPTIONS,
                },
            )

    @contextlib.contextmanager
    def outbound_messages_paused(self) -> Iterator[None]:
        self.quiesce()  # nothing pending is lost by the pause
        self.salesforce_admin("DELETE", "outbound-messages")
        try:
            yield
        finally:
            configure_outbound_messages(salesforce_app(self.world), self.world.stack.api_url)

    # -- what synced -----------------------------------------------------------------------------
    def tasks_by_activity(self, since: dt.datetime) -> dict[str, dt.datetime]:
        """The Salesforce Tasks the service made since ``since``: HubSpot identity -> CreatedDate."""
        app = salesforce_app(self.world)
        found: dict[str, dt.datetime] = {}
        with app.lock:
            for record in app.store.live("Task"):
                identity = record.values.get("HubSpot_Activity_Id__c")
                created = record.values.get("CreatedDate")
                if identity and isinstance(created, dt.datetime) and created >= since:
                    found[str(identity)] = created
        return found

    def hubspot_copies(self, salesforce_ids: set[str]) -> int:
        copies = 0
        for object_type in HUBSPOT_COPIES:
            for record in self.hubspot_admin("GET", f"objects/{object_type}")["results"]:
                if str(record["properties"].get(SALESFORCE_ID_PROPERTY) or "") in salesforce_ids:
                    copies += 1
        return copies

    # -- the phases --------------------------------------------------------------------------------
    def hubspot_to_salesforce(self) -> Phase:
        since = dt.datetime.now(dt.UTC)

        def make() -> Counter[str]:
            live = spread(self.plan.hubspot_live, HUBSPOT_TYPES)
            missed = spread(self.plan.hubspot_missed, WEBHOOK_TYPES)
            with self.hubspot_webhooks_paused():
                self.in_parallel(
                    [
                        functools.partial(self.hubspot_activity, t)
                        for t, count in missed.items()
                        for _ in range(count)
                    ]
                )
            self.in_parallel(
                [
                    functools.partial(self.hubspot_activity, t)
                    for t, count in live.items()
                    for _ in range(count)
                ]
            )
            return Counter({f"{H2S}#{t}": n for t, n in (live + missed).items()})

        return self.measured(HUBSPOT_TO_SALESFORCE, make, lambda _: len(self.tasks_by_activity(since)))

    def salesforce_to_hubspot(self) -> Phase:
        created: set[str] = set()

        def make() -> Counter[str]:
            live = spread(self.plan.salesforce_live, SALESFORCE_TYPES)
            missed = spread(self.plan.salesforce_missed, SALESFORCE_TYPES)
            with self.outbound_messages_paused():
                created.update(
                    self.in_parallel(
                        [
                            functools.partial(self.salesforce_activity, t)
                            for t, count in missed.items()
                            for _ in range(count)
                        ]
                    )
                )
            created.update(
                self.in_parallel(
                    [
                        functools.partial(self.salesforce_activity, t)
                        for t, count in live.items()
                        for _ in range(count)
                    ]
                )
            )
            return Counter({f"{S2H}#{t}": n for t, n in (live + missed).items()})

        return self.measured(SALESFORCE_TO_HUBSPOT, make, lambda _: self.hubspot_copies(created))

    def trickle(self, latencies: list[float]) -> Phase:
        since = dt.datetime.now(dt.UTC)

        def make() -> Counter[str]:
            for _ in range(self.plan.trickle):
                _, contact, _ = self.next_contact()
                note = self.engagement("note", contact, next(self._sequence), _iso(dt.datetime.now(dt.UTC)))
                identity = f"hs:note:{note['id']}"
                deadline = time.monotonic() + 120
                while identity not in (tasks := self.tasks_by_activity(since)):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"note {note['id']} did not become a Task within 120 s")
                    time.sleep(0.02)
                latencies.append((tasks[identity] - _parse_instant(note["createdAt"])).total_seconds())
            return Counter({f"{H2S}#note": self.plan.trickle})

        return self.measured(TRICKLE, make, lambda _: len(self.tasks_by_activity(since)))

    def burst(self, latencies: list[float]) -> Phase:
        since = dt.datetime.now(dt.UTC)
        notes: list[dict[str, Any]] = []

        def make() -> Counter[str]:
            # At once: an import in HubSpot's UI, a hundred notes a request, so that the webhooks
            # arrive as fast as HubSpot sends them rather than as fast as this machine makes notes.
            def hundred(count: int) -> list[dict[str, Any]]:
                now = _iso(dt.datetime.now(dt.UTC))
                inputs = []
                for _ in range(count):
                    _, contact, _ = self.next_contact()
                    inputs.append(self.engagement_input("note", contact, next(self._sequence), now))
                made = self.hubspot_admin("POST", "objects/notes", {"inputs": inputs})["results"]
                return list(made)

            sizes = [min(100, self.plan.burst - start) for start in range(0, self.plan.burst, 100)]
            for made in self.in_parallel([functools.partial(hundred, size) for size in sizes], workers=4):
                notes.extend(made)
            return Counter({f"{H2S}#note": self.plan.burst})

        phase = self.measured(BURST, make, lambda _: len(self.tasks_by_activity(since)))
        tasks = self.tasks_by_activity(since)
        for note in notes:
            created = tasks.get(f"hs:note:{note['id']}")
            if created is not None:
                latencies.append((created - _parse_instant(note["createdAt"])).total_seconds())
        return phase


SALESFORCE_SEED: dict[str, Any] = {
    "picklists": {"Task.Type": ["Call", "Email", "Meeting", "Other"]},
    "users": [
        {
            "key": name,
            "Username": f"{name}@bench.example",
            "Email": f"{name}@bench.example",
            "FirstName": name.title(),
            "LastName": "Bench",
            "IsActive": True,
        }
        for name in OWNERS
    ],
}
HUBSPOT_SEED: dict[str, Any] = {
    "owners": [
        {"ref": name, "email": f"{name}@bench.example", "firstName": name.title(), "lastName": "Bench"}
        for name in OWNERS
    ]
}


@dataclass
class Measured:
    phases: dict[str, Phase]
    latency_seconds: dict[str, list[float]]
    function_environments: dict[str, dict[str, str]]
    function_code_dirs: dict[str, Path]
    event_sources: dict[str, Any]


def run_workload(
    plan: Plan, *, log: Callable[[str], None] = print, state_dir: Path | None = None
) -> Measured:
    """Start the world, run the phases, and answer what they measured."""
    with Rehearsal.start(
        hubspot_seed=HUBSPOT_SEED,
        salesforce_seed=SALESFORCE_SEED,
        state_dir=state_dir,
        windows_as_deployed=True,  # the template's batching windows: what a deployed stack does
        forms_listed_each_run=False,  # and the product's forms cache
    ) as world:
        bench = Bench(world, plan, log)
        log(f"set-up: {plan.contacts} contacts on both sides, every switch on, warm-up, a first round")
        bench.set_up()
        phases: dict[str, Phase] = {}
        latency: dict[str, list[float]] = {TRICKLE: [], BURST: []}
        log("measuring:")
        phases[HUBSPOT_TO_SALESFORCE] = bench.hubspot_to_salesforce()
        phases[SALESFORCE_TO_HUBSPOT] = bench.salesforce_to_hubspot()
        phases[TRICKLE] = bench.trickle(latency[TRICKLE])
        phases[BURST] = bench.burst(latency[BURST])
        stack = world.stack
        representatives = _one_function_per_code_dir(stack)
        return Measured(
            phases,
            latency,
            {function_id: stack.function_environment(function_id) for function_id in representatives},
            {function_id: stack.model.functions[function_id].code_dir for function_id in representatives},
            stack.event_source_metrics(),
        )


def _one_function_per_code_dir(stack: Any) -> list[str]:
    """A function per handler (the 13 syncers share one), preferring the note syncer."""
    chosen: dict[Path, str] = {}
    for function_id, spec in sorted(
        stack.model.functions.items(), key=lambda item: item[0] != "HubSpotNoteSyncer"
    ):
        chosen.setdefault(spec.code_dir, function_id)
    return sorted(chosen.values())


def _admin(vendor: str, session: requests.Session, base_url: str, method: str, path: str, body: Any) -> Any:
    response = session.request(method, f"{base_url}/_sandbox/{path}", json=body, timeout=60)
    if not response.ok:
        raise RuntimeError(f"{vendor} sandbox {method} {path}: {response.status_code} {response.text[:300]}")
    return response.json() if response.content else None
