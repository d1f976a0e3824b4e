"""Loading a seed (the format is documented in the package docstring)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from activity_sync_tools.sandbox.salesforce.ids import parse_id
from activity_sync_tools.sandbox.salesforce.schema import Schema


class SeedTarget(Protocol):
    """What loading a seed needs of the org (the sandbox app provides it): its schema, users and
    records, and the seed keys it has handed out."""

    schema: Schema
    seed_keys: dict[str, str]
    run_as_user_id: str

    def create_user(self, fields: dict[str, Any]) -> str: ...

    def set_run_as(self, reference: str) -> str: ...

    def seed_record(
        self, sobject: str, fields: dict[str, Any], creator: str, *, deleted: bool = False
    ) -> str: ...


# Seed list name -> sObject, in dependency order (accounts before the contacts that point at them).
RECORD_SECTIONS = (
    ("accounts", "Account"),
    ("contacts", "Contact"),
    ("leads", "Lead"),
    ("opportunities", "Opportunity"),
    ("tasks", "Task"),
    ("events", "Event"),
)
KNOWN_SECTIONS = frozenset(
    {"users", "run_as", "picklists", "custom_fields", "hidden_fields", *(name for name, _ in RECORD_SECTIONS)}
)


class SeedError(ValueError):
    pass


def read_seed_file(path: str | Path) -> dict[str, Any]:
    text = Path(path).read_text(encoding="utf-8")
    if str(path).endswith((".yaml", ".yml")):
        import yaml

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise SeedError("a seed is a mapping of sections")
    return data


def resolve_references(value: Any, keys: dict[str, str]) -> Any:
    """``"@key"`` strings become the id of the seeded record with that key."""
    if isinstance(value, str) and value.startswith("@") and len(value) > 1:
        if value[1:] not in keys:
            raise SeedError(f"unknown seed reference {value!r}")
        return keys[value[1:]]
    return value


def apply_seed(sandbox: SeedTarget, data: dict[str, Any]) -> dict[str, str]:
    """Load ``data`` into the sandbox; returns every seed key -> record id (cumulative)."""
    unknown = set(data) - KNOWN_SECTIONS
    if unknown:
        raise SeedError(f"unknown seed sections: {', '.join(sorted(unknown))}")
    schema = sandbox.schema
    for object_name, fields in (data.get("custom_fields") or {}).items():
        for spec in fields:
            schema.add_custom_field(object_name, spec)
    for qualified, spec in (data.get("picklists") or {}).items():
        object_name, _, field_name = qualified.partition(".")
        if isinstance(spec, dict):
            schema.set_picklist(object_name, field_name, spec["values"], spec.get("restricted"))
        else:
            schema.set_picklist(object_name, field_name, spec)
    for object_name, field_names in (data.get("hidden_fields") or {}).items():
        for field_name in field_names:
            schema.set_field_access(object_name, field_name, False)
    for user in data.get("users") or []:
        entry = dict(user)
        key = entry.pop("key", None)
        record_id = sandbox.create_user(entry)
        if key:
            sandbox.seed_keys[str(key)] = record_id
    if data.get("run_as"):
        sandbox.set_run_as(str(resolve_references(data["run_as"], sandbox.seed_keys)))
    for section, sobject in RECORD_SECTIONS:
        for raw in data.get(section) or []:
            entry = {name: resolve_references(value, sandbox.seed_keys) for name, value in dict(raw).items()}
            key = entry.pop("key", None)
            deleted = bool(entry.pop("IsDeleted", False))
            creator = entry.get("CreatedById") or sandbox.run_as_user_id
            if not isinstance(creator, str) or parse_id(creator) is None:
                raise SeedError(f"CreatedById must be a user id or @key, got {creator!r}")
            record_id = sandbox.seed_record(sobject, entry, creator, deleted=deleted)
            if key:
                sandbox.seed_keys[str(key)] = record_id
    return dict(sandbox.seed_keys)
