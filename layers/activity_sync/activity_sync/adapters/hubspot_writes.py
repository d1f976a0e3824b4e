"""HubSpot batch writes (update, upsert) whose bad records fail alone: repeated keys merged, 100
inputs a request, and a batch HubSpot refuses as a whole halved until the records it refuses
stand alone, so that the good ones are still written (R16)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from activity_sync.adapters.hubspot_answers import HubSpotApiError, WriteItem, failed_alone
from activity_sync.batching import chunks
from activity_sync.ports import WriteResult

BATCH_SIZE = 100  # CRM object batch endpoints (read, create, update, upsert, associations create)

Send = Callable[[Sequence[WriteItem]], dict[str, WriteResult]]


def write_batches(keyed: Sequence[WriteItem], send: Send) -> list[WriteResult]:
    """Write ``(key, properties)`` items in batches of 100; results in input order. One batch may
    not name a record twice, so repeated keys are merged in order (later values win) and share
    one result."""
    merged: dict[str, dict[str, str | None]] = {}
    for key, item in keyed:
        merged.setdefault(key, {}).update(item)
    outcome: dict[str, WriteResult] = {}
    for chunk in chunks(list(merged.items()), BATCH_SIZE):
        outcome.update(_write_isolating_failures(chunk, send))
    return [outcome[key] for key, _ in keyed]


def _write_isolating_failures(items: Sequence[WriteItem], send: Send) -> dict[str, WriteResult]:
    try:
        return send(items)
    except HubSpotApiError as error:
        if not error.is_validation or len(items) == 1:
            return failed_alone(items, error)
        first_error = error
    # A validation error fails the whole batch without naming the record. Try both halves: if
    # both fail the same way for a reason that names no property, the cause is the request
    # itself and no split will help; otherwise halve the failing parts until the bad inputs
    # stand alone, so that the good ones are still written (R16).
    middle = len(items) // 2
    halves = (items[:middle], items[middle:])
    attempts: list[dict[str, WriteResult] | HubSpotApiError] = []
    for half in halves:
        try:
            attempts.append(send(half))
        except HubSpotApiError as half_error:
            if not half_error.is_validation:
                raise
            attempts.append(half_error)
    # A refusal naming properties (a value out of range, a property a validation rule requires)
    # is about some records, however many share it: keep halving.
    if not first_error.names_properties and all(
        isinstance(a, HubSpotApiError) and a.same_cause(first_error) for a in attempts
    ):
        raise first_error
    outcome: dict[str, WriteResult] = {}
    for half, attempt in zip(halves, attempts, strict=True):
        if isinstance(attempt, HubSpotApiError):
            outcome.update(_bisect(half, attempt, send))
        else:
            outcome.update(attempt)
    return outcome


def _bisect(
    items: Sequence[WriteItem],
    error: HubSpotApiError,
    send: Send,
) -> dict[str, WriteResult]:
    if len(items) == 1:
        return failed_alone(items, error)
    middle = len(items) // 2
    outcome: dict[str, WriteResult] = {}
    for half in (items[:middle], items[middle:]):
        try:
            outcome.update(send(half))
        except HubSpotApiError as half_error:
            if not half_error.is_validation:
                raise
            outcome.update(_bisect(half, half_error, send))
    return outcome
