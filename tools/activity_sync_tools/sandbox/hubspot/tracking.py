"""Email engagement tracking: where HubSpot exposes opens, clicks and replies, and how the sandbox
produces them.

**Sales (one-to-one) emails.** HubSpot has no endpoint that lists sales email opens or clicks. What it
exposes is on the records themselves:

* the email engagement (object ``0-49``) carries tracking counters maintained by HubSpot:
  ``hs_email_open_count``, ``hs_email_click_count``, ``hs_email_reply_count`` (read by many public
  integrations through ``/crm/v3/objects/emails`` and its search; HubSpot's sequences reporting
  aggregates the same names). A change to them is an ``object.propertyChange`` of the email
  (generic webhooks cover EMAIL objects, all properties but ``hs_email_html``/``hs_email_subject``:
  https://developers.hubspot.com/beta-docs/guides/apps/public-apps/create-generic-webhook-subscriptions);
* the contact carries the latest instants: ``hs_sales_email_last_opened``,
  ``hs_sales_email_last_clicked``, ``hs_sales_email_last_replied`` (HubSpot's default contact
  properties "Recent Sales Email Opened/Clicked/Replied Date"), each a ``contact.propertyChange``;
* a reply is logged as a new email engagement with ``hs_email_direction = INCOMING_EMAIL`` ("the email
  was a reply to a logged outgoing email": https://developers.hubspot.com/docs/api/crm/email),
  associated with the same contact, in the same ``hs_email_thread_id``.

``POST /_sandbox/sales-email-events`` (``{"emailId", "type": "OPEN"|"CLICK"|"REPLY", "at"?, "url"?,
"text"?}``) makes exactly those changes, so the matching webhooks fire.

**Marketing emails.** Opens and clicks are events of the legacy email events feed
(``GET /email/public/v1/events``); HubSpot also rolls them up on the contact
(``hs_email_last_open_date``, ``hs_email_last_click_date``, ``hs_email_last_send_date``,
``hs_email_last_email_name``, counters ``hs_email_open``/``hs_email_click``/``hs_email_delivered``/
``hs_email_bounce``). ``POST /_sandbox/email-events`` records an event and applies that roll-up.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from .errors import object_not_found, validation_error
from .marketing import EmailEvent, MarketingState
from .schema import ASSOCIATION_TYPES, CONTACTS, EMAILS, ms_to_iso
from .store import ChangeSource, CrmRecord, CrmStore


class TrackedPortal(Protocol):
    """What tracking an email's events changes in the portal (``portal.Portal`` has it)."""

    store: CrmStore
    marketing: MarketingState


SALES_TRACKING = ChangeSource("SALES")
EMAIL_LOGGING = ChangeSource("EMAIL_INTEGRATION")
MARKETING_EMAIL = ChangeSource("EMAIL")

SALES_EMAIL_EVENT_TYPES = ("OPEN", "CLICK", "REPLY")
_COUNTER = {"OPEN": "hs_email_open_count", "CLICK": "hs_email_click_count", "REPLY": "hs_email_reply_count"}
_CONTACT_LAST = {
    "OPEN": "hs_sales_email_last_opened",
    "CLICK": "hs_sales_email_last_clicked",
    "REPLY": "hs_sales_email_last_replied",
}


def record_sales_email_event(
    sandbox: TrackedPortal, email_id: str, event_type: str, at: int, details: dict[str, Any]
) -> dict[str, CrmRecord]:
    """Apply an open, click or reply of an outgoing sales email; returns the records it touched
    (``email``, and ``reply`` for a reply). Callers hold the sandbox lock."""
    store = sandbox.store
    if event_type not in SALES_EMAIL_EVENT_TYPES:
        raise validation_error(f"type must be one of {', '.join(SALES_EMAIL_EVENT_TYPES)}; got {event_type}")
    email = store.get(EMAILS, email_id)
    if email is None:
        raise object_not_found(email_id)
    if (email.value("hs_email_direction") or "EMAIL") != "EMAIL":
        raise validation_error(f"Email {email_id} is not an outgoing email; only those are tracked")
    contacts = [contact for contact, _ in store.associations(email, CONTACTS)]
    touched = {"email": email}
    thread = email.value("hs_email_thread_id") or str(email.id)
    if event_type == "REPLY":
        touched["reply"] = _log_reply(sandbox, email, contacts, thread, at, details)
    count = int(email.value(_COUNTER[event_type]) or 0) + 1
    store.set_system_values(
        email, {_COUNTER[event_type]: str(count), "hs_email_thread_id": thread}, SALES_TRACKING
    )
    for contact in contacts:
        store.set_system_values(contact, {_CONTACT_LAST[event_type]: ms_to_iso(at)}, SALES_TRACKING)
    return touched


