"""CRM search (``POST /crm/v3/objects/{type}/search``) as HubSpot runs it.

Limits from HubSpot's docs and changelog
(https://developers.hubspot.com/changelog/breaking-change-expanded-filtering-capabilities-and-error-messaging-in-hubspots-search-api):
5 filter groups (ORed), 10 filters per group (ANDed), 25 filters in all, one sort, ``limit`` up to 200,
and no paging beyond the first 10,000 results: ``total`` still counts every match, a page ending at
the cap still offers ``paging.next.after`` and the request that follows it fails with a 400.
``associations.<object>`` pseudo-properties filter by associated record ids.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import HubSpotError, validation_error
from .schema import ObjectType, PropertyDefinition, find_object_type, parse_instant
from .store import CrmRecord, CrmStore

MAX_FILTER_GROUPS = 5
MAX_FILTERS_PER_GROUP = 10
MAX_FILTERS = 25
MAX_LIMIT = 200
DEFAULT_LIMIT = 10
RESULT_CAP = 10_000

OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)
_VALUE_OPERATORS = frozenset(
    {"EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"}
)
_TOKEN_SPLIT = re.compile(r"[\s,;:.@/\\\-_()\[\]<>\"']+")


@dataclass(frozen=True)
class Filter:
    property_name: str
    operator: str
    value: str | None
    high_value: str | None
    values: tuple[str, ...]


@dataclass(frozen=True)
class SearchRequest:
    filter_groups: tuple[tuple[Filter, ...], ...]
    sort_property: str | None
    sort_descending: bool
    query: str | None
    properties: tuple[str, ...]
    limit: int
    offset: int


@dataclass
class SearchPage:
    records: list[CrmRecord]
    total: int
    next_after: str | None


def parse_search_request(body: Any, object_type: ObjectType, store: CrmStore) -> SearchRequest:
    if not isinstance(body, dict):
        raise validation_error("Invalid input JSON: expected an object")
    groups = body.get("filterGroups") or []
    if not isinstance(groups, list):
        raise validation_error("filterGroups must be a list")
    if len(groups) > MAX_FILTER_GROUPS:
        raise validation_error(f"Too many filter groups: {len(groups)}. The maximum is {MAX_FILTER_GROUPS}.")
    parsed_groups: list[tuple[Filter, ...]] = []
    total_filters = 0
    for group in groups:
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list):
            raise validation_error("Each filter group needs a filters list")
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise validation_error(
                f"Too many filters in a filter group: {len(filters)}. The maximum is {MAX_FILTERS_PER_GROUP}."
            )
        total_filters += len(filters)
        parsed_groups.append(tuple(_parse_filter(f, object_type, store) for f in filters))
    if total_filters > MAX_FILTERS:
        raise validation_error(f"Too many filters: {total_filters}. The maximum is {MAX_FILTERS}.")

    sort_property, descending = _parse_sorts(body.get("sorts") or [])
    limit = body.get("limit")
    limit = DEFAULT_LIMIT if limit in (None, 0) else limit
    if not isinstance(limit, int) or limit < 1 or limit > MAX_LIMIT:
        raise validation_error(f"limit must be between 1 and {MAX_LIMIT}; got {limit}")
    after = body.get("after")
    try:
        offset = int(after) if after not in (None, "") else 0
    except (TypeError, ValueError):
        raise validation_error(f"Invalid after value: {after}") from None
    if offset >= RESULT_CAP:
        raise validation_error(
            f"Search results are limited to {RESULT_CAP} records per query; paging beyond them "
            f"(after={offset}) is not supported. Narrow the query, for example by splitting a time range."
        )
    properties = body.get("properties") or []
    query = body.get("query")
    return SearchRequest(
        filter_groups=tuple(parsed_groups),
        sort_property=sort_property,
        sort_descending=descending,
        query=str(query) if query else None,
        properties=tuple(str(p) for p in properties),
        limit=limit,
        offset=max(offset, 0),
    )


def _parse_filter(raw: Any, object_type: ObjectType, store: CrmStore) -> Filter:
    if not isinstance(raw, dict):
        raise validation_error("A filter must be an object")
    name = raw.get("propertyName")
    operator = raw.get("operator")
    if not name or operator not in OPERATORS:
        raise validation_error(f"Invalid filter: propertyName {name!r}, operator {operator!r}")
    if name.startswith("associations."):
        if find_object_type(name.split(".", 1)[1]) is None:
            raise validation_error(f"Unknown association object type in filter: {name}")
    elif name not in store.definitions(object_type):
        raise validation_error(f"Property {name} does not exist on {object_type.name}")
    values = raw.get("values") or []
    value = raw.get("value")
    if operator in _VALUE_OPERATORS and value is None:
        raise validation_error(f"The {operator} filter on {name} needs a value")
    if operator == "BETWEEN" and raw.get("highValue") is None:
        raise validation_error(f"The BETWEEN filter on {name} needs a highValue")
    if operator in ("IN", "NOT_IN") and not values:
        raise validation_error(f"The {operator} filter on {name} needs values")
    return Filter(
        property_name=name,
        operator=operator,
        value=None if value is None else str(value),
        high_value=None if raw.get("highValue") is None else str(raw["highValue"]),
        values=tuple(str(v) for v in values),
    )


def _parse_sorts(sorts: Any) -> tuple[str | None, bool]:
    if not isinstance(sorts, list):
        raise validation_error("sorts must be a list")
    if len(sorts) > 1:
        raise validation_error("Only one sort is supported")
    if not sorts:
        return None, False
    sort = sorts[0]
    if isinstance(sort, str):
        return sort.lstrip("-"), sort.startswith("-")
    if isinstance(sort, dict) and sort.get("propertyName"):
        return str(sort["propertyName"]), str(sort.get("direction", "ASCENDING")).upper() == "DESCENDING"
    raise validation_error(f"Invalid sort: {sort}")


def run_search(
    store: CrmStore, object_type: ObjectType, request: SearchRequest, now_ms: int, short_page_by: int = 0
) -> SearchPage:
    definitions = store.definitions(object_type)
    candidates = [r for r in store.records(object_type) if r.searchable_from <= now_ms]
    matching = [
        r for r in candidates if _matches_query(r, request.query) and _matches_groups(r, request, store)
    ]
    if request.sort_property:
        key = _sort_key(definitions.get(request.sort_property), request.sort_property)
        present = [r for r in matching if r.value(request.sort_property) is not None]
        absent = [r for r in matching if r.value(request.sort_property) is None]
        # Stable sorts: ties keep id order in either direction.
        present.sort(key=lambda r: r.id)
        present.sort(key=key, reverse=request.sort_descending)
        matching = present + absent
    window_end = min(len(matching), RESULT_CAP)
    page_size = max(1, request.limit - short_page_by) if short_page_by else request.limit
    page = matching[request.offset : min(request.offset + page_size, window_end)]
    next_offset = request.offset + len(page)
    has_more = next_offset < len(matching)
    return SearchPage(records=page, total=len(matching), next_after=str(next_offset) if has_more else None)


def _matches_groups(record: CrmRecord, request: SearchRequest, store: CrmStore) -> bool:
    if not request.filter_groups:
        return True
    return any(all(_matches(record, f, store) for f in group) for group in request.filter_groups)


def _matches_query(record: CrmRecord, query: str | None) -> bool:
    """Free text: the query's words, in sequence, the last one as a prefix, in any property value."""
    if not query:
        return True
    needle = _tokens(query)
    if not needle:
        return True
    *leading, last = needle
    for value in record.properties.values():
        tokens = _tokens(value)
        for start in range(len(tokens) - len(needle) + 1):
            end = start + len(leading)
            if tokens[start:end] == leading and tokens[end].startswith(last):
                return True
    return False


