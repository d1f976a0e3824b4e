"""R9: Salesforce Task subjects, built from templates so people can filter reports on
"Subject starts with Opened: " and the like.

* The default table is data (`DEFAULT_SUBJECT_TEMPLATES`, each row with a description and an example)
  so the README and the CLI print exactly what the code does.
* Templates are keyed per activity type and, for marketing and sales emails, per email event kind:
  `SubjectKey.key` is `note`, `form_submission`, `marketing_email:open`, `sales_email:reply`, ...
  A user's override lives in the type's settings: `TypeSettings.subject_template` (for email types it
  applies to every event kind that has no template of its own) and
  `TypeSettings.email_subject_templates[kind]`.
* Templates use `{placeholder}` names from a per-type list (`allowed_placeholders`), and `{{`/`}}` for
  literal braces. `validate_subject_template` runs when settings are saved and names the allowed
  placeholders in its error. Rendering never calls `str.format` on user text (no attribute access)
  and never fails: a missing value renders as the placeholder's fallback, and an override that is
  invalid anyway (edited straight in DynamoDB) is ignored in favour of the default, which the settings
  loader is expected to report via `validate_subject_overrides`.
* The result is whitespace-collapsed and cut to Salesforce's 255 characters; note bodies are HTML, so
  `{body}` is converted to plain text first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from string import Formatter

from activity_sync.domain import (
    EMAIL_EVENT_KINDS_BY_TYPE,
    ActivityProperty,
    EmailEventKind,
    HubSpotActivity,
    HubSpotActivityType,
    TypeSettings,
)
from activity_sync.rules.text import html_to_text, truncate

SUBJECT_MAX_LENGTH = 255


class SubjectTemplateError(ValueError):
    """Raised when a subject template cannot be used (bad placeholder, unbalanced braces, empty)."""


@dataclass(frozen=True)
class SubjectKey:
    """What a subject template applies to: a type, and for email types optionally one event kind
    (without one, the key names the type-wide template)."""

    activity_type: HubSpotActivityType
    email_event: EmailEventKind | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "activity_type", HubSpotActivityType(self.activity_type))
        if self.email_event is not None:
            kinds = EMAIL_EVENT_KINDS_BY_TYPE.get(self.activity_type, ())
            if self.email_event not in kinds:
                allowed = ", ".join(kind.value for kind in kinds) or "none"
                raise ValueError(
                    f"{self.activity_type.value} has no {self.email_event} event; its events: {allowed}"
                )

    @property
    def key(self) -> str:
        if self.email_event is None:
            return self.activity_type.value
        return f"{self.activity_type.value}:{self.email_event.value}"

    @classmethod
    def parse(cls, key: str) -> SubjectKey:
        type_name, _, event_name = key.strip().partition(":")
        try:
            return cls(HubSpotActivityType(type_name), EmailEventKind(event_name) if event_name else None)
        except ValueError:
            allowed = ", ".join(row.key.key for row in DEFAULT_SUBJECT_TEMPLATES)
            raise SubjectTemplateError(
                f"unknown subject template key {key!r}; expected a type (e.g. note) or one of: {allowed}"
            ) from None

    @classmethod
    def for_activity(cls, activity: HubSpotActivity) -> SubjectKey:
        return cls(activity.type, activity.email_event)


@dataclass(frozen=True)
class Placeholder:
    name: str
    description: str
    fallback: str  # rendered when the activity has no value for it


PLACEHOLDERS: Mapping[str, Placeholder] = {
    placeholder.name: placeholder
    for placeholder in (
        Placeholder("form_name", "the form's name", "Untitled form"),
        Placeholder("page_url", "the page the form was submitted on", "unknown page"),
        Placeholder(
            "email_name",
            "the marketing email's name; for a sales email its subject line",
            "Untitled email",
        ),
        Placeholder("subject", "the subject line (sales email, task)", "(no subject)"),
        Placeholder("action", "what happened to the email: Sent, Opened, Clicked or Replied", "Email"),
        Placeholder("title", "the meeting's or call's title", "(no title)"),
        Placeholder("outcome", "the call's outcome (disposition), e.g. Connected", "unknown outcome"),
        Placeholder("body", "the note's text, HTML removed", "(empty note)"),
        Placeholder("document_name", "the viewed document's name", "Untitled document"),
        Placeholder("app_name", "the name of the integration (app) that logged the event", "Integration"),
        Placeholder("event_name", "the event's name", "Event"),
        Placeholder("date", "the day the activity happened, YYYY-MM-DD", "unknown date"),
    )
}

_ALLOWED_BY_TYPE: Mapping[HubSpotActivityType, tuple[str, ...]] = {
    HubSpotActivityType.FORM_SUBMISSION: ("form_name", "page_url", "date"),
    HubSpotActivityType.MARKETING_EMAIL: ("email_name", "action", "date"),
    HubSpotActivityType.SALES_EMAIL: ("email_name", "subject", "action", "date"),
    HubSpotActivityType.MEETING: ("title", "date"),
    HubSpotActivityType.CALL: ("title", "outcome", "date"),
    HubSpotActivityType.NOTE: ("body", "date"),
    HubSpotActivityType.DOCUMENT_VIEW: ("document_name", "date"),
    HubSpotActivityType.TASK: ("subject", "date"),
    HubSpotActivityType.INTEGRATION_EVENT: ("app_name", "event_name", "date"),
}

_EMAIL_ACTIONS: Mapping[EmailEventKind, str] = {
    EmailEventKind.SENT: "Sent",
    EmailEventKind.OPEN: "Opened",
    EmailEventKind.CLICK: "Clicked",
    EmailEventKind.REPLY: "Replied",
}

# Placeholders filled straight from one activity property (the rest are derived below).
_PROPERTY_FOR_PLACEHOLDER: Mapping[str, ActivityProperty] = {
    "form_name": ActivityProperty.FORM_NAME,
    "page_url": ActivityProperty.PAGE_URL,
    "email_name": ActivityProperty.EMAIL_NAME,
    "subject": ActivityProperty.SUBJECT,
    "title": ActivityProperty.TITLE,
    "outcome": ActivityProperty.CALL_DISPOSITION,
    "document_name": ActivityProperty.DOCUMENT_NAME,
    "app_name": ActivityProperty.APP_NAME,
    "event_name": ActivityProperty.EVENT_NAME,
}


def allowed_placeholders(activity_type: HubSpotActivityType) -> tuple[str, ...]:
    return _ALLOWED_BY_TYPE[HubSpotActivityType(activity_type)]


@dataclass(frozen=True)
class SubjectTemplateRow:
    """One row of the default subject table."""

    key: SubjectKey
    template: str
    description: str
    example_values: Mapping[str, str] = field(default_factory=dict)

    @property
    def example(self) -> str:
        return _render(self.template, self.example_values)


_EMAIL_ROW_DESCRIPTIONS: Mapping[EmailEventKind, str] = {
    EmailEventKind.SENT: "{email} sent to the contact",
    EmailEventKind.OPEN: "{email} opened by the contact",
    EmailEventKind.CLICK: "A link in {email} clicked by the contact",
    EmailEventKind.REPLY: "The contact's reply to {email}",
}


def _email_rows(
    activity_type: HubSpotActivityType, email: str, example_name: str
) -> tuple[SubjectTemplateRow, ...]:
    rows = []
    for kind in EMAIL_EVENT_KINDS_BY_TYPE[activity_type]:
        description = _EMAIL_ROW_DESCRIPTIONS[kind].format(email=email)
        rows.append(
            SubjectTemplateRow(
                SubjectKey(activity_type, kind),
                f"{_EMAIL_ACTIONS[kind]}: {{email_name}}",
                description[0].upper() + description[1:],
                {"email_name": example_name},
            )
        )
    return tuple(rows)


DEFAULT_SUBJECT_TEMPLATES: tuple[SubjectTemplateRow, ...] = (
    SubjectTemplateRow(
        SubjectKey(HubSpotActivityType.FORM_SUBMISSION),
        "Submitted: {form_name}",
        "A form submitted by the contact",
        {"form_name": "Contact Us"},
    ),
    *_email_rows(HubSpotActivityType.MARKETING_EMAIL, "a marketing email", "April Newsletter"),
    *_email_rows(
        HubSpotActivityType.SALES_EMAIL, "a sales email (named by its subject line)", "Pricing for Acme"
    ),
    SubjectTemplateRow(
        SubjectKey(HubSpotActivityType.MEETING),
        "Meeting: {title}",
        "A meeting booked with the contact",
        {"title": "Quarterly review"},
    ),
    SubjectTemplateRow(
        SubjectKey(HubSpotActivityType.CALL),
        "Call: {title}",
        "A call made to or received from the contact",
        {"title": "Discovery call"},
    ),
    SubjectTemplateRow(
        SubjectKey(HubSpotActivityType.NOTE),
        "Note: {body}",
        "A note on the contact; its text, HTML removed, cut to fit 255 characters",
        {"body": "Spoke with Ana about the renewal"},
    ),
    SubjectTemplateRow(
        SubjectKey(HubSpotActivityType.DOCUMENT_VIEW),
        "Viewed: {document_name}",
        "A sales document (content) viewed by the contact",
        {"document_name": "Pricing deck.pdf"},
    ),
    SubjectTemplateRow(
        SubjectKey(HubSpotActivityType.TASK),
        "{subject}",
        "A HubSpot task: its own subject, unchanged",
        {"subject": "Follow up on proposal"},
    ),
    SubjectTemplateRow(
        SubjectKey(HubSpotActivityType.INTEGRATION_EVENT),
        "{app_name}: {event_name}",
        "An event logged by an installed integration (timeline event)",
        {"app_name": "Zoom", "event_name": "Webinar attended"},
    ),
)

_DEFAULTS_BY_KEY: Mapping[SubjectKey, str] = {row.key: row.template for row in DEFAULT_SUBJECT_TEMPLATES}


def default_subject_template(key: SubjectKey) -> str:
    """The default template for a key; a type-wide email key gets the SENT template's shape with
    `{action}`."""
    if key in _DEFAULTS_BY_KEY:
        return _DEFAULTS_BY_KEY[key]
    return "{action}: {email_name}"


def validate_subject_template(activity_type: HubSpotActivityType, template: str) -> str:
    """The template, if it can be used for subjects of `activity_type`; a SubjectTemplateError
    naming the problem and the allowed placeholders otherwise."""
    activity_type = HubSpotActivityType(activity_type)
    allowed = allowed_placeholders(activity_type)
    allowed_text = ", ".join(f"{{{name}}}" for name in allowed)
    if not template.strip():
        raise SubjectTemplateError(f"a {activity_type.value} subject template cannot be empty")
    try:
        parts = list(Formatter().parse(template))
    except ValueError:
        raise SubjectTemplateError(
            f"subject template {template!r} has an unbalanced '{{' or '}}'; write {{{{ or }}}} for a "
            f"literal brace. Allowed placeholders: {allowed_text}"
        ) from None
    for _literal, field_name, format_spec, conversion in parts:
        if field_name is None:
            continue
        if field_name not in allowed:
            shown = f"{{{field_name}}}" if field_name else "{}"
            raise SubjectTemplateError(
                f"unknown placeholder {shown} in {activity_type.value} subject template {template!r}; "
                f"allowed placeholders: {allowed_text}"
            )
        if format_spec or conversion:
            raise SubjectTemplateError(
                f"placeholder {{{field_name}}} in {template!r} cannot carry a format (':' or '!'); "
                f"write it plainly, e.g. {{{field_name}}}"
            )
    return template


def validate_subject_overrides(activity_type: HubSpotActivityType, settings: TypeSettings) -> None:
    """Check a type's subject overrides at settings-save time (and when loading hand-edited items)."""
    activity_type = HubSpotActivityType(activity_type)
    if settings.subject_template is not None:
        validate_subject_template(activity_type, settings.subject_template)
    for kind, template in settings.email_subject_templates.items():
        try:
            SubjectKey(activity_type, EmailEventKind(kind))
        except ValueError as error:
            raise SubjectTemplateError(str(error)) from None
        validate_subject_template(activity_type, template)


