"""sObject Collections under ``/services/data/vXX.X/composite/sobjects``: create, update,
delete, retrieve and upsert up to 200 records a request, ``allOrNone`` or record by record."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug.wrappers import Response

from activity_sync_tools.sandbox.core import json_response
from activity_sync_tools.sandbox.salesforce.api_common import (
    MAX_COLLECTION_RECORDS,
    ROLLED_BACK,
    ApiContext,
    flag,
    json_body,
)
from activity_sync_tools.sandbox.salesforce.errors import (
    SalesforceError,
    json_parser_error,
)
from activity_sync_tools.sandbox.salesforce.ids import parse_id
from activity_sync_tools.sandbox.salesforce.org import Org
from activity_sync_tools.sandbox.salesforce.store import MultipleMatches


class CollectionsApi:
    def __init__(self, org: Org) -> None:
        self.org = org

    @staticmethod
    def _collection_body(ctx: ApiContext) -> tuple[bool, list[Any]]:
        body = json_body(ctx.request)
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise json_parser_error("Expected an object with a records array")
        records = body["records"]
        if len(records) > MAX_COLLECTION_RECORDS:
            raise SalesforceError(
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
                400,
            )
        return flag(body.get("allOrNone", False)), records

    @staticmethod
    def _record_type(record: Any) -> str | None:
        if not isinstance(record, dict):
            return None
        attributes = record.get("attributes")
        type_name = attributes.get("type") if isinstance(attributes, dict) else None
        return type_name if isinstance(type_name, str) else None

    def _run_collection(
        self,
        all_or_none: bool,
        items: list[Any],
        operation: Callable[[Any], dict[str, Any]],
        id_of: Callable[[Any], str | None] = lambda item: None,
    ) -> Response:
        """Apply ``operation`` to each item with per-item savepoints; allOrNone rolls all back.

        Results of records that already existed (updates, deletes) keep their id when they fail."""
        results: list[dict[str, Any]] = []
        existing: list[bool] = []
        with self.org.store.transaction() as outer:
            for item in items:
                with self._savepoint() as errors:
                    result = operation(item)
                if errors:
                    known_id = id_of(item)
                    result = (
                        {"id": known_id, "success": False, "errors": errors}
                        if known_id
                        else {"success": False, "errors": errors}
                    )
                existing.append(bool(id_of(item)) or not result.get("created", True))
                results.append(result)
            if all_or_none and any(not result["success"] for result in results):
                self.org.store.rollback_to(outer)
                for index, result in enumerate(results):
                    if result["success"]:
                        rolled: dict[str, Any] = {"success": False, "errors": [dict(ROLLED_BACK)]}
                        results[index] = {"id": result["id"], **rolled} if existing[index] else rolled
        return json_response(results)

    @contextmanager
    def _savepoint(self) -> Iterator[list[dict[str, Any]]]:
        """Runs one collection item; a Salesforce error becomes that item's list of errors."""
        errors: list[dict[str, Any]] = []
        try:
            with self.org.store.transaction():
                yield errors
        except SalesforceError as error:
            errors.append(error.record_error())
        except MultipleMatches as multiple:
            errors.append(
                {
                    "statusCode": "DUPLICATE_EXTERNAL_ID",
                    "message": f"The external ID value matches {len(multiple.record_ids)} records",
                    "fields": [],
                }
            )

    def collections(self, ctx: ApiContext) -> Response:
        method = ctx.request.method
        if method == "DELETE":
            ids = [i for i in ctx.request.args.get("ids", "").split(",") if i]
            if len(ids) > MAX_COLLECTION_RECORDS:
                raise SalesforceError(
                    "EXCEEDED_ID_LIMIT",
                    "record limit reached. cannot submit more than 200 records into this call",
                    400,
                )

            def delete(raw_id: Any) -> dict[str, Any]:
                record = self.org.store.delete(None, str(raw_id), ctx.user_id)
                return {"id": record.id, "success": True, "errors": []}

            return self._run_collection(
                flag(ctx.request.args.get("allOrNone")),
                ids,
                delete,
                lambda item: parse_id(str(item)) or str(item),
            )
        all_or_none, records = self._collection_body(ctx)
        if method == "POST":

            def create(record: Any) -> dict[str, Any]:
                type_name = self._record_type(record)
                if type_name is None:
                    raise SalesforceError("INVALID_TYPE", "Must send a concrete entity type.", 400)
                if any(key.lower() == "id" for key in record):
                    raise SalesforceError(
                        "INVALID_FIELD_FOR_INSERT_UPDATE",
                        "Record ID: cannot specify Id in an insert call",
                        400,
                        ["Id"],
                    )
                created = self.org.store.create(self.org.schema.require(type_name).name, record, ctx.user_id)
                return {"id": created.id, "success": True, "errors": []}

            return self._run_collection(all_or_none, records, create)

        def update(record: Any) -> dict[str, Any]:
            if not isinstance(record, dict):
                raise json_parser_error("Expected a JSON object for the record")
            raw_id = self._item_id(record)
            if not raw_id:
                raise SalesforceError("MISSING_ARGUMENT", "Id not specified in an update call", 400, ["Id"])
            record_id = parse_id(raw_id)
            obj = self.org.schema.get(self._record_type(record) or "") or (
                self.org.schema.for_id(record_id) if record_id else None
            )
            if obj is None or record_id is None:
                raise SalesforceError("MALFORMED_ID", f"malformed id {raw_id}", 400, ["Id"])
            body = {key: value for key, value in record.items() if key.lower() != "id"}
            updated = self.org.store.update(obj, record_id, body, ctx.user_id)
            return {"id": updated.id, "success": True, "errors": []}

        return self._run_collection(all_or_none, records, update, self._item_id)

    @staticmethod
    def _item_id(item: Any) -> str | None:
        if not isinstance(item, dict):
            return None
        raw = next((value for key, value in item.items() if key.lower() == "id"), None)
        if not raw:
            return None
        return parse_id(str(raw)) or str(raw)

    def collection_retrieve(self, ctx: ApiContext, sobject: str) -> Response:
        obj = self.org.schema.require(sobject)
        if ctx.request.method == "POST":
            body = json_body(ctx.request)
            ids = [str(i) for i in body.get("ids", [])] if isinstance(body, dict) else []
            fields = [str(f) for f in body.get("fields", [])] if isinstance(body, dict) else []
        else:
            ids = [i for i in ctx.request.args.get("ids", "").split(",") if i]
            fields = [f for f in ctx.request.args.get("fields", "").split(",") if f]
        if not fields:
            raise SalesforceError("MISSING_ARGUMENT", "fields is required", 400)
        if len(ids) > MAX_COLLECTION_RECORDS:
            raise SalesforceError(
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
                400,
            )
        for name in fields:
            obj.require(name)
        results: list[dict[str, Any] | None] = []
        for raw_id in ids:
            record = self.org.store.get(raw_id)
            if record is None or record.sobject != obj.name or record.is_deleted:
                results.append(None)
            else:
                results.append(self.org.render(record, ctx.version, fields))
        return json_response(results)

    def collection_upsert(self, ctx: ApiContext, sobject: str, field: str) -> Response:
        obj = self.org.schema.require(sobject)
        definition = self.org.store.external_id_field(obj, field)
        all_or_none, records = self._collection_body(ctx)

        def upsert(record: Any) -> dict[str, Any]:
            type_name = self._record_type(record)
            if type_name is None or self.org.schema.get(type_name) is not obj:
                raise SalesforceError("INVALID_TYPE", f"Record type must be {obj.name}", 400)
            value = next((v for k, v in record.items() if k.lower() == definition.name.lower()), None)
            if value is None or value == "":
                raise SalesforceError(
                    "MISSING_ARGUMENT", f"{definition.name} not specified", 400, [definition.name]
                )
            stored, created = self.org.store.upsert(obj, definition.name, str(value), record, ctx.user_id)
            return {"id": stored.id, "success": True, "errors": [], "created": created}

        return self._run_collection(all_or_none, records, upsert)
