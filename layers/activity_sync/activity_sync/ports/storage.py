"""What the service keeps, as the use cases see it: links, settings and sync state (three DynamoDB
tables in ``activity_sync.adapters.dynamodb``; in-memory fakes in the tests, held to the same
contract). Only plain values cross these ports - no storage item does.

Every method is batch-first: a batch of records costs one storage request (or one per the
storage's own page size), never one per record (R18).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from activity_sync.domain import SyncType, TypeSettings
from activity_sync.rules.echo import WrittenVersion, parse_salesforce_datetime


class StorageRefused(RuntimeError):
    """The storage refused items for a reason that retrying cannot change (DynamoDB's
    ``ValidationException``: an item too large, a key twice in one request...): a bug to log loudly,
    not a passing fault. Every other item of the same write was written; ``keys`` names the refused
    ones as (hash key, range key or None), so a use case fails only the records that depend on them."""

    def __init__(self, table: str, keys: Sequence[tuple[str, str | None]], cause: str) -> None:
        super().__init__(f"DynamoDB refused {len(keys)} item(s) of {table}: {cause}")
        self.table = table
        self.keys = tuple(keys)
        self.cause = cause


# ------------------------------------------------------------------------------------------ links


def hubspot_key(object_type: str, object_id: str) -> str:
    """The key of a link's HubSpot side: ``hubspot#<object type>#<id>``."""
    return f"hubspot#{object_type}#{object_id}"


def salesforce_key(salesforce_id: str) -> str:
    """The key of a link's Salesforce side (its mirror): ``salesforce#<18-character id>``."""
    return f"salesforce#{salesforce_id}"


def read_instant(contact: Mapping[str, Any]) -> dt.datetime | None:
    """The instant a kept contact read was made (its ``read_at``), None when it has none."""
    try:
        moment = dt.datetime.fromisoformat(str(contact.get("read_at") or ""))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def newest_contact_reads(
    refreshed: Sequence[tuple[StoredLink, Mapping[str, Any]]],
) -> list[tuple[StoredLink, Mapping[str, Any]]]:
    """Of several reads of one linked contact, the newest (by ``read_at``): a store keeps one read
    per link and a transaction may not name one item twice."""
    oldest = dt.datetime.min.replace(tzinfo=dt.UTC)
    newest: dict[str, tuple[StoredLink, Mapping[str, Any]]] = {}
    for link, contact in refreshed:
        kept = newest.get(link.key)
        if kept is None or (read_instant(contact) or oldest) >= (read_instant(kept[1]) or oldest):
            newest[link.key] = (link, contact)
    return list(newest.values())


@dataclass(frozen=True)
class Link:
    """A link to write: the HubSpot record (``object_type``, ``hubspot_id``) and its twin."""

    object_type: str
    hubspot_id: str
    salesforce_id: str
    source: str
    fingerprint: str | None = None
    written_side: str | None = None
    details: Mapping[str, Any] | None = None
    contact: Mapping[str, Any] | None = None  # a contact link's contact as read (StoredLink.contact)

    def same_as(self, stored: StoredLink | None) -> bool:
        """Whether ``stored`` already says all this (then writing it again is a wasted write). A
        contact read it carries is not compared: reads are kept by ``refresh_contacts``."""
        return (
            stored is not None
            and stored.salesforce_id == self.salesforce_id
            and stored.fingerprint == self.fingerprint
            and stored.written_side == self.written_side
            and (stored.details or None) == (dict(self.details) if self.details else None)
        )


@dataclass(frozen=True)
class StoredLink:
    """A link as stored, read from either side: ``key`` is the side it was read by
    (``hubspot#<object>#<id>``, or the mirror ``salesforce#<id>``), ``hubspot_pk`` names the
    HubSpot side on a mirror. ``updated_at`` is when the link was last written (a condition for
    keeping a newer contact read in it)."""

    key: str
    salesforce_id: str
    hubspot_pk: str | None = None
    source: str | None = None  # how the link was found: link, property, email, manual, sync
    fingerprint: str | None = None  # of what the service last wrote (R14 echo check)
    written_side: str | None = None  # which side the service wrote last: hubspot|salesforce
    details: Mapping[str, Any] | None = None
    # Contact links only: the contact as last read from HubSpot, with when (``read_at``), which the
    # syncers use instead of reading it again while it is recent (usecases.directories).
    contact: Mapping[str, Any] | None = None
    updated_at: dt.datetime | None = None

    @property
    def hubspot_key(self) -> str:
        return self.hubspot_pk or self.key

    @property
    def hubspot_object_type(self) -> str:
        return self.hubspot_key.split("#", 2)[1]

    @property
    def hubspot_id(self) -> str:
        return self.hubspot_key.split("#", 2)[2]

    def hubspot_original_write(self) -> WrittenVersion | None:
        """What the service last wrote on a HubSpot original (a HubSpot task whose Salesforce Task
        a rep edited: ``details["hubspot_write"]``), None when it never wrote there (R14)."""
        written: Mapping[str, Any] = (self.details or {}).get("hubspot_write") or {}
        if not written.get("fingerprint"):
            return None
        return WrittenVersion(fingerprint=str(written["fingerprint"]), field_names=tuple(written["fields"]))

    def with_details(self, **changes: Any) -> Link:
        """This link to save again, its details changed by ``changes``."""
        return Link(
            self.hubspot_object_type,
            self.hubspot_id,
            self.salesforce_id,
            self.source or "sync",
            self.fingerprint,
            self.written_side,
            {**(self.details or {}), **changes},
            self.contact,
        )

    def written_version(self, side: str) -> WrittenVersion | None:
        """What the service last wrote on ``side`` (``hubspot`` or ``salesforce``) for this link,
        as the echo rules (R14) want it; None when it wrote nothing there."""
        if self.written_side != side or not self.fingerprint:
            return None
        details: Mapping[str, Any] = self.details or {}
        modstamp = details.get("modstamp")
        return WrittenVersion(
            fingerprint=self.fingerprint,
            field_names=tuple(details.get("fields", ())),
            modified_at=parse_salesforce_datetime(modstamp) if modstamp else None,
        )


