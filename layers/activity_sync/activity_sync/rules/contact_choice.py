"""R4 and R6: which Salesforce person a HubSpot contact syncs with, and which of an activity's
contacts gets the single Salesforce Task.

R6 tie-break: the winner is the syncing contact created on the latest calendar date, and among the
syncing contacts created on that date the one with the highest (numeric) object id. So a contact
created later on the same date but with a lower id loses to a same-date contact with a higher id, as
HubSpot's article describes. Dates are calendar dates in UTC unless the caller passes the portal's
time zone.

R4 resolution order: the integration's own stored link, HubSpot's `salesforcecontactid`, HubSpot's
`salesforceleadid`, then a match by email (Contacts before Leads). When several records match the
email, the lowest id wins: ids are issued in increasing order within an org, so that is normally the
oldest record, and the choice stays the same on every run whatever order the query returned.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, tzinfo
from enum import StrEnum

from activity_sync.domain import ContactCandidate
from activity_sync.rules.salesforce_ids import (
    InvalidSalesforceIdError,
    SalesforceObjectType,
    require_object_type,
    to_15,
)

_PERSON_TYPES = (SalesforceObjectType.CONTACT, SalesforceObjectType.LEAD)


def choose_contact(candidates: Iterable[ContactCandidate], tz: tzinfo = UTC) -> ContactCandidate | None:
    """R6: the contact an activity's Task is created on, or None when none of them syncs yet
    (the activity then waits with CONTACT_NOT_SYNCING)."""
    syncing = [candidate for candidate in candidates if candidate.salesforce_person_id]
    if not syncing:
        return None
    # Comparing (creation date, numeric id) is the whole rule: a later date wins outright, and within
    # the latest date the highest id wins regardless of the time of day.
    return max(
        syncing, key=lambda candidate: (candidate.created_at.astimezone(tz).date(), candidate.numeric_id)
    )


class PersonLinkSource(StrEnum):
    """Where a contact's Salesforce person came from (for logs and outcomes)."""

    INTEGRATION_LINK = "integration_link"
    SALESFORCE_CONTACT_ID_PROPERTY = "salesforcecontactid"
    SALESFORCE_LEAD_ID_PROPERTY = "salesforceleadid"
    EMAIL_CONTACT_MATCH = "email_contact_match"
    EMAIL_LEAD_MATCH = "email_lead_match"


@dataclass(frozen=True)
class SalesforcePersonMatch:
    person_id: str  # 18-character Contact (003...) or Lead (00Q...) id
    source: PersonLinkSource

    @property
    def is_lead(self) -> bool:
        return self.person_id.startswith("00Q")


def _valid_id(value: str | None, *expected: SalesforceObjectType) -> str | None:
    """The normalised id, or None for an empty or unusable value. A stale or mistyped property must not
    stop the next source from being tried."""
    if value is None or not value.strip():
        return None
    try:
        return require_object_type(value, *expected)
    except InvalidSalesforceIdError:
        return None


def _lowest_id(ids: Iterable[str], expected: SalesforceObjectType) -> str | None:
    valid = {normalized for value in ids if (normalized := _valid_id(value, expected))}
    # The case-sensitive 15-character form sorts like the record sequence (0-9 < A-Z < a-z).
    return min(valid, key=to_15) if valid else None


def resolve_salesforce_person(
    link: str | None,
    sf_contact_id: str | None,
    sf_lead_id: str | None,
    email_contact_matches: Iterable[str] = (),
    email_lead_matches: Iterable[str] = (),
) -> SalesforcePersonMatch | None:
    """R4: the Salesforce Contact or Lead a HubSpot contact syncs with, None when it does not sync.

    `link` is the person id the service itself stored for the contact; `sf_contact_id` and
    `sf_lead_id` are HubSpot's `salesforcecontactid` / `salesforceleadid`; the email matches are the
    ids of Contacts / Leads (not converted) whose email equals the contact's. Ids of the wrong object
    or malformed ids are skipped."""
    ordered: tuple[tuple[str | None, PersonLinkSource], ...] = (
        (_valid_id(link, *_PERSON_TYPES), PersonLinkSource.INTEGRATION_LINK),
        (
            _valid_id(sf_contact_id, SalesforceObjectType.CONTACT),
            PersonLinkSource.SALESFORCE_CONTACT_ID_PROPERTY,
        ),
        (_valid_id(sf_lead_id, SalesforceObjectType.LEAD), PersonLinkSource.SALESFORCE_LEAD_ID_PROPERTY),
        (
            _lowest_id(email_contact_matches, SalesforceObjectType.CONTACT),
            PersonLinkSource.EMAIL_CONTACT_MATCH,
        ),
        (_lowest_id(email_lead_matches, SalesforceObjectType.LEAD), PersonLinkSource.EMAIL_LEAD_MATCH),
    )
    for person_id, source in ordered:
        if person_id is not None:
            return SalesforcePersonMatch(person_id=person_id, source=source)
    return None
