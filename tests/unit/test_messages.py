"""The queue messages and HubSpot webhook events read from JSON (activity_sync.json_fields): what
round-trips, and what is refused with the field named (R16: a malformed message is dead-lettered
with its reason)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from activity_sync.json_fields import Invalid
from activity_sync.messages import ChangeKind, ChangeMessage, ChangeSource, ContactChangeMessage
from activity_sync.rules.hubspot_webhooks import HubSpotWebhookEvent
from activity_sync.usecases.ingest import ActivityPost

NOTE = "hubspot_to_salesforce#note"
MOMENT = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def test_a_change_message_round_trips_through_json() -> None:
    change = ChangeMessage(
        sync_type=NOTE,
        object_id="601",
        source=ChangeSource.HUBSPOT_WEBHOOK,
        kind=ChangeKind.DELETION,
        occurred_at=MOMENT,
        payload={"id": "601", "contact_ids": ["5"]},
    )
    assert ChangeMessage.from_json(change.to_json()) == change
    assert ChangeMessage.from_dict(change.to_dict()) == change
    contact = ContactChangeMessage(hubspot_contact_id="5", source=ChangeSource.SALESFORCE_POLL)
    assert ContactChangeMessage.from_json(contact.to_json()) == contact


def test_a_queue_body_keeps_text_as_utf8_and_escapes_only_what_sqs_refuses() -> None:
    change = ChangeMessage(
        sync_type=NOTE,
        object_id="602",
        source=ChangeSource.HUBSPOT_ACTIVITY_ROUTE,
        payload={"properties": {"body": "Orçamento 预算 \U0001f600 \uffff\ufffe"}},
    )
    body = change.queue_body()
    assert "Orçamento 预算 \U0001f600" in body  # as UTF-8, not \\u escapes
    assert "\uffff" not in body
    assert "\ufffe" not in body  # SQS refuses these two code points
    assert "\\uffff\\ufffe" in body
    assert change.queue_bytes() == len(body.encode("utf-8"))
    assert ChangeMessage.from_json(body) == change  # and it reads back the same


def test_a_message_written_before_reads_the_same() -> None:
    # The form the queues held before (instants with a Z, every field present)
    body = (
        '{"sync_type":"hubspot_to_salesforce#note","object_id":"601","source":"hubspot_poll",'
        '"kind":"upsert","occurred_at":"2026-03-01T12:00:00Z","payload":null}'
    )
    change = ChangeMessage.from_json(body)
    assert (change.occurred_at, change.kind, change.payload) == (MOMENT, ChangeKind.UPSERT, None)


GOOD_CHANGE = {"sync_type": NOTE, "object_id": "1", "source": "hubspot_poll"}


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ("[]", "body"),
        ("{not json", "body"),
        (json.dumps({"sync_type": NOTE, "source": "hubspot_poll"}), "object_id"),
        *(
            (json.dumps({**GOOD_CHANGE, **change}), where)
            for change, where in (
                ({"object_id": ""}, "object_id"),
                ({"object_id": 601}, "object_id"),
                ({"source": "carrier pigeon"}, "source"),
                ({"kind": "merge"}, "kind"),
                ({"occurred_at": "soon"}, "occurred_at"),
                ({"occurred_at": 10**400}, "occurred_at"),  # too large for any instant
                ({"payload": [1]}, "payload"),
                ({"colour": "red"}, "colour"),
            )
        ),
    ],
)
def test_r16_a_malformed_change_message_is_refused_with_the_field_named(body: str, where: str) -> None:
    with pytest.raises(Invalid) as refused:
        ChangeMessage.from_json(body)
    assert refused.value.where == where


def test_r16_the_missing_field_is_the_one_named() -> None:
    with pytest.raises(Invalid) as refused:
        ContactChangeMessage.from_dict({"hubspot_contact_id": None, "salesforce_person_id": "003"})
    assert refused.value.where == "source"


def test_a_webhook_event_keeps_unknown_fields_and_reads_numbers_written_as_text() -> None:
    event = HubSpotWebhookEvent.from_dict(
        {
            "eventId": "100",
            "subscriptionId": 1,
            "portalId": 62515,
            "occurredAt": 1_772_366_400_000,
            "subscriptionType": "object.creation",
            "objectId": 601,
            "objectTypeId": "0-46",
            "isSensitive": False,
        }
    )
    assert (event.eventId, event.objectId, event.attemptNumber) == (100, 601, 0)
    assert event.occurred_at == MOMENT
    assert event.extra == {"isSensitive": False}


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"eventId": True}, "eventId"),  # a boolean is not a number
        ({"eventId": -1}, "eventId"),
        ({"objectId": 0}, "objectId"),
        ({"occurredAt": 2**62}, "occurredAt"),
        ({"subscriptionType": "x" * 101}, "subscriptionType"),
        ({"propertyValue": 5}, "propertyValue"),
    ],
)
def test_r17_a_webhook_event_that_cannot_be_right_is_refused_with_the_field_named(
    change: dict[str, object], where: str
) -> None:
    good = {"eventId": 1, "subscriptionId": 1, "portalId": 1, "occurredAt": 0, "subscriptionType": "x"}
    with pytest.raises(Invalid) as refused:
        HubSpotWebhookEvent.from_dict({**good, **change})
    assert refused.value.where == where


def test_a_posted_activity_reads_iso_instants_and_refuses_what_is_not_its_shape() -> None:
    post = {
        "type": "document_view",
        "id": "view-1",
        "occurred_at": "2026-03-01T12:00:00.000Z",
        "contact_ids": ["501"],
        "properties": {"document_name": "Deck.pdf"},
    }
    activity = ActivityPost.from_dict(post)
    assert (activity.occurred_at, activity.owner_id) == (MOMENT, None)
    assert ActivityPost.from_dict(json.loads(json.dumps(activity.to_dict()))) == activity
    for change, where in (
        ({"contact_ids": []}, "contact_ids"),
        ({"contact_ids": ["5a"]}, "contact_ids.0"),
        ({"owner_id": "x"}, "owner_id"),
        ({"properties": {"name": 5}}, "properties.name"),
        ({"properties": []}, "properties"),
        ({"occurred_at": 10**400}, "occurred_at"),
        ({"extra": 1}, "extra"),
        ({"type": "note!"}, "type"),
    ):
        with pytest.raises(Invalid) as refused:
            ActivityPost.from_dict({**post, **change})
        assert refused.value.where == where, change
