"""Salesforce's requests planned and its answers read, for the REST client (``salesforce_api``):
composite subrequests, writes cut into sObject Collections requests (repeated External IDs merged,
each record's result back in its place), SOQL ``IN`` lists cut to the URL's length, and error
answers - of a request or a composite subrequest - as ``VendorApiError``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from activity_sync.ports import CollectionWrite, SoqlQuery, VendorApiError, WriteResult

if TYPE_CHECKING:
    from simple_salesforce.exceptions import SalesforceError

VENDOR = "salesforce"
# GET /query?q= is bounded by the URL length (16,384 bytes); keep each IN list well below it.
MAX_IN_CLAUSE_CHARS = 8_000
COLLECTION_SIZE = 200  # sObject Collections: at most 200 records (or ids) per call
RETRYABLE_ERROR_CODES = frozenset({"REQUEST_LIMIT_EXCEEDED", "UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"})


# Salesforce's SOQL string escapes
# (https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_quotedstringescapes.htm).
_SOQL_ESCAPES = str.maketrans(
    {"\\": "\\\\", "'": "\\'", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
)


def soql_quote(value: str) -> str:
    """``value`` as a SOQL string literal, quotes included; safe for ``=`` and ``IN`` comparisons
    (``LIKE`` patterns need ``%`` and ``_`` escaped on top)."""
    return "'" + value.translate(_SOQL_ESCAPES) + "'"


def endpoint(query: SoqlQuery) -> str:
    return "queryAll" if query.include_deleted else "query"


def strip_attributes(value: Any) -> Any:
    """A query row without Salesforce's ``attributes`` blocks (nested relationships included)."""
    if isinstance(value, dict):
        return {k: strip_attributes(v) for k, v in value.items() if k != "attributes"}
    if isinstance(value, list):
        return [strip_attributes(v) for v in value]
    return value


def quoted_lists(values: Sequence[str], max_chars: int = MAX_IN_CLAUSE_CHARS) -> Iterator[str]:
    """``'a','b',…`` lists for ``IN (…)``, each short enough for one query URL."""
    batch: list[str] = []
    length = 0
    for value in values:
        literal = soql_quote(value)
        if batch and (length + len(literal) + 1 > max_chars or len(batch) >= COLLECTION_SIZE):
            yield ",".join(batch)
            batch, length = [], 0
        batch.append(literal)
        length += len(literal) + 1
    if batch:
        yield ",".join(batch)


def write_result(raw: Mapping[str, Any]) -> WriteResult:
    created = raw.get("created")
    return WriteResult(
        success=bool(raw.get("success")),
        id=None if raw.get("id") is None else str(raw["id"]),
        created=None if created is None else bool(created),
        errors=tuple(raw.get("errors") or ()),
    )


@dataclass(frozen=True)
class Subrequest:
    """One request of a composite call: ``path`` is relative to ``/services/data/vXX.X/`` (its
    query string included)."""

    method: str
    path: str
    body: Any = None
    headers: Mapping[str, str] | None = None


@dataclass(frozen=True)
class PlannedWrite:
    """A write as Collections requests send it (``PATCH`` to ``path``): its records (an upsert's
    merged by External ID, since one request may not name an External ID twice) and how to give
    back one result per record the caller passed."""

    path: str
    records: list[dict[str, Any]]
    keys: list[str] | None = None  # an upsert's External ID of each record passed, in order

    @classmethod
    def of(cls, write: CollectionWrite) -> PlannedWrite:
        attributes = {"type": write.sobject}
        if write.external_id_field is None:
            return cls("composite/sobjects", [{**r, "attributes": attributes} for r in write.records])
        field_name = write.external_id_field
        keys: list[str] = []
        latest: dict[str, dict[str, Any]] = {}  # repeated records merge in order: later values win
        for record in write.records:
            value = record.get(field_name)
            if value is None or value == "":
                raise ValueError(f"every upsert record needs a value for {field_name}")
            keys.append(str(value))
            latest.setdefault(str(value), {}).update(record)
        return cls(
            f"composite/sobjects/{write.sobject}/{field_name}",
            [{**record, "attributes": attributes} for record in latest.values()],
            keys,
        )

    def results(self, written: list[WriteResult]) -> list[WriteResult]:
        if self.keys is None:
            return written
        by_key = dict(zip(dict.fromkeys(self.keys), written, strict=True))
        return [by_key[key] for key in self.keys]


def subrequest_errors(status: int, answer: Any) -> tuple[dict[str, Any], ...]:
    """A composite subrequest's error answer (``[{errorCode, message}]``) as per-record errors."""
    entries = [e for e in (answer if isinstance(answer, list) else [answer]) if isinstance(e, dict)]
    errors = tuple(
        {"statusCode": str(e.get("errorCode") or f"HTTP_{status}"), "message": str(e.get("message") or "")}
        for e in entries
    )
    return errors or ({"statusCode": f"HTTP_{status}", "message": str(answer)[:500]},)


def salesforce_error(what: str, error: SalesforceError) -> VendorApiError:
    return error_answer(what, int(error.status), error.content)


def error_answer(what: str, status: int, content: Any) -> VendorApiError:
    """A Salesforce error answer (``[{errorCode, message}]``), of a request or a composite
    subrequest, as a VendorApiError."""
    entries = content if isinstance(content, list) else [content]
    codes = [str(e.get("errorCode")) for e in entries if isinstance(e, dict) and e.get("errorCode")]
    messages = [str(e.get("message")) for e in entries if isinstance(e, dict) and e.get("message")]
    detail = "; ".join(f"{c}: {m}" for c, m in zip(codes, messages, strict=False)) or str(content)[:500]
    retryable = status == 429 or status >= 500 or bool(RETRYABLE_ERROR_CODES.intersection(codes))
    return VendorApiError(VENDOR, status, f"{what}: {detail}", retryable=retryable)
