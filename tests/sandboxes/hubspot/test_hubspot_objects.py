"""CRM objects through the official client: create/read/update/archive, idProperty, the properties
and associations query parameters, list paging, HubSpot's validation errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.contacts import SimplePublicObjectInputForCreate as ContactCreate
from hubspot.crm.contacts.exceptions import ApiException as ContactsApiException
from hubspot.crm.objects import SimplePublicObjectInput, SimplePublicObjectInputForCreate
from hubspot.crm.objects.calls import SimplePublicObjectInputForCreate as CallCreate
from hubspot.crm.objects.exceptions import ApiException

from activity_sync_tools.sandbox.hubspot.testing import Admin

ENGAGEMENTS = {
    "calls": (
        "0-48",
        {"hs_call_title": "Intro call", "hs_call_direction": "OUTBOUND", "hs_call_duration": "60000"},
    ),
    "emails": (
        "0-49",
        {"hs_email_subject": "Hello", "hs_email_direction": "EMAIL", "hs_email_status": "SENT"},
    ),
    "meetings": ("0-47", {"hs_meeting_title": "Demo", "hs_meeting_outcome": "SCHEDULED"}),
    "notes": ("0-46", {"hs_note_body": "Met at the fair"}),
    "tasks": (
        "0-27",
        {"hs_task_subject": "Follow up", "hs_task_status": "NOT_STARTED", "hs_task_priority": "HIGH"},
    ),
}


def body_of(error: Any) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(error.body)
    return parsed


def create_contact(client: HubSpot, email: str, **extra: str) -> Any:
    return client.crm.contacts.basic_api.create(ContactCreate(properties={"email": email, **extra}))


@pytest.mark.parametrize("object_type", sorted(ENGAGEMENTS))
def test_engagement_lifecycle_by_name_and_type_id(client: HubSpot, object_type: str) -> None:
    # Given an engagement type, reachable by its name and by its object type id
    type_id, properties = ENGAGEMENTS[object_type]
    objects = client.crm.objects.basic_api

    # When it is created, read by type id, updated and archived
    created = objects.create(
        object_type,
        SimplePublicObjectInputForCreate(properties={"hs_timestamp": "2024-05-01T10:00:00Z", **properties}),
    )
    read = objects.get_by_id(type_id, created.id, properties=[*properties, "hs_timestamp"])
    updated = objects.update(
        object_type, created.id, SimplePublicObjectInput(properties={"hubspot_owner_id": ""})
    )
    objects.archive(object_type, created.id)

    # Then HubSpot's maintained properties are there and the archived record is gone
    assert created.properties["hs_object_id"] == created.id
    assert created.properties["hs_createdate"] == created.properties["hs_lastmodifieddate"]
    assert read.properties == {**properties, "hs_timestamp": "2024-05-01T10:00:00.000Z"}
    assert updated.id == created.id
    with pytest.raises(ApiException) as missing:
        objects.get_by_id(object_type, created.id)
    assert missing.value.status == 404
    assert body_of(missing.value)["category"] == "OBJECT_NOT_FOUND"
    assert objects.get_by_id(object_type, created.id, archived=True).archived is True


def test_timestamps_follow_the_sandbox_clock(client: HubSpot, admin: Admin) -> None:
    # Given the sandbox clock set in the past
    admin.post("clock", {"now": "2023-03-04T05:06:07.089+00:00", "frozen": True})

    # When a call is created and, a day later, updated
    call = client.crm.objects.calls.basic_api.create(
        CallCreate(properties={"hs_timestamp": "1677906367089", "hs_call_title": "Old call"})
    )
    admin.post("clock", {"advance_seconds": 86_400})
    updated = client.crm.objects.calls.basic_api.update(
        call.id, SimplePublicObjectInput(properties={"hs_call_body": "x"})
    )

    # Then createdAt and hs_createdate are the clock's instant, hs_timestamp is normalised to ISO,
    # and hs_lastmodifieddate moved with the clock
    assert call.created_at.isoformat() == "2023-03-04T05:06:07.089000+00:00"
    assert call.properties["hs_createdate"] == "2023-03-04T05:06:07.089Z"
    assert call.properties["hs_timestamp"] == "2023-03-04T05:06:07.089Z"
    assert updated.properties["hs_lastmodifieddate"] == "2023-03-05T05:06:07.089Z"
    assert updated.updated_at.isoformat() == "2023-03-05T05:06:07.089000+00:00"


def test_requested_properties_without_value_come_back_as_null(client: HubSpot) -> None:
    # Given a contact without a last name
    contact = create_contact(client, "nolast@example.com")

    # When it is read asking for lastname, a property without value, and one that does not exist
    read = client.crm.contacts.basic_api.get_by_id(
        contact.id, properties=["lastname", "email", "no_such_property"]
    )
    default = client.crm.contacts.basic_api.get_by_id(contact.id)

    # Then the empty one is null, the unknown one is ignored; without properties= the defaults come
    assert read.properties == {"lastname": None, "email": "nolast@example.com"}
    assert set(default.properties) == {
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    }


def test_contact_email_is_unique_lowercased_and_an_id_property(client: HubSpot) -> None:
    # Given a contact created with a mixed-case email
    contact = create_contact(client, "Mixed.Case@Example.com", firstname="Mix")

    # When it is read and updated by email, and a second contact tries the same email
    by_email = client.crm.contacts.basic_api.get_by_id("mixed.case@example.com", id_property="email")
    client.crm.contacts.basic_api.update(
        "MIXED.CASE@example.com",
        SimplePublicObjectInput(properties={"lastname": "Case"}),
        id_property="email",
    )
    with pytest.raises(ContactsApiException) as conflict:
        create_contact(client, "mixed.case@EXAMPLE.com")

    # Then the email is stored lower-case, found case-insensitively, and the duplicate is a 409
    assert contact.properties["email"] == "mixed.case@example.com"
    assert by_email.id == contact.id
    assert conflict.value.status == 409
    assert body_of(conflict.value) == {
        "status": "error",
        "message": f"Contact already exists. Existing ID: {contact.id}",
        "correlationId": body_of(conflict.value)["correlationId"],
        "category": "CONFLICT",
    }
    assert client.crm.contacts.basic_api.get_by_id(contact.id, properties=["lastname"]).properties == {
        "lastname": "Case"
    }


@pytest.mark.parametrize(
    ("properties", "error", "name"),
    [
        ({"no_such_thing": "x"}, "PROPERTY_DOESNT_EXIST", "no_such_thing"),
        ({"hs_call_direction": "SIDEWAYS"}, "INVALID_OPTION", "hs_call_direction"),
        ({"hs_call_duration": "long"}, "INVALID_NUMBER", "hs_call_duration"),
        ({"hubspot_owner_id": "999"}, "INVALID_OWNER_ID", "hubspot_owner_id"),
        ({"hs_lastmodifieddate": "2024-01-01T00:00:00Z"}, "READ_ONLY_VALUE", "hs_lastmodifieddate"),
        ({"hs_timestamp": "yesterday"}, "INVALID_DATE", "hs_timestamp"),
    ],
)
def test_invalid_property_values_are_rejected_like_hubspot(
    client: HubSpot, properties: dict[str, str], error: str, name: str
) -> None:
    # Given a call whose properties hold one bad value
    # When it is created
    with pytest.raises(ApiException) as rejected:
        client.crm.objects.basic_api.create(
            "calls",
            SimplePublicObjectInputForCreate(
                properties={"hs_timestamp": "2024-01-01T00:00:00Z", **properties}
            ),
        )

    # Then HubSpot's VALIDATION_ERROR names the property and the error, and nothing was created
    body = body_of(rejected.value)
    assert rejected.value.status == 400
    assert body["category"] == "VALIDATION_ERROR"
    assert body["message"].startswith("Property values were not valid: [")
    embedded = json.loads(body["message"].removeprefix("Property values were not valid: "))
    assert [(e["name"], e["error"], e["isValid"]) for e in embedded] == [(name, error, False)]
    assert body["errors"][0]["code"] == error
    assert client.crm.objects.basic_api.get_page("calls").results == []


def test_engagements_need_hs_timestamp(client: HubSpot) -> None:
    # When a note is created without hs_timestamp
    with pytest.raises(ApiException) as rejected:
        client.crm.objects.basic_api.create(
            "notes", SimplePublicObjectInputForCreate(properties={"hs_note_body": "x"})
        )

    # Then HubSpot's required-property error answers
    assert rejected.value.status == 400
    assert "hs_timestamp is required" in body_of(rejected.value)["message"]


def test_owner_ids_must_exist(client: HubSpot, owner: dict[str, Any]) -> None:
    # Given an owner
    # When a task is assigned to them
    task = client.crm.objects.basic_api.create(
        "tasks",
        SimplePublicObjectInputForCreate(
            properties={"hs_timestamp": "2024-01-01T00:00:00Z", "hubspot_owner_id": owner["id"]}
        ),
    )
    # Then the owner id is kept
    assert task.properties["hubspot_owner_id"] == owner["id"]


def test_task_completion_date_follows_status(client: HubSpot, admin: Admin) -> None:
    # Given an open task and a frozen clock
    admin.post("clock", {"now": "2024-06-01T12:00:00+00:00", "frozen": True})
    task = client.crm.objects.basic_api.create(
        "tasks",
        SimplePublicObjectInputForCreate(
            properties={"hs_timestamp": "2024-06-02T00:00:00Z", "hs_task_status": "NOT_STARTED"}
        ),
    )

    # When it is completed, then reopened
    done = client.crm.objects.basic_api.update(
        "tasks", task.id, SimplePublicObjectInput(properties={"hs_task_status": "COMPLETED"})
    )
    reopened = client.crm.objects.basic_api.update(
        "tasks", task.id, SimplePublicObjectInput(properties={"hs_task_status": "IN_PROGRESS"})
    )

    # Then HubSpot sets, then clears, hs_task_completion_date
    assert "hs_task_completion_date" not in task.properties
    assert done.properties["hs_task_completion_date"] == "2024-06-01T12:00:00.000Z"
    assert "hs_task_completion_date" not in reopened.properties


def test_email_headers_fill_the_read_only_address_properties(client: HubSpot) -> None:
    # Given email headers as HubSpot documents them
    headers = {
        "from": {"email": "rep@corp.example", "firstName": "Rep", "lastName": "One"},
        "to": [{"email": "buyer@client.example", "firstName": "Bea", "lastName": "Buyer"}],
        "cc": [],
        "bcc": [],
    }

    # When an email engagement is logged with them
    email = client.crm.objects.emails.basic_api.create(
        SimplePublicObjectInputForCreate(
            properties={"hs_timestamp": "2024-01-01T00:00:00Z", "hs_email_headers": json.dumps(headers)}
        )
    )

    # Then the from/to properties are derived from them
    assert email.properties["hs_email_from_email"] == "rep@corp.example"
    assert email.properties["hs_email_to_email"] == "buyer@client.example"
    assert email.properties["hs_email_to_lastname"] == "Buyer"


def test_create_with_associations_and_read_them_back(client: HubSpot) -> None:
    # Given two contacts
    alice, bob = create_contact(client, "alice@example.com"), create_contact(client, "bob@example.com")

    # When a meeting is created associated with both (HubSpot-defined meeting→contact type 200)
    meeting = client.crm.objects.meetings.basic_api.create(
        SimplePublicObjectInputForCreate(
            properties={"hs_timestamp": "2024-01-01T00:00:00Z", "hs_meeting_title": "Kick-off"},
            associations=[
                {
                    "to": {"id": person.id},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 200}],
                }
                for person in (alice, bob)
            ],
        )
    )
    read = client.crm.objects.meetings.basic_api.get_by_id(meeting.id, associations=["contacts", "companies"])
    reverse = client.crm.contacts.basic_api.get_by_id(alice.id, associations=["meetings"])

    # Then both directions carry the association, named as v3 names them
    assert [r.to_dict() for r in read.associations["contacts"].results] == [
        {"id": alice.id, "type": "meeting_to_contact"},
        {"id": bob.id, "type": "meeting_to_contact"},
    ]
    assert "companies" not in read.associations
    assert [r.id for r in reverse.associations["meetings"].results] == [meeting.id]


def test_create_with_an_invalid_association_creates_nothing(client: HubSpot) -> None:
    # Given a contact
    alice = create_contact(client, "alice@example.com")

    # When a call is created with the email→contact type id, or pointing at a contact that does not exist
    for association in (
        {
            "to": {"id": alice.id},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 198}],
        },
        {
            "to": {"id": "99999"},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 194}],
        },
    ):
        with pytest.raises(ApiException) as rejected:
            client.crm.objects.basic_api.create(
                "calls",
                SimplePublicObjectInputForCreate(
                    properties={"hs_timestamp": "2024-01-01T00:00:00Z"}, associations=[association]
                ),
            )
        # Then the request is a 400 and no call exists
        assert rejected.value.status == 400
    assert client.crm.objects.calls.basic_api.get_page().results == []


def test_list_pages_with_after_until_exhausted(client: HubSpot, admin: Admin, relaxed_limits: None) -> None:
    # Given 23 notes
    for index in range(23):
        admin.create("notes", {"hs_timestamp": "2024-01-01T00:00:00Z", "hs_note_body": f"note {index}"})

    # When they are listed 10 at a time following paging.next.after
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = client.crm.objects.notes.basic_api.get_page(limit=10, after=after, properties=["hs_note_body"])
        pages += 1
        seen.extend(r.properties["hs_note_body"] for r in page.results)
        if page.paging is None:
            break
        after = page.paging.next.after

    # Then every note comes once, in creation order, over three pages
    assert pages == 3
    assert seen == [f"note {i}" for i in range(23)]


def test_delete_of_a_missing_record_is_204_and_patch_is_404(client: HubSpot) -> None:
    # When a missing call is archived and patched
    client.crm.objects.calls.basic_api.archive("424242")
    with pytest.raises(ApiException) as missing:
        client.crm.objects.basic_api.update(
            "calls", "424242", SimplePublicObjectInput(properties={"hs_call_title": "x"})
        )

    # Then archiving is silent and the patch is HubSpot's 404 body
    body = body_of(missing.value)
    assert missing.value.status == 404
    assert body["message"] == "Object not found.  objectId are usually numeric."
    assert body["context"] == {"id": ["424242"]}


def test_unknown_object_type_is_a_400(admin: Admin) -> None:
    # When an object type that does not exist is listed
    response = admin.api("GET", "/crm/v3/objects/widgets")

    # Then HubSpot's error names it
    assert response.status_code == 400
    assert response.json()["message"] == "Unable to infer object type from: widgets"


def test_property_history_records_every_change_with_its_source(client: HubSpot, admin: Admin) -> None:
    # Given a call created through the API, then edited by a HubSpot user
    call = client.crm.objects.calls.basic_api.create(
        CallCreate(properties={"hs_timestamp": "2024-01-01T00:00:00Z", "hs_call_title": "First"})
    )
    admin.patch(f"objects/calls/{call.id}", {"properties": {"hs_call_title": "Second"}})

    # When it is read with propertiesWithHistory
    read = client.crm.objects.calls.basic_api.get_by_id(call.id, properties_with_history=["hs_call_title"])

    # Then the newest value comes first, each with the source that wrote it
    history = read.properties_with_history["hs_call_title"]
    assert [(h.value, h.source_type) for h in history] == [("Second", "CRM_UI"), ("First", "INTEGRATION")]
    assert history[1].source_id == "4200001"