def _log_reply(
    sandbox: TrackedPortal,
    email: CrmRecord,
    contacts: list[CrmRecord],
    thread: str,
    at: int,
    details: dict[str, Any],
) -> CrmRecord:
    original_headers = _headers(email.value("hs_email_headers"))
    sender = contacts[0] if contacts else None
    headers = {
        "from": {
            "email": (sender.value("email") if sender else None) or "contact@example.com",
            "firstName": sender.value("firstname") if sender else None,
            "lastName": sender.value("lastname") if sender else None,
        },
        "to": [original_headers.get("from") or {"email": "rep@example.com"}],
        "cc": [],
        "bcc": [],
    }
    subject = email.value("hs_email_subject") or ""
    properties: dict[str, Any] = {
        "hs_timestamp": ms_to_iso(at),
        "hs_email_direction": "INCOMING_EMAIL",
        "hs_email_status": "SENT",
        "hs_email_subject": details.get("subject")
        or (subject if subject.startswith("Re:") else f"Re: {subject}"),
        "hs_email_text": details.get("text") or "Thanks, let's talk.",
        "hs_email_thread_id": thread,
        "hs_email_headers": json.dumps(headers),
        "hubspot_owner_id": email.value("hubspot_owner_id"),
    }
    reply = sandbox.store.create(EMAILS, properties, EMAIL_LOGGING, system=True)
    for contact in contacts:
        sandbox.store.associate(reply, contact, ASSOCIATION_TYPES[198], EMAIL_LOGGING)
    return reply


def _headers(raw: str | None) -> dict[str, Any]:
    try:
        parsed = json.loads(raw or "{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


_CONTACT_ROLLUP: dict[str, tuple[str | None, str | None]] = {
    # event type: (counter property, "last" date property)
    "SENT": (None, "hs_email_last_send_date"),
    "DELIVERED": ("hs_email_delivered", None),
    "OPEN": ("hs_email_open", "hs_email_last_open_date"),
    "CLICK": ("hs_email_click", "hs_email_last_click_date"),
    "BOUNCE": ("hs_email_bounce", None),
}


def record_marketing_email_event(
    sandbox: TrackedPortal,
    event_type: str,
    recipient: str,
    campaign_id: int,
    created: int,
    details: dict[str, Any],
) -> EmailEvent:
    """Add an event to the legacy feed and roll it up on the recipient's contact, if any."""
    email = sandbox.marketing.email_for_campaign(campaign_id)
    if email is None:
        raise validation_error(f"No marketing email has campaign id {campaign_id}")
    if event_type == "SENT":
        details = {"subject": email.subject, "from": f"{email.from_name} <{email.reply_to}>", **details}
    event = sandbox.marketing.add_event(event_type, recipient, campaign_id, created, details)
    contact = sandbox.store.find(CONTACTS, recipient, "email")
    counter, last = _CONTACT_ROLLUP.get(event_type, (None, None))
    if contact is not None and (counter or last):
        values: dict[str, str | None] = {}
        if counter:
            values[counter] = str(int(contact.value(counter) or 0) + 1)
        if last:
            values[last] = ms_to_iso(created)
            values["hs_email_last_email_name"] = email.name
        sandbox.store.set_system_values(contact, values, MARKETING_EMAIL)
    return event
