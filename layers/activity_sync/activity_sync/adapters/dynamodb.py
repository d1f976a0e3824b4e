"""DynamoDB, through pynamodb: settings, links and sync state.

Tables (see template.yaml):

* settings - one readable item per sync type (``pk`` = ``hubspot_to_salesforce#note``: ``enabled``,
  ``enabled_at``, ``task_type``, ``subject_template``...), the ``global`` item (integration user,
  deletions, API allocations), and manual overrides (``owner_override#<hubspot owner id>``,
  ``contact_override#<hubspot contact id>``). Read whole with one Scan and kept for a few seconds
  per container (``SettingsRepository``): a batch never pays a read for them.
* links - ``pk`` the HubSpot side (``hubspot#contact#123``) naming the Salesforce twin, and its
  mirror ``salesforce#<18-character id>`` naming the HubSpot side, so that both directions are
  answered by BatchGetItem (100 keys a request) and written by BatchWriteItem (25 a request).
* sync state - poll watermarks, activities waiting for their contact, outcome counters (one
  UpdateItem per outcome and batch), dead letters already sent (one per record and reason).

Table names come from the environment at import (a Lambda's environment is fixed); ``bind_tables``
re-points the models, for tools and tests that talk to several stacks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from activity_sync.batching import chunks
from activity_sync.config import RuntimeConfig
from activity_sync.domain import EmailEventKind, SyncType, TypeSettings
from activity_sync.observability import logger
from activity_sync.ports import StorageRefused
from activity_sync.rules.echo import WrittenVersion, parse_salesforce_datetime


def _region() -> str | None:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


TRANSACTION_ITEMS = 100  # TransactWriteItems' limit
_transaction_connection: Connection | None = None


def _transactions() -> Connection:
    """The connection transactions go through (one per container, as the models keep theirs)."""
    global _transaction_connection
    if _transaction_connection is None:
        _transaction_connection = Connection(region=_region())
    return _transaction_connection


BATCH_WRITE_ITEMS = 25  # BatchWriteItem's limit
ItemKey = tuple[str, str | None]  # (hash key, range key or None)
WriteAction = Literal["put", "delete"]


def item_key(item: Model) -> ItemKey:
    hash_name, range_name = item._hash_keyname or "", item._range_keyname
    return (str(getattr(item, hash_name)), str(getattr(item, range_name)) if range_name else None)


def _refused_for_good(error: PutError | DeleteError) -> bool:
    """DynamoDB's answer for a request that can never succeed as it is (retrying cannot help)."""
    return error.cause_response_code == "ValidationException"


def write_batch[M: Model](model: type[M], operations: Iterable[tuple[WriteAction, M]]) -> int:
    """Put and delete items with BatchWriteItem, 25 a request. DynamoDB refuses a whole request
    that names one key twice, so repeated keys are collapsed first: the later operation wins (a
    later put over an earlier one, a put and a delete of one key resolve to the one that comes
    later). A request refused for good (``ValidationException``: an item too large, say) is written
    again one item at a time - a rare path - so that only the items at fault are left out; they
    are logged as the bug they are and raised as ``StorageRefused`` once every other item is
    written. Returns how many keys were written."""
    latest: dict[ItemKey, tuple[WriteAction, M]] = {}
    for action, item in operations:
        key = item_key(item)
        latest.pop(key, None)  # the later operation takes the later place too
        latest[key] = (action, item)
    refused: list[ItemKey] = []
    cause = ""
    for chunk in chunks(list(latest.items()), BATCH_WRITE_ITEMS):
        try:
            with model.batch_write() as batch:
                for _, (action, item) in chunk:
                    batch.save(item) if action == "put" else batch.delete(item)
        except PutError as error:  # pynamodb's error for any failed BatchWriteItem
            if not _refused_for_good(error):
                raise
            for key, (action, item) in chunk:
                try:
                    item.save() if action == "put" else item.delete()
                except (PutError, DeleteError) as single:
                    if not _refused_for_good(single):
                        raise
                    refused.append(key)
                    cause = cause or f"ValidationException: {single.cause_response_message}"
    if refused:
        table = model.Meta.table_name
        logger.error(
            "DynamoDB refused items for good: a bug to report, not a passing fault",
            extra={"table": table, "keys": [list(key) for key in refused], "cause": cause},
        )
        raise StorageRefused(table, refused, cause)
    return len(latest)


