"""Document views and timeline events, which HubSpot has no read API for, reach the service through a
workflow's *Send a webhook* action: bodies the service's ``ActivityPost`` accepts, the bearer
token, retries until the receiver answers 2xx, flushing, listing, seeds, and silence when no action
is configured."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest

from activity_sync.domain import HubSpotActivityType
from activity_sync.usecases.ingest import ActivityPost, hubspot_sync_type, route_activity_posts
from activity_sync_tools.sandbox.hubspot.testing import Admin, WebhookReceiver, webhook_receiver

TOKEN = "activity-route-token"
ROUTE = "/webhooks/hubspot/activities"


@pytest.fixture
def activities() -> Iterator[WebhookReceiver]:
    """The service's activity route, played by a local receiver."""
    with webhook_receiver(ROUTE) as running:
        yield running


def configure(admin: Admin, receiver: WebhookReceiver, **settings: Any) -> dict[str, Any]:
    described: dict[str, Any] = admin.post(
        "workflow-webhooks",
        {"target_url": receiver.url, "bearer_token": TOKEN, "retry_backoff_seconds": 0.02, **settings},
    )
    return described


def bodies(receiver: WebhookReceiver) -> list[dict[str, Any]]:
    with receiver.lock:
        return [json.loads(r.body) for r in receiver.requests]


def flush_until_idle(admin: Admin, rounds: int = 10) -> list[dict[str, Any]]:
    """Flush the workflow action until nothing is pending; answers every flushed delivery."""
    flushed: list[dict[str, Any]] = []
    for _ in range(rounds):
        answer = admin.post("workflow-webhooks/flush")
        flushed += answer["deliveries"]
        if answer["pending"] == 0:
            return flushed
    raise AssertionError(f"still pending after {rounds} flushes: {flushed}")


def wait_for_deliveries(admin: Admin, receiver: WebhookReceiver, count: int) -> list[dict[str, Any]]:
    receiver.wait_for(lambda _: len(admin.get("workflow-webhooks/deliveries")["deliveries"]) >= count)
    deliveries: list[dict[str, Any]] = admin.get("workflow-webhooks/deliveries")["deliveries"]
    return deliveries


def test_document_view_is_posted_as_an_activity_post_with_the_bearer_token(
    admin: Admin, activities: WebhookReceiver, owner: dict[str, Any]
) -> None:
    # Given a contact with an owner, and the workflow action pointed at the activity route
    contact = admin.create("contacts", {"email": "alice@example.com", "hubspot_owner_id": owner["id"]})
    configure(admin, activities)

    # When Alice views a document
    answer = admin.post(
        "document-views",
        {"contact": "Alice@Example.com", "document_name": "Pricing deck.pdf", "at": "2024-05-01T09:30:00Z"},
    )
    activities.wait_for(lambda r: len(r.requests) == 1)

    # Then one POST to the route carries it with the bearer token, in a shape the service accepts
    request = activities.requests[0]
    assert request.path == ROUTE
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    expected = {
        "type": "document_view",
        "id": "document-view-1",
        "occurred_at": "2024-05-01T09:30:00.000Z",
        "contact_ids": [contact["id"]],
        "owner_id": owner["id"],
        "properties": {"document_name": "Pricing deck.pdf"},
    }
    assert json.loads(request.body) == expected
    post = ActivityPost.from_dict(json.loads(request.body))
    assert (post.type, post.occurred_at.utcoffset()) == (HubSpotActivityType.DOCUMENT_VIEW, dt.timedelta(0))
    routed = route_activity_posts(request.body)
    assert [(c.sync_type, c.object_id) for c in routed.changes] == [
        (hubspot_sync_type(HubSpotActivityType.DOCUMENT_VIEW).key, "document-view-1")
    ]
    assert answer == {"activity": expected, "queued": True}
    [delivery] = wait_for_deliveries(admin, activities, 1)
    assert (delivery["status"], delivery["outcome"], delivery["attemptNumber"]) == (204, "delivered", 0)
    assert (delivery["activityType"], delivery["activityId"], delivery["body"]) == (
        "document_view",
        "document-view-1",
        expected,
    )


