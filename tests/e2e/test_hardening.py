"""Hardening found by independent testing: what a redelivery, a second contact starting to sync or a
hostile request must not do (R6, R7, R15, R17)."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
import requests

from activity_sync.domain import HubSpotActivityType, SalesforceActivityType
from activity_sync_tools.rehearsal import (
    ACTIVITY_ROUTE_TOKEN,
    HUBSPOT_CLIENT_SECRET,
    OUTBOUND_MESSAGE_TOKEN,
    PORTAL_ID,
    salesforce_app,
)
from tests.e2e.support import E2E, h2s, iso, s2h, utcnow

pytestmark = pytest.mark.e2e


def test_r7_r15_a_redelivered_webhook_keeps_the_tasks_contact_and_owner(e2e: E2E) -> None:
    hubspot, salesforce = e2e.hubspot, e2e.salesforce
    # Given h1, owned by Ana and syncing, and h5, created later, owned by Carla (no Salesforce user)
    # and not syncing yet
    first_email, second_email = e2e.tag("h1"), e2e.tag("h5")
    salesforce.person("Contact", first_email, owner="ana")
    h1 = hubspot.contact(first_email, owner="ana", created_at=utcnow() - dt.timedelta(days=2))
    h5 = hubspot.contact(second_email, owner="carla")
    e2e.drain()
    e2e.switch_on(h2s(HubSpotActivityType.SALES_EMAIL))
    # And a sales email to both, synced as one Task on h1's Contact, assigned to Ana
    email = hubspot.engagement(
        "emails",
        {"hs_email_subject": "Pricing", "hs_email_direction": "EMAIL", "hs_email_status": "SENT"},
        [h1, h5],
    )
    e2e.drain()
    external_id = f"hs:sales_email:sent:{email}"
    [before] = e2e.salesforce.tasks_for_activity(external_id)
    assert before["OwnerId"] == salesforce.users["ana"]
    stamped = salesforce.get("Task", before["Id"])["SystemModstamp"]

    # When h5 starts to sync (a rep creates its Contact; the poller sees it)
    salesforce.person("Contact", second_email)
    e2e.poll_after_this_second()
    # And HubSpot delivers the email's webhooks again, unchanged
    e2e.world.flush()
    events = [
        event
        for delivery in hubspot.admin("GET", "webhooks/deliveries")["deliveries"]
        for event in delivery["events"]
        if str(event.get("objectId")) == email
    ]
    assert events
    assert e2e.signed_hubspot_post(json.dumps(events)).status_code == 200
    e2e.drain()

    # Then the Task is still the one Task, on h1's Contact, assigned to Ana, and was not written
    [after] = e2e.salesforce.tasks_for_activity(external_id)
    assert (after["Id"], after["WhoId"], after["OwnerId"]) == (
        before["Id"],
        before["WhoId"],
        before["OwnerId"],
    )
    assert salesforce.get("Task", after["Id"])["SystemModstamp"] == stamped


# ------------------------------------------------------------------------------ hostile input


def _signed(e2e: E2E, body: bytes, **headers: str) -> requests.Response:
    """POST raw bytes to the HubSpot webhook route, signed as HubSpot signs (v3)."""
    url = f"{e2e.world.stack.api_url}/webhooks/hubspot"
    timestamp = str(int(time.time() * 1000))
    message = b"POST" + url.encode() + body + timestamp.encode()
    signature = base64.b64encode(hmac.new(HUBSPOT_CLIENT_SECRET.encode(), message, hashlib.sha256).digest())
    return requests.post(
        url,
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-HubSpot-Signature-v3": signature.decode(),
            "X-HubSpot-Request-Timestamp": timestamp,
            **headers,
        },
        timeout=30,
    )


def _activities(e2e: E2E, body: bytes, **headers: str) -> requests.Response:
    return requests.post(
        f"{e2e.world.stack.api_url}/webhooks/hubspot/activities",
        data=body,
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {ACTIVITY_ROUTE_TOKEN}",
            **headers,
        },
        timeout=30,
    )


def _outbound(e2e: E2E, body: bytes) -> requests.Response:
    return requests.post(
        f"{e2e.world.stack.api_url}/webhooks/salesforce/outbound-messages/{OUTBOUND_MESSAGE_TOKEN}",
        data=body,
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
        timeout=30,
    )


def _call_event(event_id: int, **overrides: Any) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "subscriptionId": 1,
        "portalId": PORTAL_ID,
        "occurredAt": int(time.time() * 1000),
        "subscriptionType": "object.creation",
        "objectId": 700000 + event_id,
        "objectTypeId": "0-48",
        **overrides,
    }


def test_r17_bodies_that_are_not_utf8_get_a_4xx_on_every_route(e2e: E2E) -> None:
    calls = h2s(HubSpotActivityType.CALL)
    before = e2e.queued(calls)
    latin1 = json.dumps([_call_event(1, changeSource="Café")], ensure_ascii=False).encode("latin-1")
    junk = bytes(range(128, 256)) * 4
    answers = {
        "webhook latin-1": _signed(e2e, latin1),
        "webhook junk": _signed(e2e, junk),
        "activity route latin-1": _activities(e2e, '{"id": "é"}'.encode("latin-1")),
        "activity route junk": _activities(e2e, junk),
        "outbound message junk": _outbound(e2e, junk),
    }
    for name, answer in answers.items():
        assert 400 <= answer.status_code < 500, f"{name}: {answer.status_code} {answer.text}"
        assert "UTF-8" in answer.json()["message"], f"{name}: {answer.text}"
    assert e2e.queued(calls) == before


def test_r17_json_nested_100000_deep_gets_a_400(e2e: E2E) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    for name, answer in (("webhook", _signed(e2e, deep)), ("activity route", _activities(e2e, deep))):
        assert answer.status_code == 400, f"{name}: {answer.status_code} {answer.text}"
        assert "nested too deeply" in answer.json()["message"]


def test_r17_impossible_instants_and_ids_are_set_aside_and_the_event_beside_them_is_queued(e2e: E2E) -> None:
    calls = h2s(HubSpotActivityType.CALL)
    e2e.drain()
    before = e2e.queued(calls)
    events = [
        _call_event(11, occurredAt=10**20),
        _call_event(12, occurredAt=-(10**18)),
        _call_event(13, objectId=-5),
        _call_event(14, objectId=2**70),
        _call_event(15),  # the valid one beside them
    ]
    answer = _signed(e2e, json.dumps(events).encode())
    assert answer.status_code == 200, answer.text
    assert sorted(i["eventId"] for i in answer.json()["ignored"]) == [11, 12, 13, 14]
    assert answer.json()["queued"] == 1
    assert e2e.queued(calls) == before + 1


def test_r17_a_gzip_activity_post_is_unpacked_or_refused_never_a_500(e2e: E2E) -> None:
    document_views = h2s(HubSpotActivityType.DOCUMENT_VIEW)
    before = e2e.queued(document_views)
    post = {
        "type": "document_view",
        "id": "view-gzip-1",
        "occurred_at": iso(utcnow()),
        "contact_ids": ["1"],
        "properties": {"document_name": "Pricing.pdf"},
    }
    packed = gzip.compress(json.dumps(post).encode())
    answer = _activities(e2e, packed, **{"Content-Encoding": "gzip"})
    assert answer.status_code == 200, answer.text
    assert e2e.queued(document_views) == before + 1
    bomb = gzip.compress(b"[" + b" " * 10_000_000 + b"]")
    refused = _activities(e2e, bomb, **{"Content-Encoding": "gzip"})
    assert refused.status_code == 413, refused.text
    not_gzip = _activities(e2e, b'{"a": 1}', **{"Content-Encoding": "gzip"})
    assert not_gzip.status_code == 400, not_gzip.text
    # A caller without the token gets a 401 before anything is unpacked: the bomb and the body
    # that is no gzip at all are answered alike
    for body in (bomb, b'{"a": 1}'):
        stranger = _activities(e2e, body, **{"Content-Encoding": "gzip", "Authorization": "Bearer wrong"})
        assert stranger.status_code == 401, stranger.text


NOTIFICATION = """<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>{org}</OrganizationId>
   <ActionId>04k000000000001AAA</ActionId>
   {notifications}
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>"""


def _notification(notification_id: str | None, record_id: str | None) -> str:
    own_id = f"<Id>{notification_id}</Id>" if notification_id is not None else ""
    record = f"<sf:Id>{record_id}</sf:Id>" if record_id is not None else ""
    sobject = '<sObject xsi:type="sf:Task" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
    subtype = "<sf:TaskSubtype>Task</sf:TaskSubtype>"
    return f"<Notification>{own_id}{sobject}{record}{subtype}</sObject></Notification>"


def test_r17_an_outbound_notification_without_its_ids_is_refused_and_two_records_are_two(e2e: E2E) -> None:
    tasks = s2h(SalesforceActivityType.TASK)
    org = salesforce_app(e2e.world).org_id
    e2e.drain()
    before = e2e.queued(tasks)
    # Given notifications without their own Id, and without the record's Id
    for notifications in (_notification(None, "00T000000000001"), _notification("04l000000000009AAA", None)):
        answer = _outbound(e2e, NOTIFICATION.format(org=org, notifications=notifications).encode())
        # Then each is refused, saying what is missing (Salesforce keeps it and shows it failing)
        assert answer.status_code == 400, answer.text
        assert "<Id>" in answer.json()["message"]
    # And two notifications about two records, sent one after the other, are both queued
    for n in (1, 2):
        body = NOTIFICATION.format(
            org=org, notifications=_notification(f"04l00000000000{n}AAA", f"00T00000000000{n}")
        )
        assert _outbound(e2e, body.encode()).status_code == 200
    assert e2e.queued(tasks) == before + 2


def test_r17_outbound_messages_need_the_stacks_token_in_their_url(e2e: E2E) -> None:
    org = salesforce_app(e2e.world).org_id
    body = NOTIFICATION.format(
        org=org, notifications=_notification("04l000000000003AAA", "00T000000000003")
    ).encode()
    base = f"{e2e.world.stack.api_url}/webhooks/salesforce/outbound-messages"
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    # A forged message with the right org id but no token, or a wrong one, is refused
    for url in (base, f"{base}/{'x' * len(OUTBOUND_MESSAGE_TOKEN)}"):
        answer = requests.post(url, data=body, headers=headers, timeout=30)
        assert answer.status_code == 401, answer.text
        assert "token" in answer.json()["message"]


def test_r17_queue_messages_that_cannot_be_right_are_dead_lettered_with_what_is_wrong(e2e: E2E) -> None:
    notes = h2s(HubSpotActivityType.NOTE)
    e2e.switch_on(notes)
    sqs = e2e.world.stack.boto3_client("sqs")
    url = e2e.world.stack.queue_urls["HubSpotNoteQueue"]
    wrong = {
        "unknown type": {"sync_type": "hubspot_to_salesforce#gossip", "object_id": "1"},
        "another queue's type": {"sync_type": "hubspot_to_salesforce#call", "object_id": "1"},
        "SOQL metacharacters": {"sync_type": notes.key, "object_id": "1' OR Id != '"},
        "negative": {"sync_type": notes.key, "object_id": "-7"},
        "10^30": {"sync_type": notes.key, "object_id": str(10**30)},
        "two ids": {"sync_type": notes.key, "object_id": "101,102"},
    }
    for body in wrong.values():
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({**body, "source": "hubspot_webhook"}))
    e2e.drain()
    reasons = sorted(letter.reason for letter in e2e.dead_letters(notes))
    assert len(reasons) == len(wrong), reasons
    assert all(reason.startswith("invalid message:") for reason in reasons), reasons
    assert any("unknown sync type" in r for r in reasons)
    assert any("reached the hubspot_to_salesforce#note queue" in r for r in reasons)
    assert sum("is not a number" in r for r in reasons) == 3
    assert any("out of range" in r for r in reasons)