def read_instant(contact: Mapping[str, Any]) -> dt.datetime | None:
    """The instant a kept contact read was made (its ``read_at``), None when it has none."""
    try:
        moment = dt.datetime.fromisoformat(str(contact.get("read_at") or ""))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _read_order(contact: Mapping[str, Any]) -> dt.datetime:
    return read_instant(contact) or dt.datetime.min.replace(tzinfo=dt.UTC)


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
        region = _region()

    pk = UnicodeAttribute(hash_key=True)
    salesforce_id = UnicodeAttribute()
    note = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)


class _SettingsRow(Model):
    """Any item of the settings table, for reading the whole table with one Scan."""

    class Meta:
        table_name = TypeSettingsItem.Meta.table_name
        region = _region()

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


# ------------------------------------------------------------------------------------------ links


class LinkItem(Model):
    """One side of a link: ``hubspot#<object>#<id>`` naming its Salesforce twin, or its mirror
    ``salesforce#<id>`` (``hubspot_pk`` names the HubSpot side). Both carry the same attributes."""

    class Meta:
        table_name = os.environ.get("LINKS_TABLE", "activity-sync-links")
        region = _region()

    pk = UnicodeAttribute(hash_key=True)
    salesforce_id = UnicodeAttribute()  # 18-character id of the twin
    hubspot_pk = UnicodeAttribute(null=True)  # on the mirror item: the HubSpot side's key
    source = UnicodeAttribute(null=True)  # how the link was found: link, property, email, manual, sync
    fingerprint = UnicodeAttribute(null=True)  # of what the service last wrote (R14 echo check)
    written_side = UnicodeAttribute(null=True)  # which side the service wrote last: hubspot|salesforce
    details = JSONAttribute(null=True)
    # Contact links only: the contact as last read from HubSpot, with when (``read_at``), which the
    # syncers use instead of reading it again while it is recent (usecases.directories).
    contact = JSONAttribute(null=True)
    contact_read_at = UTCDateTimeAttribute(null=True)  # when ``contact`` was read (a newer read wins)
    updated_at = UTCDateTimeAttribute(null=True)

    @property
    def hubspot_key(self) -> str:
        return self.hubspot_pk or self.pk

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
    contact: Mapping[str, Any] | None = None  # a contact link's contact as read (LinkItem.contact)

    def same_as(self, stored: LinkItem | None) -> bool:
        """Whether ``stored`` already says all this (then writing it again is a wasted write). A
        contact read it carries is not compared: reads are kept by ``refresh_contacts``."""
        return (
            stored is not None
            and stored.salesforce_id == self.salesforce_id
            and stored.fingerprint == self.fingerprint
            and stored.written_side == self.written_side
            and (stored.details or None) == (dict(self.details) if self.details else None)
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
    _SettingsRow,
    LinkItem,
    SyncStateItem,
)


def bind_tables(config: RuntimeConfig) -> None:
    """Point every model at this stack's tables (and drop cached connections)."""
    names = {
        TypeSettingsItem: config.settings_table,
        GlobalSettingsItem: config.settings_table,
        OverrideItem: config.settings_table,
        _SettingsRow: config.settings_table,
        LinkItem: config.links_table,
        SyncStateItem: config.sync_state_table,
    }
    for model, table in names.items():
        model.Meta.table_name = table
        model.Meta.region = _region()
        model._connection = None
    global _transaction_connection
    _transaction_connection = None


# ----------------------------------------------------------------------------------- repositories


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# How long a container trusts its copy of the settings table: a switch, a task type, an override
# changed by the operator applies within this many seconds (S3), and a batch pays no read for them.
SETTINGS_CACHE_SECONDS = float(os.environ.get("ACTIVITY_SYNC_SETTINGS_CACHE_SECONDS", "10"))


@dataclass(frozen=True)
class GlobalSettings:
    integration_user_id: str | None = None
    sync_deletions: bool = False
    salesforce_daily_allocation: int | None = None
    hubspot_daily_allocation: int | None = None
    hubspot_requests_per_10s: int | None = None
    hubspot_searches_per_second: int | None = None
    salesforce_api_user_id: str | None = None


@dataclass(frozen=True)
class _Snapshot:
    types: Mapping[str, TypeSettings] = field(default_factory=dict)
    global_settings: GlobalSettings = field(default_factory=GlobalSettings)
    overrides: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


def _type_settings(item: TypeSettingsItem | _SettingsRow) -> TypeSettings:
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