def test_timeline_events_default_to_the_sandbox_clock_and_counter_ids(
    admin: Admin, activities: WebhookReceiver
) -> None:
    # Given a frozen sandbox clock, an ownerless contact, and the workflow action
    admin.post("clock", {"now": "2024-06-02T12:00:00+00:00", "frozen": True})
    contact = admin.create("contacts", {"email": "bob@example.com"})
    configure(admin, activities)

    # When two timeline events are recorded by contact id, without ids or times
    for event_name in ("Webinar registered", "Webinar attended"):
        admin.post(
            "timeline-events", {"contact": contact["id"], "app_name": "Zoom", "event_name": event_name}
        )
    activities.wait_for(lambda r: len(r.requests) == 2)

    # Then they are sent in order with counter ids, the clock's time and no owner
    sent = bodies(activities)
    assert sent == [
        {
            "type": "integration_event",
            "id": f"timeline-event-{n}",
            "occurred_at": "2024-06-02T12:00:00.000Z",
            "contact_ids": [contact["id"]],
            "properties": {"app_name": "Zoom", "event_name": name},
        }
        for n, name in ((1, "Webinar registered"), (2, "Webinar attended"))
    ]
    for body in sent:
        ActivityPost.from_dict(body)
    assert len(route_activity_posts(json.dumps(sent)).changes) == 2


def test_failed_sends_are_retried_until_the_receiver_answers_2xx(
    admin: Admin, activities: WebhookReceiver
) -> None:
    # Given a route that fails three times (503, a dropped-in 500, a 429 asking to wait) and then accepts
    activities.responses = [(503, {}), (500, {}), (429, {"Retry-After": "1"})]
    contact = admin.create("contacts", {"email": "carol@example.com"})
    configure(admin, activities, retry_after_scale=0.05)

    # When a document view is recorded
    admin.post("document-views", {"contact": contact["id"], "document_name": "Case study.pdf"})
    activities.wait_for(lambda r: len(r.requests) == 4)

    # Then the background sender sent the same body four times, the log tells the story, and it stops
    first, *others = bodies(activities)
    assert others == [first] * 3
    ActivityPost.from_dict(first)
    log = wait_for_deliveries(admin, activities, 4)
    assert [(d["status"], d["outcome"], d["attemptNumber"]) for d in log] == [
        (503, "retrying", 0),
        (500, "retrying", 1),
        (429, "retrying", 2),
        (204, "delivered", 3),
    ]
    assert [d["retryInSeconds"] for d in log[:3]] == pytest.approx([0.02, 0.04, 0.05])
    assert log[3]["retryInSeconds"] is None
    assert admin.get("workflow-webhooks")["pending"] == 0


@pytest.mark.parametrize(
    ("settings", "status", "outcomes"),
    [
        pytest.param({}, 400, ["rejected"], id="4xx-is-final"),
        pytest.param({}, 401, ["rejected"], id="401-is-final"),
        pytest.param({"retry": False}, 503, ["abandoned"], id="retry-off"),
        pytest.param({"max_retries": 2}, 500, ["retrying", "retrying", "abandoned"], id="bounded"),
    ],
)
def test_failures_end_without_endless_retries(
    admin: Admin, activities: WebhookReceiver, settings: dict[str, Any], status: int, outcomes: list[str]
) -> None:
    # Given a route that always answers `status`, and retries far apart (flushes send them)
    activities.default_status = status
    contact = admin.create("contacts", {"email": "dave@example.com"})
    configure(admin, activities, retry_backoff_seconds=60, **settings)

    # When a timeline event is recorded and the action flushed until nothing is pending
    admin.post("timeline-events", {"contact": contact["id"], "app_name": "Slack", "event_name": "Message"})
    activities.wait_for(lambda r: len(r.requests) == 1)
    flush_until_idle(admin)

    # Then it was tried len(outcomes) times and then given up
    log = admin.get("workflow-webhooks/deliveries")["deliveries"]
    assert [(d["status"], d["outcome"]) for d in log] == [(status, o) for o in outcomes]
    assert [d["attemptNumber"] for d in log] == list(range(len(outcomes)))
    assert len(activities.requests) == len(outcomes)


