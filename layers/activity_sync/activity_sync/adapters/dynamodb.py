"""DynamoDB, through pynamodb: settings, links and sync state.

Tables (see template.yaml):

* settings — one readable item per sync type (``pk`` = ``hubspot_to_salesforce#note``: ``enabled``,
  ``enabled_at``, ``task_type``, ``subject_template``…), the ``global`` item (integration user), and
  manual overrides (``owner_override#<hubspot owner id>``, ``contact_override#<hubspot contact id>``).
* links — ``pk`` the HubSpot side, ``sk`` the Salesforce side, e.g. ``hubspot#contact#123`` /
  ``salesforce#003…``; the ``by_salesforce_id`` index (``sk``, ``pk``) answers the reverse lookup.
* sync state — poll watermarks, activities waiting for their contact, outcome counters.

Table names come from the environment at import (a Lambda's environment is fixed); ``bind_tables``
re-points the models, for tools and tests that talk to several stacks.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator, Mapping
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from activity_sync.config import RuntimeConfig
from activity_sync.domain import EmailEventKind, SyncType, TypeSettings
from activity_sync.rules.echo import WrittenVersion, parse_salesforce_datetime


def _region() -> str | None:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


# ---------------------------------------------------------------------------------------- settings


class TypeSettingsItem(Model):
    class Meta:
        table_name = os.environ.get("SETTINGS_TABLE", "activity-sync-settings")
        region = _region()

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
        region = _region()

    pk = UnicodeAttribute(hash_key=True, default="global")
    integration_user_id = UnicodeAttribute(null=True)  # S4
    # Off by default: deleting a record on one side leaves its twin alone. On: the twin is deleted
    # (a Salesforce Task) or archived (a HubSpot activity) too.
    sync_deletions = BooleanAttribute(default=False)
    updated_at = UTCDateTimeAttribute(null=True)


class OverrideItem(Model):
    """A manual link that wins over automatic matching: an owner -> user (R8) or a contact ->
    Contact/Lead (R4)."""

    class Meta:
        table_name = TypeSettingsItem.Meta.table_name
        region = _region()

    pk = UnicodeAttribute(hash_key=True)
    salesforce_id = UnicodeAttribute()
    note = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)


# ------------------------------------------------------------------------------------------ links


class BySalesforceId(GlobalSecondaryIndex["LinkItem"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_salesforce_id"
        projection = AllProjection()

    salesforce_id = UnicodeAttribute(hash_key=True)


class LinkItem(Model):
    class Meta:
        table_name = os.environ.get("LINKS_TABLE", "activity-sync-links")
        region = _region()

    pk = UnicodeAttribute(hash_key=True)  # hubspot#<object>#<id>
    salesforce_id = UnicodeAttribute()  # 18-character id of the twin
    source = UnicodeAttribute(null=True)  # how the link was found: link, property, email, manual, sync
    fingerprint = UnicodeAttribute(null=True)  # of what the service last wrote (R14 echo check)
    written_side = UnicodeAttribute(null=True)  # which side the service wrote last: hubspot|salesforce
    details = JSONAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)
    by_salesforce_id = BySalesforceId()

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


# ------------------------------------------------------------------------------------- sync state


class SyncStateItem(Model):
    class Meta:
        table_name = os.environ.get("SYNC_STATE_TABLE", "activity-sync-state")
        region = _region()

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    value = UnicodeAttribute(null=True)
    payload = JSONAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    tally = NumberAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)
    expires_at = TTLAttribute(null=True)


ALL_MODELS: tuple[type[Model], ...] = (
    TypeSettingsItem,
    GlobalSettingsItem,
    OverrideItem,
    LinkItem,
    SyncStateItem,
)


def bind_tables(config: RuntimeConfig) -> None:
    """Point every model at this stack's tables (and drop cached connections)."""
    names = {
        TypeSettingsItem: config.settings_table,
        GlobalSettingsItem: config.settings_table,
        OverrideItem: config.settings_table,
        LinkItem: config.links_table,
        SyncStateItem: config.sync_state_table,
    }
    for model, table in names.items():
        model.Meta.table_name = table
        model.Meta.region = _region()
        model._connection = None


