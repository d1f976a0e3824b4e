"""SalesforceAuth and SalesforceClient against the Salesforce sandbox (TLS): both OAuth flows and
the token cache, every port method, sObject Collections batching (counted by the sandbox's request
log and by the client itself), session renewal, retries and error mapping."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from activity_sync.adapters.http import MAX_RETRIES
from activity_sync.adapters.salesforce_api import SalesforceClient
from activity_sync.adapters.salesforce_oauth import SalesforceAuth
from activity_sync.domain import SALESFORCE_EXTERNAL_ID_FIELD
from activity_sync.ports import CollectionWrite, SalesforceApi, SoqlQuery, VendorApiError
from activity_sync_tools.sandbox.core import RunningServer
from activity_sync_tools.sandbox.salesforce import sandbox_session
from activity_sync_tools.sandbox.salesforce.testing import CLIENT_ID, CLIENT_SECRET, Admin

from .conftest import SandboxLog

pytestmark = pytest.mark.integration

COLLECTIONS = "/composite/sobjects"
ID_QUERY = "SELECT Id, HubSpot_Activity_Id__c FROM Task"
TOKEN_PATH = "/services/oauth2/token"
MISSING_TASK_ID = "00T000000000000AAA"

PEOPLE_SEED: dict[str, Any] = {
    "users": [
        {"key": "alice", "Username": "alice@example.com", "Email": "Alice@Example.com", "LastName": "Smith"},
        {
            "key": "carol",
            "Username": "carol@example.com",
            "Email": "carol@example.com",
            "LastName": "Old",
            "IsActive": False,
        },
    ],
    "contacts": [
        {
            "key": "ada_new",
            "LastName": "Lovelace",
            "Email": "Ada@Example.com",
            "CreatedDate": "2024-02-01T00:00:00Z",
        },
        {
            "key": "ada_old",
            "LastName": "Lovelace",
            "Email": "ada@example.com",
            "CreatedDate": "2024-01-01T00:00:00Z",
        },
        {"key": "obrien", "LastName": "O'Brien", "Email": "o'brien@example.com"},
        {"key": "zed", "LastName": "Zed", "Email": "zed@example.com"},
    ],
    "leads": [
        {"key": "lin", "LastName": "Chen", "Company": "Chen Co", "Email": "lin@example.com"},
        {
            "key": "lin_converted",
            "LastName": "Chen",
            "Company": "Chen Co",
            "Email": "lin@example.com",
            "IsConverted": True,
        },
        {"key": "ada_lead", "LastName": "Lovelace", "Company": "AE", "Email": "ada@example.com"},
    ],
}


def _seed(admin: Admin, body: dict[str, Any]) -> dict[str, str]:
    keys: dict[str, str] = admin.post("/seed", body)["keys"]
    return keys


def _tasks(count: int, prefix: str = "hs", **fields: Any) -> list[dict[str, Any]]:
    return [
        {
            SALESFORCE_EXTERNAL_ID_FIELD: f"{prefix}-{i}",
            "Subject": f"Task {i}",
            "Status": "Not Started",
            **fields,
        }
        for i in range(count)
    ]


def test_the_client_implements_the_port_and_spends_nothing_on_empty_input(
    salesforce: SalesforceClient, salesforce_log: SandboxLog
) -> None:
    port: SalesforceApi = salesforce  # mypy checks the structural match

    assert port.upsert("Task", SALESFORCE_EXTERNAL_ID_FIELD, []) == []
    assert port.update("Task", []) == []
    assert port.delete([]) == []
    assert port.retrieve("Task", [], ["Subject"]) == {}
    assert port.people_by_email([]) == {}
    assert salesforce.calls.total() == 0
    assert salesforce_log.total() == 0


# -- authentication ----------------------------------------------------------------------------------


def test_client_credentials_token_is_cached_for_the_next_client_in_a_warm_lambda(
    salesforce_server: RunningServer, salesforce_admin: Admin, salesforce_log: SandboxLog, token_url: str
) -> None:
    # Given two invocations of a warm Lambda, each building its own auth and client
    def invocation() -> SalesforceClient:
        auth = SalesforceAuth(
            token_url, CLIENT_ID, flow="client_credentials", client_secret=CLIENT_SECRET,
            session=sandbox_session(salesforce_server),
        )  # fmt: skip
        client = SalesforceClient(auth, session=sandbox_session(salesforce_server))
        list(client.query("SELECT Id FROM User"))
        return client

    # When both run
    first, second = invocation(), invocation()

    # Then one token was requested for both, and the token tells which user the service runs as
    assert salesforce_log.count("POST", TOKEN_PATH) == 1
    assert first.auth.calls.total() == 1
    assert second.auth.calls.total() == 0
    run_as = salesforce_admin.get("/users")["run_as"]
    assert second.user_id == run_as
    assert second.auth.token()[1] == salesforce_server.url


def test_a_wrong_client_secret_is_not_retryable(
    salesforce_server: RunningServer, salesforce_admin: Admin, token_url: str
) -> None:
    auth = SalesforceAuth(
        token_url, CLIENT_ID, client_secret="wrong", session=sandbox_session(salesforce_server)
    )

    with pytest.raises(VendorApiError) as raised:
        auth.token()

    assert (raised.value.vendor, raised.value.status, raised.value.retryable) == ("salesforce", 400, False)
    assert "invalid_client" in str(raised.value)


def _rsa_key_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


def test_jwt_bearer_flow_signs_in_as_the_named_user(
    salesforce_server: RunningServer, salesforce_admin: Admin, token_url: str
) -> None:
    # Given a connected app certificate registered for a generated RSA key, and a user
    private_pem, public_pem = _rsa_key_pair()
    salesforce_admin.post("/jwt-key", {"public_key_pem": public_pem})
    keys = _seed(salesforce_admin, {"users": PEOPLE_SEED["users"]})

    # When the service signs in with an assertion for that user (aud derived from the token URL)
    auth = SalesforceAuth(
        token_url, CLIENT_ID, flow="jwt_bearer", username="alice@example.com", private_key_pem=private_pem,
        session=sandbox_session(salesforce_server),
    )  # fmt: skip
    client = SalesforceClient(auth, session=sandbox_session(salesforce_server))

    # Then its calls run as that user
    assert auth.audience == salesforce_server.url
    assert client.user_id == keys["alice"]
    assert [u.id for u in client.active_users() if u.email == "Alice@Example.com"] == [keys["alice"]]


def test_jwt_bearer_with_an_unregistered_key_is_refused(
    salesforce_server: RunningServer, salesforce_admin: Admin, token_url: str
) -> None:
    _, public_pem = _rsa_key_pair()
    other_private_pem, _ = _rsa_key_pair()
    salesforce_admin.post("/jwt-key", {"public_key_pem": public_pem})

    auth = SalesforceAuth(
        token_url, CLIENT_ID, flow="jwt_bearer", username="integration.user@sandbox.example.com",
        private_key_pem=other_private_pem, session=sandbox_session(salesforce_server),
    )  # fmt: skip
    with pytest.raises(VendorApiError) as raised:
        auth.token()

    assert (raised.value.status, raised.value.retryable) == (400, False)
    assert "invalid_grant" in str(raised.value)


def test_an_expired_session_is_renewed_once_and_the_call_repeated(
    salesforce: SalesforceClient, salesforce_admin: Admin, salesforce_log: SandboxLog
) -> None:
    # Given a client whose session the org has since expired
    list(salesforce.query("SELECT Id FROM User"))
    salesforce_admin.post("/sessions/expire", {})

    # When it queries again
    users = list(salesforce.query("SELECT Id FROM User"))

    # Then it got a new token and the query went through
    assert users
    assert salesforce_log.statuses("GET", "/query") == [200, 401, 200]
    assert salesforce_log.count("POST", TOKEN_PATH) == 2
    assert salesforce.calls["GET query"] == 3


def test_a_session_refused_again_after_renewal_is_not_retryable(
    salesforce: SalesforceClient, salesforce_log: SandboxLog
) -> None:
    # Given every data request is refused as an invalid session
    salesforce_log.fault("GET /services/data/*", "expired_session", times=None)

    # When the client queries
    with pytest.raises(VendorApiError) as raised:
        list(salesforce.query("SELECT Id FROM User"))

    # Then it renewed once, then gave up
    assert (raised.value.status, raised.value.retryable) == (401, False)
    assert "INVALID_SESSION_ID" in str(raised.value)
    assert salesforce_log.count("POST", TOKEN_PATH) == 2
    assert salesforce_log.count("GET", "/query") == 2


# -- writes ----------------------------------------------------------------------------------------


def test_upsert_sends_450_records_in_one_composite_call_and_reports_created(
    salesforce: SalesforceClient, salesforce_log: SandboxLog
) -> None:
    # Given 450 tasks keyed by their HubSpot activity id
    records = _tasks(450)
    salesforce_log.clear()

    # When they are upserted, then upserted again with a new subject
    first = salesforce.upsert("Task", SALESFORCE_EXTERNAL_ID_FIELD, records)
    second = salesforce.upsert(
        "Task", SALESFORCE_EXTERNAL_ID_FIELD, [{**r, "Subject": "Edited"} for r in records]
    )

    # Then the first pass creates 450 tasks and the second updates the same ones, in input order,
    # each pass one composite call of three Collections upserts (200 + 200 + 50): one API call
    assert all(r.success and r.created is True for r in first)
    assert all(r.success and r.created is False for r in second)
    assert [r.id for r in first] == [r.id for r in second]
    assert len({r.id for r in first}) == 450
    assert salesforce_log.count("POST", "/composite") == 2
    assert salesforce.calls == {"POST composite": 2}
    subjects = {row["Subject"] for row in salesforce.query("SELECT Subject FROM Task")}
    assert subjects == {"Edited"}


def test_writes_go_five_collections_to_a_composite_call_and_one_alone_in_a_collections_call(
    salesforce: SalesforceClient, salesforce_log: SandboxLog
) -> None:
    # Given 1,001 tasks: six Collections requests' worth, one more than a composite call takes
    salesforce_log.clear()

    # When they are upserted, then updated by id
    created = salesforce.upsert("Task", SALESFORCE_EXTERNAL_ID_FIELD, _tasks(1001))
    updated = salesforce.update("Task", [{"Id": r.id, "Subject": "Checked"} for r in created])

    # Then each is one composite call of five and one Collections call with the last record
    assert all(r.success for r in created + updated)
    assert len({r.id for r in created}) == 1001
    assert salesforce.calls == {
        "POST composite": 2,
        f"PATCH composite/sobjects/Task/{SALESFORCE_EXTERNAL_ID_FIELD}": 1,
        "PATCH composite/sobjects": 1,
    }
    assert {row["Subject"] for row in salesforce.query("SELECT Subject FROM Task")} == {"Checked"}


def test_updates_and_upserts_written_together_share_one_call(
    salesforce: SalesforceClient, salesforce_log: SandboxLog
) -> None:
    # Given 250 tasks already written
    existing = salesforce.upsert("Task", SALESFORCE_EXTERNAL_ID_FIELD, _tasks(250))
    salesforce_log.clear()
    salesforce.calls.clear()

    # When they are updated by id together with 300 new tasks upserted by External ID, one of
    # them named twice (the later values win)
    new = _tasks(300, prefix="new")
    new.append({**new[0], "Subject": "Named twice"})
    updated, upserted = salesforce.write_together(
        [
            CollectionWrite("Task", [{"Id": r.id, "Subject": "Updated"} for r in existing]),
            CollectionWrite("Task", new, SALESFORCE_EXTERNAL_ID_FIELD),
        ]
    )

    # Then four Collections requests (200 + 50 updates, 200 + 100 upserts) went in one composite
    # call, and each write has one result per record it passed, in its order
    assert salesforce.calls == {"POST composite": 1}
    assert salesforce_log.count("POST", "/composite") == 1
    assert [r.id for r in updated] == [r.id for r in existing]
    assert all(r.success for r in updated)
    assert all(r.success and r.created for r in upserted)
    ids = {row[SALESFORCE_EXTERNAL_ID_FIELD]: row["Id"] for row in salesforce.query(ID_QUERY)}
    assert [r.id for r in upserted] == [ids[record[SALESFORCE_EXTERNAL_ID_FIELD]] for record in new]
    subjects = Counter(row["Subject"] for row in salesforce.query("SELECT Subject FROM Task"))
    assert subjects == {"Updated": 250, "Named twice": 1, **{f"Task {i}": 1 for i in range(1, 300)}}


def test_writes_together_past_five_requests_take_a_call_per_five_and_keep_each_order(
    salesforce: SalesforceClient,
) -> None:
    # Given 450 tasks already written
    existing = salesforce.upsert("Task", SALESFORCE_EXTERNAL_ID_FIELD, _tasks(450))
    salesforce.calls.clear()

    # When they are updated together with 650 new ones: seven Collections requests (3 + 4)
    new = _tasks(650, prefix="new")
    updated, upserted = salesforce.write_together(
        [
            CollectionWrite(
                "Task", [{"Id": r.id, "Subject": f"Updated {n}"} for n, r in enumerate(existing)]
            ),
            CollectionWrite("Task", new, SALESFORCE_EXTERNAL_ID_FIELD),
        ]
    )

    # Then two composite calls carried them (five requests, then two), the upserts' requests
    # split between the calls, and every result is its own record's
    assert salesforce.calls == {"POST composite": 2}
    assert [r.id for r in updated] == [r.id for r in existing]
    ids = {row[SALESFORCE_EXTERNAL_ID_FIELD]: row["Id"] for row in salesforce.query(ID_QUERY)}
    assert [r.id for r in upserted] == [ids[record[SALESFORCE_EXTERNAL_ID_FIELD]] for record in new]
    subjects = {row["Id"]: row["Subject"] for row in salesforce.query("SELECT Id, Subject FROM Task")}
    assert [subjects[r.id or ""] for r in existing] == [f"Updated {n}" for n in range(450)]


def test_writing_nothing_together_makes_no_call(salesforce: SalesforceClient) -> None:
    # When two empty writes are written together, Then each has no result and nothing was called
    assert salesforce.write_together(
        [CollectionWrite("Task", []), CollectionWrite("Task", [], SALESFORCE_EXTERNAL_ID_FIELD)]
    ) == [[], []]
    assert salesforce.calls == {}


def test_collections_requests_refused_inside_a_composite_call_fail_their_records(
    salesforce: SalesforceClient, salesforce_log: SandboxLog
) -> None:
    # Given 300 tasks to upsert by a field Task does not have
    records = [{"No_Such_Key__c": f"k-{i}", "Subject": f"Task {i}"} for i in range(300)]
    salesforce_log.clear()

    # When they are upserted
    results = salesforce.upsert("Task", "No_Such_Key__c", records)

    # Then each record fails with Salesforce's answer to its Collections request (for good: the
    # messages go to the dead-letter queue with it), after one call, and nothing was written
    assert not any(r.success for r in results)
    assert {tuple(r.error_codes) for r in results} == {("NOT_FOUND",)}
    assert salesforce.calls == {"POST composite": 1}
    assert list(salesforce.query("SELECT Id FROM Task")) == []


def test_upsert_reports_a_bad_record_without_failing_the_others(
    salesforce: SalesforceClient, salesforce_admin: Admin
) -> None:
    # Given three tasks, the second on a contact id that does not exist
    keys = _seed(salesforce_admin, {"contacts": [{"key": "ada", "LastName": "Lovelace"}]})
    records = _tasks(3, WhoId=keys["ada"])
    records[1]["WhoId"] = "003000000000000AAA"

    # When they are upserted
    results = salesforce.upsert("Task", SALESFORCE_EXTERNAL_ID_FIELD, records)

    # Then only the second fails, with Salesforce's own error
    assert [r.success for r in results] == [True, False, True]
    assert results[1].errors[0]["statusCode"]
    assert results[1].errors[0]["message"]
    assert results[1].error_codes == [results[1].errors[0]["statusCode"]]


def test_update_and_delete_by_id_report_each_record(salesforce: SalesforceClient) -> None:
    # Given two tasks
    created = salesforce.upsert("Task", SALESFORCE_EXTERNAL_ID_FIELD, _tasks(2))
    first, second = (r.id or "" for r in created)

    # When they and an unknown id are updated, then deleted
    updated = salesforce.update(
        "Task",
        [
            {"Id": first, "Subject": "A"},
            {"Id": MISSING_TASK_ID, "Subject": "B"},
            {"Id": second, "Subject": "C"},
        ],
    )
    deleted = salesforce.delete([first, MISSING_TASK_ID])

    # Then each record has its own outcome
    assert [r.success for r in updated] == [True, False, True]
    assert [r.success for r in deleted] == [True, False]
    assert [row["Subject"] for row in salesforce.query("SELECT Subject FROM Task")] == ["C"]
    everything = salesforce.query("SELECT Id, IsDeleted FROM Task", include_deleted=True)
    assert {row["Id"]: row["IsDeleted"] for row in everything} == {first: True, second: False}


# -- reads -----------------------------------------------------------------------------------------


def test_query_follows_next_records_url_and_strips_attributes(
    salesforce: SalesforceClient, salesforce_admin: Admin, salesforce_log: SandboxLog
) -> None:
    # Given 2,100 tasks (a query page holds 2,000 rows) on a contact
    keys = _seed(
        salesforce_admin, {"contacts": [{"key": "ada", "LastName": "Lovelace", "Email": "ada@example.com"}]}
    )
    _seed(salesforce_admin, {"tasks": [{"Subject": f"T{i}", "WhoId": "@ada"} for i in range(2100)]})
    salesforce_log.clear()

    # When they are queried with a relationship field
    rows = list(salesforce.query("SELECT Id, Subject, Who.Email FROM Task"))

    # Then every row comes back, without Salesforce's attributes blocks, in two calls
    assert len(rows) == 2100
    assert rows[0].keys() == {"Id", "Subject", "Who"}
    assert rows[0]["Who"] == {"Email": "ada@example.com"}
    assert salesforce_log.count("GET", "/query") == 2
    assert salesforce.calls["GET query"] + salesforce.calls["GET query/<locator>"] == 2
    assert keys["ada"].startswith("003")


def test_retrieve_chunks_ids_and_drops_absent_ones(
    salesforce: SalesforceClient, salesforce_log: SandboxLog
) -> None:
    # Given 250 tasks
    ids = [r.id or "" for r in salesforce.upsert("Task", SALESFORCE_EXTERNAL_ID_FIELD, _tasks(250))]
    salesforce_log.clear()

    # When they, a 15-character form of one, and a missing id are retrieved
    short_id = ids[0][:15]
    found = salesforce.retrieve(
        "Task", [*ids[1:], short_id, MISSING_TASK_ID], ["Subject", SALESFORCE_EXTERNAL_ID_FIELD]
    )

    # Then every existing task is keyed by the id asked for, the missing one is absent, in one
    # composite call of two Collections retrieves
    assert set(found) == {*ids[1:], short_id}
    assert found[short_id] == {"Id": ids[0], "Subject": "Task 0", SALESFORCE_EXTERNAL_ID_FIELD: "hs-0"}
    assert [(e["method"], e["path"].split("/")[-1]) for e in salesforce_log.entries()] == [
        ("POST", "composite")
    ]


def test_active_users_leave_out_inactive_ones(salesforce: SalesforceClient, salesforce_admin: Admin) -> None:
    keys = _seed(salesforce_admin, {"users": PEOPLE_SEED["users"]})

    users = salesforce.active_users()

    ids = {u.id for u in users}
    assert keys["alice"] in ids
    assert keys["carol"] not in ids
    assert all(u.is_active for u in users)


def test_people_by_email_orders_contacts_by_creation_and_skips_converted_leads(
    salesforce: SalesforceClient, salesforce_admin: Admin
) -> None:
    # Given two contacts sharing an email, two leads sharing another (one converted), an email
    # with a quote in it and a contact nobody asks for
    keys = _seed(salesforce_admin, PEOPLE_SEED)

    # When people are looked up by email, in any case
    people = salesforce.people_by_email(
        ["ADA@example.com", "lin@example.com", "O'Brien@example.com", "none@example.com"]
    )

    # Then contacts come oldest first, only the unconverted lead counts, emails are lower-cased keys
    assert people == {
        "ada@example.com": {"Contact": [keys["ada_old"], keys["ada_new"]], "Lead": [keys["ada_lead"]]},
        "lin@example.com": {"Contact": [], "Lead": [keys["lin"]]},
        "o'brien@example.com": {"Contact": [keys["obrien"]], "Lead": []},
    }


def test_people_by_email_cannot_be_injected(salesforce: SalesforceClient, salesforce_admin: Admin) -> None:
    # Given contacts with emails
    _seed(salesforce_admin, PEOPLE_SEED)

    # When an "email" tries to close the IN list and widen the filter
    people = salesforce.people_by_email(["x') OR (Email != '", "x\\' OR Email != \\'"])

    # Then it is compared as a literal value and matches nobody
    assert people == {}


def test_people_by_email_splits_long_lists(salesforce: SalesforceClient, salesforce_admin: Admin) -> None:
    # Given 250 contacts
    _seed(
        salesforce_admin,
        {"contacts": [{"LastName": f"P{i}", "Email": f"p{i}@example.com"} for i in range(250)]},
    )

    # When they are all looked up
    people = salesforce.people_by_email([f"p{i}@example.com" for i in range(250)])

    # Then all are found with two IN lists, each asked of Contact and Lead, in one composite call
    assert len(people) == 250
    assert salesforce.calls == {"POST composite": 1}


def test_queries_read_together_cost_one_call_and_each_pages_on_by_itself(
    salesforce: SalesforceClient, salesforce_admin: Admin, salesforce_log: SandboxLog
) -> None:
    # Given 2,100 tasks (two pages), one contact, and a deleted task
    _seed(salesforce_admin, {"tasks": [{"Subject": f"T{i}"} for i in range(2100)]})
    _seed(salesforce_admin, {"contacts": [{"LastName": "Lovelace", "Email": "ada@example.com"}]})
    [gone] = salesforce.upsert("Task", SALESFORCE_EXTERNAL_ID_FIELD, _tasks(1, prefix="gone"))
    salesforce.delete([gone.id or ""])
    salesforce_log.clear()
    salesforce.calls.clear()

    # When three queries (one of them queryAll) are read together
    tasks, contacts, deleted = salesforce.query_together(
        [
            SoqlQuery("SELECT Id FROM Task WHERE IsDeleted = false"),
            SoqlQuery("SELECT Id, Email FROM Contact"),
            SoqlQuery("SELECT Id FROM Task WHERE IsDeleted = true", include_deleted=True),
        ]
    )
    assert salesforce.calls == {}  # nothing is read before it is wanted

    # Then the first pages of all three come in one composite call, and only the query with a
    # second page needs another
    assert [row["Email"] for row in contacts] == ["ada@example.com"]
    assert [row["Id"] for row in deleted] == [gone.id]
    assert len(list(tasks)) == 2100
    assert salesforce.calls == {"POST composite": 1, "GET query/<locator>": 1}
    assert salesforce_log.count("POST", "/composite") == 1


def test_a_query_that_fails_inside_a_composite_fails_alone(salesforce: SalesforceClient) -> None:
    # Given two queries read together, one of them naming a field that does not exist
    good, bad = salesforce.query_together(
        [SoqlQuery("SELECT Id FROM Contact"), SoqlQuery("SELECT NoSuchField__c FROM Contact")]
    )

    # When both are read, then the bad one raises Salesforce's error, final, and the good one reads
    with pytest.raises(VendorApiError) as failure:
        list(bad)
    assert failure.value.status == 400
    assert not failure.value.retryable
    assert "INVALID_FIELD" in str(failure.value)
    assert list(good) == []
    assert salesforce.calls == {"POST composite": 1}


def test_queries_read_together_are_read_one_by_one_when_the_composite_call_fails(
    salesforce: SalesforceClient, salesforce_admin: Admin, salesforce_log: SandboxLog
) -> None:
    # Given a composite call that keeps failing with a 500
    _seed(salesforce_admin, {"contacts": [{"LastName": "Lovelace", "Email": "ada@example.com"}]})
    salesforce_log.fault("POST /services/data/*/composite", "server_error", times=None)

    # When two queries are read together
    contacts, leads = salesforce.query_together(
        [SoqlQuery("SELECT Id, Email FROM Contact"), SoqlQuery("SELECT Id FROM Lead")]
    )

    # Then, its retries spent, each is read on its own instead, and nothing is lost
    assert [row["Email"] for row in contacts] == ["ada@example.com"]
    assert list(leads) == []
    assert salesforce.calls == {"POST composite": 1 + MAX_RETRIES, "GET query": 2}


def test_picklist_values_are_the_active_ones(salesforce: SalesforceClient, salesforce_admin: Admin) -> None:
    # Given Task.Type with an inactive value
    salesforce_admin.post(
        "/picklists",
        {"object": "Task", "field": "Type", "values": ["Call", {"value": "Fax", "active": False}, "Email"]},
    )

    assert salesforce.picklist_values("Task", "Type") == ["Call", "Email"]


def test_picklist_values_of_a_hidden_field_say_so(
    salesforce: SalesforceClient, salesforce_admin: Admin
) -> None:
    salesforce_admin.post("/field-access", {"object": "Task", "field": "Type", "accessible": False})

    with pytest.raises(VendorApiError) as raised:
        salesforce.picklist_values("Task", "Type")

    assert raised.value.retryable is False
    assert "field-level security" in str(raised.value)


# -- retries and errors ------------------------------------------------------------------------------


def test_a_429_is_retried_after_its_retry_after(
    salesforce: SalesforceClient, salesforce_log: SandboxLog
) -> None:
    # Given the next collection call is rate limited for one second
    salesforce_log.fault(f"PATCH /services/data/*{COLLECTIONS}/*", "rate_limit", times=1, retry_after=1)
    started = time.monotonic()

    # When tasks are upserted
    results = salesforce.upsert("Task", SALESFORCE_EXTERNAL_ID_FIELD, _tasks(2))

    # Then the client waited and tried again; both calls are counted
    assert all(r.success for r in results)
    assert time.monotonic() - started >= 1.0
    assert salesforce_log.statuses("PATCH", COLLECTIONS) == [429, 200]
    assert salesforce.calls.total() == 2


def test_503s_are_retried(salesforce: SalesforceClient, salesforce_log: SandboxLog) -> None:
    salesforce_log.fault("GET /services/data/*/query*", "status", status=503, times=2)

    assert list(salesforce.query("SELECT Id FROM User"))

    assert salesforce_log.statuses("GET", "/query") == [503, 503, 200]


def test_exhausted_5xx_retries_are_retryable(
    salesforce_server: RunningServer, salesforce_auth: SalesforceAuth, salesforce_log: SandboxLog
) -> None:
    client = SalesforceClient(salesforce_auth, session=sandbox_session(salesforce_server), max_retries=1)
    salesforce_log.fault("GET /services/data/*/query*", "server_error", times=None)

    with pytest.raises(VendorApiError) as raised:
        list(client.query("SELECT Id FROM User"))

    assert (raised.value.status, raised.value.retryable) == (500, True)
    assert salesforce_log.count("GET", "/query") == 2


def test_the_daily_request_limit_is_retryable_later(
    salesforce: SalesforceClient, salesforce_admin: Admin, salesforce_log: SandboxLog
) -> None:
    # Given the org's daily API allocation is spent
    salesforce_admin.post("/limits", {"remaining": 0})

    # When the client queries
    with pytest.raises(VendorApiError) as raised:
        list(salesforce.query("SELECT Id FROM User"))

    # Then the error is retryable (the allocation comes back) and the client did not hammer the org
    assert (raised.value.status, raised.value.retryable) == (403, True)
    assert "REQUEST_LIMIT_EXCEEDED" in str(raised.value)
    assert salesforce_log.count("GET", "/query") == 1


def test_a_malformed_query_is_not_retryable(salesforce: SalesforceClient) -> None:
    with pytest.raises(VendorApiError) as raised:
        list(salesforce.query("SELECT FROM Task WHERE"))

    assert (raised.value.status, raised.value.retryable) == (400, False)
    assert "MALFORMED_QUERY" in str(raised.value)


def test_a_locked_row_is_retryable(salesforce: SalesforceClient, salesforce_log: SandboxLog) -> None:
    salesforce_log.fault(f"PATCH /services/data/*{COLLECTIONS}/*", "status", status=400, times=1)

    with pytest.raises(VendorApiError) as raised:
        salesforce.upsert("Task", SALESFORCE_EXTERNAL_ID_FIELD, _tasks(1))

    assert (raised.value.status, raised.value.retryable) == (400, True)
    assert "UNABLE_TO_LOCK_ROW" in str(raised.value)
