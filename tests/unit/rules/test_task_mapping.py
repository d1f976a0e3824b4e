"""R3: a HubSpot activity becomes one Salesforce Task with these fields; its identity is the
External ID `HubSpot_Activity_Id__c`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from activity_sync.domain import EmailEventKind, HubSpotActivity, HubSpotActivityType, TypeSettings
from activity_sync.rules.task_mapping import (
    DESCRIPTION_MAX_LENGTH,
    EXTERNAL_ID_FIELD,
    HubSpotActivityKey,
    activity_external_id,
    build_task,
)

WHO = "0035g00000AbCdEAAV"
OWNER = "0055g00000Ab1CdAAJ"
WHEN = datetime(2024, 5, 1, 22, 15, tzinfo=UTC)
DEFAULTS = TypeSettings()


def activity(
    activity_type: HubSpotActivityType,
    activity_id: str = "4012",
    event: EmailEventKind | None = None,
    **properties: str,
) -> HubSpotActivity:
    return HubSpotActivity(
        type=activity_type, id=activity_id, occurred_at=WHEN, email_event=event, properties=properties
    )


def fields(source: HubSpotActivity, settings: TypeSettings = DEFAULTS) -> dict[str, object]:
    return dict(build_task(source, who_id=WHO, owner_id=OWNER, settings=settings).create_fields)


def test_r3_a_note_becomes_a_completed_task_on_the_person_with_its_text() -> None:
    # Given a HubSpot note in HTML / When mapping it to a Task
    task = fields(activity(HubSpotActivityType.NOTE, body="<p>Renewal talk</p><p>Send quote&nbsp;Friday</p>"))
    # Then the whole record: subject, plain-text body, date, Completed, Normal, person, owner, id
    assert task == {
        "Subject": "Note: Renewal talk Send quote Friday",
        "Description": "Renewal talk\nSend quote Friday",
        "ActivityDate": "2024-05-01",
        "Status": "Completed",
        "Priority": "Normal",
        "WhoId": WHO,
        "OwnerId": OWNER,
        "TaskSubtype": "Task",
        EXTERNAL_ID_FIELD: "hs:note:4012",
    }


@pytest.mark.parametrize(
    ("hubspot_status", "status"),
    [
        ("NOT_STARTED", "Not Started"),
        ("IN_PROGRESS", "In Progress"),
        ("WAITING", "Waiting on someone else"),
        ("DEFERRED", "Deferred"),
        ("COMPLETED", "Completed"),
        ("completed", "Completed"),
        ("", "Not Started"),
        ("SOMETHING_NEW", "Not Started"),
    ],
)
def test_r3_a_hubspot_tasks_status_maps_to_the_salesforce_status(hubspot_status: str, status: str) -> None:
    # Given a HubSpot task with hs_task_status / When mapping
    # Then the Salesforce status (anything unknown: Not Started)
    assert fields(activity(HubSpotActivityType.TASK, status=hubspot_status))["Status"] == status


@pytest.mark.parametrize(
    ("hubspot_priority", "priority"),
    [("HIGH", "High"), ("MEDIUM", "Normal"), ("LOW", "Low"), ("NONE", "Normal"), ("", "Normal")],
)
def test_r3_a_hubspot_tasks_priority_maps_to_the_salesforce_priority(
    hubspot_priority: str, priority: str
) -> None:
    # Given a HubSpot task with hs_task_priority / When mapping / Then High/Normal/Low
    assert fields(activity(HubSpotActivityType.TASK, priority=hubspot_priority))["Priority"] == priority


@pytest.mark.parametrize(
    ("activity_type", "event"),
    [
        (HubSpotActivityType.FORM_SUBMISSION, None),
        (HubSpotActivityType.MARKETING_EMAIL, EmailEventKind.OPEN),
        (HubSpotActivityType.SALES_EMAIL, EmailEventKind.REPLY),
        (HubSpotActivityType.MEETING, None),
        (HubSpotActivityType.CALL, None),
        (HubSpotActivityType.DOCUMENT_VIEW, None),
        (HubSpotActivityType.INTEGRATION_EVENT, None),
    ],
)
def test_r3_activities_that_already_happened_are_completed_normal_priority_tasks(
    activity_type: HubSpotActivityType, event: EmailEventKind | None
) -> None:
    # Given an activity other than a task, even with task-like properties / When mapping
    task = fields(activity(activity_type, event=event, status="NOT_STARTED", priority="HIGH"))
    # Then Completed and Normal
    assert (task["Status"], task["Priority"]) == ("Completed", "Normal")


@pytest.mark.parametrize(
    ("due_date", "activity_date"),
    [
        ("2024-06-15", "2024-06-15"),
        ("2024-06-15T23:30:00Z", "2024-06-15"),
        ("2024-06-15T23:30:00-05:00", "2024-06-16"),
        ("1718406000000", "2024-06-14"),  # epoch ms for 2024-06-14T23:00:00Z
    ],
)
def test_r3_a_tasks_activity_date_is_its_due_date(due_date: str, activity_date: str) -> None:
    # Given a HubSpot task due on a date (ISO date, ISO datetime, epoch ms) / When mapping
    # Then ActivityDate is that day (in UTC here)
    assert fields(activity(HubSpotActivityType.TASK, due_date=due_date))["ActivityDate"] == activity_date


def test_r3_a_task_without_a_due_date_is_dated_when_it_was_created() -> None:
    # Given a task with no due date / When mapping / Then the day it was created
    assert fields(activity(HubSpotActivityType.TASK))["ActivityDate"] == "2024-05-01"


@pytest.mark.parametrize("due_date", ["next friday", "2024-13-01", "2024-06-15T10:00:00"])
def test_r3_an_unreadable_due_date_is_a_clear_error(due_date: str) -> None:
    # Given a due date that is not ISO-8601 with an offset / When mapping / Then a ValueError naming it
    with pytest.raises(ValueError, match="due date"):
        fields(activity(HubSpotActivityType.TASK, due_date=due_date))


def test_r3_a_meeting_is_dated_on_its_start() -> None:
    # Given a meeting booked on May 1 for June 3 / When mapping / Then dated June 3
    assert fields(activity(HubSpotActivityType.MEETING, start_time="2024-06-03T15:00:00+00:00"))[
        "ActivityDate"
    ] == ("2024-06-03")


def test_r3_activity_date_follows_the_org_time_zone_when_given() -> None:
    # Given a form submitted at 22:15 UTC on May 1 / When mapping in UTC+3 / Then dated May 2
    task = build_task(
        activity(HubSpotActivityType.FORM_SUBMISSION, form_name="Demo"),
        who_id=WHO,
        owner_id=OWNER,
        settings=DEFAULTS,
        tz=timezone(timedelta(hours=3)),
    )
    assert task.create_fields["ActivityDate"] == "2024-05-02"


def test_r3_a_call_carries_the_call_fields_and_the_call_subtype() -> None:
    # Given an outbound call of 65,500 ms with the outcome "Connected"
    call = activity(
        HubSpotActivityType.CALL,
        title="Discovery",
        body="Talked budget",
        call_duration_ms="65500",
        call_direction="OUTBOUND",
        call_disposition="Connected",
    )
    # When mapping / Then seconds rounded half up, Outbound, the outcome, and TaskSubtype Call
    task = fields(call)
    assert {
        name: task[name] for name in ("CallDurationInSeconds", "CallType", "CallDisposition", "TaskSubtype")
    } == {
        "CallDurationInSeconds": 66,
        "CallType": "Outbound",
        "CallDisposition": "Connected",
        "TaskSubtype": "Call",
    }
    assert (task["Subject"], task["Description"]) == ("Call: Discovery", "Talked budget")


def test_r3_an_inbound_call_without_details_clears_the_call_fields() -> None:
    # Given an inbound call with no duration nor outcome / When mapping / Then Inbound, the rest None
    task = fields(activity(HubSpotActivityType.CALL, call_direction="INBOUND"))
    assert (task["CallType"], task["CallDurationInSeconds"], task["CallDisposition"]) == (
        "Inbound",
        None,
        None,
    )


@pytest.mark.parametrize("duration", ["long", "-5", "nan", "inf"])
def test_r3_an_unreadable_call_duration_is_a_clear_error(duration: str) -> None:
    # Given a duration that is not a non-negative number of ms / When mapping / Then a ValueError
    with pytest.raises(ValueError, match="call duration"):
        fields(activity(HubSpotActivityType.CALL, call_duration_ms=duration))


def test_r3_tasks_other_than_calls_have_no_call_fields() -> None:
    # Given a meeting / When mapping / Then no Call* field, and TaskSubtype Task
    task = fields(activity(HubSpotActivityType.MEETING, title="Demo"))
    assert not [name for name in task if name.startswith("Call")]
    assert task["TaskSubtype"] == "Task"


def test_s2_the_type_field_is_written_only_when_a_task_type_is_set() -> None:
    # Given the same note with and without a Task Type / When mapping
    note = activity(HubSpotActivityType.NOTE, body="x")
    # Then Type is Other in one, and absent (not None) in the other
    assert fields(note, TypeSettings(task_type="Other"))["Type"] == "Other"
    assert "Type" not in fields(note)


def test_r3_the_subject_override_of_the_type_is_used() -> None:
    # Given a note subject override / When mapping / Then the Task's subject follows it
    assert fields(
        activity(HubSpotActivityType.NOTE, body="x"), TypeSettings(subject_template="HubSpot note")
    )["Subject"] == ("HubSpot note")


def test_r3_updates_never_touch_task_subtype_who_or_the_external_id() -> None:
    # Given a call's Task draft / When asking for the update field set
    draft = build_task(
        activity(HubSpotActivityType.CALL, title="x"), who_id=WHO, owner_id=OWNER, settings=DEFAULTS
    )
    # Then TaskSubtype (not updateable), WhoId and the External ID are left out; the rest stays
    assert set(draft.create_fields) - set(draft.update_fields) == {"TaskSubtype", "WhoId", EXTERNAL_ID_FIELD}
    assert draft.update_fields["Subject"] == "Call: x"


def test_r3_the_description_is_plain_text_cut_to_32000_characters() -> None:
    # Given a 40,000-character body / When mapping / Then 32,000 characters ending with an ellipsis
    description = fields(activity(HubSpotActivityType.NOTE, body="a" * 40_000))["Description"]
    assert isinstance(description, str)
    assert len(description) == DESCRIPTION_MAX_LENGTH
    assert description.endswith("\u2026")


def test_r3_an_activity_without_a_body_clears_the_description() -> None:
    # Given a document view (no body) / When mapping / Then Description None (clears it on update)
    assert fields(activity(HubSpotActivityType.DOCUMENT_VIEW, document_name="Deck"))["Description"] is None


def test_r3_who_and_owner_ids_are_normalised_to_18_characters() -> None:
    # Given 15-character ids / When mapping / Then the Task carries 18-character ids
    draft = build_task(
        activity(HubSpotActivityType.NOTE), who_id=WHO[:15], owner_id=OWNER[:15], settings=DEFAULTS
    )
    assert (draft.create_fields["WhoId"], draft.create_fields["OwnerId"]) == (WHO, OWNER)


@pytest.mark.parametrize(
    ("who_id", "owner_id"),
    [("0015g00000AbCdEAAV", OWNER), (WHO, WHO), ("x", OWNER)],
    ids=["who-is-an-account", "owner-is-a-contact", "who-is-garbage"],
)
def test_r3_a_who_that_is_not_a_person_or_an_owner_that_is_not_a_user_is_refused(
    who_id: str, owner_id: str
) -> None:
    # Given ids of the wrong object / When mapping / Then a ValueError before anything is written
    with pytest.raises(ValueError, match=r"expected|not a Salesforce id"):
        build_task(activity(HubSpotActivityType.NOTE), who_id=who_id, owner_id=owner_id, settings=DEFAULTS)


@pytest.mark.parametrize(
    ("source", "external_id"),
    [
        (activity(HubSpotActivityType.NOTE, "4012"), "hs:note:4012"),
        (activity(HubSpotActivityType.FORM_SUBMISSION, "conv-77"), "hs:form_submission:conv-77"),
        (
            activity(HubSpotActivityType.MARKETING_EMAIL, "9f2c71", EmailEventKind.OPEN),
            "hs:marketing_email:open:9f2c71",
        ),
        (activity(HubSpotActivityType.SALES_EMAIL, "31", EmailEventKind.REPLY), "hs:sales_email:reply:31"),
    ],
)
def test_r3_the_external_id_is_hs_type_event_and_id(source: HubSpotActivity, external_id: str) -> None:
    # Given an activity / When computing its identity / Then hs:{type}[:{event}]:{id}, also in the Task
    assert activity_external_id(source) == external_id
    assert fields(source)[EXTERNAL_ID_FIELD] == external_id


def test_r3_an_emails_open_and_click_are_two_tasks_but_a_repeated_event_is_one() -> None:
    # Given the open and the click of one email (own event ids), and the open delivered twice
    opened = activity(HubSpotActivityType.MARKETING_EMAIL, "ev-1", EmailEventKind.OPEN)
    clicked = activity(HubSpotActivityType.MARKETING_EMAIL, "ev-2", EmailEventKind.CLICK)
    opened_again = activity(
        HubSpotActivityType.MARKETING_EMAIL, "ev-1", EmailEventKind.OPEN, email_name="later copy"
    )
    # When computing identities / Then open and click differ, the repeat matches the first open
    assert activity_external_id(opened) != activity_external_id(clicked)
    assert activity_external_id(opened) == activity_external_id(opened_again)


def test_r3_the_same_id_in_two_types_gives_two_identities() -> None:
    # Given a note and a call that happen to share an object id / When computing identities / Then they differ
    assert activity_external_id(activity(HubSpotActivityType.NOTE, "5")) != activity_external_id(
        activity(HubSpotActivityType.CALL, "5")
    )


@pytest.mark.parametrize(
    "key",
    [
        HubSpotActivityKey(HubSpotActivityType.NOTE, "4012"),
        HubSpotActivityKey(HubSpotActivityType.MARKETING_EMAIL, "a:b:c", EmailEventKind.CLICK),
    ],
)
def test_r3_the_external_id_parses_back_to_the_activity_identity(key: HubSpotActivityKey) -> None:
    # Given an identity (even one whose id contains colons) / When printing and parsing / Then the same
    assert HubSpotActivityKey.parse(key.external_id) == key


@pytest.mark.parametrize(
    "value", ["", "sf:note:1", "hs:notes:1", "hs:note:", "hs:marketing_email:1", "hs:sales_email:bounce:1"]
)
def test_r3_a_value_the_service_did_not_write_is_not_an_activity_key(value: str) -> None:
    # Given text that is no activity key / When parsing / Then a ValueError with an example
    with pytest.raises(ValueError, match="hs:note:123"):
        HubSpotActivityKey.parse(value)


def test_r3_an_id_too_long_for_the_external_id_field_is_refused() -> None:
    # Given an id of 300 characters / When computing the identity / Then a ValueError (the field holds 255)
    with pytest.raises(ValueError, match="too long"):
        activity_external_id(activity(HubSpotActivityType.NOTE, "9" * 300))