# ----------------------------------------------------------------------------------- repositories


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class SettingsRepository:
    """Reads and writes the settings items. Missing items read as the defaults (switch off)."""

    def type_settings(self, sync_type: SyncType) -> TypeSettings:
        try:
            item = TypeSettingsItem.get(sync_type.key, consistent_read=True)
        except DoesNotExist:
            return TypeSettings()
        templates = dict(item.email_subject_templates or {})
        return TypeSettings(
            enabled=bool(item.enabled),
            enabled_at=item.enabled_at,
            disabled_at=item.disabled_at,
            task_type=item.task_type,
            subject_template=item.subject_template,
            email_subject_templates={EmailEventKind(k): str(v) for k, v in templates.items()},
        )

    def all_type_settings(self) -> dict[str, TypeSettings]:
        return {item.pk: self.type_settings(SyncType.parse(item.pk)) for item in self._type_items()}

    def _type_items(self) -> Iterator[TypeSettingsItem]:
        for item in TypeSettingsItem.scan():
            if "#" in item.pk and not item.pk.startswith(("owner_override#", "contact_override#")):
                yield item

    def save_type_settings(self, sync_type: SyncType, settings: TypeSettings, *, by: str) -> None:
        TypeSettingsItem(
            sync_type.key,
            enabled=settings.enabled,
            enabled_at=settings.enabled_at,
            disabled_at=settings.disabled_at,
            task_type=settings.task_type,
            subject_template=settings.subject_template,
            email_subject_templates={str(k): v for k, v in settings.email_subject_templates.items()} or None,
            updated_at=_utcnow(),
            updated_by=by,
        ).save()

    def integration_user_id(self) -> str | None:
        try:
            return GlobalSettingsItem.get("global", consistent_read=True).integration_user_id
        except DoesNotExist:
            return None

    def _global(self) -> GlobalSettingsItem:
        try:
            return GlobalSettingsItem.get("global", consistent_read=True)
        except DoesNotExist:
            return GlobalSettingsItem("global")

    def set_integration_user_id(self, user_id: str) -> None:
        item = self._global()
        item.integration_user_id = user_id
        item.updated_at = _utcnow()
        item.save()

    def sync_deletions(self) -> bool:
        return bool(self._global().sync_deletions)

    def set_sync_deletions(self, on: bool) -> None:
        item = self._global()
        item.sync_deletions = on
        item.updated_at = _utcnow()
        item.save()

    def overrides(self, kind: str) -> dict[str, str]:
        """Manual overrides of one kind (``owner`` or ``contact``): HubSpot id -> Salesforce id."""
        prefix = f"{kind}_override#"
        return {
            item.pk.removeprefix(prefix): item.salesforce_id
            for item in OverrideItem.scan(OverrideItem.pk.startswith(prefix))
        }

    def set_override(self, kind: str, hubspot_id: str, salesforce_id: str, note: str | None = None) -> None:
        OverrideItem(
            f"{kind}_override#{hubspot_id}", salesforce_id=salesforce_id, note=note, updated_at=_utcnow()
        ).save()

    def delete_override(self, kind: str, hubspot_id: str) -> None:
        OverrideItem(f"{kind}_override#{hubspot_id}").delete()


def hubspot_key(object_type: str, object_id: str) -> str:
    return f"hubspot#{object_type}#{object_id}"