def _global_settings(item: GlobalSettingsItem | _SettingsRow) -> GlobalSettings:
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
        for row in _SettingsRow.scan(consistent_read=True):
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
            updated_at=_utcnow(),
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
        item.update(actions=[*actions, GlobalSettingsItem.updated_at.set(_utcnow())])
        self.invalidate()

    def set_integration_user_id(self, user_id: str) -> None:
        self._update_global(integration_user_id=user_id)

    def set_sync_deletions(self, on: bool) -> None:
        self._update_global(sync_deletions=on)

    def set_allocation(self, name: str, value: int | None) -> None:
        """One of the budget settings (``salesforce_daily_allocation``, ``hubspot_daily_allocation``,
        ``hubspot_requests_per_10s``, ``hubspot_searches_per_second``); None removes it."""
        if name not in {
            "salesforce_daily_allocation",
            "hubspot_daily_allocation",
            "hubspot_requests_per_10s",
            "hubspot_searches_per_second",
        }:
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
            f"{kind}_override#{hubspot_id}", salesforce_id=salesforce_id, note=note, updated_at=_utcnow()
        ).save()
        self.invalidate()

    def delete_override(self, kind: str, hubspot_id: str) -> None:
        OverrideItem(f"{kind}_override#{hubspot_id}").delete()
        self.invalidate()


def hubspot_key(object_type: str, object_id: str) -> str:
    return f"hubspot#{object_type}#{object_id}"


def salesforce_key(salesforce_id: str) -> str:
    return f"salesforce#{salesforce_id}"


class LinkRepository:
    """HubSpot id <-> Salesforce id, both ways, a batch at a time."""

    def links(self, object_type: str, hubspot_ids: Iterable[str]) -> dict[str, LinkItem]:
        """HubSpot id -> its link, for those that have one (BatchGetItem, 100 keys a request)."""
        keys = list(dict.fromkeys(hubspot_key(object_type, i) for i in hubspot_ids))
        return {item.hubspot_id: item for item in LinkItem.batch_get(keys)} if keys else {}

    def by_salesforce_ids(self, salesforce_ids: Iterable[str]) -> dict[str, LinkItem]:
        """Salesforce id -> the link naming it (its mirror item), for those that have one."""
        keys = list(dict.fromkeys(salesforce_key(i) for i in salesforce_ids if i))
        return {item.salesforce_id: item for item in LinkItem.batch_get(keys)} if keys else {}

    def by_salesforce_id(self, salesforce_id: str) -> LinkItem | None:
        return self.by_salesforce_ids([salesforce_id]).get(salesforce_id)

    def save(self, links: Iterable[Link], stored: Mapping[str, LinkItem] | None = None) -> int:
        """Write each link and its mirror (BatchWriteItem, 25 items a request); a link that
        ``stored`` (HubSpot id -> item, as read before) already holds is not written again, and a
        link named twice is written once, as it is the last time (so is a mirror two links share).
        Returns how many links were written."""
        now = _utcnow()
        operations: list[tuple[WriteAction, LinkItem]] = []
        written: set[str] = set()
        for link in links:
            if stored is not None and link.same_as(stored.get(link.hubspot_id)):
                continue
            forward = hubspot_key(link.object_type, link.hubspot_id)
            attributes: dict[str, Any] = {
                "salesforce_id": link.salesforce_id,
                "source": link.source,
                "fingerprint": link.fingerprint,
                "written_side": link.written_side,
                "details": dict(link.details) if link.details else None,
                "contact": dict(link.contact) if link.contact else None,
                "contact_read_at": read_instant(link.contact) if link.contact else None,
                "updated_at": now,
            }
            operations.append(("put", LinkItem(forward, **attributes)))
            operations.append(
                ("put", LinkItem(salesforce_key(link.salesforce_id), hubspot_pk=forward, **attributes))
            )
            written.add(forward)
        write_batch(LinkItem, operations)
        return len(written)

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
        self.save([Link(object_type, hubspot_id, salesforce_id, source, fingerprint, written_side, details)])

    def link_if_absent(self, object_type: str, hubspot_id: str, salesforce_id: str, *, source: str) -> bool:
        """Link only a record that has no link yet (a weaker match never replaces a stronger one);
        True when written."""
        forward = hubspot_key(object_type, hubspot_id)
        now = _utcnow()
        try:
            LinkItem(forward, salesforce_id=salesforce_id, source=source, updated_at=now).save(
                condition=LinkItem.pk.does_not_exist()
            )
        except PutError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        LinkItem(
            salesforce_key(salesforce_id), salesforce_id=salesforce_id, hubspot_pk=forward, source=source
        ).save()
        return True

    def refresh_contacts(self, refreshed: Sequence[tuple[LinkItem, Mapping[str, Any]]]) -> int:
        """Store newer reads of linked contacts (``LinkItem.contact``, its ``read_at`` an ISO
        instant) - one TransactWriteItems request per 100, each update on condition that its link
        was not rewritten since it was read (its ``updated_at``: a read never overwrites what a
        later link decided) and holds no newer read (two readers at once: the later read stays).
        A batch in which any condition fails is skipped as a whole, and so is one DynamoDB refuses:
        the reads are a cache, and the next read tries again. Returns how many were stored. (IAM: an
        Update inside a transaction needs only dynamodb:UpdateItem,
        https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html)"""
        # TransactWriteItems refuses one item twice: of two reads of one contact, the newer goes.
        newest: dict[str, tuple[LinkItem, Mapping[str, Any]]] = {}
        for item, contact in refreshed:
            kept = newest.get(item.pk)
            if kept is None or _read_order(contact) >= _read_order(kept[1]):
                newest[item.pk] = (item, contact)
        stored = 0
        for chunk in chunks(list(newest.values()), TRANSACTION_ITEMS):
            try:
                with TransactWrite(connection=_transactions()) as transaction:
                    for item, contact in chunk:
                        read_at = read_instant(contact)
                        if read_at is None:
                            raise ValueError(f"a contact read needs its read_at: {dict(contact)}")
                        unchanged = (
                            LinkItem.updated_at == item.updated_at
                            if item.updated_at is not None
                            else LinkItem.pk.exists() & LinkItem.updated_at.does_not_exist()
                        )
                        older = LinkItem.contact_read_at.does_not_exist() | (
                            LinkItem.contact_read_at < read_at
                        )
                        transaction.update(
                            LinkItem(item.pk),
                            actions=[
                                LinkItem.contact.set(dict(contact)),
                                LinkItem.contact_read_at.set(read_at),
                            ],
                            condition=unchanged & older,
                        )
            except TransactWriteError as error:
                if error.cause_response_code != "TransactionCanceledException":
                    logger.warning("contact reads not kept", extra={"error": str(error)})
                continue
            stored += len(chunk)
        return stored

    def unlink(self, items: Iterable[LinkItem]) -> None:
        """End these links: both items of each pair (BatchWriteItem)."""
        write_batch(
            LinkItem,
            (
                ("delete", LinkItem(key))
                for item in items
                for key in (item.hubspot_key, salesforce_key(item.salesforce_id))
            ),
        )


