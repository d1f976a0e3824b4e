"""R17: unauthenticated requests cost the account nothing. A request that is malformed or stale is
refused before the secret is looked at; a bad signature makes the receiver read the secret again
(a rotation) at most once a minute, however many forged requests arrive."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
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


class Tokens:
    """SSM's activity-route and outbound-message tokens: ``cached`` until a read past the cache,
    which sees ``current`` (None: the parameter is not set)."""

    def __init__(self, cached: str | None, current: str | None) -> None:
        self.cached, self.current = cached, current
        self.fresh_reads = 0

    def __call__(self, force_fetch: bool = False) -> ConnectionSettings:
        if force_fetch:
            self.fresh_reads += 1
        value = self.current if force_fetch else self.cached
        values = {"salesforce/org-id": "00D000000000001AAA"}
        if value is not None:
            values |= {"webhooks/activity-route-token": value, "webhooks/outbound-message-token": value}
        return ConnectionSettings("/activity-sync/test", values)


def _post_activity(receiver: Receiver, token: str) -> dict[str, Any]:
    body = json.dumps(
        {
            "type": "document_view",
            "id": "v1",
            "occurred_at": "2026-03-01T12:00:00Z",
            "contact_ids": ["5"],
            "properties": {"document_name": "Pricing"},
        }
    )
    return receiver.hubspot_activities(headers={"authorization": f"Bearer {token}"}, read_body=lambda: body)


OUTBOUND = (
    '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
    'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
    '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
    "<OrganizationId>00D000000000001AAA</OrganizationId><ActionId>04k000000000001AAA</ActionId>"
    "</notifications></soapenv:Body></soapenv:Envelope>"
)


def test_r17_a_rotated_activity_route_or_outbound_token_works_at_its_first_request() -> None:
    # Given the cached tokens still the old ones, and SSM already the new one
    tokens = Tokens(cached="old-token", current="new-token")
    receiver = Receiver(tokens, Queues(), clock=Clock())

    # When requests come with the new token, Then each is let in after one fresh read per secret
    assert _post_activity(receiver, "new-token")["queued"] == 1
    assert receiver.salesforce_outbound_message(body=OUTBOUND, token="new-token")["queued"] == 0
    assert tokens.fresh_reads == 2


def test_r17_forged_tokens_read_ssm_once_a_minute_per_secret() -> None:
    tokens, clock = Tokens(cached="token", current="token"), Clock()
    receiver = Receiver(tokens, Queues(), clock=clock)
    for _ in range(10):
        with pytest.raises(WebhookRejected) as refused:
            _post_activity(receiver, "forged")
        assert (refused.value.status, refused.value.reason) == (401, "invalid bearer token")
    assert tokens.fresh_reads == 1
    clock.now += dt.timedelta(seconds=61)
    with pytest.raises(WebhookRejected):
        _post_activity(receiver, "forged")
    assert tokens.fresh_reads == 2


def test_r17_a_token_not_set_in_ssm_is_a_401_naming_the_parameter_never_a_500() -> None:
    receiver = Receiver(Tokens(cached=None, current=None), Queues(), clock=Clock())
    attempts: list[Callable[[], object]] = [
        lambda: _post_activity(receiver, "anything"),
        lambda: receiver.salesforce_outbound_message(body=OUTBOUND, token="anything"),
    ]
    for attempt in attempts:
        with pytest.raises(WebhookRejected) as refused:
            attempt()
        assert refused.value.status == 401
        assert "is not set in SSM" in refused.value.reason


def test_r17_every_delivery_warns_while_the_portal_check_is_off(caplog: pytest.LogCaptureFixture) -> None:
    from activity_sync.usecases.ingest import PORTAL_CHECK_OFF

    # Given no portal id (the stack parameter left at 0): the receiver's settings have none
    clock = Clock()
    receiver = Receiver(Parameters(), Queues(), clock=clock)
    for _ in range(2):
        _post(receiver, _headers(SECRET, clock.now))
    # Then each delivery is accepted, and each says the check is off
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [PORTAL_CHECK_OFF] * 2


def _outbound_envelope(*notifications: tuple[str, str]) -> str:
    """An Outbound Message of Task notifications: (notification id, Task id) each."""
    body = "".join(
        f"<Notification><Id>{notification_id}</Id>"
        '<sObject xsi:type="sf:Task" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"<sf:Id>{task_id}</sf:Id><sf:TaskSubtype>Task</sf:TaskSubtype></sObject></Notification>"
        for notification_id, task_id in notifications
    )
    return OUTBOUND.replace("</ActionId>", "</ActionId>" + body).replace(
        "<soapenv:Envelope ", '<soapenv:Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    )


def test_r15_an_outbound_envelope_sent_again_is_acknowledged_without_queuing_again() -> None:
    # Given a receiver, and an envelope of one Task's notification
    queues = Queues()
    receiver = Receiver(Tokens(cached="token", current="token"), queues, clock=Clock())
    envelope = _outbound_envelope(("04l000000000001AAA", "00T000000000001AAA"))

    # When Salesforce sends it, then again (its acknowledgement lost), then a newer notification
    first = receiver.salesforce_outbound_message(body=envelope, token="token")
    again = receiver.salesforce_outbound_message(body=envelope, token="token")
    newer = _outbound_envelope(("04l000000000002AAA", "00T000000000001AAA"))
    later = receiver.salesforce_outbound_message(body=newer, token="token")

    # Then the repeat is acknowledged without queuing; the newer notification still queues
    assert (first["queued"], again["queued"], later["queued"]) == (1, 0, 1)
    assert len(queues.sent) == 2
    assert queues.sent[0].object_id == queues.sent[1].object_id
