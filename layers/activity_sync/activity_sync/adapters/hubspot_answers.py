"""HubSpot's answers, read: records, paging cursors and instants out of response bodies, error
bodies as ``HubSpotApiError``, and batch results matched back to the inputs that asked for them
(``WriteResult`` in input order, the failed ones with HubSpot's words). Used by ``hubspot_api``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import requests

from activity_sync.ports import HubSpotRecord, VendorApiError, WriteResult

VENDOR = "hubspot"

WriteItem = tuple[str, Mapping[str, str | None]]  # (record key, properties)


# -- value helpers -------------------------------------------------------------------------------


def to_epoch_ms(instant: dt.datetime) -> int:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got {instant.isoformat()}")
    return int(instant.timestamp() * 1000)


def parse_instant(value: Any) -> dt.datetime | None:
    """HubSpot sends instants as ISO-8601 strings (``2025-01-31T12:00:00.123Z``) or epoch
    milliseconds; both become timezone-aware UTC datetimes."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().lstrip("-").isdigit()):
        return dt.datetime.fromtimestamp(int(value) / 1000, tz=dt.UTC)
    parsed = dt.datetime.fromisoformat(str(value).strip())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def instant_ms(value: Any) -> int | None:
    parsed = parse_instant(value)
    return None if parsed is None else to_epoch_ms(parsed)


def unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def record_of(raw: Mapping[str, Any]) -> HubSpotRecord:
    properties = raw.get("properties") or {}
    return HubSpotRecord(
        id=str(raw["id"]),
        properties={str(k): None if v is None else str(v) for k, v in properties.items()},
        created_at=parse_instant(raw.get("createdAt")),
        updated_at=parse_instant(raw.get("updatedAt")),
        archived=bool(raw.get("archived", False)),
    )


def next_after(page: Mapping[str, Any]) -> str | None:
    after = ((page.get("paging") or {}).get("next") or {}).get("after")
    return None if after in (None, "") else str(after)


def context_values(error: Mapping[str, Any]) -> set[str]:
    """Every string in a batch error's ``context`` (HubSpot names the failed ids there)."""
    context = error.get("context") or {}
    values: set[str] = set()
    if isinstance(context, Mapping):
        for entry in context.values():
            if isinstance(entry, list):
                values.update(str(v) for v in entry)
            elif entry is not None:
                values.add(str(entry))
    return values


# -- answers -> results --------------------------------------------------------------------------


class HubSpotApiError(VendorApiError):
    """A HubSpot error answer, with its ``category`` and body kept for per-record results."""

    def __init__(self, status: int, message: str, *, category: str, body: Mapping[str, Any]) -> None:
        super().__init__(VENDOR, status, message, retryable=status == 429 or status >= 500)
        self.category = category
        self.body = dict(body)

    @property
    def is_validation(self) -> bool:
        """An answer about the records sent, which a smaller batch may avoid."""
        return self.status in (400, 409, 422)

    @property
    def names_properties(self) -> bool:
        """Whether HubSpot named the properties it refused (``errors[].context.propertyName``): then
        the cause lies in some records' values, not in the request as a whole."""
        details = self.body.get("errors")
        return isinstance(details, list) and any(
            isinstance(detail, Mapping) and (detail.get("context") or {}).get("propertyName")
            for detail in details
        )

    def same_cause(self, other: HubSpotApiError) -> bool:
        return (self.status, self.category, self.body.get("message")) == (
            other.status,
            other.category,
            other.body.get("message"),
        )


def hubspot_error(response: requests.Response, what: str) -> HubSpotApiError:
    status = response.status_code
    try:
        payload = response.json()
    except ValueError:
        payload = None
    body: dict[str, Any] = payload if isinstance(payload, dict) else {}
    category = str(body.get("category") or body.get("errorType") or f"HTTP_{status}")
    text = body.get("message") or (response.text or response.reason or "").strip()[:500]
    message = f"{what}: {category}: {text}"
    if body.get("correlationId"):
        message += f" (correlationId {body['correlationId']})"
    if not body:
        body = {"category": category, "message": text}
    return HubSpotApiError(status, message, category=category, body=body)


def failed_alone(items: Sequence[WriteItem], error: HubSpotApiError) -> dict[str, WriteResult]:
    if len(items) != 1 or not error.is_validation:
        raise error
    return {items[0][0]: WriteResult(success=False, errors=(error_entry(error),))}


def error_entry(error: HubSpotApiError) -> dict[str, Any]:
    """A refused request as one record's error, with HubSpot's category and details."""
    entry: dict[str, Any] = {"category": error.category, "message": str(error.body.get("message") or error)}
    for name in ("subCategory", "context", "errors"):
        if name in error.body:
            entry[name] = error.body[name]
    return readable(entry)


