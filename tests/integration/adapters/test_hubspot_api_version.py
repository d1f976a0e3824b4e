"""The HubSpot client speaks one date-based API version (``API_VERSION``) and nothing older outside
its legacy feeds: every request it sends to the CRM and the marketing emails listing, and every
answer the sandbox gives it, is checked against HubSpot's own specs of that version
(``shared/reference/hubspot-openapi/<version>``), operation by operation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from activity_sync.adapters.hubspot_api import API_VERSION, HubSpotClient
from activity_sync.adapters.hubspot_legacy_feeds import LEGACY_PATHS
from activity_sync.ports import NewObject
from activity_sync_tools.sandbox.core import RunningServer
from activity_sync_tools.sandbox.hubspot.app import SERVED_VERSIONS
from activity_sync_tools.sandbox.hubspot.testing import (
    Admin,
    DatedSpecs,
    Exchange,
    openapi_directory,
    recording_session,
)

from .conftest import HUBSPOT_TOKEN

ROOT = Path(__file__).resolve().parents[3]
T0 = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)
KEY = "activity_sync_key"

pytestmark = pytest.mark.integration

# Every operation of the version the client uses, as the spec names it.
OPERATIONS_USED = {
    f"POST /crm/objects/{API_VERSION}/{{objectType}}/batch/read",
    f"POST /crm/objects/{API_VERSION}/{{objectType}}/batch/create",
    f"POST /crm/objects/{API_VERSION}/{{objectType}}/batch/upsert",
    f"POST /crm/objects/{API_VERSION}/{{objectType}}/batch/update",
    f"POST /crm/objects/{API_VERSION}/{{objectType}}/batch/archive",
    f"POST /crm/objects/{API_VERSION}/{{objectType}}/search",
    f"POST /crm/associations/{API_VERSION}/{{fromObjectType}}/{{toObjectType}}/batch/read",
    f"POST /crm/associations/{API_VERSION}/{{fromObjectType}}/{{toObjectType}}/batch/create",
    f"GET /crm/owners/{API_VERSION}",
    f"GET /crm/properties/{API_VERSION}/{{objectType}}/{{propertyName}}",
    f"POST /crm/properties/{API_VERSION}/{{objectType}}",
    f"POST /crm/properties/{API_VERSION}/{{objectType}}/groups",
    f"GET /marketing/emails/{API_VERSION}",
}


@pytest.fixture
def specs() -> DatedSpecs:
    directory = openapi_directory(ROOT)
    assert (directory / API_VERSION).is_dir(), f"HubSpot's {API_VERSION} specs are not in {directory}"
    return DatedSpecs(directory, API_VERSION)


def _iso(instant: dt.datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def _exercise(client: HubSpotClient, admin: Admin) -> None:
    """Every port method the CRM side has, on shapes that make HubSpot answer with errors too."""
    refs = admin.post(
        "seed",
        {
            "contacts": [{"ref": "ada", "properties": {"email": "ada@example.com"}}],
            "notes": [
                {
                    "ref": "n1",
                    "properties": {"hs_note_body": "hello", "hs_timestamp": _iso(T0)},
                    "associations": ["contacts:ada"],
                }
            ],
        },
    )["refs"]
    contact, note = refs["contacts"]["ada"], refs["notes"]["n1"]
    admin.post("owners", {"email": "ana@example.com", "firstName": "Ana"})
    admin.post("marketing-emails", {"name": "Newsletter", "campaignId": 7})

    client.ensure_unique_property("calls", KEY, "Activity sync key")  # 404, group, property
    client.ensure_unique_property("calls", KEY, "Activity sync key")  # exists: one read
    client.owners()
    client.marketing_email_names()
    client.read_objects("notes", [note, "999999"], ["hs_note_body"])  # one id missing
    client.read_objects("contacts", ["ada@example.com"], ["email"], id_property="email")
    client.associated_ids("notes", "contacts", [note, "999999"])
    list(
        client.search_modified("notes", T0 - dt.timedelta(days=1), dt.datetime.now(dt.UTC), ["hs_note_body"])
    )
    client.find_contacts_by_email(["ada@example.com"], ["firstname"])
    created = client.create_objects(
        "calls", KEY, [NewObject({KEY: "c1", "hs_timestamp": _iso(T0)}, [(contact, 194)])]
    )
    client.create_objects("calls", KEY, [NewObject({KEY: "c1", "hs_timestamp": _iso(T0)})])  # refused
    client.upsert_objects("calls", KEY, [{KEY: "c1", "hs_call_title": "edited"}, {KEY: "c2"}])
    client.update_objects(
        "calls", [(created[0].id or "", {"hs_call_body": "b"}), ("999999", {"hs_call_body": "b"})]
    )
    client.associate("calls", "contacts", [(created[0].id or "", contact, 194)])
    client.archive_objects("calls", [created[0].id or ""])


def test_every_exchange_of_the_client_is_the_one_hubspots_specs_of_its_version_describe(
    hubspot_server: RunningServer, hubspot_admin: Admin, specs: DatedSpecs
) -> None:
    # Given the client, recording what it sends and what it is answered
    exchanges: list[Exchange] = []
    client = HubSpotClient(hubspot_server.url, HUBSPOT_TOKEN, session=recording_session(exchanges))

    # When every CRM method is used, on shapes that also draw per-record errors
    _exercise(client, hubspot_admin)

    # Then every request and answer matches its operation in the version's specs
    used = {specs.check(exchange) for exchange in exchanges}
    assert used == OPERATIONS_USED
    # and some answers carried per-record errors (a missing id, a taken unique value)
    assert any(isinstance(e.response_body, dict) and e.response_body.get("errors") for e in exchanges)
    assert any(e.status == 400 for e in exchanges)


def test_the_client_calls_no_legacy_path_but_its_legacy_feeds(
    hubspot_server: RunningServer, hubspot_admin: Admin
) -> None:
    exchanges: list[Exchange] = []
    client = HubSpotClient(hubspot_server.url, HUBSPOT_TOKEN, session=recording_session(exchanges))
    _exercise(client, hubspot_admin)
    list(client.email_event_pages(T0, T0 + dt.timedelta(hours=1)))
    client.forms()

    legacy = [e.path for e in exchanges if f"/{API_VERSION}" not in e.path]
    assert legacy, "the legacy feeds were not called"
    assert all(path.startswith(LEGACY_PATHS) for path in legacy), legacy


def test_the_sandbox_serves_the_version_the_client_calls() -> None:
    assert API_VERSION in SERVED_VERSIONS


def test_the_checker_refuses_what_the_spec_forbids(specs: DatedSpecs) -> None:
    # A request body without its inputs, an answer without its status, a status the operation
    # does not have and a path of another version all fail
    path = f"/crm/objects/{API_VERSION}/notes/batch/read"
    good = {"status": "COMPLETE", "results": [], "startedAt": _iso(T0), "completedAt": _iso(T0)}
    body = {"inputs": [{"id": "1"}], "properties": [], "propertiesWithHistory": []}
    specs.check(Exchange("POST", path, body, 200, good))
    broken = [
        Exchange("POST", path, {"properties": []}, 200, good),
        Exchange("POST", path, body, 200, {**good, "status": None}),
        Exchange(
            "POST", f"/crm/objects/{API_VERSION}/notes/batch/archive", {"inputs": [{"id": "1"}]}, 204, good
        ),
        Exchange("POST", "/crm/v3/objects/notes/batch/read", body, 200, good),
    ]
    for exchange in broken:
        with pytest.raises(AssertionError if "/v3/" in exchange.path else Exception):
            specs.check(exchange)
