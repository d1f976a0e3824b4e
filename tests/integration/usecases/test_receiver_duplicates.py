"""R15/R18: a HubSpot webhook delivery sent twice is queued once (Powertools Idempotency on the
template's idempotency table). Outbound Messages sent twice are settled downstream instead
(tests/e2e/test_salesforce_to_hubspot.py)."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterable

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from activity_sync.adapters.queues import ChangeQueues
from activity_sync.config import ConnectionSettings, RuntimeConfig
from activity_sync.messages import ChangeMessage, ContactChangeMessage
from activity_sync.rules.hubspot_webhooks import sign_v3
from activity_sync.usecases.ingest import Receiver

SECRET = "receiver-test-secret"
URL = "https://hooks.example.com/webhooks/hubspot"


class RecordingQueues(ChangeQueues):
    def __init__(self) -> None:
        super().__init__(RuntimeConfig.from_environ({}), client=object())  # type: ignore[arg-type]
        self.sent: list[ChangeMessage] = []

    def send_changes(self, changes: Iterable[ChangeMessage]) -> int:
        batch = list(changes)
        self.sent.extend(batch)
        return len(batch)

    def send_contact_changes(self, changes: Iterable[ContactChangeMessage]) -> int:
        return len(list(changes))


class _Context:
    """The part of a Lambda context Powertools Idempotency reads: the time left."""

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def _delivery(
    event_id: int, *, subscription_id: int = 1, object_id: int | None = None
) -> tuple[dict[str, str], str]:
    body = json.dumps(
        [
            {
                "eventId": event_id,
                "subscriptionId": subscription_id,
                "portalId": 62515,
                "occurredAt": int(time.time() * 1000),
                "subscriptionType": "object.creation",
                "objectId": 900 + event_id if object_id is None else object_id,
                "objectTypeId": "0-46",
            }
        ]
    )
    return _signed(body)


def _signed(body: str) -> tuple[dict[str, str], str]:
    timestamp = str(int(time.time() * 1000))
    headers = {
        "x-hubspot-signature-v3": sign_v3(SECRET, "POST", URL, body, timestamp),
        "x-hubspot-request-timestamp": timestamp,
    }
    return headers, body


def test_r15_a_repeated_hubspot_delivery_is_queued_once(stack_tables: dict[str, str]) -> None:
    # Given a receiver whose duplicates are tracked in the template's idempotency table
    queues = RecordingQueues()
    receiver = _idempotent_receiver(stack_tables, queues)
    headers, body = _delivery(1)
    # When HubSpot delivers the same events twice (its retry), and then a new delivery
    first = receiver.hubspot_webhook(method="POST", url=URL, headers=headers, body=body)
    again = receiver.hubspot_webhook(method="POST", url=URL, headers=headers, body=body)
    other_headers, other_body = _delivery(2)
    receiver.hubspot_webhook(method="POST", url=URL, headers=other_headers, body=other_body)
    # Then the repeat is answered like the first, but only the two distinct deliveries were queued
    assert first == again == {"queued": 1, "contact_changes": 0, "ignored": []}
    assert [c.object_id for c in queues.sent] == ["901", "902"]


def test_r17_a_webhook_signed_with_a_just_rotated_secret_is_accepted(stack_tables: dict[str, str]) -> None:
    # Given a receiver whose cached settings still hold the old secret, and SSM the new one
    cached = ConnectionSettings("/activity-sync/test", {"hubspot/webhook-client-secret": "old-secret"})
    rotated = ConnectionSettings("/activity-sync/test", {"hubspot/webhook-client-secret": SECRET})

    def connection(force_fetch: bool = False) -> ConnectionSettings:
        return rotated if force_fetch else cached

    queues = RecordingQueues()
    receiver = Receiver(connection, queues, clock=lambda: dt.datetime.now(dt.UTC))
    headers, body = _delivery(3)
    # When HubSpot signs with the new secret, Then the delivery is verified against a fresh read
    assert receiver.hubspot_webhook(method="POST", url=URL, headers=headers, body=body)["queued"] == 1
    assert [c.object_id for c in queues.sent] == ["903"]


def _idempotent_receiver(stack_tables: dict[str, str], queues: RecordingQueues) -> Receiver:
    receiver = Receiver(
        lambda: ConnectionSettings("/activity-sync/test", {"hubspot/webhook-client-secret": SECRET}),
        queues,
        clock=lambda: dt.datetime.now(dt.UTC),
        idempotency=DynamoDBPersistenceLayer(table_name=stack_tables["IdempotencyTable"]),
    )
    receiver.register_lambda_context(_Context())  # type: ignore[arg-type]
    return receiver


def test_r15_an_event_id_seen_on_another_subscription_is_another_delivery(
    stack_tables: dict[str, str],
) -> None:
    # Given a delivery, and another whose single event has the same eventId on another subscription
    # (HubSpot does not promise event ids unique on their own)
    queues = RecordingQueues()
    receiver = _idempotent_receiver(stack_tables, queues)
    first_headers, first_body = _delivery(7, subscription_id=1, object_id=971)
    other_headers, other_body = _delivery(7, subscription_id=2, object_id=972)

    receiver.hubspot_webhook(method="POST", url=URL, headers=first_headers, body=first_body)
    receiver.hubspot_webhook(method="POST", url=URL, headers=other_headers, body=other_body)

    # Then both are queued: neither is taken for the other's repeat
    assert [c.object_id for c in queues.sent] == ["971", "972"]


def test_r17_deliveries_whose_events_are_all_set_aside_are_each_answered_for_themselves(
    stack_tables: dict[str, str],
) -> None:
    queues = RecordingQueues()
    receiver = _idempotent_receiver(stack_tables, queues)
    answers = []
    for event_id in (1, 2):
        headers, body = _signed(json.dumps([{"eventId": event_id, "subscriptionType": "object.creation"}]))
        answers.append(receiver.hubspot_webhook(method="POST", url=URL, headers=headers, body=body))

    # Each answer names its own event, not the first delivery's
    assert [a["ignored"][0]["eventId"] for a in answers] == [1, 2]
    assert queues.sent == []
