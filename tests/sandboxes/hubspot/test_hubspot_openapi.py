"""The sandbox's JSON answers validated against HubSpot's own OpenAPI specs. Answers are fetched
through the official client with ``_preload_content=False`` so that the raw wire JSON is checked,
not the client's models. Skips, saying so, where the specs are absent."""

from __future__ import annotations

import itertools
import json
from typing import Any

import jsonschema
import pytest
from hubspot import HubSpot
from hubspot.crm.associations.v4 import (
    BatchInputPublicAssociationMultiPost,
    BatchInputPublicDefaultAssociationMultiPost,
    BatchInputPublicFetchAssociationsBatchRequest,
)
from hubspot.crm.objects import (
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchReadInputSimplePublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.objects.exceptions import ApiException as ObjectsApiException
from hubspot.crm.properties import BatchReadInputPropertyName, PropertyCreate, PropertyGroupCreate

from activity_sync_tools.sandbox.hubspot.testing import (
    Admin,
    OpenApi,
    WebhookReceiver,
    without_null_properties,
)
from activity_sync_tools.sandbox.hubspot.webhooks import SUBSCRIPTION_ACTIONS, SUBSCRIPTION_FAMILIES

ENGAGEMENT_SPECS = {
    "calls": "crm-calls-v3.json",
    "emails": "crm-emails-v3.json",
    "meetings": "crm-meetings-v3.json",
    "notes": "crm-notes-v3.json",
    "tasks": "crm-tasks-v3.json",
}
STAMP = "2024-01-01T00:00:00Z"


def raw(response: Any) -> Any:
    """The JSON body of a ``_preload_content=False`` answer."""
    return json.loads(response.data)


@pytest.fixture
def unique_key(client: HubSpot) -> None:
    for object_type in ENGAGEMENT_SPECS:
        client.crm.properties.core_api.create(
            object_type,
            PropertyCreate(
                name="sync_key",
                label="Sync key",
                type="string",
                field_type="text",
                group_name=f"{object_type[:-1]}information",
                has_unique_value=True,
            ),
        )


@pytest.mark.parametrize("object_type", sorted(ENGAGEMENT_SPECS))
def test_engagement_answers_match_the_spec(
    client: HubSpot, admin: Admin, openapi: OpenApi, unique_key: None, object_type: str
) -> None:
    spec = ENGAGEMENT_SPECS[object_type]
    objects = client.crm.objects
    contact = admin.create("contacts", {"email": "a@example.com"})
    type_id = {"calls": 194, "emails": 198, "meetings": 200, "notes": 202, "tasks": 204}[object_type]

    created = raw(
        objects.basic_api.create(
            object_type,
            SimplePublicObjectInputForCreate(
                properties={"hs_timestamp": STAMP},
                associations=[
                    {
                        "to": {"id": contact["id"]},
                        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
                    }
                ],
            ),
            _preload_content=False,
        )
    )
    openapi.validate(spec, "SimplePublicObject", created)
    read = raw(
        objects.basic_api.get_by_id(
            object_type,
            created["id"],
            associations=["contacts"],
            properties_with_history=["hs_timestamp"],
            properties=["hs_object_id", "hubspot_owner_id"],
            _preload_content=False,
        )
    )
    assert read["properties"]["hubspot_owner_id"] is None  # HubSpot's null for a requested empty property
    openapi.validate(spec, "SimplePublicObjectWithAssociations", without_null_properties(read))
    page = raw(objects.basic_api.get_page(object_type, limit=1, _preload_content=False))
    openapi.validate(spec, "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging", page)

    batch = raw(
        objects.batch_api.create(
            object_type,
            BatchInputSimplePublicObjectBatchInputForCreate(
                inputs=[{"properties": {"hs_timestamp": STAMP}}] * 2
            ),
            _preload_content=False,
        )
    )
    openapi.validate(spec, "BatchResponseSimplePublicObject", batch)
    partial = raw(
        objects.batch_api.read(
            object_type,
            BatchReadInputSimplePublicObjectId(
                inputs=[{"id": created["id"]}, {"id": "1"}], properties=[], properties_with_history=[]
            ),
            _preload_content=False,
        )
    )
    openapi.validate(spec, "BatchResponseSimplePublicObjectWithErrors", partial)
    upserted = raw(
        objects.batch_api.upsert(
            object_type,
            BatchInputSimplePublicObjectBatchInputUpsert(
                inputs=[{"idProperty": "sync_key", "id": "k1", "properties": {"hs_timestamp": STAMP}}]
            ),
            _preload_content=False,
        )
    )
    openapi.validate(spec, "BatchResponseSimplePublicUpsertObject", upserted)
    found = raw(
        objects.search_api.do_search(
            object_type,
            PublicObjectSearchRequest(
                filter_groups=[], sorts=["-hs_createdate"], properties=[], limit=2, after=None
            ),
            _preload_content=False,
        )
    )
    assert found["paging"]["next"]["after"] == "2"
    openapi.validate(spec, "CollectionResponseWithTotalSimplePublicObject", found)
    missing = admin.api("GET", f"/crm/v3/objects/{object_type}/1")
    openapi.validate(spec, "Error", missing.json())


def test_contact_answers_match_the_spec(client: HubSpot, openapi: OpenApi) -> None:
    spec = "crm-contacts-v3.json"
    created = raw(
        client.crm.objects.basic_api.create(
            "contacts",
            SimplePublicObjectInputForCreate(properties={"email": "a@example.com"}),
            _preload_content=False,
        )
    )
    openapi.validate(spec, "SimplePublicObject", created)
    read = raw(
        client.crm.objects.basic_api.get_by_id(
            "contacts", "a@example.com", id_property="email", _preload_content=False
        )
    )
    openapi.validate(spec, "SimplePublicObjectWithAssociations", without_null_properties(read))
    for properties, status in (({"email": "a@example.com"}, 409), ({"email": "nope"}, 400)):
        with pytest.raises(ObjectsApiException) as rejected:
            client.crm.objects.basic_api.create(
                "contacts", SimplePublicObjectInputForCreate(properties=properties)
            )
        assert rejected.value.status == status
        openapi.validate(spec, "Error", json.loads(rejected.value.body))


def test_association_answers_match_the_spec(client: HubSpot, admin: Admin, openapi: OpenApi) -> None:
    spec = "crm-associations-v4.json"
    contact = admin.create("contacts", {"email": "a@example.com"})
    company = admin.create("companies", {"name": "Acme"})
    call = admin.create("calls", {"hs_timestamp": STAMP})
    lonely = admin.create("calls", {"hs_timestamp": STAMP})
    v4 = client.crm.associations.v4

    created = raw(
        v4.batch_api.create(
            "calls",
            "contacts",
            BatchInputPublicAssociationMultiPost(
                inputs=[
                    {
                        "from": {"id": call["id"]},
                        "to": {"id": contact["id"]},
                        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 194}],
                    }
                ]
            ),
            _preload_content=False,
        )
    )
    openapi.validate(spec, "BatchResponseLabelsBetweenObjectPair", created)
    read = raw(
        v4.batch_api.get_page(
            "calls",
            "contacts",
            BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": call["id"]}, {"id": lonely["id"]}]),
            _preload_content=False,
        )
    )
    openapi.validate(spec, "BatchResponsePublicAssociationMultiWithLabelWithErrors", read)
    default = raw(
        v4.batch_api.create_default(
            "calls",
            "companies",
            BatchInputPublicDefaultAssociationMultiPost(
                inputs=[{"from": {"id": call["id"]}, "to": {"id": company["id"]}}]
            ),
            _preload_content=False,
        )
    )
    openapi.validate(spec, "BatchResponsePublicDefaultAssociation", default)
    openapi.validate(
        spec,
        "BatchResponsePublicDefaultAssociation",
        raw(
            v4.basic_api.create_default(
                "contacts", contact["id"], "companies", company["id"], _preload_content=False
            )
        ),
    )
    listed = raw(v4.basic_api.get_page("contacts", contact["id"], "companies", _preload_content=False))
    openapi.validate(spec, "CollectionResponseMultiAssociatedObjectWithLabelForwardPaging", listed)
    labelled = raw(
        v4.basic_api.create(
            "contacts",
            contact["id"],
            "companies",
            company["id"],
            [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}],
            _preload_content=False,
        )
    )
    openapi.validate(spec, "LabelsBetweenObjectPair", labelled)


