"""What changes rarely and every batch needs, kept for a while (R18): the owner map (R8) and the
HubSpot contacts activities are associated with (R4, R6, R7).

A linked contact is kept in its link, as last read (``StoredLink.contact``): the syncers read the
links of a batch's contacts anyway, so a recent read there costs them no HubSpot call. The contact
linker stores each read it makes - on every change of the properties the sync reads (email, the
Salesforce ids, the owner: one webhook subscription each) - and a syncer that had to read HubSpot
stores its read too, for the others. A read older than ``CONTACT_READ_SECONDS`` is not trusted: a
change whose webhook was lost reaches the Tasks within that time. Contacts not linked (not syncing)
are kept per container for a minute. Contacts whose activities were woken because they started to
sync are always read afresh.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from activity_sync.observability import logger
from activity_sync.ports import (
    HubSpotApi,
    HubSpotRecord,
    Link,
    LinkStore,
    SalesforceApi,
    SettingsStore,
    StoredLink,
    SyncStateStore,
    read_instant,
)
from activity_sync.rules.contact_choice import SalesforcePersonMatch, resolve_salesforce_person
from activity_sync.rules.hubspot_records import CONTACT_PROPERTIES
from activity_sync.rules.owner_mapping import OwnerMap, build_owner_map, normalize_email

OWNER_MAP_TTL_SECONDS = 600
SHARED_OWNER_MAP = "owner_map"
CONTACT_CACHE_SECONDS = 60
CONTACT_CACHE_SIZE = 20_000
# How long a contact as read (kept in its link) stands in for HubSpot: the poll schedule's default,
# the time within which the service catches what any lost webhook would have brought.
CONTACT_READ_SECONDS = 300
# What a contact link keeps of the contact: what R4 (email, Salesforce ids), R6 (created) and R7
# (owner) read.
CONTACT_READ_PROPERTIES = (
    "email",
    "createdate",
    "hubspot_owner_id",
    "salesforcecontactid",
    "salesforceleadid",
)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def current_person(
    override: str | None, properties: Mapping[str, str | None], link: StoredLink | None
) -> SalesforcePersonMatch | None:
    """R4's person for a contact, freshest source first: a manual override, then HubSpot's own
    Salesforce id properties (they follow lead conversions and merges), then the link the
    service stored (an earlier email match)."""
    return resolve_salesforce_person(
        override, properties.get("salesforcecontactid"), properties.get("salesforceleadid")
    ) or (resolve_salesforce_person(link.salesforce_id, None, None) if link else None)


def contact_link(
    record: HubSpotRecord, match: SalesforcePersonMatch, read_at: dt.datetime | None = None
) -> Link:
    """The link of a HubSpot contact to its Salesforce person, remembering what R4 read and, when
    ``read_at`` says when the record was read, the contact itself."""
    return Link(
        "contact",
        record.id,
        match.person_id,
        match.source.value,
        details=contact_link_details(record),
        contact=contact_as_read(record, read_at) if read_at is not None else None,
    )


def contact_as_read(record: HubSpotRecord, read_at: dt.datetime) -> dict[str, str | None]:
    """What a contact link keeps of a contact read at ``read_at``."""
    kept: dict[str, str | None] = {
        name: record.properties.get(name) or None for name in CONTACT_READ_PROPERTIES
    }
    if kept["createdate"] is None and record.created_at is not None:
        kept["createdate"] = record.created_at.isoformat()
    kept["read_at"] = read_at.astimezone(dt.UTC).isoformat()
    return kept


def contact_from_link(
    link: StoredLink, now: dt.datetime, max_age_seconds: float = CONTACT_READ_SECONDS
) -> HubSpotRecord | None:
    """The contact as its link keeps it, while that read is recent enough to stand in for HubSpot."""
    kept: Mapping[str, Any] = link.contact or {}
    read_at = read_instant(kept)
    if read_at is None or not kept.get("createdate"):
        return None
    if not 0 <= (now - read_at).total_seconds() < max_age_seconds:
        return None
    return HubSpotRecord(link.hubspot_id, {name: kept.get(name) for name in CONTACT_READ_PROPERTIES})


def contact_link_details(record: HubSpotRecord) -> dict[str, str | None]:
    """What a contact's link remembers of it, to tell a change that matters to R4 (its email, its
    Salesforce id properties) from one that does not (a marketing roll-up, a phone number)."""
    props = record.properties
    return {
        "email": normalize_email(props.get("email")),
        "salesforcecontactid": props.get("salesforcecontactid") or None,
        "salesforceleadid": props.get("salesforceleadid") or None,
    }


class OwnerDirectory:
    """The R8 owner map, built from HubSpot owners and active Salesforce users (three calls) and
    kept for ten minutes - in this container and, through the sync state table, in every other:
    whichever container needs it first builds it, the others read it (one GetItem), so the
    vendors see one build per ten minutes for the whole stack, not one per container. Overrides
    are re-read with each build. Each build is also written to the links table
    (``hubspot#owner#<id>``), where operators can see who maps to whom."""

    def __init__(
        self,
        hubspot: Callable[[], HubSpotApi],
        salesforce: Callable[[], SalesforceApi],
        settings: SettingsStore,
        links: LinkStore | None = None,
        state: SyncStateStore | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Callables: the current clients, so a rotated credential is used at the next build.
        self._hubspot = hubspot
        self._salesforce = salesforce
        self._settings = settings
        self._links = links
        self._state = state
        self._clock = clock
        self._map: OwnerMap | None = None
        self._built_at = 0.0

    def current(self) -> OwnerMap:
        if self._map is None or self._clock() - self._built_at > OWNER_MAP_TTL_SECONDS:
            shared = self._shared()
            if shared is not None:
                self._map, age = shared
                self._built_at = self._clock() - age  # it expires here when it does for everyone
                return self._map
            overrides = self._settings.overrides("owner")
            self._map = build_owner_map(
                self._hubspot().owners(), self._salesforce().active_users(), overrides
            )
            for note in self._map.notes:
                logger.info("owner mapping", extra={"note": note.message, "kind": note.kind})
            self._built_at = self._clock()
            if self._state is not None:
                self._state.save_shared(
                    SHARED_OWNER_MAP,
                    {
                        "to_salesforce": dict(self._map.to_salesforce),
                        "to_hubspot": dict(self._map.to_hubspot),
                    },
                    keep=dt.timedelta(seconds=2 * OWNER_MAP_TTL_SECONDS),
                )
            if self._links is not None:
                self._store(self._links, self._map, overrides)
        return self._map

    def _shared(self) -> tuple[OwnerMap, float] | None:
        """The map another container built less than ten minutes ago, and its age in seconds."""
        stored = self._state.shared(SHARED_OWNER_MAP) if self._state is not None else None
        if stored is None:
            return None
        built_at, payload = stored
        age = (dt.datetime.now(dt.UTC) - built_at).total_seconds()
        if not 0 <= age < OWNER_MAP_TTL_SECONDS or not isinstance(payload, dict):
            return None
        return OwnerMap(dict(payload.get("to_salesforce") or {}), dict(payload.get("to_hubspot") or {})), age

    @staticmethod
    def _store(links: LinkStore, owner_map: OwnerMap, overrides: Mapping[str, str]) -> None:
        """Write the links that changed since the last build (one read, one batch write)."""
        stored = links.links("owner", list(owner_map.to_salesforce))
        links.save(
            (
                Link("owner", owner_id, user_id, "override" if owner_id in overrides else "email")
                for owner_id, user_id in owner_map.to_salesforce.items()
            ),
            stored,
        )


class ContactDirectory:
    """HubSpot contacts by id: from their links while the read kept there is recent, else read in
    batches (100 a call) and kept ``ttl_seconds`` in this container; what it had to read for a
    linked contact goes back into the link, for every container (one transaction a batch)."""

    def __init__(
        self,
        hubspot: Callable[[], HubSpotApi],
        ttl_seconds: float = CONTACT_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        max_size: int = CONTACT_CACHE_SIZE,
        links: LinkStore | None = None,
        now: Callable[[], dt.datetime] = utcnow,
        read_seconds: float = CONTACT_READ_SECONDS,
    ) -> None:
        self._hubspot = hubspot
        self._ttl = ttl_seconds
        self._clock = clock
        self._max_size = max_size
        self._links = links
        self._now = now
        self._read_seconds = read_seconds
        # contact id -> (clock at the read, instant of the read, the record)
        self._cache: dict[str, tuple[float, dt.datetime, HubSpotRecord]] = {}
        # contact id -> when what the last ``read`` returned for it was read
        self._read_at: dict[str, dt.datetime] = {}

    def read(
        self,
        contact_ids: Sequence[str],
        *,
        fresh: Iterable[str] = (),
        links: Mapping[str, StoredLink] | None = None,
    ) -> dict[str, HubSpotRecord]:
        """The contacts that exist among ``contact_ids``; those in ``fresh`` are read again.
        ``links``: the contacts' links as just read (contact id -> item). Only contacts found are
        kept: one created a moment later is found by the next batch."""
        bypass = set(fresh)
        wanted = list(dict.fromkeys(contact_ids))
        known = links or {}
        now = self._now()
        found: dict[str, HubSpotRecord] = {}
        if len(self._read_at) > self._max_size:
            self._read_at.clear()
        for contact_id in wanted:
            link = known.get(contact_id)
            if contact_id not in bypass and link is not None:
                kept = contact_from_link(link, now, self._read_seconds)
                if kept is not None:
                    found[contact_id] = kept
                    self._read_at[contact_id] = read_instant(link.contact or {}) or now
        read = self._read_or_cached([c for c in wanted if c not in found], bypass)
        newer = [
            (known[contact_id], contact_as_read(record, read_at))
            for contact_id, (read_at, record) in read.items()
            if contact_id in known and _newer(read_at, known[contact_id])
        ]
        if newer and self._links is not None:
            self._links.refresh_contacts(newer)
        for contact_id, (read_at, record) in read.items():
            found[contact_id] = record
            self._read_at[contact_id] = read_at
        return {c: found[c] for c in wanted if c in found}

    def read_at(self, contact_id: str) -> dt.datetime | None:
        """When the record ``read`` last returned for ``contact_id`` was read from HubSpot."""
        return self._read_at.get(contact_id)

    def _read_or_cached(
        self, contact_ids: list[str], bypass: set[str]
    ) -> dict[str, tuple[dt.datetime, HubSpotRecord]]:
        clock = self._clock()
        missing = [
            c
            for c in contact_ids
            if c in bypass or c not in self._cache or clock - self._cache[c][0] >= self._ttl
        ]
        if missing:
            found = self._hubspot().read_objects("contacts", missing, CONTACT_PROPERTIES)
            read_at = self._now()
            if len(self._cache) + len(found) > self._max_size:
                self._cache.clear()  # simple bound: a container that sees this many people starts over
                self._read_at.clear()
            for contact_id in missing:
                if contact_id in found:
                    self._cache[contact_id] = (clock, read_at, found[contact_id])
                else:
                    self._cache.pop(contact_id, None)
        return {c: self._cache[c][1:] for c in contact_ids if c in self._cache}

    def forget(self, contact_ids: Iterable[str]) -> None:
        for contact_id in contact_ids:
            self._cache.pop(contact_id, None)
            self._read_at.pop(contact_id, None)


def _newer(read_at: dt.datetime, link: StoredLink) -> bool:
    """Whether a read at ``read_at`` is newer than the one ``link`` keeps."""
    kept = read_instant(link.contact or {})
    return kept is None or read_at > kept
