"""In-memory stand-ins for the vendor ports (``activity_sync.ports.vendors``): a HubSpot portal and a
Salesforce org holding records, answering the batch calls the use cases make as the vendors do for
what the use cases rely on (results in input order, a unique property or External ID that refuses
a second record, ``TaskSubtype`` refused on an update). Every call is counted by method, so a test
can hold a use case to its calls per batch (R18). The sandboxes (``tools/.../sandbox``) are the
faithful emulators, over HTTP; these are for use-case tests in milliseconds."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from activity_sync.domain import HubSpotOwner, HubSpotRecord, SalesforceUser
from activity_sync.ports import CollectionWrite, EmailEventPage, NewObject, SoqlQuery, WriteResult
from activity_sync.rules.salesforce_ids import normalize_salesforce_id

CREATEABLE_ONLY = frozenset({"TaskSubtype"})  # Salesforce refuses these on an update


def _failed(code: str, message: str) -> WriteResult:
    return WriteResult(success=False, errors=({"statusCode": code, "message": message},))


class InMemoryHubSpot:
    """``HubSpotApi``: objects by type and id, their associations, owners."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, HubSpotRecord]] = {}
        self.associations: dict[tuple[str, str, str], list[str]] = {}  # (from type, id, to type) -> ids
        self.owner_list: list[HubSpotOwner] = []
        self.unique_properties: set[tuple[str, str]] = set()
        self.calls: Counter[str] = Counter()
        self._ids = itertools.count(9001)

    # -- what a test sets up ------------------------------------------------------------------
    def add(
        self, object_type: str, record_id: str, properties: Mapping[str, str | None], **kwargs: Any
    ) -> None:
        self.objects.setdefault(object_type, {})[record_id] = HubSpotRecord(
            record_id, dict(properties), **kwargs
        )

    def link(self, from_type: str, from_id: str, to_type: str, *to_ids: str) -> None:
        self.associations.setdefault((from_type, from_id, to_type), []).extend(to_ids)

    def records(self, object_type: str) -> list[HubSpotRecord]:
        return list(self.objects.get(object_type, {}).values())

    # -- reading ------------------------------------------------------------------------------
    def read_objects(
        self,
        object_type: str,
        ids: Sequence[str],
        properties: Sequence[str],
        *,
        id_property: str | None = None,
    ) -> dict[str, HubSpotRecord]:
        self.calls["read_objects"] += 1
        found = self.objects.get(object_type, {})
        if id_property is None:
            return {i: found[i] for i in ids if i in found}
        by_value = {r.properties.get(id_property): r for r in found.values()}
        return {i: by_value[i] for i in ids if i in by_value}

    def associated_ids(self, from_type: str, to_type: str, ids: Sequence[str]) -> dict[str, list[str]]:
        self.calls["associated_ids"] += 1
        return {i: list(self.associations.get((from_type, i, to_type), [])) for i in ids}

    def search_modified(
        self, object_type: str, since: dt.datetime, until: dt.datetime, properties: Sequence[str]
    ) -> Iterator[HubSpotRecord]:
        self.calls["search_modified"] += 1
        return iter(())

    def owners(self) -> list[HubSpotOwner]:
        self.calls["owners"] += 1
        return list(self.owner_list)

    def email_event_pages(
        self, since: dt.datetime, until: dt.datetime, offset: str | None = None
    ) -> Iterator[EmailEventPage]:
        return iter(())

    def marketing_email_names(self) -> dict[str, str]:
        return {}

    def forms(self) -> list[dict[str, Any]]:
        return []

    def form_submissions(self, form_id: str, since: dt.datetime) -> Iterator[dict[str, Any]]:
        return iter(())

    def find_contacts_by_email(
        self, emails: Sequence[str], properties: Sequence[str]
    ) -> dict[str, HubSpotRecord]:
        self.calls["find_contacts_by_email"] += 1
        wanted = {e.lower() for e in emails}
        return {
            str(r.properties.get("email")).lower(): r
            for r in self.records("contacts")
            if str(r.properties.get("email") or "").lower() in wanted
        }

    # -- writing ------------------------------------------------------------------------------
    def _find(self, object_type: str, id_property: str, value: str | None) -> HubSpotRecord | None:
        return next(
            (r for r in self.records(object_type) if value and r.properties.get(id_property) == value), None
        )

    def create_objects(
        self, object_type: str, id_property: str, inputs: Sequence[NewObject]
    ) -> list[WriteResult]:
        self.calls["create_objects"] += 1
        results: list[WriteResult] = []
        for new in inputs:
            if self._find(object_type, id_property, new.properties.get(id_property)) is not None:
                results.append(_failed("CONFLICT", f"a {object_type} with this {id_property} exists"))
                continue
            record_id = str(next(self._ids))
            self.add(object_type, record_id, new.properties)
            for to_id, _type_id in new.associations:
                self.link(object_type, record_id, "contacts", to_id)
            results.append(WriteResult(success=True, id=record_id, created=True))
        return results

    def upsert_objects(
        self, object_type: str, id_property: str, inputs: Sequence[Mapping[str, str | None]]
    ) -> list[WriteResult]:
        self.calls["upsert_objects"] += 1
        results: list[WriteResult] = []
        for properties in inputs:
            existing = self._find(object_type, id_property, properties.get(id_property))
            if existing is None:
                record_id = str(next(self._ids))
                self.add(object_type, record_id, properties)
                results.append(WriteResult(success=True, id=record_id, created=True))
            else:
                self.add(object_type, existing.id, {**existing.properties, **properties})
                results.append(WriteResult(success=True, id=existing.id, created=False))
        return results

    def update_objects(
        self, object_type: str, inputs: Sequence[tuple[str, Mapping[str, str | None]]]
    ) -> list[WriteResult]:
        self.calls["update_objects"] += 1
        results: list[WriteResult] = []
        for record_id, properties in inputs:
            existing = self.objects.get(object_type, {}).get(record_id)
            if existing is None:
                results.append(_failed("OBJECT_NOT_FOUND", f"{object_type} {record_id} not found"))
                continue
            self.add(object_type, record_id, {**existing.properties, **properties})
            results.append(WriteResult(success=True, id=record_id, created=False))
        return results

    def archive_objects(self, object_type: str, ids: Sequence[str]) -> None:
        self.calls["archive_objects"] += 1
        for record_id in ids:
            self.objects.get(object_type, {}).pop(record_id, None)

    def associate(
        self, from_type: str, to_type: str, pairs: Sequence[tuple[str, str, int]]
    ) -> list[WriteResult]:
        self.calls["associate"] += 1
        for from_id, to_id, _type_id in pairs:
            self.link(from_type, from_id, to_type, to_id)
        return [WriteResult(success=True, id=from_id) for from_id, _, _ in pairs]

    def ensure_unique_property(self, object_type: str, name: str, label: str) -> None:
        self.calls["ensure_unique_property"] += 1
        self.unique_properties.add((object_type, name))


