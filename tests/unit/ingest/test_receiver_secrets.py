"""R17: unauthenticated requests cost the account nothing. A request that is malformed or stale is
refused before the secret is looked at; a bad signature makes the receiver read the secret again
(a rotation) at most once a minute, however many forged requests arrive."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

import pytest

from activity_sync.adapters.queues import ChangeQueues
from activity_sync.config import ConnectionSettings, RuntimeConfig
from activity_sync.messages import ChangeMessage, ContactChangeMessage
from activity_sync.rules.hubspot_webhooks import WebhookRejected, sign_v3
from activity_sync.usecases.ingest import Receiver

SECRET = "current-secret"
URL = "https://hooks.example.com/webhooks/hubspot"
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


class Queues(ChangeQueues):
    def __init__(self) -> None:
        super().__init__(RuntimeConfig.from_environ({}), client=object())  # type: ignore[arg-type]
        self.sent: list[ChangeMessage] = []

    def send_changes(self, changes: Iterable[ChangeMessage]) -> int:
        self.sent.extend(changes)
        return len(self.sent)

    def send_contact_changes(self, changes: Iterable[ContactChangeMessage]) -> int:
        return len(list(changes))


class Parameters:
    """The receiver's SSM parameters; counts the reads that go past the one-minute cache."""

    def __init__(self) -> None:
        self.secret = SECRET
        self.fresh_reads = 0

    def __call__(self, force_fetch: bool = False) -> ConnectionSettings:
        if force_fetch:
            self.fresh_reads += 1
        return ConnectionSettings("/activity-sync/test", {"hubspot/webhook-client-secret": self.secret})


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


BODY = json.dumps(
    [
        {
            "eventId": 1,
            "subscriptionId": 1,
            "portalId": 1,
            "occurredAt": int(NOW.timestamp() * 1000),
            "subscriptionType": "object.creation",
            "objectId": 42,
            "objectTypeId": "0-46",
        }
    ]
)


def _headers(secret: str, sent_at: dt.datetime) -> dict[str, str]:
    timestamp = str(int(sent_at.timestamp() * 1000))
    return {
        "x-hubspot-request-timestamp": timestamp,
        "x-hubspot-signature-v3": sign_v3(secret, "POST", URL, BODY, timestamp),
    }


def _post(receiver: Receiver, headers: dict[str, str]) -> dict[str, Any]:
    return receiver.hubspot_webhook(method="POST", url=URL, headers=headers, body=BODY)


def test_r17_twenty_forged_requests_read_the_secret_again_once() -> None:
    parameters, clock, queues = Parameters(), Clock(), Queues()
    receiver = Receiver(parameters, queues, clock=clock)
    # When twenty requests signed with the wrong secret arrive within a minute
    for _ in range(20):
        with pytest.raises(WebhookRejected) as refused:
            _post(receiver, _headers("forged", clock.now))
        assert refused.value.status == 401
    # Then the receiver read SSM past its cache once, and queued nothing
    assert parameters.fresh_reads == 1
    assert queues.sent == []
    # And a minute later, one more read is allowed (a rotation may have happened since)
    clock.now += dt.timedelta(seconds=61)
    with pytest.raises(WebhookRejected):
        _post(receiver, _headers("forged", clock.now))
    assert parameters.fresh_reads == 2


def test_r17_malformed_or_stale_requests_never_reach_the_secret() -> None:
    parameters, clock = Parameters(), Clock()
    receiver = Receiver(parameters, Queues(), clock=clock)
    stale = _headers(SECRET, clock.now - dt.timedelta(minutes=6))
    for headers in (
        {},
        {"x-hubspot-signature-v3": "x"},
        {**stale},
        {**stale, "x-hubspot-request-timestamp": "soon"},
    ):
        with pytest.raises(WebhookRejected) as refused:
            _post(receiver, headers)
        assert refused.value.status == 401
    assert parameters.fresh_reads == 0


def test_r17_a_rotated_secret_is_picked_up_at_the_first_request_signed_with_it() -> None:
    clock, queues = Clock(), Queues()

    class RotatedOnRead(Parameters):
        def __call__(self, force_fetch: bool = False) -> ConnectionSettings:
            secret = "rotated" if force_fetch else SECRET
            if force_fetch:
                self.fresh_reads += 1
            return ConnectionSettings("/activity-sync/test", {"hubspot/webhook-client-secret": secret})

    rotated = RotatedOnRead()
    receiver = Receiver(rotated, queues, clock=clock)
    assert _post(receiver, _headers("rotated", clock.now))["queued"] == 1
    assert rotated.fresh_reads == 1
