"""API allocation and the Sforce-Limit-Info header, injected faults, the clock, and the
updated/deleted replication windows."""

from __future__ import annotations

import datetime as dt
import time

import pytest
import requests
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)

from activity_sync_tools.sandbox.salesforce.testing import Harness, SalesforceClient, error_content

pytestmark = pytest.mark.integration


def test_every_call_spends_one_request_and_reports_it(sf: SalesforceClient, harness: Harness) -> None:
    # Given a fresh allocation
    token = harness.access_token()
    # When a query, a 200-record collection and a composite of three subrequests run
    first = harness.api("GET", "/query", token, params={"q": "SELECT Id FROM Contact"})
    records = [{"attributes": {"type": "Task"}, "Subject": str(n)} for n in range(200)]
    collection = harness.api("POST", "/composite/sobjects", token, json={"records": records})
    composite = harness.api(
        "POST",
        "/composite",
        token,
        json={
            "compositeRequest": [
                {"method": "GET", "url": "/services/data/v59.0/limits", "referenceId": f"r{n}"}
                for n in range(3)
            ]
        },
    )
    limits = sf.limits()
    # Then each answers Sforce-Limit-Info and the collection and composite count once each
    assert first.headers["Sforce-Limit-Info"] == "api-usage=1/100000"
    assert collection.headers["Sforce-Limit-Info"] == "api-usage=2/100000"
    assert composite.headers["Sforce-Limit-Info"] == "api-usage=3/100000"
    assert limits["DailyApiRequests"] == {"Max": 100000, "Remaining": 99996}
    assert sf.api_usage["api-usage"].used == 4


def test_spent_allocation_refuses_calls_with_request_limit_exceeded(
    sf: SalesforceClient, harness: Harness
) -> None:
    # Given two requests left today
    harness.admin.post("/limits", {"remaining": 2})
    # When three calls are made
    sf.query("SELECT Id FROM Contact")
    sf.query("SELECT Id FROM Lead")
    with pytest.raises(SalesforceRefusedRequest) as raised:
        sf.query("SELECT Id FROM Task")
    # Then the third gets 403 REQUEST_LIMIT_EXCEEDED until the 24-hour window rolls over
    assert error_content(raised.value) == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    harness.admin.post("/clock", {"advance_seconds": 24 * 3600 + 1})
    fresh = harness.client()
    assert fresh.limits()["DailyApiRequests"]["Remaining"] == 99999


def test_rate_limit_fault_answers_429_with_retry_after(sf: SalesforceClient, harness: Harness) -> None:
    # Given a one-shot rate-limit fault on queries
    harness.admin.post(
        "/faults", {"route": "GET /services/data/*/query*", "kind": "rate_limit", "retry_after": 7}
    )
    token = harness.access_token()
    # When the query runs twice
    first = harness.api("GET", "/query", token, params={"q": "SELECT Id FROM Contact"})
    second = harness.api("GET", "/query", token, params={"q": "SELECT Id FROM Contact"})
    # Then the first is a 429 with Retry-After and an error array, the second succeeds
    assert first.status_code == 429
    assert first.headers["Retry-After"] == "7"
    assert first.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert "Sforce-Limit-Info" in first.headers
    assert second.status_code == 200


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ({"kind": "server_error"}, 500, "UNKNOWN_EXCEPTION"),
        ({"kind": "status", "status": 503}, 503, "SERVER_UNAVAILABLE"),
        ({"kind": "status", "status": 400}, 400, "UNABLE_TO_LOCK_ROW"),
    ],
)
def test_server_error_faults_are_salesforce_shaped(
    sf: SalesforceClient, harness: Harness, fault: dict[str, object], status: int, code: str
) -> None:
    # Given a fault on task creation
    harness.admin.post("/faults", {"route": "POST /services/data/*/sobjects/Task*", **fault})
    # When a task is created
    with pytest.raises((SalesforceGeneralError, SalesforceMalformedRequest)) as raised:
        sf.Task.create({"Subject": "x"})
    # Then the status and error code are Salesforce's and nothing was written
    assert raised.value.status == status
    assert error_content(raised.value)[0]["errorCode"] == code
    assert sf.query("SELECT COUNT() FROM Task")["totalSize"] == 0


def test_expired_session_fault(sf: SalesforceClient, harness: Harness) -> None:
    # Given an expired-session fault
    harness.admin.post("/faults", {"route": "* /services/data/*", "kind": "expired_session"})
    # When any call is made
    with pytest.raises(SalesforceExpiredSession) as raised:
        sf.limits()
    # Then simple-salesforce sees INVALID_SESSION_ID (which is what triggers its session refresh)
    assert error_content(raised.value)[0]["errorCode"] == "INVALID_SESSION_ID"


