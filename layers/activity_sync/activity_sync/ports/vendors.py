"""The vendor APIs as the use cases see them. Adapters in ``activity_sync.adapters`` implement
these protocols against the real HTTP APIs; the use-case tests hand in in-memory fakes.

Every method is batch-first: one call covers many records, because both vendors meter calls
(R18), not records.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from activity_sync.domain import HubSpotOwner, HubSpotRecord, SalesforceUser, SyncType


@dataclass(frozen=True)
class SoqlQuery:
    """A SOQL query; ``include_deleted`` reads it with queryAll."""

    soql: str
    include_deleted: bool = False


@dataclass(frozen=True)
class CollectionWrite:
    """One sObject Collections write: records updated by their ``Id``, or upserted by
    ``external_id_field`` when it is set."""

    sobject: str
    records: Sequence[Mapping[str, Any]]
    external_id_field: str | None = None


@dataclass(frozen=True)
class EmailEventPage:
    """One page of the marketing email events feed: its events, the offset that asked for it
    (None: the first page) and the offset of the next page (None: the last)."""

    events: Sequence[Mapping[str, Any]]
    offset: str | None
    next_offset: str | None


@dataclass(frozen=True)
class WriteResult:
    """One record's outcome in a batch write, in the order of the request."""

    success: bool
    id: str | None = None
    created: bool | None = None
    errors: Sequence[Mapping[str, Any]] = field(default_factory=tuple)

    @property
    def error_codes(self) -> list[str]:
        return [
            str(e.get("statusCode") or e.get("errorCode") or e.get("category") or "") for e in self.errors
        ]

    @property
    def message(self) -> str:
        return "; ".join(
            f"{c}: {e.get('message', '')}" for c, e in zip(self.error_codes, self.errors, strict=True)
        )


@dataclass(frozen=True)
class NewObject:
    """A HubSpot record to create with its associations made in the same call:
    (associated object's id, HubSpot-defined association type id) pairs."""

    properties: Mapping[str, str | None]
    associations: Sequence[tuple[str, int]] = ()


class VendorApiError(RuntimeError):
    """A vendor call failed after the adapter's own retries. ``retryable`` says whether trying the
    same call later may succeed (rate limits, 5xx, timeouts) or not (validation, auth, config)."""

    def __init__(self, vendor: str, status: int | None, message: str, *, retryable: bool) -> None:
        super().__init__(f"{vendor} {status}: {message}")
        self.vendor = vendor
        self.status = status
        self.retryable = retryable


class ConnectionValues(Protocol):
    """The stack's connection parameters as a function reads them (SSM, ``config``): secrets and
    ids by name. ``require`` raises, naming the parameter, when one is not set."""

    def get(self, name: str, default: str | None = None) -> str | None: ...

    def require(self, name: str) -> str: ...

    @property
    def hubspot_portal_id(self) -> int | None: ...


class BudgetExhausted(VendorApiError):
    """No call may be made now: ``scope`` says which limit, ``retry_after_seconds`` when to try.
    Messages held back wait ``delay_seconds`` (1 s up to ``hold_seconds``) before they come again."""

    def __init__(
        self, vendor: str, scope: str, retry_after_seconds: float, *, hold_seconds: int = 900
    ) -> None:
        super().__init__(
            vendor, None, f"API budget spent ({scope}); retry in {retry_after_seconds:.0f} s", retryable=True
        )
        self.scope = scope
        self.retry_after_seconds = retry_after_seconds
        self.hold_seconds = hold_seconds

    @property
    def delay_seconds(self) -> int:
        """The queue delay for messages handed back."""
        return int(min(self.hold_seconds, max(1, math.ceil(self.retry_after_seconds))))


class CallBudget(Protocol):
    """One vendor's API budget, shared by every container (``activity_sync.adapters.budget``)."""

    def working_for(self, sync_type: SyncType | None) -> AbstractContextManager[None]:
        """Calls made inside are counted for ``sync_type``, with its priority (R18)."""
        ...


