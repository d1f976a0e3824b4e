"""Properties and owners through the official client: creating the service's own properties
(unique values), reading and listing them, HubSpot's conflicts; owners with paging and filters."""

from __future__ import annotations

import json

import pytest
from hubspot import HubSpot
from hubspot.crm.objects import SimplePublicObjectInputForCreate
from hubspot.crm.objects.exceptions import ApiException as ObjectsApiException
from hubspot.crm.owners.exceptions import ApiException as OwnersApiException
from hubspot.crm.properties import (
    BatchReadInputPropertyName,
    PropertyCreate,
    PropertyGroupCreate,
    PropertyUpdate,
)
from hubspot.crm.properties.exceptions import ApiException

from activity_sync_tools.sandbox.hubspot.testing import Admin


def sync_key(group: str = "taskinformation", **extra: object) -> PropertyCreate:
    return PropertyCreate(
        name="activity_sync_key",
        label="Activity sync key",
        type="string",
        field_type="text",
        group_name=group,
        has_unique_value=True,
        **extra,
    )


def test_create_read_and_list_a_unique_property(client: HubSpot) -> None:
    # When the service creates its unique key property on tasks
    created = client.crm.properties.core_api.create("tasks", sync_key(description="Salesforce Task id"))
    read = client.crm.properties.core_api.get_by_name("0-27", "activity_sync_key")
    listed = client.crm.properties.core_api.get_all("tasks")

    # Then it is a custom, unique, writable string property among HubSpot's own
    assert (created.name, created.has_unique_value, created.hubspot_defined) == (
        "activity_sync_key",
        True,
        False,
    )
    assert created.modification_metadata.read_only_value is False
    assert read.description == "Salesforce Task id"
    names = {p.name for p in listed.results}
    assert {"activity_sync_key", "hs_task_subject", "hs_timestamp", "hubspot_owner_id"} <= names


def test_creating_an_existing_property_is_a_409(client: HubSpot) -> None:
    # Given the property exists
    client.crm.properties.core_api.create("tasks", sync_key())
    # When it is created again
    with pytest.raises(ApiException) as conflict:
        client.crm.properties.core_api.create("tasks", sync_key())
    # Then HubSpot answers 409 OBJECT_ALREADY_EXISTS
    body = json.loads(conflict.value.body)
    assert conflict.value.status == 409
    assert body["category"] == "OBJECT_ALREADY_EXISTS"
    assert body["message"] == "Property named 'activity_sync_key' already exists."


@pytest.mark.parametrize(
    "definition",
    [
        {
            "name": "Bad Name",
            "label": "x",
            "type": "string",
            "field_type": "text",
            "group_name": "callinformation",
        },
        {
            "name": "hs_mine",
            "label": "x",
            "type": "string",
            "field_type": "text",
            "group_name": "callinformation",
        },
        {"name": "ok_name", "label": "x", "type": "string", "field_type": "text", "group_name": "nogroup"},
        {
            "name": "ok_name",
            "label": "x",
            "type": "enumeration",
            "field_type": "select",
            "group_name": "callinformation",
        },
    ],
)
def test_invalid_property_definitions(client: HubSpot, definition: dict[str, str]) -> None:
    # When a property is defined with a bad name, a reserved prefix, a missing group or no options
    with pytest.raises(ApiException) as rejected:
        client.crm.properties.core_api.create("calls", PropertyCreate(**definition))
    # Then it is a 400
    assert rejected.value.status == 400
    assert json.loads(rejected.value.body)["category"] == "VALIDATION_ERROR"


