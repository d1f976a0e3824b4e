"""HubSpot -> Salesforce: where a HubSpot note (call, meeting, email, form submission, …) becomes a
Salesforce Task.

One batch of changes of one activity type costs: HubSpot batch reads of the activities (100 a
call) and one of their contact associations (engagement types only), a HubSpot batch read of the
contacts only when some were not read recently (see usecases.directories), and one or two
Salesforce calls (updates of Tasks already linked, upserts by External ID of the others: sObject
Collections, five to a composite call, 1,000 records) - plus DynamoDB BatchGetItems for the
activities' and the contacts' links and BatchWriteItems for what changed, each request as many
items as DynamoDB takes (R18). The order of decisions follows the SPEC: switch and window (S1,
R5), echo (R14), contact (R4, R6), Assigned To (R7, R8), then the Task itself (R3, R9, S2).

A Task once created stays on its contact (R6), and its Assigned To is decided from that same
contact on every later update (R7): the link remembers the contact, so an unchanged activity
delivered again changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from activity_sync.domain import (
    EMAIL_EVENT_KINDS_BY_TYPE,
    SALESFORCE_EXTERNAL_ID_FIELD,
    ContactCandidate,
    HubSpotActivity,
    HubSpotActivityType,
    SalesforceTaskDraft,
    SyncType,
    TypeSettings,
)
from activity_sync.messages import ChangeKind, ChangeMessage, ChangeSource, ContactChangeMessage
from activity_sync.observability import logger
from activity_sync.ports import (
    ChangeQueue,
    CollectionWrite,
    HubSpotApi,
    HubSpotRecord,
    Link,
    LinkStore,
    SalesforceApi,
    SettingsStore,
    StorageRefused,
    StoredLink,
    SyncStateStore,
    WriteResult,
)
from activity_sync.rules.assignment import assign_task_owner
from activity_sync.rules.contact_choice import choose_contact
from activity_sync.rules.echo import carries_salesforce_id, fingerprint
from activity_sync.rules.hubspot_records import (
    ENGAGEMENTS,
    ActivityShapeError,
    engagement_activities,
    parse_hubspot_time,
    payload_activity,
)
from activity_sync.rules.owner_mapping import OwnerMap
from activity_sync.rules.task_mapping import (
    HubSpotActivityKey,
    activity_external_id,
    build_task,
)
from activity_sync.rules.windows import SkipReason, check_window
from activity_sync.usecases.batch import BatchResult
from activity_sync.usecases.directories import (
    ContactDirectory,
    OwnerDirectory,
    contact_link,
    current_person,
)
from activity_sync.usecases.task_edits import SalesforceOriginals
from activity_sync.usecases.type_syncer import TypeSyncer

# Salesforce record errors worth another try; any other record error is about the data and goes
# to the dead-letter queue at once with Salesforce's message.
# DUPLICATE_VALUE: two workers created the same Task at once; the retry finds it and updates it.
TRANSIENT_SALESFORCE_ERRORS = frozenset(
    {"UNABLE_TO_LOCK_ROW", "REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE", "DUPLICATE_VALUE"}
)
# Upserting onto an existing Task must not send createable-only fields (TaskSubtype).
NOT_UPDATEABLE_ERRORS = frozenset({"INVALID_FIELD_FOR_INSERT_UPDATE"})
# Where activities with no associated contact wait; the poller re-queues them now and then (an
# association added later brings them in) and the syncer parks them again if still alone.
UNASSOCIATED = "unassociated"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class _Pending:
    """One activity of the batch with every message that named it."""

    activity: HubSpotActivity
    message_ids: list[str]
    change: ChangeMessage
    draft: SalesforceTaskDraft | None = None
    contact_ids: tuple[str, ...] = field(default_factory=tuple)
    record: HubSpotRecord | None = None  # as HubSpot returned it (engagement types)
    chosen_contact: str | None = None  # the HubSpot contact the Task is (or goes) on

    @property
    def key(self) -> str:
        return activity_external_id(self.activity)


class HubSpotToSalesforce(TypeSyncer):
    """The syncer of one HubSpot activity type."""

    def __init__(
        self,
        activity_type: HubSpotActivityType,
        *,
        settings: SettingsStore,
        links: LinkStore,
        state: SyncStateStore,
        hubspot: HubSpotApi,
        salesforce: SalesforceApi,
        queues: ChangeQueue,
        owners: OwnerDirectory,
        contacts: ContactDirectory | None = None,
    ) -> None:
        super().__init__(
            SyncType.hubspot_to_salesforce(activity_type),
            settings=settings,
            links=links,
            state=state,
            hubspot=hubspot,
            salesforce=salesforce,
        )
        self.activity_type = activity_type
        self._queues = queues
        self._owners = owners
        self._contacts = contacts or ContactDirectory(lambda: hubspot, ttl_seconds=0)
        self._task_links: dict[str, StoredLink] = {}
        self._salesforce_originals = SalesforceOriginals(
            activity_type, salesforce, links, self._count, self._save_links, TRANSIENT_SALESFORCE_ERRORS
        )

    def sync(
        self, changes: Sequence[tuple[str, ChangeMessage]], settings: TypeSettings, result: BatchResult
    ) -> None:
        self._delete_twins([c for _, c in changes if c.kind is ChangeKind.DELETION])
        pending = self._load([(mid, c) for mid, c in changes if c.kind is ChangeKind.UPSERT], result)
        # One read of the links of every activity of the batch: the window, the contact and the
        # write all consult it.
        self._task_links = self._links.links("activity", [item.key for item in pending])
        pending = self._filter(pending, settings, result)
        self._choose_people(pending, settings, result)
        self._write(pending, result)

    def _delete_twins(self, deletions: Sequence[ChangeMessage]) -> None:
        """A HubSpot activity was deleted. Off by default (the Salesforce Task stays); with the
        deletions setting on, its Task(s) - or, for a copy of a Salesforce record, the original -
        are deleted too."""
        if not deletions:
            return
        mirror = self._settings.sync_deletions()
        kinds = EMAIL_EVENT_KINDS_BY_TYPE.get(self.activity_type, (None,))
        keys = [
            HubSpotActivityKey(self.activity_type, change.object_id, kind).external_id
            for change in deletions
            for kind in kinds
        ]
        twins = list(self._links.links("activity", keys).values())
        spec = ENGAGEMENTS.get(self.activity_type)
        if spec is not None:
            twins += self._links.links(spec.object_type, [c.object_id for c in deletions]).values()
        if twins and mirror:
            self._salesforce.delete([link.salesforce_id for link in twins])
        # Either way the pair is over: unlinked, the decision stands when a later poll (or a
        # change of the setting) sees the same deletion again.
        self._links.unlink(twins)
        if mirror:
            self._count("deleted", "deleted_in_hubspot", len(twins))
        else:
            self._count("skipped", "deleted_in_hubspot", len(deletions))

    # ----------------------------------------------------------------------------------- stages
    def _load(self, upserts: Sequence[tuple[str, ChangeMessage]], result: BatchResult) -> list[_Pending]:
        """Read the activities: engagements from HubSpot in batch, the others from their payload."""
        by_id: dict[str, _Pending] = {}
        spec = ENGAGEMENTS.get(self.activity_type)
        if spec is None:
            for message_id, change in upserts:
                try:
                    activity = payload_activity(self.activity_type, change.payload or {})
                except ActivityShapeError as error:
                    result.dead[message_id] = str(error)
                    continue
                self._collect(by_id, activity, message_id, change)
            return list(by_id.values())
        ids = list(dict.fromkeys(change.object_id for _, change in upserts))
        records = self._hubspot.read_objects(spec.object_type, ids, spec.properties) if ids else {}
        contacts = (
            self._hubspot.associated_ids(spec.object_type, "contacts", list(records)) if records else {}
        )
        gone = 0
        for message_id, change in upserts:
            record = records.get(change.object_id)
            if record is None:
                gone += 1  # deleted or archived since the change was queued: nothing to sync
                continue
            try:
                activities = engagement_activities(self.activity_type, record, contacts.get(record.id, []))
            except (ActivityShapeError, ValueError) as error:
                result.dead[message_id] = f"{spec.object_type} {record.id}: {error}"
                continue
            for activity in activities:
                self._collect(by_id, activity, message_id, change, record)
        self._count("skipped", "not_found_in_hubspot", gone)
        return list(by_id.values())

    @staticmethod
    def _collect(
        by_id: dict[str, _Pending],
        activity: HubSpotActivity,
        message_id: str,
        change: ChangeMessage,
        record: HubSpotRecord | None = None,
    ) -> None:
        key = activity_external_id(activity)
        if key in by_id:
            by_id[key].message_ids.append(message_id)
        else:
            by_id[key] = _Pending(
                activity, [message_id], change, contact_ids=activity.contact_ids, record=record
            )

    def _filter(self, pending: list[_Pending], settings: TypeSettings, result: BatchResult) -> list[_Pending]:
        """R5 windows and R14 echoes: both final decisions, the messages are done with. The
        window decides whether an activity starts to sync; one already synced keeps its Task up
        to date (R3) even when a switch turned off and on again moved the window past it."""
        kept: list[_Pending] = []
        copies: list[_Pending] = []
        skipped: list[_Pending] = []
        for item in pending:
            if carries_salesforce_id(item.activity):
                copies.append(item)
            elif (
                check_window(self.activity_type, item.activity.occurred_at, settings).should_sync
                or item.key in self._task_links
            ):
                kept.append(item)
            else:
                skipped.append(item)
                self._count("skipped", SkipReason.OUTSIDE_WINDOW, 1)
        if skipped and self.activity_type not in ENGAGEMENTS:
            # A posted activity cannot be read back from HubSpot: keep the decision, with its
            # message, so that `explain` can still tell it (one batch write, for the batch).
            try:
                self._state.remember_skipped(
                    (self.sync_type, item.activity.id, item.change.to_dict(), str(SkipReason.OUTSIDE_WINDOW))
                    for item in skipped
                )
            except Exception:  # what explain would tell, not what syncs: never the batch's failure
                logger.warning("skipped activities not remembered", exc_info=True)
        self._salesforce_originals.update(copies, result)
        return kept

    def _choose_people(self, pending: list[_Pending], settings: TypeSettings, result: BatchResult) -> None:
        """R4/R6/R7: the Contact or Lead each Task goes on, and who it is assigned to. Activities
        whose contacts do not sync yet are parked until one does. A Task already created keeps its
        contact, and its Assigned To follows from that contact (R6, R7)."""
        contact_ids = list(dict.fromkeys(c for item in pending for c in item.contact_ids))
        woken = {
            c
            for item in pending
            if item.change.source is ChangeSource.CONTACT_STARTED_SYNCING
            for c in item.contact_ids
        }
        candidates = self._candidates(contact_ids, woken)
        owner_map: OwnerMap | None = None
        integration_user = ""  # read with the owner map, once, when the first item needs it
        waiting: list[_Pending] = []
        for item in list(pending):
            if item.contact_ids and not any(c in candidates for c in item.contact_ids):
                # R17: every contact it names is unknown to HubSpot (a posted activity with a
                # wrong id): nothing to wait for - dead-letter it with the reason.
                for message_id in item.message_ids:
                    result.dead[message_id] = f"no HubSpot contact {', '.join(item.contact_ids)}"
                continue
            # The window was decided in _filter; what is left is whether a contact syncs (R4, R6).
            chosen = self._kept_contact(item, candidates) or choose_contact(
                candidates[c] for c in item.contact_ids if c in candidates
            )
            if chosen is None or chosen.salesforce_person_id is None:
                waiting.append(item)
                continue
            if owner_map is None:
                owner_map = self._owners.current()
                integration_user = self._settings.integration_user_id() or self._salesforce.user_id
            assignment = assign_task_owner(item.activity, chosen, owner_map, integration_user)
            item.chosen_contact = chosen.hubspot_id
            try:
                item.draft = build_task(
                    item.activity,
                    who_id=chosen.salesforce_person_id,
                    owner_id=assignment.user_id,
                    settings=settings,
                )
            except ValueError as error:
                for message_id in item.message_ids:
                    result.dead[message_id] = f"cannot build the Task: {error}"
        self._park(waiting, candidates, result)

    def _kept_contact(
        self, item: _Pending, candidates: Mapping[str, ContactCandidate]
    ) -> ContactCandidate | None:
        """The contact an existing Task was created on, while it still syncs (R6: a Task never
        moves to another contact, and R7 decides its owner from the same one)."""
        link = self._task_links.get(item.key)
        kept = str((link.details or {}).get("contact_id") or "") if link else ""
        candidate = candidates.get(kept)
        return candidate if candidate is not None and candidate.salesforce_person_id else None

    def _candidates(self, contact_ids: list[str], fresh: set[str]) -> dict[str, ContactCandidate]:
        if not contact_ids:
            return {}
        # One read of the contacts' links: the contact as last read is there while it is recent
        # (no HubSpot call), and so is the person a contact matched by email syncs with (R4).
        links = self._links.links("contact", contact_ids)
        records = self._contacts.read(contact_ids, fresh=fresh, links=links)
        overrides = self._settings.overrides("contact")
        candidates: dict[str, ContactCandidate] = {}
        changed: list[Link] = []
        for contact_id, record in records.items():
            props = record.properties
            link = links.get(contact_id)
            match = current_person(overrides.get(contact_id), props, link)
            created_at = parse_hubspot_time(props.get("createdate")) or record.created_at
            if created_at is None:
                continue
            if match is not None and (link is None or link.salesforce_id != match.person_id):
                changed.append(contact_link(record, match, self._contacts.read_at(contact_id)))
            candidates[contact_id] = ContactCandidate(
                hubspot_id=contact_id,
                created_at=created_at,
                salesforce_person_id=match.person_id if match else None,
                owner_id=props.get("hubspot_owner_id") or None,
            )
        self._save_links(changed)  # a cache of the matches: a refusal only costs a match again later
        return candidates

    def _park(
        self, waiting: list[_Pending], candidates: Mapping[str, ContactCandidate], result: BatchResult
    ) -> None:
        """R4: an activity whose contacts do not sync waits under each of them; the contact linker
        is asked to look for a match by email and wakes the activity when one starts to sync. An
        activity stands once in ``waiting`` however many of its events (a sales email's sent, open,
        click) the batch holds. Those DynamoDB refuses to park (a bug, logged by the adapter) are
        retried alone; the rest of the batch goes on."""
        if not waiting:
            return
        unknown: dict[str, None] = {}
        entries = []
        for item in waiting:
            message = item.change.replace(source=ChangeSource.CONTACT_STARTED_SYNCING)
            entries.append(
                (
                    list(item.contact_ids) or [UNASSOCIATED],
                    self.sync_type,
                    item.activity.id,
                    message.to_dict(),
                    str(SkipReason.CONTACT_NOT_SYNCING),
                )
            )
            unknown.update(
                dict.fromkeys(
                    c
                    for c in item.contact_ids
                    if c in candidates and candidates[c].salesforce_person_id is None
                )
            )
        try:
            self._state.add_waiting_many(entries)
        except StorageRefused as refused:
            activity_ids = {sk.rpartition("#")[2] for _, sk in refused.keys if sk}
            for item in [item for item in waiting if item.activity.id in activity_ids]:
                waiting.remove(item)
                for message_id in item.message_ids:
                    result.retry[message_id] = f"could not park the activity: {refused}"
        no_contact = sum(1 for item in waiting if not item.contact_ids)
        self._count("waiting", SkipReason.CONTACT_NOT_SYNCING, len(waiting) - no_contact)
        self._count("waiting", "no_associated_contact", no_contact)
        if unknown:
            self._queues.send_contact_changes(
                ContactChangeMessage(hubspot_contact_id=c, source=ChangeSource.ACTIVITY_WAITING)
                for c in unknown
            )

    def _write(self, pending: list[_Pending], result: BatchResult) -> None:
        """R3/R15: update the Tasks already linked, upsert the others by External ID - never a
        second Task for the same activity, whatever the retries and races."""
        ready = [item for item in pending if item.draft is not None]
        if not ready:
            return
        updates: list[tuple[_Pending, str]] = []
        creates: list[_Pending] = []
        unchanged = 0
        for item in ready:
            assert item.draft is not None  # nosec B101  # narrows a type: only drafted items get here
            link = self._task_links.get(item.draft.external_id)
            if link is None:
                creates.append(item)
            elif _holds(link, item.draft):
                unchanged += 1  # what Salesforce has is what we would write: no call (R14, R18)
            elif (original := link.hubspot_original_write()) and original.matches(
                item.record.properties if item.record else {}
            ):
                # R14: the service wrote this task itself, after a rep edited its Salesforce Task.
                self._count("skipped", SkipReason.ECHO, 1)
            else:
                updates.append((item, link.salesforce_id))
        self._count("skipped", "unchanged", unchanged)
        # The updates and the creations leave together: one call for the batch (R18).
        updated, created = self._salesforce.write_together(
            [
                CollectionWrite(
                    "Task",
                    [{"Id": task_id, **item.draft.update_fields} for item, task_id in updates if item.draft],
                ),
                CollectionWrite(
                    "Task",
                    [dict(item.draft.create_fields) for item in creates if item.draft],
                    SALESFORCE_EXTERNAL_ID_FIELD,
                ),
            ]
        )
        links = self._settle([item for item, _ in updates], updated, result, updated=True)
        settled = list(zip(creates, self._update_existing(creates, created), strict=True))
        written = [(item, outcome) for item, outcome in settled if outcome is not None]
        self._count("skipped", "unchanged", len(settled) - len(written))
        links += self._settle(
            [item for item, _ in written], [outcome for _, outcome in written], result, updated=False
        )
        self._save_links(links)
        self._count("synced", None, len(links))

    def _update_existing(
        self, creates: list[_Pending], outcomes: list[WriteResult]
    ) -> list[WriteResult | None]:
        """Creations refused because the Task exists: another batch of this type made it meanwhile
        (the same activity in two batches at once), or its link was lost. When the other batch has
        saved its link already and it names exactly what this one would write, nothing is left to
        do (None); the others are written again with the fields an update may set."""
        existing = [
            index
            for index, outcome in enumerate(outcomes)
            if not outcome.success and NOT_UPDATEABLE_ERRORS & set(outcome.error_codes)
        ]
        if not existing:
            return list(outcomes)
        drafts = {index: draft for index in existing if (draft := creates[index].draft)}
        saved = self._links.links("activity", [draft.external_id for draft in drafts.values()])
        replaced: dict[int, WriteResult | None] = {}
        stale: list[int] = []
        for index, draft in drafts.items():
            link = saved.get(draft.external_id)
            if link is not None and _holds(link, draft):
                replaced[index] = None  # R18: the Task holds these very fields already
            else:
                stale.append(index)
        if stale:
            # A second call for this batch (R18): rare, and logged so that a burst's count explains itself.
            logger.info(
                "Tasks that exist already (made meanwhile by another batch, or their links lost): updated",
                extra={"n": len(stale)},
            )
            retried = self._salesforce.upsert(
                "Task",
                SALESFORCE_EXTERNAL_ID_FIELD,
                [
                    {SALESFORCE_EXTERNAL_ID_FIELD: drafts[i].external_id, **drafts[i].update_fields}
                    for i in stale
                ],
            )
            replaced.update(zip(stale, retried, strict=True))
        return [replaced.get(index, outcome) for index, outcome in enumerate(outcomes)]

    def _settle(
        self, items: list[_Pending], outcomes: list[WriteResult], result: BatchResult, *, updated: bool
    ) -> list[Link]:
        """The links of the Tasks written; the messages of the others fail with Salesforce's words."""
        links: list[Link] = []
        for item, outcome in zip(items, outcomes, strict=True):
            assert item.draft is not None  # nosec B101  # narrows a type: only drafted items get here
            if outcome.success and outcome.id:
                stored = self._task_links.get(item.draft.external_id)
                kept_contact = (stored.details or {}).get("contact_id") if stored else None
                links.append(
                    Link(
                        "activity",
                        item.draft.external_id,
                        outcome.id,
                        "sync",
                        fingerprint(item.draft.update_fields),
                        "salesforce",
                        {
                            "fields": sorted(item.draft.update_fields),
                            "contact_id": kept_contact or item.chosen_contact,
                            "source_modified_at": _stamp(item.activity.updated_at),
                        },
                    )
                )
                continue
            reason = f"Salesforce refused the Task {'update' if updated else 'upsert'}: {outcome.message}"
            target = result.retry if TRANSIENT_SALESFORCE_ERRORS & set(outcome.error_codes) else result.dead
            for message_id in item.message_ids:
                target[message_id] = reason
        return links


def _holds(link: StoredLink, draft: SalesforceTaskDraft) -> bool:
    """The linked Task holds what the draft would write (its link's fingerprint, saved with the
    last write): no call is needed (R14, R18)."""
    return link.fingerprint == fingerprint(draft.update_fields)


def _stamp(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(dt.UTC).isoformat()
