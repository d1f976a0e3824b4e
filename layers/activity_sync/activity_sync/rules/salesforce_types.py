"""R10: which Salesforce->HubSpot switch a Salesforce activity record belongs to.

`Task` with `TaskSubtype` Task -> task, Email -> email, Call -> call; `Event` -> meeting. Choices where
the SPEC is silent: `ListEmail` (a list email sent from Salesforce) is an email; `Cadence` (a Sales
Engagement step) and a missing subtype (records from before subtypes existed) are tasks; anything else
is not synced (None), so a new Salesforce subtype never lands in the wrong HubSpot object.
"""

from __future__ import annotations

from activity_sync.domain import SalesforceActivityType

_TASK_SUBTYPES: dict[str | None, SalesforceActivityType] = {
    None: SalesforceActivityType.TASK,
    "Task": SalesforceActivityType.TASK,
    "Cadence": SalesforceActivityType.TASK,
    "Email": SalesforceActivityType.EMAIL,
    "ListEmail": SalesforceActivityType.EMAIL,
    "Call": SalesforceActivityType.CALL,
}


def classify_salesforce_activity(
    sobject_type: str, task_subtype: str | None = None
) -> SalesforceActivityType | None:
    """The R10 type of a Salesforce record (`attributes.type` and `TaskSubtype`), None if not synced."""
    if sobject_type == "Event":
        return SalesforceActivityType.MEETING
    if sobject_type == "Task":
        return _TASK_SUBTYPES.get(task_subtype or None)
    return None


def task_subtypes_of(activity_type: SalesforceActivityType) -> tuple[str | None, ...]:
    """The `TaskSubtype` values (None: no subtype) whose Tasks sync as `activity_type`."""
    return tuple(subtype for subtype, kind in _TASK_SUBTYPES.items() if kind is activity_type)


def task_subtype_condition(activity_type: SalesforceActivityType) -> str:
    """A SOQL condition selecting the Tasks of `activity_type`, e.g. for the task switch
    ``(TaskSubtype IN ('Task', 'Cadence') OR TaskSubtype = null)``. Built from constants only."""
    subtypes = task_subtypes_of(activity_type)
    named = ", ".join(f"'{subtype}'" for subtype in subtypes if subtype is not None)
    condition = f"TaskSubtype IN ({named})"
    return f"({condition} OR TaskSubtype = null)" if None in subtypes else condition
