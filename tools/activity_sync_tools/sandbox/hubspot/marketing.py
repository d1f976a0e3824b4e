"""Marketing emails with their legacy event feed, and forms with their submissions.

* ``GET /marketing/v3/emails[/{id}]`` answers ``PublicEmail`` objects; ``allEmailCampaignIds`` links an
  email to the campaign ids that its events carry as ``emailCampaignId``.
* ``GET /email/public/v1/campaigns/{campaignId}`` (legacy, still documented at
  https://developers.hubspot.com/docs/api-reference/legacy/email-analytics-v1/campaigns/get-email-public-v1-campaigns-campaign_id)
  resolves a campaign id to the email's name, subject and ``contentId``.
* ``GET /email/public/v1/events`` pages events newest first with ``offset``/``hasMore``
  (https://developers.hubspot.com/docs/api-reference/legacy/email-analytics-v1/guide).
* Forms are ``HubSpotFormDefinition`` objects; the legacy submissions feed
  ``/form-integrations/v1/submissions/forms/{guid}`` lists ``{conversionId, submittedAt, values,
  pageUrl}`` newest first, at most 50 per page.
"""

from __future__ import annotations

import random
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from .errors import validation_error
from .schema import ms_to_iso

EMAIL_EVENT_TYPES = (
    "SENT",
    "DROPPED",
    "PROCESSED",
    "DELIVERED",
    "DEFERRED",
    "BOUNCE",
    "OPEN",
    "CLICK",
    "PRINT",
    "FORWARD",
    "STATUSCHANGE",
    "SPAMREPORT",
    "SUPPRESSED",
    "UNBOUNCE",
)
FORM_FIELD_TYPES = ("email", "single_line_text", "multi_line_text")
MARKETING_APP_ID = 113
MARKETING_APP_NAME = "Batch"
MAX_EVENTS_PAGE = 1000
MAX_SUBMISSIONS_PAGE = 50


@dataclass
class MarketingEmail:
    id: int
    name: str
    subject: str
    campaign_ids: list[int]
    created_at: int
    updated_at: int
    publish_date: int | None
    state: str = "PUBLISHED"
    email_type: str = "BATCH_EMAIL"
    from_name: str = "Sandbox Marketing"
    reply_to: str = "marketing@example.com"
    archived: bool = False

    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "subject": self.subject,
            "state": self.state,
            "type": self.email_type,
            "subcategory": "batch",
            "isPublished": self.state == "PUBLISHED",
            "isTransactional": False,
            "isAb": False,
            "sendOnPublish": True,
            "language": "en",
            "archived": self.archived,
            "createdAt": ms_to_iso(self.created_at),
            "updatedAt": ms_to_iso(self.updated_at),
            "from": {"fromName": self.from_name, "replyTo": self.reply_to},
            "to": {
                "contactIds": {"include": [], "exclude": []},
                "contactLists": {"include": [], "exclude": []},
                "suppressGraymail": False,
                "limitSendFrequency": False,
            },
            "content": {"templatePath": "@hubspot/email/dnd/plain_text.html", "widgets": {}, "flexAreas": {}},
            "allEmailCampaignIds": [str(c) for c in self.campaign_ids],
            "activeDomain": "sandbox.hs-sites.com",
        }
        if self.publish_date is not None:
            body["publishDate"] = ms_to_iso(self.publish_date)
            body["publishedAt"] = ms_to_iso(self.publish_date)
        return body


@dataclass
class EmailEvent:
    id: str
    created: int
    type: str
    recipient: str
    email_campaign_id: int
    sent_by: tuple[str, int] | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_api(self, portal_id: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "created": self.created,
            "type": self.type,
            "recipient": self.recipient,
            "portalId": portal_id,
            "appId": MARKETING_APP_ID,
            "appName": MARKETING_APP_NAME,
            "emailCampaignId": self.email_campaign_id,
        }
        if self.sent_by is not None:
            body["sentBy"] = {"id": self.sent_by[0], "created": self.sent_by[1]}
        body.update(self.details)
        return body


