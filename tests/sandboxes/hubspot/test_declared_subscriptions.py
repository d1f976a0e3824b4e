"""The rehearsals subscribe the sandbox to what the project in hubspot-app/ declares, and the sandbox
understands every declared subscription: each watched change of an activity is delivered once."""

from __future__ import annotations

import json

import pytest

from activity_sync.domain import HubSpotActivityType
from activity_sync.rules.hubspot_subscriptions import (
    ACTIVITY_OBJECTS,
    WEBHOOK_SUBSCRIPTIONS,
    watched_properties,
)
from activity_sync_tools.hubspot_project import PLACEHOLDER_TARGET_URL, WEBHOOKS_COMPONENT, project_files
from activity_sync_tools.rehearsal import WEBHOOK_SUBSCRIPTIONS as REHEARSED
from activity_sync_tools.sandbox.hubspot.schema import find_object_type
from activity_sync_tools.sandbox.hubspot.testing import Admin, WebhookReceiver
from activity_sync_tools.sandbox.hubspot.webhooks import parse_subscription, settings_from_project


def test_the_rehearsals_subscribe_what_the_project_declares() -> None:
    # The rehearsals set the sandbox up from the project's webhooks component, as an upload would
    expected = []
    for declared in WEBHOOK_SUBSCRIPTIONS:
        entry = {"subscriptionType": declared.subscription_type}
        if declared.activity is not None:
            entry["objectType"] = declared.activity.project_name
        if declared.property_name:
            entry["propertyName"] = declared.property_name
        expected.append(entry)
    assert sorted(map(json.dumps, REHEARSED)) == sorted(map(json.dumps, expected))
    for number, entry in enumerate(REHEARSED, start=1):
        parsed = parse_subscription(entry, number)
        assert parsed.subscription_type == entry["subscriptionType"]
        assert parsed.property_name == entry.get("propertyName")


def test_a_project_whose_webhooks_the_sandbox_cannot_deliver_is_refused() -> None:
    component = project_files(PLACEHOLDER_TARGET_URL)[WEBHOOKS_COMPONENT]
    broken = json.loads(json.dumps(component))
    broken["config"]["subscriptions"]["crmObjects"][0]["objectType"] = "meeting_events"
    with pytest.raises(ValueError, match="meeting_events"):
        settings_from_project(broken)
    inactive = json.loads(json.dumps(component))
    inactive["config"]["subscriptions"]["crmObjects"][0]["active"] = False
    assert len(settings_from_project(inactive)["subscriptions"]) == len(REHEARSED) - 1
    assert settings_from_project(component)["max_concurrent_requests"] == 10


def test_the_projects_object_names_are_the_declared_object_types() -> None:
    for activity in ACTIVITY_OBJECTS:
        found = find_object_type(activity.project_name)
        assert found is not None, activity.project_name
        assert found.type_id == activity.type_id


def test_a_watched_change_of_a_note_is_delivered_and_an_unwatched_one_is_not(
    admin: Admin, receiver: WebhookReceiver
) -> None:
    # Given the sandbox subscribed as the rehearsals subscribe it, and a note
    admin.post("webhooks", {"target_url": receiver.url, "subscriptions": REHEARSED})
    note = admin.create("notes", {"hs_note_body": "first", "hs_timestamp": "2026-01-01T00:00:00Z"})
    receiver.wait_for(lambda r: any(e["subscriptionType"] == "object.creation" for e in r.events()))
    admin.post("webhooks/flush")
    before = len(receiver.events())

    # When a user edits its body, then a property the service does not read
    admin.patch(f"objects/notes/{note['id']}", {"properties": {"hs_note_body": "second"}})
    admin.patch(f"objects/notes/{note['id']}", {"properties": {"hs_attachment_ids": "7"}})
    receiver.wait_for(lambda r: len(r.events()) > before)
    admin.post("webhooks/flush")

    # Then only the watched change arrived
    events = receiver.events()[before:]
    changed = [e["propertyName"] for e in events if e["subscriptionType"] == "object.propertyChange"]
    assert changed == ["hs_note_body"], events
    assert "hs_note_body" in watched_properties(HubSpotActivityType.NOTE)
