"""``ports.HubSpotApi`` over HubSpot's REST API with plain ``requests``.

Every call is batch-first, counted (``HubSpotClient.calls``) and asked of the stack's shared API
budget first (``adapters.budget``), because HubSpot meters calls, not records (R18). Retries of 429
and 5xx answers happen below ``requests`` (``adapters.http``) within the invocation's deadline;
every POST this client sends is a search, a batch read or an idempotent write (upsert by a unique
property, update by id, association create, property create answered 409 when repeated, batch
create of records that set a unique property - a repeat is refused, not made twice), so POSTs are
retried as safely as GETs. The client never calls a create that could make a record twice.

API facts used here are in shared/reference/hubspot-api.md unless a comment cites a HubSpot page.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import requests

from activity_sync.adapters.http import MAX_RETRIES, Deadline, log_retry, mount_retries, transport_error
from activity_sync.adapters.hubspot_answers import (
    VENDOR,
    HubSpotApiError,
    WriteItem,
    association_inputs,
    error_entry,
    failed_alone,
    grouped_types,
    hubspot_defined,
    hubspot_error,
    instant_ms,
    match_association_results,
    match_results,
    next_after,
    property_values,
    record_of,
    to_epoch_ms,
    unique,
)
from activity_sync.batching import chunks
from activity_sync.domain import HubSpotOwner
from activity_sync.ports import EmailEventPage, HubSpotRecord, NewObject, VendorApiError, WriteResult
from activity_sync.rules.hubspot_records import modified_property

if TYPE_CHECKING:
    from activity_sync.adapters.budget import ApiBudget


BATCH_SIZE = 100  # CRM object batch endpoints (read, upsert, associations create)
# Associations batch read accepts at most 1,000 ids since 2025-02-10
# (https://developers.hubspot.com/changelog/bug-fix-batch-read-limit-for-hubspot-associations-api).
ASSOCIATIONS_READ_BATCH_SIZE = 1_000
SEARCH_PAGE_SIZE = 200
SEARCH_RESULT_CAP = 10_000
SEARCH_IN_VALUES = 100
OWNERS_PAGE_SIZE = 100  # the owners API's default page size (crm-owners-v3 spec)
EMAIL_EVENTS_PAGE_SIZE = 1_000
MARKETING_EMAILS_PAGE_SIZE = 100
FORMS_PAGE_SIZE = 50
FORM_SUBMISSIONS_PAGE_SIZE = 50  # the legacy submissions feed's maximum

PROPERTY_GROUP = "activity_sync"
PROPERTY_GROUP_LABEL = "Activity sync"


@dataclass(frozen=True)
class _SearchPage:
    results: list[dict[str, Any]]
    capped: bool  # more results remain but lie beyond the 10,000 reachable by paging


class HubSpotClient:
    """``ports.HubSpotApi`` for one private-app token. ``calls`` counts every HTTP request sent,
    retries included, by ``"METHOD /path"``; ``calls.total()`` is the call budget spent (R18)."""

    search_result_cap = SEARCH_RESULT_CAP
    search_page_size = SEARCH_PAGE_SIZE

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        session: requests.Session | None = None,
        budget: ApiBudget | None = None,
        deadline: Deadline | None = None,
        max_retries: int = MAX_RETRIES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._base_path = urlsplit(self.base_url).path.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._session = session or requests.Session()
        self.calls: Counter[str] = Counter()
        self.retries: Counter[str] = Counter()
        self._budget = budget
        self.deadline = deadline or Deadline()
        mount_retries(
            self._session,
            allowed_methods=("GET", "POST"),
            listener=self._on_retry,
            deadline=self.deadline,
            max_retries=max_retries,
        )

    # -- HTTP ----------------------------------------------------------------------------------
    def _on_retry(
        self, method: str, url: str, status: int | None, wait: float | None, error: Exception | None
    ) -> None:
        path = urlsplit(url).path
        if self._base_path and path.startswith(self._base_path):
            path = path[len(self._base_path) :]
        key = f"{method} {path}"
        self._spend(path)  # a retry is a call too
        self.calls[key] += 1
        self.retries[key] += 1
        log_retry(VENDOR, key, status, wait, error, retries_so_far=self.retries[key])

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        accept: frozenset[int] = frozenset(),
    ) -> requests.Response:
        key = f"{method} {path}"
        timeout = self.deadline.timeout(key, VENDOR)
        self._spend(path)
        self.calls[key] += 1
        try:
            response = self._session.request(
                method,
                self.base_url + path,
                params=params,
                json=body,
                headers=self._headers,
                timeout=timeout,
                # An explicit CA bundle on the session must win over REQUESTS_CA_BUNDLE.
                verify=self._session.verify,
            )
        except requests.RequestException as error:
            raise transport_error(VENDOR, key, error) from error
        self._observe(response)
        if response.status_code >= 400 and response.status_code not in accept:
            raise hubspot_error(response, key)
        return response

    def _spend(self, path: str) -> None:
        """One call (and, for a search, one search) from the shared budget, or BudgetExhausted."""
        if self._budget is not None:
            self._budget.acquire("search" if path.endswith("/search") else "call")

    def _observe(self, response: requests.Response) -> None:
        """HubSpot's own daily figures (absent on search answers), for the shared budget."""
        if self._budget is None:
            return
        remaining = response.headers.get("X-HubSpot-RateLimit-Daily-Remaining")
        daily = response.headers.get("X-HubSpot-RateLimit-Daily")
        if remaining and remaining.isdigit():
            self._budget.observe(int(remaining), int(daily) if daily and daily.isdigit() else None)

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self._request(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return {}
        try:
            payload = response.json()
        except ValueError as error:
            raise VendorApiError(
                VENDOR, response.status_code, f"{method} {path}: answer is not JSON", retryable=True
            ) from error
        return payload if isinstance(payload, dict) else {"results": payload}

    # -- reading -------------------------------------------------------------------------------
    def read_objects(
        self,
        object_type: str,
        ids: Sequence[str],
        properties: Sequence[str],
        *,
        id_property: str | None = None,
    ) -> dict[str, HubSpotRecord]:
        wanted = unique(str(i) for i in ids)
        requested = unique([*properties, id_property] if id_property else properties)
        found: dict[str, HubSpotRecord] = {}
        for chunk in chunks(wanted, BATCH_SIZE):
            body: dict[str, Any] = {"properties": requested, "inputs": [{"id": i} for i in chunk]}
            if id_property:
                body["idProperty"] = id_property
            # 207: some ids were not found (deleted, archived, never existed); they stay absent.
            page = self._json("POST", f"/crm/v3/objects/{object_type}/batch/read", body=body)
            by_folded_value = {i.lower(): i for i in chunk}
            for raw in page.get("results") or []:
                record = record_of(raw)
                if id_property:
                    value = record.properties.get(id_property) or ""
                    found[by_folded_value.get(value.lower(), value)] = record
                else:
                    found[record.id] = record
        return found

    def associated_ids(self, from_type: str, to_type: str, ids: Sequence[str]) -> dict[str, list[str]]:
        associated: dict[str, list[str]] = {str(i): [] for i in ids}
        pending: list[dict[str, str]] = [{"id": i} for i in associated]
        path = f"/crm/v4/associations/{from_type}/{to_type}/batch/read"
        while pending:
            more: list[dict[str, str]] = []
            for chunk in chunks(pending, ASSOCIATIONS_READ_BATCH_SIZE):
                # 207 lists ids without any association as errors; they keep their empty list.
                page = self._json("POST", path, body={"inputs": list(chunk)})
                for result in page.get("results") or []:
                    from_id = str((result.get("from") or {}).get("id"))
                    targets = associated.setdefault(from_id, [])
                    for target in result.get("to") or []:
                        target_id = str(target.get("toObjectId"))
                        if target_id not in targets:
                            targets.append(target_id)
                    # One id's associations page separately: ask again with its own cursor.
                    after = next_after(result)
                    if after:
                        more.append({"id": from_id, "after": after})
            pending = more
        return associated

    def search_modified(
        self, object_type: str, since: dt.datetime, until: dt.datetime, properties: Sequence[str]
    ) -> Iterator[HubSpotRecord]:
        modified = modified_property(object_type)
        requested = unique([*properties, modified])
        until_ms = to_epoch_ms(until)
        lower_ms = to_epoch_ms(since)
        # Ids already yielded whose modification instant equals lower_ms (a restart repeats them).
        done_at_lower: set[str] = set()
        while lower_ms < until_ms:
            filters = [
                {"propertyName": modified, "operator": "GTE", "value": str(lower_ms)},
                {"propertyName": modified, "operator": "LT", "value": str(until_ms)},
            ]
            last_ms, done_at_last = lower_ms, set(done_at_lower)
            capped = False
            for page in self._search_pages(object_type, filters, modified, requested):
                for raw in page.results:
                    record = record_of(raw)
                    stamp = instant_ms(record.properties.get(modified))
                    stamp = lower_ms if stamp is None else stamp
                    if stamp == lower_ms and record.id in done_at_lower:
                        continue
                    yield record
                    if stamp != last_ms:
                        last_ms, done_at_last = stamp, set()
                    done_at_last.add(record.id)
                capped = page.capped
            if not capped:
                return
            if last_ms > lower_ms:
                # Restart the query from the last instant seen; its ids are skipped once.
                lower_ms, done_at_lower = last_ms, done_at_last
                continue
            # Ten thousand changes in one millisecond: walk that instant by object id instead.
            yield from self._search_one_instant(object_type, modified, lower_ms, done_at_last, requested)
            lower_ms, done_at_lower = lower_ms + 1, set()

    def _search_one_instant(
        self, object_type: str, modified: str, instant_ms: int, skip: set[str], properties: Sequence[str]
    ) -> Iterator[HubSpotRecord]:
        after_id: str | None = None
        while True:
            filters = [{"propertyName": modified, "operator": "EQ", "value": str(instant_ms)}]
            if after_id is not None:
                filters.append({"propertyName": "hs_object_id", "operator": "GT", "value": after_id})
            capped = False
            for page in self._search_pages(object_type, filters, "hs_object_id", properties):
                for raw in page.results:
                    record = record_of(raw)
                    after_id = record.id
                    if record.id not in skip:
                        yield record
                capped = page.capped
            if not capped:
                return

    def _search_pages(
        self,
        object_type: str,
        filters: Sequence[Mapping[str, Any]],
        sort_property: str | None,
        properties: Sequence[str],
    ) -> Iterator[_SearchPage]:
        """Pages of one search (ascending by ``sort_property`` when given) until
        ``paging.next.after`` is absent (a short page may still have a successor) or the result
        cap is reached."""
        path = f"/crm/v3/objects/{object_type}/search"
        after: str | None = None
        fetched = 0
        while True:
            body: dict[str, Any] = {
                "filterGroups": [{"filters": list(filters)}],
                "properties": list(properties),
                "limit": self.search_page_size,
            }
            if sort_property:
                body["sorts"] = [{"propertyName": sort_property, "direction": "ASCENDING"}]
            if after is not None:
                body["after"] = after
            page = self._json("POST", path, body=body)
            results = list(page.get("results") or [])
            fetched += len(results)
            following = next_after(page)
            capped = following is not None and fetched >= self.search_result_cap
            yield _SearchPage(results, capped)
            if following is None or capped:
                return
            if following == after and not results:
                raise VendorApiError(
                    VENDOR, 200, f"POST {path}: search paging does not advance", retryable=False
                )
            after = following

    def owners(self) -> list[HubSpotOwner]:
        owners: list[HubSpotOwner] = []
        # Archived owners are listed separately; R8 still maps them (an old activity's owner).
        for archived in (False, True):
            after: str | None = None
            while True:
                params: dict[str, Any] = {"limit": OWNERS_PAGE_SIZE, "archived": str(archived).lower()}
                if after:
                    params["after"] = after
                page = self._json("GET", "/crm/v3/owners", params=params)
                for raw in page.get("results") or []:
                    owners.append(
                        HubSpotOwner(
                            id=str(raw["id"]),
                            email=(raw.get("email") or None),
                            active=not bool(raw.get("archived", archived)),
                        )
                    )
                after = next_after(page)
                if after is None:
                    break
        return owners

    def email_event_pages(
        self, since: dt.datetime, until: dt.datetime, offset: str | None = None
    ) -> Iterator[EmailEventPage]:
        """The legacy feed over the whole window, every event type in one stream (one call per
        1,000 events, whatever the window's length), filtered to the window by ``created``."""
        since_ms, until_ms = to_epoch_ms(since), to_epoch_ms(until)
        if until_ms <= since_ms:
            return
        while True:
            params: dict[str, Any] = {
                "startTimestamp": since_ms,
                "endTimestamp": until_ms - 1,  # inclusive bound; the port's window is half-open
                "limit": EMAIL_EVENTS_PAGE_SIZE,
            }
            if offset:
                params["offset"] = offset
            page = self._json("GET", "/email/public/v1/events", params=params)
            events = [
                event
                for event in page.get("events") or []
                if isinstance(event.get("created"), int | float) and since_ms <= event["created"] < until_ms
            ]
            next_offset = None if page.get("offset") in (None, "") else str(page["offset"])
            if not page.get("hasMore"):
                next_offset = None
            yield EmailEventPage(events, offset, next_offset)
            if next_offset is None:
                return
            offset = next_offset

    def marketing_email_names(self) -> dict[str, str]:
        names: dict[str, str] = {}
        # Archived emails still have events in the sync windows; a live email's name wins.
        for archived in (True, False):
            after: str | None = None
            while True:
                params: dict[str, Any] = {
                    "limit": MARKETING_EMAILS_PAGE_SIZE,
                    "archived": str(archived).lower(),
                }
                if after:
                    params["after"] = after
                page = self._json("GET", "/marketing/v3/emails", params=params)
                for email in page.get("results") or []:
                    name = email.get("name")
                    if not name:
                        continue
                    # Events carry the send's ``emailCampaignId``; an email lists every campaign id
                    # it has sent under (A/B variants, resends) in ``allEmailCampaignIds``.
                    campaign_ids = list(email.get("allEmailCampaignIds") or [])
                    if email.get("primaryEmailCampaignId"):
                        campaign_ids.append(email["primaryEmailCampaignId"])
                    for campaign_id in campaign_ids:
                        names[str(campaign_id)] = str(name)
                after = next_after(page)
                if after is None:
                    break
        return names

    def forms(self) -> list[dict[str, Any]]:
        forms: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": FORMS_PAGE_SIZE}
            if after:
                params["after"] = after
            page = self._json("GET", "/marketing/v3/forms", params=params)
            forms.extend(page.get("results") or [])
            after = next_after(page)
            if after is None:
                return forms

    def form_submissions(self, form_id: str, since: dt.datetime) -> Iterator[dict[str, Any]]:
        since_ms = to_epoch_ms(since)
        path = f"/form-integrations/v1/submissions/forms/{quote(form_id, safe='')}"
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": FORM_SUBMISSIONS_PAGE_SIZE}
            if after:
                params["after"] = after
            page = self._json("GET", path, params=params)
            for submission in page.get("results") or []:
                submitted = submission.get("submittedAt")
                if not isinstance(submitted, int | float):
                    continue
                if submitted < since_ms:
                    return  # newest first: everything after this is older still
                yield submission
            after = next_after(page)
            if after is None:
                return

    def find_contacts_by_email(
        self, emails: Sequence[str], properties: Sequence[str]
    ) -> dict[str, HubSpotRecord]:
        # String IN filters match lower-case values only
        # (https://developers.hubspot.com/docs/api-reference/search/guide#filter-search-results).
        wanted = unique(e.strip().lower() for e in emails if e and e.strip())
        requested = unique([*properties, "email"])
        found: dict[str, HubSpotRecord] = {}
        for chunk in chunks(wanted, SEARCH_IN_VALUES):
            filters = [{"propertyName": "email", "operator": "IN", "values": list(chunk)}]
            # Emails are unique: 100 values match at most 100 contacts, one page.
            for page in self._search_pages("contacts", filters, None, requested):
                for raw in page.results:
                    record = record_of(raw)
                    email = (record.properties.get("email") or "").lower()
                    if email:
                        found.setdefault(email, record)
        return found

    # -- writing -------------------------------------------------------------------------------
    def upsert_objects(
        self, object_type: str, id_property: str, inputs: Sequence[Mapping[str, str | None]]
    ) -> list[WriteResult]:
        keyed: list[tuple[str, Mapping[str, str | None]]] = []
        for item in inputs:
            key = item.get(id_property)
            if not key:
                raise ValueError(f"every upsert input needs a value for {id_property}")
            keyed.append((key, item))

        def send(items: Sequence[WriteItem]) -> dict[str, WriteResult]:
            body = {
                "inputs": [
                    {
                        "idProperty": id_property,
                        "id": key,
                        "properties": property_values(item, skip=id_property),
                    }
                    for key, item in items
                ]
            }
            page = self._json("POST", f"/crm/v3/objects/{object_type}/batch/upsert", body=body)
            return match_results(items, page, lambda raw: (raw.get("properties") or {}).get(id_property))

        return self._write_batches(keyed, send)

    def create_objects(
        self, object_type: str, id_property: str, inputs: Sequence[NewObject]
    ) -> list[WriteResult]:
        # Batch create, unlike batch upsert, takes each input's associations: a new record and its
        # contact/company/deal cost one call instead of two. It is all or nothing per batch, and a
        # unique value already taken (the record exists) refuses the batch, so a repeat - even the
        # transport's retry of a create whose answer was lost - never makes a second record.
        keyed: list[tuple[str, NewObject]] = []
        for item in inputs:
            key = item.properties.get(id_property)
            if not key:
                raise ValueError(f"every create input needs a value for {id_property}")
            keyed.append((key, item))
        if len({key for key, _ in keyed}) != len(keyed):
            raise ValueError(f"two create inputs share a value of {id_property}")
        results: list[WriteResult] = []
        for chunk in chunks(keyed, BATCH_SIZE):
            body = {
                "inputs": [
                    {
                        "properties": property_values(item.properties),
                        "associations": association_inputs(item.associations),
                    }
                    for _, item in chunk
                ]
            }
            try:
                page = self._json("POST", f"/crm/v3/objects/{object_type}/batch/create", body=body)
            except HubSpotApiError as error:
                if not error.is_validation:
                    raise
                refused = WriteResult(success=False, errors=(error_entry(error),))
                results += [refused] * len(chunk)
                continue
            # Matched by the unique property only: HubSpot does not promise its results in input
            # order, and a record it did not name is left to the upsert, which finds it by that
            # property, rather than linked to the wrong record.
            created = {
                str((raw.get("properties") or {}).get(id_property) or "").lower(): str(raw.get("id"))
                for raw in page.get("results") or []
                if raw.get("id") is not None
            }
            unnamed = WriteResult(
                success=False, errors=({"category": "UNMATCHED", "message": "not named in HubSpot's answer"},)
            )
            results += [
                WriteResult(success=True, id=created[key.lower()], created=True)
                if key.lower() in created
                else unnamed
                for key, _ in chunk
            ]
        return results

    def update_objects(
        self, object_type: str, inputs: Sequence[tuple[str, Mapping[str, str | None]]]
    ) -> list[WriteResult]:
        def send(items: Sequence[WriteItem]) -> dict[str, WriteResult]:
            body = {"inputs": [{"id": key, "properties": property_values(item)} for key, item in items]}
            # 207: ids that do not exist (deleted, archived) are listed in ``errors``.
            page = self._json("POST", f"/crm/v3/objects/{object_type}/batch/update", body=body)
            return match_results(items, page, lambda raw: raw.get("id"))

        return self._write_batches([(str(key), item) for key, item in inputs], send)

    def archive_objects(self, object_type: str, ids: Sequence[str]) -> None:
        # HubSpot answers 204 for the whole batch; archiving an archived id is not an error.
        for chunk in chunks(list(dict.fromkeys(ids)), BATCH_SIZE):
            self._request(
                "POST",
                f"/crm/v3/objects/{object_type}/batch/archive",
                body={"inputs": [{"id": i} for i in chunk]},
            )

    def _write_batches(
        self, keyed: Sequence[WriteItem], send: Callable[[Sequence[WriteItem]], dict[str, WriteResult]]
    ) -> list[WriteResult]:
        """Write ``(key, properties)`` items in batches of 100; results in input order. One batch may
        not name a record twice, so repeated keys are merged in order (later values win) and share
        one result."""
        merged: dict[str, dict[str, str | None]] = {}
        for key, item in keyed:
            merged.setdefault(key, {}).update(item)
        outcome: dict[str, WriteResult] = {}
        for chunk in chunks(list(merged.items()), BATCH_SIZE):
            outcome.update(self._write_isolating_failures(chunk, send))
        return [outcome[key] for key, _ in keyed]

    def _write_isolating_failures(
        self, items: Sequence[WriteItem], send: Callable[[Sequence[WriteItem]], dict[str, WriteResult]]
    ) -> dict[str, WriteResult]:
        try:
            return send(items)
        except HubSpotApiError as error:
            if not error.is_validation or len(items) == 1:
                return failed_alone(items, error)
            first_error = error
        # A validation error fails the whole batch without naming the record. Try both halves: if
        # both fail the same way the cause is the request itself (a missing property, say) and no
        # split will help; otherwise halve the failing parts until the bad inputs stand alone, so
        # that the good ones are still written (R16).
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
        if all(isinstance(a, HubSpotApiError) and a.same_cause(first_error) for a in attempts):
            raise first_error
        outcome: dict[str, WriteResult] = {}
        for half, attempt in zip(halves, attempts, strict=True):
            if isinstance(attempt, HubSpotApiError):
                outcome.update(self._bisect(half, attempt, send))
            else:
                outcome.update(attempt)
        return outcome

    def _bisect(
        self,
        items: Sequence[WriteItem],
        error: HubSpotApiError,
        send: Callable[[Sequence[WriteItem]], dict[str, WriteResult]],
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
                outcome.update(self._bisect(half, half_error, send))
        return outcome

    def associate(
        self, from_type: str, to_type: str, pairs: Sequence[tuple[str, str, int]]
    ) -> list[WriteResult]:
        types_by_pair = grouped_types(((str(f), str(t)), type_id) for f, t, type_id in pairs)
        outcome: dict[tuple[str, str], WriteResult] = {}
        path = f"/crm/v4/associations/{from_type}/{to_type}/batch/create"
        for chunk in chunks(list(types_by_pair), BATCH_SIZE):
            body = {
                "inputs": [
                    {
                        "from": {"id": from_id},
                        "to": {"id": to_id},
                        "types": hubspot_defined(types_by_pair[(from_id, to_id)]),
                    }
                    for from_id, to_id in chunk
                ]
            }
            page = self._json("POST", path, body=body)
            outcome.update(match_association_results(chunk, page))
        return [outcome[(str(f), str(t))] for f, t, _ in pairs]

    def ensure_unique_property(self, object_type: str, name: str, label: str) -> None:
        """Make sure ``object_type`` has the unique-value property ``name``: one read when it
        exists (so a warm portal needs no schema-write scope), else its group and itself."""
        found = self._request("GET", f"/crm/v3/properties/{object_type}/{name}", accept=frozenset({404}))
        if found.status_code == 404:
            # Property creation needs a group; the service keeps its properties in its own.
            self._request(
                "POST",
                f"/crm/v3/properties/{object_type}/groups",
                body={"name": PROPERTY_GROUP, "label": PROPERTY_GROUP_LABEL, "displayOrder": -1},
                accept=frozenset({409}),
            )
            created = self._request(
                "POST",
                f"/crm/v3/properties/{object_type}",
                body={
                    "name": name,
                    "label": label,
                    "type": "string",
                    "fieldType": "text",
                    "groupName": PROPERTY_GROUP,
                    "hasUniqueValue": True,
                    "description": "Written by the HubSpot-Salesforce activity sync; do not edit.",
                },
                accept=frozenset({409}),
            )
            if created.status_code != 409:
                return
            found = self._request("GET", f"/crm/v3/properties/{object_type}/{name}")
        if not found.json().get("hasUniqueValue"):
            raise VendorApiError(
                VENDOR,
                409,
                f"property {object_type}.{name} exists without unique values; upserts by it cannot work",
                retryable=False,
            )
