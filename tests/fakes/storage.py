"""In-memory stand-ins for the storage ports (``activity_sync.ports.storage``), for use-case tests
that run in milliseconds. ``tests/contract/test_storage_ports.py`` runs one suite of tests on these
and on the DynamoDB adapters (on moto), so that a fake cannot drift from what the tables do."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from activity_sync.batching import chunks
from activity_sync.domain import SyncType, TypeSettings
from activity_sync.ports import (
    ALLOCATION_SETTINGS,
    DeadLetterEntry,
    GlobalSettings,
    Link,
    SkippedActivity,
    SkippedEntry,
    StorageRefused,
    StoredLink,
    WaitingActivity,
    WaitingEntry,
    hubspot_key,
    newest_contact_reads,
    read_instant,
    salesforce_key,
)

TRANSACTION_ITEMS = 100  # as DynamoDB's TransactWriteItems: a chunk's conditions hold together


class Clock:
    """A clock that never gives the same instant twice (DynamoDB's writes are told apart by it)."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self._ticks = itertools.count()
        self._start = start or dt.datetime(2026, 12, 1, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self._start + dt.timedelta(microseconds=next(self._ticks))


class InMemoryLinks:
    """``LinkStore``: each link under its HubSpot key and its mirror. ``refuse`` names keys the
    store refuses for good (as DynamoDB refuses an item too large), after writing the others."""

    def __init__(self, clock: Callable[[], dt.datetime] | None = None, refuse: Iterable[str] = ()) -> None:
        self.items: dict[str, StoredLink] = {}
        self._read_at: dict[str, dt.datetime] = {}
        self._clock = clock or Clock()
        self.refuse = set(refuse)
        self.writes = 0  # write requests, as a batch counts them (one per call that writes)

    def links(self, object_type: str, hubspot_ids: Iterable[str]) -> dict[str, StoredLink]:
        found = (self.items.get(hubspot_key(object_type, i)) for i in hubspot_ids)
        return {link.hubspot_id: link for link in found if link is not None}

    def by_salesforce_ids(self, salesforce_ids: Iterable[str]) -> dict[str, StoredLink]:
        found = (self.items.get(salesforce_key(i)) for i in salesforce_ids if i)
        return {link.salesforce_id: link for link in found if link is not None}

    def by_salesforce_id(self, salesforce_id: str) -> StoredLink | None:
        return self.by_salesforce_ids([salesforce_id]).get(salesforce_id)

    def save(self, links: Iterable[Link], stored: Mapping[str, StoredLink] | None = None) -> int:
        now = self._clock()
        latest: dict[str, StoredLink] = {}
        written: set[str] = set()
        for link in links:
            if stored is not None and link.same_as(stored.get(link.hubspot_id)):
                continue
            forward = hubspot_key(link.object_type, link.hubspot_id)
            side = StoredLink(
                key=forward,
                salesforce_id=link.salesforce_id,
                source=link.source,
                fingerprint=link.fingerprint,
                written_side=link.written_side,
                details=dict(link.details) if link.details else None,
                contact=dict(link.contact) if link.contact else None,
                updated_at=now,
            )
            mirror = salesforce_key(link.salesforce_id)
            for key, item in ((forward, side), (mirror, replace(side, key=mirror, hubspot_pk=forward))):
                latest.pop(key, None)
                latest[key] = item
            written.add(forward)
        self._write(latest)
        return len(written)

    def _write(self, items: Mapping[str, StoredLink | None]) -> None:
        if items:
            self.writes += 1
        refused = [key for key in items if key in self.refuse]
        for key, item in items.items():
            if key in self.refuse:
                continue
            if item is None:
                self.items.pop(key, None)
                self._read_at.pop(key, None)
                continue
            self.items[key] = item
            read_at = read_instant(item.contact) if item.contact else None
            if read_at is not None:
                self._read_at[key] = read_at
            else:
                self._read_at.pop(key, None)
        if refused:
            raise StorageRefused("links", [(key, None) for key in refused], "ValidationException: refused")

    def link_if_absent(self, object_type: str, hubspot_id: str, salesforce_id: str, *, source: str) -> bool:
        forward = hubspot_key(object_type, hubspot_id)
        if forward in self.items:
            return False
        self.items[forward] = StoredLink(forward, salesforce_id, source=source, updated_at=self._clock())
        mirror = salesforce_key(salesforce_id)
        self.items[mirror] = StoredLink(mirror, salesforce_id, hubspot_pk=forward, source=source)
        return True

    def refresh_contacts(self, refreshed: Sequence[tuple[StoredLink, Mapping[str, Any]]]) -> int:
        stored = 0
        for chunk in chunks(newest_contact_reads(refreshed), TRANSACTION_ITEMS):
            if all(self._may_refresh(link, contact) for link, contact in chunk):
                for link, contact in chunk:
                    self.items[link.key] = replace(self.items[link.key], contact=dict(contact))
                    self._read_at[link.key] = read_instant(contact) or self._clock()
                stored += len(chunk)
        return stored

    def _may_refresh(self, link: StoredLink, contact: Mapping[str, Any]) -> bool:
        read_at = read_instant(contact)
        if read_at is None:
            raise ValueError(f"a contact read needs its read_at: {dict(contact)}")
        current = self.items.get(link.key)
        if current is None or current.updated_at != link.updated_at:
            return False
        kept = self._read_at.get(link.key)
        return kept is None or kept < read_at

    def unlink(self, links: Iterable[StoredLink]) -> None:
        self._write(
            {key: None for link in links for key in (link.hubspot_key, salesforce_key(link.salesforce_id))}
        )


class InMemorySettings:
    """``SettingsStore``: missing items read as the defaults (switch off)."""

    def __init__(self) -> None:
        self.types: dict[str, TypeSettings] = {}
        self.global_ = GlobalSettings()
        self.override_items: dict[str, dict[str, str]] = {"owner": {}, "contact": {}}

    def type_settings(self, sync_type: SyncType, *, fresh: bool = False) -> TypeSettings:
        return self.types.get(sync_type.key, TypeSettings())

    def all_type_settings(self, *, fresh: bool = False) -> dict[str, TypeSettings]:
        return dict(self.types)

    def global_settings(self, *, fresh: bool = False) -> GlobalSettings:
        return self.global_

    def integration_user_id(self) -> str | None:
        return self.global_.integration_user_id

    def sync_deletions(self) -> bool:
        return self.global_.sync_deletions

    def overrides(self, kind: str) -> dict[str, str]:
        return dict(self.override_items.get(kind, {}))

    def invalidate(self) -> None:
        return None

    def save_type_settings(self, sync_type: SyncType, settings: TypeSettings, *, by: str) -> None:
        self.types[sync_type.key] = settings

    def set_integration_user_id(self, user_id: str) -> None:
        self.global_ = replace(self.global_, integration_user_id=user_id)

    def set_sync_deletions(self, on: bool) -> None:
        self.global_ = replace(self.global_, sync_deletions=on)

    def set_allocation(self, name: str, value: int | None) -> None:
        if name not in ALLOCATION_SETTINGS:
            raise ValueError(f"unknown allocation setting {name!r}")
        if value is not None and value < 0:
            raise ValueError(f"{name} cannot be negative")
        changes: dict[str, Any] = {name: value}
        self.global_ = replace(self.global_, **changes)

    def remember_salesforce_api_user(self, user_id: str) -> None:
        self.global_ = replace(self.global_, salesforce_api_user_id=user_id)

    def set_override(self, kind: str, hubspot_id: str, salesforce_id: str, note: str | None = None) -> None:
        self.override_items.setdefault(kind, {})[hubspot_id] = salesforce_id

    def delete_override(self, kind: str, hubspot_id: str) -> None:
        self.override_items.get(kind, {}).pop(hubspot_id, None)


@dataclass
class _Parked:
    message: Mapping[str, Any]
    reason: str | None
    updated_at: dt.datetime


class InMemorySyncState:
    """``SyncStateStore``. ``refuse`` names activity ids whose parking is refused for good (as
    DynamoDB refuses an item too large), after the others are parked."""

    def __init__(self, clock: Callable[[], dt.datetime] | None = None, refuse: Iterable[str] = ()) -> None:
        self._clock = clock or Clock()
        self.marks: dict[str, str] = {}
        self.parked: dict[tuple[str, str], _Parked] = {}  # (contact id, key) -> parking
        self.figures: dict[tuple[str, str], int] = {}  # (sync key, "day#label") -> n
        self.shared_values: dict[str, tuple[dt.datetime, Any]] = {}
        self.dead: dict[tuple[str, str], DeadLetterEntry] = {}  # (sync key, record#digest) -> entry
        self.skips: dict[tuple[str, str], SkippedActivity] = {}  # (sync key, activity id) -> skip
        self.skip_writes = 0  # batch writes of skips (one per batch, never per record)
        self.refuse = set(refuse)

    def remember_skipped(self, entries: Iterable[SkippedEntry]) -> None:
        entries = list(entries)
        if not entries:
            return
        self.skip_writes += 1
        now = self._clock()
        refused: list[tuple[str, str | None]] = []
        for sync_type, activity_id, message, reason in entries:
            if activity_id in self.refuse:
                refused.append((f"skipped#{sync_type.key}", activity_id))
                continue
            self.skips[(sync_type.key, activity_id)] = SkippedActivity(
                sync_type.key, activity_id, dict(message), reason, now
            )
        if refused:
            raise StorageRefused("sync state", refused, "ValidationException: refused")

    def skipped(self, sync_type: SyncType, activity_id: str) -> SkippedActivity | None:
        return self.skips.get((sync_type.key, activity_id))

    def watermark(self, name: str) -> str | None:
        return self.marks.get(name)

    def watermarks(self) -> dict[str, str]:
        return dict(self.marks)

    def set_watermark(self, name: str, value: str) -> None:
        self.marks[name] = value

    def set_watermarks(self, values: Mapping[str, str]) -> None:
        self.marks.update(values)

    def add_waiting_many(self, entries: Iterable[WaitingEntry]) -> None:
        now = self._clock()
        refused: list[tuple[str, str | None]] = []
        for contact_ids, sync_type, activity_id, message, reason in entries:
            for contact_id in contact_ids:
                key = f"{sync_type.key}#{activity_id}"
                if activity_id in self.refuse:
                    refused.append((f"waiting#{contact_id}", key))
                    continue
                self.parked[(contact_id, key)] = _Parked(dict(message), reason, now)
        if refused:
            raise StorageRefused("sync state", list(dict.fromkeys(refused)), "ValidationException: refused")

    def waiting_for(self, hubspot_contact_id: str) -> list[WaitingActivity]:
        return self.waiting_page(hubspot_contact_id, None, len(self.parked) + 1)

    def waiting_page(self, hubspot_contact_id: str, after: str | None, limit: int) -> list[WaitingActivity]:
        keys = sorted(key for contact, key in self.parked if contact == hubspot_contact_id)
        keys = [key for key in keys if after is None or key > after][:limit]
        return [self._waiting(hubspot_contact_id, key) for key in keys]

    def _waiting(self, contact_id: str, key: str) -> WaitingActivity:
        parked = self.parked[(contact_id, key)]
        return WaitingActivity(contact_id, key, dict(parked.message), parked.reason, parked.updated_at)

    def remove_waiting(self, items: Iterable[WaitingActivity]) -> None:
        for item in items:
            self.parked.pop((item.contact_id, item.key), None)

    def remove_waiting_unless_parked_again(self, items: Sequence[WaitingActivity]) -> int:
        removed = 0
        for item in items:
            parked = self.parked.get((item.contact_id, item.key))
            if parked is not None and parked.updated_at == item.updated_at:
                del self.parked[(item.contact_id, item.key)]
                removed += 1
        return removed

    def count_outcomes(
        self, sync_type: SyncType, tallies: Mapping[tuple[str, str | None], int], day: dt.date | None = None
    ) -> None:
        day = day or self._clock().date()
        for (status, reason), n in tallies.items():
            if n > 0:
                label = status if reason is None else f"{status}:{reason}"
                key = (sync_type.key, f"{day.isoformat()}#{label}")
                self.figures[key] = self.figures.get(key, 0) + n

    def outcome_figures(self, sync_type: SyncType, since: dt.date | None = None) -> dict[str, int]:
        totals: dict[str, int] = {}
        for (sync_key, dated), n in self.figures.items():
            if sync_key == sync_type.key and (since is None or dated >= since.isoformat()):
                label = dated.split("#", 1)[1]
                totals[label] = totals.get(label, 0) + n
        return totals

    def shared(self, name: str) -> tuple[dt.datetime, Any] | None:
        return self.shared_values.get(name)

    def save_shared(self, name: str, payload: Any, keep: dt.timedelta) -> None:
        self.shared_values[name] = (self._clock(), payload)

    def forget_shared(self, name: str) -> None:
        self.shared_values.pop(name, None)

    def claim_dead_letter(self, sync_key: str, object_id: str, reason: str, body: str) -> bool:
        digest = hashlib.sha256(reason.encode()).hexdigest()[:16]
        key = (sync_key, f"{object_id}#{digest}")
        if key in self.dead:
            return False
        self.dead[key] = DeadLetterEntry(sync_key, object_id, reason[:1000], body[:4000], self._clock())
        return True

    def dead_letters(self, sync_key: str) -> Iterator[DeadLetterEntry]:
        return iter([entry for (key, _), entry in sorted(self.dead.items()) if key == sync_key])

    def release_dead_letters(self, sync_key: str, object_ids: Iterable[str]) -> int:
        wanted = set(object_ids)
        released = [
            key for key, entry in self.dead.items() if key[0] == sync_key and entry.record_id in wanted
        ]
        for key in released:
            del self.dead[key]
        return len(released)
