"""CRM search through the official client: every operator, sorts, limits, paging over thousands of
records, the 10,000-result cap, association filters, index lag and short pages."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.objects import BatchInputSimplePublicObjectBatchInputForCreate, PublicObjectSearchRequest
from hubspot.crm.objects.exceptions import ApiException

from activity_sync_tools.sandbox.hubspot import HubSpotSandbox
from activity_sync_tools.sandbox.hubspot.testing import Admin

pytestmark = pytest.mark.usefixtures("relaxed_limits")


def search(client: HubSpot, object_type: str = "calls", **request: Any) -> Any:
    body = {"filter_groups": [], "sorts": [], "properties": [], "limit": 100, "after": None, **request}
    return client.crm.objects.search_api.do_search(object_type, PublicObjectSearchRequest(**body))


def titles(result: Any) -> list[str]:
    return [r.properties["hs_call_title"] for r in result.results]


@pytest.fixture
def five_calls(admin: Admin) -> list[dict[str, Any]]:
    """Calls 1..5: durations 10..50 s, timestamps on days 1..5, call 5 without direction."""
    created = []
    for number in range(1, 6):
        properties = {
            "hs_timestamp": f"2024-03-0{number}T12:00:00Z",
            "hs_call_title": f"Call {number} about pricing-{number}",
            "hs_call_duration": str(number * 10_000),
        }
        if number < 5:
            properties["hs_call_direction"] = "INBOUND" if number % 2 else "OUTBOUND"
        created.append(admin.create("calls", properties))
    return created


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"propertyName": "hs_call_direction", "operator": "EQ", "value": "inbound"}, [1, 3]),
        ({"propertyName": "hs_call_direction", "operator": "NEQ", "value": "INBOUND"}, [2, 4, 5]),
        ({"propertyName": "hs_call_duration", "operator": "LT", "value": "30000"}, [1, 2]),
        ({"propertyName": "hs_call_duration", "operator": "LTE", "value": "30000"}, [1, 2, 3]),
        ({"propertyName": "hs_call_duration", "operator": "GT", "value": "30000"}, [4, 5]),
        ({"propertyName": "hs_call_duration", "operator": "GTE", "value": "30000"}, [3, 4, 5]),
        (
            {
                "propertyName": "hs_timestamp",
                "operator": "BETWEEN",
                "value": "2024-03-02T12:00:00Z",  # call 2's instant: both bounds are inclusive
                "highValue": "1709553600000",
            },
            [2, 3, 4],
        ),
        ({"propertyName": "hs_call_direction", "operator": "IN", "values": ["OUTBOUND", "NONE"]}, [2, 4]),
        ({"propertyName": "hs_call_direction", "operator": "NOT_IN", "values": ["OUTBOUND"]}, [1, 3, 5]),
        ({"propertyName": "hs_call_direction", "operator": "HAS_PROPERTY"}, [1, 2, 3, 4]),
        ({"propertyName": "hs_call_direction", "operator": "NOT_HAS_PROPERTY"}, [5]),
        ({"propertyName": "hs_call_title", "operator": "CONTAINS_TOKEN", "value": "pricing-3"}, [3]),
        ({"propertyName": "hs_call_title", "operator": "CONTAINS_TOKEN", "value": "*ing-4"}, [4]),
        ({"propertyName": "hs_call_title", "operator": "NOT_CONTAINS_TOKEN", "value": "call"}, []),
        ({"propertyName": "hs_timestamp", "operator": "GTE", "value": "1709467200000"}, [3, 4, 5]),
    ],
)
def test_operators(
    client: HubSpot, five_calls: list[dict[str, Any]], condition: dict[str, Any], expected: list[int]
) -> None:
    # Given five calls; When searching with one filter
    result = search(client, filter_groups=[{"filters": [condition]}], properties=["hs_call_title"])

    # Then exactly the expected calls match and total counts them
    assert [int(t.split()[1]) for t in titles(result)] == expected
    assert result.total == len(expected)


def test_filter_groups_or_and_filters_and(client: HubSpot, five_calls: list[dict[str, Any]]) -> None:
    # When one group asks for inbound calls over 20 s, another for call 2
    result = search(
        client,
        filter_groups=[
            {
                "filters": [
                    {"propertyName": "hs_call_direction", "operator": "EQ", "value": "INBOUND"},
                    {"propertyName": "hs_call_duration", "operator": "GT", "value": "20000"},
                ]
            },
            {
                "filters": [
                    {"propertyName": "hs_call_title", "operator": "CONTAINS_TOKEN", "value": "pricing-2"}
                ]
            },
        ],
        properties=["hs_call_title"],
    )
    # Then the groups are ORed and the filters within a group ANDed
    assert [t.split()[1] for t in titles(result)] == ["2", "3"]


def test_sorts_both_directions_and_missing_values_last(
    client: HubSpot, five_calls: list[dict[str, Any]]
) -> None:
    # When sorting by direction descending and by duration with the object form
    by_direction = search(client, sorts=["-hs_call_direction"], properties=["hs_call_title"])
    by_duration = search(
        client,
        sorts=[{"propertyName": "hs_call_duration", "direction": "DESCENDING"}],
        properties=["hs_call_title"],
    )
    # Then ties keep id order and calls without the property come last
    assert [t.split()[1] for t in titles(by_direction)] == ["2", "4", "1", "3", "5"]
    assert [t.split()[1] for t in titles(by_duration)] == ["5", "4", "3", "2", "1"]


def test_default_and_requested_properties(client: HubSpot, five_calls: list[dict[str, Any]]) -> None:
    # When searching without and with a properties list
    plain = search(client, limit=1)
    chosen = search(client, limit=1, properties=["hs_call_duration", "hs_call_direction"])
    # Then engagements answer HubSpot's default three, or exactly the requested ones
    assert set(plain.results[0].properties) == {"hs_createdate", "hs_lastmodifieddate", "hs_object_id"}
    assert chosen.results[0].properties == {"hs_call_duration": "10000", "hs_call_direction": "INBOUND"}


@pytest.mark.parametrize(
    ("request_body", "fragment"),
    [
        ({"limit": 201}, "limit must be between 1 and 200"),
        ({"filter_groups": [{"filters": []}] * 6}, "Too many filter groups"),
        (
            {
                "filter_groups": [
                    {"filters": [{"propertyName": "hs_call_title", "operator": "HAS_PROPERTY"}] * 11}
                ]
            },
            "Too many filters in a filter group",
        ),
        (
            {
                "filter_groups": [
                    {"filters": [{"propertyName": "hs_call_title", "operator": "HAS_PROPERTY"}] * 9}
                ]
                * 3
            },
            "Too many filters: 27",
        ),
        ({"sorts": ["hs_call_title", "hs_timestamp"]}, "Only one sort"),
        (
            {"filter_groups": [{"filters": [{"propertyName": "nope", "operator": "HAS_PROPERTY"}]}]},
            "Property nope does not exist",
        ),
    ],
)
def test_invalid_requests(client: HubSpot, request_body: dict[str, Any], fragment: str) -> None:
    # When a search breaks one of HubSpot's limits
    with pytest.raises(ApiException) as rejected:
        search(client, **request_body)
    # Then it is a 400 VALIDATION_ERROR that says which
    body = json.loads(rejected.value.body)
    assert rejected.value.status == 400
    assert body["category"] == "VALIDATION_ERROR"
    assert fragment in body["message"]


def test_paging_over_2500_records(client: HubSpot) -> None:
    # Given 2,500 calls created in batches of 100 (answers left raw: parsing 5,000 timestamps
    # client-side would dominate the test's run time)
    for start in range(0, 2500, 100):
        raw = client.crm.objects.batch_api.create(
            "calls",
            BatchInputSimplePublicObjectBatchInputForCreate(
                inputs=[
                    {"properties": {"hs_timestamp": "2024-01-01T00:00:00Z", "hs_call_title": f"c{n}"}}
                    for n in range(start, start + 100)
                ]
            ),
            _preload_content=False,
        )
        assert raw.status == 201

    # When all are searched 200 at a time following paging.next.after
    seen: list[str] = []
    after = None
    totals = set()
    while True:
        page = search(client, limit=200, after=after, properties=["hs_call_title"])
        totals.add(page.total)
        seen.extend(r.properties["hs_call_title"] for r in page.results)
        if page.paging is None:
            break
        after = page.paging.next.after

    # Then every call comes exactly once and total is stable
    assert totals == {2500}
    assert seen == [f"c{n}" for n in range(2500)]


def test_the_10000_result_cap(client: HubSpot, server: Any) -> None:
    # Given 10,050 calls (seeded in-process: creating them over HTTP would only slow the test down)
    sandbox: HubSpotSandbox = server.app
    sandbox.load_seed({"calls": [{"properties": {"hs_timestamp": "2024-01-01T00:00:00Z"}}] * 10_050})

    # When the page that ends at 10,000 is read and its next cursor followed
    last = search(client, limit=200, after="9900")
    with pytest.raises(ApiException) as beyond:
        search(client, limit=200, after=last.paging.next.after)

    # Then total counts every match, the last page stops at 10,000 yet offers a cursor, and that cursor fails
    assert last.total == 10_050
    assert len(last.results) == 100
    assert last.paging.next.after == "10000"
    assert beyond.value.status == 400
    assert "limited to 10000" in json.loads(beyond.value.body)["message"]


def test_association_pseudo_property(client: HubSpot, admin: Admin) -> None:
    # Given two contacts and calls associated with one or the other
    alice = admin.create("contacts", {"email": "alice@example.com"})
    bob = admin.create("contacts", {"email": "bob@example.com"})
    for person, title in ((alice, "A1"), (bob, "B1"), (alice, "A2")):
        admin.create(
            "calls",
            {"hs_timestamp": "2024-01-01T00:00:00Z", "hs_call_title": title},
            associations=[{"type": "contacts", "id": person["id"]}],
        )

    # When calls are searched by associations.contact
    only_alice = search(
        client,
        filter_groups=[
            {"filters": [{"propertyName": "associations.contact", "operator": "EQ", "value": alice["id"]}]}
        ],
        properties=["hs_call_title"],
    )
    either = search(
        client,
        filter_groups=[
            {
                "filters": [
                    {
                        "propertyName": "associations.contact",
                        "operator": "IN",
                        "values": [alice["id"], bob["id"]],
                    }
                ]
            }
        ],
        properties=["hs_call_title"],
    )
    # Then the association filters pick the right calls
    assert titles(only_alice) == ["A1", "A2"]
    assert titles(either) == ["A1", "B1", "A2"]


def test_contacts_search_by_email_and_lastmodifieddate(client: HubSpot, admin: Admin) -> None:
    # Given contacts created on different days
    admin.post("clock", {"now": "2024-01-01T00:00:00+00:00", "frozen": True})
    admin.create("contacts", {"email": "old@example.com"})
    admin.post("clock", {"now": "2024-02-01T00:00:00+00:00", "frozen": True})
    admin.create("contacts", {"email": "new@example.com"})

    # When contacts modified since mid-January, and one email in upper case, are searched
    recent = search(
        client,
        "contacts",
        filter_groups=[
            {
                "filters": [
                    {"propertyName": "lastmodifieddate", "operator": "GTE", "value": "2024-01-15T00:00:00Z"}
                ]
            }
        ],
    )
    by_email = search(
        client,
        "contacts",
        filter_groups=[
            {"filters": [{"propertyName": "email", "operator": "EQ", "value": "OLD@example.com"}]}
        ],
    )
    # Then dates compare as instants and emails case-insensitively
    assert [r.properties["email"] for r in recent.results] == ["new@example.com"]
    assert [r.properties["email"] for r in by_email.results] == ["old@example.com"]


def test_query_text(client: HubSpot, five_calls: list[dict[str, Any]]) -> None:
    # When searching with free text
    result = search(client, query="pricing-5", properties=["hs_call_title"])
    # Then matching records come back
    assert [t.split()[1] for t in titles(result)] == ["5"]


def test_index_lag_hides_new_records_for_a_while(client: HubSpot, admin: Admin) -> None:
    # Given search indexing that lags 30 s behind writes
    admin.post("config", {"search_index_lag_seconds": 30})
    admin.post("clock", {"now": "2024-01-01T00:00:00+00:00", "frozen": True})
    admin.create("calls", {"hs_timestamp": "2024-01-01T00:00:00Z"})

    # When searching at once, and 31 seconds later
    at_once = search(client)
    admin.post("clock", {"advance_seconds": 31})
    later = search(client)

    # Then the new call only shows up once indexed
    assert at_once.total == 0
    assert later.total == 1


def test_short_pages_still_carry_a_cursor(client: HubSpot, admin: Admin) -> None:
    # Given search pages that come back 3 records short, and 10 calls
    admin.post("config", {"search_short_page_by": 3})
    for number in range(10):
        admin.create("calls", {"hs_timestamp": "2024-01-01T00:00:00Z", "hs_call_title": f"c{number}"})

    # When paging 5 at a time until no cursor is left
    seen: list[str] = []
    sizes: list[int] = []
    after = None
    while True:
        page = search(client, limit=5, after=after, properties=["hs_call_title"])
        sizes.append(len(page.results))
        seen.extend(titles(page))
        if page.paging is None:
            break
        after = page.paging.next.after

    # Then pages are short, yet following the cursor loses nothing
    assert sizes == [2, 2, 2, 2, 2]
    assert seen == [f"c{n}" for n in range(10)]
