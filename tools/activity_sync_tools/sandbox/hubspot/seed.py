"""Loading seed data (the format is documented in the package docstring).

Entries may carry a ``ref`` that later entries use to point at them (``"contacts:alice"``); the
loader answers every ref with the id it got. Ids come from the sandbox's counters, so the same seed
on a fresh sandbox always yields the same ids.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from .errors import validation_error
from .marketing import FormField
from .portal import Portal
from .schema import (
    ASSOCIATION_TYPES,
    OBJECT_TYPES,
    ObjectType,
    default_association_type,
    parse_instant,
    resolve_object_type,
)
from .store import ChangeSource, CrmRecord
from .tracking import record_marketing_email_event
from .workflows import DOCUMENT_VIEW, INTEGRATION_EVENT, record_activity

IMPORT = ChangeSource("IMPORT")
SEED_KEYS = frozenset(
    {
        "clock",
        "owners",
        "property_groups",
        "properties",
        "associations",
        "marketing_emails",
        "email_events",
        "forms",
        "document_views",
        "timeline_events",
    }
    | {t.name for t in OBJECT_TYPES}
)

Refs = dict[str, dict[str, str]]


def load_seed_file(path: str | Path) -> dict[str, Any]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a seed file holds a JSON object")
    return data


def apply_seed(sandbox: Portal, data: dict[str, Any]) -> Refs:
    """Create everything ``data`` describes; callers hold the sandbox lock."""
    unknown = set(data) - SEED_KEYS
    if unknown:
        raise validation_error(f"Unknown seed keys: {', '.join(sorted(unknown))}")
    clock = data.get("clock")
    if isinstance(clock, dict) and clock.get("now"):
        instant = parse_instant(clock["now"])
        if instant is None:
            raise validation_error(f"Invalid seed clock: {clock['now']}")
        sandbox.clock.set(dt.datetime.fromtimestamp(instant / 1000, dt.UTC), frozen=bool(clock.get("frozen")))
    refs: Refs = {"owners": {}, "forms": {}, "marketing_emails": {}, **{t.name: {} for t in OBJECT_TYPES}}
    now = sandbox.clock.now_ms()

    for entry in data.get("owners") or []:
        owner = sandbox.owners.add(entry, now)
        refs["owners"][str(entry.get("ref") or owner.email)] = str(owner.id)
    for type_name, groups in (data.get("property_groups") or {}).items():
        kind = resolve_object_type(type_name)
        for group in groups:
            sandbox.store.groups[kind.name][group["name"]] = {
                "name": group["name"],
                "label": group.get("label", group["name"]),
                "displayOrder": int(group.get("displayOrder", -1)),
                "archived": False,
            }
    for type_name, definitions in (data.get("properties") or {}).items():
        kind = resolve_object_type(type_name)
        for definition in definitions:
            sandbox.crm.create_property(kind, definition)

    pending: list[tuple[CrmRecord, Any]] = []
    for kind in OBJECT_TYPES:
        for entry in data.get(kind.name) or []:
            record = _create_record(sandbox, kind, entry, refs)
            refs[kind.name][str(entry.get("ref") or record.id)] = str(record.id)
            for link in entry.get("associations") or []:
                pending.append((record, link))
    for record, link in pending:
        _associate(sandbox, record, link, refs)
    for link in data.get("associations") or []:
        if not isinstance(link, dict) or "from" not in link:
            raise validation_error(f"A seed association needs from and to: {link}")
        _, source = _resolve(sandbox, link["from"], refs)
        _associate(sandbox, source, link, refs)

    for entry in data.get("marketing_emails") or []:
        email = sandbox.marketing.add_email(
            str(entry["name"]),
            str(entry.get("subject") or entry["name"]),
            _instant(entry.get("createdAt"), now),
            email_id=entry.get("id"),
            campaign_id=entry.get("campaignId"),
            publish_date=parse_instant(entry.get("publishDate")),
            state=str(entry.get("state") or "PUBLISHED"),
        )
        refs["marketing_emails"][str(entry.get("ref") or email.id)] = str(email.id)
    for entry in data.get("email_events") or []:
        _email_event(sandbox, entry, refs, now)

    for entry in data.get("forms") or []:
        form = sandbox.marketing.add_form(
            str(entry["name"]),
            [_form_field(f) for f in entry.get("fields") or ["email"]],
            _instant(entry.get("createdAt"), now),
            form_id=entry.get("id"),
            inline_message=entry.get("inlineMessage"),
        )
        refs["forms"][str(entry.get("ref") or form.id)] = form.id
        for submission in entry.get("submissions") or []:
            values = submission.get("values") or {}
            if isinstance(values, dict):
                values = [{"objectTypeId": "0-1", "name": k, "value": str(v)} for k, v in values.items()]
            sandbox.marketing_api.record_submission(
                form,
                values,
                _instant(submission.get("submittedAt"), now),
                submission.get("pageUrl"),
                update_contact=bool(submission.get("updateContact", False)),
            )

    # Recorded only: a seed describes what happened before the workflow action was listening.
    for entry in data.get("document_views") or []:
        record_activity(sandbox, DOCUMENT_VIEW, entry, refs)
    for entry in data.get("timeline_events") or []:
        record_activity(sandbox, INTEGRATION_EVENT, entry, refs)
    return refs


def _create_record(sandbox: Portal, kind: ObjectType, entry: dict[str, Any], refs: Refs) -> CrmRecord:
    properties = dict(entry.get("properties") or {})
    if entry.get("owner"):
        owner_ref = str(entry["owner"])
        owner_id = refs["owners"].get(owner_ref)
        if owner_id is None:
            match = sandbox.owners.listing(archived=False, email=owner_ref)
            if not match:
                raise validation_error(f"Unknown owner {owner_ref}")
            owner_id = str(match[0].id)
        properties["hubspot_owner_id"] = owner_id
    created_at = parse_instant(entry.get("createdAt"))
    return sandbox.store.create(kind, properties, IMPORT, created_at=created_at, system=True)


def _resolve(sandbox: Portal, reference: Any, refs: Refs) -> tuple[ObjectType, CrmRecord]:
    """``"contacts:alice"``, ``{"type": "contacts", "ref": "alice"}`` or ``{"type", "id"}``."""
    if isinstance(reference, str) and ":" in reference:
        type_name, key = reference.split(":", 1)
        reference = {"type": type_name, "ref": key}
    if not isinstance(reference, dict) or "type" not in reference:
        raise validation_error(f"Cannot resolve seed reference {reference!r}")
    kind = resolve_object_type(str(reference["type"]))
    key = str(reference.get("ref") or reference.get("id"))
    record_id = refs[kind.name].get(key, key)
    record = sandbox.store.get(kind, record_id)
    if record is None:
        raise validation_error(f"Seed reference {reference!r} points at nothing")
    return kind, record


def _associate(sandbox: Portal, source: CrmRecord, link: Any, refs: Refs) -> None:
    target_ref = link.get("to") if isinstance(link, dict) else link
    target_type, target = _resolve(sandbox, target_ref, refs)
    type_id = link.get("typeId") if isinstance(link, dict) else None
    association = (
        ASSOCIATION_TYPES.get(int(type_id))
        if type_id is not None
        else default_association_type(source.object_type, target_type)
    )
    if (
        association is None
        or association.from_type is not source.object_type
        or association.to_type is not target_type
    ):
        raise validation_error(
            f"No association type {type_id} from {source.object_type.name} to {target_type.name}"
        )
    sandbox.store.associate(source, target, association, IMPORT)


def _email_event(sandbox: Portal, entry: dict[str, Any], refs: Refs, now: int) -> None:
    campaign_id = entry.get("emailCampaignId")
    if campaign_id is None:
        email_ref = str(entry.get("email") or "")
        email_id = refs["marketing_emails"].get(email_ref, email_ref)
        email = sandbox.marketing.emails.get(int(email_id)) if email_id.isdigit() else None
        if email is None:
            raise validation_error(f"Email event for unknown marketing email {email_ref!r}")
        campaign_id = email.campaign_ids[0]
    details = {
        k: v
        for k, v in entry.items()
        if k not in ("type", "recipient", "email", "emailCampaignId", "created")
    }
    record_marketing_email_event(
        sandbox,
        str(entry["type"]).upper(),
        str(entry["recipient"]),
        int(campaign_id),
        _instant(entry.get("created"), now),
        details,
    )


def _form_field(raw: Any) -> FormField:
    if isinstance(raw, str):
        return FormField(
            raw,
            raw.replace("_", " ").title(),
            "email" if raw == "email" else "single_line_text",
            required=raw == "email",
        )
    return FormField(
        name=str(raw["name"]),
        label=str(raw.get("label") or raw["name"]),
        field_type=str(raw.get("fieldType") or ("email" if raw["name"] == "email" else "single_line_text")),
        required=bool(raw.get("required", False)),
        object_type_id=str(raw.get("objectTypeId") or "0-1"),
    )


def _instant(value: Any, default: int) -> int:
    instant = parse_instant(value)
    return default if instant is None else instant
