"""R4: which Salesforce Contact or Lead a HubSpot contact syncs with, and what happens when a contact
starts to sync: the activities that were waiting for it are queued again ("the contact is
triggered to sync"), and their windows (R5) are checked once more by their syncers.

A batch of contact changes costs one HubSpot batch read and, for the contacts with no link yet,
one Salesforce query per object (Contacts, Leads) for up to 100 emails (R18).
"""

from __future__ import annotations

from collections.abc import Sequence

from activity_sync.adapters.dynamodb import LinkRepository, SettingsRepository, SyncStateRepository
from activity_sync.adapters.hubspot_activities import CONTACT_PROPERTIES
from activity_sync.adapters.queues import ChangeQueues
from activity_sync.messages import ChangeMessage, ContactChangeMessage
from activity_sync.observability import logger
from activity_sync.ports import HubSpotApi, SalesforceApi, VendorApiError
from activity_sync.rules.contact_choice import resolve_salesforce_person
from activity_sync.rules.owner_mapping import normalize_email
from activity_sync.usecases.batch import BatchResult
from activity_sync.usecases.hubspot_to_salesforce import current_person


class ContactLinker:
    def __init__(
        self,
        *,
        settings: SettingsRepository,
        links: LinkRepository,
        state: SyncStateRepository,
        hubspot: HubSpotApi,
        salesforce: SalesforceApi,
        queues: ChangeQueues,
    ) -> None:
        self._settings = settings
        self._links = links
        self._state = state
        self._hubspot = hubspot
        self._salesforce = salesforce
        self._queues = queues

    def handle(self, changes: Sequence[tuple[str, ContactChangeMessage]]) -> BatchResult:
        result = BatchResult()
        contact_ids = list(dict.fromkeys(c.hubspot_contact_id for _, c in changes if c.hubspot_contact_id))
        try:
            syncing = self.link(contact_ids)
            woken = self.wake(syncing)
        except VendorApiError as error:
            for message_id, _ in changes:
                result.retry[message_id] = str(error)
            return result
        logger.info(
            "contacts linked", extra={"contacts": len(contact_ids), "syncing": len(syncing), "woken": woken}
        )
        return result

    def link(self, contact_ids: list[str]) -> dict[str, str]:
        """Find and store the Salesforce person of each contact; returns those that sync."""
        if not contact_ids:
            return {}
        records = self._hubspot.read_objects("contacts", contact_ids, CONTACT_PROPERTIES)
        links = self._links.links("contact", list(records))
        overrides = self._settings.overrides("contact")
        # Matched by email again unless an override or HubSpot's own properties say who it is: a
        # stored match goes stale when a Lead is converted or a Contact merged.
        unresolved_emails = {
            email
            for contact_id, record in records.items()
            if not overrides.get(contact_id)
            and not (
                record.properties.get("salesforcecontactid") or record.properties.get("salesforceleadid")
            )
            and (email := normalize_email(record.properties.get("email")))
        }
        people = self._salesforce.people_by_email(sorted(unresolved_emails)) if unresolved_emails else {}
        syncing: dict[str, str] = {}
        for contact_id, record in records.items():
            props = record.properties
            link = links.get(contact_id)
            matches = people.get(normalize_email(props.get("email")) or "", {})
            match = (
                resolve_salesforce_person(
                    overrides.get(contact_id), props.get("salesforcecontactid"), props.get("salesforceleadid")
                )
                or resolve_salesforce_person(
                    None, None, None, matches.get("Contact", ()), matches.get("Lead", ())
                )
                or current_person(None, props, link)
            )
            if match is None:
                continue
            if link is None or link.salesforce_id != match.person_id:
                self._links.link("contact", contact_id, match.person_id, source=match.source.value)
            syncing[contact_id] = match.person_id
        return syncing

    def wake(self, syncing: dict[str, str]) -> int:
        """Queue again the activities parked under contacts that now sync."""
        woken = 0
        for contact_id in syncing:
            items = self._state.waiting_for(contact_id)
            if not items:
                continue
            self._queues.send_changes(ChangeMessage.model_validate(item.payload) for item in items)
            self._state.remove_waiting(items)
            woken += len(items)
        return woken
