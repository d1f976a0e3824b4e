"""Salesforce-shaped errors.

REST errors are a JSON *array* of ``{"message", "errorCode", "fields"}`` objects; inside sObject
Collections and composite responses each failed record carries ``{"statusCode", "message",
"fields"}`` instead. OAuth endpoints answer ``{"error", "error_description"}``.
"""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response

from activity_sync_tools.sandbox.core import json_response


class SalesforceError(Exception):
    """A failure the REST API reports to the caller; raised anywhere below a handler.

    ``fields`` is None for errors that carry no ``fields`` key (query and routing errors) and a
    list for record (DML) errors, which always carry one, possibly empty."""

    def __init__(
        self,
        error_code: str,
        message: str,
        status: int = 400,
        fields: list[str] | None = None,
    ) -> None:
        super().__init__(f"{error_code}: {message}")
        self.error_code = error_code
        self.message = message
        self.status = status
        self.fields = fields

    def rest_body(self) -> list[dict[str, Any]]:
        entry: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        if self.fields is not None:
            entry["fields"] = self.fields
        return [entry]

    def record_error(self) -> dict[str, Any]:
        """The per-record shape used by sObject Collections results."""
        return {"statusCode": self.error_code, "message": self.message, "fields": self.fields or []}

    def response(self) -> Response:
        return json_response(self.rest_body(), self.status)


def not_found(message: str = "The requested resource does not exist") -> SalesforceError:
    return SalesforceError("NOT_FOUND", message, 404)


def required_fields_missing(fields: list[str]) -> SalesforceError:
    return SalesforceError(
        "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(fields)}]", 400, fields
    )


def malformed_query(message: str) -> SalesforceError:
    return SalesforceError("MALFORMED_QUERY", message, 400)


def invalid_field(message: str, fields: list[str] | None = None) -> SalesforceError:
    return SalesforceError("INVALID_FIELD", message, 400, fields)


def json_parser_error(message: str) -> SalesforceError:
    return SalesforceError("JSON_PARSER_ERROR", message, 400)


def session_invalid() -> Response:
    return json_response([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], 401)


def oauth_error(error: str, description: str, status: int = 400) -> Response:
    return json_response({"error": error, "error_description": description}, status)
