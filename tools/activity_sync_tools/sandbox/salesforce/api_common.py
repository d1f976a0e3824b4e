"""What the Salesforce sandbox's route groups share: constants, the request context, the org's
daily API usage, query cursors and request-body helpers. Imports none of its users."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from werkzeug.wrappers import Request

from activity_sync_tools.sandbox.salesforce.errors import (
    json_parser_error,
)

DEFAULT_ORG_ID = "00D8d000000SbXcEAK"
DEFAULT_API_VERSION = "59.0"
DATA_PREFIX = "/services/data"
V = DATA_PREFIX + "/<version>"
PAGE_SIZE = 2000
MAX_COLLECTION_RECORDS = 200
MAX_COMPOSITE_SUBREQUESTS = 25
# "Up to 5 of these subrequests can be sObject Collections or query operations" (Send Multiple
# Requests Using Composite, API v43.0 and later).
MAX_COMPOSITE_COLLECTIONS_OR_QUERIES = 5
UPDATED_WINDOW = dt.timedelta(days=30)
DELETED_WINDOW = dt.timedelta(days=15)
CURSOR_IDLE_LIFETIME = dt.timedelta(minutes=15)
USER_ENVIRON_KEY = "salesforce_sandbox.user_id"
INTEGRATION_USERNAME = "integration.user@sandbox.example.com"
INTEGRATION_PERMISSION_SET = "HubSpot_Activity_Sync_Integration"
VERSION_PATTERN = re.compile(r"^v(\d{2})\.(\d)$")
REFERENCE_PATTERN = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")
ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": (
        "Record rolled back because not all records were valid and the request was using AllOrNone header"
    ),
    "fields": [],
}
HALTED = "The transaction was rolled back since another operation in the same transaction failed."

# Release names for the version listing at /services/data/.
RELEASES = {
    55: "Summer '22",
    56: "Winter '23",
    57: "Spring '23",
    58: "Summer '23",
    59: "Winter '24",
    60: "Spring '24",
    61: "Summer '24",
    62: "Winter '25",
    63: "Spring '25",
    64: "Summer '25",
    65: "Winter '26",
    66: "Spring '26",
    67: "Summer '26",
    68: "Winter '27",
}
# What an org answers to GET /services/data/ in December 2026: Winter '27 is v68.0
# (https://developer.salesforce.com/docs/platform/api-rest/guide/dome-versions.html); versions 21.0
# to 30.0 were retired in Summer '25, so 31.0 is the oldest served.
OLDEST_SERVED_VERSION, NEWEST_SERVED_VERSION = 31, 68


@dataclass
class ApiContext:
    request: Request
    version: str  # "v59.0"
    user_id: str

    @property
    def version_number(self) -> float:
        return float(self.version[1:])


@dataclass
class QueryCursor:
    records: list[dict[str, Any]]
    total: int
    include_deleted: bool
    last_used: dt.datetime


class ApiUsage:
    """The org's daily API request allocation: a 24-hour window that starts with its first call
    (Salesforce measures a rolling 24 hours)."""

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self.used = 0
        self.window_start: dt.datetime | None = None
        self._lock = threading.Lock()

    def _roll(self, now: dt.datetime) -> None:
        if self.window_start is None or now - self.window_start >= dt.timedelta(hours=24):
            self.window_start = now
            self.used = 0

    def spend(self, now: dt.datetime) -> bool:
        with self._lock:
            self._roll(now)
            if self.used >= self.maximum:
                return False
            self.used += 1
            return True

    def snapshot(self, now: dt.datetime) -> tuple[int, int]:
        with self._lock:
            self._roll(now)
            return self.used, self.maximum

    def set(self, now: dt.datetime, *, remaining: int | None = None, maximum: int | None = None) -> None:
        with self._lock:
            self._roll(now)
            if maximum is not None:
                self.maximum = maximum
            if remaining is not None:
                self.used = max(0, self.maximum - remaining)


def json_body(request: Request) -> Any:
    raw = request.get_data(as_text=True)
    if not raw.strip():
        raise json_parser_error("The request body is empty. Expected a JSON value.")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise json_parser_error(f"Unexpected character at [line:{exc.lineno}, column:{exc.colno}]") from None


def flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)


def is_collection_or_query(url: Any) -> bool:
    """Whether a composite subrequest's URL is an sObject Collections or a query request."""
    segments = urlsplit(str(url or "")).path.strip("/").split("/")
    # /services/data/vXX.X/<resource>/...
    resource = segments[3] if len(segments) > 3 else ""
    return resource in ("query", "queryAll") or (resource == "composite" and segments[4:5] == ["sobjects"])


def fields_param(request: Request) -> list[str] | None:
    raw = request.args.get("fields")
    return [name for name in raw.split(",") if name.strip()] if raw else None
