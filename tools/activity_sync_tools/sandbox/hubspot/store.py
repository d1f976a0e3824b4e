"""The sandbox's CRM state: records of every object type, their property definitions and unique-value
indexes, and the association graph. Callers hold the sandbox's lock around every call.

Writes are validated the way HubSpot validates them (unknown property, read-only property, bad
enumeration option, bad owner, bad number/date/email, duplicate unique value) and each change is
reported to a listener as a :class:`ChangeEvent`, which the webhook dispatcher turns into deliveries.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import HubSpotError, PropertyProblem, invalid_properties
from .schema import (
    ASSOCIATION_TYPES,
    CONTACTS,
    EMAILS,
    OBJECT_TYPES,
    TASKS,
    AssociationType,
    ObjectType,
    PropertyDefinition,
    default_groups,
    default_properties,
    ms_to_iso,
    parse_instant,
    reverse_association_type,
)

_EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_UNIQUE_PROPERTIES = 10


@dataclass(frozen=True)
class ChangeSource:
    """Who made a change: HubSpot's webhook ``changeSource``/``sourceId`` and the property history's
    ``sourceType``/``sourceId`` (a private app's API writes show as ``INTEGRATION`` with the app id)."""

    kind: str
    source_id: str | None = None


SYSTEM = ChangeSource("CRM_UI", "userId:0")


@dataclass
class HistoryEntry:
    value: str
    timestamp: int
    source: ChangeSource


@dataclass
class CrmRecord:
    object_type: ObjectType
    id: int
    properties: dict[str, str]
    created_at: int
    updated_at: int
    searchable_from: int
    archived: bool = False
    archived_at: int | None = None
    history: dict[str, list[HistoryEntry]] = field(default_factory=dict)

    def value(self, name: str) -> str | None:
        return self.properties.get(name)


# Alike in shape to core.LoggedRequest (plain fields, optional ones last), unrelated in meaning.
@dataclass(frozen=True)
class ChangeEvent:
    action: str  # creation | propertyChange | deletion | associationChange
    object_type: ObjectType
    object_id: int
    occurred_at: int
    source: ChangeSource
    property_name: str | None = None
    property_value: str | None = None
    to_object_type: ObjectType | None = None
    to_object_id: int | None = None
    association_type_id: int | None = None
    association_removed: bool = False


ChangeListener = Callable[[ChangeEvent], None]
OwnerCheck = Callable[[str], bool]

NodeKey = tuple[str, int]


class CrmStore:
    def __init__(self, portal_id: int, now_ms: Callable[[], int], owner_exists: OwnerCheck) -> None:
        self.portal_id = portal_id
        self._now_ms = now_ms
        self._owner_exists = owner_exists
        self.listeners: list[ChangeListener] = []
        self.search_index_lag_ms = 0
        self.reset()

    def reset(self) -> None:
        self._next_id = 1001
        self._records: dict[str, dict[int, CrmRecord]] = {t.name: {} for t in OBJECT_TYPES}
        self._definitions: dict[str, dict[str, PropertyDefinition]] = {
            t.name: default_properties(t) for t in OBJECT_TYPES
        }
        self.groups: dict[str, dict[str, dict[str, Any]]] = {t.name: default_groups(t) for t in OBJECT_TYPES}
        self._unique: dict[tuple[str, str], dict[str, int]] = {}
        # The portal admin's validation rules: properties a record must have, by object type.
        # HubSpot applies them to API writes on date-based paths only (from 2026-09).
        self.required_by_rules: dict[str, list[str]] = {}
        self._edges: dict[NodeKey, dict[NodeKey, set[int]]] = {}

    # -- property definitions ------------------------------------------------------------------
    def definitions(self, object_type: ObjectType) -> dict[str, PropertyDefinition]:
        return self._definitions[object_type.name]

    def add_definition(self, object_type: ObjectType, definition: PropertyDefinition) -> None:
        if definition.has_unique_value:
            unique = [
                d
                for d in self.definitions(object_type).values()
                if d.has_unique_value and not d.hubspot_defined
            ]
            if len(unique) >= MAX_UNIQUE_PROPERTIES:
                raise HubSpotError(
                    400,
                    f"You can have at most {MAX_UNIQUE_PROPERTIES} unique value properties per object type.",
                    "VALIDATION_ERROR",
                )
        self.definitions(object_type)[definition.name] = definition

    def is_unique(self, object_type: ObjectType, name: str) -> bool:
        definition = self.definitions(object_type).get(name)
        return definition is not None and definition.has_unique_value and not definition.archived

    # -- reads ---------------------------------------------------------------------------------
    def get(
        self, object_type: ObjectType, object_id: str | int, *, archived: bool = False
    ) -> CrmRecord | None:
        try:
            key = int(object_id)
        except (TypeError, ValueError):
            return None
        record = self._records[object_type.name].get(key)
        if record is None or record.archived != archived:
            return None
        return record

    def find(
        self, object_type: ObjectType, value: str, id_property: str | None, *, archived: bool = False
    ) -> CrmRecord | None:
        """A record by id, or by the value of a unique property (``idProperty``)."""
        if not id_property or id_property == "hs_object_id":
            return self.get(object_type, value, archived=archived)
        if not self.is_unique(object_type, id_property):
            raise HubSpotError(
                400,
                f"Property {id_property} is not a unique value property and cannot be used as idProperty.",
                "VALIDATION_ERROR",
            )
        if archived:
            return next(
                (r for r in self.records(object_type, archived=True) if r.value(id_property) == value), None
            )
        found = self._unique.get((object_type.name, id_property), {}).get(
            self._unique_key(id_property, value)
        )
        return None if found is None else self.get(object_type, found)

    def records(self, object_type: ObjectType, *, archived: bool = False) -> list[CrmRecord]:
        return [r for r in self._records[object_type.name].values() if r.archived == archived]

    def count(self, object_type: ObjectType) -> int:
        return len(self.records(object_type))

    # -- writes --------------------------------------------------------------------------------
    def create(
        self,
        object_type: ObjectType,
        properties: Mapping[str, Any],
        source: ChangeSource,
        *,
        created_at: int | None = None,
        validate: bool = True,
        system: bool = False,
    ) -> CrmRecord:
        """A new record; ``system`` writes (seeds, admin routes) may set read-only properties."""
        values = self.normalize(object_type, properties, creating=True, enforce=validate, system=system)
        self._check_unique(object_type, values, None)
        if object_type.is_engagement and validate and not values.get("hs_timestamp"):
            raise invalid_properties(
                [PropertyProblem("hs_timestamp", "REQUIRED_PROPERTY", "hs_timestamp is required")],
                self.portal_id,
            )
        now = self._now_ms()
        created = (
            created_at if created_at is not None else parse_instant(values.get(object_type.created_property))
        )
        created = now if created is None else created
        record = CrmRecord(
            object_type=object_type,
            id=self._next_id,
            properties={},
            created_at=created,
            updated_at=max(created, now),
            searchable_from=now + self.search_index_lag_ms,
        )
        self._next_id += 1
        derived = self._derived(object_type, values, {})
        values = {**values, **derived}
        values[object_type.created_property] = ms_to_iso(record.created_at)
        values[object_type.modified_property] = ms_to_iso(record.updated_at)
        values["hs_object_id"] = str(record.id)
        self._records[object_type.name][record.id] = record
        self._emit(ChangeEvent("creation", object_type, record.id, now, source))
        self._apply(record, values, source, now)
        return record

    def update(
        self,
        record: CrmRecord,
        properties: Mapping[str, Any],
        source: ChangeSource,
        *,
        validate: bool = True,
        system: bool = False,
    ) -> list[str]:
        """Apply property changes; returns the names whose value changed."""
        object_type = record.object_type
        values = self.normalize(object_type, properties, creating=False, enforce=validate, system=system)
        self._check_unique(object_type, values, record)
        changed = {k: v for k, v in values.items() if record.properties.get(k) != v}
        if not changed:
            return []
        changed.update(self._derived(object_type, changed, record.properties))
        now = self._now_ms()
        record.updated_at = max(now, record.created_at)
        changed[object_type.modified_property] = ms_to_iso(record.updated_at)
        return self._apply(record, changed, source, now)

    def set_system_values(
        self, record: CrmRecord, values: Mapping[str, str | None], source: ChangeSource
    ) -> None:
        """Values HubSpot itself maintains (tracking counts, conversion dates): no validation."""
        self.update(record, values, source, validate=False)

    def check_create(self, object_type: ObjectType, properties: Mapping[str, Any]) -> dict[str, str | None]:
        """Validate a would-be record without creating it (batch creates are all or nothing)."""
        values = self.normalize(object_type, properties, creating=True)
        self._check_unique(object_type, values, None)
        if object_type.is_engagement and not values.get("hs_timestamp"):
            raise invalid_properties(
                [PropertyProblem("hs_timestamp", "REQUIRED_PROPERTY", "hs_timestamp is required")],
                self.portal_id,
            )
        return values

    def check_update(self, record: CrmRecord, properties: Mapping[str, Any]) -> dict[str, str | None]:
        values = self.normalize(record.object_type, properties, creating=False)
        self._check_unique(record.object_type, values, record)
        return values

    def archive(self, record: CrmRecord, source: ChangeSource) -> None:
        if record.archived:
            return
        now = self._now_ms()
        for name, value in record.properties.items():
            if self.is_unique(record.object_type, name):
                self._unique.get((record.object_type.name, name), {}).pop(self._unique_key(name, value), None)
        record.archived = True
        record.archived_at = now
        self._emit(ChangeEvent("deletion", record.object_type, record.id, now, source))

    def _apply(
        self, record: CrmRecord, values: Mapping[str, str | None], source: ChangeSource, now: int
    ) -> list[str]:
        changed: list[str] = []
        for name, value in values.items():
            previous = record.properties.get(name)
            if previous == value:
                continue
            if self.is_unique(record.object_type, name):
                index = self._unique.setdefault((record.object_type.name, name), {})
                if previous is not None:
                    index.pop(self._unique_key(name, previous), None)
                if value is not None:
                    index[self._unique_key(name, value)] = record.id
            if value is None:
                record.properties.pop(name, None)
            else:
                record.properties[name] = value
            record.history.setdefault(name, []).insert(0, HistoryEntry(value or "", now, source))
            changed.append(name)
            self._emit(
                ChangeEvent("propertyChange", record.object_type, record.id, now, source, name, value or "")
            )
        return changed

    # -- validation ----------------------------------------------------------------------------
    # Its signature is shaped like update's, but it only checks and converts values; update writes them.
    def normalize(
        self,
        object_type: ObjectType,
        properties: Mapping[str, Any],
        *,
        creating: bool,
        enforce: bool = True,
        system: bool = False,
    ) -> dict[str, str | None]:
        """Property values as HubSpot stores them (strings, ISO instants, lower-case emails); raises
        HubSpot's ``Property values were not valid`` error listing every bad value."""
        if not isinstance(properties, Mapping):
            raise HubSpotError(400, "properties must be an object", "VALIDATION_ERROR")
        definitions = self.definitions(object_type)
        problems: list[PropertyProblem] = []
        values: dict[str, str | None] = {}
        for name, raw in properties.items():
            definition = definitions.get(name)
            if definition is None or definition.archived:
                if enforce:
                    problems.append(
                        PropertyProblem(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
                    )
                continue
            writable_on_create = creating and name == object_type.created_property
            if enforce and not system and definition.read_only_value and not writable_on_create:
                problems.append(
                    PropertyProblem(
                        name, "READ_ONLY_VALUE", f"{name} is a read only property; its value cannot be set."
                    )
                )
                continue
            try:
                values[name] = self._normalize_value(object_type, definition, raw, enforce)
            except _BadValue as bad:
                problems.append(PropertyProblem(name, bad.code, bad.message))
        if problems:
            raise invalid_properties(problems, self.portal_id)
        return values

    def _normalize_value(
        self, object_type: ObjectType, definition: PropertyDefinition, raw: Any, enforce: bool
    ) -> str | None:
        if raw is None:
            return None
        text = ("true" if raw else "false") if isinstance(raw, bool) else str(raw)
        if text == "":
            return None
        kind = definition.type
        if kind == "number":
            try:
                float(text)
            except ValueError:
                raise _BadValue("INVALID_NUMBER", f"{text} is not a valid number") from None
            return text.strip()
        if kind in ("datetime", "date"):
            instant = parse_instant(text)
            if instant is None:
                raise _BadValue("INVALID_DATE", f"{text} is not a valid {kind} value")
            if kind == "date":
                if instant % 86_400_000:
                    raise _BadValue("INVALID_DATE", f"{text} is not at midnight UTC; date values must be")
                return ms_to_iso(instant)[:10]
            return ms_to_iso(instant)
        if kind == "bool":
            if text.lower() not in ("true", "false"):
                raise _BadValue("INVALID_OPTION", f"{text} was not one of the allowed options: [true, false]")
            return text.lower()
        if kind == "enumeration" and enforce:
            if definition.referenced_object_type == "OWNER":
                if not self._owner_exists(text):
                    raise _BadValue("INVALID_OWNER_ID", f"{text} is not a valid owner id")
                return text
            chosen = text.split(";") if definition.field_type == "checkbox" else [text]
            allowed = definition.option_values
            for option in chosen:
                if option not in allowed:
                    listing = ", ".join(sorted(allowed))
                    raise _BadValue(
                        "INVALID_OPTION", f"{option} was not one of the allowed options: [{listing}]"
                    )
            return text
        if object_type is CONTACTS and definition.name == "email":
            if enforce and not _EMAIL_PATTERN.match(text.strip()):
                raise _BadValue("INVALID_EMAIL", f"Email address {text} is invalid")
            return text.strip().lower()
        return text

    def _check_unique(
        self, object_type: ObjectType, values: Mapping[str, str | None], current: CrmRecord | None
    ) -> None:
        problems: list[PropertyProblem] = []
        for name, value in values.items():
            if value is None or not self.is_unique(object_type, name) or name == "hs_object_id":
                continue
            holder = self._unique.get((object_type.name, name), {}).get(self._unique_key(name, value))
            if holder is None or (current is not None and holder == current.id):
                continue
            if object_type is CONTACTS and name == "email":
                raise HubSpotError(409, f"Contact already exists. Existing ID: {holder}", "CONFLICT")
            problems.append(
                PropertyProblem(
                    name,
                    "DUPLICATE_VALUE",
                    f"{name} already has that value: {value} (existing {object_type.singular} {holder})",
                )
            )
        if problems:
            raise invalid_properties(problems, self.portal_id)

    @staticmethod
    def _unique_key(name: str, value: str) -> str:
        return value.lower() if name == "email" else value

    def _derived(
        self, object_type: ObjectType, changes: Mapping[str, str | None], current: Mapping[str, str]
    ) -> dict[str, str | None]:
        """Properties HubSpot computes from others on write."""
        derived: dict[str, str | None] = {}
        if object_type is TASKS and "hs_task_status" in changes:
            completed = changes["hs_task_status"] == "COMPLETED"
            if completed and current.get("hs_task_status") != "COMPLETED":
                derived["hs_task_completion_date"] = ms_to_iso(self._now_ms())
            elif not completed:
                derived["hs_task_completion_date"] = None
        if object_type is EMAILS and changes.get("hs_email_headers"):
            derived.update(_email_header_properties(changes["hs_email_headers"] or ""))
        return derived

    # -- associations --------------------------------------------------------------------------
    def associate(
        self, source_record: CrmRecord, target: CrmRecord, association: AssociationType, source: ChangeSource
    ) -> bool:
        """Add ``association`` (and HubSpot's reverse type) between two records; False if present."""
        reverse = reverse_association_type(association)
        forward_types = self._edges.setdefault(_node(source_record), {}).setdefault(_node(target), set())
        if association.type_id in forward_types:
            return False
        forward_types.add(association.type_id)
        self._edges.setdefault(_node(target), {}).setdefault(_node(source_record), set()).add(reverse.type_id)
        self._emit_association(source_record, target, association.type_id, False, source)
        self._emit_association(target, source_record, reverse.type_id, False, source)
        return True

    def disassociate(
        self,
        source_record: CrmRecord,
        target: CrmRecord,
        source: ChangeSource,
        type_ids: Iterable[int] | None = None,
    ) -> bool:
        forward = self._edges.get(_node(source_record), {}).get(_node(target))
        if not forward:
            return False
        removing = set(forward) if type_ids is None else set(type_ids) & forward
        if not removing:
            return False
        backward = self._edges.get(_node(target), {}).get(_node(source_record), set())
        for type_id in removing:
            reverse_id = reverse_association_type(ASSOCIATION_TYPES[type_id]).type_id
            forward.discard(type_id)
            backward.discard(reverse_id)
            self._emit_association(source_record, target, type_id, True, source)
            self._emit_association(target, source_record, reverse_id, True, source)
        if not forward:
            del self._edges[_node(source_record)][_node(target)]
        if not backward:
            self._edges.get(_node(target), {}).pop(_node(source_record), None)
        return True

    def associations(self, record: CrmRecord, to_type: ObjectType) -> list[tuple[CrmRecord, set[int]]]:
        """Live records of ``to_type`` associated with ``record``, ordered by id."""
        found: list[tuple[CrmRecord, set[int]]] = []
        for (type_name, target_id), type_ids in sorted(self._edges.get(_node(record), {}).items()):
            if type_name != to_type.name or not type_ids:
                continue
            target = self.get(to_type, target_id)
            if target is not None:
                found.append((target, set(type_ids)))
        return found

    def _emit_association(
        self, source_record: CrmRecord, target: CrmRecord, type_id: int, removed: bool, source: ChangeSource
    ) -> None:
        self._emit(
            ChangeEvent(
                "associationChange",
                source_record.object_type,
                source_record.id,
                self._now_ms(),
                source,
                to_object_type=target.object_type,
                to_object_id=target.id,
                association_type_id=type_id,
                association_removed=removed,
            )
        )

    def _emit(self, event: ChangeEvent) -> None:
        for listener in self.listeners:
            listener(event)


class _BadValue(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _node(record: CrmRecord) -> NodeKey:
    return (record.object_type.name, record.id)


def _email_header_properties(raw_headers: str) -> dict[str, str | None]:
    """HubSpot fills the read-only from/to/cc/bcc properties from ``hs_email_headers`` JSON."""
    try:
        headers = json.loads(raw_headers)
    except ValueError:
        return {}
    if not isinstance(headers, dict):
        return {}
    derived: dict[str, str | None] = {}
    sender = headers.get("from")
    if isinstance(sender, dict):
        derived["hs_email_from_email"] = sender.get("email")
        derived["hs_email_from_firstname"] = sender.get("firstName")
        derived["hs_email_from_lastname"] = sender.get("lastName")
    for field_name, key in (("to", "to"), ("cc", "cc"), ("bcc", "bcc")):
        people = headers.get(key)
        if isinstance(people, list) and people:
            derived[f"hs_email_{field_name}_email"] = ";".join(str(p.get("email", "")) for p in people)
            if field_name == "to":
                derived["hs_email_to_firstname"] = ";".join(str(p.get("firstName", "")) for p in people)
                derived["hs_email_to_lastname"] = ";".join(str(p.get("lastName", "")) for p in people)
    return {k: (v or None) for k, v in derived.items()}