def test_property_groups_and_update_and_archive(client: HubSpot) -> None:
    # Given the service's own property group and a property in it
    client.crm.properties.groups_api.create(
        "calls", PropertyGroupCreate(name="activity_sync", label="Activity sync")
    )
    client.crm.properties.core_api.create("calls", sync_key(group="activity_sync"))

    # When the property's label is updated, then it is archived
    updated = client.crm.properties.core_api.update(
        "calls", "activity_sync_key", PropertyUpdate(label="Sync key")
    )
    client.crm.properties.core_api.archive("calls", "activity_sync_key")

    # Then the update shows, and afterwards the property is only readable as archived
    assert updated.label == "Sync key"
    assert client.crm.properties.groups_api.get_by_name("calls", "activity_sync").label == "Activity sync"
    with pytest.raises(ApiException) as gone:
        client.crm.properties.core_api.get_by_name("calls", "activity_sync_key")
    assert gone.value.status == 404
    assert (
        client.crm.properties.core_api.get_by_name("calls", "activity_sync_key", archived=True).archived
        is True
    )


def test_hubspot_defined_properties_cannot_change(client: HubSpot) -> None:
    # When a HubSpot property is updated
    with pytest.raises(ApiException) as rejected:
        client.crm.properties.core_api.update("calls", "hs_call_title", PropertyUpdate(label="Title"))
    # Then it is refused
    assert rejected.value.status == 400


def test_batch_read_properties(client: HubSpot) -> None:
    # When an existing and a missing property are read in a batch
    body, status, _ = client.crm.properties.batch_api.read_with_http_info(
        "emails",
        BatchReadInputPropertyName(
            inputs=[{"name": "hs_email_open_count"}, {"name": "nope"}],
            archived=False,
        ),
    )
    # Then the existing one comes with a 207 error for the other
    assert status == 207
    assert [p.name for p in body.results] == ["hs_email_open_count"]
    assert body.results[0].modification_metadata.read_only_value is True


def test_the_new_property_is_writable_and_its_values_unique(client: HubSpot) -> None:
    # Given the key property on calls
    client.crm.properties.core_api.create("calls", sync_key(group="callinformation"))
    objects = client.crm.objects.basic_api
    properties = {"hs_timestamp": "2024-01-01T00:00:00Z", "activity_sync_key": "00T000000000001"}

    # When two calls get the same key
    first = objects.create("calls", SimplePublicObjectInputForCreate(properties=properties))
    with pytest.raises(ObjectsApiException) as duplicate:
        objects.create("calls", SimplePublicObjectInputForCreate(properties=properties))

    # Then the second is refused and the first is found by the key
    assert duplicate.value.status == 400
    assert objects.get_by_id("calls", "00T000000000001", id_property="activity_sync_key").id == first.id


def test_owners_listing_paging_and_filters(client: HubSpot, admin: Admin) -> None:
    # Given three active owners and an archived one
    admin.post(
        "owners",
        {
            "owners": [
                {"email": f"rep{i}@example.com", "firstName": f"Rep{i}", "lastName": "Sales"}
                for i in range(3)
            ]
        },
    )
    admin.post(
        "owners", {"email": "gone@example.com", "firstName": "Gone", "lastName": "Rep", "archived": True}
    )
    owners = client.crm.owners.owners_api

    # When they are paged two at a time, filtered by email and asked for archived ones
    first = owners.get_page(limit=2)
    second = owners.get_page(limit=2, after=first.paging.next.after)
    by_email = owners.get_page(email="REP1@example.com")
    archived = owners.get_page(archived=True)

    # Then paging covers the active ones, the email filter is case-insensitive, archived are apart
    assert [o.email for o in first.results + second.results] == [f"rep{i}@example.com" for i in range(3)]
    assert second.paging is None
    assert [o.first_name for o in by_email.results] == ["Rep1"]
    assert [o.email for o in archived.results] == ["gone@example.com"]
    assert first.results[0].type == "PERSON"


def test_owner_by_id_and_user_id(client: HubSpot, owner: dict[str, object]) -> None:
    # Given an owner
    owners = client.crm.owners.owners_api
    # When it is read by id and by user id, and a missing one asked for
    by_id = owners.get_by_id(int(str(owner["id"])))
    by_user = owners.get_by_id(int(str(owner["userId"])), id_property="userId")
    with pytest.raises(OwnersApiException) as missing:
        owners.get_by_id(1)
    # Then both find it and the missing one is a 404
    assert by_id.email == by_user.email == "ana.rep@example.com"
    assert missing.value.status == 404
