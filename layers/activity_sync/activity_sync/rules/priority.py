"""R18 under pressure: when a vendor's budget nears its end, sales activities go first.

Sales activities - what reps do and read every day: HubSpot tasks, calls, meetings, notes and sales
emails, and every Salesforce -> HubSpot type - may spend a budget to its end. Marketing activities
(marketing email events, form submissions, document views, integration events) stop at
``LOW_PRIORITY_SHARE`` of each limit: the rest is kept for sales activities. What is held back
waits (``waiting: api_budget``) and syncs by itself when the budget returns; nothing is lost.
"""

from __future__ import annotations

from enum import IntEnum

from activity_sync.domain import Direction, HubSpotActivityType, SyncType

LOW_PRIORITY_SHARE = 0.8

MARKETING_TYPES = frozenset(
    {
        HubSpotActivityType.MARKETING_EMAIL,
        HubSpotActivityType.FORM_SUBMISSION,
        HubSpotActivityType.DOCUMENT_VIEW,
        HubSpotActivityType.INTEGRATION_EVENT,
    }
)


class Priority(IntEnum):
    LOW = 0
    HIGH = 1


def priority_of(sync_type: SyncType | None) -> Priority:
    """The priority of a type's calls; work that belongs to no type (linking contacts, the owner
    map) serves every type and goes first."""
    if sync_type is None or sync_type.direction is Direction.SALESFORCE_TO_HUBSPOT:
        return Priority.HIGH
    return Priority.LOW if sync_type.type in MARKETING_TYPES else Priority.HIGH


def usable(limit: int, priority: Priority) -> int:
    """How much of ``limit`` a caller of ``priority`` may use. A limit too small to keep a share
    aside (one search a second, say) is shared: holding back its only call would stop marketing
    activities for good rather than put them second."""
    if priority is Priority.HIGH or limit <= 0:
        return limit
    return max(1, int(limit * LOW_PRIORITY_SHARE))
