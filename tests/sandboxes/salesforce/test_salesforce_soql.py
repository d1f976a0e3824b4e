"""The SOQL subset: operators, literals, ordering, paging, queryAll and errors."""

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest
from simple_salesforce.format import format_soql

from activity_sync_tools.sandbox.salesforce.testing import Harness, SalesforceClient, error_content

pytestmark = pytest.mark.integration


@pytest.fixture
def tasks(harness: Harness) -> dict[str, str]:
    """Five tasks with known values, created at known instants."""
    harness.admin.post("/clock", {"now": "2024-01-10T09:00:00+00:00", "frozen": True})
    rows: list[dict[str, Any]] = [
        {
            "key": "t1",
            "Subject": "Opened: Newsletter",
            "Status": "Completed",
            "Priority": "High",
            "CallDurationInSeconds": 10,
            "ActivityDate": "2024-01-05",
            "WhoId": "@ada",
        },
        {
            "key": "t2",
            "Subject": "Sent: Pricing",
            "Status": "Not Started",
            "CallDurationInSeconds": 60,
            "ActivityDate": "2024-01-20",
            "WhoId": "@lin",
            "OwnerId": "@alice",
        },
        {
            "key": "t3",
            "Subject": "opened: Webinar 100%",
            "Status": "In Progress",
            "WhoId": "@ada",
            "Type": "Email",
        },
        {
            "key": "t4",
            "Subject": "Call with O'Brien",
            "Status": "Deferred",
            "CallDurationInSeconds": 300,
            "Type": "Call",
        },
        {"key": "t5", "Subject": None, "Status": "Completed", "HubSpot_Activity_Id__c": "hs-5"},
    ]
    for index, row in enumerate(rows):
        stamp = f"2024-01-10T09:0{index}:00Z"
        harness.admin.post("/seed", {"tasks": [{**row, "CreatedDate": stamp, "LastModifiedDate": stamp}]})
    return harness.admin.post("/seed", {})["keys"]  # type: ignore[no-any-return]


def _subjects(sf: SalesforceClient, where: str) -> set[str | None]:
    # The WHERE clauses are the test's own literals, written out to exercise the parser.
    soql = f"SELECT Subject FROM Task WHERE {where}"  # noqa: S608
    return {r["Subject"] for r in sf.query_all(soql)["records"]}


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Status = 'Completed'", {"Opened: Newsletter", None}),
        ("Status = 'completed'", {"Opened: Newsletter", None}),  # text comparisons ignore case
        ("Status != 'Completed'", {"Sent: Pricing", "opened: Webinar 100%", "Call with O'Brien"}),
        ("Status <> 'Completed'", {"Sent: Pricing", "opened: Webinar 100%", "Call with O'Brien"}),
        ("CallDurationInSeconds < 60", {"Opened: Newsletter"}),
        ("CallDurationInSeconds <= 60", {"Opened: Newsletter", "Sent: Pricing"}),
        ("CallDurationInSeconds > 60", {"Call with O'Brien"}),
        ("CallDurationInSeconds >= 60", {"Sent: Pricing", "Call with O'Brien"}),
        ("Status IN ('Deferred', 'In Progress')", {"opened: Webinar 100%", "Call with O'Brien"}),
        ("Status NOT IN ('Completed', 'Deferred')", {"Sent: Pricing", "opened: Webinar 100%"}),
        ("Subject LIKE 'opened:%'", {"Opened: Newsletter", "opened: Webinar 100%"}),
        ("Subject LIKE '%100\\%'", {"opened: Webinar 100%"}),
        ("Subject LIKE 'Sent: Pric_ng'", {"Sent: Pricing"}),
        ("Subject = 'Call with O\\'Brien'", {"Call with O'Brien"}),
        ("Subject = null", {None}),
        ("Type != null AND Status != 'Deferred'", {"opened: Webinar 100%"}),
        (
            "Priority = 'High' OR (Type = 'Call' AND CallDurationInSeconds > 100)",
            {"Opened: Newsletter", "Call with O'Brien"},
        ),
        ("NOT Status = 'Completed' AND NOT (Type = 'Call')", {"Sent: Pricing", "opened: Webinar 100%"}),
        ("IsClosed = true", {"Opened: Newsletter", None}),
        (
            "IsClosed = FALSE AND IsHighPriority = false",
            {"Sent: Pricing", "opened: Webinar 100%", "Call with O'Brien"},
        ),
        ("CreatedDate > 2024-01-10T09:02:00Z", {"Call with O'Brien", None}),
        ("CreatedDate >= 2024-01-10T09:02:00.000+00:00", {"opened: Webinar 100%", "Call with O'Brien", None}),
        ("CreatedDate < 2024-01-10T10:01:00+01:00", {"Opened: Newsletter"}),
        ("ActivityDate > 2024-01-10", {"Sent: Pricing"}),
        ("HubSpot_Activity_Id__c = 'HS-5'", {None}),
    ],
)
def test_where_operators(
    sf: SalesforceClient, tasks: dict[str, str], where: str, expected: set[str | None]
) -> None:
    # Given five known tasks
    # When they are filtered
    found = _subjects(sf, where)
    # Then exactly the expected ones match
    assert found == expected


