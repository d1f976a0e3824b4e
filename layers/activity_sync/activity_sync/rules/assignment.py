"""R7: who a Salesforce Task is assigned to (`Task.OwnerId`).

1. the activity's owner, if mapped to a Salesforce user (only types with owners: tasks, notes, calls);
2. otherwise the owner of the contact the Task is created on, if mapped;
3. otherwise the integration user (S4).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from activity_sync.domain import ContactCandidate, HubSpotActivity, HubSpotActivityType
from activity_sync.rules.owner_mapping import OwnerMap
from activity_sync.rules.salesforce_ids import SalesforceObjectType, require_object_type

# R7 step 1 applies to these only, as HubSpot's article says; a meeting's or email's owner is ignored.
TYPES_WITH_OWNERS = frozenset({HubSpotActivityType.TASK, HubSpotActivityType.NOTE, HubSpotActivityType.CALL})


class AssignmentStep(StrEnum):
    ACTIVITY_OWNER = "activity_owner"
    CONTACT_OWNER = "contact_owner"
    INTEGRATION_USER = "integration_user"


@dataclass(frozen=True)
class Assignment:
    user_id: str  # 18-character Salesforce user id
    step: AssignmentStep  # which R7 step decided, for logs and outcomes


def assign_task_owner(
    activity: HubSpotActivity,
    contact: ContactCandidate,
    owner_map: OwnerMap,
    integration_user_id: str,
) -> Assignment:
    """R7 for an activity whose Task is created on `contact` (the R6 choice)."""
    if activity.type in TYPES_WITH_OWNERS:
        activity_owner_user = owner_map.salesforce_user_for(activity.owner_id)
        if activity_owner_user is not None:
            return Assignment(activity_owner_user, AssignmentStep.ACTIVITY_OWNER)
    contact_owner_user = owner_map.salesforce_user_for(contact.owner_id)
    if contact_owner_user is not None:
        return Assignment(contact_owner_user, AssignmentStep.CONTACT_OWNER)
    return Assignment(
        require_object_type(integration_user_id, SalesforceObjectType.USER),
        AssignmentStep.INTEGRATION_USER,
    )
