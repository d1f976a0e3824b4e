"""sObject CRUD, ids, validation rules, derived and system fields, upsert and describe."""

from __future__ import annotations

import re

import pytest
from simple_salesforce.exceptions import (
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceResourceNotFound,
)

from activity_sync_tools.sandbox.salesforce import parse_id, to_18
from activity_sync_tools.sandbox.salesforce.testing import Harness, SalesforceClient, error_content

pytestmark = pytest.mark.integration

SALESFORCE_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")


def _error_code(error: SalesforceMalformedRequest | SalesforceResourceNotFound) -> str:
    return str(error_content(error)[0]["errorCode"])


def test_create_read_update_delete_a_task(sf: SalesforceClient, harness: Harness) -> None:
    # Given a contact
    ada = harness.keys["ada"]
    # When a task is created, read, updated and deleted
    created = sf.Task.create({"Subject": "Follow up", "WhoId": ada, "ActivityDate": "2024-02-01"})
    task_id = created["id"]
    first = sf.Task.get(task_id)
    status = sf.Task.update(task_id, {"Subject": "Follow up again", "Status": "Completed"})
    second = sf.Task.get(task_id)
    deleted = sf.Task.delete(task_id)
    # Then each step answers like Salesforce
    assert created == {"id": task_id, "success": True, "errors": []}
    assert first["attributes"] == {"type": "Task", "url": f"/services/data/v59.0/sobjects/Task/{task_id}"}
    assert first["Subject"] == "Follow up"
    assert first["ActivityDate"] == "2024-02-01"
    assert first["Status"] == "Not Started"
    assert first["Priority"] == "Normal"
    assert first["IsClosed"] is False
    assert first["TaskSubtype"] == "Task"
    assert first["AccountId"] == harness.keys["acme"]  # derived from the contact's account
    assert status == 204
    assert second["Subject"] == "Follow up again"
    assert second["IsClosed"] is True
    assert SALESFORCE_DATETIME.match(second["CompletedDateTime"])
    assert deleted == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Task.get(task_id)


def test_ids_are_18_characters_with_a_correct_suffix_and_15_character_ids_are_accepted(
    sf: SalesforceClient, harness: Harness
) -> None:
    # Given a new task
    task_id = sf.Task.create({"Subject": "Ids", "WhoId": harness.keys["ada"]})["id"]
    # When it is read by its 15-character id and by its 18-character id in lower case
    by_15 = sf.Task.get(task_id[:15])
    by_lower = sf.Task.get(task_id.lower())
    # Then both find it; the id has the Task prefix and a checksum suffix computed from the case
    assert len(task_id) == 18
    assert task_id.startswith("00T")
    assert to_18(task_id[:15]) == task_id
    assert by_15["Id"] == by_lower["Id"] == task_id
    assert harness.keys["ada"].startswith("003")
    assert harness.keys["lin"].startswith("00Q")
    assert harness.keys["alice"].startswith("005")
    assert harness.keys["acme"].startswith("001")
    assert harness.keys["deal"].startswith("006")


def test_checksum_matches_a_known_salesforce_id() -> None:
    # Given a documented 15-character id (Salesforce knowledge article on 15/18-character ids)
    # When it is converted
    # Then the suffix matches the one Salesforce computes
    assert to_18("001A0000006Vm9r") == "001A0000006Vm9rIAC"
    assert parse_id("001a0000006vm9riac") == "001A0000006Vm9rIAC"
    assert parse_id("001A0000006Vm9rXXX") is None


def test_system_fields_and_owner_default_to_the_caller(sf: SalesforceClient, harness: Harness) -> None:
    # Given the sandbox clock frozen at a known instant
    harness.admin.post("/clock", {"now": "2024-01-31T12:00:00+00:00", "frozen": True})
    # When the integration user creates a task
    task = sf.Task.get(sf.Task.create({"Subject": "Stamped"})["id"])
    # Then system fields are set in Salesforce's date-time format
    integration = harness.keys["integration"]
    assert (
        task["CreatedDate"]
        == task["LastModifiedDate"]
        == task["SystemModstamp"]
        == "2024-01-31T12:00:00.000+0000"
    )
    assert task["CreatedById"] == task["LastModifiedById"] == task["OwnerId"] == integration
    assert task["IsDeleted"] is False


