"""One declaration of what the service asks of HubSpot (rules.hubspot_subscriptions) feeds the
project in hubspot/, the webhook receiver and the rehearsals; these tests fail when they drift."""

from __future__ import annotations

import json

from activity_sync.domain import HubSpotActivityType
from activity_sync.rules.hubspot_records import ENGAGEMENTS
from activity_sync.rules.hubspot_subscriptions import (
    ACTIVITY_OBJECTS,
    REQUIRED_SCOPES,
    WEBHOOK_SUBSCRIPTIONS,
    watched_properties,
)
from activity_sync.rules.hubspot_webhooks import HubSpotWebhookEvent
from activity_sync.usecases.ingest import route_hubspot_events
from activity_sync_tools.hubspot_project import PLACEHOLDER_TARGET_URL, REPOSITORY_COPY, project_files

PORTAL = 62515


def test_the_project_in_the_repository_is_the_declaration_rendered() -> None:
    # Given the project files rendered from the declaration (for no stack in particular)
    rendered = project_files(PLACEHOLDER_TARGET_URL)

    # Then hubspot-app/ holds exactly those files, with exactly that content
    on_disk = {
        path.relative_to(REPOSITORY_COPY).as_posix(): json.loads(path.read_text())
        for path in REPOSITORY_COPY.rglob("*.json")
    }
    assert on_disk == rendered, "hubspot-app/ drifted: run `activity-sync hubspot-project --target-url "
    f"{PLACEHOLDER_TARGET_URL} --out hubspot-app`"


def test_the_project_asks_for_the_declared_scopes_and_subscriptions_and_nothing_else() -> None:
    files = project_files("https://abc.execute-api.eu-west-1.amazonaws.com/webhooks/hubspot")
    auth = files["src/app/app-hsmeta.json"]["config"]["auth"]
    assert auth["requiredScopes"] == list(REQUIRED_SCOPES)
    assert auth["optionalScopes"] == auth["conditionallyRequiredScopes"] == []
    webhooks = files["src/app/webhooks/webhooks-hsmeta.json"]["config"]
    assert webhooks["settings"]["targetUrl"].endswith("/webhooks/hubspot")
    subscriptions = webhooks["subscriptions"]
    assert len(subscriptions["crmObjects"]) + len(subscriptions["legacyCrmObjects"]) == len(
        WEBHOOK_SUBSCRIPTIONS
    )
    by_name = {a.project_name: a for a in ACTIVITY_OBJECTS}
    for entry in subscriptions["crmObjects"]:
        assert entry["objectType"] in by_name
        assert (entry["subscriptionType"] == "object.propertyChange") == ("propertyName" in entry)


def test_every_declared_subscription_is_routed_by_the_receiver() -> None:
    # Given one webhook event for each declared subscription
    events = []
    for number, subscription in enumerate(WEBHOOK_SUBSCRIPTIONS, start=1):
        raw = {
            "eventId": number,
            "subscriptionId": number,
            "portalId": PORTAL,
            "occurredAt": 1_700_000_000_000,
            "subscriptionType": subscription.subscription_type,
            "objectId": 1000 + number,
        }
        if subscription.activity is not None:
            raw["objectTypeId"] = subscription.activity.type_id
        if subscription.property_name:
            raw["propertyName"] = subscription.property_name
            raw["propertyValue"] = "x"
        if subscription.subscription_type == "object.associationChange":
            raw.update(
                fromObjectTypeId=subscription.activity.type_id if subscription.activity else None,
                fromObjectId=1000 + number,
                toObjectTypeId="0-1",
                toObjectId=1,
            )
        events.append(HubSpotWebhookEvent.from_dict(raw))

    # When the receiver routes them
    routed = route_hubspot_events(events, PORTAL)

    # Then none is ignored: each lands on its activity's queue or the contact queue
    assert routed.ignored == []
    assert len(routed.changes) + len(routed.contact_changes) == len(WEBHOOK_SUBSCRIPTIONS)


def test_the_watched_properties_are_the_ones_the_service_reads() -> None:
    for activity in ACTIVITY_OBJECTS:
        watched = set(watched_properties(activity.activity_type))
        assert watched <= set(ENGAGEMENTS[activity.activity_type].properties)
        assert {"hs_timestamp", "hubspot_owner_id"} <= watched
    emails = set(watched_properties(HubSpotActivityType.SALES_EMAIL))
    assert {"hs_email_open_count", "hs_email_click_count"} <= emails  # opens and clicks come only this way
    assert "hs_email_subject" not in emails  # HubSpot offers no subscription on it
