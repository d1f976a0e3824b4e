"""Request parsing and response shapes shared by the HubSpot sandbox's routes."""

from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Request

from .errors import validation_error
from .schema import ASSOCIATION_TYPES, ObjectType, ms_to_iso
from .store import CrmRecord, CrmStore

MAX_BATCH_INPUTS = 100
MAX_HISTORY_BATCH_INPUTS = 50


def json_body(request: Request, *, required: bool = True) -> Any:
    raw = request.get_data(as_text=True)
    if not raw.strip():
        if required:
            raise validation_error(
                "Invalid input JSON on line 1, column 1: No content to map due to end-of-input"
            )
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise validation_error(f"Invalid input JSON on line 1, column 1: {exc}") from None


def json_object(request: Request) -> dict[str, Any]:
    body = json_body(request)
    if not isinstance(body, dict):
        raise validation_error("Invalid input JSON: expected an object")
    return body


def list_param(request: Request, name: str) -> list[str]:
    """``?properties=a,b`` and ``?properties=a&properties=b`` alike."""
    values: list[str] = []
    for raw in request.args.getlist(name):
        values.extend(v.strip() for v in raw.split(",") if v.strip())
    return values


def bool_param(request: Request, name: str) -> bool:
    return request.args.get(name, "false").lower() == "true"


def int_param(
    request: Request, name: str, default: int, *, minimum: int = 0, maximum: int | None = None
) -> int:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise validation_error(f"{name} must be an integer; got {raw}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise validation_error(f"{name} must be {bound}; got {value}")
    return value


def batch_inputs(
    body: dict[str, Any], *, with_history: bool = False, cap: int = MAX_BATCH_INPUTS
) -> list[Any]:
    inputs = body.get("inputs")
    if not isinstance(inputs, list):
        raise validation_error(
            "inputs must be a list", errors=[{"message": "must not be null", "in": "inputs"}]
        )
    cap = MAX_HISTORY_BATCH_INPUTS if with_history else cap
    if len(inputs) > cap:
        what = "batch request for property histories" if with_history else "batch request"
        raise validation_error(
            f"The maximum number of inputs supported in a {what} is {cap}. "
            "Please reduce the number of items and try again",
            errors=[{"message": f"size must be between 0 and {cap}", "in": "inputs", "code": "INVALID_SIZE"}],
        )
    return inputs


def batch_envelope(
    results: list[dict[str, Any]], errors: list[dict[str, Any]], started: str, completed: str
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": started,
        "completedAt": completed,
    }
    if errors:
        body["errors"] = errors
        body["numErrors"] = len(errors)
    return body


def object_json(
    store: CrmStore,
    record: CrmRecord,
    properties: list[str] | None = None,
    *,
    every_property: bool = False,
    associations: list[ObjectType] | None = None,
    with_history: list[str] | None = None,
) -> dict[str, Any]:
    """``SimplePublicObject[WithAssociations]``. Requested properties that exist but have no value
    come back as ``null``, as HubSpot sends them; unknown names are ignored."""
    definitions = store.definitions(record.object_type)
    if every_property:
        props: dict[str, str | None] = dict(sorted(record.properties.items()))
    else:
        names = properties or list(record.object_type.default_read_properties)
        props = {n: record.properties.get(n) for n in names if n in definitions}
    body: dict[str, Any] = {
        "id": str(record.id),
        "properties": props,
        "createdAt": ms_to_iso(record.created_at),
        "updatedAt": ms_to_iso(record.updated_at),
        "archived": record.archived,
    }
    if record.archived and record.archived_at is not None:
        body["archivedAt"] = ms_to_iso(record.archived_at)
    if with_history:
        body["propertiesWithHistory"] = {
            name: [
                {
                    "value": entry.value,
                    "timestamp": ms_to_iso(entry.timestamp),
                    "sourceType": entry.source.kind,
                    **({"sourceId": entry.source.source_id} if entry.source.source_id else {}),
                }
                for entry in record.history.get(name, [])
            ]
            for name in with_history
            if name in definitions
        }
    if associations:
        grouped: dict[str, Any] = {}
        for to_type in associations:
            results = [
                {"id": str(target.id), "type": ASSOCIATION_TYPES[type_id].v3_name}
                for target, type_ids in store.associations(record, to_type)
                for type_id in sorted(type_ids)
            ]
            if results:
                grouped[to_type.name] = {"results": results}
        if grouped:
            body["associations"] = grouped
    return body


def is_dated(request: Request) -> bool:
    """Whether the request came on a date-based path (``/crm/objects/2026-09/...``), whose answers
    differ from the legacy ``/v3``/``/v4`` ones in a few statuses."""
    segments = request.path.strip("/").split("/")
    return len(segments) > 2 and segments[2][:2] == "20"
