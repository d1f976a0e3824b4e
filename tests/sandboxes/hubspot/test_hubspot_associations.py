"""Associations v4 through the official client: batch read/create/archive/default, the per-object
routes, HubSpot-defined type ids in both directions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.associations.v4 import (
    AssociationSpec,
    BatchInputPublicAssociationMultiArchive,
    BatchInputPublicAssociationMultiPost,
    BatchInputPublicDefaultAssociationMultiPost,
    BatchInputPublicFetchAssociationsBatchRequest,
)
from hubspot.crm.associations.v4.exceptions import ApiException

from activity_sync_tools.sandbox.hubspot.testing import Admin

ACTIVITY_TO_CONTACT = {"calls": 194, "emails": 198, "meetings": 200, "notes": 202, "tasks": 204}


def activity(admin: Admin, object_type: str) -> dict[str, Any]:
    return admin.create(object_type, {"hs_timestamp": "2024-01-01T00:00:00Z"})


def read_batch(client: HubSpot, from_type: str, to_type: str, ids: list[str]) -> tuple[Any, int]:
    body, status, _ = client.crm.associations.v4.batch_api.get_page_with_http_info(
        from_type, to_type, BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": i} for i in ids])
    )
    return body, status


@pytest.mark.parametrize("object_type", sorted(ACTIVITY_TO_CONTACT))
def test_batch_create_uses_hubspot_type_ids_and_reads_both_ways(
    client: HubSpot, admin: Admin, object_type: str
) -> None:
    # Given an activity and a contact
    record = activity(admin, object_type)
    contact = admin.create("contacts", {"email": f"{object_type}@example.com"})
    type_id = ACTIVITY_TO_CONTACT[object_type]

    # When they are associated with HubSpot's activity→contact type
    created = client.crm.associations.v4.batch_api.create(
        object_type,
        "contacts",
        BatchInputPublicAssociationMultiPost(
            inputs=[
                {
                    "from": {"id": record["id"]},
                    "to": {"id": contact["id"]},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
                }
            ]
        ),
    )
    forward, _ = read_batch(client, object_type, "contacts", [record["id"]])
    backward, _ = read_batch(client, "contacts", object_type, [contact["id"]])

    # Then the forward read carries the type id and the reverse one HubSpot's reverse id (id - 1)
    assert created.results[0].to_object_id == contact["id"]
    assert created.results[0].labels == []
    assert [(t.to_object_id, [a.type_id for a in t.association_types]) for t in forward.results[0].to] == [
        (contact["id"], [type_id])
    ]
    assert [a.type_id for a in backward.results[0].to[0].association_types] == [type_id - 1]
    assert backward.results[0].to[0].association_types[0].category == "HUBSPOT_DEFINED"


def test_batch_read_reports_objects_without_associations_as_207(client: HubSpot, admin: Admin) -> None:
    # Given a call associated with a contact, and one associated with nothing
    contact = admin.create("contacts", {"email": "a@example.com"})
    linked = admin.create(
        "calls",
        {"hs_timestamp": "2024-01-01T00:00:00Z"},
        associations=[{"type": "contacts", "id": contact["id"]}],
    )
    lonely = activity(admin, "calls")

    # When both are read
    body, status = read_batch(client, "calls", "contacts", [linked["id"], lonely["id"]])

    # Then the linked one is a result and the other an error of the multi-status answer
    assert status == 207
    assert [r._from.id for r in body.results] == [linked["id"]]
    assert body.errors[0].category == "OBJECT_NOT_FOUND"
    assert body.errors[0].context == {"fromObjectId": [lonely["id"]]}


def test_batch_create_with_a_wrong_type_id_fails_that_input_only(client: HubSpot, admin: Admin) -> None:
    # Given a call and a contact
    call, contact = activity(admin, "calls"), admin.create("contacts", {"email": "a@example.com"})

    # When one input uses the email→contact type (198) for a call and another the right one
    body, status, _ = client.crm.associations.v4.batch_api.create_with_http_info(
        "calls",
        "contacts",
        BatchInputPublicAssociationMultiPost(
            inputs=[
                {
                    "from": {"id": call["id"]},
                    "to": {"id": contact["id"]},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
                }
                for type_id in (198, 194)
            ]
        ),
    )
    # Then the valid one is created and the other reported
    assert status == 207
    assert len(body.results) == 1
    assert body.errors[0].category == "VALIDATION_ERROR"


def test_batch_archive_removes_both_directions(client: HubSpot, admin: Admin) -> None:
    # Given a task associated with a contact
    contact = admin.create("contacts", {"email": "a@example.com"})
    task = admin.create(
        "tasks",
        {"hs_timestamp": "2024-01-01T00:00:00Z"},
        associations=[{"type": "contacts", "id": contact["id"]}],
    )

    # When the association is archived
    _, status, _ = client.crm.associations.v4.batch_api.archive_with_http_info(
        "tasks",
        "contacts",
        BatchInputPublicAssociationMultiArchive(
            inputs=[{"from": {"id": task["id"]}, "to": [{"id": contact["id"]}]}]
        ),
    )
    # Then neither side sees it any more
    _, forward_status = read_batch(client, "tasks", "contacts", [task["id"]])
    _, backward_status = read_batch(client, "contacts", "tasks", [contact["id"]])
    assert (status, forward_status, backward_status) == (204, 207, 207)


def test_batch_associate_default(client: HubSpot, admin: Admin) -> None:
    # Given a note and a company
    note, company = activity(admin, "notes"), admin.create("companies", {"name": "Acme"})

    # When they get the default association
    body = client.crm.associations.v4.batch_api.create_default(
        "notes",
        "companies",
        BatchInputPublicDefaultAssociationMultiPost(
            inputs=[{"from": {"id": note["id"]}, "to": {"id": company["id"]}}]
        ),
    )
    # Then HubSpot's unlabeled note→company type (190) is used
    assert body.results[0].association_spec.association_type_id == 190


def test_per_object_routes(client: HubSpot, admin: Admin) -> None:
    # Given an email and two contacts
    email = activity(admin, "emails")
    first = admin.create("contacts", {"email": "first@example.com"})
    second = admin.create("contacts", {"email": "second@example.com"})
    basic = client.crm.associations.v4.basic_api

    # When one gets the default association, the other a labelled PUT, then both are listed and one deleted
    default = basic.create_default("emails", email["id"], "contacts", first["id"])
    labelled = basic.create(
        "emails",
        email["id"],
        "contacts",
        second["id"],
        [AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=198)],
    )
    listed = basic.get_page("emails", email["id"], "contacts")
    basic.archive("emails", email["id"], "contacts", first["id"])
    after_delete = basic.get_page("emails", email["id"], "contacts")

    # Then the default is 198, both are listed, and the deleted one is gone
    assert default.results[0].association_spec.association_type_id == 198
    assert labelled.from_object_type_id == "0-49"
    assert labelled.to_object_type_id == "0-1"
    assert [r.to_object_id for r in listed.results] == [first["id"], second["id"]]
    assert [r.to_object_id for r in after_delete.results] == [second["id"]]


def test_primary_company_label(client: HubSpot, admin: Admin) -> None:
    # Given a contact and a company
    contact = admin.create("contacts", {"email": "a@example.com"})
    company = admin.create("companies", {"name": "Acme"})

    # When they are associated as Primary (type 1)
    created = client.crm.associations.v4.basic_api.create(
        "contacts",
        contact["id"],
        "companies",
        company["id"],
        [AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=1)],
    )
    listed = client.crm.associations.v4.basic_api.get_page("companies", company["id"], "contacts")

    # Then the label shows on both sides
    assert created.labels == ["Primary"]
    assert [(a.type_id, a.label) for a in listed.results[0].association_types] == [(2, "Primary")]


def test_unknown_objects_are_404(client: HubSpot, admin: Admin) -> None:
    # Given a call only
    call = activity(admin, "calls")
    # When it is associated with a contact that does not exist
    with pytest.raises(ApiException) as missing:
        client.crm.associations.v4.basic_api.create_default("calls", call["id"], "contacts", "123456")
    # Then HubSpot answers 404
    assert missing.value.status == 404
    assert json.loads(missing.value.body)["category"] == "OBJECT_NOT_FOUND"


def test_read_accepts_up_to_1000_ids(client: HubSpot) -> None:
    # When 1,001 ids are read in one batch
    with pytest.raises(ApiException) as rejected:
        read_batch(client, "calls", "contacts", [str(i) for i in range(1001)])
    # Then the batch read limit answers
    assert rejected.value.status == 400