def test_an_edit_by_another_user_changes_last_modified_by(sf: SalesforceClient, harness: Harness) -> None:
    # Given a task written by the integration user
    task_id = sf.Task.create({"Subject": "Echo check", "WhoId": harness.keys["ada"]})["id"]
    harness.admin.post("/clock", {"advance_seconds": 60})
    # When bob edits it "in the UI" (admin route acting as bob)
    harness.admin.patch(
        f"/sobjects/Task/{task_id}", {"as_user": "@bob", "fields": {"Subject": "Edited by Bob"}}
    )
    # Then the API shows bob as the last modifier and a later modification stamp
    task = sf.Task.get(task_id)
    assert task["LastModifiedById"] == harness.keys["bob"]
    assert task["CreatedById"] == harness.keys["integration"]
    assert task["SystemModstamp"] > task["CreatedDate"]


def test_required_fields_are_enforced(sf: SalesforceClient) -> None:
    # Given a contact without its required LastName and a task nulling its Status
    # When they are written
    with pytest.raises(SalesforceMalformedRequest) as missing_name:
        sf.Contact.create({"FirstName": "No", "Email": "no@example.com"})
    task_id = sf.Task.create({"Subject": "x"})["id"]
    with pytest.raises(SalesforceMalformedRequest) as null_status:
        sf.Task.update(task_id, {"Status": None})
    # Then Salesforce answers REQUIRED_FIELD_MISSING naming the fields
    assert error_content(missing_name.value) == [
        {
            "message": "Required fields are missing: [LastName]",
            "errorCode": "REQUIRED_FIELD_MISSING",
            "fields": ["LastName"],
        }
    ]
    assert _error_code(null_status.value) == "REQUIRED_FIELD_MISSING"