@dataclass
class FormField:
    name: str
    label: str
    field_type: str = "single_line_text"
    required: bool = False
    object_type_id: str = "0-1"

    # The Forms API's field JSON: alike in shape to PropertyDefinition.to_api, but another API's schema.
    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "objectTypeId": self.object_type_id,
            "name": self.name,
            "label": self.label,
            "required": self.required,
            "hidden": False,
            "fieldType": self.field_type,
            "dependentFields": [],
        }
        if self.field_type == "email":
            body["validation"] = {"blockedEmailDomains": [], "useDefaultBlockList": False}
        return body


@dataclass
class Form:
    id: str
    name: str
    fields: list[FormField]
    created_at: int
    updated_at: int
    inline_message: str = "Thanks for submitting the form."
    archived: bool = False

    def field(self, name: str) -> FormField | None:
        return next((f for f in self.fields if f.name == name), None)

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "formType": "hubspot",
            "createdAt": ms_to_iso(self.created_at),
            "updatedAt": ms_to_iso(self.updated_at),
            "archived": self.archived,
            "fieldGroups": [
                {"groupType": "default_group", "richTextType": "text", "fields": [f.to_api()]}
                for f in self.fields
            ],
            "configuration": {
                "language": "en",
                "cloneable": True,
                "editable": True,
                "archivable": True,
                "recaptchaEnabled": False,
                "notifyContactOwner": False,
                "notifyRecipients": [],
                "createNewContactForNewEmail": False,
                "prePopulateKnownValues": True,
                "allowLinkToResetKnownValues": False,
                "lifecycleStages": [],
                "postSubmitAction": {"type": "thank_you", "value": self.inline_message},
            },
            "displayOptions": {
                "renderRawHtml": False,
                "theme": "default_style",
                "submitButtonText": "Submit",
                "style": {
                    "fontFamily": "arial, helvetica, sans-serif",
                    "backgroundWidth": "100%",
                    "labelTextColor": "#33475b",
                    "labelTextSize": "14px",
                    "helpTextColor": "#7C98B6",
                    "helpTextSize": "11px",
                    "legalConsentTextColor": "#33475b",
                    "legalConsentTextSize": "14px",
                    "submitColor": "#ff7a59",
                    "submitAlignment": "left",
                    "submitFontColor": "#ffffff",
                    "submitSize": "12px",
                },
            },
            "legalConsentOptions": {"type": "none"},
        }


@dataclass
class FormSubmission:
    conversion_id: str
    form_id: str
    submitted_at: int
    values: list[dict[str, str]]
    page_url: str | None = None

    def value(self, name: str) -> str | None:
        return next((v["value"] for v in self.values if v["name"] == name), None)

    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "conversionId": self.conversion_id,
            "submittedAt": self.submitted_at,
            "values": self.values,
        }
        if self.page_url:
            body["pageUrl"] = self.page_url
        return body


