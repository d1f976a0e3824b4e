"""Cross-cutting behaviour: authentication, rate limits and their headers, injected faults, the
clock, error bodies, request counters, seeding (determinism, refs, files) and reset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.objects import PublicObjectSearchRequest, SimplePublicObjectInputForCreate
from hubspot.crm.objects.exceptions import ApiException
from hubspot.crm.owners.exceptions import ApiException as OwnersApiException

from activity_sync_tools.sandbox.core import RunningServer
from activity_sync_tools.sandbox.hubspot import HubSpotSandbox, load_seed_file, start_hubspot_sandbox
from activity_sync_tools.sandbox.hubspot.schema import CALLS, CONTACTS
from activity_sync_tools.sandbox.hubspot.testing import Admin, webhook_receiver
from tests.sandboxes.hubspot.conftest import TOKEN

SEED: dict[str, Any] = {
    "clock": {"now": "2024-05-01T09:00:00Z", "frozen": True},
    "owners": [{"ref": "ana", "email": "ana@example.com", "firstName": "Ana", "lastName": "Silva"}],
    "contacts": [
        {
            "ref": "alice",
            "owner": "ana",
            "createdAt": "2023-01-05T10:00:00Z",
            "properties": {"email": "alice@example.com", "firstname": "Alice"},
        },
        {"ref": "bob", "properties": {"email": "bob@example.com", "createdate": "2024-04-30T00:00:00Z"}},
    ],
    "companies": [{"ref": "acme", "properties": {"name": "Acme"}}],
    "calls": [
        {
            "ref": "c1",
            "owner": "ana@example.com",
            "properties": {"hs_timestamp": "2024-04-30T15:00:00Z", "hs_call_title": "Intro"},
            "associations": ["contacts:alice", {"to": {"type": "contacts", "ref": "bob"}, "typeId": 194}],
        }
    ],
    "tasks": [{"properties": {"hs_timestamp": "2024-05-02T00:00:00Z", "hs_task_subject": "Follow up"}}],
    "associations": [{"from": "calls:c1", "to": "companies:acme", "typeId": 182}],
    "marketing_emails": [{"ref": "news", "name": "May newsletter", "subject": "News"}],
    "email_events": [
        {"type": "OPEN", "recipient": "alice@example.com", "email": "news", "created": "2024-04-20T08:00:00Z"}
    ],
    "forms": [
        {
            "ref": "contact-us",
            "name": "Contact Us",
            "fields": ["email", "firstname"],
            "submissions": [
                {"submittedAt": "2024-01-02T03:04:05Z", "values": {"email": "alice@example.com"}}
            ],
        }
    ],
}


def call_input() -> SimplePublicObjectInputForCreate:
    return SimplePublicObjectInputForCreate(properties={"hs_timestamp": "2024-01-01T00:00:00Z"})


def search_request() -> PublicObjectSearchRequest:
    return PublicObjectSearchRequest(filter_groups=[], sorts=[], properties=[], limit=10, after=None)


# -- authentication -------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_missing_or_wrong_token_is_401(admin: Admin, token: str | None) -> None:
    # When an API route is called without the private app token, or with another one
    response = admin.api("GET", "/crm/v3/objects/contacts", token=token)
    # Then HubSpot's authentication error answers and nothing is counted against the limits
    body = response.json()
    assert response.status_code == 401
    assert body["category"] == "INVALID_AUTHENTICATION"
    assert body["correlationId"] == response.headers["X-HubSpot-Correlation-Id"]
    assert "X-HubSpot-RateLimit-Remaining" not in response.headers
    assert admin.get("rate-limits")["used_10s"] == 0


def test_client_with_wrong_token(server: RunningServer, admin: Admin) -> None:
    wrong = HubSpot(access_token="nope", host=server.url)
    with pytest.raises(ApiException) as denied:
        wrong.crm.objects.basic_api.get_page("calls")
    assert denied.value.status == 401


# -- rate limits ------------------------------------------------------------------------------------


def test_rate_limit_headers_count_down(client: HubSpot, admin: Admin) -> None:
    # Given a frozen clock
    admin.post("clock", {"now": "2024-01-01T00:00:00+00:00", "frozen": True})
    # When two calls are listed
    headers = [dict(client.crm.objects.basic_api.get_page_with_http_info("calls")[2]) for _ in range(2)]
    # Then HubSpot's rate-limit headers show the private app defaults, counting down
    assert {k: v for k, v in headers[1].items() if k.startswith("X-HubSpot-RateLimit")} == {
        "X-HubSpot-RateLimit-Daily": "1000000",
        "X-HubSpot-RateLimit-Daily-Remaining": "999998",
        "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
        "X-HubSpot-RateLimit-Max": "190",
        "X-HubSpot-RateLimit-Remaining": "188",
    }
    assert headers[0]["X-HubSpot-RateLimit-Remaining"] == "189"


def test_ten_second_limit_rolls_with_the_clock(client: HubSpot, admin: Admin) -> None:
    # Given a limit of 3 requests per 10 seconds and a frozen clock (POSTs: urllib3, under the official
    # client, would itself retry a GET answered 429 with Retry-After)
    admin.post("rate-limits", {"rate_limit_per_10s": 3})
    admin.post("clock", {"now": "2024-01-01T00:00:00+00:00", "frozen": True})

    # When a fourth request comes within the window, and another after it
    for _ in range(3):
        client.crm.objects.basic_api.create("calls", call_input())
    with pytest.raises(ApiException) as limited:
        client.crm.objects.basic_api.create("calls", call_input())
    admin.post("clock", {"advance_seconds": 10.001})
    client.crm.objects.basic_api.create("calls", call_input())

    # Then the fourth is HubSpot's 429 and the window reopens
    body = json.loads(limited.value.body)
    assert limited.value.status == 429
    assert body["category"] == "RATE_LIMITS"
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert limited.value.headers["Retry-After"] == "10"


def test_daily_limit(client: HubSpot, admin: Admin) -> None:
    # Given a daily allowance of 2
    admin.post("rate-limits", {"daily_limit": 2})
    admin.post("clock", {"now": "2024-01-01T23:59:00+00:00", "frozen": True})
    client.crm.objects.basic_api.create("calls", call_input())
    client.crm.objects.basic_api.create("calls", call_input())

    # When a third request is made that day, and one the next day
    with pytest.raises(ApiException) as limited:
        client.crm.objects.basic_api.create("calls", call_input())
    admin.post("clock", {"advance_seconds": 120})
    client.crm.objects.basic_api.create("calls", call_input())

    # Then the third hits the DAILY policy until midnight
    assert json.loads(limited.value.body)["policyName"] == "DAILY"
    assert limited.value.headers["Retry-After"] == "60"


def test_search_has_its_own_per_second_limit_and_no_headers(client: HubSpot, admin: Admin) -> None:
    # Given a frozen clock
    admin.post("clock", {"now": "2024-01-01T00:00:00+00:00", "frozen": True})
    search = client.crm.objects.search_api

    # When six searches are made in the same second
    answers = [search.do_search_with_http_info("calls", search_request()) for _ in range(5)]
    with pytest.raises(ApiException) as limited:
        search.do_search("calls", search_request())

    # Then the sixth is refused, search answers carry no rate-limit headers,
    # and searches do not use the ten-second allowance
    assert json.loads(limited.value.body)["policyName"] == "SECONDLY"
    assert not any(k.startswith("X-HubSpot-RateLimit") for k in dict(answers[0][2]))
    usage = admin.get("rate-limits")
    assert (usage["used_10s"], usage["used_search_1s"], usage["used_daily"]) == (0, 5, 5)


# -- faults -----------------------------------------------------------------------------------------


def test_fault_rate_limit_is_hubspot_shaped(client: HubSpot, admin: Admin) -> None:
    admin.post("faults", {"route": "POST /crm/v3/objects/calls", "kind": "rate_limit", "retry_after": 7})
    with pytest.raises(ApiException) as faulted:
        client.crm.objects.basic_api.create("calls", call_input())
    assert faulted.value.status == 429
    assert faulted.value.headers["Retry-After"] == "7"
    assert json.loads(faulted.value.body)["policyName"] == "TEN_SECONDLY_ROLLING"
    # The fault was spent: the retry goes through
    assert client.crm.objects.basic_api.create("calls", call_input()).id


def test_the_official_client_retries_a_get_answered_429_with_retry_after(
    client: HubSpot, admin: Admin
) -> None:
    # Given one injected 429 on the calls list, asking to retry at once
    admin.post("faults", {"route": "GET /crm/v3/objects/calls", "kind": "rate_limit", "retry_after": 0})

    # When the service's client lists calls
    page = client.crm.objects.basic_api.get_page("calls")

    # Then urllib3 (under the client) honoured Retry-After and retried: two requests, one answer
    statuses = [r["status"] for r in admin.get("requests")["requests"]]
    assert page.results == []
    assert statuses == [429, 200]


@pytest.mark.parametrize(
    ("status", "category"), [(500, "INTERNAL_ERROR"), (502, "BAD_GATEWAY"), (503, "SERVICE_UNAVAILABLE")]
)
def test_fault_server_errors(client: HubSpot, admin: Admin, status: int, category: str) -> None:
    admin.post("faults", {"route": "* /crm/v3/objects/*", "kind": "server_error", "status": status})
    with pytest.raises(ApiException) as faulted:
        client.crm.objects.basic_api.get_page("calls")
    body = json.loads(faulted.value.body)
    assert (faulted.value.status, body["status"], body["category"]) == (status, "error", category)


def test_fault_expired_session(client: HubSpot, admin: Admin) -> None:
    admin.post("faults", {"route": "/crm/v3/owners*", "kind": "expired_session"})
    with pytest.raises(OwnersApiException) as faulted:
        client.crm.owners.owners_api.get_page()
    assert faulted.value.status == 401
    assert json.loads(faulted.value.body)["category"] == "EXPIRED_AUTHENTICATION"


def test_fault_status_and_drop_and_slow(admin: Admin) -> None:
    # Given a 409 fault, a dropped connection and a slow answer queued for the calls list
    admin.post("faults", {"route": "GET /crm/v3/objects/calls", "kind": "status", "status": 409})
    admin.post("faults", {"route": "GET /crm/v3/objects/calls", "kind": "drop"})
    admin.post("faults", {"route": "GET /crm/v3/objects/calls", "kind": "slow", "delay_seconds": 0.2})

    # When the list is called three times
    conflict = admin.api("GET", "/crm/v3/objects/calls")
    with pytest.raises(requests.ConnectionError):
        admin.api("GET", "/crm/v3/objects/calls")
    slow = admin.api("GET", "/crm/v3/objects/calls")

    # Then each fault applied once, in order
    assert (conflict.status_code, conflict.json()["category"]) == (409, "CONFLICT")
    assert slow.status_code == 200
    assert slow.elapsed.total_seconds() >= 0.2


# -- probabilistic faults ---------------------------------------------------------------------------

CALLS_PATH = "/crm/v3/objects/calls"
MIXED_FAULTS: list[dict[str, Any]] = [
    {"kind": "rate_limit", "retry_after": 0},
    {"kind": "server_error"},
    {"kind": "status", "status": 502},
    {"kind": "expired_session"},
    {"kind": "drop"},
]


def answer_or_drop(admin: Admin, path: str) -> int:
    """The status of a GET, or 0 when the connection was dropped."""
    try:
        return admin.api("GET", path).status_code
    except requests.ConnectionError:
        return 0


@pytest.mark.usefixtures("relaxed_limits")
def test_probabilistic_faults_fail_their_share_one_at_a_time_repeatably(admin: Admin) -> None:
    # Given five kinds of fault on the calls list, 4 % each, and a seed
    admin.post("faults", {"seed": 7})
    for fault in MIXED_FAULTS:
        admin.post("faults", {"route": f"GET {CALLS_PATH}", "probability": 0.04, **fault})

    # When the list is called 400 times, and 400 times more after seeding again
    first = [answer_or_drop(admin, CALLS_PATH) for _ in range(400)]
    admin.post("faults", {"seed": 7})
    second = [answer_or_drop(admin, CALLS_PATH) for _ in range(400)]

    # Then about a fifth failed, every kind had its turn, and the same seed gave the same run
    failed = [status for status in first if status != 200]
    assert 60 <= len(failed) <= 100
    assert set(failed) == {429, 503, 502, 401, 0}
    assert second == first
    faults = admin.get("faults")
    assert faults["seed"] == 7
    assert all(f["times"] is None for f in faults["faults"])  # unlimited unless told
    assert sum(f["hits"] for f in faults["faults"]) == 2 * len(failed)
    # And the request log has every request once, the faulted ones with their kind
    logged = admin.get("requests")["requests"]
    assert len(logged) == 800
    assert sum(1 for entry in logged if "fault" in entry) == 2 * len(failed)
    assert {entry["fault"] for entry in logged if entry["status"] == 499} == {"drop"}


@pytest.mark.parametrize(
    ("fault", "status", "category"),
    [
        ({"kind": "rate_limit", "retry_after": 3}, 429, "RATE_LIMITS"),
        ({"kind": "server_error"}, 503, "SERVICE_UNAVAILABLE"),
        ({"kind": "status", "status": 409}, 409, "CONFLICT"),
        ({"kind": "expired_session"}, 401, "EXPIRED_AUTHENTICATION"),
    ],
)
def test_each_kind_answers_the_same_under_probability(
    admin: Admin, fault: dict[str, Any], status: int, category: str
) -> None:
    # Given a fault that always applies by probability (and so never runs out)
    admin.post("faults", {"route": f"GET {CALLS_PATH}", "probability": 1, **fault})

    # When the list is called twice
    answers = [admin.api("GET", CALLS_PATH) for _ in range(2)]

    # Then both got the fault's HubSpot-shaped answer, logged once each with its kind
    assert [(a.status_code, a.json()["category"]) for a in answers] == [(status, category)] * 2
    if status == 429:
        assert answers[0].headers["Retry-After"] == "3"
    logged = admin.get("requests")["requests"]
    assert [(e["status"], e["fault"]) for e in logged] == [(status, fault["kind"])] * 2


def test_slow_and_drop_under_probability(admin: Admin) -> None:
    # Given a slow fault on the calls list and a dropped connection on contacts, both by probability
    admin.post(
        "faults", {"route": f"GET {CALLS_PATH}", "kind": "slow", "delay_seconds": 0.2, "probability": 1}
    )
    admin.post("faults", {"route": "GET /crm/v3/objects/contacts", "kind": "drop", "probability": 1.0})

    # When each is called
    slow = admin.api("GET", CALLS_PATH)
    created = admin.api("POST", "/crm/v3/objects/contacts", json={"properties": {}})  # not a GET
    with pytest.raises(requests.ConnectionError):
        admin.api("GET", "/crm/v3/objects/contacts")

    # Then the slow one was served late but normally, the dropped one got no answer at all
    assert (slow.status_code, slow.json()["results"], created.status_code) == (200, [], 201)
    assert slow.elapsed.total_seconds() >= 0.2
    logged = admin.get("requests")["requests"]
    assert [(e["status"], e.get("fault")) for e in logged] == [(200, "slow"), (201, None), (499, "drop")]


def test_deterministic_faults_come_before_probabilistic_ones(admin: Admin) -> None:
    # Given a certain probabilistic 503, then two deterministic 409s, then a one-shot 429 at random
    admin.post("faults", {"route": f"GET {CALLS_PATH}", "kind": "status", "status": 503, "probability": 1})
    admin.post("faults", {"route": f"GET {CALLS_PATH}", "kind": "status", "status": 409, "times": 2})
    admin.post("faults", {"route": "* /crm/v3/objects/*", "kind": "rate_limit", "probability": 1, "times": 1})

    # When the calls list is called four times and the contacts list twice
    calls = [admin.api("GET", CALLS_PATH).status_code for _ in range(4)]
    contacts = [admin.api("GET", "/crm/v3/objects/contacts").status_code for _ in range(2)]

    # Then the deterministic faults applied first, in order, and a "times" caps a probabilistic one
    assert calls == [409, 409, 503, 503]
    assert contacts == [429, 200]


@pytest.mark.parametrize(
    "body",
    [
        {"probability": 0},
        {"probability": -0.1},
        {"probability": 1.5},
        {"probability": "0.5"},
        {"probability": True},
        {"probability": 0.5, "seed": "seven"},
    ],
)
def test_invalid_probability_or_seed_is_refused(admin: Admin, body: dict[str, Any]) -> None:
    # When a fault with a probability out of (0, 1] (or a seed that is not an integer) is posted
    response = admin.session.post(
        f"{admin.url}/_sandbox/faults", json={"route": "*", "kind": "server_error", **body}, timeout=10
    )

    # Then it is refused and nothing changes
    assert response.status_code == 400
    assert admin.get("faults") == {"faults": [], "seed": None}


def test_a_seed_alone_adds_no_fault_and_reset_forgets_it(admin: Admin) -> None:
    seeded = admin.post("faults", {"seed": 42})
    cleared = admin.post("faults", {"seed": None})
    admin.post("faults", {"seed": 42})
    admin.post("reset")
    assert seeded == {"faults": [], "seed": 42}
    assert cleared == {"faults": [], "seed": None}
    assert admin.get("faults")["seed"] is None


# -- errors, counters, clock --------------------------------------------------------------------------


def test_unknown_route_is_a_hubspot_404(admin: Admin) -> None:
    response = admin.api("GET", "/crm/v3/nothing/here")
    assert response.status_code == 404
    assert set(response.json()) == {"status", "message", "correlationId", "category"}


def test_invalid_json_is_a_validation_error(admin: Admin) -> None:
    response = admin.api("POST", "/crm/v3/objects/calls", data="{not json")
    assert response.status_code == 400
    assert response.json()["message"].startswith("Invalid input JSON")


def test_counters_show_the_calls_an_operation_cost(client: HubSpot, admin: Admin) -> None:
    # When two calls are created and one search made, and an admin route used
    client.crm.objects.basic_api.create("calls", call_input())
    client.crm.objects.basic_api.create("calls", call_input())
    client.crm.objects.search_api.do_search("calls", search_request())
    admin.get("state")
    # Then the counters list the API routes only
    counters = admin.get("counters")
    assert counters["counters"] == {
        "GET,POST /crm/v3/objects/<object_type>": 2,
        "POST /crm/v3/objects/<object_type>/search": 1,
    }
    assert counters["total"] == 3


def test_correlation_ids_are_deterministic(admin: Admin) -> None:
    first = [admin.api("GET", "/crm/v3/objects/calls/1").json()["correlationId"] for _ in range(2)]
    admin.post("reset")
    second = [admin.api("GET", "/crm/v3/objects/calls/1").json()["correlationId"] for _ in range(2)]
    assert first == second
    assert first[0] != first[1]


# -- seeding ----------------------------------------------------------------------------------------


def test_seed_refs_timestamps_and_associations(client: HubSpot, admin: Admin) -> None:
    # When the seed is posted
    refs = admin.post("seed", SEED)["refs"]

    # Then refs name the created ids, past creation dates hold, associations and rollups exist
    alice = client.crm.contacts.basic_api.get_by_id(
        refs["contacts"]["alice"], properties=["createdate", "hubspot_owner_id", "hs_email_last_open_date"]
    )
    assert alice.properties == {
        "createdate": "2023-01-05T10:00:00.000Z",
        "hubspot_owner_id": refs["owners"]["ana"],
        "hs_email_last_open_date": "2024-04-20T08:00:00.000Z",
    }
    bob = client.crm.contacts.basic_api.get_by_id(refs["contacts"]["bob"], properties=["createdate"])
    assert bob.properties["createdate"] == "2024-04-30T00:00:00.000Z"
    call = client.crm.objects.calls.basic_api.get_by_id(
        refs["calls"]["c1"], associations=["contacts", "companies"]
    )
    assert sorted(a.id for a in call.associations["contacts"].results) == sorted(refs["contacts"].values())
    assert [a.type for a in call.associations["companies"].results] == ["call_to_company"]
    state = admin.get("state")
    assert (state["objects"]["tasks"], state["formSubmissions"], state["emailEvents"]) == (1, 1, 1)
    assert state["clock"] == {"now": "2024-05-01T09:00:00+00:00", "frozen": True}


def test_same_seed_same_ids_and_answers(tmp_path: Path) -> None:
    # Given the seed in a file, loaded by two fresh sandboxes
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(SEED))
    answers = []
    for _ in range(2):
        sandbox = HubSpotSandbox(seed=load_seed_file(path))
        try:
            with sandbox.lock:
                dump = {t.name: [r.properties for r in sandbox.store.records(t)] for t in (CONTACTS, CALLS)}
            answers.append((dump, sorted(sandbox.marketing.forms), [e.id for e in sandbox.marketing.events]))
        finally:
            sandbox.close()
    # Then ids, properties, GUIDs and event ids are identical
    assert answers[0] == answers[1]


def test_invalid_seed_is_a_400(admin: Admin) -> None:
    response = admin.session.post(f"{admin.url}/_sandbox/seed", json={"widgets": []}, timeout=10)
    assert response.status_code == 400
    bad_reference = admin.session.post(
        f"{admin.url}/_sandbox/seed",
        json={"calls": [{"properties": {"hs_timestamp": "1"}, "associations": ["contacts:x"]}]},
        timeout=10,
    )
    assert bad_reference.status_code == 400


def test_reset_empties_the_portal(client: HubSpot, admin: Admin) -> None:
    admin.post("seed", SEED)
    admin.post("rate-limits", {"rate_limit_per_10s": 1})
    admin.post("reset")
    assert client.crm.contacts.basic_api.get_page().results == []
    assert admin.get("rate-limits")["rate_limit_per_10s"] == 190
    assert admin.get("state")["owners"] == 0


def test_constructor_options_and_start_helper() -> None:
    # Given a sandbox started with its own token, portal, limits, seed and webhook target
    with webhook_receiver() as receiver:
        running = start_hubspot_sandbox(
            token="other-token",
            portal_id=777,
            rate_limit_per_10s=5,
            webhook_target_url=receiver.url,
            webhook_subscriptions=["contact.creation"],
            client_secret="s3cret",
            seed={"owners": SEED["owners"]},
        )
        try:
            client = HubSpot(access_token="other-token", host=running.url)
            # When it is used
            owners = client.crm.owners.owners_api.get_page_with_http_info()
            admin = Admin(running, token="other-token")
            admin.create("contacts", {"email": "x@example.com"})
            receiver.wait_for(lambda r: len(r.events()) == 1)
        finally:
            running.stop()
    # Then each option took effect
    assert [o.email for o in owners[0].results] == ["ana@example.com"]
    assert dict(owners[2])["X-HubSpot-RateLimit-Max"] == "5"
    event = receiver.events()[0]
    assert (event["portalId"], event["subscriptionType"]) == (777, "contact.creation")


def test_the_account_details_name_the_portal(server: RunningServer, admin: Admin) -> None:
    # https://developers.hubspot.com/docs/api-reference/latest/account/account-information/get-account-details
    for path in ("/account-info/2026-03/details", "/account-info/v3/details"):
        answer = requests.get(server.url + path, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        assert answer.status_code == 200
        details = answer.json()
        assert details["portalId"] == 62515
        assert {"accountType", "timeZone", "companyCurrency", "uiDomain", "utcOffset"} <= set(details)


def test_the_token_is_described_with_the_scopes_it_holds(server: RunningServer, admin: Admin) -> None:
    url = server.url + "/oauth/v2/private-apps/get/access-token-info"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    info = requests.post(url, json={"tokenKey": TOKEN}, headers=headers, timeout=10).json()
    assert {"userId", "hubId", "appId", "scopes"} <= set(info)
    assert info["hubId"] == 62515
    assert "crm.objects.contacts.read" in info["scopes"]

    admin.post("config", {"token_scopes": ["oauth", "crm.objects.contacts.read"]})
    narrowed = requests.post(url, json={"tokenKey": TOKEN}, headers=headers, timeout=10).json()
    assert narrowed["scopes"] == ["oauth", "crm.objects.contacts.read"]
    assert requests.post(url, json={"tokenKey": "another"}, headers=headers, timeout=10).status_code == 404
