"""Salesforce -> HubSpot: where a Salesforce Task (task, email, call) or Event becomes a HubSpot
activity on the right contact (R10-R13), without echoes (R14).

A batch costs one Salesforce call to retrieve its records (sObject Collections, five to a
composite call: 1,000 records) and one HubSpot batch create of each 100 records new to HubSpot,
their associations included; records copied before (and any the create refused) cost one
batch upsert by the unique property ``activity_sync_salesforce_id`` and one association batch per
target object. That property makes a retry or a race refuse or update, never make a second
activity (R15). Plus DynamoDB BatchGetItems for the records' links and their people's, and
BatchWriteItems for the new links - each request as many items as DynamoDB takes (R18).

Echoes (R14), decided per record from its link:
* the service's own write coming back (fields as written, or the API user's last modification
  stamped as read back) -> skipped;
* a Task the service created from a HubSpot task, then edited by a person in Salesforce -> the
  HubSpot task is updated (status, subject, priority…), never copied as a new activity; edits of
  copies of other HubSpot activity types stay in Salesforce (HubSpot owns those);
* anything else -> upserted into HubSpot.
Conflicting edits on both sides: the later modification wins; a tie goes to Salesforce
(``rules.echo.resolve_conflicting_edit``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from activity_sync.domain import (
    HUBSPOT_SALESFORCE_ID_PROPERTY,
    SalesforceActivityType,
    SyncType,
    TypeSettings,
)
from activity_sync.messages import ChangeKind, ChangeMessage, ChangeSource
from activity_sync.observability import logger
from activity_sync.ports import (
    HubSpotApi,
    Link,
    LinkStore,
    NewObject,
    SalesforceApi,
    SettingsStore,
    StoredLink,
    SyncStateStore,
    WriteResult,
)
from activity_sync.rules.activity_mapping import (
    COMPANY_ASSOCIATION,
    CONTACT_ASSOCIATION,
    DEAL_ASSOCIATION,
    EVENT_FIELDS,
    TASK_FIELDS,
    HubSpotActivityDraft,
    hubspot_activity_from_salesforce,
)
from activity_sync.rules.echo import (
    TASK_STATE_PROPERTIES,
    ChangeOrigin,
    classify_salesforce_change,
    fingerprint,
    parse_salesforce_datetime,
    same_version,
)
from activity_sync.rules.hubspot_records import ENGAGEMENTS
from activity_sync.rules.owner_mapping import normalize_email
from activity_sync.rules.salesforce_types import classify_salesforce_activity
from activity_sync.rules.task_mapping import HubSpotActivityKey
from activity_sync.rules.windows import SkipReason, should_sync_salesforce_change
from activity_sync.usecases.batch import BatchResult
from activity_sync.usecases.directories import OwnerDirectory
from activity_sync.usecases.task_edits import HubSpotOriginals
from activity_sync.usecases.type_syncer import TypeSyncer

TRANSIENT_HUBSPOT_ERRORS = frozenset({"RATE_LIMITS", "CONFLICT", "409", "429", "500", "502", "503", "504"})
# Object types whose unique id property this container has made sure of (one call per cold start).
_ENSURED_PROPERTIES: set[str] = set()
# How long the stack trusts that a property it made sure of still exists (someone may delete it).
PROPERTY_MARK_KEPT = dt.timedelta(days=1)


@dataclass
class _Pending:
    record: dict[str, Any]
    message_ids: list[str] = field(default_factory=list)
    draft: HubSpotActivityDraft | None = None
    imported: bool = False  # asked for by an explicit import: R11's window does not apply
    link: StoredLink | None = None  # the link naming this record, if the service wrote or copied it


class SalesforceToHubSpot(TypeSyncer):
    """The syncer of one Salesforce activity type."""

    def __init__(
        self,
        activity_type: SalesforceActivityType,
        *,
        settings: SettingsStore,
        links: LinkStore,
        state: SyncStateStore,
        hubspot: HubSpotApi,
        salesforce: SalesforceApi,
        owners: OwnerDirectory,
        siblings: Callable[[SalesforceActivityType], SalesforceToHubSpot] | None = None,
    ) -> None:
        super().__init__(
            SyncType.salesforce_to_hubspot(activity_type),
            settings=settings,
            links=links,
            state=state,
            hubspot=hubspot,
            salesforce=salesforce,
        )
        self.activity_type = activity_type
        self.sobject = "Event" if activity_type is SalesforceActivityType.MEETING else "Task"
        self._owners = owners
        self._siblings = siblings
        self._hubspot_originals = HubSpotOriginals(
            activity_type, hubspot, self._draft, self._count, self._save_links, TRANSIENT_HUBSPOT_ERRORS
        )

    def sync(
        self, changes: Sequence[tuple[str, ChangeMessage]], settings: TypeSettings, result: BatchResult
    ) -> None:
        upserts = [(mid, c) for mid, c in changes if c.kind is ChangeKind.UPSERT]
        self._archive_twins([c for _, c in changes if c.kind is ChangeKind.DELETION])
        fields = EVENT_FIELDS if self.sobject == "Event" else TASK_FIELDS
        # One read of the links of every record of the batch: before the retrieve, to pass over
        # notifications of a version already copied (an Outbound Message sent again), and after it
        # for the echo rules.
        links = self._links.by_salesforce_ids(dict.fromkeys(c.object_id for _, c in upserts))
        upserts = self._drop_versions_copied(upserts, links)
        ids = list(dict.fromkeys(c.object_id for _, c in upserts))
        records = self._salesforce.retrieve(self.sobject, ids, fields) if ids else {}
        pending: dict[str, _Pending] = {}
        misrouted: dict[SalesforceActivityType, list[tuple[str, ChangeMessage]]] = {}
        for message_id, change in upserts:
            record = records.get(change.object_id)
            if record is None:
                self._count("skipped", "not_found_in_salesforce", 1)
                continue
            actual = classify_salesforce_activity(self.sobject, record.get("TaskSubtype"))
            if actual is not self.activity_type:
                # Routed here without its subtype (an Outbound Message that omits it): the syncer of
                # its real type handles it, with that type's switch and figures.
                if actual is not None:
                    routed = change.replace(sync_type=SyncType.salesforce_to_hubspot(actual).key)
                    misrouted.setdefault(actual, []).append((message_id, routed))
                continue
            item = pending.setdefault(change.object_id, _Pending(record))
            item.message_ids.append(message_id)
            item.imported = item.imported or change.source is ChangeSource.IMPORT
        for actual, routed_changes in misrouted.items():
            if self._siblings is None:
                for message_id, _ in routed_changes:
                    result.dead[message_id] = (
                        f"a {actual.value} record reached the {self.activity_type} syncer"
                    )
            else:
                result.merge(self._siblings(actual).handle(routed_changes))
        for item in pending.values():
            item.link = links.get(str(item.record["Id"]))
        native, edits = self._classify(list(pending.values()), settings)
        self._hubspot_originals.update(edits, result)
        self._upsert(native, result)

    def _drop_versions_copied(
        self, upserts: list[tuple[str, ChangeMessage]], links: Mapping[str, StoredLink]
    ) -> list[tuple[str, ChangeMessage]]:
        """R14/R18: an Outbound Message names the record's SystemModstamp; when the record's link
        says that very version is the one copied to HubSpot (a notification sent again, its
        acknowledgement lost), there is nothing to read or write."""
        kept: list[tuple[str, ChangeMessage]] = []
        for message_id, change in upserts:
            link = links.get(change.object_id)
            notified = (change.payload or {}).get("fields") or {}
            if (
                change.source is ChangeSource.SALESFORCE_OUTBOUND_MESSAGE
                and link is not None
                and link.written_side == "hubspot"
                and _notified_modstamp_is(notified, (link.details or {}).get("source_modified_at"))
            ):
                self._count("skipped", "unchanged", 1)
                continue
            kept.append((message_id, change))
        return kept

    def _archive_twins(self, deletions: Sequence[ChangeMessage]) -> None:
        """A Salesforce record was deleted. Off by default (the HubSpot activity stays); with the
        deletions setting on, its HubSpot copy - or, for a Task made from a HubSpot note, call,
        meeting or task, that original - is archived too. Tasks standing for email events (an
        open, a click) never archive the email."""
        if not deletions:
            return
        mirror = self._settings.sync_deletions()
        links = self._links.by_salesforce_ids(change.object_id for change in deletions)
        by_type: dict[str, list[str]] = {}
        for link in links.values():
            object_type, hubspot_id = link.hubspot_object_type, link.hubspot_id
            if object_type == "activity":
                key = HubSpotActivityKey.parse(hubspot_id)
                spec = ENGAGEMENTS.get(key.type)
                if spec is None or key.email_event is not None:
                    continue
                by_type.setdefault(spec.object_type, []).append(key.id)
            else:
                by_type.setdefault(object_type, []).append(hubspot_id)
        # Either way the pair is over: unlinked, the decision stands when a later poll (or a
        # change of the setting) sees the same deletion again.
        self._links.unlink(links.values())
        if not mirror:
            self._count("skipped", "deleted_in_salesforce", len(deletions))
            return
        for object_type, ids in by_type.items():
            self._hubspot.archive_objects(object_type, ids)
        self._count("deleted", "deleted_in_salesforce", sum(len(ids) for ids in by_type.values()))

    def _classify(
        self, pending: list[_Pending], settings: TypeSettings
    ) -> tuple[list[_Pending], list[_Pending]]:
        native: list[_Pending] = []
        edits: list[_Pending] = []
        for item in pending:
            record = item.record
            created = parse_salesforce_datetime(record.get("CreatedDate"))
            modified = parse_salesforce_datetime(record.get("LastModifiedDate"))
            if created is None or modified is None:
                self._count("skipped", "no_dates", 1)
                continue
            if (
                not item.imported
                and not should_sync_salesforce_change(created, modified, settings).should_sync
            ):
                self._count("skipped", SkipReason.OUTSIDE_WINDOW, 1)  # R11: not retroactive
                continue
            link = item.link
            origin = classify_salesforce_change(
                record,
                service_user_id=self._salesforce.user_id,
                last_written=link.written_version("salesforce") if link else None,
            )
            if origin is ChangeOrigin.OWN_WRITE:
                self._count("skipped", SkipReason.ECHO, 1)
            elif origin is ChangeOrigin.EDIT_OF_OWN_COPY:
                edits.append(item)
            else:
                unchanged = link.written_version("hubspot") if link else None
                item.draft = self._draft(record)
                if unchanged is not None and unchanged.fingerprint == fingerprint(item.draft.properties):
                    self._count("skipped", "unchanged", 1)
                    continue
                native.append(item)
        return native, edits

    def _draft(self, record: Mapping[str, Any]) -> HubSpotActivityDraft:
        owner = self._owners.current().hubspot_owner_for(record.get("OwnerId"))  # R13
        return hubspot_activity_from_salesforce(record, self.activity_type, owner)

    def _upsert(self, native: list[_Pending], result: BatchResult) -> None:
        """R12 first: a record whose person has no HubSpot contact is not copied (R17: it would
        land on nobody). Records new to HubSpot (no link) are created with their associations in one
        call; the others - and any new one the create refused, say because a copy exists whose link
        was lost - are upserted by the unique property, then associated. Links are written last, so
        a failed association is retried rather than remembered as done."""
        people = self._linked_hubspot_objects(
            [str(item.record.get(name) or "") for item in native for name in ("WhoId", "WhatId")]
        )
        contacts = self._hubspot_contacts([str(item.record.get("WhoId") or "") for item in native], people)
        ready: list[tuple[_Pending, str]] = []
        for item in native:
            who = str(item.record.get("WhoId") or "")
            if not who:
                self._count("skipped", "not_on_a_contact_or_lead", 1)
            elif who not in contacts:
                reason = f"no HubSpot contact for {who} (by link or email): create it, then re-drive"
                for message_id in item.message_ids:
                    result.dead[message_id] = reason
            elif item.draft is not None:
                ready.append((item, contacts[who]))
        if not ready:
            return
        object_type = ready[0][0].draft.object_type if ready[0][0].draft else ""
        self._ensure_id_property(object_type)
        written = self._create(object_type, [r for r in ready if r[0].link is None], people)
        done = {id(item) for item, _ in written}
        rest = [(item, contact_id) for item, contact_id in ready if id(item) not in done]
        written += self._upsert_and_associate(object_type, rest, people, result)
        links: list[Link] = []
        for item, hubspot_id in written:
            assert item.draft is not None  # nosec B101  # narrows a type: only drafted items get here
            links.append(
                Link(
                    object_type,
                    hubspot_id,
                    str(item.record["Id"]),
                    "sync",
                    fingerprint(item.draft.properties),
                    "hubspot",
                    {
                        "fields": sorted(item.draft.properties),
                        # What a person may change on a task copy in HubSpot, as written: a change to
                        # these flows back to the Salesforce original (R14).
                        "task_state": {k: item.draft.properties.get(k) for k in TASK_STATE_PROPERTIES},
                        "source_modified_at": item.record.get("SystemModstamp"),
                    },
                )
            )
        self._save_links(links)
        self._count("synced", None, len(links))

    def _ensure_id_property(self, object_type: str) -> None:
        """The upsert key: a unique-value property the service creates on first use (R15). Once any
        container has made sure of it, the others read that (one GetItem, no HubSpot call)."""
        if object_type in _ENSURED_PROPERTIES:
            return
        mark = f"hubspot_property#{object_type}#{HUBSPOT_SALESFORCE_ID_PROPERTY}"
        if self._state.shared(mark) is None:
            self._hubspot.ensure_unique_property(
                object_type, HUBSPOT_SALESFORCE_ID_PROPERTY, "Salesforce record id"
            )
            self._state.save_shared(mark, {"ensured": True}, keep=PROPERTY_MARK_KEPT)
        _ENSURED_PROPERTIES.add(object_type)

    def _create(
        self,
        object_type: str,
        fresh: list[tuple[_Pending, str]],
        linked: Mapping[str, tuple[str, str]],
    ) -> list[tuple[_Pending, str]]:
        """One batch create of the records never copied, each with its associations (R12, R18).
        Returns what was created; a refused batch is left to the upsert, which finds an existing
        copy by the unique property (R15) and sets bad records apart (R16)."""
        if not fresh:
            return []
        outcomes = self._hubspot.create_objects(
            object_type,
            HUBSPOT_SALESFORCE_ID_PROPERTY,
            [
                NewObject(
                    item.draft.properties,
                    [
                        (to_id, type_id)
                        for _, to_id, type_id in self._association_targets(
                            object_type, item, contact_id, linked
                        )
                    ],
                )
                for item, contact_id in fresh
                if item.draft is not None
            ],
        )
        created: list[tuple[_Pending, str]] = []
        for (item, _), outcome in zip(fresh, outcomes, strict=True):
            if outcome.success and outcome.id:
                created.append((item, outcome.id))
        if len(created) < len(fresh):
            refused = next(o for o in outcomes if not (o.success and o.id))
            logger.info(
                "create refused, upserting instead",
                extra={
                    "object_type": object_type,
                    "records": len(fresh) - len(created),
                    "error": refused.message,
                },
            )
        return created

    def _upsert_and_associate(
        self,
        object_type: str,
        ready: list[tuple[_Pending, str]],
        linked: Mapping[str, tuple[str, str]],
        result: BatchResult,
    ) -> list[tuple[_Pending, str]]:
        """One batch upsert by the unique property, then the associations; returns the records
        whose contact association is in place (the others are retried or dead-lettered)."""
        if not ready:
            return []
        outcomes = self._hubspot.upsert_objects(
            object_type,
            HUBSPOT_SALESFORCE_ID_PROPERTY,
            [item.draft.properties for item, _ in ready if item.draft],
        )
        synced: list[tuple[_Pending, str, str]] = []
        for (item, contact_id), outcome in zip(ready, outcomes, strict=True):
            if outcome.success and outcome.id:
                synced.append((item, outcome.id, contact_id))
            else:
                self._fail(
                    item, f"HubSpot refused the {object_type} upsert: {outcome.message}", outcome, result
                )
        associated = self._associate(object_type, synced, linked, result)
        return [(item, hubspot_id) for item, hubspot_id, _ in synced if hubspot_id in associated]

    @staticmethod
    def _association_targets(
        object_type: str, item: _Pending, contact_id: str, linked: Mapping[str, tuple[str, str]]
    ) -> list[tuple[str, str, int]]:
        """R12: (target type, target id, association type id) - the contact behind WhoId, and the
        company or deal behind WhatId where linked."""
        targets = [("contacts", contact_id, CONTACT_ASSOCIATION[object_type])]
        what = linked.get(str(item.record.get("WhatId") or ""))
        if what is not None and what[0] == "company":
            targets.append(("companies", what[1], COMPANY_ASSOCIATION[object_type]))
        elif what is not None and what[0] == "deal":
            targets.append(("deals", what[1], DEAL_ASSOCIATION[object_type]))
        return targets

    def _associate(
        self,
        object_type: str,
        synced: list[tuple[_Pending, str, str]],
        linked: Mapping[str, tuple[str, str]],
        result: BatchResult,
    ) -> set[str]:
        """One association batch per target type. Returns the HubSpot ids whose contact association
        is in place; the others are retried."""
        pairs: dict[str, list[tuple[str, str, int]]] = {}
        for item, hubspot_id, contact_id in synced:
            for to_type, to_id, type_id in self._association_targets(object_type, item, contact_id, linked):
                pairs.setdefault(to_type, []).append((hubspot_id, to_id, type_id))
        associated = {hubspot_id for _, hubspot_id, _ in synced}
        for to_type, batch in pairs.items():
            for (from_id, _, _), outcome in zip(
                batch, self._hubspot.associate(object_type, to_type, batch), strict=True
            ):
                if outcome.success:
                    continue
                logger.warning("association refused", extra={"error": outcome.message, "to": to_type})
                if to_type == "contacts":
                    associated.discard(from_id)
                    for item, hubspot_id, _ in synced:
                        if hubspot_id == from_id:
                            for message_id in item.message_ids:
                                result.retry[message_id] = (
                                    f"HubSpot refused the contact association: {outcome.message}"
                                )
        return associated

    def _hubspot_contacts(self, who_ids: list[str], linked: Mapping[str, tuple[str, str]]) -> dict[str, str]:
        """Salesforce Contact/Lead id -> HubSpot contact id: from the links, else by the person's
        email (one retrieve per object and one HubSpot search per 100 emails), linking what it finds."""
        found: dict[str, str] = {}
        missing: dict[str, list[str]] = {"Contact": [], "Lead": []}
        for who_id in dict.fromkeys(w for w in who_ids if w):
            link = linked.get(who_id)
            if link is not None and link[0] == "contact":
                found[who_id] = link[1]
            elif who_id.startswith("003"):
                missing["Contact"].append(who_id)
            elif who_id.startswith("00Q"):
                missing["Lead"].append(who_id)
        emails: dict[str, str] = {}
        for sobject, ids in missing.items():
            if ids:
                for person_id, person in self._salesforce.retrieve(sobject, ids, ["Email"]).items():
                    if email := normalize_email(person.get("Email")):
                        emails[person_id] = email
        if not emails:
            return found
        contacts = self._hubspot.find_contacts_by_email(sorted(set(emails.values())), ["email"])
        for person_id, email in emails.items():
            contact = contacts.get(email)
            if contact is not None:
                self._links.link_if_absent("contact", contact.id, person_id, source="email_match")
                found[person_id] = contact.id
        return found

    def _linked_hubspot_objects(self, salesforce_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """Salesforce id -> (HubSpot object type, id) for the ids the links name (one batch read)."""
        links = self._links.by_salesforce_ids(i for i in salesforce_ids if i)
        return {sf_id: (link.hubspot_object_type, link.hubspot_id) for sf_id, link in links.items()}

    def _fail(self, item: _Pending, reason: str, outcome: WriteResult, result: BatchResult) -> None:
        target = result.retry if TRANSIENT_HUBSPOT_ERRORS & set(outcome.error_codes) else result.dead
        for message_id in item.message_ids:
            target[message_id] = reason


def _notified_modstamp_is(notified: Mapping[str, Any], stored: object) -> bool:
    """Whether a notification's SystemModstamp is the instant a link stored (``same_version``);
    False when the notification has none or an unreadable one."""
    try:
        modified_at = parse_salesforce_datetime(notified.get("SystemModstamp"))
    except ValueError:
        return False
    return same_version(stored, modified_at)
