"""Composite requests (``/services/data/vXX.X/composite``): up to 25 subrequests, references
between them, ``allOrNone`` and the five-collections-or-queries limit; each subrequest is routed
through the org's own routes."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from activity_sync_tools.sandbox.core import json_response
from activity_sync_tools.sandbox.salesforce.api_common import (
    DATA_PREFIX,
    HALTED,
    MAX_COMPOSITE_COLLECTIONS_OR_QUERIES,
    MAX_COMPOSITE_SUBREQUESTS,
    REFERENCE_PATTERN,
    USER_ENVIRON_KEY,
    ApiContext,
    flag,
    is_collection_or_query,
    json_body,
)
from activity_sync_tools.sandbox.salesforce.errors import (
    SalesforceError,
    json_parser_error,
)
from activity_sync_tools.sandbox.salesforce.org import Org


class CompositeApi:
    def __init__(self, org: Org) -> None:
        self.org = org

    def composite(self, ctx: ApiContext) -> Response:
        body = json_body(ctx.request)
        subrequests = body.get("compositeRequest") if isinstance(body, dict) else None
        if not isinstance(subrequests, list) or not subrequests:
            raise json_parser_error("compositeRequest is required")
        if len(subrequests) > MAX_COMPOSITE_SUBREQUESTS:
            raise SalesforceError(
                "INVALID_INPUT",
                f"Composite requests can have at most {MAX_COMPOSITE_SUBREQUESTS} subrequests",
                400,
            )
        heavy = sum(
            1 for sub in subrequests if isinstance(sub, dict) and is_collection_or_query(sub.get("url"))
        )
        if heavy > MAX_COMPOSITE_COLLECTIONS_OR_QUERIES:
            raise SalesforceError(
                "INVALID_INPUT",
                f"Composite requests can have at most {MAX_COMPOSITE_COLLECTIONS_OR_QUERIES} sObject "
                "Collections or query subrequests",
                400,
            )
        all_or_none = flag(body.get("allOrNone", False))
        seen: set[str] = set()
        for sub in subrequests:
            reference = sub.get("referenceId") if isinstance(sub, dict) else None
            if not isinstance(reference, str) or not re.fullmatch(r"[A-Za-z0-9_]+", reference):
                raise json_parser_error(
                    "Each subrequest needs a referenceId of letters, digits and underscores"
                )
            if reference in seen:
                raise SalesforceError(
                    "INVALID_INPUT", f"Duplicate referenceId provided in the request: {reference}", 400
                )
            seen.add(reference)
        outputs: dict[str, Any] = {}
        failed_references: set[str] = set()
        responses: list[dict[str, Any]] = []
        with self.org.store.transaction() as outer:
            for index, sub in enumerate(subrequests):
                reference = sub["referenceId"]
                try:
                    url = self._substitute(str(sub.get("url", "")), outputs, failed_references)
                    payload = self._substitute_json(sub.get("body"), outputs, failed_references)
                except SalesforceError as error:
                    responses.append(self._sub_response(reference, error.status, error.rest_body()))
                    failed_references.add(reference)
                    if all_or_none:
                        return self._halt(responses, subrequests[index + 1 :], outer)
                    continue
                status, headers, answer = self._dispatch_subrequest(
                    ctx, str(sub.get("method", "GET")), url, payload, sub.get("httpHeaders")
                )
                responses.append(self._sub_response(reference, status, answer, headers))
                if status >= 400:
                    failed_references.add(reference)
                    if all_or_none:
                        return self._halt(responses, subrequests[index + 1 :], outer)
                else:
                    outputs[reference] = answer
        return json_response({"compositeResponse": responses})

    @staticmethod
    def _sub_response(
        reference: str, status: int, body: Any, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        return {
            "body": body,
            "httpHeaders": headers or {},
            "httpStatusCode": status,
            "referenceId": reference,
        }

    def _halt(self, responses: list[dict[str, Any]], remaining: list[Any], outer: Any) -> Response:
        self.org.store.rollback_to(outer)
        halted = [{"errorCode": "PROCESSING_HALTED", "message": HALTED}]
        final = []
        for response in responses[:-1]:
            if response["httpStatusCode"] < 400:
                response = self._sub_response(response["referenceId"], 400, halted)
            final.append(response)
        final.append(responses[-1])
        final += [self._sub_response(sub["referenceId"], 400, halted) for sub in remaining]
        return json_response({"compositeResponse": final})

    def _resolve(self, match: re.Match[str], outputs: dict[str, Any], failed: set[str]) -> str:
        reference, path = match.group(1), match.group(2)
        if reference in failed or reference not in outputs:
            raise SalesforceError(
                "PROCESSING_HALTED",
                f"Invalid reference specified. No value for {reference}{path} found in {reference}. "
                f"Provided referenceId ('{reference}') must be a valid reference to an earlier subrequest.",
                400,
            )
        value: Any = outputs[reference]
        for step in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", path):
            name, index = step
            try:
                value = value[int(index)] if index else value[name]
            except (KeyError, IndexError, TypeError):
                raise SalesforceError(
                    "PROCESSING_HALTED",
                    f"Invalid reference specified. No value for {reference}{path} found.",
                    400,
                ) from None
        return "" if value is None else str(value)

    def _substitute(self, text: str, outputs: dict[str, Any], failed: set[str]) -> str:
        return REFERENCE_PATTERN.sub(lambda match: self._resolve(match, outputs, failed), text)

    def _substitute_json(self, value: Any, outputs: dict[str, Any], failed: set[str]) -> Any:
        if isinstance(value, str):
            return self._substitute(value, outputs, failed)
        if isinstance(value, list):
            return [self._substitute_json(item, outputs, failed) for item in value]
        if isinstance(value, dict):
            return {key: self._substitute_json(item, outputs, failed) for key, item in value.items()}
        return value

    def _dispatch_subrequest(
        self, ctx: ApiContext, method: str, url: str, payload: Any, headers: Any
    ) -> tuple[int, dict[str, str], Any]:
        parts = urlsplit(url)
        if not parts.path.startswith(DATA_PREFIX + "/") or parts.path.rstrip("/").endswith("/composite"):
            error = [{"errorCode": "INVALID_INPUT", "message": f"Unsupported subrequest URL: {url}"}]
            return 400, {}, error
        sub_headers: list[tuple[str, str]] = []
        if isinstance(headers, dict):
            sub_headers = [(str(name), str(value)) for name, value in headers.items()]
        builder = EnvironBuilder(
            path=parts.path,
            method=method.upper(),
            query_string=parts.query or None,
            data=json.dumps(payload) if payload is not None else None,
            content_type="application/json",
            headers=sub_headers,
        )
        environ = builder.get_environ()
        environ[USER_ENVIRON_KEY] = ctx.user_id
        request = Request(environ)
        try:
            response = self.org.dispatch_route(request)
        except NotFound:
            response = self.org.not_found(request)
        except HTTPException as exc:
            response = self.org.http_error(request, exc)
        text = response.get_data(as_text=True)
        answer = json.loads(text) if text else None
        out_headers = {"Location": response.headers["Location"]} if "Location" in response.headers else {}
        return response.status_code, out_headers, answer
