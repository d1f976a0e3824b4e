"""``activity-sync preview TYPE [--since DATE]``: before a switch is turned on, how many activities
would sync, wait or be skipped (by reason), and what syncing them would cost in API calls on each
side. Read-only: it reads both vendors through the product's adapters and decides with the
product's rules (R4-R6, R10-R12, R14), writing nothing.

Without --since it answers "what if I switch it on now": R5's look-back windows (30 days of
marketing emails, a year of form submissions) and nothing older for the forward-only types.
With --since DATE it answers "what if it had been on since DATE": the volume to expect per period.
Activities up to 30 days before the window are read too, to count what it leaves out.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from activity_sync_tools.operate.output import console, print_json, table
from activity_sync_tools.operate.people import people
from activity_sync_tools.operate.target import Stack, add_target, queue_key

if TYPE_CHECKING:
    from activity_sync.domain import HubSpotActivity, HubSpotActivityType, SyncType, TypeSettings
    from activity_sync_tools.cli import Subcommands

# The product's batch sizes, for the estimate: a syncer batch (template.yaml's SyncerBatchSize
# default) becomes one vendor batch call; HubSpot reads 100 records a call; the poller reads a
# HubSpot search page of 200 and a SOQL page of 2,000.
SYNCER_BATCH = 50
HUBSPOT_BATCH = 100
SEARCH_PAGE = 200
SOQL_PAGE = 2000
FEED_PAGE = 1000


@dataclass
class Forecast:
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (outcome, reason) -> n
    read: int = 0  # records read to decide
    contacts: int = 0  # distinct contacts of what would sync
    hubspot_calls: int = 0  # what syncing would cost
    salesforce_calls: int = 0
    note: str | None = None

    def add(self, outcome: str, reason: str) -> None:
        self.outcomes[(outcome, reason)] += 1


def register(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "preview",
        help="before switching a type on: what would sync, wait or be skipped (read only)",
        description=__doc__,
    )
    parser.add_argument("type", metavar="TYPE", help="e.g. hubspot_to_salesforce#form_submission, call")
    add_target(parser)
    parser.add_argument(
        "--since", type=dt.date.fromisoformat, help="as if the switch had been on since (YYYY-MM-DD)"
    )
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    from activity_sync.domain import Direction, HubSpotActivityType, SyncType, TypeSettings

    key = queue_key(arguments.type)
    if "#" not in key:
        raise SystemExit("error: preview takes an activity type")
    sync_type = SyncType.parse(key)
    now = dt.datetime.now(dt.UTC)
    enabled_at = dt.datetime.combine(arguments.since, dt.time(), tzinfo=dt.UTC) if arguments.since else now
    settings = TypeSettings(enabled=True, enabled_at=enabled_at)
    stack = Stack(arguments)
    spent_before = _calls_made(stack)
    if sync_type.direction is Direction.HUBSPOT_TO_SALESFORCE:
        forecast = _hubspot_forecast(stack, HubSpotActivityType(sync_type.type), settings, now)
    else:
        forecast = _salesforce_forecast(stack, sync_type, settings, now)
    spent = {side: n - spent_before[side] for side, n in _calls_made(stack).items()}
    report = {
        "type": sync_type.key,
        "switched_on_at": enabled_at.isoformat(),
        "outcomes": [
            {"outcome": o, "reason": r, "count": n} for (o, r), n in sorted(forecast.outcomes.items())
        ],
        "records_read": forecast.read,
        "estimated_api_calls": {"hubspot": forecast.hubspot_calls, "salesforce": forecast.salesforce_calls},
        "this_preview_spent": spent,
        "note": forecast.note,
    }
    if arguments.json:
        print_json(report)
        return 0
    out = console()
    when = f"had been on since {arguments.since}" if arguments.since else "were switched on now"
    out.print(f"if {sync_type.key} {when} ({enabled_at.isoformat(timespec='seconds')}):")
    if forecast.note:
        out.print(forecast.note)
    rows = [(o, r, n) for (o, r), n in sorted(forecast.outcomes.items())]
    out.print(table(None, ["outcome", "reason", "#activities"], rows))
    calls = [
        ("HubSpot", forecast.hubspot_calls, spent["hubspot"]),
        ("Salesforce", forecast.salesforce_calls, spent["salesforce"]),
    ]
    out.print(table("API calls", ["vendor", "#to sync them (estimate)", "#this preview spent"], calls))
    return 0


def _calls_made(stack: Stack) -> dict[str, int]:
    """Calls this process's clients have made so far (the product's clients count them)."""
    return {
        "hubspot": sum(stack.service.hubspot().calls.values()),
        "salesforce": sum(stack.service.salesforce().calls.values()),
    }


# ------------------------------------------------------------------------------- HubSpot -> Salesforce
def _hubspot_forecast(
    stack: Stack, activity_type: HubSpotActivityType, settings: TypeSettings, now: dt.datetime
) -> Forecast:
    from activity_sync.domain import HubSpotActivityType
    from activity_sync.rules.hubspot_records import ENGAGEMENTS
    from activity_sync.rules.windows import window_start
    from activity_sync.usecases.poll import LOOK_BEFORE_WINDOW

    assert settings.enabled_at is not None  # nosec B101  # narrows a type: preview sets it
    look_from = window_start(activity_type, settings.enabled_at) - LOOK_BEFORE_WINDOW
    forecast = Forecast()
    hubspot = stack.service.hubspot()
    if activity_type in ENGAGEMENTS:
        activities = list(_engagements(stack, activity_type, look_from, now, forecast))
        polls = math.ceil(forecast.read / SEARCH_PAGE)
        per_batch = 3  # the activities, their associations, their contacts
    elif activity_type is HubSpotActivityType.MARKETING_EMAIL:
        activities = list(_marketing_events(stack, look_from, now, forecast))
        polls = math.ceil(forecast.read / FEED_PAGE) + math.ceil(forecast.read / HUBSPOT_BATCH)
        per_batch = 1  # the contacts
    elif activity_type is HubSpotActivityType.FORM_SUBMISSION:
        forms = hubspot.forms()
        activities = list(_form_submissions(stack, forms, look_from, now, forecast))
        polls = 1 + len(forms) + math.ceil(forecast.read / HUBSPOT_BATCH)
        per_batch = 1
    else:
        forecast.note = (
            f"{activity_type.value} activities reach the service only through the activity route "
            "(a workflow's webhook): there is nothing to read before they arrive"
        )
        return forecast
    _decide(stack, activities, settings, forecast)
    synced = (
        forecast.outcomes[("sync", "its contact syncs")]
        + forecast.outcomes[("sync", "after the contact linker links its contact by email")]
    )
    batches = math.ceil(synced / SYNCER_BATCH)
    forecast.hubspot_calls = polls + batches * per_batch
    forecast.salesforce_calls = batches  # one sObject Collections upsert per batch
    return forecast


def _engagements(
    stack: Stack,
    activity_type: HubSpotActivityType,
    since: dt.datetime,
    until: dt.datetime,
    forecast: Forecast,
) -> Iterator[HubSpotActivity]:
    from activity_sync.rules.hubspot_records import ENGAGEMENTS, engagement_activities

    hubspot = stack.service.hubspot()
    spec = ENGAGEMENTS[activity_type]
    records = list(hubspot.search_modified(spec.object_type, since, until, spec.properties))
    forecast.read = len(records)
    contacts = (
        hubspot.associated_ids(spec.object_type, "contacts", [r.id for r in records]) if records else {}
    )
    for record in records:
        yield from engagement_activities(activity_type, record, contacts.get(record.id, []))


def _contacts_by_email(stack: Stack, emails: Iterable[str]) -> dict[str, str]:
    from activity_sync.rules.owner_mapping import normalize_email

    wanted = sorted({e for e in (normalize_email(x) for x in emails) if e})
    found = stack.service.hubspot().find_contacts_by_email(wanted, ["email"]) if wanted else {}
    return {email: record.id for email, record in found.items()}


def _marketing_events(
    stack: Stack, since: dt.datetime, until: dt.datetime, forecast: Forecast
) -> Iterator[HubSpotActivity]:
    from activity_sync.domain import HubSpotActivity, HubSpotActivityType
    from activity_sync.rules.hubspot_records import parse_hubspot_time
    from activity_sync.rules.owner_mapping import normalize_email
    from activity_sync.usecases.poll import MARKETING_EVENT_KINDS

    events = [
        event
        for page in stack.service.hubspot().email_event_pages(since, until)
        for event in page.events
        if str(event.get("type")) in MARKETING_EVENT_KINDS
    ]
    forecast.read = len(events)
    contacts = _contacts_by_email(stack, (str(e.get("recipient", "")) for e in events))
    for event in events:
        contact = contacts.get(normalize_email(str(event.get("recipient", ""))) or "")
        occurred_at = parse_hubspot_time(event.get("created"))
        if occurred_at is not None:
            yield HubSpotActivity(
                HubSpotActivityType.MARKETING_EMAIL,
                str(event["id"]),
                occurred_at,
                contact_ids=(contact,) if contact else (),
                email_event=MARKETING_EVENT_KINDS[str(event.get("type"))],
            )


def _form_submissions(
    stack: Stack, forms: list[dict[str, Any]], since: dt.datetime, until: dt.datetime, forecast: Forecast
) -> Iterator[HubSpotActivity]:
    from activity_sync.domain import HubSpotActivity, HubSpotActivityType
    from activity_sync.rules.hubspot_records import parse_hubspot_time
    from activity_sync.rules.owner_mapping import normalize_email

    submissions = [
        (form, submission)
        for form in forms
        for submission in stack.service.hubspot().form_submissions(str(form["id"]), since)
    ]
    forecast.read = len(submissions)

    def email_of(submission: dict[str, Any]) -> str:
        return str({v.get("name"): v.get("value") for v in submission.get("values", [])}.get("email") or "")

    contacts = _contacts_by_email(stack, (email_of(s) for _, s in submissions))
    for form, submission in submissions:
        occurred_at = parse_hubspot_time(submission.get("submittedAt"))
        if occurred_at is None or occurred_at >= until:
            continue
        contact = contacts.get(normalize_email(email_of(submission)) or "")
        yield HubSpotActivity(
            HubSpotActivityType.FORM_SUBMISSION,
            str(submission.get("conversionId") or f"{form['id']}:{submission.get('submittedAt')}"),
            occurred_at,
            contact_ids=(contact,) if contact else (),
        )


def _decide(
    stack: Stack, activities: list[HubSpotActivity], settings: TypeSettings, forecast: Forecast
) -> None:
    """What the syncer would do with each activity: R14, R5, then R4/R6."""
    from activity_sync.rules.contact_choice import choose_contact
    from activity_sync.rules.echo import carries_salesforce_id
    from activity_sync.rules.windows import check_window

    candidates = people(stack.service, [c for a in activities for c in a.contact_ids])
    for activity in activities:
        if carries_salesforce_id(activity):
            forecast.add("skip", "echo: a copy of a Salesforce record (R14)")
        elif not check_window(activity.type, activity.occurred_at, settings).should_sync:
            forecast.add("skip", "outside_window (R5)")
        elif not activity.contact_ids:
            forecast.add("wait", "no_associated_contact")
        elif choose_contact(candidates[c].candidate for c in activity.contact_ids if c in candidates):
            forecast.add("sync", "its contact syncs")
        elif any(candidates[c].email_match for c in activity.contact_ids if c in candidates):
            forecast.add("sync", "after the contact linker links its contact by email")
        else:
            forecast.add("wait", "contact_not_syncing (R4)")


# ------------------------------------------------------------------------------- Salesforce -> HubSpot
def _salesforce_forecast(
    stack: Stack, sync_type: SyncType, settings: TypeSettings, now: dt.datetime
) -> Forecast:
    from activity_sync.domain import SALESFORCE_EXTERNAL_ID_FIELD, SalesforceActivityType
    from activity_sync.rules.echo import parse_salesforce_datetime
    from activity_sync.rules.salesforce_types import task_subtype_condition
    from activity_sync.rules.windows import should_sync_salesforce_change
    from activity_sync.usecases.poll import LOOK_BEFORE_WINDOW

    assert settings.enabled_at is not None  # nosec B101  # narrows a type: preview sets it
    activity_type = SalesforceActivityType(sync_type.type)
    sobject = "Event" if activity_type is SalesforceActivityType.MEETING else "Task"
    since = (settings.enabled_at - LOOK_BEFORE_WINDOW).strftime("%Y-%m-%dT%H:%M:%SZ")
    subtype = "" if sobject == "Event" else f" AND {task_subtype_condition(activity_type)}"
    fields = f"Id, WhoId, CreatedDate, LastModifiedDate, {SALESFORCE_EXTERNAL_ID_FIELD}"
    # Only constants and a datetime we format are interpolated.
    soql = f"SELECT {fields} FROM {sobject} WHERE LastModifiedDate >= {since}{subtype}"  # noqa: S608  # nosec B608  # as above
    salesforce = stack.service.salesforce()
    rows = list(salesforce.query(soql))
    forecast = Forecast(read=len(rows))
    inside = []
    for row in rows:
        created = parse_salesforce_datetime(row.get("CreatedDate"))
        modified = parse_salesforce_datetime(row.get("LastModifiedDate"))
        if row.get(SALESFORCE_EXTERNAL_ID_FIELD):
            forecast.add("skip", "echo: the service's copy of a HubSpot activity (R14)")
        elif (
            created is None
            or modified is None
            or not should_sync_salesforce_change(created, modified, settings).should_sync
        ):
            forecast.add("skip", "outside_window (R11): an import brings it over")
        elif not row.get("WhoId"):
            forecast.add("skip", "not_on_a_contact_or_lead (R12)")
        else:
            inside.append(row)
    who = [str(row["WhoId"]) for row in inside]
    linked = stack.service.links.by_salesforce_ids(who)
    unlinked = [w for w in who if w not in linked]
    emails: dict[str, str] = {}
    for person_type, prefix in (("Contact", "003"), ("Lead", "00Q")):
        ids = [w for w in unlinked if w.startswith(prefix)]
        for person_id, person in (salesforce.retrieve(person_type, ids, ["Email"]) if ids else {}).items():
            if person.get("Email"):
                emails[person_id] = str(person["Email"]).lower()
    by_email = _contacts_by_email(stack, emails.values())
    for who_id in who:
        if who_id in linked or emails.get(who_id, "") in by_email:
            forecast.add("sync", "its person has a HubSpot contact")
        else:
            forecast.add("dead-letter", "no HubSpot contact for its person (R17): create it, then re-drive")
    synced = forecast.outcomes[("sync", "its person has a HubSpot contact")]
    batches = math.ceil(synced / SYNCER_BATCH)
    forecast.salesforce_calls = (
        math.ceil(forecast.read / SOQL_PAGE) + batches
    )  # poll pages, one retrieve a batch
    forecast.hubspot_calls = batches * 2  # one batch upsert and one association batch
    return forecast