def readable(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A record's error whose message names the refused properties in HubSpot's words
    (``hs_call_body: hs_call_body is required``) when its details name them; HubSpot's own
    message, which may embed them as JSON, is kept as ``hubspot_message``."""
    details = entry.get("errors")
    named = [
        (str(name), str(detail.get("message") or detail.get("code") or ""))
        for detail in (details if isinstance(details, list) else [])
        if isinstance(detail, Mapping)
        for name in (detail.get("context") or {}).get("propertyName") or []
    ]
    if not named:
        return dict(entry)
    message = "; ".join(f"{name}: {text}" if name not in text else text for name, text in named)
    return {**entry, "message": message, "hubspot_message": entry.get("message")}


def association_inputs(associations: Sequence[tuple[str, int]]) -> list[dict[str, Any]]:
    """A create input's ``associations``: one entry per associated record, with all its types."""
    return [
        {"to": {"id": to_id}, "types": hubspot_defined(types)}
        for to_id, types in grouped_types((str(to_id), t) for to_id, t in associations).items()
    ]


def grouped_types[K](pairs: Iterable[tuple[K, int]]) -> dict[K, list[int]]:
    """Association type ids by what they associate, each once, in the order given."""
    grouped: dict[K, list[int]] = {}
    for key, type_id in pairs:
        types = grouped.setdefault(key, [])
        if type_id not in types:
            types.append(type_id)
    return grouped


def hubspot_defined(type_ids: Iterable[int]) -> list[dict[str, Any]]:
    return [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": t} for t in type_ids]


def property_values(item: Mapping[str, str | None], *, skip: str | None = None) -> dict[str, str]:
    # HubSpot clears a property that is set to the empty string.
    return {name: "" if value is None else value for name, value in item.items() if name != skip}


def match_results(
    items: Sequence[WriteItem], page: Mapping[str, Any], key_of: Callable[[Mapping[str, Any]], Any]
) -> dict[str, WriteResult]:
    """Batch results matched to the inputs by their key (the id, or the id property's value);
    inputs without a result take the errors that name them."""
    keys = [key for key, _ in items]
    by_folded_key = {key.lower(): key for key in keys}
    outcome: dict[str, WriteResult] = {}
    unmatched_results: list[Mapping[str, Any]] = []
    for raw in page.get("results") or []:
        key = by_folded_key.get(str(key_of(raw) or "").lower())
        if key is None or key in outcome:
            unmatched_results.append(raw)
            continue
        outcome[key] = WriteResult(success=True, id=str(raw.get("id")), created=created_flag(raw))
    # A result without the key (HubSpot need not echo an id property) pairs up by position.
    missing = [key for key in keys if key not in outcome]
    if unmatched_results and len(unmatched_results) == len(missing) and not page.get("errors"):
        for key, raw in zip(missing, unmatched_results, strict=True):
            outcome[key] = WriteResult(success=True, id=str(raw.get("id")), created=created_flag(raw))
    attach_errors(
        outcome, missing_keys=[k for k in keys if k not in outcome], errors=page.get("errors") or []
    )
    return outcome


def created_flag(raw: Mapping[str, Any]) -> bool | None:
    new = raw.get("new")
    return None if new is None else bool(new)


def match_association_results(
    pairs: Sequence[tuple[str, str]], page: Mapping[str, Any]
) -> dict[tuple[str, str], WriteResult]:
    outcome: dict[tuple[str, str], WriteResult] = {}
    wanted = set(pairs)
    for raw in page.get("results") or []:
        pair = (str(raw.get("fromObjectId")), str(raw.get("toObjectId")))
        if pair in wanted:
            outcome[pair] = WriteResult(success=True, id=f"{pair[0]}->{pair[1]}")
    attach_errors(
        outcome,
        missing_keys=[pair for pair in pairs if pair not in outcome],
        errors=list(page.get("errors") or []),
        claims=lambda pair, error: bool({pair[0], pair[1]} & context_values(error)),
    )
    return outcome


def names_key(key: str, error: Mapping[str, Any]) -> bool:
    """Whether a batch error's ``context`` names this input (its id or unique value)."""
    named = context_values(error)
    return key in named or key.lower() in named


def attach_errors[K](
    outcome: dict[K, WriteResult],
    *,
    missing_keys: Sequence[K],
    errors: Sequence[Mapping[str, Any]],
    claims: Callable[[K, Mapping[str, Any]], bool] | None = None,
) -> None:
    """Results for the inputs a batch answered nothing for: the errors that name each (``claims``;
    by default its key in the error's context), or else the errors no input claimed (or a
    missing-result error)."""
    unclaimed = list(errors)
    for key in missing_keys:
        mine = [e for e in errors if (claims(key, e) if claims else names_key(str(key), e))]
        for error in mine:
            if error in unclaimed:
                unclaimed.remove(error)
        if mine:
            outcome[key] = WriteResult(success=False, errors=tuple(readable(e) for e in mine))
    for key in missing_keys:
        if key not in outcome:
            outcome[key] = WriteResult(
                success=False,
                errors=tuple(unclaimed)
                or ({"category": "MISSING_RESULT", "message": "HubSpot returned no result"},),
            )
