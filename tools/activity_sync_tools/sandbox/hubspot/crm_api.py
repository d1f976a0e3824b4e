"""CRM object routes (``/crm/v3/objects/...``: basic, batch, search), owners and properties."""

from __future__ import annotations

import re
from typing import Any

from werkzeug.wrappers import Request, Response

from activity_sync_tools.sandbox.core import json_response

from .errors import (
    HubSpotError,
    PropertyProblem,
    batch_item_error,
    invalid_properties,
    object_not_found,
    resource_not_found,
    validation_error,
)
from .portal import Portal
from .schema import (
    FIELD_TYPES,
    PROPERTY_TYPES,
    ObjectType,
    PropertyDefinition,
    PropertyOption,
    find_object_type,
    resolve_object_type,
)
from .search import parse_search_request, run_search
from .store import CrmRecord
from .wire import (
    batch_envelope,
    batch_inputs,
    bool_param,
    int_param,
    is_dated,
    json_object,
    list_param,
    object_json,
)

MAX_LIST_LIMIT = 100
# (status, results, errors), or None for a 204
BatchOutcome = tuple[int, list[dict[str, Any]], list[dict[str, Any]]] | None
_PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class CrmApi:
    def __init__(self, sandbox: Portal) -> None:
        self.sandbox = sandbox
        self.store = sandbox.store

    # -- basic ---------------------------------------------------------------------------------
    def objects(self, request: Request, object_type: str) -> Response:
        kind = resolve_object_type(object_type)
        if request.method == "POST":
            created = json_object(request)
            with self.sandbox.lock:
                properties = created.get("properties")
                self._check_rules(request, kind, properties if isinstance(properties, dict) else {})
                record = self.sandbox.create_record(
                    kind,
                    created.get("properties") or {},
                    created.get("associations") or [],
                    self.sandbox.api_source,
                )
                return json_response(object_json(self.store, record, every_property=True), 201)
        limit = min(int_param(request, "limit", 10, minimum=1), MAX_LIST_LIMIT)
        after = request.args.get("after")
        with self.sandbox.lock:
            records = self.store.records(kind, archived=bool_param(request, "archived"))
            if after:
                start = _cursor(after)
                records = [r for r in records if r.id >= start]
            page, rest = records[:limit], records[limit:]
            results = [self._read_json(request, r) for r in page]
        body: dict[str, Any] = {"results": results}
        if rest:
            body["paging"] = {
                "next": {"after": str(rest[0].id), "link": _link(request, after=str(rest[0].id))}
            }
        return json_response(body)

    def object(self, request: Request, object_type: str, object_id: str) -> Response:
        kind = resolve_object_type(object_type)
        id_property = request.args.get("idProperty")
        with self.sandbox.lock:
            record = self.store.find(kind, object_id, id_property, archived=bool_param(request, "archived"))
            if request.method == "DELETE":
                if record is not None:
                    self.store.archive(record, self.sandbox.api_source)
                return Response(status=204)
            if record is None:
                raise object_not_found(object_id)
            if request.method == "PATCH":
                properties = json_object(request).get("properties")
                if not isinstance(properties, dict):
                    raise validation_error("properties must be an object")
                self._check_rules(request, kind, properties, record)
                self.store.update(record, properties, self.sandbox.api_source)
                return json_response(object_json(self.store, record, every_property=True))
            return json_response(self._read_json(request, record))

    def _read_json(self, request: Request, record: CrmRecord) -> dict[str, Any]:
        associations = [
            t for t in map(find_object_type, list_param(request, "associations")) if t is not None
        ]
        return object_json(
            self.store,
            record,
            list_param(request, "properties") or None,
            associations=associations,
            with_history=list_param(request, "propertiesWithHistory"),
        )

    # -- batch ---------------------------------------------------------------------------------
    def batch(self, request: Request, object_type: str, action: str) -> Response:
        kind = resolve_object_type(object_type)
        handlers = {
            "read": self._batch_read,
            "create": self._batch_create,
            "update": self._batch_update,
            "upsert": self._batch_upsert,
            "archive": self._batch_archive,
        }
        handler = handlers.get(action)
        if handler is None:
            raise resource_not_found(f"Unknown batch action {action}")
        body = json_object(request)
        with self.sandbox.lock:
            started = self.sandbox.now_iso()
            outcome = handler(kind, body, request)
            if outcome is None:
                return Response(status=204)
            status, results, errors = outcome
            return json_response(batch_envelope(results, errors, started, self.sandbox.now_iso()), status)

    def _batch_read(self, kind: ObjectType, body: dict[str, Any], request: Request) -> BatchOutcome:
        properties = [str(p) for p in body.get("properties") or []]
        history = [str(p) for p in body.get("propertiesWithHistory") or []]
        inputs = batch_inputs(body, with_history=bool(history))
        id_property = body.get("idProperty")
        archived = bool_param(request, "archived")
        results: list[dict[str, Any]] = []
        missing: list[str] = []
        seen: set[int] = set()
        for item in inputs:
            value = str(_input_id(item))
            record = self.store.find(kind, value, id_property, archived=archived)
            if record is None:
                missing.append(value)
            elif record.id not in seen:
                seen.add(record.id)
                results.append(object_json(self.store, record, properties or None, with_history=history))
        return _with_missing(kind, results, missing, ok_status=200)

    def _batch_create(self, kind: ObjectType, body: dict[str, Any], request: Request) -> BatchOutcome:
        """All or nothing, unless every input carries an ``objectWriteTraceId``: then the valid
        inputs are created and each refused one is an error naming its trace id (207)."""
        inputs = batch_inputs(body)
        traced = all(isinstance(item, dict) and item.get("objectWriteTraceId") for item in inputs)
        prepared = []
        errors: list[dict[str, Any]] = []
        claimed: set[tuple[str, str]] = set()
        for item in inputs:
            trace = str(item.get("objectWriteTraceId") or "") if isinstance(item, dict) else ""
            try:
                properties = _input_properties(item)
                values = self.store.check_create(kind, properties)
                self._check_rules(request, kind, values)
                self._claim_unique(kind, values, claimed)
                associations = self.sandbox.resolve_associations(kind, item.get("associations") or [])
            except HubSpotError as error:
                if not traced:
                    raise
                errors.append(
                    batch_item_error(
                        error.category, error.message, {"objectWriteTraceId": [trace]}, error.errors
                    )
                )
                continue
            prepared.append((properties, associations, trace))
        results = []
        for properties, associations, trace in prepared:
            record = self.store.create(kind, properties, self.sandbox.api_source)
            self.sandbox.associate_all(record, associations, self.sandbox.api_source)
            result = object_json(self.store, record, every_property=True)
            results.append({**result, "objectWriteTraceId": trace} if traced else result)
        return (207 if errors else 201), results, errors

    def _check_rules(
        self, request: Request, kind: ObjectType, values: dict[str, Any], record: CrmRecord | None = None
    ) -> None:
        """The portal admin's validation rules, which HubSpot applies to API writes from version
        2026-09 on (developers.hubspot.com/changelog/crm-api-write-validation-enforcement)."""
        required = self.store.required_by_rules.get(kind.name)
        if not required or not is_dated(request):
            return
        merged = {**(record.properties if record is not None else {}), **values}
        problems = [
            PropertyProblem(name, "REQUIRED_BY_VALIDATION_RULE", f"{name} is required by a validation rule")
            for name in required
            if not merged.get(name)
        ]
        if problems:
            raise invalid_properties(problems, self.store.portal_id)

    def _batch_update(self, kind: ObjectType, body: dict[str, Any], request: Request) -> BatchOutcome:
        inputs = batch_inputs(body)
        _reject_duplicate_ids(inputs)
        planned: list[tuple[CrmRecord, dict[str, Any]]] = []
        missing: list[str] = []
        for item in inputs:
            value = str(_input_id(item))
            record = self.store.find(kind, value, item.get("idProperty") or body.get("idProperty"))
            properties = _input_properties(item)
            if record is None:
                missing.append(value)
                continue
            self._check_rules(request, kind, self.store.check_update(record, properties), record)
            planned.append((record, properties))
        results = []
        for record, properties in planned:
            self.store.update(record, properties, self.sandbox.api_source)
            results.append(object_json(self.store, record, every_property=True))
        return _with_missing(kind, results, missing, ok_status=200)

    def _batch_upsert(self, kind: ObjectType, body: dict[str, Any], request: Request) -> BatchOutcome:
        inputs = batch_inputs(body)
        _reject_duplicate_ids(inputs)
        planned: list[tuple[CrmRecord | None, dict[str, Any]]] = []
        claimed: set[tuple[str, str]] = set()
        for item in inputs:
            id_property = item.get("idProperty") if isinstance(item, dict) else None
            if (
                not id_property
                or id_property == "hs_object_id"
                or not self.store.is_unique(kind, id_property)
            ):
                raise validation_error(
                    f"Upsert needs an idProperty naming a unique property of {kind.name}; got {id_property}"
                )
            value = str(_input_id(item))
            properties = _input_properties(item)
            record = self.store.find(kind, value, id_property)
            if record is not None:
                self._check_rules(request, kind, self.store.check_update(record, properties), record)
                planned.append((record, properties))
            else:
                properties = {**properties, id_property: value}
                values = self.store.check_create(kind, properties)
                self._check_rules(request, kind, values)
                self._claim_unique(kind, values, claimed)
                planned.append((None, properties))
        results = []
        for existing, properties in planned:
            if existing is None:
                record = self.store.create(kind, properties, self.sandbox.api_source)
            else:
                record = existing
                self.store.update(record, properties, self.sandbox.api_source)
            results.append({**object_json(self.store, record, every_property=True), "new": existing is None})
        return 200, results, []

    def _batch_archive(self, kind: ObjectType, body: dict[str, Any], request: Request) -> BatchOutcome:
        for item in batch_inputs(body):
            record = self.store.get(kind, str(_input_id(item)))
            if record is not None:
                self.store.archive(record, self.sandbox.api_source)
        return None

    def _claim_unique(
        self, kind: ObjectType, values: dict[str, str | None], claimed: set[tuple[str, str]]
    ) -> None:
        """Two inputs of one batch may not share a unique value either."""
        for name, value in values.items():
            if value is None or name == "hs_object_id" or not self.store.is_unique(kind, name):
                continue
            key = (name, value.lower() if name == "email" else value)
            if key in claimed:
                raise validation_error(f"Duplicate value {value} for unique property {name} in batch input")
            claimed.add(key)

    # -- search --------------------------------------------------------------------------------
    def search(self, request: Request, object_type: str) -> Response:
        kind = resolve_object_type(object_type)
        body = json_object(request)
        with self.sandbox.lock:
            search_request = parse_search_request(body, kind, self.store)
            page = run_search(
                self.store,
                kind,
                search_request,
                self.sandbox.clock.now_ms(),
                self.sandbox.search_short_page_by,
            )
            results = [
                object_json(self.store, r, list(search_request.properties) or None) for r in page.records
            ]
        payload: dict[str, Any] = {"total": page.total, "results": results}
        if page.next_after is not None:
            payload["paging"] = {"next": {"after": page.next_after}}
        return json_response(payload)

    # -- owners --------------------------------------------------------------------------------
    def owners(self, request: Request) -> Response:
        limit = int_param(request, "limit", 100, minimum=1, maximum=500)
        offset = _cursor(request.args.get("after") or "0")
        with self.sandbox.lock:
            owners = self.sandbox.owners.listing(
                archived=bool_param(request, "archived"), email=request.args.get("email")
            )
            page = [o.to_api() for o in owners[offset : offset + limit]]
        body: dict[str, Any] = {"results": page}
        if offset + limit < len(owners):
            after = str(offset + limit)
            body["paging"] = {"next": {"after": after, "link": _link(request, after=after)}}
        return json_response(body)

    def owner(self, request: Request, owner_id: str) -> Response:
        by_user = request.args.get("idProperty", "id") == "userId"
        with self.sandbox.lock:
            directory = self.sandbox.owners
            owner = directory.by_user_id(owner_id) if by_user else directory.get(owner_id)
            if owner is None or owner.archived != bool_param(request, "archived"):
                raise resource_not_found(f"Owner {owner_id} not found")
            return json_response(owner.to_api())

    # -- properties ----------------------------------------------------------------------------
    def properties(self, request: Request, object_type: str) -> Response:
        kind = resolve_object_type(object_type)
        with self.sandbox.lock:
            if request.method == "POST":
                definition = self.create_property(kind, json_object(request))
                return json_response(definition.to_api(), 201)
            archived = bool_param(request, "archived")
            definitions = self.store.definitions(kind).values()
            return json_response({"results": [d.to_api() for d in definitions if d.archived == archived]})

    def property(self, request: Request, object_type: str, property_name: str) -> Response:
        kind = resolve_object_type(object_type)
        with self.sandbox.lock:
            definition = self.store.definitions(kind).get(property_name)
            archived = bool_param(request, "archived") if request.method == "GET" else False
            if definition is None or definition.archived != archived:
                raise resource_not_found(
                    f"Property {property_name} does not exist for object type {kind.type_id}"
                )
            if request.method == "GET":
                return json_response(definition.to_api())
            if definition.hubspot_defined:
                raise validation_error(
                    f"{property_name} is a HubSpot-defined property; its definition is read-only"
                )
            if request.method == "DELETE":
                definition.archived = True
                definition.updated_at = self.sandbox.now_iso()
                return Response(status=204)
            self._update_property(kind, definition, json_object(request))
            return json_response(definition.to_api())

    def properties_batch(self, request: Request, object_type: str, action: str) -> Response:
        kind = resolve_object_type(object_type)
        body = json_object(request)
        inputs = batch_inputs(body)
        with self.sandbox.lock:
            started = self.sandbox.now_iso()
            results: list[dict[str, Any]] = []
            errors: list[dict[str, Any]] = []
            if action == "read":
                for item in inputs:
                    name = str(item.get("name") if isinstance(item, dict) else item)
                    definition = self.store.definitions(kind).get(name)
                    if definition is None or definition.archived:
                        errors.append(
                            batch_item_error(
                                "OBJECT_NOT_FOUND", f"Property {name} does not exist", {"name": [name]}
                            )
                        )
                    else:
                        results.append(definition.to_api())
                status = 207 if errors else 200
            elif action == "create":
                for item in inputs:
                    try:
                        results.append(
                            self.create_property(kind, item if isinstance(item, dict) else {}).to_api()
                        )
                    except HubSpotError as error:
                        errors.append(batch_item_error(error.category, error.message, error.context or {}))
                status = 207 if errors else 201
            elif action == "archive":
                for item in inputs:
                    definition = self.store.definitions(kind).get(str(item.get("name")))
                    if definition is not None and not definition.hubspot_defined:
                        definition.archived = True
                return Response(status=204)
            else:
                raise resource_not_found(f"Unknown batch action {action}")
            return json_response(batch_envelope(results, errors, started, self.sandbox.now_iso()), status)

    def property_groups(self, request: Request, object_type: str) -> Response:
        kind = resolve_object_type(object_type)
        with self.sandbox.lock:
            groups = self.store.groups[kind.name]
            if request.method == "GET":
                return json_response({"results": list(groups.values())})
            body = json_object(request)
            name, label = body.get("name"), body.get("label")
            if not name or not label:
                raise validation_error("A property group needs a name and a label")
            if name in groups:
                raise HubSpotError(
                    409, f"Property group named '{name}' already exists.", "OBJECT_ALREADY_EXISTS"
                )
            groups[name] = {
                "name": str(name),
                "label": str(label),
                "displayOrder": int(body.get("displayOrder", -1)),
                "archived": False,
            }
            return json_response(groups[name], 201)

    def property_group(self, request: Request, object_type: str, group_name: str) -> Response:
        kind = resolve_object_type(object_type)
        with self.sandbox.lock:
            group = self.store.groups[kind.name].get(group_name)
            if group is None:
                raise resource_not_found(f"Property group {group_name} does not exist")
            return json_response(group)

    def create_property(self, kind: ObjectType, body: dict[str, Any]) -> PropertyDefinition:
        missing = [f for f in ("name", "label", "type", "fieldType", "groupName") if not body.get(f)]
        if missing:
            raise validation_error(
                f"Missing required fields: {', '.join(missing)}",
                errors=[{"message": f"{f} is required", "in": f, "code": "REQUIRED"} for f in missing],
            )
        name = str(body["name"])
        if not _PROPERTY_NAME.match(name) or name.startswith("hs_"):
            raise validation_error(
                f"Invalid property name {name}: use lower-case letters, digits and underscores, starting "
                "with a letter; the hs_ prefix is reserved for HubSpot"
            )
        existing = self.store.definitions(kind).get(name)
        if existing is not None:
            state = " (archived)" if existing.archived else ""
            raise HubSpotError(
                409,
                f"Property named '{name}' already exists{state}.",
                "OBJECT_ALREADY_EXISTS",
                context={"name": [name]},
            )
        definition = PropertyDefinition(
            name=name,
            label=str(body["label"]),
            type=_choice(body, "type", PROPERTY_TYPES),
            field_type=_choice(body, "fieldType", FIELD_TYPES),
            group_name=self._group(kind, str(body["groupName"])),
            description=str(body.get("description") or ""),
            options=_options(body),
            has_unique_value=bool(body.get("hasUniqueValue", False)),
            hidden=bool(body.get("hidden", False)),
            hubspot_defined=False,
            form_field=bool(body.get("formField", False)),
            display_order=int(body.get("displayOrder", -1)),
            created_at=self.sandbox.now_iso(),
            updated_at=self.sandbox.now_iso(),
        )
        if definition.type == "enumeration" and not definition.options:
            raise validation_error(f"Enumeration property {name} needs options")
        if definition.type == "bool" and not definition.options:
            definition.options = [PropertyOption("Yes", "true", 0), PropertyOption("No", "false", 1)]
        self.store.add_definition(kind, definition)
        return definition

    def _update_property(
        self, kind: ObjectType, definition: PropertyDefinition, body: dict[str, Any]
    ) -> None:
        if "hasUniqueValue" in body and bool(body["hasUniqueValue"]) != definition.has_unique_value:
            raise validation_error("hasUniqueValue cannot be changed once a property exists")
        if "label" in body:
            definition.label = str(body["label"])
        if "description" in body:
            definition.description = str(body["description"])
        if "groupName" in body:
            definition.group_name = self._group(kind, str(body["groupName"]))
        if "fieldType" in body:
            definition.field_type = _choice(body, "fieldType", FIELD_TYPES)
        if "options" in body:
            definition.options = _options(body)
        if "hidden" in body:
            definition.hidden = bool(body["hidden"])
        if "displayOrder" in body:
            definition.display_order = int(body["displayOrder"])
        definition.updated_at = self.sandbox.now_iso()

    def _group(self, kind: ObjectType, name: str) -> str:
        if name not in self.store.groups[kind.name]:
            raise validation_error(f"Property group {name} does not exist for object type {kind.type_id}")
        return name


