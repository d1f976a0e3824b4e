"""sObject Collections and the composite resource."""

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

from activity_sync_tools.sandbox.salesforce.testing import Harness, SalesforceClient, error_content

pytestmark = pytest.mark.integration


def _tasks(count: int, **fields: Any) -> list[dict[str, Any]]:
    return [{"attributes": {"type": "Task"}, "Subject": f"Task {n}", **fields} for n in range(count)]


def test_collection_create_returns_one_result_per_record_in_order(
    sf: SalesforceClient, harness: Harness
) -> None:
    # Given three tasks, the second with a bad status
    records = _tasks(3, WhoId=harness.keys["ada"])
    records[1]["Status"] = "Bogus"
    # When they are created without allOrNone
    results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": records})
    # Then the good ones are created and the bad one reports its error
    assert [r["success"] for r in results] == [True, False, True]
    assert results[1] == {
        "success": False,
        "errors": [
            {
                "statusCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                "message": "Status: bad value for restricted picklist field: Bogus",
                "fields": ["Status"],
            }
        ],
    }
    assert sf.query("SELECT COUNT() FROM Task")["totalSize"] == 2
    assert results[0]["errors"] == []
    assert results[0]["id"].startswith("00T")


def test_collection_create_all_or_none_rolls_everything_back(sf: SalesforceClient) -> None:
    # Given three tasks, the last missing nothing but pointing at a wrong WhoId type
    records = _tasks(3)
    records[2]["WhoId"] = sf.query("SELECT Id FROM Account")["records"][0]["Id"]
    # When they are created with allOrNone
    results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": records})
    # Then nothing is created; the good ones report ALL_OR_NONE_OPERATION_ROLLED_BACK
    assert [r["errors"][0]["statusCode"] for r in results] == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "FIELD_INTEGRITY_EXCEPTION",
    ]
    assert all(r["success"] is False for r in results)
    assert sf.query("SELECT COUNT() FROM Task")["totalSize"] == 0


def test_collection_update_and_delete(sf: SalesforceClient) -> None:
    # Given two tasks
    ids = [r["id"] for r in sf.restful("composite/sobjects", method="POST", json={"records": _tasks(2)})]
    # When both are updated (one with a bad priority), then deleted with an unknown id in the list
    updated = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Task"}, "id": ids[0], "Subject": "Renamed"},
                {"attributes": {"type": "Task"}, "id": ids[1], "Priority": "Whenever"},
            ],
        },
    )
    deleted = sf.restful("composite/sobjects", method="DELETE", params={"ids": f"{ids[0]},{ids[0]}"})
    # Then results come back per record, with ids, and the changes are applied
    assert updated[0] == {"id": ids[0], "success": True, "errors": []}
    assert updated[1]["id"] == ids[1]
    assert updated[1]["errors"][0]["statusCode"] == ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
    assert deleted[0] == {"id": ids[0], "success": True, "errors": []}
    assert deleted[1]["success"] is False
    assert deleted[1]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
    assert sf.Task.get(ids[1])["Subject"] == "Task 1"


def test_collection_update_all_or_none_keeps_ids_in_rolled_back_results(sf: SalesforceClient) -> None:
    # Given two tasks
    ids = [r["id"] for r in sf.restful("composite/sobjects", method="POST", json={"records": _tasks(2)})]
    # When an allOrNone update has one bad record
    results = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": True,
            "records": [
                {"attributes": {"type": "Task"}, "id": ids[0], "Subject": "Renamed"},
                {"attributes": {"type": "Task"}, "id": ids[1], "TaskSubtype": "Email"},
            ],
        },
    )
    # Then the good update is rolled back and reported with its id
    assert results[0] == {
        "id": ids[0],
        "success": False,
        "errors": [
            {
                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "message": "Record rolled back because not all records were valid and the request was using "
                "AllOrNone header",
                "fields": [],
            }
        ],
    }
    assert sf.Task.get(ids[0])["Subject"] == "Task 0"


