"""The REST resources under ``/services/data/vXX.X/``: versions, resources, limits, describe,
records by id and by External ID, replication (updated, deleted), and SOQL queries with
``queryMore`` cursors."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from werkzeug.wrappers import Request, Response

from activity_sync_tools.sandbox.core import json_response
from activity_sync_tools.sandbox.salesforce import soql
from activity_sync_tools.sandbox.salesforce.api_common import (
    CURSOR_IDLE_LIFETIME,
    DELETED_WINDOW,
    NEWEST_SERVED_VERSION,
    OLDEST_SERVED_VERSION,
    PAGE_SIZE,
    RELEASES,
    UPDATED_WINDOW,
    ApiContext,
    QueryCursor,
    fields_param,
    json_body,
)
from activity_sync_tools.sandbox.salesforce.errors import (
    SalesforceError,
    json_parser_error,
    not_found,
)
from activity_sync_tools.sandbox.salesforce.ids import parse_id
from activity_sync_tools.sandbox.salesforce.org import Org
from activity_sync_tools.sandbox.salesforce.store import MultipleMatches
from activity_sync_tools.sandbox.salesforce.values import format_datetime, parse_datetime


class RecordsApi:
    def __init__(self, org: Org) -> None:
        self.org = org

    def versions(self, request: Request) -> Response:
        return json_response(
            [
                {
                    "label": RELEASES.get(number, f"v{number}.0"),
                    "url": f"/services/data/v{number}.0",
                    "version": f"{number}.0",
                }
                for number in range(
                    OLDEST_SERVED_VERSION, max(NEWEST_SERVED_VERSION, int(float(self.org.api_version))) + 1
                )
            ]
        )

    def resources(self, ctx: ApiContext) -> Response:
        base = f"/services/data/{ctx.version}"
        names = ["sobjects", "query", "queryAll", "composite", "limits"]
        return json_response({name: f"{base}/{name}" for name in names})

    def limits(self, ctx: ApiContext) -> Response:
        used, maximum = self.org.usage.snapshot(self.org.clock.now())
        return json_response(
            {
                "DailyApiRequests": {"Max": maximum, "Remaining": max(0, maximum - used)},
                "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
                "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
                "DataStorageMB": {"Max": 5, "Remaining": 5},
                "FileStorageMB": {"Max": 20, "Remaining": 20},
            }
        )

    def global_describe(self, ctx: ApiContext) -> Response:
        return json_response(
            {
                "encoding": "UTF-8",
                "maxBatchSize": 200,
                "sobjects": [obj.summary(ctx.version) for obj in self.org.schema.objects.values()],
            }
        )

    def describe(self, ctx: ApiContext, sobject: str) -> Response:
        return json_response(self.org.schema.require(sobject).describe(ctx.version))

    def sobject_root(self, ctx: ApiContext, sobject: str) -> Response:
        obj = self.org.schema.require(sobject)
        if ctx.request.method == "GET":
            recent = [
                {
                    "attributes": {
                        "type": obj.name,
                        "url": f"/services/data/{ctx.version}/sobjects/{obj.name}/{r.id}",
                    },
                    "Id": r.id,
                }
                for r in self.org.store.live(obj.name)[-5:]
            ]
            return json_response({"objectDescribe": obj.summary(ctx.version), "recentItems": recent})
        body = json_body(ctx.request)
        if not isinstance(body, dict):
            raise json_parser_error("Expected a JSON object for the record")
        with self.org.store.transaction():
            record = self.org.store.create(obj.name, body, ctx.user_id)
        return json_response(
            {"id": record.id, "success": True, "errors": []},
            201,
            {"Location": f"/services/data/{ctx.version}/sobjects/{obj.name}/{record.id}"},
        )

    def record(self, ctx: ApiContext, sobject: str, record_id: str) -> Response:
        obj = self.org.schema.require(sobject)
        method = ctx.request.method
        if method == "GET":
            record = self.org.store.fetch(obj, record_id)
            return json_response(self.org.render(record, ctx.version, fields_param(ctx.request)))
        if method == "PATCH":
            body = json_body(ctx.request)
            if not isinstance(body, dict):
                raise json_parser_error("Expected a JSON object for the record")
            with self.org.store.transaction():
                self.org.store.update(obj, record_id, body, ctx.user_id)
            return Response(status=204)
        with self.org.store.transaction():
            self.org.store.delete(obj, record_id, ctx.user_id)
        return Response(status=204)

    def by_external_id(self, ctx: ApiContext, sobject: str, field: str, value: str) -> Response:
        obj = self.org.schema.require(sobject)
        definition = self.org.store.external_id_field(obj, field)
        method = ctx.request.method
        if method == "PATCH":
            body = json_body(ctx.request)
            if not isinstance(body, dict):
                raise json_parser_error("Expected a JSON object for the record")
            with self.org.store.transaction():
                record, created = self.org.store.upsert(obj, definition.name, value, body, ctx.user_id)
            if not created and ctx.version_number < 46.0:
                return Response(status=204)
            answer = {"id": record.id, "success": True, "errors": [], "created": created}
            headers = {"Location": f"/services/data/{ctx.version}/sobjects/{obj.name}/{record.id}"}
            return json_response(answer, 201 if created else 200, headers)
        matches = self.org.store.find_by_field(obj, definition, value)
        if len(matches) > 1:
            raise MultipleMatches([m.id for m in matches])
        if not matches:
            raise not_found()
        if method == "GET":
            return json_response(self.org.render(matches[0], ctx.version, fields_param(ctx.request)))
        with self.org.store.transaction():
            self.org.store.delete(obj, matches[0].id, ctx.user_id)
        return Response(status=204)

    def _window(self, ctx: ApiContext, limit: dt.timedelta) -> tuple[dt.datetime, dt.datetime, dt.datetime]:
        """(start, end, latest covered) with seconds dropped, as Salesforce ignores them."""
        raw_start, raw_end = ctx.request.args.get("start"), ctx.request.args.get("end")
        if not raw_start or not raw_end:
            raise SalesforceError("MISSING_ARGUMENT", "start and end are required", 400)
        start, end = parse_datetime(raw_start), parse_datetime(raw_end)
        if start is None or end is None:
            raise SalesforceError(
                "INVALID_REPLICATION_DATE", "start and end must be ISO 8601 date-times", 400
            )
        now = self.org.clock.now()
        start = start.replace(second=0, microsecond=0)
        end = end.replace(second=0, microsecond=0)
        if end < start:
            raise SalesforceError("INVALID_REPLICATION_DATE", "EndDate before StartDate", 400)
        if start < now - limit:
            days = limit.days
            raise SalesforceError(
                "INVALID_REPLICATION_DATE", f"startDate cannot be more than {days} days ago", 400
            )
        latest = min(end, now.replace(second=0, microsecond=0))
        return start, end, latest

    def updated(self, ctx: ApiContext, sobject: str) -> Response:
        obj = self.org.schema.require(sobject)
        start, _end, latest = self._window(ctx, UPDATED_WINDOW)
        ids = [
            record.id
            for record in self.org.store.live(obj.name)
            if isinstance(stamp := record.values.get("SystemModstamp"), dt.datetime)
            and start <= stamp < latest
        ]
        return json_response({"ids": ids, "latestDateCovered": format_datetime(latest)})

    def deleted(self, ctx: ApiContext, sobject: str) -> Response:
        obj = self.org.schema.require(sobject)
        start, _end, latest = self._window(ctx, DELETED_WINDOW)
        deleted = [
            {"id": record.id, "deletedDate": format_datetime(record.deleted_at)}
            for record in self.org.store.all_rows(obj.name)
            if record.deleted_at is not None and start <= record.deleted_at < latest
        ]
        earliest = (self.org.clock.now() - DELETED_WINDOW).replace(second=0, microsecond=0)
        return json_response(
            {
                "deletedRecords": deleted,
                "earliestDateAvailable": format_datetime(earliest),
                "latestDateCovered": format_datetime(latest),
            }
        )

    def query(self, ctx: ApiContext) -> Response:
        return self._run_query(ctx, include_deleted=False)

    def query_all(self, ctx: ApiContext) -> Response:
        return self._run_query(ctx, include_deleted=True)

    def _page_size(self, ctx: ApiContext) -> int:
        options = ctx.request.headers.get("Sforce-Query-Options", "")
        match = re.search(r"batchSize=(\d+)", options)
        return min(PAGE_SIZE, max(200, int(match.group(1)))) if match else PAGE_SIZE

    def _run_query(self, ctx: ApiContext, *, include_deleted: bool) -> Response:
        text = ctx.request.args.get("q")
        if text is None:
            raise SalesforceError(
                "MALFORMED_QUERY", "A query string must be provided with the q parameter", 400
            )
        query = soql.parse(text, self.org.schema)
        total, records = soql.Evaluator(self.org.store, ctx.version).run(
            query, include_deleted=include_deleted
        )
        page_size = self._page_size(ctx)
        answer: dict[str, Any] = {
            "totalSize": total,
            "done": len(records) <= page_size,
            "records": records[:page_size],
        }
        if len(records) > page_size:
            now = self.org.clock.now()
            for stale in [
                key for key, c in self.org.cursors.items() if now - c.last_used > CURSOR_IDLE_LIFETIME
            ]:
                del self.org.cursors[stale]
            locator = self.org.minter.mint("01g")
            self.org.cursors[locator] = QueryCursor(records, total, include_deleted, self.org.clock.now())
            endpoint = "queryAll" if include_deleted else "query"
            answer["nextRecordsUrl"] = f"/services/data/{ctx.version}/{endpoint}/{locator}-{page_size}"
        return json_response(answer)

    def query_more(self, ctx: ApiContext, locator: str) -> Response:
        cursor_id, _, raw_position = locator.partition("-")
        cursor = self.org.cursors.get(parse_id(cursor_id) or "")
        now = self.org.clock.now()
        if cursor is None or not raw_position.isdigit() or now - cursor.last_used > CURSOR_IDLE_LIFETIME:
            raise SalesforceError("INVALID_QUERY_LOCATOR", "invalid query locator", 400)
        cursor.last_used = now
        position = int(raw_position)
        page_size = self._page_size(ctx)
        page = cursor.records[position : position + page_size]
        done = position + page_size >= len(cursor.records)
        answer: dict[str, Any] = {"totalSize": cursor.total, "done": done, "records": page}
        if not done:
            endpoint = "queryAll" if cursor.include_deleted else "query"
            answer["nextRecordsUrl"] = (
                f"/services/data/{ctx.version}/{endpoint}/{cursor_id}-{position + page_size}"
            )
        else:
            self.org.cursors.pop(parse_id(cursor_id) or "", None)
        return json_response(answer)