def subject_template_for(activity: HubSpotActivity, settings: TypeSettings) -> str:
    """The template that applies: the event kind's override, the type-wide override, the default.
    An override that does not validate is skipped."""
    candidates: list[str | None] = []
    if activity.email_event is not None:
        candidates.append(settings.email_subject_templates.get(activity.email_event))
    candidates.append(settings.subject_template)
    for candidate in candidates:
        if candidate is None:
            continue
        try:
            return validate_subject_template(activity.type, candidate)
        except SubjectTemplateError:
            continue
    return default_subject_template(SubjectKey.for_activity(activity))


def placeholder_values(activity: HubSpotActivity, tz: tzinfo = UTC) -> dict[str, str]:
    """The values an activity offers its subject template (absent or empty ones are left out)."""
    properties = activity.properties
    values = {
        placeholder: " ".join(properties.get(property_name, "").split())
        for placeholder, property_name in _PROPERTY_FOR_PLACEHOLDER.items()
    }
    if activity.type is HubSpotActivityType.SALES_EMAIL and not values["email_name"]:
        values["email_name"] = values["subject"]
    values["body"] = html_to_text(properties.get(ActivityProperty.BODY, ""))
    values["date"] = activity.occurred_at.astimezone(tz).date().isoformat()
    if activity.email_event is not None:
        values["action"] = _EMAIL_ACTIONS[activity.email_event]
    allowed = allowed_placeholders(activity.type)
    return {name: value for name, value in values.items() if value and name in allowed}


def _render(template: str, values: Mapping[str, str]) -> str:
    pieces: list[str] = []
    for literal, field_name, _format_spec, _conversion in Formatter().parse(template):
        pieces.append(literal)
        if field_name is not None:
            fallback = PLACEHOLDERS[field_name].fallback if field_name in PLACEHOLDERS else ""
            pieces.append(values.get(field_name) or fallback)
    return truncate(" ".join("".join(pieces).split()), SUBJECT_MAX_LENGTH)


def render_subject(template: str, activity: HubSpotActivity, tz: tzinfo = UTC) -> str:
    """The subject `template` (already validated for the activity's type) gives for `activity`."""
    return _render(template, placeholder_values(activity, tz))


def subject_for(activity: HubSpotActivity, settings: TypeSettings, tz: tzinfo = UTC) -> str:
    """R9: the Salesforce Task subject of an activity under its type's settings (never empty: every
    placeholder has a non-empty fallback and validation refuses blank templates)."""
    return render_subject(subject_template_for(activity, settings), activity, tz)