class MarketingState:
    """Marketing emails, their events, forms and submissions (callers hold the sandbox lock)."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._guid_lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self._random = random.Random(self._seed)
        self.emails: dict[int, MarketingEmail] = {}
        self.campaign_to_email: dict[int, int] = {}
        self.events: list[EmailEvent] = []
        self.forms: dict[str, Form] = {}
        self.submissions: dict[str, list[FormSubmission]] = {}
        self._next_email_id = 100_001
        self._next_campaign_id = 200_001

    def guid(self) -> str:
        with self._guid_lock:
            return str(uuid.UUID(int=self._random.getrandbits(128), version=4))

    # -- marketing emails ----------------------------------------------------------------------
    def add_email(
        self,
        name: str,
        subject: str,
        now: int,
        *,
        email_id: int | None = None,
        campaign_id: int | None = None,
        publish_date: int | None = None,
        state: str = "PUBLISHED",
    ) -> MarketingEmail:
        email_id = email_id if email_id is not None else self._next_email_id
        self._next_email_id = max(self._next_email_id, email_id + 1)
        campaign = campaign_id if campaign_id is not None else self._next_campaign_id
        self._next_campaign_id = max(self._next_campaign_id, campaign + 1)
        email = MarketingEmail(
            id=email_id,
            name=name,
            subject=subject,
            campaign_ids=[campaign],
            created_at=now,
            updated_at=now,
            publish_date=publish_date
            if publish_date is not None
            else (now if state == "PUBLISHED" else None),
            state=state,
        )
        self.emails[email_id] = email
        self.campaign_to_email[campaign] = email_id
        return email

    def email_for_campaign(self, campaign_id: int) -> MarketingEmail | None:
        email_id = self.campaign_to_email.get(campaign_id)
        return None if email_id is None else self.emails.get(email_id)

    def campaign_summary(self, campaign_id: int) -> dict[str, Any] | None:
        email = self.email_for_campaign(campaign_id)
        if email is None:
            return None
        counters: dict[str, int] = {}
        for event in self.events:
            if event.email_campaign_id == campaign_id:
                key = event.type.lower()
                counters[key] = counters.get(key, 0) + 1
        sent = counters.get("sent", 0)
        return {
            "id": campaign_id,
            "appId": MARKETING_APP_ID,
            "appName": MARKETING_APP_NAME,
            "contentId": email.id,
            "name": email.name,
            "subject": email.subject,
            "type": email.email_type.removesuffix("_EMAIL"),
            "subType": "",
            "numIncluded": sent,
            "numQueued": 0,
            "counters": counters,
        }

    # -- email events --------------------------------------------------------------------------
    def add_event(
        self, event_type: str, recipient: str, campaign_id: int, created: int, details: dict[str, Any]
    ) -> EmailEvent:
        if event_type not in EMAIL_EVENT_TYPES:
            raise validation_error(
                f"Unknown email event type {event_type}; expected one of {EMAIL_EVENT_TYPES}"
            )
        sent_by: tuple[str, int] | None = None
        if event_type != "SENT":
            sent = [
                e
                for e in self.events
                if e.type == "SENT"
                and e.email_campaign_id == campaign_id
                and e.recipient == recipient.lower()
                and e.created <= created
            ]
            if sent:
                latest = max(sent, key=lambda e: e.created)
                sent_by = (latest.id, latest.created)
        event = EmailEvent(
            self.guid(), created, event_type, recipient.lower(), campaign_id, sent_by, dict(details)
        )
        if event_type == "SENT":
            event.sent_by = (event.id, created)
        self.events.append(event)
        return event

    def events_page(
        self,
        *,
        start: int | None,
        end: int | None,
        event_type: str | None,
        recipient: str | None,
        campaign_id: int | None,
        limit: int,
        offset: int,
    ) -> tuple[list[EmailEvent], bool]:
        matching = [
            e
            for e in self.events
            if (start is None or e.created >= start)
            and (end is None or e.created <= end)
            and (event_type is None or e.type == event_type)
            and (recipient is None or e.recipient == recipient.lower())
            and (campaign_id is None or e.email_campaign_id == campaign_id)
        ]
        matching.sort(key=lambda e: (-e.created, e.id))
        page = matching[offset : offset + limit]
        return page, offset + len(page) < len(matching)

    # -- forms ---------------------------------------------------------------------------------
    def add_form(
        self,
        name: str,
        fields: list[FormField],
        now: int,
        *,
        form_id: str | None = None,
        inline_message: str | None = None,
    ) -> Form:
        for form_field in fields:
            if form_field.field_type not in FORM_FIELD_TYPES:
                raise validation_error(f"Unsupported form field type {form_field.field_type}")
        form = Form(form_id or self.guid(), name, fields, now, now)
        if inline_message:
            form.inline_message = inline_message
        self.forms[form.id] = form
        self.submissions.setdefault(form.id, [])
        return form

    def add_submission(
        self, form: Form, submitted_at: int, values: list[dict[str, str]], page_url: str | None
    ) -> FormSubmission:
        submission = FormSubmission(self.guid(), form.id, submitted_at, values, page_url)
        self.submissions.setdefault(form.id, []).append(submission)
        return submission

    def submissions_page(self, form_id: str, limit: int, offset: int) -> tuple[list[FormSubmission], bool]:
        newest_first = sorted(
            self.submissions.get(form_id, []), key=lambda s: (-s.submitted_at, s.conversion_id)
        )
        page = newest_first[offset : offset + limit]
        return page, offset + len(page) < len(newest_first)
