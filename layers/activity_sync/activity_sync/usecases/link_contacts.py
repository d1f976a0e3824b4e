"""R4: which Salesforce Contact or Lead a HubSpot contact syncs with, and what happens when a contact
starts to sync: the activities that were waiting for it are queued again ("the contact is
triggered to sync"), and their windows (R5) are checked once more by their syncers.

A batch of contact changes costs one HubSpot batch read, one DynamoDB BatchGetItem of their links
and, for the contacts with no link yet or whose email changed, one Salesforce query per object
(Contacts, Leads) for up to 200 emails (R18). A contact already linked whose email and Salesforce
ids did not change costs nothing more than keeping the read in its link (one transaction for the
batch), where the syncers find it instead of reading HubSpot - its owner, say (R7).
"""

from __future__ import annotations

from collections.abc import Sequence

from activity_sync.messages import ChangeMessage, ChangeSource, ContactChangeMessage
from activity_sync.observability import logger
from activity_sync.ports import (
    BudgetExhausted,
    ChangeQueue,
    HubSpotApi,
    HubSpotRecord,
    Link,
    LinkStore,
    SalesforceApi,
    SettingsStore,
    StorageRefused,
    StoredLink,
    SyncStateStore,
    VendorApiError,
)
from activity_sync.rules.contact_choice import resolve_salesforce_person
from activity_sync.rules.hubspot_records import CONTACT_PROPERTIES
from activity_sync.rules.owner_mapping import normalize_email
from activity_sync.usecases.batch import BatchResult
from activity_sync.usecases.directories import (
    contact_as_read,
    contact_link,
    contact_link_details,
    current_person,
    utcnow,
)


class ContactLinker:
    def __init__(
        self,
        *,
        settings: SettingsStore,
        links: LinkStore,
        state: SyncStateStore,
        hubspot: HubSpotApi,
        salesforce: SalesforceApi,
        queues: ChangeQueue,
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
        # Checked in full even when linked: a person who changed on the Salesforce side (a Lead
        # converted, a Contact created with the same email), or a contact an activity waits for.
        recheck = {
            c.hubspot_contact_id
            for _, c in changes
            if c.hubspot_contact_id
            and c.source in (ChangeSource.SALESFORCE_POLL, ChangeSource.ACTIVITY_WAITING)
        }
        try:
            syncing = self.link(contact_ids, recheck=recheck)
            woken = self.wake(syncing)
        except BudgetExhausted as spent:
            for message_id, _ in changes:
                result.defer[message_id] = (str(spent), spent.delay_seconds)
            return result
        except VendorApiError as error:
            target = result.retry if error.retryable else result.dead
            for message_id, _ in changes:
                target[message_id] = str(error)
            return result
        logger.info(
            "contacts linked", extra={"contacts": len(contact_ids), "syncing": len(syncing), "woken": woken}
        )
        return result

    def link(self, contact_ids: list[str], recheck: set[str] | None = None) -> dict[str, str]:
        """Find and store the Salesforce person of each contact; returns those that sync. A contact
        already linked whose email and HubSpot Salesforce ids are as the link remembers is passed
        over (a change of another property), unless it is in ``recheck``."""
        if not contact_ids:
            return {}
        recheck = recheck or set()
        records = self._hubspot.read_objects("contacts", contact_ids, CONTACT_PROPERTIES)
        read_at = utcnow()
        links = self._links.links("contact", list(records))
        overrides = self._settings.overrides("contact")
        changed: dict[str, HubSpotRecord] = {}
        syncing: dict[str, str] = {}
        reread: list[tuple[StoredLink, dict[str, str | None]]] = []
        for contact_id, record in records.items():
            link = links.get(contact_id)
            if (
                contact_id not in recheck
                and link is not None
                and _unchanged(link, record, overrides.get(contact_id))
            ):
                # Whom it syncs with stands; the read is kept for the syncers (a new owner, R7).
                reread.append((link, contact_as_read(record, read_at)))
                continue
            changed[contact_id] = record
        # Matched by email again unless an override or HubSpot's own properties say who it is: a
        # stored match goes stale when a Lead is converted or a Contact merged.
        unresolved_emails = {
            email
            for contact_id, record in changed.items()
            if not overrides.get(contact_id)
            and not (
                record.properties.get("salesforcecontactid") or record.properties.get("salesforceleadid")
            )
            and (email := normalize_email(record.properties.get("email")))
        }
        people = self._salesforce.people_by_email(sorted(unresolved_emails)) if unresolved_emails else {}
        new_links: list[Link] = []
        for contact_id, record in changed.items():
            props = record.properties
            link = links.get(contact_id)
            email = normalize_email(props.get("email"))
            matches = people.get(email or "", {})
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
            new_links.append(contact_link(record, match, read_at))
            syncing[contact_id] = match.person_id
        # A link that says what it said costs no write but its new read.
        reread += [
            (links[link.hubspot_id], dict(link.contact))
            for link in new_links
            if link.contact and link.same_as(links.get(link.hubspot_id))
        ]
        try:
            self._links.save(new_links, links)
        except StorageRefused as refused:
            # A bug, logged by the adapter with its keys: those contacts' activities keep waiting
            # (woken, they would find no link and park again), the others are woken.
            for pk, _ in refused.keys:
                if pk.startswith("hubspot#contact#"):
                    syncing.pop(pk.removeprefix("hubspot#contact#"), None)
        self._links.refresh_contacts(reread)
        return syncing

    def wake(self, syncing: dict[str, str]) -> int:
        """Queue again the activities parked under contacts that now sync."""
        woken = 0
        for contact_id in syncing:
            items = self._state.waiting_for(contact_id)
            if not items:
                continue
            self._queues.send_changes(ChangeMessage.from_dict(item.message) for item in items)
            self._state.remove_waiting(items)
            woken += len(items)
        return woken


def _unchanged(link: StoredLink, record: HubSpotRecord, override: str | None) -> bool:
    details = link.details or {}
    if "email" not in details or override is not None:
        return False
    return details == contact_link_details(record)
