"""The settings table: one readable item per sync type (``pk`` = ``hubspot_to_salesforce#note``:
``enabled``, ``enabled_at``, ``task_type``, ``subject_template``...), the ``global`` item
(integration user, deletions, API allocations), and manual overrides
(``owner_override#<hubspot owner id>``, ``contact_override#<hubspot contact id>``). Read whole with
one Scan and kept for a few seconds per container (``SettingsRepository``): a batch never pays a
read for them."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.models import Model

from activity_sync.adapters.dynamodb.writes import aws_region, utcnow
from activity_sync.domain import EmailEventKind, SyncType, TypeSettings
from activity_sync.ports import ALLOCATION_SETTINGS, GlobalSettings


class TypeSettingsItem(Model):
    class Meta:
        table_name = os.environ.get("SETTINGS_TABLE", "activity-sync-settings")
        region = aws_region()

    pk = UnicodeAttribute(hash_key=True)
    enabled = BooleanAttribute(default=False)
    enabled_at = UTCDateTimeAttribute(null=True)
    disabled_at = UTCDateTimeAttribute(null=True)
    task_type = UnicodeAttribute(null=True)
    subject_template = UnicodeAttribute(null=True)
    email_subject_templates = MapAttribute[str, Any](null=True)  # type: ignore[no-untyped-call]
    updated_at = UTCDateTimeAttribute(null=True)
    updated_by = UnicodeAttribute(null=True)


class GlobalSettingsItem(Model):
    class Meta:
        table_name = TypeSettingsItem.Meta.table_name
        region = aws_region()

    pk = UnicodeAttribute(hash_key=True, default="global")
    integration_user_id = UnicodeAttribute(null=True)  # S4
    # Off by default: deleting a record on one side leaves its twin alone. On: the twin is deleted
    # (a Salesforce Task) or archived (a HubSpot activity) too.
    sync_deletions = BooleanAttribute(default=False)
    # The operator's allocations (calls per rolling 24 hours) and HubSpot's rates for this app;
    # absent means the vendor's own limits (adapters.budget).
    salesforce_daily_allocation = NumberAttribute(null=True)
    hubspot_daily_allocation = NumberAttribute(null=True)
    hubspot_requests_per_10s = NumberAttribute(null=True)
    hubspot_searches_per_second = NumberAttribute(null=True)
    # The Salesforce user the service signs in as, recorded by the functions that sign in, so that
    # the receiver (which holds no Salesforce credentials) can drop the service's own writes (R14).
    salesforce_api_user_id = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)


class OverrideItem(Model):
    """A manual link that wins over automatic matching: an owner -> user (R8) or a contact ->
    Contact/Lead (R4)."""

    class Meta:
        table_name = TypeSettingsItem.Meta.table_name
        region = aws_region()

    pk = UnicodeAttribute(hash_key=True)
    salesforce_id = UnicodeAttribute()
    note = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)


class SettingsRow(Model):
    """Any item of the settings table, for reading the whole table with one Scan."""

    class Meta:
        table_name = TypeSettingsItem.Meta.table_name
        region = aws_region()

    pk = UnicodeAttribute(hash_key=True)
    # type settings
    enabled = BooleanAttribute(null=True)
    enabled_at = UTCDateTimeAttribute(null=True)
    disabled_at = UTCDateTimeAttribute(null=True)
    task_type = UnicodeAttribute(null=True)
    subject_template = UnicodeAttribute(null=True)
    email_subject_templates = MapAttribute[str, Any](null=True)  # type: ignore[no-untyped-call]
    # the global item
    integration_user_id = UnicodeAttribute(null=True)
    sync_deletions = BooleanAttribute(null=True)
    salesforce_daily_allocation = NumberAttribute(null=True)
    hubspot_daily_allocation = NumberAttribute(null=True)
    hubspot_requests_per_10s = NumberAttribute(null=True)
    hubspot_searches_per_second = NumberAttribute(null=True)
    salesforce_api_user_id = UnicodeAttribute(null=True)
    # overrides
    salesforce_id = UnicodeAttribute(null=True)


# How long a container trusts its copy of the settings table: a switch, a task type, an override
# changed by the operator applies within this many seconds (S3), and a batch pays no read for them.
SETTINGS_CACHE_SECONDS = float(os.environ.get("ACTIVITY_SYNC_SETTINGS_CACHE_SECONDS", "10"))


@dataclass(frozen=True)
class _Snapshot:
    types: Mapping[str, TypeSettings] = field(default_factory=dict)
    global_settings: GlobalSettings = field(default_factory=GlobalSettings)
    overrides: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


def _type_settings(item: TypeSettingsItem | SettingsRow) -> TypeSettings:
    templates = dict(item.email_subject_templates or {})
    return TypeSettings(
        enabled=bool(item.enabled),
        enabled_at=item.enabled_at,
        disabled_at=item.disabled_at,
        task_type=item.task_type,
        subject_template=item.subject_template,
        email_subject_templates={EmailEventKind(k): str(v) for k, v in templates.items()},
    )


def _optional_int(value: float | None) -> int | None:
    return None if value is None else int(value)


def _global_settings(item: GlobalSettingsItem | SettingsRow) -> GlobalSettings:
    return GlobalSettings(
        integration_user_id=item.integration_user_id,
        sync_deletions=bool(item.sync_deletions),
        salesforce_daily_allocation=_optional_int(item.salesforce_daily_allocation),
        hubspot_daily_allocation=_optional_int(item.hubspot_daily_allocation),
        hubspot_requests_per_10s=_optional_int(item.hubspot_requests_per_10s),
        hubspot_searches_per_second=_optional_int(item.hubspot_searches_per_second),
        salesforce_api_user_id=item.salesforce_api_user_id,
    )


class SettingsRepository:
    """Reads and writes the settings items. Missing items read as the defaults (switch off).

    Reads come from a copy of the whole table, taken with one Scan and kept ``cache_seconds``;
    ``fresh=True`` takes a new copy first (a switch read as off is checked again before anything
    is set aside for it). Writes go straight to the table and drop the copy."""

    def __init__(
        self,
        cache_seconds: float = SETTINGS_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._snapshot: _Snapshot | None = None
        self._taken_at = 0.0

    # -- reading
    def _current(self, fresh: bool = False) -> _Snapshot:
        if fresh or self._snapshot is None or self._clock() - self._taken_at >= self._cache_seconds:
            self._snapshot = self._read_table()
            self._taken_at = self._clock()
        return self._snapshot

    def invalidate(self) -> None:
        self._snapshot = None

    @staticmethod
    def _read_table() -> _Snapshot:
        types: dict[str, TypeSettings] = {}
        overrides: dict[str, dict[str, str]] = {"owner": {}, "contact": {}}
        global_settings = GlobalSettings()
        for row in SettingsRow.scan(consistent_read=True):
            if row.pk == "global":
                global_settings = _global_settings(row)
            elif row.pk.startswith(("owner_override#", "contact_override#")):
                kind, _, hubspot_id = row.pk.partition("_override#")
                if row.salesforce_id:
                    overrides[kind][hubspot_id] = row.salesforce_id
            elif "#" in row.pk:
                types[row.pk] = _type_settings(row)
        return _Snapshot(types, global_settings, overrides)

    def type_settings(self, sync_type: SyncType, *, fresh: bool = False) -> TypeSettings:
        return self._current(fresh).types.get(sync_type.key, TypeSettings())

    def all_type_settings(self, *, fresh: bool = False) -> dict[str, TypeSettings]:
        return dict(self._current(fresh).types)

    def global_settings(self, *, fresh: bool = False) -> GlobalSettings:
        return self._current(fresh).global_settings

    def integration_user_id(self) -> str | None:
        return self.global_settings().integration_user_id

    def sync_deletions(self) -> bool:
        return self.global_settings().sync_deletions

    def overrides(self, kind: str) -> dict[str, str]:
        """Manual overrides of one kind (``owner`` or ``contact``): HubSpot id -> Salesforce id."""
        return dict(self._current().overrides.get(kind, {}))

    # -- writing
    def save_type_settings(self, sync_type: SyncType, settings: TypeSettings, *, by: str) -> None:
        TypeSettingsItem(
            sync_type.key,
            enabled=settings.enabled,
            enabled_at=settings.enabled_at,
            disabled_at=settings.disabled_at,
            task_type=settings.task_type,
            subject_template=settings.subject_template,
            email_subject_templates={str(k): v for k, v in settings.email_subject_templates.items()} or None,
            updated_at=utcnow(),
            updated_by=by,
        ).save()
        self.invalidate()

    def _update_global(self, **values: Any) -> None:
        """Set attributes of the global item, creating it if needed, without touching the others."""
        item = GlobalSettingsItem("global")
        actions = [
            getattr(GlobalSettingsItem, name).set(value)
            if value is not None
            else getattr(GlobalSettingsItem, name).remove()
            for name, value in values.items()
        ]
        item.update(actions=[*actions, GlobalSettingsItem.updated_at.set(utcnow())])
        self.invalidate()

    def set_integration_user_id(self, user_id: str) -> None:
        self._update_global(integration_user_id=user_id)

    def set_sync_deletions(self, on: bool) -> None:
        self._update_global(sync_deletions=on)

    def set_allocation(self, name: str, value: int | None) -> None:
        """One of the budget settings (``salesforce_daily_allocation``, ``hubspot_daily_allocation``,
        ``hubspot_requests_per_10s``, ``hubspot_searches_per_second``); None removes it."""
        if name not in ALLOCATION_SETTINGS:
            raise ValueError(f"unknown allocation setting {name!r}")
        if value is not None and value < 0:
            raise ValueError(f"{name} cannot be negative")
        self._update_global(**{name: value})

    def remember_salesforce_api_user(self, user_id: str) -> None:
        """Record the user the service signs in as, once per container and only when it changed."""
        if self.global_settings().salesforce_api_user_id != user_id:
            self._update_global(salesforce_api_user_id=user_id)

    def set_override(self, kind: str, hubspot_id: str, salesforce_id: str, note: str | None = None) -> None:
        OverrideItem(
            f"{kind}_override#{hubspot_id}", salesforce_id=salesforce_id, note=note, updated_at=utcnow()
        ).save()
        self.invalidate()

    def delete_override(self, kind: str, hubspot_id: str) -> None:
        OverrideItem(f"{kind}_override#{hubspot_id}").delete()
        self.invalidate()
