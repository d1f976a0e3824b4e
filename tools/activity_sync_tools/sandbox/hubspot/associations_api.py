"""Associations v4: the batch endpoints and the per-object routes the official client uses.

Only HubSpot-defined types exist here (no custom labels beyond HubSpot's "Primary"). Batch read
takes up to 1,000 ids (HubSpot changelog, Feb 2025: "Batch Read Limit for HubSpot Associations
API"); an object with no associations of the requested type is reported in ``errors`` (207).
"""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request, Response

from activity_sync_tools.sandbox.core import json_response

from .errors import HubSpotError, batch_item_error, object_not_found, resource_not_found, validation_error
from .portal import Portal
from .schema import (
    ASSOCIATION_TYPES,
    AssociationType,
    ObjectType,
    association_from_spec,
    default_association_type,
    resolve_object_type,
)
from .store import CrmRecord
from .wire import batch_envelope, batch_inputs, int_param, is_dated, json_body

MAX_READ_INPUTS = 1000
PAGE_SIZE = 500
Outcome = tuple[int, list[dict[str, Any]], list[dict[str, Any]]]  # (status, results, errors)


class AssociationsApi:
    def __init__(self, sandbox: Portal) -> None:
        self.sandbox = sandbox
        self.store = sandbox.store

    # -- batch ---------------------------------------------------------------------------------
    def batch(self, request: Request, from_type: str, to_type: str, action: str) -> Response:
        source_type, target_type = resolve_object_type(from_type), resolve_object_type(to_type)
        body = json_body(request)
        if not isinstance(body, dict):
            raise validation_error("Invalid input JSON: expected an object")
        with self.sandbox.lock:
            started = self.sandbox.now_iso()
            if action == "read":
                status, results, errors = self._read(source_type, target_type, body)
            elif action == "create":
                status, results, errors = self._create(source_type, target_type, body)
                if status == 201 and is_dated(request):
                    status = 200  # the date-based API answers a created batch with 200
            elif action == "archive":
                self._archive(source_type, target_type, body)
                if is_dated(request):  # 200 and a BatchResponseVoid, where v4 answered 204
                    return json_response(batch_envelope([], [], started, self.sandbox.now_iso()), 200)
                return Response(status=204)
            elif action == "associate/default":
                status, results, errors = self._associate_default(source_type, target_type, body)
            else:
                raise resource_not_found(f"Unknown batch action {action}")
            return json_response(batch_envelope(results, errors, started, self.sandbox.now_iso()), status)

    def batch_default(self, request: Request, from_type: str, to_type: str) -> Response:
        return self.batch(request, from_type, to_type, "associate/default")

    def _read(self, source_type: ObjectType, target_type: ObjectType, body: dict[str, Any]) -> Outcome:
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for item in batch_inputs(body, cap=MAX_READ_INPUTS):
            object_id = str(item.get("id") if isinstance(item, dict) else "")
            record = self.store.get(source_type, object_id)
            associated = self.store.associations(record, target_type) if record else []
            if not associated:
                errors.append(
                    batch_item_error(
                        "OBJECT_NOT_FOUND",
                        f"No {target_type.singular} is associated with {source_type.singular} {object_id}.",
                        {"fromObjectId": [object_id]},
                    )
                )
                continue
            offset = _offset(item.get("after") if isinstance(item, dict) else None)
            page = associated[offset : offset + PAGE_SIZE]
            result: dict[str, Any] = {"from": {"id": object_id}, "to": [_multi(t, ids) for t, ids in page]}
            if offset + PAGE_SIZE < len(associated):
                result["paging"] = {"next": {"after": str(offset + PAGE_SIZE)}}
            results.append(result)
        return (207 if errors else 200), results, errors

    def _create(self, source_type: ObjectType, target_type: ObjectType, body: dict[str, Any]) -> Outcome:
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for item in batch_inputs(body):
            try:
                source, target = self._pair(source_type, target_type, item)
                types = [
                    self._association(source_type, target_type, spec) for spec in item.get("types") or []
                ]
                if not types:
                    raise validation_error("Each input needs at least one association type")
            except HubSpotError as error:
                errors.append(batch_item_error(error.category, error.message, error.context or {}))
                continue
            for association in types:
                self.store.associate(source, target, association, self.sandbox.api_source)
            results.append(self._labels_between(source, target, types))
        return (207 if errors else 201), results, errors

    def _archive(self, source_type: ObjectType, target_type: ObjectType, body: dict[str, Any]) -> None:
        for item in batch_inputs(body):
            source = self.store.get(source_type, str((item.get("from") or {}).get("id")))
            if source is None:
                continue
            for target_ref in item.get("to") or []:
                target = self.store.get(target_type, str(target_ref.get("id")))
                if target is not None:
                    self.store.disassociate(source, target, self.sandbox.api_source)

    def _associate_default(
        self, source_type: ObjectType, target_type: ObjectType, body: dict[str, Any]
    ) -> Outcome:
        association = self._default(source_type, target_type)
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for item in batch_inputs(body):
            try:
                source, target = self._pair(source_type, target_type, item)
            except HubSpotError as error:
                errors.append(batch_item_error(error.category, error.message, error.context or {}))
                continue
            self.store.associate(source, target, association, self.sandbox.api_source)
            results.append(_default_result(source, target, association))
        return 200, results, errors

    # -- per object ----------------------------------------------------------------------------
    def default_single(
        self, request: Request, from_type: str, from_id: str, to_type: str, to_id: str
    ) -> Response:
        source_type, target_type = resolve_object_type(from_type), resolve_object_type(to_type)
        association = self._default(source_type, target_type)
        with self.sandbox.lock:
            started = self.sandbox.now_iso()
            source, target = self._records(source_type, from_id, target_type, to_id)
            self.store.associate(source, target, association, self.sandbox.api_source)
            result = _default_result(source, target, association)
            return json_response(batch_envelope([result], [], started, self.sandbox.now_iso()))

    def list_for_object(self, request: Request, object_type: str, object_id: str, to_type: str) -> Response:
        source_type, target_type = resolve_object_type(object_type), resolve_object_type(to_type)
        limit = int_param(request, "limit", PAGE_SIZE, minimum=1, maximum=PAGE_SIZE)
        offset = _offset(request.args.get("after"))
        with self.sandbox.lock:
            record = self.store.get(source_type, object_id)
            if record is None:
                raise object_not_found(object_id)
            associated = self.store.associations(record, target_type)
            body: dict[str, Any] = {
                "results": [_multi(t, ids) for t, ids in associated[offset : offset + limit]]
            }
        if offset + limit < len(associated):
            body["paging"] = {"next": {"after": str(offset + limit)}}
        return json_response(body)

    def labelled(
        self, request: Request, object_type: str, object_id: str, to_type: str, to_id: str
    ) -> Response:
        source_type, target_type = resolve_object_type(object_type), resolve_object_type(to_type)
        with self.sandbox.lock:
            source, target = self._records(source_type, object_id, target_type, to_id)
            if request.method == "DELETE":
                self.store.disassociate(source, target, self.sandbox.api_source)
                return Response(status=204)
            specs = json_body(request)
            if not isinstance(specs, list) or not specs:
                raise validation_error("The body must be a list of association types")
            types = [self._association(source_type, target_type, spec) for spec in specs]
            for association in types:
                self.store.associate(source, target, association, self.sandbox.api_source)
            return json_response(self._labels_between(source, target, types), 201)

    # -- helpers -------------------------------------------------------------------------------
    def _pair(
        self, source_type: ObjectType, target_type: ObjectType, item: Any
    ) -> tuple[CrmRecord, CrmRecord]:
        if not isinstance(item, dict):
            raise validation_error("Each input must be an object")
        from_id = str((item.get("from") or {}).get("id"))
        to_id = str((item.get("to") or {}).get("id"))
        return self._records(source_type, from_id, target_type, to_id)

    def _records(
        self, source_type: ObjectType, from_id: str, target_type: ObjectType, to_id: str
    ) -> tuple[CrmRecord, CrmRecord]:
        source = self.store.get(source_type, from_id)
        target = self.store.get(target_type, to_id)
        missing = [
            (t, i) for t, i, r in ((source_type, from_id, source), (target_type, to_id, target)) if r is None
        ]
        if missing or source is None or target is None:
            names = ", ".join(f"{t.singular} {i}" for t, i in missing)
            raise HubSpotError(
                404, f"No such object: {names}", "OBJECT_NOT_FOUND", context={"ids": [i for _, i in missing]}
            )
        return source, target

    def _association(self, source_type: ObjectType, target_type: ObjectType, spec: Any) -> AssociationType:
        return association_from_spec(spec, source_type, target_type)

    def _default(self, source_type: ObjectType, target_type: ObjectType) -> AssociationType:
        association = default_association_type(source_type, target_type)
        if association is None:
            raise validation_error(
                f"There is no default association from {source_type.name} to {target_type.name}"
            )
        return association

    def _labels_between(
        self, source: CrmRecord, target: CrmRecord, types: list[AssociationType]
    ) -> dict[str, Any]:
        return {
            "fromObjectTypeId": source.object_type.type_id,
            "fromObjectId": str(source.id),
            "toObjectTypeId": target.object_type.type_id,
            "toObjectId": str(target.id),
            "labels": sorted({a.label for a in types if a.label}),
        }


def _multi(target: CrmRecord, type_ids: set[int]) -> dict[str, Any]:
    association_types = []
    for type_id in sorted(type_ids):
        spec: dict[str, Any] = {"category": "HUBSPOT_DEFINED", "typeId": type_id}
        label = ASSOCIATION_TYPES[type_id].label
        if label:
            spec["label"] = label
        association_types.append(spec)
    return {"toObjectId": str(target.id), "associationTypes": association_types}


def _default_result(source: CrmRecord, target: CrmRecord, association: AssociationType) -> dict[str, Any]:
    return {
        "from": {"id": str(source.id)},
        "to": {"id": str(target.id)},
        "associationSpec": {
            "associationCategory": "HUBSPOT_DEFINED",
            "associationTypeId": association.type_id,
        },
    }


def _offset(after: Any) -> int:
    if after in (None, ""):
        return 0
    try:
        return max(0, int(str(after)))
    except ValueError:
        raise validation_error(f"Invalid after cursor: {after}") from None