@pytest.mark.parametrize(
    ("field", "value"),
    [("Status", "Done"), ("Priority", "Urgent"), ("CallType", "Sideways"), ("TaskSubtype", "Meeting")],
)
def test_restricted_picklists_reject_unknown_values(sf: SalesforceClient, field: str, value: str) -> None:
    # Given a value outside a restricted picklist
    # When a task is created with it
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.Task.create({"Subject": "x", field: value})
    # Then the error is INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST on that field
    assert error_content(raised.value)[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert error_content(raised.value)[0]["fields"] == [field]


def test_task_type_is_unrestricted_until_the_org_restricts_it(sf: SalesforceClient, harness: Harness) -> None:
    # Given the default org, where Task.Type accepts any value
    loose = sf.Task.create({"Subject": "x", "Type": "Carrier pigeon"})
    assert sf.Task.get(loose["id"])["Type"] == "Carrier pigeon"
    # When the org's Task.Type picklist is replaced and restricted
    harness.admin.post(
        "/picklists", {"object": "Task", "field": "Type", "values": ["Call", "Meeting"], "restricted": True}
    )
    # Then describe shows the new values and other values are refused
    describe = sf.Task.describe()
    type_field = next(f for f in describe["fields"] if f["name"] == "Type")
    assert [v["value"] for v in type_field["picklistValues"]] == ["Call", "Meeting"]
    assert type_field["restrictedPicklist"] is True
    sf.Task.create({"Subject": "x", "Type": "Meeting"})
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.Task.create({"Subject": "x", "Type": "Email"})
    assert _error_code(raised.value) == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"


def test_custom_status_values_decide_is_closed(sf: SalesforceClient, harness: Harness) -> None:
    # Given a Status picklist with a custom closed value
    harness.admin.post(
        "/picklists",
        {
            "object": "Task",
            "field": "Status",
            "values": [{"value": "Open", "default": True}, {"value": "Done", "closed": True}],
        },
    )
    # When tasks are created with each status
    open_task = sf.Task.get(sf.Task.create({"Subject": "a"})["id"])
    done_task = sf.Task.get(sf.Task.create({"Subject": "b", "Status": "Done"})["id"])
    # Then IsClosed follows the status and the default applies
    assert (open_task["Status"], open_task["IsClosed"]) == ("Open", False)
    assert (done_task["Status"], done_task["IsClosed"]) == ("Done", True)


def test_who_id_must_be_a_contact_or_lead(sf: SalesforceClient, harness: Harness) -> None:
    # Given an account id, an unknown contact id and a malformed id
    unknown_contact = to_18("003" + "Zz" + "9" * 10)
    # When they are used as WhoId
    with pytest.raises(SalesforceMalformedRequest) as wrong_type:
        sf.Task.create({"Subject": "x", "WhoId": harness.keys["acme"]})
    with pytest.raises(SalesforceMalformedRequest) as unknown:
        sf.Task.create({"Subject": "x", "WhoId": unknown_contact})
    with pytest.raises(SalesforceMalformedRequest) as malformed:
        sf.Task.create({"Subject": "x", "WhoId": "not-an-id"})
    lead_task = sf.Task.create({"Subject": "x", "WhoId": harness.keys["lin"], "WhatId": harness.keys["deal"]})
    # Then each gets Salesforce's error, and a lead with an opportunity is fine
    assert error_content(wrong_type.value) == [
        {
            "message": f"Name ID: id value of incorrect type: {harness.keys['acme']}",
            "errorCode": "FIELD_INTEGRITY_EXCEPTION",
            "fields": ["WhoId"],
        }
    ]
    assert _error_code(unknown.value) == "INVALID_CROSS_REFERENCE_KEY"
    assert _error_code(malformed.value) == "MALFORMED_ID"
    assert sf.Task.get(lead_task["id"])["AccountId"] == harness.keys["acme"]  # through the opportunity


def test_what_id_must_be_an_account_or_opportunity(sf: SalesforceClient, harness: Harness) -> None:
    # Given a contact id used as WhatId
    # When the task is created
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.Task.create({"Subject": "x", "WhatId": harness.keys["ada"]})
    # Then it is a FIELD_INTEGRITY_EXCEPTION on WhatId
    assert error_content(raised.value)[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert error_content(raised.value)[0]["fields"] == ["WhatId"]


def test_task_subtype_is_createable_but_not_updateable(sf: SalesforceClient) -> None:
    # Given a call task
    task_id = sf.Task.create(
        {"Subject": "Call", "TaskSubtype": "Call", "CallType": "Outbound", "CallDurationInSeconds": 90}
    )["id"]
    # When its subtype is changed
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.Task.update(task_id, {"TaskSubtype": "Email"})
    # Then the update is refused and the subtype stays
    assert error_content(raised.value)[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert error_content(raised.value)[0]["fields"] == ["TaskSubtype"]
    task = sf.Task.get(task_id)
    assert (task["TaskSubtype"], task["CallType"], task["CallDurationInSeconds"]) == ("Call", "Outbound", 90)


def test_read_only_and_unknown_fields_are_refused(sf: SalesforceClient) -> None:
    # Given writes to a derived field and to a field that does not exist
    # When tasks are created with them
    with pytest.raises(SalesforceMalformedRequest) as read_only:
        sf.Task.create({"Subject": "x", "IsClosed": True})
    with pytest.raises(SalesforceMalformedRequest) as unknown:
        sf.Task.create({"Subject": "x", "Colour__c": "red"})
    with pytest.raises(SalesforceMalformedRequest) as too_long:
        sf.Task.create({"Subject": "x" * 256})
    # Then Salesforce's error codes come back
    assert error_content(read_only.value)[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert error_content(unknown.value)[0] == {
        "message": "No such column 'Colour__c' on sobject of type Task",
        "errorCode": "INVALID_FIELD",
        "fields": [],
    }
    assert error_content(too_long.value)[0]["errorCode"] == "STRING_TOO_LONG"


def test_hidden_field_behaves_as_if_it_did_not_exist(sf: SalesforceClient, harness: Harness) -> None:
    # Given field-level security hiding Task.Type from the integration user
    harness.admin.post("/field-access", {"object": "Task", "field": "Type", "accessible": False})
    # When the field is written, queried and described
    with pytest.raises(SalesforceMalformedRequest) as write:
        sf.Task.create({"Subject": "x", "Type": "Call"})
    with pytest.raises(SalesforceMalformedRequest) as query:
        sf.query("SELECT Type FROM Task")
    names = {f["name"] for f in sf.Task.describe()["fields"]}
    # Then it is INVALID_FIELD everywhere and absent from describe
    assert _error_code(write.value) == "INVALID_FIELD"
    assert _error_code(query.value) == "INVALID_FIELD"
    assert "Type" not in names


def test_owner_must_be_an_active_user(sf: SalesforceClient, harness: Harness) -> None:
    # Given bob deactivated
    harness.admin.patch(f"/users/{harness.keys['bob']}", {"IsActive": False})
    # When tasks are assigned to alice and to bob
    alice_task = sf.Task.create({"Subject": "x", "OwnerId": harness.keys["alice"]})
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.Task.create({"Subject": "x", "OwnerId": harness.keys["bob"]})
    # Then alice gets hers and bob's is refused
    assert sf.Task.get(alice_task["id"])["OwnerId"] == harness.keys["alice"]
    assert _error_code(raised.value) == "INACTIVE_OWNER_OR_USER"


def test_updating_or_deleting_a_deleted_record_reports_entity_is_deleted(sf: SalesforceClient) -> None:
    # Given a deleted task
    task_id = sf.Task.create({"Subject": "x"})["id"]
    sf.Task.delete(task_id)
    # When it is updated or deleted again
    with pytest.raises(SalesforceResourceNotFound) as update:
        sf.Task.update(task_id, {"Subject": "y"})
    with pytest.raises(SalesforceResourceNotFound) as delete:
        sf.Task.delete(task_id)
    # Then Salesforce answers 404 ENTITY_IS_DELETED
    assert _error_code(update.value) == "ENTITY_IS_DELETED"
    assert _error_code(delete.value) == "ENTITY_IS_DELETED"


def test_unknown_record_and_unknown_object_are_not_found(sf: SalesforceClient, harness: Harness) -> None:
    # Given an id that was never created and an object the org does not have
    token = harness.access_token()
    # When they are requested
    missing = harness.api("GET", "/sobjects/Task/" + to_18("00T8d00000ZZZZZ"), token)
    no_object = harness.api("GET", "/sobjects/Widget__c/describe", token)
    bad_version = harness.http.get(
        f"{harness.url}/services/data/latest/limits", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    wrong_method = harness.api("PUT", "/sobjects/Task/" + to_18("00T8d00000ZZZZZ"), token, json={})
    # Then each answers with Salesforce's error array
    assert missing.status_code == 404
    assert missing.json() == [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
    assert no_object.status_code == 404
    assert no_object.json()[0]["errorCode"] == "NOT_FOUND"
    assert bad_version.status_code == 404
    assert wrong_method.status_code == 405
    assert wrong_method.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"


def test_upsert_by_external_id_creates_then_updates(sf: SalesforceClient, harness: Harness) -> None:
    # Given no task with HubSpot activity id "hs-1"
    body = {"Subject": "Opened: Newsletter", "WhoId": harness.keys["ada"]}
    # When it is upserted twice
    first = sf.Task.upsert("HubSpot_Activity_Id__c/hs-1", body, raw_response=True)
    second = sf.Task.upsert(
        "HubSpot_Activity_Id__c/hs-1", {"Subject": "Opened: Newsletter (2)"}, raw_response=True
    )
    # Then the first creates (201, created true) and the second updates the same task (200, created false)
    assert first.status_code == 201
    assert first.json()["created"] is True
    assert second.status_code == 200
    assert second.json() == {"id": first.json()["id"], "success": True, "errors": [], "created": False}
    found = sf.Task.get_by_custom_id("HubSpot_Activity_Id__c", "HS-1")  # text external ids ignore case
    assert found["Subject"] == "Opened: Newsletter (2)"
    assert found["HubSpot_Activity_Id__c"] == "hs-1"


def test_upsert_finds_records_by_their_external_id_as_it_is_after_edits_deletes_and_rollbacks(
    sf: SalesforceClient,
) -> None:
    # Given a task upserted as "hs-a", whose External ID was then edited to "hs-b"
    key = "HubSpot_Activity_Id__c"
    first = sf.Task.upsert(f"{key}/hs-a", {"Subject": "A"}, raw_response=True).json()["id"]
    sf.Task.update(first, {key: "hs-b"})

    # When "hs-a" and "HS-B" are upserted, the task deleted, "hs-b" upserted again, and "hs-c"
    # upserted in an all-or-none request that is rolled back
    renamed_away = sf.Task.upsert(f"{key}/hs-a", {"Subject": "A again"}, raw_response=True).json()
    renamed_to = sf.Task.upsert(f"{key}/HS-B", {"Subject": "B"}, raw_response=True).json()
    sf.Task.delete(first)
    after_delete = sf.Task.upsert(f"{key}/hs-b", {"Subject": "B again"}, raw_response=True).json()
    rolled_back = sf.restful(
        f"composite/sobjects/Task/{key}",
        method="PATCH",
        json={
            "allOrNone": True,
            "records": [
                {"attributes": {"type": "Task"}, key: "hs-c", "Subject": "C"},
                {"attributes": {"type": "Task"}, key: "hs-d", "Status": "Bogus"},
            ],
        },
    )
    after_rollback = sf.Task.upsert(f"{key}/hs-c", {"Subject": "C again"}, raw_response=True).json()

    # Then each lookup sees the External IDs as they are now: the old value and the deleted or
    # rolled-back records match nothing, the new value (in any case) matches the edited task
    assert renamed_away["created"] is True
    assert (renamed_to["id"], renamed_to["created"]) == (first, False)
    assert after_delete["created"] is True
    assert after_delete["id"] != first
    assert [r["success"] for r in rolled_back] == [False, False]
    assert after_rollback["created"] is True
    rows = sf.query("SELECT HubSpot_Activity_Id__c, Subject FROM Task")["records"]
    subjects = {row[key]: row["Subject"] for row in rows}
    assert subjects == {"hs-a": "A again", "hs-b": "B again", "hs-c": "C again"}


def test_upsert_before_api_46_answers_204_on_update(harness: Harness) -> None:
    # Given an old API version client and an existing task
    sf = harness.client(version="45.0")
    sf.Task.upsert("HubSpot_Activity_Id__c/old", {"Subject": "x"})
    # When the same external id is upserted again
    status = sf.Task.upsert("HubSpot_Activity_Id__c/old", {"Subject": "y"})
    # Then the update answers 204 with no body, as before v46
    assert status == 204


def test_unique_external_id_rejects_duplicates_and_non_unique_ids_give_300(
    sf: SalesforceClient, harness: Harness
) -> None:
    # Given a task with external id hs-dup, and a second, non-unique external id field
    sf.Task.create({"Subject": "a", "HubSpot_Activity_Id__c": "hs-dup"})
    harness.admin.post(
        "/fields",
        {"object": "Task", "name": "Legacy_Id__c", "type": "string", "external_id": True},
        expected=201,
    )
    sf.Task.create({"Subject": "b", "Legacy_Id__c": "L1"})
    sf.Task.create({"Subject": "c", "Legacy_Id__c": "L1"})
    # When a duplicate unique value is written and an upsert matches two records
    with pytest.raises(SalesforceMalformedRequest) as duplicate:
        sf.Task.create({"Subject": "d", "HubSpot_Activity_Id__c": "HS-DUP"})
    with pytest.raises(SalesforceMoreThanOneRecord) as several:
        sf.Task.upsert("Legacy_Id__c/L1", {"Subject": "e"})
    # Then DUPLICATE_VALUE and HTTP 300 with the matching record URLs
    assert error_content(duplicate.value)[0]["errorCode"] == "DUPLICATE_VALUE"
    assert len(error_content(several.value)) == 2
    assert all(
        url.startswith("/services/data/v59.0/sobjects/Task/00T") for url in error_content(several.value)
    )


def test_describe_task_lists_fields_with_their_properties(sf: SalesforceClient) -> None:
    # Given the default org
    # When Task is described
    describe = sf.Task.describe()
    fields = {f["name"]: f for f in describe["fields"]}
    # Then field properties match Salesforce's
    assert describe["name"] == "Task"
    assert describe["keyPrefix"] == "00T"
    subtype = fields["TaskSubtype"]
    assert (subtype["createable"], subtype["updateable"], subtype["type"]) == (True, False, "picklist")
    assert fields["IsClosed"]["createable"] is False
    status = fields["Status"]
    assert status["nillable"] is False
    assert status["restrictedPicklist"] is True
    assert {
        "value": "Completed",
        "label": "Completed",
        "active": True,
        "defaultValue": False,
        "validFor": None,
    }.items() <= next(v for v in status["picklistValues"] if v["value"] == "Completed").items()
    assert next(v for v in status["picklistValues"] if v["defaultValue"])["value"] == "Not Started"
    external = fields["HubSpot_Activity_Id__c"]
    assert (external["externalId"], external["unique"], external["custom"]) == (True, True, True)
    assert fields["WhoId"]["referenceTo"] == ["Contact", "Lead"]
    assert fields["Description"]["type"] == "textarea"
    assert {
        "CreatedDate",
        "CreatedById",
        "LastModifiedDate",
        "LastModifiedById",
        "SystemModstamp",
        "IsDeleted",
        "OwnerId",
        "CallType",
        "CallDurationInSeconds",
        "CallDisposition",
        "CallObject",
        "CompletedDateTime",
        "ActivityDate",
        "Priority",
        "Type",
    } <= set(fields)


def test_global_describe_lists_the_objects(sf: SalesforceClient) -> None:
    # Given the default org
    # When the global describe is requested
    described = sf.describe()
    # Then every object the service uses is there with its key prefix
    prefixes = {o["name"]: o["keyPrefix"] for o in described["sobjects"]}
    assert prefixes == {
        "User": "005",
        "Account": "001",
        "Contact": "003",
        "Lead": "00Q",
        "Opportunity": "006",
        "Task": "00T",
        "Event": "00U",
        "PermissionSet": "0PS",
        "PermissionSetAssignment": "0Pa",
    }
    assert described["maxBatchSize"] == 200


def test_custom_field_added_by_admin_is_usable(sf: SalesforceClient, harness: Harness) -> None:
    # Given a custom checkbox field on Task
    harness.admin.post("/fields", {"object": "Task", "name": "Synced__c", "type": "boolean"}, expected=201)
    # When a task is written with it
    task_id = sf.Task.create({"Subject": "x", "Synced__c": True})["id"]
    other = sf.Task.create({"Subject": "y"})["id"]
    # Then it is stored and defaults to false
    assert sf.Task.get(task_id)["Synced__c"] is True
    assert sf.Task.get(other)["Synced__c"] is False


def test_event_times_are_derived_from_start_and_duration(sf: SalesforceClient, harness: Harness) -> None:
    # Given a meeting with a start and a duration
    event_id = sf.Event.create(
        {
            "Subject": "Demo",
            "WhoId": harness.keys["ada"],
            "StartDateTime": "2024-03-01T15:00:00.000+0000",
            "DurationInMinutes": 45,
            "HubSpot_Activity_Id__c": "meeting-1",
        }
    )["id"]
    # When it is read, then moved to a new end time
    first = sf.Event.get(event_id)
    sf.Event.update(event_id, {"EndDateTime": "2024-03-01T16:30:00Z"})
    second = sf.Event.get(event_id)
    # Then end, activity date/time and duration follow; an event without duration or end is refused
    assert first["EndDateTime"] == "2024-03-01T15:45:00.000+0000"
    assert first["ActivityDateTime"] == "2024-03-01T15:00:00.000+0000"
    assert first["ActivityDate"] == "2024-03-01"
    assert first["EventSubtype"] == "Event"
    assert event_id.startswith("00U")
    assert second["DurationInMinutes"] == 90
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.Event.create({"Subject": "No length", "StartDateTime": "2024-03-01T15:00:00Z"})
    assert error_content(raised.value)[0]["errorCode"] == "REQUIRED_FIELD_MISSING"


def test_lead_conversion_links_the_contact(sf: SalesforceClient, harness: Harness) -> None:
    # Given a lead
    lead_id = harness.keys["lin"]
    # When it is converted (admin route standing in for the UI)
    converted = harness.admin.post(f"/leads/{lead_id}/convert", {"as_user": "@alice"})
    # Then the lead is converted and points at a new contact with its details
    lead = sf.Lead.get(lead_id)
    assert lead["IsConverted"] is True
    assert lead["ConvertedContactId"] == converted["contact_id"]
    contact = sf.Contact.get(converted["contact_id"])
    assert contact["Email"] == "lin@example.com"
    assert contact["Name"] == "Lin Chen"


def test_the_versions_an_org_serves_run_from_31_to_winter_27(harness: Harness) -> None:
    # Given an org in December 2026 (v68.0 is Winter '27; 21.0-30.0 were retired in Summer '25)
    # When the versions are listed (no credentials needed)
    versions = harness.http.get(f"{harness.url}/services/data/", timeout=30).json()
    # Then each is {label, url, version}, oldest first, the service's default among them
    assert versions[0] == {"label": "v31.0", "url": "/services/data/v31.0", "version": "31.0"}
    assert versions[-1] == {"label": "Winter '27", "url": "/services/data/v68.0", "version": "68.0"}
    assert "62.0" in [entry["version"] for entry in versions]