def test_collection_upsert_by_external_id(sf: SalesforceClient, harness: Harness) -> None:
    # Given one task already synced with external id hs-1
    sf.Task.upsert("HubSpot_Activity_Id__c/hs-1", {"Subject": "Old"})
    # When hs-1 and hs-2 are upserted together
    results = sf.restful(
        "composite/sobjects/Task/HubSpot_Activity_Id__c",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Task"}, "HubSpot_Activity_Id__c": "hs-1", "Subject": "New"},
                {
                    "attributes": {"type": "Task"},
                    "HubSpot_Activity_Id__c": "hs-2",
                    "Subject": "Fresh",
                    "WhoId": harness.keys["ada"],
                },
            ],
        },
    )
    # Then hs-1 is updated and hs-2 created, with the created flag
    assert [r["created"] for r in results] == [False, True]
    assert all(r["success"] for r in results)
    subjects = {
        r["HubSpot_Activity_Id__c"]: r["Subject"]
        for r in sf.query("SELECT HubSpot_Activity_Id__c, Subject FROM Task")["records"]
    }
    assert subjects == {"hs-1": "New", "hs-2": "Fresh"}


def test_collection_retrieve(sf: SalesforceClient, harness: Harness) -> None:
    # Given a task and an id that is not a task
    task_id = sf.Task.create({"Subject": "Read me"})["id"]
    # When both are retrieved through the collection
    results = sf.restful(
        "composite/sobjects/Task",
        method="GET",
        params={"ids": f"{task_id},{harness.keys['ada']}", "fields": "Id,Subject"},
    )
    # Then the task comes back with the asked fields and the other as null
    assert results == [
        {
            "attributes": {"type": "Task", "url": f"/services/data/v59.0/sobjects/Task/{task_id}"},
            "Id": task_id,
            "Subject": "Read me",
        },
        None,
    ]


