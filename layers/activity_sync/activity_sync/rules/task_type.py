"""S2: the Salesforce Task Type of a HubSpot->Salesforce type is a value of the org's `Task.Type`
picklist, or none; with none the Task is written without a `Type` field at all (the field may even be
hidden from the integration user by field-level security, where writing it fails with INVALID_FIELD).

The value is checked when the settings are saved, against the picklist's active values, so a typo is
reported to the person who made it rather than failing every Task later.
"""

from __future__ import annotations

from collections.abc import Iterable

# What Salesforce's own UI shows for "no value"; accepted as input meaning none.
_NONE_SPELLINGS = frozenset({"", "--none--", "none"})


class TaskTypeError(ValueError):
    """Raised when a Task Type is not an active value of the org's Task.Type picklist."""


def validate_task_type(value: str | None, active_picklist_values: Iterable[str]) -> str | None:
    """The picklist value to store (spelled exactly as in the picklist), or None for no Type.

    Matching ignores surrounding whitespace and letter case, because people type "call" for "Call";
    the stored value is the picklist's own spelling."""
    if value is None or value.strip().lower() in _NONE_SPELLINGS:
        return None
    wanted = value.strip()
    allowed = [picklist_value for picklist_value in active_picklist_values if picklist_value.strip()]
    for picklist_value in allowed:
        if picklist_value == wanted:
            return picklist_value
    for picklist_value in allowed:
        if picklist_value.casefold() == wanted.casefold():
            return picklist_value
    listed = ", ".join(repr(picklist_value) for picklist_value in allowed) or "(the picklist is empty)"
    raise TaskTypeError(
        f"{value!r} is not an active value of the Salesforce Task.Type picklist; "
        f"choose one of {listed}, or none"
    )


def task_type_fields(task_type: str | None) -> dict[str, str]:
    """The Task fields S2 contributes: `{"Type": value}`, or nothing at all for none."""
    return {} if task_type is None else {"Type": task_type}