WAITING_TTL = dt.timedelta(days=400)  # past the longest look-back window (R5: one year)
DEAD_LETTER_TTL = dt.timedelta(days=14)  # as long as SQS keeps a dead letter


def outcome_label(status: str, reason: str | None) -> str:
    return status if reason is None else f"{status}:{reason}"


class SyncStateRepository:
    """Watermarks, activities waiting for their contact (R4), outcome figures (R16) and the dead
    letters already sent."""

    def watermark(self, name: str) -> str | None:
        try:
            return SyncStateItem.get("watermark", name, consistent_read=True).value
        except DoesNotExist:
            return None

    def watermarks(self) -> dict[str, str]:
        """Every watermark, in one (paged) strongly consistent Query: the poller reads them all
        at the start of a run."""
        return {item.sk: item.value or "" for item in SyncStateItem.query("watermark", consistent_read=True)}

    def set_watermark(self, name: str, value: str) -> None:
        SyncStateItem("watermark", name, value=value, updated_at=_utcnow()).save()

    def set_watermarks(self, values: Mapping[str, str]) -> None:
        """Several watermarks in one BatchWriteItem (25 a request)."""
        now = _utcnow()
        write_batch(
            SyncStateItem,
            (
                ("put", SyncStateItem("watermark", name, value=value, updated_at=now))
                for name, value in values.items()
            ),
        )

    def add_waiting(
        self,
        hubspot_contact_ids: list[str],
        sync_type: SyncType,
        activity_id: str,
        message: Mapping[str, Any],
        reason: str,
    ) -> None:
        """Park an activity under each of its contacts: whichever starts to sync first wakes it."""
        self.add_waiting_many([(hubspot_contact_ids, sync_type, activity_id, message, reason)])

    def add_waiting_many(
        self, entries: Iterable[tuple[list[str], SyncType, str, Mapping[str, Any], str]]
    ) -> None:
        """Park many activities at once (BatchWriteItem). An activity parked twice under one contact
        (a sales email's events, a notification delivered twice) is one item: the later entry's."""
        now = _utcnow()
        write_batch(
            SyncStateItem,
            (
                (
                    "put",
                    SyncStateItem(
                        f"waiting#{contact_id}",
                        f"{sync_type.key}#{activity_id}",
                        payload=dict(message),
                        reason=reason,
                        updated_at=now,
                        expires_at=now + WAITING_TTL,
                    ),
                )
                for contact_ids, sync_type, activity_id, message, reason in entries
                for contact_id in contact_ids
            ),
        )

    def waiting_for(self, hubspot_contact_id: str) -> list[SyncStateItem]:
        return list(SyncStateItem.query(f"waiting#{hubspot_contact_id}"))

    def remove_waiting(self, items: list[SyncStateItem]) -> None:
        write_batch(SyncStateItem, (("delete", item) for item in items))

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

    def count_outcomes(
        self, sync_type: SyncType, tallies: Mapping[tuple[str, str | None], int], day: dt.date | None = None
    ) -> None:
        """Add a batch's figures (status, reason) -> n to the per-type, per-day counters: one
        UpdateItem per outcome, whatever the batch size."""
        day = day or _utcnow().date()
        now = _utcnow()
        for (status, reason), n in tallies.items():
            if n <= 0:
                continue
            SyncStateItem(
                f"outcomes#{sync_type.key}", f"{day.isoformat()}#{outcome_label(status, reason)}"
            ).update(actions=[SyncStateItem.tally.add(n), SyncStateItem.updated_at.set(now)])

    def count_outcome(
        self, sync_type: SyncType, status: str, reason: str | None, n: int = 1, day: dt.date | None = None
    ) -> None:
        """Add to the per-type, per-day figure of one outcome (synced, waiting:<reason>, failed)."""
        self.count_outcomes(sync_type, {(status, reason): n}, day)

    def outcome_figures(self, sync_type: SyncType, since: dt.date | None = None) -> dict[str, int]:
        """Outcome label -> total since ``since`` (all days when None)."""
        totals: dict[str, int] = {}
        condition = SyncStateItem.sk >= since.isoformat() if since else None
        for item in SyncStateItem.query(f"outcomes#{sync_type.key}", condition):
            label = item.sk.split("#", 1)[1]
            totals[label] = totals.get(label, 0) + int(item.tally or 0)
        return totals

    # -- what every container shares (one read instead of vendor calls in each container)
    def shared(self, name: str) -> tuple[dt.datetime, Any] | None:
        """A value a container stored for the others (``save_shared``), with when it was stored."""
        try:
            item = SyncStateItem.get("shared", name, consistent_read=True)
        except DoesNotExist:
            return None
        return (item.updated_at, item.payload) if item.updated_at is not None else None

    def forget_shared(self, name: str) -> None:
        SyncStateItem("shared", name).delete()

    def save_shared(self, name: str, payload: Any, keep: dt.timedelta) -> None:
        now = _utcnow()
        SyncStateItem("shared", name, payload=payload, updated_at=now, expires_at=now + keep).save()

    # -- dead letters
    def claim_dead_letter(self, sync_key: str, object_id: str, reason: str, body: str) -> bool:
        """Record that this record is dead-lettered for this reason; False when it already was
        (and its dead letter still waits): one dead letter per record and reason."""
        digest = hashlib.sha256(reason.encode()).hexdigest()[:16]
        now = _utcnow()
        try:
            SyncStateItem(
                f"dead#{sync_key}",
                f"{object_id}#{digest}",
                reason=reason[:1000],
                value=body[:4000],
                updated_at=now,
                expires_at=now + DEAD_LETTER_TTL,
            ).save(condition=SyncStateItem.sk.does_not_exist())
        except PutError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def dead_letters(self, sync_key: str) -> Iterator[SyncStateItem]:
        return SyncStateItem.query(f"dead#{sync_key}")

    def release_dead_letters(self, sync_key: str, object_ids: Iterable[str]) -> int:
        """Forget the dead letters of these records (they were re-driven): a new failure of one
        of them is dead-lettered again."""
        wanted = set(object_ids)
        return write_batch(
            SyncStateItem,
            (("delete", item) for item in self.dead_letters(sync_key) if item.sk.rsplit("#", 1)[0] in wanted),
        )
