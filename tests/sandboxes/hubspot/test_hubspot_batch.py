"""Batch endpoints through the official client: read/create/update/upsert/archive, the 100-input cap,
207 multi-status answers, upsert by a unique-value property, all-or-nothing validation."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.objects import (
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchInputSimplePublicObjectId,
    BatchReadInputSimplePublicObjectId,
)
from hubspot.crm.objects.exceptions import ApiException
from hubspot.crm.properties import PropertyCreate as PropertyDefinition

from activity_sync_tools.sandbox.hubspot.testing import Admin

STAMP = "2024-02-01T09:00:00Z"


def calls(count: int, **extra: str) -> BatchInputSimplePublicObjectBatchInputForCreate:
    return BatchInputSimplePublicObjectBatchInputForCreate(
        inputs=[
            {"properties": {"hs_timestamp": STAMP, "hs_call_title": f"call {i}", **extra}}
            for i in range(count)
        ]
    )


def add_sync_key(client: HubSpot, object_type: str = "calls") -> None:
    client.crm.properties.core_api.create(
        object_type,
        PropertyDefinition(
            name="sync_key",
            label="Sync key",
            type="string",
            field_type="text",
            group_name=f"{object_type[:-1]}information",
            has_unique_value=True,
        ),
    )


def test_batch_create_then_read_in_input_order(client: HubSpot) -> None:
    # When three calls are created in one batch and read back in another order
    created = client.crm.objects.batch_api.create("calls", calls(3))
    ids = [r.id for r in created.results]
    read = client.crm.objects.batch_api.read(
        "calls",
        BatchReadInputSimplePublicObjectId(
            inputs=[{"id": ids[2]}, {"id": ids[0]}], properties=["hs_call_title"], properties_with_history=[]
        ),
    )

    # Then the batch answers COMPLETE with every record, and read follows the input order
    assert created.status == "COMPLETE"
    assert [r.properties["hs_call_title"] for r in created.results] == ["call 0", "call 1", "call 2"]
    assert [r.properties["hs_call_title"] for r in read.results] == ["call 2", "call 0"]


def test_batch_read_with_missing_ids_is_a_207(client: HubSpot, admin: Admin) -> None:
    # Given one existing call
    call = admin.create("calls", {"hs_timestamp": STAMP})

    # When it is read together with two ids that do not exist
    response = client.crm.objects.batch_api.read_with_http_info(
        "calls",
        BatchReadInputSimplePublicObjectId(
            inputs=[{"id": call["id"]}, {"id": "7"}, {"id": "8"}], properties=[], properties_with_history=[]
        ),
    )
    body, status, _ = response

    # Then HubSpot answers 207 with the found one and an OBJECT_NOT_FOUND error listing the others
    assert status == 207
    assert [r.id for r in body.results] == [call["id"]]
    assert body.num_errors == 1
    assert body.errors[0].category == "OBJECT_NOT_FOUND"
    assert body.errors[0].context == {"ids": ["7", "8"]}


def test_more_than_100_inputs_is_a_validation_error(client: HubSpot) -> None:
    # When 101 calls are sent in one batch
    with pytest.raises(ApiException) as rejected:
        client.crm.objects.batch_api.create("calls", calls(101))

    # Then HubSpot refuses the whole batch and nothing exists
    body = json.loads(rejected.value.body)
    assert rejected.value.status == 400
    assert body["category"] == "VALIDATION_ERROR"
    assert "maximum number of inputs supported in a batch request is 100" in body["message"]
    assert client.crm.objects.calls.basic_api.get_page().results == []


def test_batch_create_is_all_or_nothing(client: HubSpot) -> None:
    # Given a batch whose third input has an invalid enumeration value
    batch = calls(2)
    batch.inputs.append({"properties": {"hs_timestamp": STAMP, "hs_call_status": "DANCING"}})

    # When it is sent
    with pytest.raises(ApiException) as rejected:
        client.crm.objects.batch_api.create("calls", batch)

    # Then none of the three was created
    assert rejected.value.status == 400
    assert client.crm.objects.calls.basic_api.get_page().results == []


def test_batch_update_applies_found_ids_and_reports_missing(client: HubSpot) -> None:
    # Given two calls
    ids = [r.id for r in client.crm.objects.batch_api.create("calls", calls(2)).results]

    # When both and one missing id are updated
    body, status, _ = client.crm.objects.batch_api.update_with_http_info(
        "calls",
        BatchInputSimplePublicObjectBatchInput(
            inputs=[{"id": i, "properties": {"hs_call_body": f"body {i}"}} for i in [*ids, "31337"]]
        ),
    )

    # Then the found ones changed and the missing one is listed in a 207
    assert status == 207
    assert sorted(r.properties["hs_call_body"] for r in body.results) == sorted(f"body {i}" for i in ids)
    assert body.errors[0].context == {"ids": ["31337"]}


def test_batch_update_rejects_duplicate_ids(client: HubSpot) -> None:
    # Given a call
    call_id = client.crm.objects.batch_api.create("calls", calls(1)).results[0].id

    # When a batch names it twice
    with pytest.raises(ApiException) as rejected:
        client.crm.objects.batch_api.update(
            "calls",
            BatchInputSimplePublicObjectBatchInput(
                inputs=[
                    {"id": call_id, "properties": {"hs_call_body": "a"}},
                    {"id": call_id, "properties": {}},
                ]
            ),
        )

    # Then HubSpot refuses it
    assert rejected.value.status == 400
    assert "Duplicate IDs found in batch input" in json.loads(rejected.value.body)["message"]


def test_upsert_by_unique_property_is_idempotent(client: HubSpot) -> None:
    # Given a unique-value property on calls
    add_sync_key(client)
    upsert = BatchInputSimplePublicObjectBatchInputUpsert(
        inputs=[
            {
                "idProperty": "sync_key",
                "id": "sf-00T1",
                "properties": {"hs_timestamp": STAMP, "hs_call_title": "A"},
            },
            {
                "idProperty": "sync_key",
                "id": "sf-00T2",
                "properties": {"hs_timestamp": STAMP, "hs_call_title": "B"},
            },
        ]
    )

    # When the same upsert is sent twice, the second time with a changed title
    first = client.crm.objects.batch_api.upsert("calls", upsert)
    upsert.inputs[0]["properties"]["hs_call_title"] = "A2"
    second = client.crm.objects.batch_api.upsert("calls", upsert)

    # Then the first creates, the second updates the same records
    assert [r.new for r in first.results] == [True, True]
    assert [r.new for r in second.results] == [False, False]
    assert [r.id for r in second.results] == [r.id for r in first.results]
    assert second.results[0].properties["hs_call_title"] == "A2"
    assert second.results[0].properties["sync_key"] == "sf-00T1"
    assert len(client.crm.objects.calls.basic_api.get_page().results) == 2


def test_upsert_needs_a_unique_id_property(client: HubSpot) -> None:
    # When an upsert names a property that is not unique
    with pytest.raises(ApiException) as rejected:
        client.crm.objects.batch_api.upsert(
            "calls",
            BatchInputSimplePublicObjectBatchInputUpsert(
                inputs=[{"idProperty": "hs_call_title", "id": "x", "properties": {"hs_timestamp": STAMP}}]
            ),
        )
    # Then it is refused
    assert rejected.value.status == 400


def test_contacts_upsert_by_email(client: HubSpot) -> None:
    # Given an existing contact
    existing = client.crm.objects.batch_api.create(
        "contacts",
        BatchInputSimplePublicObjectBatchInputForCreate(inputs=[{"properties": {"email": "a@example.com"}}]),
    ).results[0]

    # When contacts are upserted by email, one existing (other case) and one new
    result = client.crm.objects.batch_api.upsert(
        "contacts",
        BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                {"idProperty": "email", "id": "A@example.com", "properties": {"firstname": "Ann"}},
                {"idProperty": "email", "id": "b@example.com", "properties": {"firstname": "Ben"}},
            ]
        ),
    )

    # Then the existing one was updated and the new one created with its email
    assert [(r.id == existing.id, r.new) for r in result.results] == [(True, False), (False, True)]
    assert result.results[1].properties["email"] == "b@example.com"


def test_unique_values_are_enforced_on_create_and_within_a_batch(client: HubSpot) -> None:
    # Given a unique property and a call holding a value
    add_sync_key(client)
    client.crm.objects.batch_api.create("calls", calls(1, sync_key="k-1"))

    # When another call takes the same value, or one batch holds a value twice
    with pytest.raises(ApiException) as duplicate:
        client.crm.objects.batch_api.create("calls", calls(1, sync_key="k-1"))
    twice = calls(2, sync_key="k-2")
    with pytest.raises(ApiException) as within:
        client.crm.objects.batch_api.create("calls", twice)

    # Then both are refused and only the first call exists
    detail: dict[str, Any] = json.loads(duplicate.value.body)
    assert duplicate.value.status == 400
    assert "already has that value" in detail["message"]
    assert within.value.status == 400
    assert len(client.crm.objects.calls.basic_api.get_page().results) == 1


def test_batch_archive_is_204_even_for_unknown_ids(client: HubSpot) -> None:
    # Given two calls
    ids = [r.id for r in client.crm.objects.batch_api.create("calls", calls(2)).results]

    # When both and an unknown id are archived
    _, status, _ = client.crm.objects.batch_api.archive_with_http_info(
        "calls", BatchInputSimplePublicObjectId(inputs=[{"id": i} for i in [*ids, "555"]])
    )

    # Then the answer is an empty 204 and the calls are gone
    assert status == 204
    assert client.crm.objects.calls.basic_api.get_page().results == []


def test_properties_with_history_caps_batch_read_at_50(client: HubSpot) -> None:
    # When 51 ids are read with propertiesWithHistory
    with pytest.raises(ApiException) as rejected:
        client.crm.objects.batch_api.read(
            "calls",
            BatchReadInputSimplePublicObjectId(
                inputs=[{"id": str(i)} for i in range(51)],
                properties=[],
                properties_with_history=["hs_call_title"],
            ),
        )
    # Then HubSpot's history limit answers
    assert rejected.value.status == 400
    assert "property histories is 50" in json.loads(rejected.value.body)["message"]


def test_batch_read_by_unique_property(client: HubSpot) -> None:
    # Given a call with a sync key
    add_sync_key(client)
    created = client.crm.objects.batch_api.create("calls", calls(1, sync_key="ext-9")).results[0]

    # When it is read by that key
    read = client.crm.objects.batch_api.read(
        "calls",
        BatchReadInputSimplePublicObjectId(
            id_property="sync_key",
            inputs=[{"id": "ext-9"}],
            properties=["sync_key"],
            properties_with_history=[],
        ),
    )
    # Then the record comes back
    assert [r.id for r in read.results] == [created.id]