def _matches(record: CrmRecord, condition: Filter, store: CrmStore) -> bool:
    name = condition.property_name
    if name.startswith("associations."):
        target_type = find_object_type(name.split(".", 1)[1])
        assert target_type is not None  # checked when parsing
        associated = {str(target.id) for target, _ in store.associations(record, target_type)}
        return _match_id_set(associated, condition)
    definition = store.definitions(record.object_type).get(name)
    actual = record.value(name)
    operator = condition.operator
    if operator == "HAS_PROPERTY":
        return actual is not None
    if operator == "NOT_HAS_PROPERTY":
        return actual is None
    if operator in ("NEQ", "NOT_IN", "NOT_CONTAINS_TOKEN") and actual is None:
        return True
    if actual is None:
        return False
    compare = _comparer(definition)
    if operator == "EQ":
        return compare(actual, condition.value) == 0
    if operator == "NEQ":
        return compare(actual, condition.value) != 0
    if operator == "IN":
        return any(compare(actual, v) == 0 for v in condition.values)
    if operator == "NOT_IN":
        return all(compare(actual, v) != 0 for v in condition.values)
    if operator == "CONTAINS_TOKEN":
        return _contains_token(actual, condition.value or "")
    if operator == "NOT_CONTAINS_TOKEN":
        return not _contains_token(actual, condition.value or "")
    if operator == "BETWEEN":
        return compare(actual, condition.value) >= 0 and compare(actual, condition.high_value) <= 0
    result = compare(actual, condition.value)
    return {"LT": result < 0, "LTE": result <= 0, "GT": result > 0, "GTE": result >= 0}[operator]


