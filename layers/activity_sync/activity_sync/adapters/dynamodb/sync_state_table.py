"""The sync state table: poll watermarks, activities waiting for their contact (R4), outcome
counters (one UpdateItem per outcome and batch), values every container shares, and dead letters
already sent (one per record and reason). Items leave as plain values (``WaitingActivity``,
``DeadLetterEntry``): no item crosses the port."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from pynamodb.attributes import (
    JSONAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError
from pynamodb.models import Model

from activity_sync.adapters.dynamodb.writes import aws_region, utcnow, write_batch
from activity_sync.domain import SyncType
from activity_sync.ports import DeadLetterEntry, SkippedActivity, SkippedEntry, WaitingActivity, WaitingEntry


class SyncStateItem(Model):
    class Meta:
        table_name = os.environ.get("SYNC_STATE_TABLE", "activity-sync-state")
        region = aws_region()

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    value = UnicodeAttribute(null=True)
    payload = JSONAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    tally = NumberAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)
    expires_at = TTLAttribute(null=True)


def _skipped_pk(sync_type: SyncType) -> str:
    return f"skipped#{sync_type.key}"


def _waiting_pk(contact_id: str) -> str:
    return f"waiting#{contact_id}"


def _waiting(item: SyncStateItem) -> WaitingActivity:
    return WaitingActivity(
        contact_id=item.pk.removeprefix("waiting#"),
        key=item.sk,
        message=dict(item.payload or {}),
        reason=item.reason,
        updated_at=item.updated_at,
    )


WAITING_TTL = dt.timedelta(days=400)  # past the longest look-back window (R5: one year)
DEAD_LETTER_TTL = dt.timedelta(days=14)  # as long as SQS keeps a dead letter
SKIPPED_TTL = dt.timedelta(days=90)  # what explain can tell of a posted activity skipped for good


def outcome_label(status: str, reason: str | None) -> str:
    return status if reason is None else f"{status}:{reason}"


class SyncStateRepository:
    """Watermarks, activities waiting for their contact (R4), outcome figures (R16) and the dead
    letters already sent."""

    def watermark(self, name: str) -> str | None:
        try:
            return SyncStateItem.get("watermark", name, consistent_read=True).value
        except DoesNotExist:
            return None

    def watermarks(self) -> dict[str, str]:
        """Every watermark, in one (paged) strongly consistent Query: the poller reads them all
        at the start of a run."""
        return {item.sk: item.value or "" for item in SyncStateItem.query("watermark", consistent_read=True)}

    def set_watermark(self, name: str, value: str) -> None:
        SyncStateItem("watermark", name, value=value, updated_at=utcnow()).save()

    def set_watermarks(self, values: Mapping[str, str]) -> None:
        """Several watermarks in one BatchWriteItem (25 a request)."""
        now = utcnow()
        write_batch(
            SyncStateItem,
            (
                ("put", SyncStateItem("watermark", name, value=value, updated_at=now))
                for name, value in values.items()
            ),
        )

    def add_waiting_many(self, entries: Iterable[WaitingEntry]) -> None:
        """Park many activities at once (BatchWriteItem). An activity parked twice under one contact
        (a sales email's events, a notification delivered twice) is one item: the later entry's."""
        now = utcnow()
        write_batch(
            SyncStateItem,
            (
                (
                    "put",
                    SyncStateItem(
                        _waiting_pk(contact_id),
                        f"{sync_type.key}#{activity_id}",
                        payload=dict(message),
                        reason=reason,
                        updated_at=now,
                        expires_at=now + WAITING_TTL,
                    ),
                )
                for contact_ids, sync_type, activity_id, message, reason in entries
                for contact_id in contact_ids
            ),
        )

    def waiting_for(self, hubspot_contact_id: str) -> list[WaitingActivity]:
        return [_waiting(item) for item in SyncStateItem.query(_waiting_pk(hubspot_contact_id))]

    def remember_skipped(self, entries: Iterable[SkippedEntry]) -> None:
        now = utcnow()
        write_batch(
            SyncStateItem,
            (
                (
                    "put",
                    SyncStateItem(
                        _skipped_pk(sync_type),
                        activity_id,
                        payload=dict(message),
                        reason=reason,
                        updated_at=now,
                        expires_at=now + SKIPPED_TTL,
                    ),
                )
                for sync_type, activity_id, message, reason in entries
            ),
        )

    def skipped(self, sync_type: SyncType, activity_id: str) -> SkippedActivity | None:
        try:
            item = SyncStateItem.get(_skipped_pk(sync_type), activity_id)
        except DoesNotExist:
            return None
        return SkippedActivity(
            sync_type.key, activity_id, dict(item.payload or {}), item.reason or "", item.updated_at
        )

    def remove_waiting(self, items: Iterable[WaitingActivity]) -> None:
        write_batch(
            SyncStateItem,
            (("delete", SyncStateItem(_waiting_pk(item.contact_id), item.key)) for item in items),
        )

    def waiting_page(self, hubspot_contact_id: str, after: str | None, limit: int) -> list[WaitingActivity]:
        """Up to ``limit`` items waiting under one contact id, in key order after the key ``after``
        (a cursor, for a partition too large to read whole on every poll)."""
        condition = SyncStateItem.sk > after if after else None
        found = SyncStateItem.query(_waiting_pk(hubspot_contact_id), condition, limit=limit)
        return [_waiting(item) for item in found]

    def remove_waiting_unless_parked_again(self, items: Sequence[WaitingActivity]) -> int:
        """Delete each item unless it was written again since it was read (its ``updated_at``
        moved): a syncer that already parked the re-queued activity again must keep its item.
        One conditional delete per item (BatchWriteItem takes no conditions); returns how many
        were deleted."""
        removed = 0
        for item in items:
            unchanged = (
                SyncStateItem.updated_at == item.updated_at
                if item.updated_at is not None
                else SyncStateItem.updated_at.does_not_exist()
            )
            try:
                SyncStateItem(_waiting_pk(item.contact_id), item.key).delete(condition=unchanged)
            except DeleteError as error:
                if error.cause_response_code == "ConditionalCheckFailedException":
                    continue
                raise
            removed += 1
        return removed

    def count_outcomes(
        self, sync_type: SyncType, tallies: Mapping[tuple[str, str | None], int], day: dt.date | None = None
    ) -> None:
        """Add a batch's figures (status, reason) -> n to the per-type, per-day counters: one
        UpdateItem per outcome, whatever the batch size."""
        day = day or utcnow().date()
        now = utcnow()
        for (status, reason), n in tallies.items():
            if n <= 0:
                continue
            SyncStateItem(
                f"outcomes#{sync_type.key}", f"{day.isoformat()}#{outcome_label(status, reason)}"
            ).update(actions=[SyncStateItem.tally.add(n), SyncStateItem.updated_at.set(now)])

    def outcome_figures(self, sync_type: SyncType, since: dt.date | None = None) -> dict[str, int]:
        """Outcome label -> total since ``since`` (all days when None)."""
        totals: dict[str, int] = {}
        condition = SyncStateItem.sk >= since.isoformat() if since else None
        for item in SyncStateItem.query(f"outcomes#{sync_type.key}", condition):
            label = item.sk.split("#", 1)[1]
            totals[label] = totals.get(label, 0) + int(item.tally or 0)
        return totals

    # -- what every container shares (one read instead of vendor calls in each container)
    def shared(self, name: str) -> tuple[dt.datetime, Any] | None:
        """A value a container stored for the others (``save_shared``), with when it was stored."""
        try:
            item = SyncStateItem.get("shared", name, consistent_read=True)
        except DoesNotExist:
            return None
        return (item.updated_at, item.payload) if item.updated_at is not None else None

    def forget_shared(self, name: str) -> None:
        SyncStateItem("shared", name).delete()

    def save_shared(self, name: str, payload: Any, keep: dt.timedelta) -> None:
        now = utcnow()
        SyncStateItem("shared", name, payload=payload, updated_at=now, expires_at=now + keep).save()

    # -- dead letters
    def claim_dead_letter(self, sync_key: str, object_id: str, reason: str, body: str) -> bool:
        """Record that this record is dead-lettered for this reason; False when it already was
        (and its dead letter still waits): one dead letter per record and reason."""
        digest = hashlib.sha256(reason.encode()).hexdigest()[:16]
        now = utcnow()
        try:
            SyncStateItem(
                f"dead#{sync_key}",
                f"{object_id}#{digest}",
                reason=reason[:1000],
                value=body[:4000],
                updated_at=now,
                expires_at=now + DEAD_LETTER_TTL,
            ).save(condition=SyncStateItem.sk.does_not_exist())
        except PutError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def dead_letters(self, sync_key: str) -> Iterator[DeadLetterEntry]:
        for item in SyncStateItem.query(f"dead#{sync_key}"):
            yield DeadLetterEntry(
                sync_key=sync_key,
                record_id=item.sk.rsplit("#", 1)[0],
                reason=item.reason or "",
                body=item.value or "",
                failed_at=item.updated_at,
            )

    def release_dead_letters(self, sync_key: str, object_ids: Iterable[str]) -> int:
        """Forget the dead letters of these records (they were re-driven): a new failure of one
        of them is dead-lettered again."""
        wanted = set(object_ids)
        return write_batch(
            SyncStateItem,
            (
                ("delete", item)
                for item in SyncStateItem.query(f"dead#{sync_key}")
                if item.sk.rsplit("#", 1)[0] in wanted
            ),
        )
