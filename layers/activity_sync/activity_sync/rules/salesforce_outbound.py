"""Salesforce Outbound Messages: the SOAP ``notifications`` a Flow or workflow rule sends.

Format: Salesforce's outbound messaging WSDL (namespace ``http://soap.sforce.com/2005/09/outbound``;
https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_om_outboundmessaging_understanding.htm).
Parsed with defusedxml (no entity expansion, no external entities). Salesforce redelivers until it
gets an ``Ack`` of true, so the caller acknowledges only once every change is safely queued.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.etree.ElementTree import Element  # nosec B405  # the type only; defusedxml parses

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from activity_sync.rules.hubspot_webhooks import WebhookRejected

OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
MAX_BODY_BYTES = 1_000_000

ACK_RESPONSE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}"><soapenv:Body>'
    f'<notificationsResponse xmlns="{OUTBOUND_NS}"><Ack>true</Ack></notificationsResponse>'
    "</soapenv:Body></soapenv:Envelope>"
)


@dataclass(frozen=True)
class OutboundRecord:
    notification_id: str
    sobject_type: str  # "Task" or "Event"
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def record_id(self) -> str:
        return self.fields.get("Id", "")


@dataclass(frozen=True)
class OutboundMessage:
    organization_id: str
    action_id: str
    records: list[OutboundRecord]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child_text(parent: Element, name: str) -> str:
    for child in parent:
        if _local(child.tag) == name:
            return (child.text or "").strip()
    return ""


def parse_outbound_message(body: str) -> OutboundMessage:
    if len(body.encode()) > MAX_BODY_BYTES:
        raise WebhookRejected(413, f"body larger than {MAX_BODY_BYTES} bytes")
    try:
        root = ElementTree.fromstring(body)
    except DefusedXmlException as exc:
        raise WebhookRejected(400, f"refused XML construct: {type(exc).__name__}") from None
    except ElementTree.ParseError as exc:
        raise WebhookRejected(400, f"body is not XML: {exc}") from None
    except RecursionError:
        raise WebhookRejected(400, "body is not acceptable XML: nested too deeply") from None
    notifications = root.find(f".//{{{OUTBOUND_NS}}}notifications")
    if notifications is None:
        raise WebhookRejected(400, "no outbound-messaging <notifications> element in the SOAP body")
    records: list[OutboundRecord] = []
    for notification in notifications.findall(f"{{{OUTBOUND_NS}}}Notification"):
        sobject = notification.find(f"{{{OUTBOUND_NS}}}sObject")
        if sobject is None:
            raise WebhookRejected(400, "a <Notification> has no <sObject>")
        xsi_type = sobject.get(f"{{{XSI_NS}}}type", "")
        fields = {_local(child.tag): (child.text or "").strip() for child in sobject}
        notification_id = _child_text(notification, "Id")
        if not notification_id:
            # Refused, so that Salesforce keeps it (and shows it) rather than believing it delivered.
            raise WebhookRejected(400, "a <Notification> has no <Id>")
        if not fields.get("Id"):
            raise WebhookRejected(400, f"the <sObject> of notification {notification_id} has no <Id>")
        records.append(
            OutboundRecord(
                notification_id=notification_id,
                sobject_type=xsi_type.split(":")[-1],
                fields=fields,
            )
        )
    return OutboundMessage(
        organization_id=_child_text(notifications, "OrganizationId"),
        action_id=_child_text(notifications, "ActionId"),
        records=records,
    )