class LinkStore(Protocol):
    """HubSpot id <-> Salesforce id, both ways, a batch at a time."""

    def links(self, object_type: str, hubspot_ids: Iterable[str]) -> dict[str, StoredLink]:
        """HubSpot id -> its link, for those that have one."""
        ...

    def by_salesforce_ids(self, salesforce_ids: Iterable[str]) -> dict[str, StoredLink]:
        """Salesforce id -> the link naming it (its mirror), for those that have one."""
        ...

    def by_salesforce_id(self, salesforce_id: str) -> StoredLink | None: ...

    def save(self, links: Iterable[Link], stored: Mapping[str, StoredLink] | None = None) -> int:
        """Write each link and its mirror; a link that ``stored`` (HubSpot id -> link, as read
        before) already holds is not written again, and a link named twice is written once, as it
        is the last time. Returns how many links were written. ``StorageRefused`` names the links
        refused for good once every other one is written."""
        ...

    def link_if_absent(self, object_type: str, hubspot_id: str, salesforce_id: str, *, source: str) -> bool:
        """Link only a record that has no link yet (a weaker match never replaces a stronger
        one); True when written."""
        ...

    def refresh_contacts(self, refreshed: Sequence[tuple[StoredLink, Mapping[str, Any]]]) -> int:
        """Keep newer reads of linked contacts (``contact["read_at"]`` an ISO instant) in their
        links, unless the link was rewritten since it was read or holds a newer read already; of
        two reads of one contact the newer goes. Returns how many were kept."""
        ...

    def unlink(self, links: Iterable[StoredLink]) -> None:
        """End these links: both sides of each pair."""
        ...


# --------------------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class GlobalSettings:
    integration_user_id: str | None = None
    sync_deletions: bool = False
    salesforce_daily_allocation: int | None = None
    hubspot_daily_allocation: int | None = None
    hubspot_requests_per_10s: int | None = None
    hubspot_searches_per_second: int | None = None
    salesforce_api_user_id: str | None = None


ALLOCATION_SETTINGS = frozenset(
    {
        "salesforce_daily_allocation",
        "hubspot_daily_allocation",
        "hubspot_requests_per_10s",
        "hubspot_searches_per_second",
    }
)


class SettingsStore(Protocol):
    """The switches, task types and templates of each sync type, the global settings and the
    manual overrides. Missing items read as the defaults (switch off). Reads may come from a copy
    kept a few seconds (S3); ``fresh=True`` reads the table again first."""

    def type_settings(self, sync_type: SyncType, *, fresh: bool = False) -> TypeSettings: ...

    def all_type_settings(self, *, fresh: bool = False) -> dict[str, TypeSettings]: ...

    def global_settings(self, *, fresh: bool = False) -> GlobalSettings: ...

    def integration_user_id(self) -> str | None: ...

    def sync_deletions(self) -> bool: ...

    def overrides(self, kind: str) -> dict[str, str]:
        """Manual overrides of one kind (``owner`` or ``contact``): HubSpot id -> Salesforce id."""
        ...

    def invalidate(self) -> None: ...

    def save_type_settings(self, sync_type: SyncType, settings: TypeSettings, *, by: str) -> None: ...

    def set_integration_user_id(self, user_id: str) -> None: ...

    def set_sync_deletions(self, on: bool) -> None: ...

    def set_allocation(self, name: str, value: int | None) -> None:
        """One of ``ALLOCATION_SETTINGS``; None removes it. ValueError for another name or a
        negative value."""
        ...

    def remember_salesforce_api_user(self, user_id: str) -> None: ...

    def set_override(
        self, kind: str, hubspot_id: str, salesforce_id: str, note: str | None = None
    ) -> None: ...

    def delete_override(self, kind: str, hubspot_id: str) -> None: ...