def test_collections_cap_at_200_records(sf: SalesforceClient) -> None:
    # Given 201 records
    # When they are sent in one collection
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.restful("composite/sobjects", method="POST", json={"records": _tasks(201)})
    # Then the whole request is refused and nothing is created; 200 is fine
    assert error_content(raised.value)[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert sf.query("SELECT COUNT() FROM Task")["totalSize"] == 0
    assert len(sf.restful("composite/sobjects", method="POST", json={"records": _tasks(200)})) == 200


def test_composite_with_references(sf: SalesforceClient, harness: Harness) -> None:
    # Given a composite request creating a contact, then a task on it, then reading the task
    body = {
        "allOrNone": True,
        "compositeRequest": [
            {
                "method": "POST",
                "url": "/services/data/v59.0/sobjects/Contact",
                "referenceId": "newContact",
                "body": {
                    "LastName": "Hopper",
                    "Email": "grace@example.com",
                    "AccountId": harness.keys["acme"],
                },
            },
            {
                "method": "POST",
                "url": "/services/data/v59.0/sobjects/Task",
                "referenceId": "newTask",
                "body": {"Subject": "Welcome", "WhoId": "@{newContact.id}"},
            },
            {
                "method": "GET",
                "url": "/services/data/v59.0/sobjects/Task/@{newTask.id}?fields=WhoId,AccountId",
                "referenceId": "readTask",
            },
            {
                "method": "GET",
                "url": "/services/data/v59.0/query?q=SELECT+Id+FROM+Contact+WHERE+LastName='Hopper'",
                "referenceId": "find",
            },
            {
                "method": "PATCH",
                "url": "/services/data/v59.0/sobjects/Task/@{find.records[0].Id}",
                "referenceId": "wrongType",
                "body": {},
            },
        ],
    }
    # When it runs (allOrNone, but every step succeeds except the last, which targets a contact as a task)
    response = sf.restful("composite", method="POST", json=body)["compositeResponse"]
    # Then the last fails with 404 and, under allOrNone, the rest is rolled back and halted
    assert [r["referenceId"] for r in response] == ["newContact", "newTask", "readTask", "find", "wrongType"]
    assert response[-1]["httpStatusCode"] == 404
    assert all(
        r["httpStatusCode"] == 400 and r["body"][0]["errorCode"] == "PROCESSING_HALTED" for r in response[:-1]
    )
    assert sf.query("SELECT COUNT() FROM Contact WHERE LastName = 'Hopper'")["totalSize"] == 0


def test_composite_success_chains_references(sf: SalesforceClient, harness: Harness) -> None:
    # Given a contact and task created through references
    body = {
        "compositeRequest": [
            {
                "method": "POST",
                "url": "/services/data/v59.0/sobjects/Contact",
                "referenceId": "c",
                "body": {"LastName": "Hopper", "AccountId": harness.keys["acme"]},
            },
            {
                "method": "POST",
                "url": "/services/data/v59.0/sobjects/Task",
                "referenceId": "t",
                "body": {"Subject": "Welcome", "WhoId": "@{c.id}"},
            },
            {
                "method": "GET",
                "url": "/services/data/v59.0/sobjects/Task/@{t.id}?fields=WhoId,AccountId",
                "referenceId": "r",
            },
        ]
    }
    # When it runs
    response = sf.restful("composite", method="POST", json=body)["compositeResponse"]
    # Then every step succeeds and the reference resolved to the new contact
    assert [r["httpStatusCode"] for r in response] == [201, 201, 200]
    contact_id = response[0]["body"]["id"]
    assert response[0]["httpHeaders"]["Location"] == f"/services/data/v59.0/sobjects/Contact/{contact_id}"
    assert response[2]["body"]["WhoId"] == contact_id
    assert response[2]["body"]["AccountId"] == harness.keys["acme"]


def test_composite_without_all_or_none_halts_only_dependents(sf: SalesforceClient) -> None:
    # Given a failing first step and a second step referencing it, and an independent third
    body = {
        "allOrNone": False,
        "compositeRequest": [
            {
                "method": "POST",
                "url": "/services/data/v59.0/sobjects/Contact",
                "referenceId": "bad",
                "body": {},
            },
            {
                "method": "POST",
                "url": "/services/data/v59.0/sobjects/Task",
                "referenceId": "dependent",
                "body": {"WhoId": "@{bad.id}"},
            },
            {
                "method": "POST",
                "url": "/services/data/v59.0/sobjects/Task",
                "referenceId": "independent",
                "body": {"Subject": "Alone"},
            },
        ],
    }
    # When it runs
    response = sf.restful("composite", method="POST", json=body)["compositeResponse"]
    # Then the first fails, the dependent one is halted and the independent one succeeds
    assert response[0]["httpStatusCode"] == 400
    assert response[0]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert response[1]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert response[2]["httpStatusCode"] == 201


def test_composite_caps_at_25_subrequests(sf: SalesforceClient) -> None:
    # Given 26 subrequests
    subrequests = [
        {"method": "GET", "url": "/services/data/v59.0/limits", "referenceId": f"r{n}"} for n in range(26)
    ]
    # When they are sent
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.restful("composite", method="POST", json={"compositeRequest": subrequests})
    # Then the request is refused
    assert raised.value.status == 400


def test_composite_takes_at_most_five_collections_or_query_subrequests(sf: SalesforceClient) -> None:
    # Given five subrequests that are sObject Collections or queries, and other subrequests beside
    collections: dict[str, Any] = {
        "method": "PATCH",
        "url": "/services/data/v59.0/composite/sobjects",
        "body": {"allOrNone": False, "records": []},
    }
    query: dict[str, Any] = {"method": "GET", "url": "/services/data/v59.0/query?q=SELECT+Id+FROM+Task"}
    limits = {"method": "GET", "url": "/services/data/v59.0/limits"}
    five = [
        collections,
        collections,
        query,
        collections,
        {**query, "url": query["url"].replace("query", "queryAll", 1)},
    ]
    body = [{**sub, "referenceId": f"r{n}"} for n, sub in enumerate([*five, limits, limits])]

    # When they are sent, Then they run
    response = sf.restful("composite", method="POST", json={"compositeRequest": body})["compositeResponse"]
    assert [r["httpStatusCode"] for r in response] == [200] * 7

    # When a sixth Collections subrequest joins them, Then the request is refused as a whole
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.restful(
            "composite",
            method="POST",
            json={"compositeRequest": [*body, {**collections, "referenceId": "sixth"}]},
        )
    assert raised.value.status == 400
    assert "5" in error_content(raised.value)[0]["message"]


def test_upsert_with_unknown_external_id_field_is_not_found(sf: SalesforceClient) -> None:
    # Given a field that does not exist and one that is not an external id
    # When upserts use them
    with pytest.raises(SalesforceResourceNotFound):
        sf.Task.upsert("No_Such_Field__c/1", {"Subject": "x"})
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.Task.upsert("Subject/1", {"Subject": "x"})
    # Then 404 NOT_FOUND and 400 INVALID_FIELD
    assert error_content(raised.value)[0]["errorCode"] == "INVALID_FIELD"
