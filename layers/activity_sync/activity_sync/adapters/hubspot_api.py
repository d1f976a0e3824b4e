"""``ports.HubSpotApi`` over HubSpot's date-based REST API (``API_VERSION``) with plain ``requests``.

Every call is batch-first, counted (``HubSpotClient.calls``) and asked of the stack's shared API
budget first (``adapters.budget``), because HubSpot meters calls, not records (R18). Retries of 429
and 5xx answers happen below ``requests`` (``adapters.http``) within the invocation's deadline;
every POST this client sends is a search, a batch read or an idempotent write (upsert by a unique
property, update by id, association create, property create answered 409 when repeated, batch
create of records that set a unique property - a repeat is refused, not made twice), so POSTs are
retried as safely as GETs. The client never calls a create that could make a record twice.

The sources HubSpot has no generally available date-based version of (marketing email events,
forms, form submissions) are read by ``hubspot_legacy_feeds``, over the same transport.
API facts used here are in shared/reference/hubspot-api.md unless a comment cites a HubSpot page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from activity_sync.adapters.hubspot_answers import (
    VENDOR,
    HubSpotApiError,
    WriteItem,
    association_inputs,
    error_entry,
    grouped_types,
    hubspot_defined,
    instant_ms,
    match_association_results,
    match_results,
    names_key,
    next_after,
    property_values,
    readable,
    record_of,
    to_epoch_ms,
    unique,
)
from activity_sync.adapters.hubspot_http import HubSpotTransport
from activity_sync.adapters.hubspot_legacy_feeds import HubSpotLegacyFeeds
from activity_sync.adapters.hubspot_writes import BATCH_SIZE, write_batches
from activity_sync.batching import chunks
from activity_sync.domain import HubSpotOwner
from activity_sync.ports import EmailEventPage, HubSpotRecord, NewObject, VendorApiError, WriteResult
from activity_sync.rules.hubspot_records import modified_property

# HubSpot's date-based API version: a new one each March and September, each supported for 18
# months (2026-09: until March 2028). Moving on is this constant plus the sandbox's
# ``SERVED_VERSIONS``; check the new version's changelog for shape changes first.
API_VERSION = "2026-09"
OBJECTS = f"/crm/objects/{API_VERSION}"
ASSOCIATIONS = f"/crm/associations/{API_VERSION}"
OWNERS = f"/crm/owners/{API_VERSION}"
PROPERTIES = f"/crm/properties/{API_VERSION}"
MARKETING_EMAILS = f"/marketing/emails/{API_VERSION}"
# The portal the token belongs to. The account-info API's newest GA version is 2026-03 (none in
# 2026-09): https://developers.hubspot.com/docs/api-reference/latest/account/account-information/get-account-details
ACCOUNT_DETAILS = "/account-info/2026-03/details"
# A legacy private app's token described (portal, app, scopes). Not in HubSpot's reference: what it
# answers for other token kinds is not documented, so its callers take a refusal as "unknown".
ACCESS_TOKEN_INFO = "/oauth/v2/private-apps/get/access-token-info"  # noqa: S105  # nosec B105  # a path

# Associations batch read accepts at most 1,000 ids since 2025-02-10
# (https://developers.hubspot.com/changelog/bug-fix-batch-read-limit-for-hubspot-associations-api).
ASSOCIATIONS_READ_BATCH_SIZE = 1_000
SEARCH_PAGE_SIZE = 200
SEARCH_RESULT_CAP = 10_000
SEARCH_IN_VALUES = 100
OWNERS_PAGE_SIZE = 100  # the owners API's default page size (crmOwners spec)
MARKETING_EMAILS_PAGE_SIZE = 100

PROPERTY_GROUP = "activity_sync"
PROPERTY_GROUP_LABEL = "Activity sync"


@dataclass(frozen=True)
class _SearchPage:
    results: list[dict[str, Any]]
    capped: bool  # more results remain but lie beyond the 10,000 reachable by paging


class HubSpotClient(HubSpotTransport):
    """``ports.HubSpotApi`` for one app token: the CRM over the date-based API, the rest through
    ``HubSpotLegacyFeeds`` (sharing this transport, its counters and its budget)."""

    search_result_cap = SEARCH_RESULT_CAP
    search_page_size = SEARCH_PAGE_SIZE

    @cached_property
    def legacy_feeds(self) -> HubSpotLegacyFeeds:
        return HubSpotLegacyFeeds(self)

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
            # The spec requires ``propertiesWithHistory`` (BatchReadInputSimplePublicObjectId).
            body: dict[str, Any] = {
                "properties": requested,
                "propertiesWithHistory": [],
                "inputs": [{"id": i} for i in chunk],
            }
            if id_property:
                body["idProperty"] = id_property
            # 207: some ids were not found (deleted, archived, never existed); they stay absent.
            page = self.request_json("POST", f"{OBJECTS}/{object_type}/batch/read", body=body)
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
        path = f"{ASSOCIATIONS}/{from_type}/{to_type}/batch/read"
        while pending:
            more: list[dict[str, str]] = []
            for chunk in chunks(pending, ASSOCIATIONS_READ_BATCH_SIZE):
                # 207 lists ids without any association as errors; they keep their empty list.
                page = self.request_json("POST", path, body={"inputs": list(chunk)})
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
        path = f"{OBJECTS}/{object_type}/search"
        after: str | None = None
        fetched = 0
        while True:
            # The spec requires ``after`` ("0" is the start) and ``sorts``; a sort is written as the
            # search guide shows it, direction explicit (developers.hubspot.com/docs/api-reference/
            # latest/crm/search-the-crm, "Sort search results"), which HubSpot's spec types as a string.
            body: dict[str, Any] = {
                "filterGroups": [{"filters": list(filters)}],
                "properties": list(properties),
                "limit": self.search_page_size,
                "after": "0" if after is None else after,
                "sorts": [{"propertyName": sort_property, "direction": "ASCENDING"}] if sort_property else [],
            }
            page = self.request_json("POST", path, body=body)
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
                page = self.request_json("GET", OWNERS, params=params)
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
        return self.legacy_feeds.email_event_pages(since, until, offset)

    def forms(self) -> list[dict[str, Any]]:
        return self.legacy_feeds.forms()

    def form_submissions(self, form_id: str, since: dt.datetime) -> Iterator[dict[str, Any]]:
        return self.legacy_feeds.form_submissions(form_id, since)

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
                page = self.request_json("GET", MARKETING_EMAILS, params=params)
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
            page = self.request_json("POST", f"{OBJECTS}/{object_type}/batch/upsert", body=body)
            return match_results(items, page, lambda raw: (raw.get("properties") or {}).get(id_property))

        return write_batches(keyed, send)

    def create_objects(
        self, object_type: str, id_property: str, inputs: Sequence[NewObject]
    ) -> list[WriteResult]:
        # Batch create, unlike batch upsert, takes each input's associations: a new record and its
        # contact/company/deal cost one call instead of two. A unique value already taken (the
        # record exists) is refused - the input alone with trace ids, else the whole batch - so a
        # repeat, even the transport's retry of a create whose answer was lost, never makes a
        # second record.
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
            # A trace id on every input makes HubSpot write the valid inputs and answer 207 with an
            # error per refused one (developers.hubspot.com/docs/api-reference/error-handling,
            # "Multi-status errors"); the unique value is that id.
            body = {
                "inputs": [
                    {
                        "properties": property_values(item.properties),
                        "associations": association_inputs(item.associations),
                        "objectWriteTraceId": key,
                    }
                    for key, item in chunk
                ]
            }
            try:
                page = self.request_json("POST", f"{OBJECTS}/{object_type}/batch/create", body=body)
            except HubSpotApiError as error:
                if not error.is_validation:
                    raise
                refused = WriteResult(success=False, errors=(error_entry(error),))
                results += [refused] * len(chunk)
                continue
            # Matched by the unique property only: HubSpot does not promise its results in input
            # order, and a record it did not name is left to the upsert, which finds it by that
            # property, rather than linked to the wrong record. Refusals name their trace id.
            created = {
                str((raw.get("properties") or {}).get(id_property) or "").lower(): str(raw.get("id"))
                for raw in page.get("results") or []
                if raw.get("id") is not None
            }
            errors = [e for e in page.get("errors") or [] if isinstance(e, Mapping)]
            unnamed = WriteResult(
                success=False, errors=({"category": "UNMATCHED", "message": "not named in HubSpot's answer"},)
            )
            for key, _ in chunk:
                if key.lower() in created:
                    results.append(WriteResult(success=True, id=created[key.lower()], created=True))
                    continue
                named = tuple(readable(e) for e in errors if names_key(key, e))
                results.append(WriteResult(success=False, errors=named) if named else unnamed)
        return results

    def update_objects(
        self, object_type: str, inputs: Sequence[tuple[str, Mapping[str, str | None]]]
    ) -> list[WriteResult]:
        def send(items: Sequence[WriteItem]) -> dict[str, WriteResult]:
            body = {"inputs": [{"id": key, "properties": property_values(item)} for key, item in items]}
            # 207: ids that do not exist (deleted, archived) are listed in ``errors``.
            page = self.request_json("POST", f"{OBJECTS}/{object_type}/batch/update", body=body)
            return match_results(items, page, lambda raw: raw.get("id"))

        return write_batches([(str(key), item) for key, item in inputs], send)

    def archive_objects(self, object_type: str, ids: Sequence[str]) -> None:
        # HubSpot answers 204 for the whole batch; archiving an archived id is not an error.
        for chunk in chunks(list(dict.fromkeys(ids)), BATCH_SIZE):
            self.request(
                "POST",
                f"{OBJECTS}/{object_type}/batch/archive",
                body={"inputs": [{"id": i} for i in chunk]},
            )

    def associate(
        self, from_type: str, to_type: str, pairs: Sequence[tuple[str, str, int]]
    ) -> list[WriteResult]:
        types_by_pair = grouped_types(((str(f), str(t)), type_id) for f, t, type_id in pairs)
        outcome: dict[tuple[str, str], WriteResult] = {}
        path = f"{ASSOCIATIONS}/{from_type}/{to_type}/batch/create"
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
            page = self.request_json("POST", path, body=body)
            outcome.update(match_association_results(chunk, page))
        return [outcome[(str(f), str(t))] for f, t, _ in pairs]

    def property_definition(self, object_type: str, name: str) -> dict[str, Any] | None:
        """The definition of ``object_type``'s property ``name``; None when it does not exist."""
        found = self.request("GET", f"{PROPERTIES}/{object_type}/{name}", accept=frozenset({404}))
        return None if found.status_code == 404 else dict(found.json())

    def account_details(self) -> dict[str, Any]:
        """The portal the token belongs to (``portalId``, ``accountType``, ``timeZone``, ...)."""
        return self.request_json("GET", ACCOUNT_DETAILS)

    def access_token_info(self) -> dict[str, Any] | None:
        """The scopes (and portal, app) HubSpot lists for the service's token; None when HubSpot
        will not describe this kind of token (see ``ACCESS_TOKEN_INFO``)."""
        answer = self.request(
            "POST", ACCESS_TOKEN_INFO, body={"tokenKey": self._token}, accept=frozenset({400, 401, 403, 404})
        )
        return dict(answer.json()) if answer.status_code == 200 else None

    def ensure_unique_property(self, object_type: str, name: str, label: str) -> None:
        """Make sure ``object_type`` has the unique-value property ``name``: one read when it
        exists (so a warm portal needs no schema-write scope), else its group and itself."""
        found = self.request("GET", f"{PROPERTIES}/{object_type}/{name}", accept=frozenset({404}))
        if found.status_code == 404:
            # Property creation needs a group; the service keeps its properties in its own.
            self.request(
                "POST",
                f"{PROPERTIES}/{object_type}/groups",
                body={"name": PROPERTY_GROUP, "label": PROPERTY_GROUP_LABEL, "displayOrder": -1},
                accept=frozenset({409}),
            )
            created = self.request(
                "POST",
                f"{PROPERTIES}/{object_type}",
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
            found = self.request("GET", f"{PROPERTIES}/{object_type}/{name}")
        if not found.json().get("hasUniqueValue"):
            raise VendorApiError(
                VENDOR,
                409,
                f"property {object_type}.{name} exists without unique values; upserts by it cannot work",
                retryable=False,
            )