# ------------------------------------------------------------------------------------ sync state


@dataclass(frozen=True)
class WaitingActivity:
    """An activity parked under one of its contacts (R4) until that contact syncs: ``key`` is
    ``<sync type key>#<activity id>``, ``message`` the change to queue again when it wakes, and
    ``updated_at`` when it was parked (so that a wake never removes a newer parking)."""

    contact_id: str
    key: str
    message: Mapping[str, Any]
    reason: str | None = None
    updated_at: dt.datetime | None = None

    @property
    def sync_key(self) -> str:
        return self.key.rpartition("#")[0]

    @property
    def activity_id(self) -> str:
        return self.key.rpartition("#")[2]


@dataclass(frozen=True)
class DeadLetterEntry:
    """A record dead-lettered for a reason (one entry per record and reason, while its dead letter
    waits in the queue): ``record_id`` as the message named it, the reason and the message body."""

    sync_key: str
    record_id: str
    reason: str
    body: str
    failed_at: dt.datetime | None = None


WaitingEntry = tuple[Sequence[str], SyncType, str, Mapping[str, Any], str]
"""(contact ids, sync type, activity id, the message to queue again, reason) - one parking."""

SkippedEntry = tuple[SyncType, str, Mapping[str, Any], str]
"""(sync type, activity id, its message, reason) - a final decision on a posted activity."""


@dataclass(frozen=True)
class SkippedActivity:
    """A posted activity (no read API: HubSpot cannot be asked about it again) a syncer skipped
    for good, with the message it came in and when: what ``explain`` tells of it later."""

    sync_type_key: str
    activity_id: str
    message: Mapping[str, Any]
    reason: str
    decided_at: dt.datetime | None = None


class SyncStateStore(Protocol):
    """Poll watermarks, activities waiting for their contact (R4), outcome figures (R16), values
    every container shares, and the dead letters already sent."""

    def watermark(self, name: str) -> str | None: ...

    def watermarks(self) -> dict[str, str]:
        """Every watermark, read at once (strongly consistent)."""
        ...

    def set_watermark(self, name: str, value: str) -> None: ...

    def set_watermarks(self, values: Mapping[str, str]) -> None: ...

    def add_waiting_many(self, entries: Iterable[WaitingEntry]) -> None:
        """Park activities, each under each of its contacts (whichever syncs first wakes it). An
        activity parked twice under one contact is one entry: the later one's. ``StorageRefused``
        names those refused for good once every other one is parked."""
        ...

    def waiting_for(self, hubspot_contact_id: str) -> list[WaitingActivity]: ...

    def waiting_page(self, hubspot_contact_id: str, after: str | None, limit: int) -> list[WaitingActivity]:
        """Up to ``limit`` activities waiting under one contact id, in key order after the key
        ``after`` (a cursor)."""
        ...

    def remove_waiting(self, items: Iterable[WaitingActivity]) -> None: ...

    def remove_waiting_unless_parked_again(self, items: Sequence[WaitingActivity]) -> int:
        """Remove each one unless it was parked again since it was read; returns how many were."""
        ...

    def remember_skipped(self, entries: Iterable[SkippedEntry]) -> None:
        """Keep what was decided on posted activities skipped for good (one batch write; kept
        for weeks, not forever). An activity named twice is one entry: the later one's."""
        ...

    def skipped(self, sync_type: SyncType, activity_id: str) -> SkippedActivity | None:
        """The posted activity's skip, while it is kept."""
        ...

    def count_outcomes(
        self, sync_type: SyncType, tallies: Mapping[tuple[str, str | None], int], day: dt.date | None = None
    ) -> None:
        """Add a batch's figures (status, reason) -> n to the per-type, per-day counters."""
        ...

    def outcome_figures(self, sync_type: SyncType, since: dt.date | None = None) -> dict[str, int]:
        """Outcome label (``status`` or ``status:reason``) -> total since ``since`` (all days)."""
        ...

    def shared(self, name: str) -> tuple[dt.datetime, Any] | None:
        """A value a container stored for the others, with when it was stored."""
        ...

    def save_shared(self, name: str, payload: Any, keep: dt.timedelta) -> None: ...

    def forget_shared(self, name: str) -> None: ...

    def claim_dead_letter(self, sync_key: str, object_id: str, reason: str, body: str) -> bool:
        """Record that this record is dead-lettered for this reason; False when it already was."""
        ...

    def dead_letters(self, sync_key: str) -> Iterator[DeadLetterEntry]: ...

    def release_dead_letters(self, sync_key: str, object_ids: Iterable[str]) -> int:
        """Forget the dead letters of these records (they were re-driven); returns how many."""
        ...
