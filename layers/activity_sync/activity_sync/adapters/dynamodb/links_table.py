"""The links table: ``pk`` the HubSpot side (``hubspot#contact#123``) naming the Salesforce twin,
and its mirror ``salesforce#<18-character id>`` naming the HubSpot side, so that both directions
are answered by BatchGetItem (100 keys a request) and written by BatchWriteItem (25 a request).
What is read leaves as ``StoredLink`` values: no item crosses the port."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pynamodb.attributes import JSONAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from activity_sync.adapters.dynamodb.writes import (
    TRANSACTION_ITEMS,
    WriteAction,
    aws_region,
    transactions,
    utcnow,
    write_batch,
)
from activity_sync.batching import chunks
from activity_sync.observability import logger
from activity_sync.ports import (
    Link,
    StoredLink,
    hubspot_key,
    newest_contact_reads,
    read_instant,
    salesforce_key,
)


class LinkItem(Model):
    """One side of a link: ``hubspot#<object>#<id>`` naming its Salesforce twin, or its mirror
    ``salesforce#<id>`` (``hubspot_pk`` names the HubSpot side). Both carry the same attributes."""

    class Meta:
        table_name = os.environ.get("LINKS_TABLE", "activity-sync-links")
        region = aws_region()

    pk = UnicodeAttribute(hash_key=True)
    salesforce_id = UnicodeAttribute()  # 18-character id of the twin
    hubspot_pk = UnicodeAttribute(null=True)  # on the mirror item: the HubSpot side's key
    source = UnicodeAttribute(null=True)  # how the link was found: link, property, email, manual, sync
    fingerprint = UnicodeAttribute(null=True)  # of what the service last wrote (R14 echo check)
    written_side = UnicodeAttribute(null=True)  # which side the service wrote last: hubspot|salesforce
    details = JSONAttribute(null=True)
    # Contact links only: the contact as last read from HubSpot, with when (``read_at``), which the
    # syncers use instead of reading it again while it is recent (usecases.directories).
    contact = JSONAttribute(null=True)
    contact_read_at = UTCDateTimeAttribute(null=True)  # when ``contact`` was read (a newer read wins)
    updated_at = UTCDateTimeAttribute(null=True)


def stored_link(item: LinkItem) -> StoredLink:
    return StoredLink(
        key=item.pk,
        salesforce_id=item.salesforce_id,
        hubspot_pk=item.hubspot_pk,
        source=item.source,
        fingerprint=item.fingerprint,
        written_side=item.written_side,
        details=item.details,
        contact=item.contact,
        updated_at=item.updated_at,
    )


