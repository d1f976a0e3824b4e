"""The Tooling API subset (``tooling/query``): the org's Outbound Messages and the active flows that
send them, as the project's metadata deploys them, through simple-salesforce's own Tooling call."""

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from activity_sync_tools.sandbox.salesforce.testing import Harness, SalesforceClient, error_content

ENDPOINT = "https://stack.example.com/webhooks/salesforce/outbound-messages/t0ken"


def tooling(sf: SalesforceClient, soql: str) -> dict[str, Any]:
    answer: dict[str, Any] = sf.toolingexecute("query/?q=" + soql.replace(" ", "+"))
    return answer


@pytest.fixture
def configured(harness: Harness) -> list[dict[str, Any]]:
    body = {"endpoint_url": ENDPOINT, "objects": ["Task", "Event"]}
    return harness.admin.post("/outbound-messages", body, expected=201)["actions"]  # type: ignore[no-any-return]


def test_outbound_messages_are_listed_and_read_one_at_a_time_with_their_endpoint(
    sf: SalesforceClient, configured: list[dict[str, Any]]
) -> None:
    listed = tooling(sf, "SELECT Id, Name, EntityDefinitionId FROM WorkflowOutboundMessage")
    assert listed["totalSize"] == 2
    assert listed["done"] is True
    assert listed["entityTypeName"] == "WorkflowOutboundMessage"
    names = {record["EntityDefinitionId"]: record["Name"] for record in listed["records"]}
    assert names == {"Task": "HubSpot Activity Sync Task", "Event": "HubSpot Activity Sync Event"}
    assert listed["records"][0]["attributes"]["type"] == "WorkflowOutboundMessage"

    # Metadata only on a query that names at most one record, as Salesforce answers it
    with pytest.raises(SalesforceMalformedRequest) as refused:
        tooling(sf, "SELECT Id, Metadata FROM WorkflowOutboundMessage")
    assert error_content(refused.value)[0]["errorCode"] == "MALFORMED_QUERY"
    task = next(r for r in listed["records"] if r["EntityDefinitionId"] == "Task")
    query = f"SELECT Id, FullName, Metadata FROM WorkflowOutboundMessage WHERE Id = '{task['Id']}'"  # noqa: S608
    (one,) = tooling(sf, query)["records"]
    assert one["Metadata"]["endpointUrl"] == ENDPOINT
    assert one["FullName"] == "Task.HubSpot_Activity_Sync_Task"


def test_the_active_flows_on_task_and_event_call_their_outbound_message(
    sf: SalesforceClient, configured: list[dict[str, Any]]
) -> None:
    # FlowDefinitionView is a data API object: a plain query, not a Tooling one
    flows = sf.query(
        "SELECT Id, ApiName, ActiveVersionId, TriggerObjectOrEventId FROM FlowDefinitionView "
        "WHERE IsActive = true AND TriggerObjectOrEventId IN ('Task', 'Event')"
    )["records"]
    assert {f["ApiName"] for f in flows} == {
        "HubSpot_Activity_Sync_Task_Changed",
        "HubSpot_Activity_Sync_Event_Changed",
    }
    task_flow = next(f for f in flows if f["TriggerObjectOrEventId"] == "Task")
    query = f"SELECT Id, Status, Metadata FROM Flow WHERE Id = '{task_flow['ActiveVersionId']}'"  # noqa: S608
    (version,) = tooling(sf, query)["records"]
    assert version["Status"] == "Active"
    assert version["Metadata"]["start"]["object"] == "Task"
    assert version["Metadata"]["actionCalls"] == [
        {
            "name": "Send_HubSpot_Activity_Sync_Task",
            "actionType": "outboundMessage",
            "actionName": "Task.HubSpot_Activity_Sync_Task",
        }
    ]


def test_an_org_without_outbound_messages_lists_none_and_an_unknown_column_is_refused(
    sf: SalesforceClient,
) -> None:
    assert tooling(sf, "SELECT Id, Name FROM WorkflowOutboundMessage")["records"] == []
    for query in (
        "SELECT Id, EndpointUrl FROM WorkflowOutboundMessage",  # the endpoint is only in Metadata
        "SELECT Id FROM WorkflowOutboundMessage WHERE Endpoint = 'x'",
        "SELECT Id FROM FlowDefinitionView",  # not a Tooling object
    ):
        with pytest.raises(SalesforceMalformedRequest) as refused:
            tooling(sf, query)
        assert error_content(refused.value)[0]["errorCode"] == "INVALID_FIELD", query
