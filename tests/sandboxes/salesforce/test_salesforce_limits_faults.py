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


# -- probabilistic faults ---------------------------------------------------------------------------

LIMITS = "GET /services/data/*/limits*"


def _status_or_drop(harness: Harness, token: str) -> int:
    """The status of a limits call, or 0 when the connection was dropped."""
    try:
        return harness.api("GET", "/limits", token).status_code
    except requests.ConnectionError:
        return 0


def test_probabilistic_faults_fail_their_share_one_at_a_time_repeatably(harness: Harness) -> None:
    # Given five kinds of fault on limits, 4 % each, and a seed
    token = harness.access_token()
    harness.admin.post("/faults", {"seed": 11})
    for fault in (
        {"kind": "rate_limit"},
        {"kind": "server_error"},
        {"kind": "status", "status": 503},
        {"kind": "expired_session"},
        {"kind": "drop"},
    ):
        harness.admin.post("/faults", {"route": LIMITS, "probability": 0.04, **fault})
    # When limits are read 400 times, and 400 times more after seeding again
    first = [_status_or_drop(harness, token) for _ in range(400)]
    harness.admin.post("/faults", {"seed": 11})
    second = [_status_or_drop(harness, token) for _ in range(400)]
    # Then about a fifth failed, every kind had its turn, and the same seed gave the same run
    failed = [status for status in first if status != 200]
    assert 60 <= len(failed) <= 100
    assert set(failed) == {429, 500, 503, 401, 0}
    assert second == first
    assert sum(f["hits"] for f in harness.admin.get("/faults")["faults"]) == 2 * len(failed)
    logged = [e for e in harness.admin.get("/requests")["requests"] if e["path"].endswith("/limits")]
    assert len(logged) == 800
    assert sum(1 for e in logged if "fault" in e) == 2 * len(failed)


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ({"kind": "rate_limit", "retry_after": 4}, 429, "REQUEST_LIMIT_EXCEEDED"),
        ({"kind": "server_error"}, 500, "UNKNOWN_EXCEPTION"),
        ({"kind": "status", "status": 503}, 503, "SERVER_UNAVAILABLE"),
        ({"kind": "expired_session"}, 401, "INVALID_SESSION_ID"),
    ],
)
def test_each_kind_answers_the_same_under_probability(
    harness: Harness, fault: dict[str, object], status: int, code: str
) -> None:
    # Given a fault that always applies by probability (and so never runs out)
    token = harness.access_token()
    harness.admin.post("/faults", {"route": LIMITS, "probability": 1, **fault})
    # When limits are read twice
    answers = [harness.api("GET", "/limits", token) for _ in range(2)]
    # Then both got the Salesforce-shaped answer, logged once each with the fault's kind
    assert [(a.status_code, a.json()[0]["errorCode"]) for a in answers] == [(status, code)] * 2
    if status == 429:
        assert answers[0].headers["Retry-After"] == "4"
    logged = [e for e in harness.admin.get("/requests")["requests"] if e["path"].endswith("/limits")]
    assert [(e["status"], e["fault"]) for e in logged] == [(status, fault["kind"])] * 2


def test_expired_session_under_probability_is_what_simple_salesforce_expects(
    sf: SalesforceClient, harness: Harness
) -> None:
    harness.admin.post("/faults", {"route": LIMITS, "kind": "expired_session", "probability": 1})
    with pytest.raises(SalesforceExpiredSession) as raised:
        sf.limits()
    assert error_content(raised.value)[0]["errorCode"] == "INVALID_SESSION_ID"


def test_slow_and_drop_under_probability(harness: Harness) -> None:
    # Given a slow fault on limits and a dropped connection on task creation, both by probability
    token = harness.access_token()
    harness.admin.post("/faults", {"route": LIMITS, "kind": "slow", "delay_seconds": 0.2, "probability": 1})
    harness.admin.post(
        "/faults", {"route": "POST /services/data/*/sobjects/Task", "kind": "drop", "probability": 1}
    )
    # When limits are read and a task created
    slow = harness.api("GET", "/limits", token)
    with pytest.raises(requests.ConnectionError) as dropped:
        harness.api("POST", "/sobjects/Task", token, json={"Subject": "lost"})
    # Then limits came late but right; the create got no answer (a plain connection error, not a
    # TLS one) and wrote nothing
    assert slow.status_code == 200
    assert slow.elapsed.total_seconds() >= 0.2
    assert not isinstance(dropped.value, requests.exceptions.SSLError)
    query = harness.api("GET", "/query", token, params={"q": "SELECT COUNT() FROM Task"})
    assert query.json()["totalSize"] == 0
    logged = [(e["status"], e.get("fault")) for e in harness.admin.get("/requests")["requests"]]
    assert (200, "slow") in logged
    assert (499, "drop") in logged


def test_drop_before_a_large_unread_body_is_a_plain_connection_error(harness: Harness) -> None:
    # Given a dropped connection on task creation, and a request log that does not read bodies
    token = harness.access_token()
    harness.admin.post("/faults", {"route": "POST /services/data/*/sobjects/Task", "kind": "drop"})
    harness.sandbox.log.keep_bodies = False
    try:
        # When a task with a 2 MB description is posted
        with pytest.raises(requests.ConnectionError) as dropped:
            harness.api("POST", "/sobjects/Task", token, json={"Subject": "big", "Description": "x" * 2**21})
        after = harness.api("GET", "/limits", token)
    finally:
        harness.sandbox.log.keep_bodies = True
    # Then the client saw the connection close (not a TLS error mid-upload) and the next call works
    assert not isinstance(dropped.value, requests.exceptions.SSLError)
    assert after.status_code == 200
    statuses = [e["status"] for e in harness.admin.get("/requests")["requests"]]
    assert statuses[-2:] == [499, 200]  # no leftover body parsed as a request


def test_deterministic_faults_come_before_probabilistic_ones(harness: Harness) -> None:
    token = harness.access_token()
    harness.admin.post("/faults", {"route": LIMITS, "kind": "status", "status": 503, "probability": 1})
    harness.admin.post("/faults", {"route": LIMITS, "kind": "server_error", "times": 2})
    statuses = [harness.api("GET", "/limits", token).status_code for _ in range(4)]
    assert statuses == [500, 500, 503, 503]


@pytest.mark.parametrize(
    "extra",
    [{"probability": 0}, {"probability": -1}, {"probability": 1.01}, {"probability": "often"}, {"seed": 1.5}],
)
def test_invalid_probability_or_seed_is_refused(harness: Harness, extra: dict[str, object]) -> None:
    # When a fault with a probability out of (0, 1] (or a seed that is not an integer) is posted
    response = harness.admin.call("POST", "/faults", 400, json={"route": LIMITS, "kind": "drop", **extra})
    # Then it is refused and nothing changes
    assert "message" in response.json()
    assert harness.admin.get("/faults") == {"faults": [], "seed": None}


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
