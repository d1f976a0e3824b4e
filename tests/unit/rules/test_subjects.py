"""R9: subjects follow fixed, reportable conventions; users may override each template."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from activity_sync.domain import (
    EMAIL_EVENT_KINDS_BY_TYPE,
    EmailEventKind,
    HubSpotActivity,
    HubSpotActivityType,
    TypeSettings,
)
from activity_sync.rules.subjects import (
    DEFAULT_SUBJECT_TEMPLATES,
    SUBJECT_MAX_LENGTH,
    SubjectKey,
    SubjectTemplateError,
    SubjectTemplateRow,
    allowed_placeholders,
    subject_for,
    validate_subject_overrides,
    validate_subject_template,
)

DEFAULTS = TypeSettings()
WHEN = datetime(2024, 5, 1, 23, 30, tzinfo=UTC)


def activity(
    activity_type: HubSpotActivityType,
    event: EmailEventKind | None = None,
    **properties: str,
) -> HubSpotActivity:
    return HubSpotActivity(
        type=activity_type, id="42", occurred_at=WHEN, email_event=event, properties=properties
    )


def test_r9_marketing_email_open_subject_is_opened_and_the_emails_name() -> None:
    # Given an open of the marketing email "April Newsletter" / When building the subject
    subject = subject_for(
        activity(HubSpotActivityType.MARKETING_EMAIL, EmailEventKind.OPEN, email_name="April Newsletter"),
        DEFAULTS,
    )
    # Then it starts with "Opened: " (the documented report filter)
    assert subject == "Opened: April Newsletter"


def test_r9_sales_email_open_uses_the_emails_subject_as_its_name() -> None:
    # Given an open of a sales email whose subject line is "Pricing for Acme" / When building the subject
    subject = subject_for(
        activity(HubSpotActivityType.SALES_EMAIL, EmailEventKind.OPEN, subject="Pricing for Acme"), DEFAULTS
    )
    # Then it has the same shape as a marketing email open
    assert subject == "Opened: Pricing for Acme"


def test_r9_a_submission_of_the_contact_us_form_is_submitted_contact_us() -> None:
    # Given a submission of the form "Contact Us" / When building the subject
    # Then exactly the documented subject
    assert (
        subject_for(activity(HubSpotActivityType.FORM_SUBMISSION, form_name="Contact Us"), DEFAULTS)
        == "Submitted: Contact Us"
    )


@pytest.mark.parametrize(
    ("subject_activity", "expected"),
    [
        (activity(HubSpotActivityType.MARKETING_EMAIL, EmailEventKind.SENT, email_name="News"), "Sent: News"),
        (
            activity(HubSpotActivityType.MARKETING_EMAIL, EmailEventKind.CLICK, email_name="News"),
            "Clicked: News",
        ),
        (activity(HubSpotActivityType.SALES_EMAIL, EmailEventKind.SENT, subject="Hi"), "Sent: Hi"),
        (activity(HubSpotActivityType.SALES_EMAIL, EmailEventKind.CLICK, subject="Hi"), "Clicked: Hi"),
        (activity(HubSpotActivityType.SALES_EMAIL, EmailEventKind.REPLY, subject="Hi"), "Replied: Hi"),
        (activity(HubSpotActivityType.MEETING, title="Quarterly review"), "Meeting: Quarterly review"),
        (activity(HubSpotActivityType.CALL, title="Discovery call"), "Call: Discovery call"),
        (activity(HubSpotActivityType.NOTE, body="<p>Spoke with Ana</p>"), "Note: Spoke with Ana"),
        (activity(HubSpotActivityType.DOCUMENT_VIEW, document_name="Deck.pdf"), "Viewed: Deck.pdf"),
        (activity(HubSpotActivityType.TASK, subject="Follow up"), "Follow up"),
        (
            activity(HubSpotActivityType.INTEGRATION_EVENT, app_name="Zoom", event_name="Webinar attended"),
            "Zoom: Webinar attended",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else f"{value.type}:{value.email_event}",
)
def test_r9_default_subjects(subject_activity: HubSpotActivity, expected: str) -> None:
    # Given an activity of each type / When building its subject with no override / Then the table's shape
    assert subject_for(subject_activity, DEFAULTS) == expected


def test_r9_the_default_table_covers_every_type_and_email_event_once() -> None:
    # Given the README's table / When listing its keys / Then one row per type, per event for emails
    expected = [
        SubjectKey(activity_type, event)
        for activity_type in HubSpotActivityType
        for event in EMAIL_EVENT_KINDS_BY_TYPE.get(activity_type, (None,))
    ]
    assert [row.key for row in DEFAULT_SUBJECT_TEMPLATES] == expected


@pytest.mark.parametrize("row", DEFAULT_SUBJECT_TEMPLATES, ids=lambda row: row.key.key)
def test_r9_every_default_row_is_valid_documented_and_has_an_example(row: SubjectTemplateRow) -> None:
    # Given a row of the default table / When validating and rendering its example
    # Then the template passes its own validation, has a description, and the example has no fallback text
    assert validate_subject_template(row.key.activity_type, row.template) == row.template
    assert row.description
    assert row.example
    assert "Untitled" not in row.example
    assert "(no " not in row.example


def test_r9_the_documented_examples_are_in_the_table() -> None:
    # Given the table / When reading the examples / Then the two documented conventions appear
    examples = {row.key.key: row.example for row in DEFAULT_SUBJECT_TEMPLATES}
    assert examples["form_submission"] == "Submitted: Contact Us"
    assert examples["marketing_email:open"].startswith("Opened: ")
    assert examples["sales_email:open"].startswith("Opened: ")


@pytest.mark.parametrize(
    ("subject_activity", "expected"),
    [
        (activity(HubSpotActivityType.FORM_SUBMISSION), "Submitted: Untitled form"),
        (
            activity(HubSpotActivityType.MARKETING_EMAIL, EmailEventKind.OPEN, email_name="   "),
            "Opened: Untitled email",
        ),
        (activity(HubSpotActivityType.CALL), "Call: (no title)"),
        (activity(HubSpotActivityType.TASK), "(no subject)"),
        (activity(HubSpotActivityType.NOTE, body="<p> </p>"), "Note: (empty note)"),
    ],
)
def test_r9_a_missing_value_renders_its_fallback_never_a_crash(
    subject_activity: HubSpotActivity, expected: str
) -> None:
    # Given an activity lacking the value its template needs / When building the subject / Then the fallback
    assert subject_for(subject_activity, DEFAULTS) == expected


def test_r9_a_note_subject_is_plain_text_with_whitespace_collapsed() -> None:
    # Given a note body in HTML with entities and line breaks
    note = activity(
        HubSpotActivityType.NOTE, body="<div>Renewal&nbsp;&amp;  pricing<br>\n\n<b>next</b> week</div>"
    )
    # When building the subject / Then tags gone, entities decoded, one space between words
    assert subject_for(note, DEFAULTS) == "Note: Renewal & pricing next week"


def test_r9_subjects_are_cut_to_salesforces_255_characters() -> None:
    # Given a 1,000-character note / When building the subject
    subject = subject_for(activity(HubSpotActivityType.NOTE, body="word " * 200), DEFAULTS)
    # Then 255 characters at most, ending with an ellipsis to show the cut
    assert len(subject) == SUBJECT_MAX_LENGTH
    assert subject.startswith("Note: word word")
    assert subject.endswith("\u2026")


def test_r9_a_type_override_replaces_the_default() -> None:
    # Given a form override / When building the subject / Then the override, with its placeholders filled
    settings = TypeSettings(subject_template="Form: {form_name} on {page_url}")
    form = activity(HubSpotActivityType.FORM_SUBMISSION, form_name="Demo", page_url="https://x.test/demo")
    assert subject_for(form, settings) == "Form: Demo on https://x.test/demo"


def test_r9_an_email_event_override_beats_the_type_override_which_covers_the_other_events() -> None:
    # Given an override for opens and a type-wide override using {action}
    settings = TypeSettings(
        subject_template="Email {action}: {email_name}",
        email_subject_templates={EmailEventKind.OPEN: "Read: {email_name}"},
    )
    # When building an open's and a click's subject / Then the event's own template, then the type's
    assert (
        subject_for(
            activity(HubSpotActivityType.MARKETING_EMAIL, EmailEventKind.OPEN, email_name="N"), settings
        )
        == "Read: N"
    )
    assert subject_for(
        activity(HubSpotActivityType.MARKETING_EMAIL, EmailEventKind.CLICK, email_name="N"), settings
    ) == ("Email Clicked: N")


def test_r9_the_date_placeholder_uses_the_time_zone_passed() -> None:
    # Given a meeting booked at 23:30 UTC on May 1 and an override with {date}
    settings = TypeSettings(subject_template="Meeting {date}: {title}")
    meeting = activity(HubSpotActivityType.MEETING, title="Demo")
    # When rendering in UTC and in UTC+2 / Then May 1 and May 2
    assert subject_for(meeting, settings) == "Meeting 2024-05-01: Demo"
    assert subject_for(meeting, settings, tz=timezone(timedelta(hours=2))) == "Meeting 2024-05-02: Demo"


def test_r9_literal_braces_are_written_doubled() -> None:
    # Given a template with {{ and }} / When rendering / Then single braces appear
    settings = TypeSettings(subject_template="{{HS}} {subject}")
    assert subject_for(activity(HubSpotActivityType.TASK, subject="Call back"), settings) == "{HS} Call back"


def test_r9_an_unknown_placeholder_is_refused_with_the_allowed_ones_listed() -> None:
    # Given a form template naming {email_name} (not a form value) / When saving
    # Then the error names the bad placeholder and lists the form's placeholders
    with pytest.raises(
        SubjectTemplateError,
        match=r"unknown placeholder \{email_name\}.*\{form_name\}, \{page_url\}, \{date\}",
    ):
        validate_subject_template(HubSpotActivityType.FORM_SUBMISSION, "Submitted: {email_name}")


@pytest.mark.parametrize(
    "template",
    ["{form_name.__class__}", "{form_name[0]}", "{form_name!r}", "{form_name:>300}", "{}", "{0}"],
)
def test_r9_attribute_access_positional_fields_and_formats_are_refused(template: str) -> None:
    # Given a template that would reach into objects or pad the text / When saving / Then refused
    with pytest.raises(SubjectTemplateError):
        validate_subject_template(HubSpotActivityType.FORM_SUBMISSION, template)


@pytest.mark.parametrize("template", ["Submitted: {form_name", "Submitted: form_name}"])
def test_r9_unbalanced_braces_are_refused_with_a_hint(template: str) -> None:
    # Given a missing brace / When saving / Then an error telling how to write a literal brace
    with pytest.raises(SubjectTemplateError, match="unbalanced"):
        validate_subject_template(HubSpotActivityType.FORM_SUBMISSION, template)


@pytest.mark.parametrize("template", ["", "   "])
def test_r9_a_blank_template_is_refused(template: str) -> None:
    # Given an empty template / When saving / Then refused (a Task needs a subject)
    with pytest.raises(SubjectTemplateError, match="cannot be empty"):
        validate_subject_template(HubSpotActivityType.NOTE, template)


def test_r9_an_invalid_override_stored_by_hand_falls_back_to_the_default() -> None:
    # Given a template edited straight into DynamoDB with an unknown placeholder
    settings = TypeSettings(subject_template="Submitted {whatever}")
    # When building the subject / Then the default is used rather than failing the Task
    assert (
        subject_for(activity(HubSpotActivityType.FORM_SUBMISSION, form_name="Contact Us"), settings)
        == "Submitted: Contact Us"
    )


def test_r9_overrides_are_checked_per_event_kind_when_saved() -> None:
    # Given a marketing email override for replies (marketing emails have none) / When saving / Then refused
    settings = TypeSettings(email_subject_templates={EmailEventKind.REPLY: "Replied: {email_name}"})
    with pytest.raises(SubjectTemplateError, match="marketing_email has no reply event"):
        validate_subject_overrides(HubSpotActivityType.MARKETING_EMAIL, settings)


def test_r9_a_bad_event_override_is_refused_when_saved() -> None:
    # Given a sales email click override with a form placeholder / When saving / Then refused
    settings = TypeSettings(email_subject_templates={EmailEventKind.CLICK: "Clicked: {form_name}"})
    with pytest.raises(SubjectTemplateError, match="unknown placeholder"):
        validate_subject_overrides(HubSpotActivityType.SALES_EMAIL, settings)


@pytest.mark.parametrize("key", ["note", "marketing_email", "marketing_email:open", "sales_email:reply"])
def test_r9_subject_keys_round_trip(key: str) -> None:
    # Given a template key / When parsing and printing it / Then the same text
    assert SubjectKey.parse(key).key == key


@pytest.mark.parametrize("key", ["notes", "note:open", "marketing_email:reply", "sales_email:bounce"])
def test_r9_unknown_subject_keys_are_refused(key: str) -> None:
    # Given a key naming no template / When parsing / Then an error listing the valid keys
    with pytest.raises(SubjectTemplateError, match="expected a type"):
        SubjectKey.parse(key)


def test_r9_every_type_offers_the_date_placeholder() -> None:
    # Given the placeholder lists / When checking each type / Then {date} is always available
    assert all("date" in allowed_placeholders(activity_type) for activity_type in HubSpotActivityType)