def test_flush_sends_pending_retries_now_and_webhooks_flush_includes_them(
    admin: Admin, activities: WebhookReceiver
) -> None:
    # Given two activities whose first sends failed, each waiting a minute for its retry
    activities.responses = [(502, {})]
    contact = admin.create("contacts", {"email": "erin@example.com"})
    configure(admin, activities, retry_backoff_seconds=60)
    admin.post("document-views", {"contact": contact["id"], "document_name": "One.pdf"})
    activities.wait_for(lambda r: len(r.requests) == 1)
    one = admin.post("workflow-webhooks/flush")  # waits out the in-flight send: its retry is queued
    assert [(d["outcome"], d["attemptNumber"]) for d in one["deliveries"]] == [("delivered", 1)]
    assert one["pending"] == 0
    activities.responses = [(502, {})]
    admin.post("document-views", {"contact": contact["id"], "document_name": "Two.pdf"})
    activities.wait_for(lambda r: len(r.requests) == 3)

    # When the CRM webhooks are flushed, as the rehearsal's flush() does
    flushed = admin.post("webhooks/flush")

    # Then the workflow action's retry was sent too, synchronously
    workflow = flushed["workflow_webhooks"]
    assert [(d["activityId"], d["status"], d["outcome"], d["trigger"]) for d in workflow["deliveries"]] == [
        ("document-view-2", 204, "delivered", "flush")
    ]
    assert workflow["pending"] == 0
    assert (flushed["deliveries"], flushed["pending"]) == ([], 0)
    names = [b["properties"]["document_name"] for b in bodies(activities)]
    assert names == ["One.pdf", "One.pdf", "Two.pdf", "Two.pdf"]


def test_recorded_activities_are_listed(admin: Admin, owner: dict[str, Any]) -> None:
    # Given two contacts, one owned
    alice = admin.create("contacts", {"email": "alice@example.com", "hubspot_owner_id": owner["id"]})
    bob = admin.create("contacts", {"email": "bob@example.com"})

    # When activities are recorded, one with its own id and owner
    admin.post("document-views", {"contact": alice["id"], "document_name": "A.pdf", "at": "2024-01-02"})
    admin.post(
        "document-views",
        {"contact": "bob@example.com", "document_name": "B.pdf", "id": "dv-x", "owner": owner["email"]},
    )
    admin.post("timeline-events", {"contact": alice["id"], "app_name": "Zoom", "event_name": "Joined"})

    # Then GET lists each kind in order, as the bodies the action would send
    views = admin.get("document-views")["results"]
    events = admin.get("timeline-events")["results"]
    assert [(v["id"], v["contact_ids"], v.get("owner_id"), v["properties"]) for v in views] == [
        ("document-view-1", [alice["id"]], owner["id"], {"document_name": "A.pdf"}),
        ("dv-x", [bob["id"]], owner["id"], {"document_name": "B.pdf"}),
    ]
    assert views[0]["occurred_at"] == "2024-01-02T00:00:00.000Z"
    assert [(e["type"], e["id"]) for e in events] == [("integration_event", "timeline-event-1")]
    for body in [*views, *events]:
        ActivityPost.from_dict(body)
    state = admin.get("state")
    assert (state["documentViews"], state["timelineEvents"]) == (2, 1)


def test_nothing_is_sent_without_a_configured_action(admin: Admin, activities: WebhookReceiver) -> None:
    # Given no workflow action
    contact = admin.create("contacts", {"email": "frank@example.com"})

    # When an activity is recorded, then the action configured and flushed, then removed
    answer = admin.post("document-views", {"contact": contact["id"], "document_name": "Early.pdf"})
    configure(admin, activities)
    flushed = admin.post("workflow-webhooks/flush")
    admin.delete("workflow-webhooks")
    late = admin.post("timeline-events", {"contact": contact["id"], "app_name": "X", "event_name": "Y"})
    flushed_after_delete = admin.post("webhooks/flush")["workflow_webhooks"]

    # Then neither activity was queued or sent, though both are recorded
    assert (answer["queued"], late["queued"]) == (False, False)
    assert flushed == {"deliveries": [], "pending": 0}
    assert flushed_after_delete == {"deliveries": [], "pending": 0}
    assert activities.requests == []
    assert admin.get("workflow-webhooks/deliveries")["deliveries"] == []
    described = admin.get("workflow-webhooks")
    assert (described["target_url"], described["bearer_token_set"]) == (None, False)
    assert len(admin.get("document-views")["results"]) == len(admin.get("timeline-events")["results"]) == 1


