"""The HubSpot contacts activities could go to, as the syncers see them (R4), for ``explain`` and
``preview``: one batch read of the contacts, one of their links, and one Salesforce look-up by
email for those that do not sync yet (what the contact linker would match)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from activity_sync.domain import ContactCandidate
    from activity_sync.ports import StoredLink
    from activity_sync.rules.contact_choice import SalesforcePersonMatch
    from activity_sync.service import Service


@dataclass(frozen=True)
class Person:
    candidate: ContactCandidate  # what R6 chooses among: the Salesforce person it syncs with, if any
    email: str | None
    source: str | None  # where that person came from (an override, HubSpot's property, a link)
    email_match: str | None  # a Salesforce Contact/Lead with its email, not linked yet (R4)


def people(service: Service, contact_ids: Sequence[str]) -> dict[str, Person]:
    """Contact id -> the contact as R4/R6 see it, for the ids HubSpot knows."""
    from activity_sync.domain import ContactCandidate
    from activity_sync.rules.contact_choice import resolve_salesforce_person
    from activity_sync.rules.hubspot_records import CONTACT_PROPERTIES, parse_hubspot_time
    from activity_sync.rules.owner_mapping import normalize_email
    from activity_sync.usecases.directories import current_person

    wanted = list(dict.fromkeys(c for c in contact_ids if c.isdecimal()))
    if not wanted:
        return {}
    records = service.hubspot().read_objects("contacts", wanted, CONTACT_PROPERTIES)
    links = service.links.links("contact", list(records))
    overrides = service.settings.overrides("contact")
    matches = {
        contact_id: current_person(overrides.get(contact_id), record.properties, links.get(contact_id))
        for contact_id, record in records.items()
    }
    emails = {
        contact_id: email
        for contact_id, record in records.items()
        if (email := normalize_email(record.properties.get("email"))) and matches[contact_id] is None
    }
    by_email = service.salesforce().people_by_email(sorted(set(emails.values()))) if emails else {}
    found: dict[str, Person] = {}
    for contact_id, record in records.items():
        props = record.properties
        created_at = parse_hubspot_time(props.get("createdate")) or record.created_at
        if created_at is None:
            continue
        match = matches[contact_id]
        email = normalize_email(props.get("email"))
        same_email = by_email.get(email or "", {})
        by_email_match = resolve_salesforce_person(
            None, None, None, same_email.get("Contact", []), same_email.get("Lead", [])
        )
        found[contact_id] = Person(
            ContactCandidate(
                hubspot_id=contact_id,
                created_at=created_at,
                salesforce_person_id=match.person_id if match else None,
                owner_id=props.get("hubspot_owner_id") or None,
            ),
            email,
            _source(match, overrides.get(contact_id), links.get(contact_id)),
            by_email_match.person_id if by_email_match else None,
        )
    return found


def _source(match: SalesforcePersonMatch | None, override: str | None, link: StoredLink | None) -> str | None:
    """How the contact came to sync, in words an operator knows."""
    from activity_sync.rules.contact_choice import PersonLinkSource

    if match is None:
        return None
    if match.source is not PersonLinkSource.INTEGRATION_LINK:
        return f"HubSpot's {match.source.value} property"
    if override:
        return "a manual override"
    return (
        f"the service's link, from {link.source}"
        if link is not None and link.source
        else "the service's link"
    )
