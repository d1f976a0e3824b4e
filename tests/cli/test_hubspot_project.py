"""``activity-sync hubspot-project``: the HubSpot app rendered for the stack and uploaded to the
rehearsal's HubSpot sandbox is what delivers a note's webhook - the setup guide's first synced
note, on the sandboxes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from activity_sync.domain import HubSpotActivityType
from activity_sync_tools.rehearsal import Rehearsal
from tests.cli.conftest import Cli
from tests.e2e.support import E2E, h2s

NOTES = h2s(HubSpotActivityType.NOTE)


@pytest.fixture
def without_webhooks(world: Rehearsal, ops: E2E) -> Iterator[dict[str, object]]:
    """A portal whose app is not installed yet (no webhooks); the rehearsal's set-up afterwards."""
    before = ops.hubspot.admin("GET", "webhooks")
    ops.hubspot.admin("DELETE", "webhooks")
    yield before
    ops.hubspot.admin(
        "POST",
        "webhooks",
        {
            "target_url": before["target_url"],
            "subscriptions": before["subscriptions"],
            "max_concurrent_requests": before["max_concurrent_requests"],
        },
    )


def test_the_rendered_project_uploaded_to_the_sandbox_delivers_a_notes_webhook(
    cli: Cli, ops: E2E, world: Rehearsal, without_webhooks: dict[str, object], tmp_path: Path
) -> None:
    # Given notes switched on, Ada on both sides, and a note logged before the app is installed
    ops.switch_on(NOTES)
    email = ops.tag("ada")
    person = ops.salesforce.person("Contact", email)
    contact = ops.hubspot.contact(email)
    early = ops.hubspot.engagement("notes", {"hs_note_body": "before the app"}, [contact])
    ops.drain()
    assert ops.salesforce.tasks_for_activity(f"hs:note:{early}") == []  # nothing told the stack

    # When the operator renders the project for this stack and uploads it
    out = tmp_path / "project"
    answer = cli("hubspot-project", "--out", str(out), "--upload-to-sandbox", world.hubspot.url)
    assert answer.status == 0, answer.err
    webhooks = json.loads((out / "src/app/webhooks/webhooks-hsmeta.json").read_text())
    assert webhooks["config"]["settings"]["targetUrl"] == f"{world.stack.api_url}/webhooks/hubspot"
    # and a rep logs a note on Ada
    note = ops.hubspot.engagement("notes", {"hs_note_body": "First synced note"}, [contact])
    ops.drain()

    # Then its Task is in Salesforce, on Ada, brought by the app's webhook alone (no poll ran)
    (task,) = ops.salesforce.tasks_for_activity(f"hs:note:{note}")
    assert task["WhoId"] == person
    assert "First synced note" in task["Subject"]
    described = ops.hubspot.admin("GET", "webhooks")
    assert len(described["subscriptions"]) == len(webhooks["config"]["subscriptions"]["crmObjects"]) + len(
        webhooks["config"]["subscriptions"]["legacyCrmObjects"]
    )


def test_a_target_that_is_not_the_stacks_webhook_url_is_refused(tmp_path: Path) -> None:
    from activity_sync_tools.cli import main

    target = "http://example.com/webhooks/hubspot"  # plain http, and not a local stack
    with pytest.raises(SystemExit, match="webhook target"):
        main(["hubspot-project", "--target-url", target, "--out", str(tmp_path / "p")])
    assert not (tmp_path / "p").exists()