class InMemorySalesforce:
    """``SalesforceApi``: records by id, each with its ``attributes.type``; Contacts and Leads found
    by email; the service's user. Ids are 18 characters (their checksum right), minted per object
    prefix."""

    PREFIXES: Mapping[str, str] = {
        "Task": "00T",
        "Event": "00U",
        "Contact": "003",
        "Lead": "00Q",
        "User": "005",
    }

    def __init__(self, user_id: str = "005000000000001AAA") -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.users: list[SalesforceUser] = [SalesforceUser(user_id, "integration@example.com")]
        self.picklists: dict[tuple[str, str], list[str]] = {}
        self.calls: Counter[str] = Counter()
        self._user_id = user_id
        self._ids = itertools.count(1)

    @property
    def user_id(self) -> str:
        return self._user_id

    # -- what a test sets up ------------------------------------------------------------------
    def add(self, sobject: str, fields: Mapping[str, Any]) -> str:
        record_id = normalize_salesforce_id(f"{self.PREFIXES.get(sobject, '001')}{next(self._ids):012d}")
        self.records[record_id] = {"Id": record_id, **fields, "attributes": {"type": sobject}}
        return record_id

    def of_type(self, sobject: str) -> list[dict[str, Any]]:
        return [r for r in self.records.values() if r["attributes"]["type"] == sobject]

    # -- writing ------------------------------------------------------------------------------
    def write_together(self, writes: Sequence[CollectionWrite]) -> list[list[WriteResult]]:
        if any(write.records for write in writes):
            self.calls["write_together"] += 1
        return [self._write(write) for write in writes]

    def _write(self, write: CollectionWrite) -> list[WriteResult]:
        results: list[WriteResult] = []
        for fields in write.records:
            if write.external_id_field is None:
                results.append(self._update(dict(fields)))
                continue
            key = fields.get(write.external_id_field)
            existing = next(
                (r for r in self.of_type(write.sobject) if key and r.get(write.external_id_field) == key),
                None,
            )
            if existing is None:
                results.append(WriteResult(success=True, id=self.add(write.sobject, fields), created=True))
            elif CREATEABLE_ONLY & set(fields):
                names = ", ".join(sorted(CREATEABLE_ONLY & set(fields)))
                results.append(
                    _failed("INVALID_FIELD_FOR_INSERT_UPDATE", f"Unable to create/update fields: {names}")
                )
            else:
                existing.update(fields)
                results.append(WriteResult(success=True, id=existing["Id"], created=False))
        return results

    def _update(self, fields: dict[str, Any]) -> WriteResult:
        record = self.records.get(str(fields.get("Id")))
        if record is None:
            return _failed("ENTITY_IS_DELETED", f"entity is deleted: {fields.get('Id')}")
        if CREATEABLE_ONLY & set(fields):
            return _failed("INVALID_FIELD_FOR_INSERT_UPDATE", "Unable to create/update fields: TaskSubtype")
        record.update(fields)
        return WriteResult(success=True, id=record["Id"], created=False)

    def upsert(
        self, sobject: str, external_id_field: str, records: Sequence[Mapping[str, Any]]
    ) -> list[WriteResult]:
        self.calls["upsert"] += 1
        return self._write(CollectionWrite(sobject, records, external_id_field))

    def update(self, sobject: str, records: Sequence[Mapping[str, Any]]) -> list[WriteResult]:
        self.calls["update"] += 1
        return self._write(CollectionWrite(sobject, records))

    def delete(self, ids: Sequence[str]) -> list[WriteResult]:
        self.calls["delete"] += 1
        return [WriteResult(success=self.records.pop(i, None) is not None, id=i) for i in ids]

    # -- reading ------------------------------------------------------------------------------
    def query(self, soql: str, *, include_deleted: bool = False) -> Iterator[dict[str, Any]]:
        return iter(())

    def query_together(self, queries: Sequence[SoqlQuery]) -> list[Iterator[dict[str, Any]]]:
        return [iter(()) for _ in queries]

    def retrieve(self, sobject: str, ids: Sequence[str], fields: Sequence[str]) -> dict[str, dict[str, Any]]:
        self.calls["retrieve"] += 1
        return {
            i: {name: self.records[i].get(name) for name in ("Id", *fields)}
            for i in ids
            if i in self.records and self.records[i]["attributes"]["type"] == sobject
        }

    def active_users(self) -> list[SalesforceUser]:
        self.calls["active_users"] += 1
        return list(self.users)

    def people_by_email(self, emails: Sequence[str]) -> dict[str, dict[str, list[str]]]:
        self.calls["people_by_email"] += 1
        wanted = {e.lower() for e in emails}
        found: dict[str, dict[str, list[str]]] = {}
        for sobject in ("Contact", "Lead"):
            for record in self.of_type(sobject):
                email = str(record.get("Email") or "").lower()
                if email in wanted and not record.get("IsConverted"):
                    found.setdefault(email, {}).setdefault(sobject, []).append(record["Id"])
        return found

    def picklist_values(self, sobject: str, field_name: str) -> list[str]:
        return list(self.picklists.get((sobject, field_name), []))