def test_seeded_activities_are_recorded_not_sent(admin: Admin, activities: WebhookReceiver) -> None:
    # Given a configured workflow action
    configure(admin, activities)

    # When a seed brings an owner, a contact and their past activities
    seeded = admin.post(
        "seed",
        {
            "clock": {"now": "2024-05-01T09:00:00Z", "frozen": True},
            "owners": [{"ref": "ana", "email": "ana@example.com", "firstName": "Ana", "lastName": "S"}],
            "contacts": [{"ref": "alice", "owner": "ana", "properties": {"email": "alice@example.com"}}],
            "document_views": [
                {"contact": "alice", "document_name": "Pricing.pdf", "at": "2024-04-29T10:00:00Z"},
                {"contact": "alice@example.com", "document_name": "Terms.pdf"},
            ],
            "timeline_events": [
                {
                    "contact": "alice",
                    "app_name": "Zoom",
                    "event_name": "Attended",
                    "id": "zoom-42",
                    "owner": "ana",
                }
            ],
        },
    )
    flushed = admin.post("workflow-webhooks/flush")

    # Then they are listed with counter ids and the seed's times, and nothing was sent
    alice, ana = seeded["refs"]["contacts"]["alice"], seeded["refs"]["owners"]["ana"]
    views = admin.get("document-views")["results"]
    assert views == [
        {
            "type": "document_view",
            "id": "document-view-1",
            "occurred_at": "2024-04-29T10:00:00.000Z",
            "contact_ids": [alice],
            "owner_id": ana,
            "properties": {"document_name": "Pricing.pdf"},
        },
        {
            "type": "document_view",
            "id": "document-view-2",
            "occurred_at": "2024-05-01T09:00:00.000Z",
            "contact_ids": [alice],
            "owner_id": ana,
            "properties": {"document_name": "Terms.pdf"},
        },
    ]
    [event] = admin.get("timeline-events")["results"]
    assert (event["id"], event["owner_id"], event["contact_ids"]) == ("zoom-42", ana, [alice])
    assert seeded["state"]["documentViews"] == 2
    assert flushed == {"deliveries": [], "pending": 0}
    assert activities.requests == []


CONTACT = "<the contact's id>"


@pytest.mark.parametrize(
    ("route", "body", "message"),
    [
        ("document-views", {"contact": "nobody@example.com", "document_name": "A"}, "No contact"),
        ("document-views", {"contact": CONTACT, "document_name": " "}, "needs document_name"),
        ("timeline-events", {"contact": CONTACT, "app_name": "Zoom"}, "needs app_name and event_name"),
        ("document-views", {"contact": CONTACT, "document_name": "A", "at": "yesterday"}, "Invalid"),
        ("document-views", {"contact": CONTACT, "document_name": "A", "owner": "x@y.z"}, "No owner"),
        ("document-views", {"contact": CONTACT, "document_name": "A", "extra": 1}, "Unknown"),
        ("document-views", {"contact": CONTACT, "document_name": "A", "id": "x" * 201}, "200 characters"),
        ("workflow-webhooks", {"target_url": "http://127.0.0.1:1/x"}, "needs a bearer_token"),
        ("workflow-webhooks", {"target_url": "ftp://x", "bearer_token": "t"}, "http(s) URL"),
        ("workflow-webhooks", {"retry": "no"}, "retry must be true or false"),
        ("workflow-webhooks", {"max_retries": -1}, "must not be negative"),
    ],
)
def test_invalid_input_is_refused(admin: Admin, route: str, body: dict[str, Any], message: str) -> None:
    # Given a contact
    contact = admin.create("contacts", {"email": "gina@example.com"})
    body = {k: contact["id"] if v == CONTACT else v for k, v in body.items()}

    # When the admin route gets the invalid body
    response = admin.session.post(f"{admin.url}/_sandbox/{route}", json=body, timeout=10)

    # Then it is refused with a HubSpot-shaped validation error and nothing changes
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert admin.get("document-views")["results"] == admin.get("timeline-events")["results"] == []
    assert admin.get("workflow-webhooks")["target_url"] is None


