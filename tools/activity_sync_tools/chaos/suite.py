"""The fault suite's run: the bench's world and activities (``bench.workload``), made under faults.

1. Set-up without faults, as the bench does: owners and users, contacts linked on both sides, every
   switch on, a first poll, one activity of every type both ways.
2. The faults: a share of the vendor calls fails on both sandboxes, split evenly over the kinds each
   vendor really answers with (HubSpot: 429 with Retry-After, 5xx, slow responses, dropped
   connections; Salesforce: 5xx, slow responses, dropped connections, expired sessions); every
   webhook, workflow webhook and Outbound Message is delivered twice; the API budget is small
   (HubSpot's rate per 10 s, both daily allocations) so that marketing activities are deferred
   behind sales ones; and syncers are killed in the middle of a batch.
3. N activities over every type in both directions: half of them HubSpot -> Salesforce over the
   nine types, a third Salesforce -> HubSpot over the four, the rest made while the vendors'
   notifications were paused (only the poller finds them). Sales emails go half to contacts that
   do not sync yet (HubSpot only), half to contacts that do, and most are opened or clicked at
   once - several events of one email, each a webhook delivered twice, in the same batches (the
   shape that once dead-lettered whole batches, issue #20); then a rep creates the Salesforce
   Contact of half of those contacts, which wakes their emails.
4. Drain: deliveries, queues and polls (as the schedule would run the poller) until every activity
   is accounted for or nothing moves any more.
5. Accounts (``chaos.accounting``): per type created, synced, waiting, dead-lettered, lost and
   duplicated, and the vendor calls against each limit of the budget, read from the vendors' own
   request logs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from activity_sync.ports import DeadLetterEntry
from activity_sync_tools.bench.measure import EXCLUDED_ROUTE_PARTS
from activity_sync_tools.bench.workload import (
    HUBSPOT_COPIES,
    HUBSPOT_SEED,
    HUBSPOT_TYPES,
    SALESFORCE_ID_PROPERTY,
    SALESFORCE_SEED,
    SALESFORCE_TYPES,
    WEBHOOK_TYPES,
    Bench,
    Plan,
    spread,
)
from activity_sync_tools.chaos.accounting import (
    BudgetCheck,
    TypeOutcome,
    account_type,
    busiest_window,
    totals,
)
from activity_sync_tools.rehearsal import Rehearsal, configure_outbound_messages, salesforce_app

H2S = "hubspot_to_salesforce"
S2H = "salesforce_to_hubspot"
# (kind, route): what each vendor really answers with. A session expires on the data API; the
# token endpoint fails as the rest does (5xx, slow, dropped).
HUBSPOT_FAULTS = (("rate_limit", "*"), ("server_error", "*"), ("slow", "*"), ("drop", "*"))
SALESFORCE_FAULTS = (
    ("server_error", "*"),
    ("slow", "*"),
    ("drop", "*"),
    ("expired_session", "* /services/data/*"),
)
SLOW_SECONDS = 2.0  # well inside the adapters' read timeouts: a slow answer, not a lost one
KILL_INTERVAL_SECONDS = 4.0
POLL_INTERVAL_SECONDS = 10.0  # between the poller's runs while draining (its schedule, sped up)
STALLED_ROUNDS = 3  # polls in a row that account for nothing more: what is left is lost
SETTINGS_CACHE_SECONDS = 1.0  # the functions see a changed allocation within a second
BUDGET_HOLD_SECONDS = 5  # messages handed back for the budget try again after 5 s, not 15 min
SQUEEZE_SALES_TYPES = ("note", "call")
SQUEEZE_MARKETING_TYPES = ("document_view", "integration_event")
SQUEEZE_WAIT_SECONDS = 120.0
# Sales emails: what their recipients do at once, in turn (each a change of the email's tracking
# counters, so a webhook of its own): nothing, an open, an open and a click, two opens and a click.
SALES_EMAIL_TRACKING = ((), ("OPEN",), ("OPEN", "CLICK"), ("OPEN", "OPEN", "CLICK"))
# What DynamoDB refusing a write for good looks like in a dead letter's reason: never acceptable.
STORAGE_REFUSAL_MARKS = ("ValidationException", "could not park", "StorageRefused")


@dataclass(frozen=True)
class ChaosPlan:
    n: int = 2000
    fault_rate: float = 0.2
    kills: int = 3
    hubspot_requests_per_10s: int = 24  # 2 calls a second: low enough that marketing waits
    hubspot_searches_per_second: int = 4
    hubspot_daily_allocation: int = 1500
    salesforce_daily_allocation: int = 1000
    drain_timeout_seconds: float = 1800.0
    seed: int = 7

    def __post_init__(self) -> None:
        if self.n < 6:
            raise ValueError("N must be at least 6 (every direction and the poller's share)")
        if not 0 <= self.fault_rate < 1:
            raise ValueError("the fault rate is a share of the calls, from 0 up to (not including) 1")


@dataclass
class ChaosResult:
    plan: ChaosPlan
    outcomes: dict[str, TypeOutcome]
    waiting_by_reason: dict[str, dict[str, int]]
    dead_letters_by_reason: dict[str, dict[str, int]]
    dead_letters_without_reason: int
    deferred_for_budget: dict[str, int]
    budget: list[BudgetCheck]
    vendor_calls: dict[str, dict[str, Any]]
    faults_injected: dict[str, dict[str, int]]
    duplicate_deliveries: dict[str, int]
    kills: list[str]
    seconds: dict[str, float]
    drained: bool
    squeeze: dict[str, Any] = field(default_factory=dict)
    sales_emails: dict[str, int] = field(default_factory=dict)
    dead_letters_for_storage: int = 0
    # Requests the embedded AWS refused as IAM would (each function runs under its own role).
    refused_aws_requests: list[dict[str, str]] = field(default_factory=list)  # the first ones
    refused_aws_request_count: int = 0

    @property
    def total(self) -> TypeOutcome:
        return totals(self.outcomes)

    @property
    def failures(self) -> list[str]:
        """Why the run fails: any loss, any duplicate, any limit exceeded, any dead letter without
        its reason, or queues that never drained."""
        total = self.total
        found = []
        if total.lost:
            found.append(f"{total.lost} activities lost")
        if total.duplicated:
            found.append(f"{total.duplicated} activities duplicated")
        found += [
            f"{check.vendor} {check.limit_name}: {check.used} used, {check.limit} allowed"
            for check in self.budget
            if check.exceeded
        ]
        if self.dead_letters_without_reason:
            found.append(f"{self.dead_letters_without_reason} dead letters without a reason")
        if self.dead_letters_for_storage:
            found.append(f"{self.dead_letters_for_storage} dead letters for a write DynamoDB refused")
        if self.refused_aws_request_count:
            first = self.refused_aws_requests[0]
            found.append(
                f"{self.refused_aws_request_count} AWS requests refused by a function's role, first "
                f"{first['caller']} {first['service']}:{first['operation']}: {first['message']}"
            )
        if not self.drained:
            found.append("the stack did not drain")
        if self.squeeze and not self.squeeze.get("priorities_held"):
            found.append(f"the priorities did not hold while the budget was squeezed: {self.squeeze}")
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan.__dict__,
            "passed": not self.failures,
            "failures": self.failures,
            "drained": self.drained,
            "seconds": self.seconds,
            "total": self.total.to_dict(),
            "by_type": {key: outcome.to_dict() for key, outcome in sorted(self.outcomes.items())},
            "waiting_by_reason": self.waiting_by_reason,
            "dead_letters_by_reason": self.dead_letters_by_reason,
            "deferred_for_budget": self.deferred_for_budget,
            "budget": [check.to_dict() for check in self.budget],
            "vendor_calls": self.vendor_calls,
            "faults_injected": self.faults_injected,
            "duplicate_deliveries": self.duplicate_deliveries,
            "kills": self.kills,
            "squeeze": self.squeeze,
            "sales_emails": self.sales_emails,
            "dead_letters_for_storage": self.dead_letters_for_storage,
        }


class WorkerKiller:
    """Kills a queue consumer busy with a batch, every few seconds, ``count`` times."""

    def __init__(self, world: Rehearsal, count: int, log: Callable[[str], None]) -> None:
        self.world = world
        self.count = count
        self.log = log
        self.killed: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-killer", daemon=True)
        stack = world.stack
        self._consumers = sorted(
            function_id for function_id, spec in stack.model.functions.items() if spec.queue_sources
        )

    def __enter__(self) -> WorkerKiller:
        if self.count > 0:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while len(self.killed) < self.count and not self._stop.wait(KILL_INTERVAL_SECONDS):
            # Busy ones only: a kill mid-batch is the fault; an idle worker would just start again.
            while not self._stop.is_set():
                found = self.world.stack.kill_busy_worker(self._consumers)
                if found is not None:
                    function_id, pid = found
                    self.killed.append(f"{function_id} (pid {pid})")
                    self.log(f"  killed {function_id} mid-batch (pid {pid})")
                    break
                time.sleep(0.05)


class Chaos:
    """The bench's world with the faults on, and what the suite made in it."""

    def __init__(self, world: Rehearsal, plan: ChaosPlan, log: Callable[[str], None]) -> None:
        self.world = world
        self.plan = plan
        self.log = log
        self.bench = Bench(world, Plan.from_n(plan.n, burst=0, trickle=0), log)
        self.hubspot_made: Counter[str] = Counter()
        self.salesforce_made: dict[str, set[str]] = {t: set() for t in SALESFORCE_TYPES}
        self.started_at = dt.datetime.now(dt.UTC)
        self.squeeze_figures: dict[str, Any] = {}
        # Sales emails are accounted per event (each its own Task): email id -> events made.
        self.sales_events: dict[str, set[str]] = {}
        self.waiting_contacts: list[tuple[str, str]] = []  # (email, HubSpot id): no Salesforce person
        self.woken_contacts: list[str] = []
        self._sales_lock = threading.Lock()
        self._sales_made = 0
        self._to_waiting = 0

    # -- the faults --------------------------------------------------------------------------
    def faults_on(self) -> None:
        share = self.plan.fault_rate
        bench = self.bench
        for vendor, admin, kinds in (
            ("HubSpot", bench.hubspot_admin, HUBSPOT_FAULTS),
            ("Salesforce", bench.salesforce_admin, SALESFORCE_FAULTS),
        ):
            admin("DELETE", "faults")
            if share <= 0:
                continue
            admin("POST", "faults", {"seed": self.plan.seed})
            for kind, route in kinds:
                admin(
                    "POST",
                    "faults",
                    {
                        "route": route,
                        "kind": kind,
                        "times": None,
                        "probability": share / len(kinds),
                        "retry_after": 1,
                        "delay_seconds": SLOW_SECONDS,
                    },
                )
            self.log(f"  {vendor}: {share:.0%} of calls fail ({', '.join(kind for kind, _ in kinds)})")
        self.deliver_twice(True)

    def faults_off(self) -> None:
        self.bench.hubspot_admin("DELETE", "faults")
        self.bench.salesforce_admin("DELETE", "faults")
        self.deliver_twice(False)

    def deliver_twice(self, on: bool) -> None:
        bench = self.bench
        bench.hubspot_admin("POST", "webhooks", {"deliver_twice": on})
        bench.hubspot_admin("POST", "workflow-webhooks", {"deliver_twice": on})
        bench.salesforce_admin("POST", "outbound-messages/settings", {"deliver_twice": on})

    def budget_small(self) -> None:
        settings = self.world.service.settings
        plan = self.plan
        for name, value in (
            ("hubspot_requests_per_10s", plan.hubspot_requests_per_10s),
            ("hubspot_searches_per_second", plan.hubspot_searches_per_second),
            ("hubspot_daily_allocation", plan.hubspot_daily_allocation),
            ("salesforce_daily_allocation", plan.salesforce_daily_allocation),
        ):
            settings.set_allocation(name, value)
        # The portal enforces the same rate: a call past it would get a real 429 (counted apart
        # from the injected ones).
        self.bench.hubspot_admin(
            "POST",
            "rate-limits",
            {"rate_limit_per_10s": plan.hubspot_requests_per_10s, "search_per_second": 5},
        )
        self.log(
            f"  budget: HubSpot {plan.hubspot_requests_per_10s} calls per 10 s and "
            f"{plan.hubspot_searches_per_second} searches per second, daily allocations "
            f"HubSpot {plan.hubspot_daily_allocation}, Salesforce {plan.salesforce_daily_allocation}"
        )

    # -- the activities ----------------------------------------------------------------------
    def add_waiting_contacts(self) -> None:
        """HubSpot contacts with no Salesforce Contact or Lead yet: what is logged on them waits."""
        count = max(2, self.bench.plan.contacts // 4)
        for index in range(count):
            email = f"waiting{index}@chaos.example"
            created = self.bench.hubspot_admin(
                "POST",
                "objects/contacts",
                {"properties": {"email": email, "firstname": f"Waiting{index}", "lastname": "Chaos"}},
            )
            self.waiting_contacts.append((email, str(created["id"])))

    def _sales_email(self) -> None:
        """A rep's sales email, to a contact that syncs or (every other one) to one that does not
        yet, opened and clicked at once in one of the ``SALES_EMAIL_TRACKING`` ways."""
        bench = self.bench
        with self._sales_lock:
            turn = self._sales_made
            self._sales_made += 1
            to_waiting = turn % 2 == 1 and bool(self.waiting_contacts)
            if to_waiting:
                self._to_waiting += 1
                contact = self.waiting_contacts[(turn // 2) % len(self.waiting_contacts)][1]
        if not to_waiting:
            contact = bench.next_contact()[1]
        now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        email_id = str(bench.engagement("sales_email", contact, turn, now)["id"])
        events = {"sent"}
        for kind in SALES_EMAIL_TRACKING[turn % len(SALES_EMAIL_TRACKING)]:
            bench.hubspot_admin("POST", "sales-email-events", {"emailId": email_id, "type": kind})
            events.add(kind.lower())
        with self._sales_lock:
            self.sales_events[email_id] = events

    def wake_half_the_waiting_contacts(self) -> None:
        """A rep creates the Salesforce Contact of every other waiting contact: the poller sees it,
        the contact linker links it and wakes the emails that waited for it."""
        for email, hubspot_id in self.waiting_contacts[::2]:
            self.bench.salesforce_admin(
                "POST",
                "sobjects/Contact",
                {
                    "as_user": self.bench.users[sorted(self.bench.users)[0]],
                    "fields": {"LastName": "Chaos", "Email": email},
                },
            )
            self.woken_contacts.append(hubspot_id)
        self.log(f"  {len(self.woken_contacts)} of {len(self.waiting_contacts)} waiting contacts now sync")

    def sales_email_figures(self) -> dict[str, int]:
        return {
            "emails": len(self.sales_events),
            "events": sum(len(events) for events in self.sales_events.values()),
            "emails_with_several_events": sum(1 for events in self.sales_events.values() if len(events) > 1),
            "to_contacts_not_syncing": self._to_waiting,
            "contacts_not_syncing": len(self.waiting_contacts),
            "contacts_woken": len(self.woken_contacts),
        }

    def make_activities(self) -> None:
        bench = self.bench
        plan = bench.plan
        hubspot_live = spread(plan.hubspot_live, HUBSPOT_TYPES)
        hubspot_missed = spread(plan.hubspot_missed, WEBHOOK_TYPES)
        salesforce_live = spread(plan.salesforce_live, SALESFORCE_TYPES)
        salesforce_missed = spread(plan.salesforce_missed, SALESFORCE_TYPES)
        with self.notifications_paused():
            self._make(hubspot_missed, salesforce_missed)
        self.deliver_twice(True)  # taking an Outbound Message's action away turned it off
        self._make(hubspot_live, salesforce_live)
        self.hubspot_made = hubspot_live + hubspot_missed

    def _make(self, hubspot: Counter[str], salesforce: Counter[str]) -> None:
        bench = self.bench
        jobs: list[Callable[[], Any]] = [
            self._sales_email if t == "sales_email" else functools.partial(bench.hubspot_activity, t)
            for t, count in hubspot.items()
            for _ in range(count)
        ]
        jobs += [
            functools.partial(self._salesforce_activity, t)
            for t, count in salesforce.items()
            for _ in range(count)
        ]
        bench.in_parallel(jobs)

    def _salesforce_activity(self, activity_type: str) -> None:
        from activity_sync.rules.salesforce_ids import normalize_salesforce_id

        made = self.bench.salesforce_activity(activity_type)
        self.salesforce_made[activity_type].add(normalize_salesforce_id(made))

    @contextlib.contextmanager
    def notifications_paused(self) -> Iterator[None]:
        """Both vendors' notifications off (nothing is pending: the set-up drained): what is made
        meanwhile only the poller can find."""
        bench = self.bench
        with bench.hubspot_webhooks_paused():
            bench.salesforce_admin("DELETE", "outbound-messages")
            try:
                yield
            finally:
                configure_outbound_messages(salesforce_app(self.world), self.world.stack.api_url)

    # -- the priorities ------------------------------------------------------------------------
    def squeeze(self) -> dict[str, Any]:
        """Bring the Salesforce allocation down to just past what is used, so that marketing
        activities (allowed 80 % of it) may not call while sales activities (allowed all of it)
        still may; make a few of each; see the sales ones sync and the marketing ones wait
        (``waiting: api_budget``); then give the budget back: the marketing ones sync by themselves
        in the drain that follows."""
        from activity_sync.rules.priority import LOW_PRIORITY_SHARE

        budget = self.world.service.budgets["salesforce"]
        settings = self.world.service.settings
        before = budget.usage(hours=24)
        used = int(before["used"])
        squeezed = int(used / LOW_PRIORITY_SHARE)
        settings.set_allocation("salesforce_daily_allocation", squeezed)
        time.sleep(SETTINGS_CACHE_SECONDS + 0.5)
        since = dt.datetime.now(dt.UTC)
        deferred_before = sum(self.deferred_for_budget().values())
        each = max(3, self.plan.n // 200)
        made = Counter(dict.fromkeys((*SQUEEZE_SALES_TYPES, *SQUEEZE_MARKETING_TYPES), each))
        self.log(
            f"  Salesforce allocation squeezed to {squeezed} ({used} used): {each} each of {', '.join(made)}"
        )
        self._make(made, Counter())
        self.hubspot_made += made
        sales = each * len(SQUEEZE_SALES_TYPES)
        deadline = time.monotonic() + SQUEEZE_WAIT_SECONDS
        while True:
            synced = self._synced_since(since)
            sales_synced = sum(synced[t] for t in SQUEEZE_SALES_TYPES)
            deferred = sum(self.deferred_for_budget().values()) - deferred_before
            if (sales_synced >= sales and deferred > 0) or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        marketing_synced = sum(synced[t] for t in SQUEEZE_MARKETING_TYPES)
        after = budget.usage(hours=24)
        used_then = int(after["used"])
        settings.set_allocation("salesforce_daily_allocation", self.plan.salesforce_daily_allocation)
        # What marketing types reserved while squeezed (a function may still spend the few calls
        # it reserved before, when they were within its share: those are counted already).
        marketing_keys = {
            f"{H2S}_{t}" for t in ("marketing_email", "form_submission", *SQUEEZE_MARKETING_TYPES)
        }
        marketing_reserved = sum(
            n - before["by_type"].get(key, 0) for key, n in after["by_type"].items() if key in marketing_keys
        )
        held = sales_synced >= sales and marketing_reserved == 0 and deferred > 0
        self.log(
            f"  while squeezed: {sales_synced} of {sales} sales activities synced, {marketing_synced} "
            f"marketing ones, {deferred} deferrals for the budget; allocation given back"
        )
        self.squeeze_figures = {
            "salesforce_used_before": used,
            "salesforce_allocation": squeezed,
            "salesforce_used_after": used_then,
            "sales_made": sales,
            "sales_synced_while_squeezed": sales_synced,
            "marketing_made": each * len(SQUEEZE_MARKETING_TYPES),
            "marketing_synced_while_squeezed": marketing_synced,
            "marketing_calls_reserved_while_squeezed": marketing_reserved,
            "deferrals_for_budget": deferred,
            "priorities_held": held,
        }
        return self.squeeze_figures

    def _synced_since(self, since: dt.datetime) -> Counter[str]:
        """HubSpot activity type -> Tasks made since ``since``."""
        return Counter({kind: sum(twins.values()) for kind, twins in self._tasks_by_type(since).items()})

    # -- draining ------------------------------------------------------------------------------
    def drain(self) -> bool:
        """Deliver, drain and poll until every activity is accounted for (True), or until
        ``STALLED_ROUNDS`` polls in a row change nothing or the time is up (False)."""
        deadline = time.monotonic() + self.plan.drain_timeout_seconds
        previous: tuple[int, int] | None = None
        rounds = stalled = 0
        while time.monotonic() < deadline:
            try:
                self.bench.quiesce(timeout=max(1.0, deadline - time.monotonic()))
                self.poll()
                self.bench.quiesce(timeout=max(1.0, deadline - time.monotonic()))
            except TimeoutError as still_busy:
                self.log(f"  {still_busy}")
                return False
            rounds += 1
            total = totals(self.accounts())
            self.log(
                f"  round {rounds}: {total.synced} synced, {total.waiting} waiting, "
                f"{total.dead_lettered} dead-lettered, {total.lost} not yet accounted for"
            )
            if total.lost == 0:
                return True
            state = (total.synced, total.dead_lettered + total.waiting)
            stalled = stalled + 1 if state == previous else 0
            if stalled >= STALLED_ROUNDS:
                return False
            previous = state
            time.sleep(POLL_INTERVAL_SECONDS)
        return False

    def poll(self) -> None:
        for result in self.world.stack.trigger_schedule("Poller"):
            if not result.ok:
                self.log(f"  the poller failed: {result.error_type}: {result.error_message}")

    # -- accounts ------------------------------------------------------------------------------
    def accounts(self) -> dict[str, TypeOutcome]:
        waiting = self._waiting_ids()
        dead = {key: {item.record_id for item in items} for key, items in self._dead_items().items()}
        outcomes: dict[str, TypeOutcome] = {}
        tasks = self._tasks_by_type(self.started_at)
        for activity_type in HUBSPOT_TYPES:
            key = f"{H2S}#{activity_type}"
            if activity_type == "sales_email":
                outcomes[key] = account_type(
                    created=0,
                    created_ids={f"{e}:{i}" for i, events in self.sales_events.items() for e in events},
                    twins=tasks.get(activity_type, Counter()),
                    waiting=self._sales_events_of(waiting.get(key, set())),
                    dead_lettered=self._sales_events_of(dead.get(key, set())),
                )
                continue
            outcomes[key] = account_type(
                created=self.hubspot_made[activity_type],
                created_ids=None,
                twins=tasks.get(activity_type, Counter()),
                waiting=waiting.get(key, set()),
                dead_lettered=dead.get(key, set()),
            )
        copies = self._hubspot_copies()
        for activity_type in SALESFORCE_TYPES:
            key = f"{S2H}#{activity_type}"
            made = self.salesforce_made[activity_type]
            outcomes[key] = account_type(
                created=len(made),
                created_ids=made,
                twins=Counter({source: n for source, n in copies.items() if source in made}),
                waiting=waiting.get(key, set()),
                dead_lettered=dead.get(key, set()),
            )
        made_anywhere = set().union(*self.salesforce_made.values())
        strays = sum(n for source, n in copies.items() if source not in made_anywhere)
        if strays:
            # HubSpot copies of Salesforce records the suite never made (the service's own Tasks
            # coming back as new activities, say): duplicates.
            outcomes[f"{S2H}#task"].duplicated += strays
        return outcomes

    def _sales_events_of(self, email_ids: set[str]) -> set[str]:
        """A sales email waits (or is dead-lettered) as one record: all of its events with it."""
        return {f"{e}:{i}" for i in email_ids for e in self.sales_events.get(i, ())}

    def _tasks_by_type(self, since: dt.datetime) -> dict[str, Counter[str]]:
        """HubSpot activity type -> source id (a sales email's: ``event:id``) -> Tasks made since
        ``since``."""
        app = salesforce_app(self.world)
        found: dict[str, Counter[str]] = {}
        with app.lock:
            for record in app.store.live("Task"):
                identity = record.values.get("HubSpot_Activity_Id__c")
                created = record.values.get("CreatedDate")
                if not identity or not isinstance(created, dt.datetime) or created < since:
                    continue
                parts = str(identity).split(":")
                source = f"{parts[2]}:{parts[-1]}" if parts[1] == "sales_email" else parts[-1]
                found.setdefault(parts[1], Counter())[source] += 1
        return found

    def _hubspot_copies(self) -> Counter[str]:
        """Salesforce id -> HubSpot activities made for it since the suite began."""
        from activity_sync.rules.salesforce_ids import normalize_salesforce_id

        copies: Counter[str] = Counter()
        since = self.started_at.isoformat()
        for object_type in HUBSPOT_COPIES:
            for record in self.bench.hubspot_admin("GET", f"objects/{object_type}")["results"]:
                source = str(record["properties"].get(SALESFORCE_ID_PROPERTY) or "")
                created = str(record.get("createdAt") or "")
                if source and _instant(created) >= _instant(since):
                    copies[normalize_salesforce_id(source)] += 1
        return copies

    def _waiting_items(self) -> list[Any]:
        from activity_sync.adapters.dynamodb import SyncStateItem

        return list(SyncStateItem.scan(SyncStateItem.pk.startswith("waiting#")))

    def _waiting_ids(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for item in self._waiting_items():
            sync_key, _, activity_id = item.sk.rpartition("#")
            found.setdefault(sync_key, set()).add(_normalized(sync_key, activity_id))
        return found

    def _dead_items(self) -> dict[str, list[DeadLetterEntry]]:
        from activity_sync.domain import ALL_SYNC_TYPES

        state = self.world.service.state
        return {t.key: list(state.dead_letters(t.key)) for t in ALL_SYNC_TYPES}

    def waiting_by_reason(self) -> dict[str, dict[str, int]]:
        reasons: dict[str, Counter[str]] = {}
        seen: set[str] = set()
        for item in self._waiting_items():
            if item.sk in seen:  # parked under each of its contacts: counted once
                continue
            seen.add(item.sk)
            sync_key = item.sk.rpartition("#")[0]
            reasons.setdefault(sync_key, Counter())[item.reason or "unknown"] += 1
        return {key: dict(counts) for key, counts in sorted(reasons.items())}

    def dead_letters_for_storage(self) -> int:
        """Dead letters whose reason is a write DynamoDB refused (issue #20): each one a failure."""
        return sum(
            1
            for items in self._dead_items().values()
            for item in items
            if any(mark in (item.reason or "") for mark in STORAGE_REFUSAL_MARKS)
        )

    def dead_letters_by_reason(self) -> tuple[dict[str, dict[str, int]], int]:
        reasons: dict[str, dict[str, int]] = {}
        without = 0
        for key, items in self._dead_items().items():
            counts: Counter[str] = Counter()
            for item in items:
                if not (item.reason or "").strip():
                    without += 1
                counts[(item.reason or "(none)")[:120]] += 1
            if counts:
                reasons[key] = dict(counts)
        return reasons, without

    def deferred_for_budget(self) -> dict[str, int]:
        """Per type, the deferrals for the API budget in the outcome figures (an activity deferred
        twice counts twice): where the priorities engaged."""
        from activity_sync.domain import ALL_SYNC_TYPES

        state = self.world.service.state
        deferred: dict[str, int] = {}
        for sync_type in ALL_SYNC_TYPES:
            figures = state.outcome_figures(sync_type, self.started_at.date())
            count = sum(n for label, n in figures.items() if label == "waiting:api_budget")
            if count:
                deferred[sync_type.key] = count
        return deferred

    def vendor_calls(self) -> tuple[dict[str, dict[str, Any]], list[BudgetCheck], dict[str, dict[str, int]]]:
        """Per vendor, the calls the service made (from the vendor's request log), the limits
        they were held to, and the faults injected."""
        hubspot = self._requests(self.bench.hubspot_admin)
        salesforce = [
            entry
            for entry in self._requests(self.bench.salesforce_admin)
            if entry["path"].startswith("/services/data/")
        ]
        hubspot_calls = [e for e in hubspot if "/search" not in e["path"]]
        hubspot_searches = [e for e in hubspot if "/search" in e["path"]]
        plan = self.plan
        real_429s = sum(1 for e in hubspot if e["status"] == 429 and not e.get("fault"))
        budget = [
            BudgetCheck(
                "HubSpot",
                "calls in any 10 s",
                plan.hubspot_requests_per_10s,
                busiest_window((_instant(e["at"]) for e in hubspot_calls), 10_000),
            ),
            BudgetCheck(
                "HubSpot",
                "searches in any second",
                plan.hubspot_searches_per_second,
                busiest_window((_instant(e["at"]) for e in hubspot_searches), 1_000),
            ),
            BudgetCheck("HubSpot", "rate-limit answers of its own (not injected)", 0, real_429s),
            BudgetCheck("HubSpot", "daily allocation", plan.hubspot_daily_allocation, len(hubspot)),
            BudgetCheck("Salesforce", "daily allocation", plan.salesforce_daily_allocation, len(salesforce)),
        ]
        if self.squeeze_figures:
            budget.append(
                BudgetCheck(
                    "Salesforce",
                    "daily allocation, squeezed",
                    self.squeeze_figures["salesforce_allocation"],
                    self.squeeze_figures["salesforce_used_after"],
                )
            )
        usage = {vendor: budget.usage(hours=24) for vendor, budget in self.world.service.budgets.items()}
        calls = {
            "hubspot": {
                "calls": len(hubspot),
                "searches": len(hubspot_searches),
                "failed_by_fault": sum(1 for e in hubspot if e.get("fault") and e["fault"] != "slow"),
                "budget_counted": usage.get("hubspot", {}).get("used"),
            },
            "salesforce": {
                "calls": len(salesforce),
                "failed_by_fault": sum(1 for e in salesforce if e.get("fault") and e["fault"] != "slow"),
                "budget_counted": usage.get("salesforce", {}).get("used"),
            },
        }
        faults = {
            "hubspot": dict(Counter(e["fault"] for e in hubspot if e.get("fault"))),
            "salesforce": dict(Counter(e["fault"] for e in salesforce if e.get("fault"))),
        }
        return calls, budget, faults

    @staticmethod
    def _requests(admin: Callable[[str, str], Any]) -> list[dict[str, Any]]:
        """Every API request the vendor logged since the stack started, but the suite's own (a
        site visitor's form posts) and the OAuth flow's token requests (no API call)."""
        return [
            entry
            for entry in admin("GET", "requests")["requests"]
            if not any(part in entry["path"] for part in EXCLUDED_ROUTE_PARTS)
        ]

    def duplicate_deliveries(self) -> dict[str, int]:
        bench = self.bench
        return {
            "hubspot_webhooks": int(bench.hubspot_admin("GET", "webhooks")["duplicates_sent"]),
            "hubspot_workflow_webhooks": int(
                bench.hubspot_admin("GET", "workflow-webhooks")["duplicates_sent"]
            ),
            "salesforce_outbound_messages": int(
                bench.salesforce_admin("GET", "outbound-messages/settings")["duplicates_sent"]
            ),
        }


def _normalized(sync_key: str, source_id: str) -> str:
    if sync_key.startswith(S2H):
        from activity_sync.rules.salesforce_ids import normalize_salesforce_id

        try:
            return normalize_salesforce_id(source_id)
        except ValueError:
            return source_id
    return source_id


def _instant(text: str) -> int:
    """Epoch milliseconds of an ISO-8601 instant (the sandboxes' log and records)."""
    if not text:
        return 0
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def run_chaos(
    plan: ChaosPlan, *, log: Callable[[str], None] = print, state_dir: Path | None = None
) -> ChaosResult:
    started = time.monotonic()
    with Rehearsal.start(
        hubspot_seed=HUBSPOT_SEED,
        salesforce_seed=SALESFORCE_SEED,
        state_dir=state_dir,
        settings_cache_seconds=SETTINGS_CACHE_SECONDS,
        function_env={"ACTIVITY_SYNC_BUDGET_HOLD_SECONDS": str(BUDGET_HOLD_SECONDS)},
    ) as world:
        chaos = Chaos(world, plan, log)
        # The budget from the start: the functions keep the settings for seconds (a change made
        # later would meet copies of the defaults).
        chaos.budget_small()
        log(f"set-up: {chaos.bench.plan.contacts} contacts on both sides, every switch on, warm-up")
        chaos.bench.set_up()
        chaos.add_waiting_contacts()
        set_up_seconds = time.monotonic() - started
        # The activities are counted from here; the vendors' calls from the start (the budget
        # governed the set-up too, and a daily allocation counts every call of the day).
        chaos.started_at = dt.datetime.now(dt.UTC)
        log("faults on:")
        chaos.faults_on()
        making = time.monotonic()
        with WorkerKiller(world, plan.kills, log) as killer:
            log(f"making {plan.n} activities over every type, both ways")
            chaos.make_activities()
            chaos.wake_half_the_waiting_contacts()
            made = time.monotonic()
            log(f"  made in {made - making:.0f} s; draining")
            drained = chaos.drain()
        drain_seconds = time.monotonic() - made
        log("priorities: the budget squeezed")
        squeezing = time.monotonic()
        squeeze = chaos.squeeze()
        drained = chaos.drain() and drained
        squeeze_seconds = time.monotonic() - squeezing
        outcomes = chaos.accounts()
        calls, budget, faults = chaos.vendor_calls()
        dead_by_reason, without_reason = chaos.dead_letters_by_reason()
        usage = chaos.world.stack.aws_usage()
        result = ChaosResult(
            plan=plan,
            outcomes=outcomes,
            waiting_by_reason=chaos.waiting_by_reason(),
            dead_letters_by_reason=dead_by_reason,
            dead_letters_without_reason=without_reason,
            deferred_for_budget=chaos.deferred_for_budget(),
            budget=budget,
            vendor_calls=calls,
            faults_injected=faults,
            duplicate_deliveries=chaos.duplicate_deliveries(),
            kills=killer.killed,
            seconds={
                "set_up": round(set_up_seconds, 1),
                "making": round(made - making, 1),
                "draining": round(drain_seconds, 1),
                "squeeze": round(squeeze_seconds, 1),
                "total": round(time.monotonic() - started, 1),
            },
            drained=drained,
            squeeze=squeeze,
            sales_emails=chaos.sales_email_figures(),
            dead_letters_for_storage=chaos.dead_letters_for_storage(),
            refused_aws_requests=usage["refused"],
            refused_aws_request_count=usage["refused_count"],
        )
        chaos.faults_off()
        return result
