"""S2: the Salesforce Task Type is an active value of the org's Task.Type picklist, or none."""

from __future__ import annotations

import pytest

from activity_sync.rules.task_type import TaskTypeError, task_type_fields, validate_task_type

ACTIVE_VALUES = ("Call", "Email", "Send Letter", "Other")


@pytest.mark.parametrize("value", [None, "", "  ", "--None--", "none"])
def test_s2_none_and_its_spellings_mean_no_task_type(value: str | None) -> None:
    # Given no choice (or Salesforce's "--None--") / When validating / Then none
    assert validate_task_type(value, ACTIVE_VALUES) is None


@pytest.mark.parametrize(
    ("value", "stored"), [("Call", "Call"), (" call ", "Call"), ("SEND LETTER", "Send Letter")]
)
def test_s2_picklist_value_is_stored_as_spelled_in_the_picklist(value: str, stored: str) -> None:
    # Given a value typed with other case or spaces / When validating / Then the picklist's spelling
    assert validate_task_type(value, ACTIVE_VALUES) == stored


def test_s2_value_not_in_the_picklist_is_a_clear_error_at_save_time() -> None:
    # Given a typo / When saving / Then the error names the value and lists the allowed ones
    with pytest.raises(
        TaskTypeError, match=r"'Cal' is not an active value.*'Call', 'Email', 'Send Letter', 'Other'"
    ):
        validate_task_type("Cal", ACTIVE_VALUES)


def test_s2_inactive_picklist_value_is_rejected() -> None:
    # Given "Send Quote", a value the org deactivated (so absent from the active values)
    # When saving it / Then it is refused like any unknown value
    with pytest.raises(TaskTypeError):
        validate_task_type("Send Quote", ACTIVE_VALUES)


def test_s2_empty_picklist_says_so() -> None:
    # Given an org without Task.Type values / When choosing one / Then the error says the list is empty
    with pytest.raises(TaskTypeError, match="picklist is empty"):
        validate_task_type("Call", [])


def test_s2_with_none_the_task_has_no_type_field_at_all() -> None:
    # Given no Task Type / When building the Task's S2 fields / Then no Type key (not even None)
    assert task_type_fields(None) == {}


def test_s2_with_a_value_the_task_type_is_written() -> None:
    # Given the Task Type Call / When building the S2 fields / Then Type is Call
    assert task_type_fields("Call") == {"Type": "Call"}
