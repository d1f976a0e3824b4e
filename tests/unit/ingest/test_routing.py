"""Ingestion routes each change to its type's queue (R1, R10) and refuses bad input (R17)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from activity_sync.messages import MAX_QUEUE_MESSAGE_BYTES, ChangeKind, ChangeSource
from activity_sync.rules.hubspot_webhooks import WebhookRejected, parse_delivery
from activity_sync.rules.salesforce_outbound import parse_outbound_message
from activity_sync.usecases import ingest
from activity_sync.usecases.ingest import (
    MAX_ACTIVITY_BODY_BYTES,
    route_activity_posts,
    route_hubspot_events,
    route_outbound_message,
)

PORTAL = 62515
ORG_ID = "00D000000000001EAA"  # 15-char id + checksum: only the D (position 3) is upper case -> E, A, A


def _event(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "eventId": 1,
        "subscriptionId": 10,
        "portalId": PORTAL,
        "appId": 99,
        "occurredAt": 1_764_331_200_000,
        "subscriptionType": "object.creation",
        "attemptNumber": 0,
        "objectId": 501,
        "objectTypeId": "0-46",
        "changeSource": "CRM_UI",
    }
    base.update(fields)
    return base


def _route(*events: dict[str, Any]) -> Any:
    parsed, _ = parse_delivery(json.dumps(list(events)))
    return route_hubspot_events(parsed, PORTAL)


@pytest.mark.parametrize(
    ("object_type_id", "sync_type"),
    [
        ("0-46", "hubspot_to_salesforce#note"),
        ("0-48", "hubspot_to_salesforce#call"),
        ("0-47", "hubspot_to_salesforce#meeting"),
        ("0-27", "hubspot_to_salesforce#task"),
        ("0-49", "hubspot_to_salesforce#sales_email"),
    ],
)
def test_r1_engagement_webhooks_go_to_their_type_queue(object_type_id: str, sync_type: str) -> None:
    routed = _route(_event(objectTypeId=object_type_id))
    assert [(c.sync_type, c.object_id, c.kind) for c in routed.changes] == [
        (sync_type, "501", ChangeKind.UPSERT)
    ]


def test_r3_property_change_routes_like_a_creation_so_the_same_task_is_updated() -> None:
    routed = _route(_event(subscriptionType="object.propertyChange", propertyName="hs_note_body"))
    assert routed.changes[0].kind == ChangeKind.UPSERT


def test_deletion_is_routed_as_a_deletion() -> None:
    routed = _route(_event(subscriptionType="object.deletion"))
    assert routed.changes[0].kind == ChangeKind.DELETION


def test_r4_contact_changes_go_to_the_contact_linker() -> None:
    routed = _route(
        _event(
            subscriptionType="contact.propertyChange", objectTypeId=None, objectId=7, propertyName="email"
        ),
        _event(subscriptionType="contact.creation", objectTypeId=None, objectId=8),
    )
    assert routed.changes == []
    assert [c.hubspot_contact_id for c in routed.contact_changes] == ["7", "8"]


def test_r7_a_new_contact_owner_goes_to_the_contact_linker_which_keeps_it_for_the_syncers() -> None:
    routed = _route(
        _event(
            subscriptionType="contact.propertyChange",
            objectTypeId=None,
            objectId=7,
            propertyName="hubspot_owner_id",
        )
    )
    assert [c.hubspot_contact_id for c in routed.contact_changes] == ["7"]
    assert routed.ignored == []


def test_r18_a_change_of_a_contact_property_r4_and_r7_do_not_read_is_ignored() -> None:
    routed = _route(
        _event(
            eventId=9,
            subscriptionType="contact.propertyChange",
            objectTypeId=None,
            objectId=7,
            propertyName="phone",
        )
    )
    assert routed.contact_changes == []
    assert [(i["eventId"], "phone" in i["reason"]) for i in routed.ignored] == [(9, True)]


def test_r14_r18_an_outbound_notification_of_the_services_own_write_is_dropped() -> None:
    from activity_sync.rules.salesforce_outbound import OutboundMessage, OutboundRecord
    from activity_sync.usecases.ingest import route_outbound_message

    org = "00D000000000001AAA"
    own = OutboundRecord(
        "04l000000000001AAA", "Task", {"Id": "00T000000000001", "LastModifiedById": "005000000000001"}
    )
    rep = OutboundRecord(
        "04l000000000002AAA", "Task", {"Id": "00T000000000002", "LastModifiedById": "005000000000002"}
    )
    routed = route_outbound_message(OutboundMessage(org, "04k", [own, rep]), org, "005000000000001AAA")
    assert [c.object_id[:15] for c in routed.changes] == ["00T000000000002"]
    assert routed.ignored == [{"id": "00T000000000001", "reason": "the service's own write (R14)"}]


def test_r14_r18_a_webhook_of_the_services_own_hubspot_write_is_dropped() -> None:
    # Given the same note created by this app (its own write), by another integration, and in the UI
    own = _event(eventId=1, objectId=501, changeSource="INTEGRATION", sourceId="99")
    other_app = _event(eventId=2, objectId=502, changeSource="INTEGRATION", sourceId="4242")
    person = _event(eventId=3, objectId=503, changeSource="CRM_UI", sourceId="userId:77")
    own_deletion = _event(
        eventId=4, objectId=504, subscriptionType="object.deletion", changeSource="INTEGRATION", sourceId="99"
    )

    # When the delivery is routed
    routed = _route(own, other_app, person, own_deletion)

    # Then only the service's own writes are dropped, each with the reason
    assert [c.object_id for c in routed.changes] == ["502", "503"]
    assert routed.ignored == [
        {"eventId": 1, "reason": "the service's own write (R14)"},
        {"eventId": 4, "reason": "the service's own write (R14)"},
    ]


def test_r17_unknown_event_types_and_other_portals_are_ignored_and_reported() -> None:
    routed = _route(
        _event(eventId=1, subscriptionType="deal.creation", objectTypeId=None),
        _event(eventId=2, objectTypeId="0-3"),
        _event(eventId=3, portalId=1),
        _event(eventId=4),
    )
    assert len(routed.changes) == 1
    assert [i["eventId"] for i in routed.ignored] == [1, 2, 3]
    assert "not ours" in routed.ignored[2]["reason"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("not json", "not JSON"),
        ('{"eventId": 1}', "JSON array"),
        ("[" + " " * 1_000_001 + "]", "larger than"),
    ],
)
def test_r17_malformed_deliveries_are_refused_whole(body: str, fragment: str) -> None:
    with pytest.raises(WebhookRejected) as refused:
        parse_delivery(body)
    assert fragment in refused.value.reason
    assert refused.value.status in (400, 413)


def _activity(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "document_view",
        "id": "view-1",
        "occurred_at": "2026-11-28T10:00:00Z",
        "contact_ids": ["7"],
        "properties": {"document_name": "Pricing"},
    }
    base.update(fields)
    return base


def test_r1_posted_document_views_and_integration_events_carry_their_content() -> None:
    routed = route_activity_posts(json.dumps([_activity(), _activity(type="integration_event", id="ev-1")]))
    assert [c.sync_type for c in routed.changes] == [
        "hubspot_to_salesforce#document_view",
        "hubspot_to_salesforce#integration_event",
    ]
    assert routed.changes[0].payload is not None
    assert routed.changes[0].payload["properties"] == {"document_name": "Pricing"}
    assert routed.changes[0].source == ChangeSource.HUBSPOT_ACTIVITY_ROUTE


@pytest.mark.parametrize(
    ("item", "fragment"),
    [
        (_activity(type="note"), "read from HubSpot's API"),
        (_activity(type="nonsense"), "type"),
        (_activity(contact_ids=[]), "contact_ids"),
        (_activity(occurred_at="2026-11-28T10:00:00"), "timezone"),
        (_activity(extra="x"), "extra"),
        (_activity(contact_ids=["alice@example.com"]), "contact_ids"),
        (_activity(properties={"document_name": "x" * 32_001}), "properties"),
        # JSON may escape a lone UTF-16 surrogate; UTF-8 cannot hold it (it would fail the batch)
        (
            _activity(properties={"document_name": "Pricing \ud800"}),
            "properties.document_name: is not Unicode",
        ),
        (_activity(properties={"app\udfff": "Zoom"}), "properties: is not Unicode"),
        (_activity(id="view-\ud800"), "id: is not Unicode"),
    ],
)
def test_r17_bad_activity_posts_are_refused_with_the_item_named(item: dict[str, Any], fragment: str) -> None:
    with pytest.raises(WebhookRejected) as refused:
        route_activity_posts(json.dumps([_activity(), item]))
    assert refused.value.reason.startswith("activity 1")
    assert fragment in refused.value.reason


def _outbound(org_id: str = ORG_ID, *records: str) -> str:
    notifications = "".join(
        f"<Notification><Id>04l00000000000{i}AAA</Id>{r}</Notification>" for i, r in enumerate(records)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{org_id}</OrganizationId><ActionId>04k000000000001AAA</ActionId>"
        f"{notifications}</notifications></soapenv:Body></soapenv:Envelope>"
    )


def _sobject(kind: str, record_id: str, subtype: str | None = None) -> str:
    fields = f"<sf:Id>{record_id}</sf:Id>" + (
        f"<sf:TaskSubtype>{subtype}</sf:TaskSubtype>" if subtype else ""
    )
    return (
        f'<sObject xsi:type="sf:{kind}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">{fields}</sObject>'
    )


def test_r10_outbound_messages_route_by_subtype_and_event() -> None:
    body = _outbound(
        ORG_ID,
        _sobject("Task", "00T000000000001AAA", "Task"),
        _sobject("Task", "00T000000000002AAA", "Email"),
        _sobject("Task", "00T000000000003AAA", "Call"),
        _sobject("Event", "00U000000000004AAA"),
        _sobject("Task", "00T000000000005AAA", "ListEmail"),
        _sobject("Task", "00T000000000006AAA", "SomeFutureSubtype"),
    )
    routed = route_outbound_message(parse_outbound_message(body), ORG_ID)
    assert [c.sync_type.split("#")[1] for c in routed.changes] == [
        "task",
        "email",
        "call",
        "meeting",
        "email",
    ]
    assert [i["id"] for i in routed.ignored] == ["00T000000000006AAA"]


def test_r10_a_task_notification_without_its_subtype_goes_to_the_task_syncer() -> None:
    # The task syncer reads the record and hands an email or a call on to its own queue.
    body = _outbound(ORG_ID, _sobject("Task", "00T000000000001AAA"))
    routed = route_outbound_message(parse_outbound_message(body), ORG_ID)
    assert [c.sync_type for c in routed.changes] == ["salesforce_to_hubspot#task"]


def test_r17_outbound_message_from_another_org_is_refused() -> None:
    body = _outbound("00D000000000002AAA", _sobject("Event", "00U000000000004AAA"))
    with pytest.raises(WebhookRejected) as refused:
        route_outbound_message(parse_outbound_message(body), ORG_ID)
    assert refused.value.status == 403


def test_r17_outbound_message_accepts_the_15_character_org_id() -> None:
    body = _outbound(ORG_ID[:15], _sobject("Event", "00U000000000004AAA"))
    assert len(route_outbound_message(parse_outbound_message(body), ORG_ID).changes) == 1


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("<not-xml", "not XML"),
        ("<a/>", "no outbound-messaging"),
        ('<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>', "refused XML construct"),
    ],
)
def test_r17_bad_outbound_messages_are_refused(body: str, fragment: str) -> None:
    with pytest.raises(WebhookRejected) as refused:
        route_outbound_message(parse_outbound_message(body), ORG_ID)
    assert fragment in refused.value.reason


def test_r17_oversized_activity_posts_are_refused() -> None:
    with pytest.raises(WebhookRejected) as refused:
        route_activity_posts(json.dumps([_activity(id=f"v{i}") for i in range(101)]))
    assert "at most 100" in refused.value.reason
    with pytest.raises(WebhookRejected) as too_big:
        route_activity_posts(" " * 256_001)
    assert too_big.value.status == 413


def test_r17_a_malformed_salesforce_id_is_a_clear_400_not_a_server_error() -> None:
    body = _outbound(ORG_ID, _sobject("Event", "not-an-id"))
    with pytest.raises(WebhookRejected) as refused:
        route_outbound_message(parse_outbound_message(body), ORG_ID)
    assert refused.value.status == 400
    assert "not-an-id" in refused.value.reason


def test_r17_an_event_that_does_not_fit_is_set_aside_with_its_reason_and_the_rest_go_through() -> None:
    # HubSpot never retries a 400: refusing the whole delivery would lose the good events.
    body = json.dumps([{"eventId": 1}, _event(eventId=2, objectId="abc"), _event(eventId=3)])
    events, set_aside = parse_delivery(body)
    assert [e.eventId for e in events] == [3]
    assert [(s["eventId"], s["index"]) for s in set_aside] == [(1, 0), (2, 1)]
    assert "objectId" in set_aside[1]["reason"]


def test_r4_an_association_change_routes_whichever_end_is_the_activity() -> None:
    change = {"subscriptionType": "object.associationChange", "objectId": None, "objectTypeId": None}
    note_to_contact = _event(
        **change, fromObjectId=77, fromObjectTypeId="0-46", toObjectId=7, toObjectTypeId="0-1"
    )
    contact_to_call = _event(
        **change, fromObjectId=7, fromObjectTypeId="0-1", toObjectId=88, toObjectTypeId="0-48"
    )
    routed = _route(note_to_contact, contact_to_call)
    assert [(c.sync_type, c.object_id) for c in routed.changes] == [
        ("hubspot_to_salesforce#note", "77"),
        ("hubspot_to_salesforce#call", "88"),
    ]


def test_r17_a_lone_surrogate_in_a_webhooks_property_value_does_not_cost_the_event() -> None:
    # Given a delivery whose note-body change carries a stray escape (HubSpot retries no 400)
    event = {
        "eventId": 1,
        "subscriptionId": 2,
        "portalId": PORTAL,
        "occurredAt": 1_700_000_000_000,
        "subscriptionType": "object.propertyChange",
        "objectId": 51,
        "objectTypeId": "0-46",
        "propertyName": "hs_note_body",
        "propertyValue": "Budget \ud800 confirmed",
    }
    parsed, set_aside = parse_delivery(json.dumps([event]))

    # Then it is read, not set aside, the stray code point replaced, and the note routed
    assert set_aside == []
    assert parsed[0].propertyValue == "Budget \ufffd confirmed"
    assert len(route_hubspot_events(parsed, PORTAL).changes) == 1


def test_r17_a_post_at_the_body_cap_in_chinese_is_a_queue_message_sqs_takes() -> None:
    # Given a document view whose text fills the route's body cap with three-byte characters
    text = dict.fromkeys(("document_name", "body", "notes"), "中" * 28000)
    body = json.dumps(_activity(properties=text), ensure_ascii=False)
    assert len(body.encode()) <= MAX_ACTIVITY_BODY_BYTES

    # Then its queue message, measured as it travels, is one SQS takes (escaped it was twice that)
    [change] = route_activity_posts(body).changes
    assert change.queue_bytes() <= MAX_QUEUE_MESSAGE_BYTES


def test_r17_an_activity_too_large_for_a_queue_message_is_a_413_naming_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ingest, "MAX_QUEUE_MESSAGE_BYTES", 2_000)
    with pytest.raises(WebhookRejected) as refused:
        route_activity_posts(json.dumps([_activity(), _activity(properties={"document_name": "x" * 3_000})]))
    assert refused.value.status == 413
    assert refused.value.reason.startswith("activity 1")
    assert "2000" in refused.value.reason