class HubSpotApi(Protocol):
    # -- reading activities and contacts (HubSpot -> Salesforce) ---------------------------------
    def read_objects(
        self,
        object_type: str,
        ids: Sequence[str],
        properties: Sequence[str],
        *,
        id_property: str | None = None,
    ) -> dict[str, HubSpotRecord]:
        """Batch read; ids not found (deleted, archived) are simply absent from the result."""
        ...

    def associated_ids(self, from_type: str, to_type: str, ids: Sequence[str]) -> dict[str, list[str]]:
        """Associations v4 batch read: from id -> associated ids (every from id is a key)."""
        ...

    def search_modified(
        self, object_type: str, since: dt.datetime, until: dt.datetime, properties: Sequence[str]
    ) -> Iterator[HubSpotRecord]:
        """Every object whose ``hs_lastmodifieddate`` is in [since, until), oldest first, across
        pages and past the 10,000-result cap of one search."""
        ...

    def owners(self) -> list[HubSpotOwner]: ...

    def email_event_pages(
        self, since: dt.datetime, until: dt.datetime, offset: str | None = None
    ) -> Iterator[EmailEventPage]:
        """Marketing email events of every kind in [since, until), a page at a time (v1 feed),
        from ``offset`` (a page's ``offset``, to resume where a run stopped)."""
        ...

    def marketing_email_names(self) -> dict[str, str]:
        """Email campaign id -> the marketing email's name (for subjects, R9)."""
        ...

    def forms(self) -> list[dict[str, Any]]: ...

    def form_submissions(self, form_id: str, since: dt.datetime) -> Iterator[dict[str, Any]]:
        """Submissions of one form at or after ``since`` (the feed is newest first)."""
        ...

    def find_contacts_by_email(
        self, emails: Sequence[str], properties: Sequence[str]
    ) -> dict[str, HubSpotRecord]:
        """Lower-cased email -> contact, for the emails that have one."""
        ...

    # -- writing activities (Salesforce -> HubSpot) ----------------------------------------------
    def upsert_objects(
        self, object_type: str, id_property: str, inputs: Sequence[Mapping[str, str | None]]
    ) -> list[WriteResult]:
        """Batch upsert by a unique-value property; results in input order."""
        ...

    def create_objects(
        self, object_type: str, id_property: str, inputs: Sequence[NewObject]
    ) -> list[WriteResult]:
        """Batch create with associations; results in input order. ``id_property`` names a
        unique-value property every input sets, so a record that already exists is refused, never
        made twice. A batch HubSpot refuses as a whole comes back as failed results."""
        ...

    def update_objects(
        self, object_type: str, inputs: Sequence[tuple[str, Mapping[str, str | None]]]
    ) -> list[WriteResult]:
        """Batch update by HubSpot id: (id, properties) pairs; results in input order."""
        ...

    def archive_objects(self, object_type: str, ids: Sequence[str]) -> None:
        """Batch archive by HubSpot id (ids already gone are not an error)."""
        ...

    def associate(
        self, from_type: str, to_type: str, pairs: Sequence[tuple[str, str, int]]
    ) -> list[WriteResult]:
        """Create (from id, to id, HubSpot-defined association type id) associations in batch."""
        ...

    def ensure_unique_property(self, object_type: str, name: str, label: str) -> None: ...


class SalesforceApi(Protocol):
    def upsert(
        self, sobject: str, external_id_field: str, records: Sequence[Mapping[str, Any]]
    ) -> list[WriteResult]:
        """sObject Collections upsert (200 a call, allOrNone false); results in input order."""
        ...

    def update(self, sobject: str, records: Sequence[Mapping[str, Any]]) -> list[WriteResult]:
        """sObject Collections update; each record carries its ``Id``."""
        ...

    def write_together(self, writes: Sequence[CollectionWrite]) -> list[list[WriteResult]]:
        """Several writes in as few calls as Salesforce allows (their Collections requests share
        composite calls, five a call); each write's results in its input order."""
        ...

    def delete(self, ids: Sequence[str]) -> list[WriteResult]: ...

    def query(self, soql: str, *, include_deleted: bool = False) -> Iterator[dict[str, Any]]:
        """Every row of a SOQL query, following ``nextRecordsUrl`` (``queryAll`` when deleted
        rows are wanted)."""
        ...

    def query_together(self, queries: Sequence[SoqlQuery]) -> list[Iterator[dict[str, Any]]]:
        """Every row of each query, as ``query`` gives them, with their first pages read together
        (one composite call) when the first of them is read."""
        ...

    def retrieve(self, sobject: str, ids: Sequence[str], fields: Sequence[str]) -> dict[str, dict[str, Any]]:
        """sObject Collections retrieve: id -> record, for the ids that exist."""
        ...

    def active_users(self) -> list[SalesforceUser]: ...

    def people_by_email(self, emails: Sequence[str]) -> dict[str, dict[str, list[str]]]:
        """Lower-cased email -> {"Contact": [ids], "Lead": [ids]} (unconverted Leads only)."""
        ...

    def picklist_values(self, sobject: str, field_name: str) -> list[str]:
        """Active values of a picklist field (describe)."""
        ...

    @property
    def user_id(self) -> str:
        """The Salesforce user the service runs as (the integration/API user, R14)."""
        ...
