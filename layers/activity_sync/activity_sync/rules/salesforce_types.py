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