def _match_id_set(associated: set[str], condition: Filter) -> bool:
    operator = condition.operator
    if operator == "EQ":
        return condition.value in associated
    if operator == "NEQ":
        return condition.value not in associated
    if operator == "IN":
        return bool(associated & set(condition.values))
    if operator == "NOT_IN":
        return not associated & set(condition.values)
    if operator == "HAS_PROPERTY":
        return bool(associated)
    if operator == "NOT_HAS_PROPERTY":
        return not associated
    raise HubSpotError(400, f"Operator {operator} is not supported on associations", "VALIDATION_ERROR")


Comparer = Callable[[str, str | None], int]


def _comparer(definition: PropertyDefinition | None) -> Comparer:
    kind = definition.type if definition else "string"

    def numeric(left: str, right: str | None) -> int:
        a, b = _as_number(left, kind), _as_number(right, kind)
        if a is None or b is None:
            raise validation_error(f"{right} is not a valid {kind} filter value")
        return (a > b) - (a < b)

    def textual(left: str, right: str | None) -> int:
        a, b = left.lower(), (right or "").lower()
        return (a > b) - (a < b)

    return numeric if kind in ("number", "datetime", "date") else textual


def _as_number(value: str | None, kind: str) -> float | None:
    if value is None:
        return None
    if kind in ("datetime", "date"):
        instant = parse_instant(value)
        return None if instant is None else float(instant)
    try:
        return float(value)
    except ValueError:
        return None


def _sort_key(definition: PropertyDefinition | None, name: str) -> Callable[[CrmRecord], Any]:
    kind = definition.type if definition else "string"
    if kind in ("number", "datetime", "date"):
        return lambda r: _as_number(r.value(name), kind) or 0.0
    return lambda r: (r.value(name) or "").lower()


def _tokens(value: str) -> list[str]:
    return [t for t in _TOKEN_SPLIT.split(value.lower()) if t]


def _contains_token(actual: str, wanted: str) -> bool:
    wanted = wanted.lower()
    if "*" in wanted:
        return fnmatch.fnmatchcase(actual.lower(), wanted) or any(
            fnmatch.fnmatchcase(t, wanted) for t in _tokens(actual)
        )
    tokens, needle = _tokens(actual), _tokens(wanted)
    # A value that tokenizes into several words ("pricing-3") must match them in sequence.
    return wanted == actual.lower() or any(
        tokens[i : i + len(needle)] == needle for i in range(len(tokens) - len(needle) + 1)
    )
