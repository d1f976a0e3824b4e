"""Webhooks: HubSpot-shaped event batches delivered to a local receiver, signatures checked with the
official client's ``Signature.is_valid``, batching, retries with ``attemptNumber``, subscriptions,
and the sales email tracking changes that reach the service through them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.contacts import SimplePublicObjectInputForCreate as ContactCreate
from hubspot.crm.objects import BatchInputSimplePublicObjectBatchInputForCreate, SimplePublicObjectInput
from hubspot.crm.objects.exceptions import ApiException
from hubspot.utils.signature import Signature

from activity_sync_tools.sandbox.core import RunningServer
from activity_sync_tools.sandbox.hubspot.testing import Admin, ReceivedRequest, WebhookReceiver
from tests.sandboxes.hubspot.conftest import TOKEN

SECRET = "test-client-secret"


def configure(
    admin: Admin, receiver: WebhookReceiver, subscriptions: list[Any], **settings: Any
) -> dict[str, Any]:
    described: dict[str, Any] = admin.post(
        "webhooks",
        {
            "target_url": receiver.url,
            "client_secret": SECRET,
            "subscriptions": subscriptions,
            "batch_window_seconds": 0.02,
            "retry_backoff_seconds": 0.02,
            **settings,
        },
    )
    return described


def full_uri(request: ReceivedRequest) -> str:
    return f"http://{request.headers['Host']}{request.path}"


def test_contact_creation_is_delivered_signed_v3_and_v1(
    client: HubSpot, admin: Admin, receiver: WebhookReceiver
) -> None:
    # Given subscriptions to contact creation and to email changes
    configure(
        admin,
        receiver,
        ["contact.creation", {"subscriptionType": "contact.propertyChange", "propertyName": "email"}],
    )

    # When a contact is created through the API
    contact = client.crm.contacts.basic_api.create(ContactCreate(properties={"email": "new@example.com"}))
    receiver.wait_for(lambda r: len(r.events()) == 2)

    # Then one signed POST carries both events in HubSpot's shape
    request = receiver.requests[0]
    timestamp = request.headers["X-HubSpot-Request-Timestamp"]
    assert Signature.is_valid(
        signature=request.headers["X-HubSpot-Signature-v3"],
        client_secret=SECRET,
        request_body=request.body,
        http_uri=full_uri(request),
        http_method="POST",
        signature_version="v3",
        timestamp=timestamp,
    )
    assert Signature.is_valid(
        signature=request.headers["X-HubSpot-Signature"],
        client_secret=SECRET,
        request_body=request.body,
        signature_version="v1",
    )
    assert not Signature.is_valid(
        signature=request.headers["X-HubSpot-Signature-v3"],
        client_secret="wrong",
        request_body=request.body,
        http_uri=full_uri(request),
        signature_version="v3",
        timestamp=timestamp,
    )
    creation, change = request.events
    assert creation == {
        "eventId": creation["eventId"],
        "subscriptionId": creation["subscriptionId"],
        "portalId": 62515,
        "appId": 4200001,
        "occurredAt": creation["occurredAt"],
        "subscriptionType": "contact.creation",
        "attemptNumber": 0,
        "objectId": int(contact.id),
        "changeFlag": "CREATED",
        "changeSource": "INTEGRATION",
        "sourceId": "4200001",
    }
    assert (change["subscriptionType"], change["propertyName"], change["propertyValue"]) == (
        "contact.propertyChange",
        "email",
        "new@example.com",
    )
    assert "objectTypeId" not in change  # only object.* events carry it


def test_object_subscriptions_carry_object_type_ids_and_filter_by_type(
    client: HubSpot, admin: Admin, receiver: WebhookReceiver
) -> None:
    # Given subscriptions to call creation only, and to any task property change
    configure(
        admin,
        receiver,
        [
            {"subscriptionType": "object.creation", "objectTypeId": "0-48"},
            {"subscriptionType": "object.propertyChange", "objectType": "tasks"},
        ],
    )

    # When a note, a call and a task are created, and the task completed, by a HubSpot user
    admin.create("notes", {"hs_timestamp": "2024-01-01T00:00:00Z"})
    call = admin.create("calls", {"hs_timestamp": "2024-01-01T00:00:00Z"})
    task = admin.create("tasks", {"hs_timestamp": "2024-01-01T00:00:00Z", "hs_task_subject": "Do it"})
    admin.patch(f"objects/tasks/{task['id']}", {"properties": {"hs_task_status": "COMPLETED"}})
    flushed = admin.post("webhooks/flush")

    # Then the note is absent, the call is an object.creation with objectTypeId 0-48,
    # and the task's changes are propertyChange events without housekeeping properties
    events = receiver.events()
    assert [
        (e["subscriptionType"], e["objectTypeId"], e["objectId"]) for e in events if "changeFlag" in e
    ] == [("object.creation", "0-48", int(call["id"]))]
    changed = [e["propertyName"] for e in events if e["subscriptionType"] == "object.propertyChange"]
    assert changed == ["hs_timestamp", "hs_task_subject", "hs_task_status", "hs_task_completion_date"]
    assert {e["changeSource"] for e in events} == {"CRM_UI"}
    assert flushed["pending"] == 0


def test_batches_hold_at_most_100_events(client: HubSpot, admin: Admin, receiver: WebhookReceiver) -> None:
    # Given a subscription to call creation, delivered by the background sender
    configure(
        admin,
        receiver,
        [{"subscriptionType": "object.creation", "objectTypeId": "0-48"}],
        # wide enough that all 150 are pending before the first flush, even on a loaded machine
        batch_window_seconds=2,
    )

    # When 100 + 50 calls are created in two batch requests
    for count in (100, 50):
        client.crm.objects.batch_api.create(
            "calls",
            BatchInputSimplePublicObjectBatchInputForCreate(
                inputs=[{"properties": {"hs_timestamp": "2024-01-01T00:00:00Z"}}] * count
            ),
            _preload_content=False,
        )
    receiver.wait_for(lambda r: len(r.events()) == 150)

    # Then no POST carries more than 100 events and every event id is distinct
    assert max(len(r.events) for r in receiver.requests) == 100
    assert len({e["eventId"] for e in receiver.events()}) == 150


@pytest.mark.parametrize("most_at_once", [1, 3])
def test_up_to_max_concurrent_requests_are_in_flight_at_once(
    client: HubSpot, admin: Admin, receiver: WebhookReceiver, most_at_once: int
) -> None:
    # Given 450 call creations pending, a limit on requests in flight, and a slow target
    described = configure(
        admin,
        receiver,
        [{"subscriptionType": "object.creation", "objectTypeId": "0-48"}],
        batch_window_seconds=60,
        max_concurrent_requests=most_at_once,
    )
    receiver.answer_after_seconds = 0.2
    for _ in range(5):
        client.crm.objects.batch_api.create(
            "calls",
            BatchInputSimplePublicObjectBatchInputForCreate(
                inputs=[{"properties": {"hs_timestamp": "2024-01-01T00:00:00Z"}}] * 90
            ),
            _preload_content=False,
        )

    # When they are sent
    deliveries = admin.post("webhooks/flush")["deliveries"]

    # Then five requests of at most 100 carry every event once, never more than the limit at once
    assert described["max_concurrent_requests"] == most_at_once
    assert [len(d["eventIds"]) for d in deliveries] == [100, 100, 100, 100, 50]
    assert len({e["eventId"] for e in receiver.events()}) == 450
    assert receiver.most_in_flight == most_at_once


def test_ten_requests_in_flight_by_default_and_the_limit_is_checked(admin: Admin) -> None:
    assert admin.get("webhooks")["max_concurrent_requests"] == 10
    for invalid in (0, 101, "3", True):
        response = admin.session.post(
            f"{admin.url}/_sandbox/webhooks", json={"max_concurrent_requests": invalid}, timeout=10
        )
        assert response.status_code == 400
        assert "max_concurrent_requests" in response.json()["message"]
    assert admin.get("webhooks")["max_concurrent_requests"] == 10


def test_failed_deliveries_are_retried_with_attempt_numbers(
    client: HubSpot, admin: Admin, receiver: WebhookReceiver
) -> None:
    # Given a receiver that fails twice (500, then a 429 asking to wait) and then accepts
    receiver.responses = [(500, {}), (429, {"Retry-After": "1"})]
    configure(admin, receiver, ["contact.creation"], retry_after_scale=0.05)

    # When a contact is created
    client.crm.contacts.basic_api.create(ContactCreate(properties={"email": "retry@example.com"}))
    receiver.wait_for(lambda r: len(r.requests) == 3)

    # Then the same event came three times with attemptNumber 0, 1, 2, and the log tells the story
    attempts = [(r.events[0]["eventId"], r.events[0]["attemptNumber"]) for r in receiver.requests]
    assert [a for _, a in attempts] == [0, 1, 2]
    assert len({event_id for event_id, _ in attempts}) == 1
    receiver.wait_for(lambda r: len(admin.get("webhooks/deliveries")["deliveries"]) == 3)
    log = admin.get("webhooks/deliveries")["deliveries"]
    assert [(d["status"], d["outcome"]) for d in log] == [
        (500, "retrying"),
        (429, "retrying"),
        (204, "delivered"),
    ]
    assert log[1]["retryInSeconds"] == pytest.approx(0.05)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405])
def test_client_errors_are_not_retried(admin: Admin, receiver: WebhookReceiver, status: int) -> None:
    # Given a receiver that refuses the request
    receiver.default_status = status
    configure(admin, receiver, ["contact.creation"], batch_window_seconds=60)

    # When a contact is created and pending events flushed twice
    admin.create("contacts", {"email": "no-retry@example.com"})
    first = admin.post("webhooks/flush")
    second = admin.post("webhooks/flush")

    # Then one attempt was made, logged as rejected, and nothing remains
    assert [(d["status"], d["outcome"]) for d in first["deliveries"]] == [(status, "rejected")]
    assert second["deliveries"] == []
    assert first["pending"] == 0


def test_retries_are_bounded(admin: Admin, receiver: WebhookReceiver) -> None:
    # Given a receiver that is always unavailable, and at most 2 retries
    receiver.default_status = 503
    configure(admin, receiver, ["contact.creation"], max_retries=2, batch_window_seconds=60)
    admin.create("contacts", {"email": "down@example.com"})

    # When pending events are flushed four times
    outcomes = [d["outcome"] for _ in range(4) for d in admin.post("webhooks/flush")["deliveries"]]

    # Then the event was tried three times and then abandoned
    assert outcomes == ["retrying", "retrying", "abandoned"]
    assert [r.events[0]["attemptNumber"] for r in receiver.requests] == [0, 1, 2]


def test_unreachable_targets_are_retried(admin: Admin) -> None:
    # Given a target nobody listens on
    admin.post(
        "webhooks",
        {
            "target_url": "http://127.0.0.1:9/hooks",
            "subscriptions": ["contact.creation"],
            "batch_window_seconds": 60,
            "timeout_seconds": 1,
        },
    )
    admin.create("contacts", {"email": "void@example.com"})

    # When flushed
    delivery = admin.post("webhooks/flush")["deliveries"][0]

    # Then the connection error is logged and the event waits for a retry
    assert (delivery["status"], delivery["outcome"]) == (None, "retrying")
    assert "ConnectionError" in delivery["error"]
    assert admin.get("webhooks")["pending"] == 1


def test_association_changes(admin: Admin, receiver: WebhookReceiver) -> None:
    # Given a subscription to association changes
    configure(admin, receiver, ["object.associationChange"], batch_window_seconds=60)
    contact = admin.create("contacts", {"email": "a@example.com"})
    call = admin.create("calls", {"hs_timestamp": "2024-01-01T00:00:00Z"})

    # When they are associated and dissociated
    admin.post(
        "associations",
        {"from": {"type": "calls", "id": call["id"]}, "to": {"type": "contacts", "id": contact["id"]}},
    )
    admin.session.delete(
        f"{admin.url}/_sandbox/associations",
        json={"from": {"type": "calls", "id": call["id"]}, "to": {"type": "contacts", "id": contact["id"]}},
        timeout=10,
    ).raise_for_status()
    admin.post("webhooks/flush")

    # Then both directions are reported, added then removed
    seen = [
        (e["associationType"], e["fromObjectId"], e["toObjectId"], e["associationRemoved"])
        for e in receiver.events()
    ]
    assert seen == [
        ("CALL_TO_CONTACT", int(call["id"]), int(contact["id"]), False),
        ("CONTACT_TO_CALL", int(contact["id"]), int(call["id"]), False),
        ("CALL_TO_CONTACT", int(call["id"]), int(contact["id"]), True),
        ("CONTACT_TO_CALL", int(contact["id"]), int(call["id"]), True),
    ]


def test_sales_email_open_click_and_reply(client: HubSpot, admin: Admin, receiver: WebhookReceiver) -> None:
    # Given a sales email sent to a contact, and subscriptions as the service would make them
    contact = admin.create("contacts", {"email": "buyer@example.com", "firstname": "Bea"})
    email = admin.create(
        "emails",
        {
            "hs_timestamp": "2024-01-01T00:00:00Z",
            "hs_email_direction": "EMAIL",
            "hs_email_status": "SENT",
            "hs_email_subject": "Proposal",
        },
        associations=[{"type": "contacts", "id": contact["id"]}],
    )
    configure(
        admin,
        receiver,
        [
            {
                "subscriptionType": "object.propertyChange",
                "objectTypeId": "0-49",
                "propertyName": "hs_email_open_count",
            },
            {
                "subscriptionType": "object.propertyChange",
                "objectTypeId": "0-49",
                "propertyName": "hs_email_click_count",
            },
            {"subscriptionType": "object.creation", "objectTypeId": "0-49"},
            {"subscriptionType": "contact.propertyChange", "propertyName": "hs_sales_email_last_replied"},
        ],
        batch_window_seconds=60,
    )

    # When the recipient opens it, clicks, and replies
    for kind in ("OPEN", "CLICK", "OPEN"):
        admin.post("sales-email-events", {"emailId": email["id"], "type": kind, "at": "2024-01-02T10:00:00Z"})
    reply = admin.post(
        "sales-email-events",
        {"emailId": email["id"], "type": "REPLY", "text": "Looks good", "at": "2024-01-03T09:30:00Z"},
    )["reply"]
    admin.post("webhooks/flush")

    # Then the counters' changes, the reply's creation and the contact's reply date arrive as webhooks
    events = [
        (e["subscriptionType"], e.get("propertyName"), e.get("propertyValue"), e["objectId"])
        for e in receiver.events()
    ]
    assert events == [
        ("object.propertyChange", "hs_email_open_count", "1", int(email["id"])),
        ("object.propertyChange", "hs_email_click_count", "1", int(email["id"])),
        ("object.propertyChange", "hs_email_open_count", "2", int(email["id"])),
        ("object.creation", None, None, int(reply["id"])),
        (
            "contact.propertyChange",
            "hs_sales_email_last_replied",
            "2024-01-03T09:30:00.000Z",
            int(contact["id"]),
        ),
    ]
    # And the reply is an INCOMING_EMAIL in the same thread, associated with the contact
    read = client.crm.objects.emails.basic_api.get_by_id(
        reply["id"],
        properties=["hs_email_direction", "hs_email_thread_id", "hs_email_text", "hs_email_from_email"],
        associations=["contacts"],
    )
    assert read.properties == {
        "hs_email_direction": "INCOMING_EMAIL",
        "hs_email_thread_id": email["id"],
        "hs_email_text": "Looks good",
        "hs_email_from_email": "buyer@example.com",
    }
    assert [a.id for a in read.associations["contacts"].results] == [contact["id"]]
    tracked = client.crm.objects.emails.basic_api.get_by_id(
        email["id"], properties=["hs_email_open_count", "hs_email_click_count", "hs_email_reply_count"]
    )
    assert tracked.properties == {
        "hs_email_open_count": "2",
        "hs_email_click_count": "1",
        "hs_email_reply_count": "1",
    }
    person = client.crm.contacts.basic_api.get_by_id(contact["id"], properties=["hs_sales_email_last_opened"])
    assert person.properties == {"hs_sales_email_last_opened": "2024-01-02T10:00:00.000Z"}


def test_tracking_counters_are_read_only_through_the_api(client: HubSpot, admin: Admin) -> None:
    # Given a sales email
    email = admin.create("emails", {"hs_timestamp": "2024-01-01T00:00:00Z"})
    # When the API tries to set its open count
    with pytest.raises(ApiException) as rejected:
        client.crm.objects.basic_api.update(
            "emails", email["id"], SimplePublicObjectInput(properties={"hs_email_open_count": "5"})
        )
    # Then HubSpot refuses: the count is HubSpot's to maintain
    assert "READ_ONLY_VALUE" in json.loads(rejected.value.body)["message"]


def test_only_outgoing_emails_are_tracked(admin: Admin) -> None:
    incoming = admin.create(
        "emails", {"hs_timestamp": "2024-01-01T00:00:00Z", "hs_email_direction": "INCOMING_EMAIL"}
    )
    response = admin.session.post(
        f"{admin.url}/_sandbox/sales-email-events",
        json={"emailId": incoming["id"], "type": "OPEN"},
        timeout=10,
    )
    assert response.status_code == 400


def test_no_target_means_no_events(admin: Admin, receiver: WebhookReceiver) -> None:
    # Given webhooks switched off
    admin.delete("webhooks")
    # When a contact changes
    admin.create("contacts", {"email": "quiet@example.com"})
    # Then nothing is queued
    assert admin.get("webhooks")["pending"] == 0
    assert admin.post("webhooks/flush")["deliveries"] == []


def test_invalid_subscription_is_a_400(admin: Admin) -> None:
    response = admin.session.post(
        f"{admin.url}/_sandbox/webhooks", json={"subscriptions": ["ticket.weird"]}, timeout=10
    )
    assert response.status_code == 400


# -- duplicate delivery -----------------------------------------------------------------------------


def test_deliver_twice_sends_every_acknowledged_request_again_identically(
    admin: Admin, receiver: WebhookReceiver
) -> None:
    # Given webhooks that deliver twice, sent on flush only
    described = configure(admin, receiver, ["contact.creation"], batch_window_seconds=60, deliver_twice=True)

    # When two contacts are created, one flush each
    flushed = []
    for email in ("twice-a@example.com", "twice-b@example.com"):
        admin.create("contacts", {"email": email})
        flushed += admin.post("webhooks/flush")["deliveries"]

    # Then each request reached the receiver exactly twice, byte for byte and equally signed
    assert described["deliver_twice"] is True
    assert len(receiver.requests) == 4
    first, copy, second, second_copy = receiver.requests
    signed = ("X-HubSpot-Signature", "X-HubSpot-Signature-v3", "X-HubSpot-Request-Timestamp")
    for original, duplicate in ((first, copy), (second, second_copy)):
        assert duplicate.body == original.body
        assert {h: duplicate.headers[h] for h in signed} == {h: original.headers[h] for h in signed}
    assert first.body != second.body
    assert [e["attemptNumber"] for r in receiver.requests for e in r.events] == [0, 0, 0, 0]
    # And the log shows each copy after its original, and counts them
    assert [(d["trigger"], d["outcome"], d.get("duplicateOf")) for d in flushed] == [
        ("flush", "delivered", None),
        ("duplicate", "delivered", flushed[0]["deliveryId"]),
        ("flush", "delivered", None),
        ("duplicate", "delivered", flushed[2]["deliveryId"]),
    ]
    assert flushed[1]["eventIds"] == flushed[0]["eventIds"]
    assert admin.get("webhooks")["duplicates_sent"] == 2
    assert admin.get("webhooks/deliveries")["duplicates_sent"] == 2


def test_deliver_twice_copies_only_what_was_acknowledged_and_never_retries_a_copy(
    admin: Admin, receiver: WebhookReceiver
) -> None:
    # Given a receiver that fails the first request, then accepts one, then fails the copy
    receiver.responses = [(500, {}), (204, {}), (503, {})]
    configure(admin, receiver, ["contact.creation"], batch_window_seconds=60, deliver_twice=True)
    admin.create("contacts", {"email": "flaky@example.com"})

    # When pending events are flushed three times
    log = [d for _ in range(3) for d in admin.post("webhooks/flush")["deliveries"]]

    # Then the failure was retried, its acknowledged retry copied once, and the failed copy let go
    assert [(d["trigger"], d["status"], d["outcome"]) for d in log] == [
        ("flush", 500, "retrying"),
        ("flush", 204, "delivered"),
        ("duplicate", 503, "abandoned"),
    ]
    assert [r.events[0]["attemptNumber"] for r in receiver.requests] == [0, 1, 1]
    assert receiver.requests[2].body == receiver.requests[1].body
    assert admin.get("webhooks")["pending"] == 0


def test_deliver_twice_is_off_by_default_and_after_a_reset(admin: Admin, receiver: WebhookReceiver) -> None:
    # Given webhooks configured without it, and then on and reset
    described = configure(admin, receiver, ["contact.creation"], batch_window_seconds=60)
    admin.create("contacts", {"email": "once@example.com"})
    flushed = admin.post("webhooks/flush")["deliveries"]
    configure(admin, receiver, ["contact.creation"], deliver_twice=True)
    admin.post("reset")

    # Then one request was sent, nothing was duplicated, and the reset switched it off
    assert described["deliver_twice"] is False
    assert [d["trigger"] for d in flushed] == ["flush"]
    assert len(receiver.requests) == 1
    assert "duplicateOf" not in flushed[0]
    assert (admin.get("webhooks")["deliver_twice"], admin.get("webhooks")["duplicates_sent"]) == (False, 0)


def test_deliver_twice_must_be_a_boolean(admin: Admin) -> None:
    response = admin.session.post(f"{admin.url}/_sandbox/webhooks", json={"deliver_twice": "yes"}, timeout=10)
    assert response.status_code == 400
    assert "deliver_twice" in response.json()["message"]
    assert admin.get("webhooks")["deliver_twice"] is False


def test_another_apps_token_writes_as_that_app(
    server: RunningServer, admin: Admin, receiver: WebhookReceiver
) -> None:
    # Given a second app of the portal (a person's tool, e.g. the canary's), with its own token
    configure(admin, receiver, ["contact.creation"])
    admin.post("config", {"app_tokens": {"canary-token": 4200002}})
    other = HubSpot(access_token="canary-token", host=server.url)

    # When it creates a contact, and the service's own app another
    other.crm.contacts.basic_api.create(ContactCreate(properties={"email": "by-canary@example.com"}))
    HubSpot(access_token=TOKEN, host=server.url).crm.contacts.basic_api.create(
        ContactCreate(properties={"email": "by-service@example.com"})
    )
    receiver.wait_for(lambda r: len(r.events()) == 2)

    # Then each creation carries the app that made it, and an unknown token is still refused
    assert sorted(event["sourceId"] for event in receiver.events()) == ["4200001", "4200002"]
    assert {event["changeSource"] for event in receiver.events()} == {"INTEGRATION"}
    assert "canary-token" not in str(admin.get("config"))
    from hubspot.crm.contacts.exceptions import ApiException as ContactsApiException

    with pytest.raises(ContactsApiException) as refused:
        HubSpot(access_token="unknown", host=server.url).crm.contacts.basic_api.get_page()
    assert refused.value.status == 401