def _cursor(after: str) -> int:
    try:
        return int(after)
    except ValueError:
        raise validation_error(f"Invalid after cursor: {after}") from None


def _link(request: Request, *, after: str) -> str:
    query = {**request.args.to_dict(), "after": after}
    return f"{request.host_url.rstrip('/')}{request.path}?" + "&".join(f"{k}={v}" for k, v in query.items())


def _input_id(item: Any) -> Any:
    if not isinstance(item, dict) or item.get("id") in (None, ""):
        raise validation_error("Each input needs an id", errors=[{"message": "must not be null", "in": "id"}])
    return item["id"]


def _input_properties(item: Any) -> dict[str, Any]:
    properties = item.get("properties") if isinstance(item, dict) else None
    if not isinstance(properties, dict):
        raise validation_error("Each input needs a properties object")
    return properties


def _reject_duplicate_ids(inputs: list[Any]) -> None:
    ids = [str(_input_id(item)) for item in inputs]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise validation_error(
            f"Duplicate IDs found in batch input: [{', '.join(duplicates)}]. IDs must be unique"
        )


def _with_missing(
    kind: ObjectType, results: list[dict[str, Any]], missing: list[str], *, ok_status: int
) -> tuple[int, list[dict[str, Any]], list[dict[str, Any]]]:
    if not missing:
        return ok_status, results, []
    error = batch_item_error(
        "OBJECT_NOT_FOUND",
        f"Could not get some {kind.singular.upper()} objects, they may be deleted or not exist. "
        "Check that ids are valid.",
        {"ids": missing},
    )
    return 207, results, [error]


def _choice(body: dict[str, Any], key: str, allowed: tuple[str, ...]) -> str:
    value = str(body.get(key))
    if value not in allowed:
        raise validation_error(f"{key} {value} is not one of {', '.join(allowed)}")
    return value


def _options(body: dict[str, Any]) -> list[PropertyOption]:
    raw = body.get("options") or []
    if not isinstance(raw, list):
        raise validation_error("options must be a list")
    options = []
    for index, option in enumerate(raw):
        if not isinstance(option, dict) or option.get("value") in (None, "") or not option.get("label"):
            raise validation_error("Each option needs a label and a value")
        options.append(
            PropertyOption(
                label=str(option["label"]),
                value=str(option["value"]),
                display_order=int(option.get("displayOrder", index)),
                hidden=bool(option.get("hidden", False)),
                description=str(option.get("description") or ""),
            )
        )
    return options