def test_owner_and_property_answers_match_the_spec(client: HubSpot, admin: Admin, openapi: OpenApi) -> None:
    admin.post(
        "owners",
        {
            "email": "a@example.com",
            "firstName": "A",
            "lastName": "B",
            "teams": [{"id": "1", "name": "Sales", "primary": True}],
        },
    )
    owners = raw(client.crm.owners.owners_api.get_page(_preload_content=False))
    openapi.validate("crm-owners-v3.json", "CollectionResponsePublicOwnerForwardPaging", owners)
    openapi.validate("crm-owners-v3.json", "PublicOwner", owners["results"][0])

    spec = "crm-properties-v3.json"
    properties = client.crm.properties
    group = raw(
        properties.groups_api.create(
            "tasks", PropertyGroupCreate(name="sync", label="Sync"), _preload_content=False
        )
    )
    openapi.validate(spec, "PropertyGroup", group)
    openapi.validate(
        spec,
        "CollectionResponsePropertyGroupNoPaging",
        raw(properties.groups_api.get_all("tasks", _preload_content=False)),
    )
    created = raw(
        properties.core_api.create(
            "tasks",
            PropertyCreate(
                name="sync_state",
                label="Sync state",
                type="enumeration",
                field_type="select",
                group_name="sync",
                options=[{"label": "Synced", "value": "synced", "displayOrder": 0, "hidden": False}],
            ),
            _preload_content=False,
        )
    )
    openapi.validate(spec, "Property", created)
    openapi.validate(
        spec,
        "CollectionResponsePropertyNoPaging",
        raw(properties.core_api.get_all("contacts", _preload_content=False)),
    )
    batch = raw(
        properties.batch_api.read(
            "tasks",
            BatchReadInputPropertyName(inputs=[{"name": "sync_state"}, {"name": "nope"}], archived=False),
            _preload_content=False,
        )
    )
    openapi.validate(spec, "BatchResponsePropertyWithErrors", batch)
    conflict = admin.api("POST", "/crm/v3/properties/tasks", json=created)
    assert conflict.status_code == 409
    openapi.validate(spec, "Error", conflict.json())