class LinkRepository:
    """HubSpot id <-> Salesforce id, both ways, a batch at a time."""

    def links(self, object_type: str, hubspot_ids: Iterable[str]) -> dict[str, StoredLink]:
        """HubSpot id -> its link, for those that have one (BatchGetItem, 100 keys a request)."""
        keys = list(dict.fromkeys(hubspot_key(object_type, i) for i in hubspot_ids))
        return {link.hubspot_id: link for link in map(stored_link, LinkItem.batch_get(keys))} if keys else {}

    def by_salesforce_ids(self, salesforce_ids: Iterable[str]) -> dict[str, StoredLink]:
        """Salesforce id -> the link naming it (its mirror item), for those that have one."""
        keys = list(dict.fromkeys(salesforce_key(i) for i in salesforce_ids if i))
        return (
            {item.salesforce_id: item for item in map(stored_link, LinkItem.batch_get(keys))} if keys else {}
        )

    def by_salesforce_id(self, salesforce_id: str) -> StoredLink | None:
        return self.by_salesforce_ids([salesforce_id]).get(salesforce_id)

    def save(self, links: Iterable[Link], stored: Mapping[str, StoredLink] | None = None) -> int:
        """Write each link and its mirror (BatchWriteItem, 25 items a request); a link that
        ``stored`` (HubSpot id -> item, as read before) already holds is not written again, and a
        link named twice is written once, as it is the last time (so is a mirror two links share).
        Returns how many links were written."""
        now = utcnow()
        operations: list[tuple[WriteAction, LinkItem]] = []
        written: set[str] = set()
        for link in links:
            if stored is not None and link.same_as(stored.get(link.hubspot_id)):
                continue
            forward = hubspot_key(link.object_type, link.hubspot_id)
            attributes: dict[str, Any] = {
                "salesforce_id": link.salesforce_id,
                "source": link.source,
                "fingerprint": link.fingerprint,
                "written_side": link.written_side,
                "details": dict(link.details) if link.details else None,
                "contact": dict(link.contact) if link.contact else None,
                "contact_read_at": read_instant(link.contact) if link.contact else None,
                "updated_at": now,
            }
            operations.append(("put", LinkItem(forward, **attributes)))
            operations.append(
                ("put", LinkItem(salesforce_key(link.salesforce_id), hubspot_pk=forward, **attributes))
            )
            written.add(forward)
        write_batch(LinkItem, operations)
        return len(written)

    def link(
        self,
        object_type: str,
        hubspot_id: str,
        salesforce_id: str,
        *,
        source: str,
        fingerprint: str | None = None,
        written_side: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self.save([Link(object_type, hubspot_id, salesforce_id, source, fingerprint, written_side, details)])

    def link_if_absent(self, object_type: str, hubspot_id: str, salesforce_id: str, *, source: str) -> bool:
        """Link only a record that has no link yet (a weaker match never replaces a stronger one);
        True when written."""
        forward = hubspot_key(object_type, hubspot_id)
        now = utcnow()
        try:
            LinkItem(forward, salesforce_id=salesforce_id, source=source, updated_at=now).save(
                condition=LinkItem.pk.does_not_exist()
            )
        except PutError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        LinkItem(
            salesforce_key(salesforce_id), salesforce_id=salesforce_id, hubspot_pk=forward, source=source
        ).save()
        return True

    def refresh_contacts(self, refreshed: Sequence[tuple[StoredLink, Mapping[str, Any]]]) -> int:
        """Store newer reads of linked contacts (``StoredLink.contact``, its ``read_at`` an ISO
        instant) - one TransactWriteItems request per 100, each update on condition that its link
        was not rewritten since it was read (its ``updated_at``: a read never overwrites what a
        later link decided) and holds no newer read (two readers at once: the later read stays).
        A batch in which any condition fails is skipped as a whole, and so is one DynamoDB refuses:
        the reads are a cache, and the next read tries again. Returns how many were stored. (IAM: an
        Update inside a transaction needs only dynamodb:UpdateItem,
        https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html)"""
        stored = 0
        for chunk in chunks(newest_contact_reads(refreshed), TRANSACTION_ITEMS):
            try:
                with TransactWrite(connection=transactions()) as transaction:
                    for link, contact in chunk:
                        read_at = read_instant(contact)
                        if read_at is None:
                            raise ValueError(f"a contact read needs its read_at: {dict(contact)}")
                        unchanged = (
                            LinkItem.updated_at == link.updated_at
                            if link.updated_at is not None
                            else LinkItem.pk.exists() & LinkItem.updated_at.does_not_exist()
                        )
                        older = LinkItem.contact_read_at.does_not_exist() | (
                            LinkItem.contact_read_at < read_at
                        )
                        transaction.update(
                            LinkItem(link.key),
                            actions=[
                                LinkItem.contact.set(dict(contact)),
                                LinkItem.contact_read_at.set(read_at),
                            ],
                            condition=unchanged & older,
                        )
            except TransactWriteError as error:
                if error.cause_response_code != "TransactionCanceledException":
                    logger.warning("contact reads not kept", extra={"error": str(error)})
                continue
            stored += len(chunk)
        return stored

    def unlink(self, links: Iterable[StoredLink]) -> None:
        """End these links: both items of each pair (BatchWriteItem)."""
        write_batch(
            LinkItem,
            (
                ("delete", LinkItem(key))
                for link in links
                for key in (link.hubspot_key, salesforce_key(link.salesforce_id))
            ),
        )
