"""Seeding, determinism, reset, the versions listing and safe XML parsing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from simple_salesforce.format import format_soql

from activity_sync_tools.sandbox.core import RunningServer
from activity_sync_tools.sandbox.salesforce import SalesforceSandbox, sandbox_session
from activity_sync_tools.sandbox.salesforce.safe_xml import UnsafeXmlError, parse_xml
from activity_sync_tools.sandbox.salesforce.testing import BASE_SEED, Harness

pytestmark = pytest.mark.integration

SEED: dict[str, Any] = {
    **BASE_SEED,
    "custom_fields": {
        "Contact": [{"name": "HubSpot_Contact_Id__c", "type": "string", "external_id": True, "unique": True}]
    },
    "picklists": {"Task.Type": ["Call", "Email", "Meeting", "Other"]},
    "tasks": [
        {
            "key": "old",
            "Subject": "Old call",
            "WhoId": "@ada",
            "Status": "Completed",
            "CreatedDate": "2023-11-02T08:30:00Z",
            "CreatedById": "@alice",
            "LastModifiedById": "@alice",
        },
        {"key": "gone", "Subject": "Deleted", "IsDeleted": True},
    ],
    "events": [
        {
            "key": "meet",
            "Subject": "Demo",
            "WhoId": "@lin",
            "StartDateTime": "2024-01-02T15:00:00Z",
            "DurationInMinutes": 30,
        }
    ],
}


def _frozen_dump(seed: dict[str, Any]) -> tuple[dict[str, str], list[Any]]:
    """Seed a fresh, frozen-clock sandbox (no server) and dump its tasks through the admin view."""
    sandbox = SalesforceSandbox()
    from datetime import UTC, datetime

    sandbox.clock.set(datetime(2024, 2, 1, tzinfo=UTC), frozen=True)
    keys = sandbox.load_seed(seed)
    rows = [sandbox.admin.render_all_fields(r, "v59.0") for r in sandbox.store.all_rows("Task")]
    return keys, rows


def test_same_seed_gives_same_ids_and_records() -> None:
    # Given two fresh sandboxes with the same frozen clock
    # When the same seed is loaded into each
    first_keys, first_rows = _frozen_dump(SEED)
    second_keys, second_rows = _frozen_dump(SEED)
    # Then ids and records are identical
    assert first_keys == second_keys
    assert first_rows == second_rows
    assert first_keys["old"].startswith("00T")
    assert first_keys["meet"].startswith("00U")


def test_seeded_records_keep_system_fields_and_references(harness: Harness) -> None:
    # Given the seed loaded into the running sandbox
    keys = harness.admin.post("/seed", {k: v for k, v in SEED.items() if k not in BASE_SEED})["keys"]
    sf = harness.client()
    # When seeded records are read
    old = sf.Task.get(keys["old"])
    deleted = sf.query_all(
        format_soql("SELECT Id, IsDeleted FROM Task WHERE Id = {}", keys["gone"]), include_deleted=True
    )["records"]
    contact_field = next(f for f in sf.Contact.describe()["fields"] if f["name"] == "HubSpot_Contact_Id__c")
    # Then system fields, references, deletion and custom fields are as seeded
    assert old["CreatedDate"] == "2023-11-02T08:30:00.000+0000"
    assert old["CreatedById"] == old["LastModifiedById"] == harness.keys["alice"]
    assert old["WhoId"] == harness.keys["ada"]
    assert old["IsClosed"] is True
    assert deleted == [{"attributes": deleted[0]["attributes"], "Id": keys["gone"], "IsDeleted": True}]
    assert contact_field["externalId"] is True


def test_seed_with_unknown_reference_is_refused(harness: Harness) -> None:
    # Given a seed pointing at a key that does not exist
    # When it is loaded
    response = harness.admin.call(
        "POST", "/seed", None, json={"tasks": [{"Subject": "x", "WhoId": "@ghost"}]}
    )
    # Then the admin route refuses it with a reason
    assert response.status_code == 400
    assert "@ghost" in response.json()["message"]


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_load_seed_file(tmp_path: Path, suffix: str) -> None:
    # Given a seed file in JSON or YAML
    path = tmp_path / f"seed{suffix}"
    path.write_text(json.dumps(BASE_SEED) if suffix == ".json" else yaml.safe_dump(BASE_SEED))
    # When it is loaded
    sandbox = SalesforceSandbox()
    keys = sandbox.load_seed_file(str(path))
    # Then the records exist under their keys
    assert sandbox.store.records[keys["ada"]].values["Email"] == "ada@example.com"


def test_reset_returns_to_a_fresh_org(server: RunningServer, harness: Harness) -> None:
    # Given records, a moved clock and a fault
    sf = harness.client()
    first_task = sf.Task.create({"Subject": "x"})["id"]
    harness.admin.post("/clock", {"advance_seconds": 999})
    harness.admin.post("/faults", {"route": "GET /nowhere", "kind": "server_error", "times": None})
    # When the sandbox is reset and seeded again
    sandbox_session(server).post(f"{server.url}/_sandbox/reset", timeout=30).raise_for_status()
    again = Harness(server)
    # Then the org is fresh: same seed ids, no tasks, no faults, and ids restart
    assert again.keys == harness.keys
    sf_again = again.client()
    assert sf_again.query("SELECT COUNT() FROM Task")["totalSize"] == 0
    assert harness.admin.get("/faults")["faults"] == []
    assert sf_again.Task.create({"Subject": "x"})["id"] == first_task


def test_versions_listing_needs_no_session(harness: Harness) -> None:
    # Given no token
    # When the versions listing is read
    versions = harness.http.get(f"{harness.url}/services/data/", timeout=30).json()
    # Then it lists versions up to the sandbox's default
    assert {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"} in versions


@pytest.mark.parametrize(
    "document",
    [
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><a>&lol2;</a>',
        b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>',
        b"<a><b></a>",
    ],
)
def test_safe_xml_refuses_dtds_entities_and_broken_documents(document: bytes) -> None:
    # Given a document with a DTD, an external entity, or broken nesting
    # When it is parsed
    # Then it is refused rather than expanded
    with pytest.raises(UnsafeXmlError):
        parse_xml(document)


def test_safe_xml_parses_namespaces() -> None:
    # Given a namespaced document
    # When it is parsed
    root = parse_xml(b'<a xmlns="urn:x" xmlns:y="urn:y"><y:b y:c="1">t</y:b></a>')
    # Then tags and attributes use ElementTree's {namespace}name form
    child = root.find("{urn:y}b")
    assert root.tag == "{urn:x}a"
    assert child is not None
    assert child.get("{urn:y}c") == "1"
    assert child.text == "t"
