"""R17 for what travels on the queues: a message that cannot be right for the consumer that got it
is set aside with a reason saying what is wrong, before any vendor call - never "not found".

* The sync type must be the consumer's own (a message on another type's queue is a routing bug or
  a hand-written message).
* HubSpot object ids are positive 64-bit integers; Salesforce ids are 15 or 18 characters of the
  record's kind (``00T`` Task, ``00U`` Event, ``003`` Contact, ``00Q`` Lead): anything else - a
  negative or 30-digit number, an id with SOQL metacharacters, two ids joined by a comma - is
  refused before it reaches a query.
"""

from __future__ import annotations

from activity_sync.domain import HubSpotActivityType, SalesforceActivityType, SyncType
from activity_sync.messages import ChangeMessage, ContactChangeMessage
from activity_sync.rules.salesforce_ids import (
    InvalidSalesforceIdError,
    SalesforceObjectType,
    require_object_type,
)

MAX_HUBSPOT_ID = 2**63 - 1
# Types read from HubSpot by id; the others carry their content and a free-form id.
HUBSPOT_TYPES_READ_BY_ID = frozenset(
    {
        HubSpotActivityType.NOTE,
        HubSpotActivityType.CALL,
        HubSpotActivityType.MEETING,
        HubSpotActivityType.TASK,
        HubSpotActivityType.SALES_EMAIL,
    }
)


def hubspot_id_problem(value: str, what: str = "HubSpot id") -> str | None:
    if not value.isascii() or not value.isdecimal():
        return f"{what} {value[:40]!r} is not a number"
    number = int(value)
    if number < 1 or number > MAX_HUBSPOT_ID:
        return f"{what} {value[:40]} is out of range (1 to 2^63-1)"
    return None


def salesforce_id_problem(value: str, *kinds: SalesforceObjectType) -> str | None:
    try:
        require_object_type(value, *kinds)
    except InvalidSalesforceIdError as error:
        return str(error)
    return None


def change_problem(change: ChangeMessage, consumer: SyncType) -> str | None:
    """What makes ``change`` wrong for the syncer of ``consumer``; None when it may be handled."""
    try:
        sync_type = SyncType.parse(change.sync_type)
    except ValueError as error:
        return str(error)
    if sync_type != consumer:
        return f"a {sync_type.key} change reached the {consumer.key} queue"
    if isinstance(sync_type.type, SalesforceActivityType):
        kind = (
            SalesforceObjectType.EVENT
            if sync_type.type is SalesforceActivityType.MEETING
            else SalesforceObjectType.TASK
        )
        return salesforce_id_problem(change.object_id, kind)
    if sync_type.type in HUBSPOT_TYPES_READ_BY_ID:
        return hubspot_id_problem(change.object_id, f"{sync_type.type.value} id")
    return None


def contact_change_problem(change: ContactChangeMessage) -> str | None:
    if change.hubspot_contact_id is None and change.salesforce_person_id is None:
        return "names neither a HubSpot contact nor a Salesforce person"
    if change.hubspot_contact_id is not None:
        problem = hubspot_id_problem(change.hubspot_contact_id, "HubSpot contact id")
        if problem is not None:
            return problem
    if change.salesforce_person_id is not None:
        return salesforce_id_problem(
            change.salesforce_person_id, SalesforceObjectType.CONTACT, SalesforceObjectType.LEAD
        )
    return None