def test_slow_fault_delays_the_answer(sf: SalesforceClient, harness: Harness) -> None:
    # Given a 0.3-second delay on limits
    harness.admin.post(
        "/faults", {"route": "GET /services/data/*/limits*", "kind": "slow", "delay_seconds": 0.3}
    )
    # When limits are read
    started = time.monotonic()
    limits = sf.limits()
    # Then the answer is correct but late
    assert time.monotonic() - started >= 0.3
    assert limits["DailyApiRequests"]["Max"] == 100000


def test_drop_fault_closes_the_connection(harness: Harness) -> None:
    # Given a dropped-connection fault
    harness.admin.post("/faults", {"route": "GET /services/data/*/limits*", "kind": "drop"})
    token = harness.access_token()
    # When limits are read
    with pytest.raises(requests.ConnectionError):
        harness.api("GET", "/limits", token)
    # Then the next call works again
    assert harness.api("GET", "/limits", token).status_code == 200


def test_faults_can_target_the_token_endpoint(harness: Harness) -> None:
    # Given a 503 on the OAuth token endpoint
    harness.admin.post("/faults", {"route": "POST /services/oauth2/token", "kind": "status", "status": 503})
    # When a token is requested
    response = harness.token()
    # Then the failure is OAuth-shaped
    assert response.status_code == 503
    assert set(response.json()) == {"error", "error_description"}


def test_request_log_counts_calls_per_route(sf: SalesforceClient, harness: Harness) -> None:
    # Given a clean request log
    harness.admin.call("DELETE", "/requests", 200)
    # When two queries and one create run
    sf.query("SELECT Id FROM Contact")
    sf.query("SELECT Id FROM Lead")
    sf.Task.create({"Subject": "x"})
    # Then the counters show them per route template
    counters = harness.admin.get("/counters")["counters"]
    assert counters["GET /services/data/<version>/query"] == 2
    assert counters["GET,POST /services/data/<version>/sobjects/<sobject>"] == 1


def test_updated_and_deleted_windows(sf: SalesforceClient, harness: Harness) -> None:
    # Given tasks created at 10:00, one updated at 10:05 and one deleted at 10:07
    harness.admin.post("/clock", {"now": "2024-05-01T10:00:00+00:00", "frozen": True})
    first = sf.Task.create({"Subject": "a"})["id"]
    second = sf.Task.create({"Subject": "b"})["id"]
    harness.admin.post("/clock", {"now": "2024-05-01T10:05:30+00:00", "frozen": True})
    sf.Task.update(first, {"Subject": "a2"})
    harness.admin.post("/clock", {"now": "2024-05-01T10:07:00+00:00", "frozen": True})
    sf.Task.delete(second)
    harness.admin.post("/clock", {"now": "2024-05-01T11:00:00+00:00", "frozen": True})
    # When the service asks what changed since 10:01 and what was deleted since 10:00
    start = dt.datetime(2024, 5, 1, 10, 1, tzinfo=dt.UTC)
    end = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    updated = sf.Task.updated(start, end)
    deleted = sf.Task.deleted(dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.UTC), end)
    # Then the answers list ids in the windows, covered up to "now"
    assert updated == {"ids": [first], "latestDateCovered": "2024-05-01T11:00:00.000+0000"}
    assert deleted["deletedRecords"] == [{"id": second, "deletedDate": "2024-05-01T10:07:00.000+0000"}]
    assert deleted["latestDateCovered"] == "2024-05-01T11:00:00.000+0000"
    assert deleted["earliestDateAvailable"] == "2024-04-16T11:00:00.000+0000"


def test_replication_windows_refuse_old_starts(sf: SalesforceClient, harness: Harness) -> None:
    # Given "now" is 2024-05-01
    harness.admin.post("/clock", {"now": "2024-05-01T00:00:00+00:00", "frozen": True})
    end = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    # When updated() starts 31 days back and deleted() 16 days back
    with pytest.raises(SalesforceMalformedRequest) as updated:
        sf.Task.updated(end - dt.timedelta(days=31), end)
    with pytest.raises(SalesforceMalformedRequest) as deleted:
        sf.Task.deleted(end - dt.timedelta(days=16), end)
    # Then both are refused
    assert error_content(updated.value)[0]["errorCode"] == "INVALID_REPLICATION_DATE"
    assert error_content(deleted.value)[0]["errorCode"] == "INVALID_REPLICATION_DATE"


def test_clock_controls_record_timestamps(sf: SalesforceClient, harness: Harness) -> None:
    # Given the clock set 40 days in the past and then advanced by an hour
    harness.admin.post("/clock", {"now": "2023-12-01T08:00:00+00:00"})
    early = sf.Task.create({"Subject": "early"})["id"]
    clock = harness.admin.post("/clock", {"advance_seconds": 3600})
    late = sf.Task.create({"Subject": "late"})["id"]
    # When the records are read
    early_stamp = sf.Task.get(early)["CreatedDate"]
    late_stamp = sf.Task.get(late)["CreatedDate"]
    # Then their stamps follow the sandbox clock, not the machine's
    assert early_stamp.startswith("2023-12-01T08:00")
    assert late_stamp.startswith("2023-12-01T09:00")
    assert clock["frozen"] is False
