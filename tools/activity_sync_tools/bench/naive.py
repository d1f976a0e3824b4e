"""The naive baseline: what an integration that makes one vendor call per record per step would spend
on the same inputs. Nothing batched, nothing cached, nothing remembered between records.

Per HubSpot -> Salesforce activity:

* engagements read through the CRM API (notes, calls, meetings, tasks, sales emails): read the
  activity, read its associations, read the contact (3 HubSpot calls); look up the Salesforce
  Contact or Lead by email, create the Task (2 Salesforce calls);
* feed items (form submissions, marketing email events): the feed's item itself, read the contact
  (2 HubSpot calls); look up the person, create the Task (2 Salesforce calls);
* pushed activities (document views, integration events arrive whole, with their contact ids):
  read the contact (1 HubSpot call); look up the person, create the Task (2 Salesforce calls).

Per Salesforce -> HubSpot activity (Tasks of subtype Task, Email or Call, and Events): read the
record (an Outbound Message carries only its id; 1 Salesforce call); find the HubSpot contact,
create the activity, associate it (3 HubSpot calls).

No token requests are counted on either side (the bench excludes them from the measured figures
too), and no DynamoDB, SQS or Lambda: a naive integration is a loop somewhere, not this stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

HUBSPOT_TO_SALESFORCE = "hubspot_to_salesforce"
SALESFORCE_TO_HUBSPOT = "salesforce_to_hubspot"

_ENGAGEMENTS = ("note", "call", "meeting", "task", "sales_email")
_FEEDS = ("form_submission", "marketing_email")
_PUSHED = ("document_view", "integration_event")
_SALESFORCE_TYPES = ("task", "email", "call", "meeting")


@dataclass(frozen=True)
class NaiveCalls:
    """Vendor calls a naive integration makes for one record."""

    hubspot: int
    salesforce: int


def calls_per_record(sync_type: str) -> NaiveCalls:
    """``sync_type`` is a ``direction#type`` key, e.g. ``hubspot_to_salesforce#note``."""
    direction, _, activity_type = sync_type.partition("#")
    if direction == HUBSPOT_TO_SALESFORCE:
        if activity_type in _ENGAGEMENTS:
            return NaiveCalls(hubspot=3, salesforce=2)
        if activity_type in _FEEDS:
            return NaiveCalls(hubspot=2, salesforce=2)
        if activity_type in _PUSHED:
            return NaiveCalls(hubspot=1, salesforce=2)
    elif direction == SALESFORCE_TO_HUBSPOT and activity_type in _SALESFORCE_TYPES:
        return NaiveCalls(hubspot=3, salesforce=1)
    raise ValueError(f"no naive baseline for {sync_type!r}")


def naive_calls(activities: Mapping[str, int]) -> NaiveCalls:
    """Total naive vendor calls for ``activities`` (sync type key -> how many)."""
    hubspot = salesforce = 0
    for sync_type, count in activities.items():
        per_record = calls_per_record(sync_type)
        hubspot += per_record.hubspot * count
        salesforce += per_record.salesforce * count
    return NaiveCalls(hubspot=hubspot, salesforce=salesforce)
