"""HubSpot-shaped error bodies and the exception handlers raise to produce them.

Every HubSpot API error answers ``{"status": "error", "message", "correlationId", "category", ...}``
with optional ``subCategory``, ``context`` (values are lists of strings) and ``errors[]``
(``{message, code, in, context}``). Batch endpoints list per-item failures in the
``StandardError`` shape (``status``, ``category``, ``message``, ``context``, ``errors``, ``links``).
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from typing import Any

from werkzeug.wrappers import Response

from activity_sync_tools.sandbox.core import json_response


class CorrelationIds:
    """Deterministic UUID4-shaped correlation ids: a seeded generator, so that the same sequence of
    requests against the same seed yields the same error bodies."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._lock = threading.Lock()
        self._random = random.Random(seed)

    def next(self) -> str:
        with self._lock:
            return str(uuid.UUID(int=self._random.getrandbits(128), version=4))

    def reset(self) -> None:
        with self._lock:
            self._random = random.Random(self._seed)


class HubSpotError(Exception):
    """Raised by a handler; rendered as HubSpot's error body with ``status``."""

    def __init__(
        self,
        status: int,
        message: str,
        category: str,
        *,
        sub_category: str | None = None,
        context: dict[str, list[str]] | None = None,
        errors: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.category = category
        self.sub_category = sub_category
        self.context = context
        self.errors = errors
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self, correlation_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": "error",
            "message": self.message,
            "correlationId": correlation_id,
            "category": self.category,
        }
        if self.sub_category:
            body["subCategory"] = self.sub_category
        if self.context:
            body["context"] = self.context
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body

    def response(self, correlation_id: str) -> Response:
        return json_response(self.body(correlation_id), self.status, self.headers)


def validation_error(message: str, *, errors: list[dict[str, Any]] | None = None) -> HubSpotError:
    return HubSpotError(400, message, "VALIDATION_ERROR", errors=errors)


def object_not_found(object_id: str) -> HubSpotError:
    # HubSpot's wording, double space included.
    return HubSpotError(
        404,
        "Object not found.  objectId are usually numeric.",
        "OBJECT_NOT_FOUND",
        context={"id": [object_id]},
    )


def resource_not_found(message: str) -> HubSpotError:
    return HubSpotError(404, message, "OBJECT_NOT_FOUND")


class PropertyProblem:
    """One invalid property value, reported the way HubSpot reports it: a JSON list embedded in the
    message (``Property values were not valid: [...]``) and the same facts in ``errors[]``."""

    def __init__(self, name: str, error: str, message: str) -> None:
        self.name = name
        self.error = error
        self.message = message

    def as_embedded(self, portal_id: int) -> dict[str, Any]:
        return {
            "isValid": False,
            "message": self.message,
            "error": self.error,
            "name": self.name,
            "localizedErrorMessage": self.message,
            "portalId": portal_id,
        }

    def as_detail(self) -> dict[str, Any]:
        return {"message": self.message, "code": self.error, "context": {"propertyName": [self.name]}}


def invalid_properties(problems: list[PropertyProblem], portal_id: int) -> HubSpotError:
    embedded = json.dumps([p.as_embedded(portal_id) for p in problems], separators=(",", ":"))
    return validation_error(
        f"Property values were not valid: {embedded}", errors=[p.as_detail() for p in problems]
    )


def batch_item_error(
    category: str,
    message: str,
    context: dict[str, list[str]],
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One entry of a 207 response's ``errors`` (HubSpot's ``StandardError``), with its details."""
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": context,
        "errors": errors or [],
        "links": {},
    }
