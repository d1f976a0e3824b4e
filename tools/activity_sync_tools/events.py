"""The sample events in ``events/``: one for every function, in the shapes Lambda hands them
(API Gateway HTTP API v2.0, SQS, EventBridge schedule), for ``sam local invoke`` and the demo.

``python -m activity_sync_tools.events write`` regenerates them all;
``python -m activity_sync_tools.events resign [FILE]`` re-signs the HubSpot webhook sample with a
fresh timestamp (HubSpot v3 signatures expire after five minutes), using the documented test
secret below or ``--secret``.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from activity_sync.domain import ALL_SYNC_TYPES, SyncType
from activity_sync.messages import ChangeMessage, ChangeSource, ContactChangeMessage
from activity_sync.rules.hubspot_webhooks import sign_v3

# Documented test credentials of the samples: put them in SSM to invoke the samples for real.
TEST_WEBHOOK_CLIENT_SECRET = "events-test-client-secret"  # noqa: S105 - a documented sample value
TEST_ACTIVITY_ROUTE_TOKEN = "events-test-activity-route-token"  # noqa: S105 - a documented sample value
TEST_PORTAL_ID = 62515
TEST_ORG_ID = "00D000000000001EAA"
SAMPLE_HOST = "abcdef1234.execute-api.us-east-1.amazonaws.com"
REGION = "us-east-1"
ACCOUNT = "123456789012"
EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"

# One sample record per syncer type: what a webhook or the poller would have queued.
SAMPLE_OBJECT_IDS: Mapping[str, str] = {
    "form_submission": "conversion-5f2d",
    "marketing_email": "open:2c1e7a",
    "sales_email": "73001",
    "meeting": "72001",
    "call": "71001",
    "note": "70001",
    "document_view": "view-9a8b",
    "task": "74001",
    "integration_event": "zoom-webinar-441",
}


def http_api_event(
    method: str, path: str, body: str, headers: Mapping[str, str], *, host: str = SAMPLE_HOST
) -> dict[str, Any]:
    """An API Gateway HTTP API payload v2.0 event."""
    now = dt.datetime.now(dt.UTC)
    all_headers = {"host": host, "content-type": "application/json", "x-forwarded-proto": "https", **headers}
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {k.lower(): v for k, v in all_headers.items()},
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": host.split(".")[0],
            "domainName": host,
            "domainPrefix": host.split(".")[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "54.174.0.10",
                "userAgent": "HubSpot Connect 2.0 (http://dev.hubspot.com/)",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "body": body,
        "isBase64Encoded": False,
    }


def hubspot_webhook_body() -> str:
    occurred = int(time.time() * 1000)
    events = [
        {
            "eventId": 1001,
            "subscriptionId": 2001,
            "portalId": TEST_PORTAL_ID,
            "appId": 3001,
            "occurredAt": occurred,
            "subscriptionType": "object.creation",
            "attemptNumber": 0,
            "objectId": 70001,
            "objectTypeId": "0-46",
            "changeSource": "CRM_UI",
            "changeFlag": "CREATED",
        },
        {
            "eventId": 1002,
            "subscriptionId": 2002,
            "portalId": TEST_PORTAL_ID,
            "appId": 3001,
            "occurredAt": occurred,
            "subscriptionType": "contact.propertyChange",
            "attemptNumber": 0,
            "objectId": 501,
            "propertyName": "email",
            "propertyValue": "ana@example.com",
            "changeSource": "CRM_UI",
        },
    ]
    return json.dumps(events, separators=(",", ":"))


def signed_hubspot_webhook(
    body: str, *, secret: str = TEST_WEBHOOK_CLIENT_SECRET, host: str = SAMPLE_HOST, scheme: str = "https"
) -> dict[str, Any]:
    path = "/webhooks/hubspot"
    timestamp = str(int(time.time() * 1000))
    signature = sign_v3(secret, "POST", f"{scheme}://{host}{path}", body, timestamp)
    headers = {
        "x-hubspot-signature-v3": signature,
        "x-hubspot-request-timestamp": timestamp,
        "x-forwarded-proto": scheme,
    }
    return http_api_event("POST", path, body, headers, host=host)


def hubspot_activity_event() -> dict[str, Any]:
    body = json.dumps(
        {
            "type": "document_view",
            "id": "view-9a8b",
            "occurred_at": dt.datetime.now(dt.UTC).isoformat(),
            "contact_ids": ["501"],
            "properties": {"document_name": "Pricing deck.pdf"},
        }
    )
    return http_api_event(
        "POST", "/webhooks/hubspot/activities", body, {"authorization": f"Bearer {TEST_ACTIVITY_ROUTE_TOKEN}"}
    )


def outbound_message_body(org_id: str = TEST_ORG_ID) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body>"
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{org_id}</OrganizationId>"
        "<ActionId>04k000000000001AAA</ActionId>"
        '<SessionId xsi:nil="true"/>'
        "<EnterpriseUrl>https://example.my.salesforce.com/services/Soap/c/62.0/00D000000000001</EnterpriseUrl>"
        "<PartnerUrl>https://example.my.salesforce.com/services/Soap/u/62.0/00D000000000001</PartnerUrl>"
        "<Notification><Id>04l000000000001AAA</Id>"
        '<sObject xsi:type="sf:Task" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        "<sf:Id>00T000000000001AAA</sf:Id><sf:TaskSubtype>Call</sf:TaskSubtype>"
        "</sObject></Notification>"
        "</notifications></soapenv:Body></soapenv:Envelope>"
    )


def outbound_message_event() -> dict[str, Any]:
    return http_api_event(
        "POST",
        "/webhooks/salesforce/outbound-messages",
        outbound_message_body(),
        {"content-type": "text/xml; charset=utf-8", "soapaction": '""', "user-agent": "Salesforce"},
    )


def schedule_event() -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/activity-sync-dev-PollerSchedule"],
        "detail": {},
    }


def sqs_event(queue_name: str, bodies: list[str]) -> dict[str, Any]:
    sent = int(time.time() * 1000)
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": base64.b64encode(f"sample-{index}".encode()).decode(),
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": str(sent),
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": str(sent + 5),
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue_name}",
                "awsRegion": REGION,
            }
            for index, body in enumerate(bodies)
        ]
    }


def sample_change(sync_type: SyncType) -> ChangeMessage:
    type_name = sync_type.type.value
    if sync_type.direction.value == "salesforce_to_hubspot":
        prefix = "00U" if type_name == "meeting" else "00T"
        return ChangeMessage(
            sync_type=sync_type.key, object_id=f"{prefix}000000000001AAA", source=ChangeSource.SALESFORCE_POLL
        )
    object_id = SAMPLE_OBJECT_IDS[type_name]
    payload: dict[str, Any] | None = None
    if type_name in ("form_submission", "marketing_email", "document_view", "integration_event"):
        properties = {
            "form_submission": {"form_name": "Contact Us", "page_url": "https://example.com/contact"},
            "marketing_email": {"email_name": "April Newsletter"},
            "document_view": {"document_name": "Pricing deck.pdf"},
            "integration_event": {"app_name": "Zoom", "event_name": "Webinar attended"},
        }[type_name]
        payload = {
            "type": type_name,
            "id": object_id.split(":")[-1],
            "occurred_at": dt.datetime.now(dt.UTC).isoformat(),
            "contact_ids": ["501"],
            "properties": properties,
        }
        if type_name == "marketing_email":
            payload["email_event"] = "open"
    return ChangeMessage(
        sync_type=sync_type.key, object_id=object_id, source=ChangeSource.HUBSPOT_POLL, payload=payload
    )


def syncer_file_name(sync_type: SyncType) -> str:
    return f"{sync_type.key.replace('#', '.')}.json"


def build_events() -> dict[str, dict[str, Any]]:
    """Relative path under events/ -> event."""
    events: dict[str, dict[str, Any]] = {
        "webhook_receiver/hubspot_webhook.json": signed_hubspot_webhook(hubspot_webhook_body()),
        "webhook_receiver/hubspot_activity.json": hubspot_activity_event(),
        "webhook_receiver/salesforce_outbound_message.json": outbound_message_event(),
        "poller/schedule.json": schedule_event(),
        "contact_linker/contact_changes.json": sqs_event(
            "activity-sync-dev-ContactChangesQueue",
            [ContactChangeMessage(hubspot_contact_id="501", source=ChangeSource.HUBSPOT_WEBHOOK).to_json()],
        ),
    }
    for sync_type in ALL_SYNC_TYPES:
        events[f"syncer/{syncer_file_name(sync_type)}"] = sqs_event(
            f"activity-sync-dev-{sync_type.key.replace('#', '-')}",
            [sample_change(sync_type).to_json()],
        )
    return events


def write_events(directory: Path = EVENTS_DIR) -> list[Path]:
    written: list[Path] = []
    for relative, event in build_events().items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(event, indent=2) + "\n")
        written.append(path)
    return written


def resign(path: Path, secret: str = TEST_WEBHOOK_CLIENT_SECRET) -> dict[str, Any]:
    """Re-sign a HubSpot webhook sample in place with a fresh timestamp."""
    event: dict[str, Any] = json.loads(path.read_text())
    host = event["headers"]["host"]
    scheme = event["headers"].get("x-forwarded-proto", "https")
    fresh = signed_hubspot_webhook(event["body"], secret=secret, host=host, scheme=scheme)
    event["headers"].update(
        {k: fresh["headers"][k] for k in ("x-hubspot-signature-v3", "x-hubspot-request-timestamp")}
    )
    path.write_text(json.dumps(event, indent=2) + "\n")
    return event


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m activity_sync_tools.events", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    write = commands.add_parser("write", help="regenerate every sample event")
    write.add_argument("--dir", type=Path, default=EVENTS_DIR)
    sign = commands.add_parser("resign", help="re-sign the HubSpot webhook sample with a fresh timestamp")
    sign.add_argument(
        "file", type=Path, nargs="?", default=EVENTS_DIR / "webhook_receiver/hubspot_webhook.json"
    )
    sign.add_argument("--secret", default=TEST_WEBHOOK_CLIENT_SECRET)
    args = parser.parse_args(argv)
    if args.command == "write":
        for path in write_events(args.dir):
            print(path)
    else:
        event = resign(args.file, args.secret)
        print(f"{args.file}: signed at {event['headers']['x-hubspot-request-timestamp']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