def test_filter_on_ids_accepts_15_and_18_characters(sf: SalesforceClient, tasks: dict[str, str]) -> None:
    # Given two task ids
    first, second = tasks["t1"], tasks["t2"]
    # When they are queried by 15- and 18-character ids and by a reference field
    by_id = sf.query(format_soql("SELECT Id FROM Task WHERE Id IN {}", [first[:15], second]))
    by_who = sf.query(format_soql("SELECT Id FROM Task WHERE WhoId = {} ORDER BY Id", tasks["ada"]))
    # Then both forms match
    assert {r["Id"] for r in by_id["records"]} == {first, second}
    assert [r["Id"] for r in by_who["records"]] == [tasks["t1"], tasks["t3"]]


def test_select_projects_fields_and_parent_relationships(sf: SalesforceClient, tasks: dict[str, str]) -> None:
    # Given a task on a contact owned by the integration user
    # When fields and parent fields are selected
    result = sf.query(
        format_soql(
            "SELECT Id, Subject, Who.Email, Who.Name, Owner.Username FROM Task WHERE Id = {}", tasks["t1"]
        )
    )
    record = result["records"][0]
    # Then the record carries only those, with nested parent records
    assert list(record) == ["attributes", "Id", "Subject", "Who", "Owner"]
    assert record["attributes"] == {
        "type": "Task",
        "url": f"/services/data/v59.0/sobjects/Task/{tasks['t1']}",
    }
    assert record["Who"]["attributes"]["type"] == "Contact"
    assert (record["Who"]["Email"], record["Who"]["Name"]) == ("ada@example.com", "Ada Lovelace")
    assert record["Owner"]["Username"] == "integration.user@sandbox.example.com"
    assert result["totalSize"] == 1
    assert result["done"] is True


def test_order_by_limit_offset_and_count(sf: SalesforceClient, tasks: dict[str, str]) -> None:
    # Given five tasks
    # When ordered by several keys, paged with LIMIT/OFFSET, and counted
    by_status = sf.query("SELECT Subject, Status FROM Task ORDER BY Status DESC, CreatedDate ASC")["records"]
    nulls_last = sf.query("SELECT Subject FROM Task ORDER BY Subject ASC NULLS LAST")["records"]
    window = sf.query("SELECT Subject FROM Task ORDER BY CreatedDate LIMIT 2 OFFSET 1")["records"]
    count = sf.query("SELECT COUNT() FROM Task WHERE Status = 'Completed'")
    # Then the ordering, window and count are Salesforce's
    assert [r["Status"] for r in by_status] == [
        "Not Started",
        "In Progress",
        "Deferred",
        "Completed",
        "Completed",
    ]
    assert [r["Subject"] for r in by_status][-2:] == ["Opened: Newsletter", None]
    assert [r["Subject"] for r in nulls_last] == [
        "Call with O'Brien",
        "Opened: Newsletter",
        "opened: Webinar 100%",
        "Sent: Pricing",
        None,
    ]
    assert [r["Subject"] for r in window] == ["Sent: Pricing", "opened: Webinar 100%"]
    assert count == {"totalSize": 2, "done": True, "records": []}


def test_query_all_pages_over_4500_records(sf: SalesforceClient, harness: Harness) -> None:
    # Given 4,500 tasks
    harness.admin.post("/seed", {"tasks": [{"Subject": f"Bulk {n:04d}"} for n in range(4500)]})
    # When the first page is fetched, then all pages through nextRecordsUrl
    first = sf.query("SELECT Id, Subject FROM Task ORDER BY Subject")
    everything = sf.query_all("SELECT Id, Subject FROM Task ORDER BY Subject")
    # Then pages hold 2,000 rows and carry a query locator URL, and paging returns every row once
    assert first["totalSize"] == 4500
    assert first["done"] is False
    assert len(first["records"]) == 2000
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    assert first["nextRecordsUrl"].endswith("-2000")
    subjects = [r["Subject"] for r in everything["records"]]
    assert subjects == [f"Bulk {n:04d}" for n in range(4500)]
    assert len({r["Id"] for r in everything["records"]}) == 4500


