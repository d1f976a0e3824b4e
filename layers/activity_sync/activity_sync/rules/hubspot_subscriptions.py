"""What the service asks of a HubSpot portal, declared once: the app's webhook subscriptions and the
scopes its token needs.

One declaration feeds the HubSpot project the operator uploads (``hubspot-app/``, rendered by
``activity-sync hubspot-project``), what the webhook receiver routes (``usecases.ingest``) and what
the HubSpot sandbox sends in rehearsals; tests fail when they drift apart.

Activities are subscribed with HubSpot's generic ``object.*`` subscriptions (``crmObjects`` in a
project's webhooks component), which carry the object's ``objectTypeId``; contacts with the classic
``contact.*`` ones (``legacyCrmObjects``). A property change is subscribed per property: only the
properties the service reads (``rules.hubspot_records``) can change a Salesforce Task. HubSpot
offers no subscription on ``hs_email_subject`` or ``hs_email_html``; the poller picks those up.
(https://developers.hubspot.com/docs/apps/developer-platform/add-features/configure-webhooks)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from activity_sync.domain import HubSpotActivityType
from activity_sync.rules.hubspot_records import ENGAGEMENTS, SALES_EMAIL_TRACKING


@dataclass(frozen=True)
class ActivityObject:
    """An engagement object as webhooks name it."""

    activity_type: HubSpotActivityType
    type_id: str  # objectTypeId in deliveries
    project_name: str  # objectType in a project's webhooks component


ACTIVITY_OBJECTS: tuple[ActivityObject, ...] = (
    ActivityObject(HubSpotActivityType.NOTE, "0-46", "note"),
    ActivityObject(HubSpotActivityType.CALL, "0-48", "call"),
    ActivityObject(HubSpotActivityType.MEETING, "0-47", "meeting_event"),
    ActivityObject(HubSpotActivityType.TASK, "0-27", "task"),
    ActivityObject(HubSpotActivityType.SALES_EMAIL, "0-49", "email"),
)
ENGAGEMENT_OBJECT_TYPES: Mapping[str, HubSpotActivityType] = {
    activity.type_id: activity.activity_type for activity in ACTIVITY_OBJECTS
}

# R4 reads these of a contact, and R7 its owner (the contact linker keeps each read in the
# contact's link, where the syncers find it); a change of any other property (a marketing roll-up,
# a phone number) changes neither whom it syncs with nor who its Tasks are assigned to.
CONTACT_PROPERTIES_THAT_MATTER = ("email", "salesforcecontactid", "salesforceleadid", "hubspot_owner_id")

OBJECT_ACTIONS = ("object.creation", "object.deletion", "object.associationChange")
# Written by HubSpot or by the service itself on every write: a change of these says nothing new.
_NOT_WATCHED = frozenset(
    {"hs_createdate", "hs_lastmodifieddate", "activity_sync_salesforce_id", "hs_email_subject"}
)


def watched_properties(activity_type: HubSpotActivityType) -> tuple[str, ...]:
    """The properties of an activity whose change the service wants delivered."""
    properties = [p for p in ENGAGEMENTS[activity_type].properties if p not in _NOT_WATCHED]
    if activity_type is HubSpotActivityType.SALES_EMAIL:
        properties += [p for p in SALES_EMAIL_TRACKING.values() if p not in properties]
    return tuple(dict.fromkeys(properties))


@dataclass(frozen=True)
class WebhookSubscription:
    subscription_type: str  # "object.creation", "contact.propertyChange", ...
    activity: ActivityObject | None = None  # for object.* subscriptions
    property_name: str | None = None  # for *.propertyChange


WEBHOOK_SUBSCRIPTIONS: tuple[WebhookSubscription, ...] = (
    WebhookSubscription("contact.creation"),
    *(WebhookSubscription("contact.propertyChange", property_name=p) for p in CONTACT_PROPERTIES_THAT_MATTER),
    *(WebhookSubscription(action, activity) for activity in ACTIVITY_OBJECTS for action in OBJECT_ACTIONS),
    *(
        WebhookSubscription("object.propertyChange", activity, name)
        for activity in ACTIVITY_OBJECTS
        for name in watched_properties(activity.activity_type)
    ),
)

# The scopes the service's token needs, no more (docs/setup-hubspot.md, "Scopes", says what each is
# for; the 2026-09 specs' security sections list them per operation).
REQUIRED_SCOPES: tuple[str, ...] = (
    "oauth",  # every developer-platform app with static auth holds it
    "crm.objects.contacts.read",  # contacts and the activity objects: read, search, associations
    "crm.objects.contacts.write",  # activity objects copied from Salesforce
    "sales-email-read",  # email activities' content
    "crm.objects.owners.read",  # owners, mapped to Salesforce users (R7, R8)
    "crm.schemas.contacts.write",  # the service's unique property on first use
    "content",  # marketing emails and their events (R1.2)
    "forms",  # forms and their submissions (R1.1)
)
