"""Records and the rules Salesforce applies when they are written.

Every write runs inside a transaction (:meth:`Store.transaction`); nested transactions are
savepoints, so a composite request or an ``allOrNone`` collection can roll back records written by
earlier parts. Changes are announced to listeners (the outbound-message queue) only when the
outermost transaction ends, and only for writes that were not rolled back.

The store does no locking of its own: the sandbox holds its lock around every request. Writes
store a new ``StoredRecord`` through ``_put``, which keeps the External ID index in step: never
change an External ID or unique field of a stored record in place (seeding only stamps the first
user's creator fields).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from activity_sync_tools.sandbox.core import SandboxClock
from activity_sync_tools.sandbox.salesforce.errors import SalesforceError, not_found, required_fields_missing
from activity_sync_tools.sandbox.salesforce.ids import IdMinter, parse_id
from activity_sync_tools.sandbox.salesforce.schema import FieldDef, ObjectDef, Schema
from activity_sync_tools.sandbox.salesforce.values import Value, coerce, truncate_ms

# Fields a seed may set although the API never lets a client write them.
SEEDABLE_SYSTEM_FIELDS = frozenset(
    {"createddate", "createdbyid", "lastmodifieddate", "lastmodifiedbyid", "systemmodstamp"}
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class StoredRecord:
    sobject: str
    values: dict[str, Value]  # canonical field name -> value
    deleted_at: dt.datetime | None = None

    @property
    def id(self) -> str:
        return str(self.values["Id"])

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


@dataclass(frozen=True)
class Change:
    sobject: str
    record_id: str
    kind: str  # created | updated | deleted
    user_id: str


@dataclass
class Savepoint:
    undo_length: int
    changes_length: int


@dataclass
class _Journal:
    depth: int = 0
    undo: list[tuple[str, StoredRecord | None]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)


class Store:
    def __init__(self, schema: Schema, clock: SandboxClock, minter: IdMinter) -> None:
        self.schema = schema
        self.clock = clock
        self.minter = minter
        self.records: dict[str, StoredRecord] = {}
        self.by_type: dict[str, dict[str, StoredRecord]] = {name: {} for name in schema.objects}
        self.listeners: list[Callable[[list[Change]], None]] = []
        self._journal = _Journal()
        # Lookups by an External ID or unique field (every upserted record makes two): per object,
        # (field, case-sensitive) -> the value as compared -> ids. Built on a field's first lookup,
        # kept up to date by every write after that.
        self._indexes: dict[str, dict[tuple[str, bool], dict[str, set[str]]]] = {
            name: {} for name in schema.objects
        }

    # -- transactions ----------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Savepoint]:
        savepoint = Savepoint(len(self._journal.undo), len(self._journal.changes))
        self._journal.depth += 1
        try:
            yield savepoint
        except BaseException:
            self.rollback_to(savepoint)
            raise
        finally:
            self._journal.depth -= 1
            if self._journal.depth == 0:
                changes = self._journal.changes
                self._journal = _Journal()
                if changes:
                    for listener in self.listeners:
                        listener(changes)

    def rollback_to(self, savepoint: Savepoint) -> None:
        while len(self._journal.undo) > savepoint.undo_length:
            record_id, previous = self._journal.undo.pop()
            if previous is None:
                removed = self.records.pop(record_id, None)
                if removed is not None:
                    self.by_type[removed.sobject].pop(record_id, None)
                    self._index(removed, add=False)
            else:
                self._put(previous)
        del self._journal.changes[savepoint.changes_length :]

    def _write(self, record: StoredRecord, change: str, user_id: str, *, seeding: bool) -> StoredRecord:
        """Store ``record`` in the transaction (undone by a rollback) and journal the ``change`` for the
        listeners (not for a seed)."""
        self._remember(record.id)
        self._put(record)
        if not seeding:
            self._journal.changes.append(Change(record.sobject, record.id, change, user_id))
        return record

    def _put(self, record: StoredRecord) -> None:
        replaced = self.records.get(record.id)
        if replaced is not None:
            self._index(replaced, add=False)
        self.records[record.id] = record
        self.by_type[record.sobject][record.id] = record
        self._index(record, add=True)

    def _index(self, record: StoredRecord, *, add: bool) -> None:
        for (name, case_sensitive), index in self._indexes[record.sobject].items():
            _file(index, record, name, case_sensitive, add=add)

    def _remember(self, record_id: str) -> None:
        if self._journal.depth == 0:
            raise RuntimeError("store writes must run inside Store.transaction()")
        existing = self.records.get(record_id)
        snapshot = (
            None
            if existing is None
            else StoredRecord(existing.sobject, dict(existing.values), existing.deleted_at)
        )
        self._journal.undo.append((record_id, snapshot))

    # -- reads -----------------------------------------------------------------------------------
    def now(self) -> dt.datetime:
        return truncate_ms(self.clock.now())

    def get(self, record_id: str) -> StoredRecord | None:
        parsed = parse_id(record_id)
        return self.records.get(parsed) if parsed else None

    def live(self, sobject: str) -> list[StoredRecord]:
        return [record for record in self.by_type[sobject].values() if not record.is_deleted]

    def all_rows(self, sobject: str) -> list[StoredRecord]:
        return list(self.by_type[sobject].values())

    def fetch(self, obj: ObjectDef, raw_id: str) -> StoredRecord:
        """The live record for a record-URL id (404 like Salesforce otherwise)."""
        record_id = parse_id(raw_id)
        if record_id is None:
            raise not_found(f"Provided external ID field does not exist or is not accessible: {raw_id}")
        record = self.records.get(record_id)
        if record is None or record.sobject != obj.name:
            raise not_found()
        if record.is_deleted:
            raise SalesforceError("ENTITY_IS_DELETED", "entity is deleted", 404, [])
        return record

    def find_by_field(self, obj: ObjectDef, definition: FieldDef, value: str) -> list[StoredRecord]:
        if definition.type == "id":
            record_id = parse_id(value)
            record = self.records.get(record_id) if record_id else None
            return [record] if record and record.sobject == obj.name and not record.is_deleted else []
        indexes = self._indexes[obj.name]
        index = indexes.get((definition.name, definition.case_sensitive))
        if index is None:
            index = indexes[(definition.name, definition.case_sensitive)] = {}
            for record in self.by_type[obj.name].values():
                _file(index, record, definition.name, definition.case_sensitive, add=True)
        ids = index.get(_compared(value, definition.case_sensitive) or "", set())
        if len(ids) > 1:  # rare (a duplicate External ID): in the order the records were made
            return [r for r in self.by_type[obj.name].values() if r.id in ids and not r.is_deleted]
        return [record for record in map(self.records.__getitem__, ids) if not record.is_deleted]

    # -- writes ----------------------------------------------------------------------------------
    def create(
        self, sobject: str, data: dict[str, Any], user_id: str, *, seeding: bool = False
    ) -> StoredRecord:
        obj = self.schema.require(sobject)
        given = self._parse_input(obj, data, creating=True, seeding=seeding)
        now = self.now()
        values: dict[str, Value] = {definition.name: None for definition in obj.fields.values()}
        missing: list[str] = []
        for definition in obj.fields.values():
            if definition.name in given:
                value = given[definition.name]
                if value is None and not definition.nillable and definition.createable:
                    missing.append(definition.name)
                values[definition.name] = value
                continue
            if definition.name == "OwnerId":
                values["OwnerId"] = user_id
            elif definition.picklist_default() is not None and definition.defaulted_on_create:
                values[definition.name] = definition.picklist_default()
            elif definition.default_value is not None:
                values[definition.name] = definition.default_value
            elif definition.type == "boolean" and not definition.nillable:
                values[definition.name] = False
            elif definition.required:
                missing.append(definition.name)
        if missing:
            raise required_fields_missing(missing)
        if "IsDeleted" in values:
            values["IsDeleted"] = False
        values["CreatedDate"] = given.get("CreatedDate") or now
        values["CreatedById"] = given.get("CreatedById") or user_id
        values["LastModifiedDate"] = given.get("LastModifiedDate") or values["CreatedDate"]
        values["LastModifiedById"] = given.get("LastModifiedById") or values["CreatedById"]
        values["SystemModstamp"] = given.get("SystemModstamp") or values["LastModifiedDate"]
        self._derive(obj, values, None, now)
        self._check_references(obj, values, given)
        record_id = self.minter.mint(obj.key_prefix)
        values["Id"] = record_id
        self._check_unique(obj, values, record_id)
        return self._write(StoredRecord(obj.name, values), "created", user_id, seeding=seeding)

    def update(
        self, obj: ObjectDef, raw_id: str, data: dict[str, Any], user_id: str, *, seeding: bool = False
    ) -> StoredRecord:
        record = self.fetch(obj, raw_id)
        given = self._parse_input(obj, data, creating=False, seeding=seeding)
        given.pop("Id", None)
        missing = [
            name for name, value in given.items() if value is None and not obj.fields[name.lower()].nillable
        ]
        if missing:
            raise required_fields_missing(missing)
        now = self.now()
        values = dict(record.values)
        values.update(given)
        values["LastModifiedDate"] = given.get("LastModifiedDate") or now
        values["LastModifiedById"] = given.get("LastModifiedById") or user_id
        values["SystemModstamp"] = given.get("SystemModstamp") or values["LastModifiedDate"]
        self._derive(obj, values, record.values, now)
        self._check_references(obj, values, given)
        self._check_unique(obj, values, record.id)
        return self._write(StoredRecord(obj.name, values), "updated", user_id, seeding=seeding)

    def delete(
        self, obj: ObjectDef | None, raw_id: str, user_id: str, *, seeding: bool = False
    ) -> StoredRecord:
        record_id = parse_id(raw_id)
        record = self.records.get(record_id) if record_id else None
        if record is None or (obj is not None and record.sobject != obj.name):
            if record_id is None:
                raise SalesforceError("MALFORMED_ID", f"malformed id {raw_id}", 400, [])
            raise not_found()
        if record.is_deleted:
            raise SalesforceError("ENTITY_IS_DELETED", "entity is deleted", 404, [])
        if record.sobject == "User":
            raise SalesforceError(
                "DELETE_FAILED", "Users cannot be deleted; deactivate them instead", 400, []
            )
        now = self.now()
        values = {**record.values, "IsDeleted": True, "SystemModstamp": now}
        return self._write(
            StoredRecord(record.sobject, values, deleted_at=now), "deleted", user_id, seeding=seeding
        )

    def upsert(
        self, obj: ObjectDef, field_name: str, value: str, data: dict[str, Any], user_id: str
    ) -> tuple[StoredRecord, bool]:
        definition = self.external_id_field(obj, field_name)
        body = {key: item for key, item in data.items() if key.lower() != definition.name.lower()}
        for key, item in data.items():
            if key.lower() == definition.name.lower() and item is not None and str(item) != value:
                raise SalesforceError(
                    "INVALID_FIELD",
                    f"The value of the external ID field {definition.name} in the body ({item}) does not "
                    f"match the value in the URL ({value})",
                    400,
                    [definition.name],
                )
        matches = self.find_by_field(obj, definition, value)
        if len(matches) > 1:
            raise MultipleMatches([match.id for match in matches])
        if matches:
            return self.update(obj, matches[0].id, body, user_id), False
        if definition.type == "id":
            raise not_found()
        body[definition.name] = value
        return self.create(obj.name, body, user_id), True

    def external_id_field(self, obj: ObjectDef, field_name: str) -> FieldDef:
        definition = obj.get(field_name)
        if definition is None:
            raise not_found(f"Provided external ID field does not exist or is not accessible: {field_name}")
        if definition.type != "id" and not definition.external_id:
            raise SalesforceError(
                "INVALID_FIELD",
                f"Field {definition.name} is not an External ID or indexed field",
                400,
                [definition.name],
            )
        return definition

    # -- validation ------------------------------------------------------------------------------
    def _parse_input(
        self, obj: ObjectDef, data: dict[str, Any], *, creating: bool, seeding: bool
    ) -> dict[str, Value]:
        if not isinstance(data, dict):
            raise SalesforceError("JSON_PARSER_ERROR", "Expected a JSON object for the record", 400, [])
        parsed: dict[str, Value] = {}
        read_only: list[str] = []
        for key, raw in data.items():
            if key == "attributes":
                continue
            definition = obj.fields.get(key.lower()) if seeding else obj.get(key)
            if definition is None:
                raise SalesforceError(
                    "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}", 400, []
                )
            if definition.name == "Id":
                if creating and not seeding:
                    raise SalesforceError(
                        "INVALID_FIELD_FOR_INSERT_UPDATE",
                        "Record ID: cannot specify Id in an insert call",
                        400,
                        ["Id"],
                    )
                continue
            allowed = definition.createable if creating else definition.updateable
            if seeding and definition.name.lower() in SEEDABLE_SYSTEM_FIELDS:
                allowed = True
            if not allowed and not seeding:
                read_only.append(definition.name)
                continue
            parsed[definition.name] = self._coerce(obj, definition, raw)
        if read_only:
            raise SalesforceError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(read_only)}. Please check the security settings "
                "of this field and verify that it is read/write for your profile or permission set.",
                400,
                read_only,
            )
        return parsed

    def _coerce(self, obj: ObjectDef, definition: FieldDef, raw: Any) -> Value:
        value = coerce(definition.type, raw)
        if value is None:
            return None
        if isinstance(value, str):
            if definition.type in ("reference", "id"):
                parsed = parse_id(value)
                if parsed is None:
                    raise SalesforceError(
                        "MALFORMED_ID",
                        f"{definition.label}: id value of incorrect type: {value}",
                        400,
                        [definition.name],
                    )
                return parsed
            if value == "" and definition.type != "textarea":
                return None  # Salesforce stores an empty string as null
            if definition.length and len(value) > definition.length:
                raise SalesforceError(
                    "STRING_TOO_LONG",
                    f"{definition.label}: data value too large: {value[:50]} "
                    f"(max length={definition.length})",
                    400,
                    [definition.name],
                )
            if definition.type == "email" and not _EMAIL.match(value):
                raise SalesforceError(
                    "INVALID_EMAIL_ADDRESS",
                    f"{definition.label}: invalid email address: {value}",
                    400,
                    [definition.name],
                )
            if (
                definition.type == "picklist"
                and definition.restricted
                and definition.picklist_entry(value) is None
            ):
                raise SalesforceError(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{definition.label}: bad value for restricted picklist field: {value}",
                    400,
                    [definition.name],
                )
        return value

    def _check_references(self, obj: ObjectDef, values: dict[str, Value], given: dict[str, Value]) -> None:
        for name in given:
            definition = obj.fields[name.lower()]
            value = values.get(definition.name)
            if definition.type != "reference" or value is None or not definition.createable:
                continue
            reference_id = str(value)
            target_type = self.schema.for_id(reference_id)
            if target_type is None or target_type.name not in definition.reference_to:
                raise SalesforceError(
                    "FIELD_INTEGRITY_EXCEPTION",
                    f"{definition.label}: id value of incorrect type: {reference_id}",
                    400,
                    [definition.name],
                )
            target = self.records.get(reference_id)
            if target is None:
                raise SalesforceError(
                    "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", 400, [definition.name]
                )
            if target.is_deleted:
                raise SalesforceError("ENTITY_IS_DELETED", "entity is deleted", 400, [definition.name])
            if (
                target.sobject == "User"
                and definition.name == "OwnerId"
                and target.values.get("IsActive") is False
            ):
                raise SalesforceError(
                    "INACTIVE_OWNER_OR_USER",
                    f"operation performed with inactive user [{reference_id}] as owner of {obj.name.lower()}",
                    400,
                    [definition.name],
                )

    def _check_unique(self, obj: ObjectDef, values: dict[str, Value], record_id: str) -> None:
        for definition in obj.fields.values():
            value = values.get(definition.name)
            if not definition.unique or value is None:
                continue
            for other in self.find_by_field(obj, definition, str(value)):
                if other.id != record_id:
                    raise SalesforceError(
                        "DUPLICATE_VALUE",
                        f"duplicate value found: {definition.name} duplicates value on record with id: "
                        f"{other.id}",
                        400,
                        [definition.name],
                    )

    # -- derived fields --------------------------------------------------------------------------
    def _derive(
        self, obj: ObjectDef, values: dict[str, Value], old: dict[str, Value] | None, now: dt.datetime
    ) -> None:
        if obj.name in ("Contact", "Lead", "User"):
            values["Name"] = " ".join(
                str(part) for part in (values.get("FirstName"), values.get("LastName")) if part
            )
        if obj.name == "User" and not values.get("Alias"):
            first = str(values.get("FirstName") or "")
            values["Alias"] = (first[:1] + str(values.get("LastName") or ""))[:8].lower() or "user"
        if obj.name == "Lead" and values.get("IsConverted") is None:
            values["IsConverted"] = False
        if obj.name == "Opportunity":
            stage = obj.fields["stagename"].picklist_entry(str(values.get("StageName")))
            values["IsClosed"] = bool(stage and stage.closed)
            values["IsWon"] = bool(stage and stage.won)
        if obj.name == "Task":
            status = obj.fields["status"].picklist_entry(str(values.get("Status")))
            closed = bool(status and status.closed)
            was_closed = bool(old and old.get("IsClosed"))
            values["IsClosed"] = closed
            if not closed:
                values["CompletedDateTime"] = None
            elif not was_closed:
                values["CompletedDateTime"] = values.get("LastModifiedDate") or now
            values["IsHighPriority"] = values.get("Priority") == "High"
        if obj.name == "Event":
            self._derive_event_times(values, old)
        if obj.name in ("Task", "Event"):
            values["IsArchived"] = False
            values["AccountId"] = self._activity_account(values)

    def _activity_account(self, values: dict[str, Value]) -> Value:
        what = self.records.get(str(values.get("WhatId"))) if values.get("WhatId") else None
        if what is not None and what.sobject == "Account":
            return what.id
        if what is not None and what.sobject == "Opportunity" and what.values.get("AccountId"):
            return what.values["AccountId"]
        who = self.records.get(str(values.get("WhoId"))) if values.get("WhoId") else None
        if who is not None and who.sobject == "Contact":
            return who.values.get("AccountId")
        return None

    @staticmethod
    def _derive_event_times(values: dict[str, Value], old: dict[str, Value] | None) -> None:
        def changed(name: str) -> bool:
            return old is None or values.get(name) != old.get(name)

        if values.get("IsAllDayEvent"):
            day = values.get("ActivityDate")
            start = values.get("StartDateTime")
            if not isinstance(day, dt.date) and isinstance(start, dt.datetime):
                day = start.date()
            if not isinstance(day, dt.date):
                raise required_fields_missing(["ActivityDate"])
            midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
            values["ActivityDate"] = day
            values["StartDateTime"] = midnight
            values["ActivityDateTime"] = None
            values["DurationInMinutes"] = 1440
            values["EndDateTime"] = midnight + dt.timedelta(days=1)
            return
        start = values.get("StartDateTime") if changed("StartDateTime") else None
        if start is None and changed("ActivityDateTime"):
            start = values.get("ActivityDateTime")
        if start is None:
            start = values.get("StartDateTime") or values.get("ActivityDateTime")
        if not isinstance(start, dt.datetime):
            raise required_fields_missing(["ActivityDateTime"])
        end = values.get("EndDateTime")
        duration = values.get("DurationInMinutes")
        if old is not None and changed("DurationInMinutes") and not changed("EndDateTime"):
            end = None
        elif old is not None and not changed("EndDateTime") and not changed("DurationInMinutes"):
            end = None  # the start moved: keep the duration
        if isinstance(end, dt.datetime):
            if end < start:
                raise SalesforceError(
                    "FIELD_INTEGRITY_EXCEPTION",
                    "End Date Time: End Date/Time can't be before Start Date/Time",
                    400,
                    ["EndDateTime"],
                )
            duration = int((end - start).total_seconds() // 60)
        elif isinstance(duration, int):
            if duration < 0:
                raise SalesforceError(
                    "FIELD_INTEGRITY_EXCEPTION",
                    "Duration: value outside of valid range",
                    400,
                    ["DurationInMinutes"],
                )
            end = start + dt.timedelta(minutes=duration)
        else:
            raise required_fields_missing(["DurationInMinutes"])
        values["StartDateTime"] = start
        values["ActivityDateTime"] = start
        values["ActivityDate"] = start.date()
        values["EndDateTime"] = end
        values["DurationInMinutes"] = duration


class MultipleMatches(Exception):
    """An external id matched several records (HTTP 300 for upsert and lookups)."""

    def __init__(self, record_ids: list[str]) -> None:
        super().__init__(f"{len(record_ids)} records match")
        self.record_ids = record_ids


def _compared(value: Value, case_sensitive: bool) -> str | None:
    """A field's value as lookups compare it (None: not set)."""
    if value is None:
        return None
    return str(value) if case_sensitive else str(value).lower()


def _file(
    index: dict[str, set[str]], record: StoredRecord, name: str, case_sensitive: bool, *, add: bool
) -> None:
    """File a record under its value of ``name`` in one index, or take it out."""
    key = _compared(record.values.get(name), case_sensitive)
    if key is None:
        return
    if add:
        index.setdefault(key, set()).add(record.id)
    elif (ids := index.get(key)) is not None:
        ids.discard(record.id)