def test_reset_forgets_the_action_the_activities_and_the_counters(
    admin: Admin, activities: WebhookReceiver
) -> None:
    # Given a configured action and a sent activity
    contact = admin.create("contacts", {"email": "hal@example.com"})
    configure(admin, activities)
    admin.post("document-views", {"contact": contact["id"], "document_name": "A.pdf"})
    wait_for_deliveries(admin, activities, 1)

    # When the sandbox is reset and an activity recorded again
    admin.post("reset")
    contact = admin.create("contacts", {"email": "hal@example.com"})
    again = admin.post("document-views", {"contact": contact["id"], "document_name": "B.pdf"})

    # Then the action, the log and the list start over, and ids count from 1 again
    assert (again["activity"]["id"], again["queued"]) == ("document-view-1", False)
    assert admin.get("workflow-webhooks/deliveries")["deliveries"] == []
    assert [v["properties"]["document_name"] for v in admin.get("document-views")["results"]] == ["B.pdf"]
    assert len(activities.requests) == 1


# -- duplicate delivery -----------------------------------------------------------------------------


def test_deliver_twice_posts_every_activity_twice_identically(
    admin: Admin, activities: WebhookReceiver
) -> None:
    # Given the workflow action set to deliver twice
    contact = admin.create("contacts", {"email": "twice@example.com"})
    described = configure(admin, activities, deliver_twice=True)

    # When a document view and a timeline event are recorded
    admin.post("document-views", {"contact": contact["id"], "document_name": "Twice.pdf"})
    admin.post("timeline-events", {"contact": contact["id"], "app_name": "Zoom", "event_name": "Joined"})
    activities.wait_for(lambda r: len(r.requests) == 4)
    log = wait_for_deliveries(admin, activities, 4)

    # Then each request came exactly twice, with the same body and token
    assert described["deliver_twice"] is True
    with activities.lock:
        received = list(activities.requests)
    assert [r.body for r in received[::2]] == [r.body for r in received[1::2]]
    assert received[0].body != received[2].body
    assert {r.headers["Authorization"] for r in received} == {f"Bearer {TOKEN}"}
    assert [b["id"] for b in bodies(activities)] == ["document-view-1"] * 2 + ["timeline-event-1"] * 2
    # And the log pairs each copy with its original
    assert [(d["trigger"], d["activityId"], d.get("duplicateOf")) for d in log] == [
        ("background", "document-view-1", None),
        ("duplicate", "document-view-1", log[0]["deliveryId"]),
        ("background", "timeline-event-1", None),
        ("duplicate", "timeline-event-1", log[2]["deliveryId"]),
    ]
    assert admin.get("workflow-webhooks")["duplicates_sent"] == 2
    assert admin.get("workflow-webhooks/deliveries")["duplicates_sent"] == 2


def test_deliver_twice_is_off_by_default_and_forgotten_with_the_action(
    admin: Admin, activities: WebhookReceiver
) -> None:
    # Given the action configured without it
    contact = admin.create("contacts", {"email": "once@example.com"})
    described = configure(admin, activities)

    # When an activity is recorded, and the action is then set to deliver twice and deleted
    admin.post("document-views", {"contact": contact["id"], "document_name": "Once.pdf"})
    activities.wait_for(lambda r: len(r.requests) == 1)
    log = wait_for_deliveries(admin, activities, 1)
    configure(admin, activities, deliver_twice=True)
    admin.delete("workflow-webhooks")

    # Then it was sent once, and the deleted action no longer delivers twice
    assert described["deliver_twice"] is False
    assert [d["trigger"] for d in admin.post("workflow-webhooks/flush")["deliveries"] + log] == ["background"]
    assert len(activities.requests) == 1
    assert (admin.get("workflow-webhooks")["deliver_twice"], described["duplicates_sent"]) == (False, 0)


def test_deliver_twice_must_be_a_boolean(admin: Admin) -> None:
    response = admin.session.post(
        f"{admin.url}/_sandbox/workflow-webhooks", json={"deliver_twice": 1}, timeout=10
    )
    assert response.status_code == 400
    assert "deliver_twice must be true or false" in response.json()["message"]