class LinkRepository:
    """HubSpot id <-> Salesforce id, both ways."""

    def links(self, object_type: str, hubspot_ids: list[str]) -> dict[str, LinkItem]:
        """HubSpot id -> its link, for those that have one (BatchGetItem, 100 keys a call)."""
        keys = list(dict.fromkeys(hubspot_key(object_type, i) for i in hubspot_ids))
        return {item.pk.rsplit("#", 1)[-1]: item for item in LinkItem.batch_get(keys)}

    def by_salesforce_id(self, salesforce_id: str) -> LinkItem | None:
        for item in LinkItem.by_salesforce_id.query(salesforce_id, limit=1):
            return item
        return None

    def link(
        self,
        object_type: str,
        hubspot_id: str,
        salesforce_id: str,
        *,
        source: str,
        fingerprint: str | None = None,
        written_side: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        LinkItem(
            hubspot_key(object_type, hubspot_id),
            salesforce_id=salesforce_id,
            source=source,
            fingerprint=fingerprint,
            written_side=written_side,
            details=dict(details) if details else None,
            updated_at=_utcnow(),
        ).save()

    def link_if_absent(self, object_type: str, hubspot_id: str, salesforce_id: str, *, source: str) -> bool:
        """Link only a record that has no link yet (a weaker match never replaces a stronger one);
        True when written."""
        try:
            LinkItem(
                hubspot_key(object_type, hubspot_id),
                salesforce_id=salesforce_id,
                source=source,
                updated_at=_utcnow(),
            ).save(condition=LinkItem.pk.does_not_exist())
        except PutError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def unlink(self, object_type: str, hubspot_id: str) -> None:
        LinkItem(hubspot_key(object_type, hubspot_id)).delete()


WAITING_TTL = dt.timedelta(days=400)  # past the longest look-back window (R5: one year)


class SyncStateRepository:
    """Watermarks, activities waiting for their contact (R4) and outcome figures (R16)."""

    def watermark(self, name: str) -> str | None:
        try:
            return SyncStateItem.get("watermark", name, consistent_read=True).value
        except DoesNotExist:
            return None

    def set_watermark(self, name: str, value: str) -> None:
        SyncStateItem("watermark", name, value=value, updated_at=_utcnow()).save()

    def add_waiting(
        self,
        hubspot_contact_ids: list[str],
        sync_type: SyncType,
        activity_id: str,
        message: Mapping[str, Any],
        reason: str,
    ) -> None:
        """Park an activity under each of its contacts: whichever starts to sync first wakes it."""
        now = _utcnow()
        with SyncStateItem.batch_write() as batch:
            for contact_id in dict.fromkeys(hubspot_contact_ids):
                batch.save(
                    SyncStateItem(
                        f"waiting#{contact_id}",
                        f"{sync_type.key}#{activity_id}",
                        payload=dict(message),
                        reason=reason,
                        updated_at=now,
                        expires_at=now + WAITING_TTL,
                    )
                )

    def waiting_for(self, hubspot_contact_id: str) -> list[SyncStateItem]:
        return list(SyncStateItem.query(f"waiting#{hubspot_contact_id}"))

    def remove_waiting(self, items: list[SyncStateItem]) -> None:
        with SyncStateItem.batch_write() as batch:
            for item in items:
                batch.delete(item)

    def waiting_page(self, hubspot_contact_id: str, after: str | None, limit: int) -> list[SyncStateItem]:
        """Up to ``limit`` items waiting under one contact id, in key order after the key ``after``
        (a cursor, for a partition too large to read whole on every poll)."""
        condition = SyncStateItem.sk > after if after else None
        return list(SyncStateItem.query(f"waiting#{hubspot_contact_id}", condition, limit=limit))

    def remove_waiting_unless_parked_again(self, items: list[SyncStateItem]) -> int:
        """Delete each item unless it was written again since it was read (its ``updated_at``
        moved): a syncer that already parked the re-queued activity again must keep its item.
        One conditional delete per item (BatchWriteItem takes no conditions); returns how many
        were deleted."""
        removed = 0
        for item in items:
            unchanged = (
                SyncStateItem.updated_at == item.updated_at
                if item.updated_at is not None
                else SyncStateItem.updated_at.does_not_exist()
            )
            try:
                item.delete(condition=unchanged)
            except DeleteError as error:
                if error.cause_response_code == "ConditionalCheckFailedException":
                    continue
                raise
            removed += 1
        return removed

    def count_outcome(
        self, sync_type: SyncType, status: str, reason: str | None, n: int = 1, day: dt.date | None = None
    ) -> None:
        """Add to the per-type, per-day figure of one outcome (synced, waiting:<reason>, failed)."""
        if n <= 0:
            return
        day = day or _utcnow().date()
        label = status if reason is None else f"{status}:{reason}"
        SyncStateItem(f"outcomes#{sync_type.key}", f"{day.isoformat()}#{label}").update(
            actions=[SyncStateItem.tally.add(n), SyncStateItem.updated_at.set(_utcnow())]
        )

    def outcome_figures(self, sync_type: SyncType, since: dt.date | None = None) -> dict[str, int]:
        """Outcome label -> total since ``since`` (all days when None)."""
        totals: dict[str, int] = {}
        condition = SyncStateItem.sk >= since.isoformat() if since else None
        for item in SyncStateItem.query(f"outcomes#{sync_type.key}", condition):
            label = item.sk.split("#", 1)[1]
            totals[label] = totals.get(label, 0) + int(item.tally or 0)
        return totals
