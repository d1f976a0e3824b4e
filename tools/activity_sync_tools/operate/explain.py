"""``activity-sync explain ID``: the story of one activity - the answer to "why didn't this sync?".

ID is a HubSpot activity id (an engagement's id, an email event's id, a form submission's or a
posted event's id) or a Salesforce Task/Event id. The story comes from the stored state (links,
activities parked waiting, the dead-letter registry) and one batch read of each side through the
product's adapters, decided by the product's own rules: the type and its switch (S1), the window
with the dates it used (R5/R11), the contacts it could go to and why one was chosen (R4/R6), the
owner chain (R7/R13), the link and the twin's id, the history, and the dead-letter reason.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from activity_sync_tools.operate.dead_letters import json_object
from activity_sync_tools.operate.output import console, print_json
from activity_sync_tools.operate.people import Person, people
from activity_sync_tools.operate.target import Stack, add_target

if TYPE_CHECKING:
    from activity_sync.adapters.dynamodb import SyncStateItem
    from activity_sync.domain import HubSpotActivity, HubSpotActivityType, SyncType, TypeSettings
    from activity_sync.ports import StoredLink
    from activity_sync_tools.cli import Subcommands

SALESFORCE_ID = re.compile(r"^(00T|00U)[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?$")  # Task, Event
EMAIL_EVENT_PREFIX = re.compile(r"^(sent|open|click|reply):")


@dataclass
class Story:
    """What ``explain`` prints: a verdict, then sections of facts, then the history."""

    id: str
    verdict: str = "unknown: nothing about this id in the stack's state or in either vendor"
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    history: list[tuple[str, str]] = field(default_factory=list)

    def fact(self, section: str, label: str, value: Any) -> None:
        self.sections.setdefault(section, {})[label] = value

    def happened(self, moment: dt.datetime | str | None, what: str) -> None:
        if moment is not None:
            stamp = moment if isinstance(moment, str) else moment.astimezone(dt.UTC).isoformat()
            self.history.append((stamp, what))


@dataclass
class Stored:
    """What the stack holds about an id: links naming it, parked activities, dead letters."""

    links: list[StoredLink]
    waiting: list[SyncStateItem]
    dead: list[SyncStateItem]
    skipped: list[SyncStateItem]  # posted activities skipped for good (no read API), with their message


def register(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "explain", help="the story of one activity: why it synced or not", description=__doc__
    )
    parser.add_argument("id", metavar="ID", help="a HubSpot activity id or a Salesforce Task/Event id")
    add_target(parser)
    parser.add_argument("--type", help="the HubSpot type, when an id could be several (e.g. note)")
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    stack = Stack(arguments)
    story = Story(arguments.id)
    if SALESFORCE_ID.match(arguments.id):
        explain_salesforce(stack, arguments.id, story)
    else:
        explain_hubspot(stack, arguments.id, arguments.type, story)
    story.history.sort()
    if arguments.json:
        print_json(
            {"id": story.id, "verdict": story.verdict, "sections": story.sections, "history": story.history}
        )
        return 0
    _print(story)
    return 0


# ------------------------------------------------------------------------------------- stored state
def stored(stack: Stack, activity_id: str) -> Stored:
    """Links that name the id on either side (one BatchGetItem), and the parked activities and
    dead letters about it (one Scan of the sync state, filtered on the id)."""
    from activity_sync.adapters.dynamodb import LinkItem, SyncStateItem
    from activity_sync.adapters.dynamodb.links_table import stored_link
    from activity_sync.domain import EMAIL_EVENT_KINDS_BY_TYPE, HubSpotActivityType
    from activity_sync.ports import hubspot_key, salesforce_key
    from activity_sync.rules.hubspot_records import ENGAGEMENTS
    from activity_sync.rules.task_mapping import HubSpotActivityKey

    keys = [salesforce_key(activity_id)]
    for activity_type in HubSpotActivityType:
        for kind in EMAIL_EVENT_KINDS_BY_TYPE.get(activity_type, (None,)):
            keys.append(
                hubspot_key("activity", HubSpotActivityKey(activity_type, activity_id, kind).external_id)
            )
    keys += [hubspot_key(spec.object_type, activity_id) for spec in ENGAGEMENTS.values()]
    links = [stored_link(item) for item in LinkItem.batch_get(keys)]
    waiting: list[SyncStateItem] = []
    dead: list[SyncStateItem] = []
    skipped: list[SyncStateItem] = []
    for item in SyncStateItem.scan(SyncStateItem.sk.contains(activity_id)):
        if item.pk.startswith("waiting#") and item.sk.rpartition("#")[2] == activity_id:
            waiting.append(item)
        elif item.pk.startswith("skipped#") and item.sk == activity_id:
            skipped.append(item)
        elif (
            item.pk.startswith("dead#")
            and EMAIL_EVENT_PREFIX.sub("", item.sk.rpartition("#")[0]) == activity_id
        ):
            dead.append(item)
    return Stored(links, waiting, dead, skipped)


def _dead_letter_facts(story: Stored, out: Story) -> None:
    for item in story.dead:
        out.fact("dead letter", "reason", item.reason)
        out.fact("dead letter", "since", item.updated_at.isoformat() if item.updated_at else None)
        out.fact(
            "dead letter",
            "what to do",
            "fix the cause, then: activity-sync redrive " + item.pk.removeprefix("dead#"),
        )
        out.happened(item.updated_at, f"dead-lettered: {item.reason}")


# ------------------------------------------------------------------------------- HubSpot -> Salesforce
def explain_hubspot(stack: Stack, activity_id: str, type_name: str | None, story: Story) -> None:
    from activity_sync.domain import HubSpotActivityType, SyncType
    from activity_sync.messages import ChangeMessage
    from activity_sync.rules.hubspot_records import ENGAGEMENTS, engagement_activities, payload_activity
    from activity_sync.rules.task_mapping import HubSpotActivityKey

    activity_id = EMAIL_EVENT_PREFIX.sub("", activity_id)
    state = stored(stack, activity_id)
    activity_type = HubSpotActivityType(type_name) if type_name else _type_from_state(state)
    hubspot = stack.service.hubspot()
    record = None
    if activity_type is None or activity_type in ENGAGEMENTS:
        # One read of the type the state names, else of each engagement type until one has the id.
        candidates = [activity_type] if activity_type else list(ENGAGEMENTS)
        for candidate in candidates:
            assert candidate is not None  # nosec B101  # narrows a type
            spec = ENGAGEMENTS[candidate]
            record = hubspot.read_objects(spec.object_type, [activity_id], spec.properties).get(activity_id)
            if record is not None:
                activity_type = candidate
                break
    if activity_type is None:
        _dead_letter_facts(state, story)
        return
    sync_type = SyncType.hubspot_to_salesforce(activity_type)
    settings = stack.service.settings.type_settings(sync_type, fresh=True)
    _switch_facts(story, sync_type, settings)
    activities: list[HubSpotActivity] = []
    if record is not None:
        spec = ENGAGEMENTS[activity_type]
        contacts = hubspot.associated_ids(spec.object_type, "contacts", [activity_id]).get(activity_id, [])
        activities = engagement_activities(activity_type, record, contacts)
        story.fact(
            "activity",
            "in HubSpot",
            f"{spec.object_type} {activity_id}, associated with contacts {contacts or 'none'}",
        )
    else:
        payloads = [item.payload for item in [*state.waiting, *state.skipped]] + [
            json_object(item.value) for item in state.dead
        ]
        for payload in payloads:
            try:
                change = ChangeMessage.from_dict(payload)
                if change.payload:
                    activities = [payload_activity(activity_type, change.payload)]
                    break
            except ValueError:
                continue
        source = "its queued message (this type has no read API)" if activities else None
        story.fact(
            "activity",
            "in HubSpot",
            source
            or (
                "not found: deleted or archived"
                if activity_type in ENGAGEMENTS
                else "known only by its link (no read API)"
            ),
        )
    task_links = {link.hubspot_id: link for link in state.links if link.hubspot_object_type == "activity"}
    if not activities:
        for link in task_links.values():
            story.fact("link", "Salesforce Task", link.salesforce_id)
            story.happened(link.updated_at, f"synced to Task {link.salesforce_id}")
        gone = (
            "the activity itself is gone from HubSpot"
            if activity_type in ENGAGEMENTS
            else "this type has no read API: the story is its link's"
        )
        story.verdict = f"synced ({gone})" if task_links else "not found"
        _dead_letter_facts(state, story)
        if state.dead and not task_links:
            story.verdict = f"dead-lettered: {state.dead[0].reason}"
        return
    activity = activities[0]
    key = HubSpotActivityKey.of(activity).external_id
    story.fact("activity", "identity", key)
    story.fact("activity", "occurred at", activity.occurred_at.isoformat())
    if len(activities) > 1:
        story.fact(
            "activity", "also", ", ".join(HubSpotActivityKey.of(a).external_id for a in activities[1:])
        )
    story.happened(activity.occurred_at, f"happened in HubSpot ({activity_type.value})")
    verdict = _hubspot_decision(stack, story, activity, settings, task_links.get(key), state)
    for item in state.skipped:
        when = item.updated_at.isoformat() if item.updated_at else "earlier"
        story.happened(item.updated_at, f"skipped for good: {item.reason}")
        if key not in task_links and not state.dead:
            # What the syncer decided, not what today's settings would: a posted activity is
            # never delivered again, so that decision was final.
            verdict = f"skipped: {item.reason} (decided {when}; this type has no read API: final)"
    _dead_letter_facts(state, story)
    for item in state.waiting:
        story.happened(
            item.updated_at, f"set aside to wait: {item.reason} ({item.pk.removeprefix('waiting#')})"
        )
    story.verdict = verdict


def _type_from_state(state: Stored) -> HubSpotActivityType | None:
    from activity_sync.domain import Direction, HubSpotActivityType, SyncType
    from activity_sync.rules.hubspot_records import OBJECT_TYPE_OF
    from activity_sync.rules.task_mapping import HubSpotActivityKey

    for link in state.links:
        if link.hubspot_object_type == "activity":
            return HubSpotActivityKey.parse(link.hubspot_id).type
        if link.hubspot_object_type in OBJECT_TYPE_OF:
            return OBJECT_TYPE_OF[link.hubspot_object_type]
    for item in [*state.waiting, *state.dead, *state.skipped]:
        if item.pk.startswith("waiting#"):
            key = item.sk.rpartition("#")[0]
        else:
            key = item.pk.removeprefix("dead#").removeprefix("skipped#")
        sync_type = SyncType.parse(key)
        if sync_type.direction is Direction.HUBSPOT_TO_SALESFORCE:
            return HubSpotActivityType(sync_type.type)
    return None


def _switch_facts(story: Story, sync_type: SyncType, settings: TypeSettings) -> None:
    from activity_sync.rules.switches import is_on

    story.fact("type and switch", "type", sync_type.key)
    if is_on(settings) and settings.enabled_at:
        story.fact("type and switch", "switch", f"on since {settings.enabled_at.isoformat()}")
        story.happened(settings.enabled_at, "switch turned on")
    else:
        story.fact("type and switch", "switch", "off: nothing of this type syncs (S1)")


def _hubspot_decision(
    stack: Stack,
    story: Story,
    activity: HubSpotActivity,
    settings: TypeSettings,
    link: StoredLink | None,
    state: Stored,
) -> str:
    """The window, echo, contact and owner decisions for one activity; returns the verdict."""
    from activity_sync.rules.assignment import TYPES_WITH_OWNERS, assign_task_owner
    from activity_sync.rules.contact_choice import choose_contact
    from activity_sync.rules.echo import carries_salesforce_id
    from activity_sync.rules.switches import is_on
    from activity_sync.rules.windows import check_window, window_start
    from activity_sync.usecases.directories import OwnerDirectory

    decision = check_window(activity.type, activity.occurred_at, settings)
    if is_on(settings) and settings.enabled_at:
        story.fact("window (R5)", "opens", window_start(activity.type, settings.enabled_at).isoformat())
    story.fact("window (R5)", "occurred at", activity.occurred_at.isoformat())
    inside = decision.should_sync or link is not None
    story.fact(
        "window (R5)",
        "decision",
        "inside: it may sync"
        if decision.should_sync
        else (f"{decision.reason}" + (" (already synced: its Task is kept up to date)" if link else "")),
    )
    copied_from = (
        activity.properties.get("activity_sync_salesforce_id") if carries_salesforce_id(activity) else None
    )
    if copied_from:
        story.fact(
            "echo (R14)",
            "copy of",
            f"Salesforce record {copied_from}: the service wrote it, it is never copied back",
        )
    candidates = people(stack.service, activity.contact_ids)
    kept = str((link.details or {}).get("contact_id") or "") if link else ""
    chosen = (
        candidates[kept].candidate
        if kept in candidates and candidates[kept].candidate.salesforce_person_id
        else None
    )
    chosen = chosen or choose_contact(p.candidate for p in candidates.values())
    for contact_id in activity.contact_ids:
        person = candidates.get(contact_id)
        story.fact(
            "contacts (R4, R6)",
            contact_id,
            _contact_line(person, chosen is not None and chosen.hubspot_id == contact_id),
        )
    if not activity.contact_ids:
        story.fact("contacts (R4, R6)", "none", "the activity has no associated contact: it waits for one")
    if kept:
        story.fact(
            "contacts (R4, R6)", "rule", f"its Task was created on contact {kept}; a Task never moves (R6)"
        )
    else:
        story.fact(
            "contacts (R4, R6)",
            "rule",
            "the most recently created contact that syncs; on the same date, the highest id",
        )
    if chosen is not None and chosen.salesforce_person_id:
        owner_map = OwnerDirectory(
            stack.service.hubspot, stack.service.salesforce, stack.service.settings
        ).current()
        integration = stack.service.settings.integration_user_id() or stack.service.salesforce().user_id
        assignment = assign_task_owner(activity, chosen, owner_map, integration)
        if activity.type in TYPES_WITH_OWNERS:
            mapped = owner_map.salesforce_user_for(activity.owner_id)
            story.fact(
                "owner (R7)",
                "1. activity owner",
                f"{activity.owner_id or 'none'} -> {mapped or 'not mapped to a Salesforce user'}",
            )
        else:
            story.fact(
                "owner (R7)", "1. activity owner", f"not used: a {activity.type.value} has no owner in R7"
            )
        mapped = owner_map.salesforce_user_for(chosen.owner_id)
        story.fact(
            "owner (R7)",
            "2. contact owner",
            f"{chosen.owner_id or 'none'} -> {mapped or 'not mapped to a Salesforce user'}",
        )
        story.fact("owner (R7)", "3. integration user", integration)
        story.fact("owner (R7)", "Assigned To", f"{assignment.user_id} (decided by {assignment.step.value})")
    if link is not None:
        task = (
            stack.service.salesforce()
            .retrieve("Task", [link.salesforce_id], ["Id", "Subject", "WhoId", "OwnerId", "LastModifiedDate"])
            .get(link.salesforce_id)
        )
        story.fact("link", "Salesforce Task", link.salesforce_id)
        story.fact("link", "url", stack.record_urls.salesforce_record(link.salesforce_id))
        story.fact("link", "in Salesforce", _fields(task) if task else "deleted in Salesforce since")
        story.happened(link.updated_at, f"synced to Task {link.salesforce_id} (last written)")
        return f"synced: Salesforce Task {link.salesforce_id}"
    if state.dead:
        return f"dead-lettered: {state.dead[0].reason}"
    if not is_on(settings):
        return "waiting: type_off (the switch is off; nothing of this type syncs)"
    if not inside:
        return f"skipped: {decision.reason} (happened before its window opened)"
    if copied_from:
        return "skipped: echo (a copy of a Salesforce record)"
    if chosen is None or not chosen.salesforce_person_id:
        reason = "no_associated_contact" if not activity.contact_ids else "contact_not_syncing"
        return f"waiting: {reason} (it syncs when one of its contacts starts to sync)"
    return "not synced yet: it would sync on the next delivery (look at the queue: activity-sync status)"


def _contact_line(person: Person | None, chosen: bool) -> str:
    if person is None:
        return "unknown to HubSpot"
    candidate = person.candidate
    created = candidate.created_at.date().isoformat()
    if candidate.salesforce_person_id:
        syncs = f"syncs with {candidate.salesforce_person_id} (by {person.source})"
    elif person.email_match:
        syncs = f"does not sync yet; {person.email_match} has its email, the contact linker will link it"
    else:
        syncs = "does not sync: no Salesforce Contact or Lead"
    return f"created {created}, {syncs}" + (" <- chosen" if chosen else "")


# ------------------------------------------------------------------------------- Salesforce -> HubSpot
def explain_salesforce(stack: Stack, record_id: str, story: Story) -> None:
    from activity_sync.domain import SALESFORCE_EXTERNAL_ID_FIELD, SyncType
    from activity_sync.rules.activity_mapping import EVENT_FIELDS, TASK_FIELDS
    from activity_sync.rules.echo import ChangeOrigin, classify_salesforce_change, parse_salesforce_datetime
    from activity_sync.rules.salesforce_ids import normalize_salesforce_id
    from activity_sync.rules.salesforce_types import classify_salesforce_activity
    from activity_sync.rules.task_mapping import HubSpotActivityKey
    from activity_sync.rules.windows import should_sync_salesforce_change
    from activity_sync.usecases.directories import OwnerDirectory

    record_id = normalize_salesforce_id(record_id)
    sobject = "Event" if record_id.startswith("00U") else "Task"
    salesforce = stack.service.salesforce()
    record = salesforce.retrieve(
        sobject, [record_id], EVENT_FIELDS if sobject == "Event" else TASK_FIELDS
    ).get(record_id)
    state = stored(stack, record_id)
    if record is None:
        story.verdict = f"not found: no {sobject} {record_id} in Salesforce (deleted?)"
        _dead_letter_facts(state, story)
        return
    external = str(record.get(SALESFORCE_EXTERNAL_ID_FIELD) or "")
    if external:
        # A Task the service wrote for a HubSpot activity: its story is that activity's.
        key = HubSpotActivityKey.parse(external)
        story.fact("activity", "Salesforce Task", f"{record_id} is the service's copy of HubSpot {external}")
        explain_hubspot(stack, key.id, key.type.value, story)
        return
    activity_type = classify_salesforce_activity(sobject, record.get("TaskSubtype"))
    if activity_type is None:
        story.verdict = (
            f"not synced: a {sobject} of subtype {record.get('TaskSubtype')} syncs as no type (R10)"
        )
        return
    sync_type = SyncType.salesforce_to_hubspot(activity_type)
    settings = stack.service.settings.type_settings(sync_type, fresh=True)
    _switch_facts(story, sync_type, settings)
    created = parse_salesforce_datetime(record.get("CreatedDate"))
    modified = parse_salesforce_datetime(record.get("LastModifiedDate"))
    story.fact("activity", "in Salesforce", _fields(record))
    story.fact("activity", "url", stack.record_urls.salesforce_record(record_id))
    story.happened(created, f"created in Salesforce ({sobject})")
    story.happened(modified, "last modified in Salesforce")
    decision = should_sync_salesforce_change(created, modified, settings) if created and modified else None
    story.fact("window (R11)", "created", created.isoformat() if created else None)
    story.fact("window (R11)", "last modified", modified.isoformat() if modified else None)
    story.fact(
        "window (R11)",
        "decision",
        "inside: created or modified after the switch went on"
        if decision and decision.should_sync
        else f"{decision.reason if decision else 'no dates'}: an import brings it over (import)",
    )
    link = next((item for item in state.links if item.key == f"salesforce#{record_id}"), None)
    origin = classify_salesforce_change(
        record,
        service_user_id=salesforce.user_id,
        last_written=link.written_version("salesforce") if link else None,
    )
    if origin is ChangeOrigin.OWN_WRITE:
        story.fact("echo (R14)", "last change", "the service's own write: not synced back")
    who = str(record.get("WhoId") or "")
    person = stack.service.links.by_salesforce_ids([who]).get(who) if who else None
    contact = person.hubspot_id if person is not None and person.hubspot_object_type == "contact" else None
    story.fact("contact (R12)", "WhoId", who or "none: not on a Contact or Lead, nothing to sync it onto")
    story.fact(
        "contact (R12)",
        "HubSpot contact",
        contact or "none linked yet (the syncer looks one up by email, else dead-letters it)",
    )
    owner_map = OwnerDirectory(
        stack.service.hubspot, stack.service.salesforce, stack.service.settings
    ).current()
    owner = str(record.get("OwnerId") or "")
    story.fact(
        "owner (R13)",
        "Assigned To",
        f"{owner} -> HubSpot owner {owner_map.hubspot_owner_for(owner) or 'none (not mapped)'}",
    )
    verdict = ""
    if link is not None:
        twin = (
            stack.service.hubspot()
            .read_objects(link.hubspot_object_type, [link.hubspot_id], ["hs_lastmodifieddate"])
            .get(link.hubspot_id)
        )
        story.fact("link", f"HubSpot {link.hubspot_object_type}", link.hubspot_id)
        story.fact("link", "in HubSpot", "present" if twin else "archived or deleted since")
        story.happened(
            link.updated_at, f"synced to HubSpot {link.hubspot_object_type} {link.hubspot_id} (last written)"
        )
        verdict = f"synced: HubSpot {link.hubspot_object_type} {link.hubspot_id}"
    _dead_letter_facts(state, story)
    if verdict:
        story.verdict = verdict
    elif state.dead:
        story.verdict = f"dead-lettered: {state.dead[0].reason}"
    elif decision is None or not decision.should_sync:
        story.verdict = f"skipped: {decision.reason if decision else 'no dates'} (R11: not retroactive)"
    elif origin is ChangeOrigin.OWN_WRITE:
        story.verdict = "skipped: echo"
    elif not who:
        story.verdict = "skipped: not_on_a_contact_or_lead"
    else:
        story.verdict = "not synced yet: it would sync on its next change or an import"


def _fields(record: dict[str, Any]) -> str:
    shown = ("Subject", "TaskSubtype", "WhoId", "OwnerId", "LastModifiedDate")
    return ", ".join(f"{name}={record[name]}" for name in shown if record.get(name))


def _print(story: Story) -> None:
    out = console()
    out.print(f"[bold]{story.id}[/bold]: {story.verdict}")
    for title, facts in story.sections.items():
        out.print(f"\n[bold]{title}[/bold]")
        for label, value in facts.items():
            out.print(f"  {label:<20} {'-' if value is None else value}", highlight=False, markup=False)
    if story.history:
        out.print("\n[bold]history[/bold]")
        for stamp, what in story.history:
            out.print(f"  {stamp[:19]}  {what}", markup=False)