def test_query_more_with_an_unknown_locator_is_refused(sf: SalesforceClient) -> None:
    # Given a locator that was never issued
    # When it is followed
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.query_more("/services/data/v59.0/query/01g8d0000000099AAA-2000", identifier_is_url=True)
    # Then INVALID_QUERY_LOCATOR
    assert error_content(raised.value)[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_query_all_includes_deleted_rows(sf: SalesforceClient, tasks: dict[str, str]) -> None:
    # Given one deleted task
    sf.Task.delete(tasks["t2"])
    # When query and queryAll run
    live = sf.query("SELECT Id FROM Task")
    everything = sf.query_all("SELECT Id, IsDeleted FROM Task", include_deleted=True)
    only_deleted = sf.query_all("SELECT Id FROM Task WHERE IsDeleted = true", include_deleted=True)
    # Then query hides it and queryAll returns it with IsDeleted true
    assert tasks["t2"] not in {r["Id"] for r in live["records"]}
    deleted_rows = [r for r in everything["records"] if r["IsDeleted"]]
    assert [r["Id"] for r in deleted_rows] == [tasks["t2"]]
    assert [r["Id"] for r in only_deleted["records"]] == [tasks["t2"]]


def test_polling_query_by_system_modstamp(
    sf: SalesforceClient, harness: Harness, tasks: dict[str, str]
) -> None:
    # Given a watermark, then a change by another user an hour later
    harness.admin.post("/clock", {"now": "2024-01-10T10:00:00+00:00", "frozen": True})
    harness.admin.patch(
        f"/sobjects/Task/{tasks['t4']}", {"as_user": "@bob", "fields": {"Status": "Completed"}}
    )
    # When the service polls with its watermark
    changed = sf.query_all(
        "SELECT Id, LastModifiedById, SystemModstamp FROM Task WHERE SystemModstamp > 2024-01-10T09:30:00Z "
        "ORDER BY SystemModstamp, Id",
        include_deleted=True,
    )["records"]
    # Then only the changed task comes back, marked with bob as modifier
    assert [(r["Id"], r["LastModifiedById"]) for r in changed] == [(tasks["t4"], tasks["bob"])]
    assert changed[0]["SystemModstamp"] == "2024-01-10T10:00:00.000+0000"


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT FROM Task", "MALFORMED_QUERY"),
        ("SELECT Id Task", "MALFORMED_QUERY"),
        ("SELECT Id FROM Task WHERE", "MALFORMED_QUERY"),
        ("SELECT Id FROM Task WHERE Subject = 'unterminated", "MALFORMED_QUERY"),
        ("SELECT Id FROM Task WHERE Subject = 5", "MALFORMED_QUERY"),
        ("SELECT Id FROM Task WHERE CreatedDate > '2024-01-01'", "MALFORMED_QUERY"),
        ("SELECT Id FROM Task WHERE CreatedDate > 2024-01-01", "MALFORMED_QUERY"),
        ("SELECT Id FROM Task WHERE CreatedDate = LAST_N_DAYS:7", "MALFORMED_QUERY"),
        ("SELECT Id FROM Task WHERE IsClosed = 'true'", "MALFORMED_QUERY"),
        ("SELECT Id FROM Task GROUP BY Status", "MALFORMED_QUERY"),
        ("SELECT COUNT(Id) FROM Task", "MALFORMED_QUERY"),
        ("SELECT Id, (SELECT Id FROM Tasks) FROM Contact", "MALFORMED_QUERY"),
        ("SELECT Id FROM Task LIMIT ten", "MALFORMED_QUERY"),
        ("SELECT Id, Id FROM Task", "MALFORMED_QUERY"),
        ("SELECT Id FROM Task OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE"),
        ("SELECT Colour__c FROM Task", "INVALID_FIELD"),
        ("SELECT Id FROM Task WHERE Nope = 'x'", "INVALID_FIELD"),
        ("SELECT Id FROM Task ORDER BY Description", "INVALID_FIELD"),
        ("SELECT Nobody.Name FROM Task", "INVALID_FIELD"),
        ("SELECT Id FROM Widget__c", "INVALID_TYPE"),
        ("SELECT Id FROM Task WHERE WhoId = 'garbage'", "INVALID_QUERY_FILTER_OPERATOR"),
    ],
)
def test_malformed_and_invalid_queries(sf: SalesforceClient, soql: str, code: str) -> None:
    # Given a query outside the supported subset or naming unknown things
    # When it runs
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.query(soql)
    # Then the error code is Salesforce's, in an error array
    assert raised.value.status == 400
    assert error_content(raised.value)[0]["errorCode"] == code
    assert error_content(raised.value)[0]["message"]


def test_keywords_and_names_are_case_insensitive(sf: SalesforceClient, tasks: dict[str, str]) -> None:
    # Given mixed-case keywords, object and field names
    # When the query runs
    records = sf.query("select id, SUBJECT from task where status = 'Deferred' order by subject limit 5")[
        "records"
    ]
    # Then fields come back with their canonical names
    assert records == [
        {
            "attributes": {"type": "Task", "url": f"/services/data/v59.0/sobjects/Task/{tasks['t4']}"},
            "Id": tasks["t4"],
            "Subject": "Call with O'Brien",
        }
    ]


def test_contact_lookup_by_email_ignores_case(sf: SalesforceClient, harness: Harness) -> None:
    # Given a user whose email has capitals
    # When users are matched by email as the service does (R8)
    users = sf.query("SELECT Id FROM User WHERE Email = 'bob@example.com' AND IsActive = true")["records"]
    contacts = sf.query("SELECT Id FROM Contact WHERE Email IN ('ADA@example.com')")["records"]
    # Then the match ignores case
    assert [u["Id"] for u in users] == [harness.keys["bob"]]
    assert [c["Id"] for c in contacts] == [harness.keys["ada"]]
