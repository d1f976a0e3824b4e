"""S1/S2/R9 at settings-save time: a type's whole settings item is checked before it is stored."""

from __future__ import annotations

import pytest

from activity_sync.domain import (
    EmailEventKind,
    HubSpotActivityType,
    SalesforceActivityType,
    SyncType,
    TypeSettings,
)
from activity_sync.rules.subjects import SubjectTemplateError
from activity_sync.rules.task_type import TaskTypeError
from activity_sync.rules.type_settings import TypeSettingsError, validate_type_settings

NOTE = SyncType.hubspot_to_salesforce(HubSpotActivityType.NOTE)
MARKETING_EMAIL = SyncType.hubspot_to_salesforce(HubSpotActivityType.MARKETING_EMAIL)
SALESFORCE_CALLS = SyncType.salesforce_to_hubspot(SalesforceActivityType.CALL)
PICKLIST = ["Call", "Email", "Other"]


def test_s2_saving_stores_the_task_type_as_spelled_in_the_picklist() -> None:
    # Given a note type with Task Type "other" / When saving / Then stored as "Other"
    assert validate_type_settings(NOTE, TypeSettings(task_type="other"), PICKLIST).task_type == "Other"


def test_s2_saving_an_unknown_task_type_fails() -> None:
    # Given a Task Type missing from the picklist / When saving / Then TaskTypeError
    with pytest.raises(TaskTypeError):
        validate_type_settings(NOTE, TypeSettings(task_type="Meeting"), PICKLIST)


def test_r9_saving_a_bad_subject_override_fails() -> None:
    # Given a marketing email open template with an unknown placeholder / When saving / Then refused
    settings = TypeSettings(email_subject_templates={EmailEventKind.OPEN: "Opened: {title}"})
    with pytest.raises(SubjectTemplateError, match="unknown placeholder"):
        validate_type_settings(MARKETING_EMAIL, settings, PICKLIST)


def test_s1_valid_settings_are_stored_unchanged() -> None:
    # Given valid settings / When saving / Then the same values come back
    settings = TypeSettings(task_type="Email", subject_template="Email {action}: {email_name}")
    assert validate_type_settings(MARKETING_EMAIL, settings, PICKLIST) == settings


@pytest.mark.parametrize(
    "settings",
    [
        TypeSettings(task_type="Call"),
        TypeSettings(subject_template="x"),
        TypeSettings(email_subject_templates={EmailEventKind.OPEN: "x"}),
    ],
)
def test_r10_salesforce_to_hubspot_types_take_no_task_type_or_subject(settings: TypeSettings) -> None:
    # Given a Task Type or subject on the Salesforce calls switch / When saving / Then refused
    with pytest.raises(TypeSettingsError, match="does not apply"):
        validate_type_settings(SALESFORCE_CALLS, settings)


def test_r10_salesforce_to_hubspot_switch_alone_is_fine() -> None:
    # Given only the switch / When saving / Then accepted as is
    assert validate_type_settings(SALESFORCE_CALLS, TypeSettings()) == TypeSettings()