def test_form_answers_match_the_spec(client: HubSpot, admin: Admin, openapi: OpenApi) -> None:
    form = admin.post(
        "forms",
        {
            "name": "Contact Us",
            "fields": ["email", "firstname", {"name": "message", "fieldType": "multi_line_text"}],
        },
    )
    admin.post("forms", {"name": "Newsletter"})
    page = raw(client.marketing.forms.forms_api.get_page(limit=1, _preload_content=False))
    openapi.validate("marketing-forms-v3.json", "CollectionResponseFormDefinitionBaseForwardPaging", page)
    single = raw(client.marketing.forms.forms_api.get_by_id(form["id"], _preload_content=False))
    openapi.validate("marketing-forms-v3.json", "FormDefinitionBase", single)


def test_webhook_subscription_types_are_hubspots(
    admin: Admin, openapi: OpenApi, receiver: WebhookReceiver
) -> None:
    # Every subscription type the sandbox accepts is one HubSpot's webhooks API knows
    for family, action in itertools.product(SUBSCRIPTION_FAMILIES, SUBSCRIPTION_ACTIONS):
        openapi.validate("webhooks-v3.json", "SubscriptionCreateRequest", {"eventType": f"{family}.{action}"})
    described = admin.post("webhooks", {"target_url": receiver.url, "subscriptions": ["contact.creation"]})
    assert described["subscriptions"][0]["subscriptionType"] == "contact.creation"


def test_the_validator_rejects_what_the_spec_forbids(openapi: OpenApi) -> None:
    # Guard against a validator that accepts anything: a record without its required fields, a
    # non-string property value and a malformed timestamp must all fail
    good = {
        "id": "1",
        "properties": {"a": "b"},
        "createdAt": "2024-01-01T00:00:00.000Z",
        "updatedAt": "2024-01-01T00:00:00.000Z",
        "archived": False,
    }
    openapi.validate("crm-calls-v3.json", "SimplePublicObject", good)
    for broken in ({"id": "1"}, {**good, "properties": {"a": 1}}, {**good, "createdAt": "yesterday"}):
        with pytest.raises(jsonschema.ValidationError):
            openapi.validate("crm-calls-v3.json", "SimplePublicObject", broken)
