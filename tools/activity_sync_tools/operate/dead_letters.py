"""The dead-letter queues, read without consuming them (``errors``, ``status``, ``explain``) and
moved back to their queues (``redrive``).

Every dead letter carries its reason in the ``failure_reason`` message attribute, when it failed
(``failed_at``) and the record's ids in its body (``usecases.batch``). SQS has no "peek": a message
is read by receiving it. We receive with a short visibility timeout - long enough to walk the
whole queue without meeting a message twice - and then set each one's visibility back to 0, so
the queue looks as it did; should the command die on the way, SQS shows them again when the
timeout ends. Only ``redrive`` deletes, and only what it has sent back to the type's queue.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from activity_sync_tools.operate.target import CONTACT_CHANGES, Stack

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageTypeDef

PEEK_VISIBILITY_SECONDS = 30
SQS_BATCH = 10
# Record-specific parts of a reason (ids, numbers): masked to group reasons of the same kind.
_RECORD_SPECIFIC = re.compile(r"\b(?=[A-Za-z0-9]*\d)(?:[A-Za-z0-9]{18}|[A-Za-z0-9]{15})\b|\b\d+\b")


@dataclass(frozen=True)
class DeadLetter:
    queue_key: str  # the sync type key, or contact_changes
    message_id: str
    receipt_handle: str
    body: str
    reason: str
    failed_at: str | None
    queue_url: str

    @cached_property
    def change(self) -> dict[str, Any]:
        """The body as a mapping ({} for a body that is not a JSON object: it failed for that)."""
        return json_object(self.body)

    @property
    def record_id(self) -> str:
        """What the message is about, as the dead-letter registry keys it (``messages.record_key``)."""
        from activity_sync.messages import record_key

        return record_key(self.message_id, self.body)

    @property
    def reason_kind(self) -> str:
        """The reason without the record's own ids: dead letters that failed alike share it."""
        return _RECORD_SPECIFIC.sub("…", self.reason)


@dataclass
class Affected:
    """The records a dead letter is about, on both sides, and where to open them."""

    hubspot_id: str | None = None  # the activity, or the contact of a contact change
    hubspot_contact_id: str | None = None
    salesforce_id: str | None = None  # the record, or the twin a HubSpot activity has
    salesforce_person_id: str | None = None
    urls: dict[str, str] = field(default_factory=dict)


def json_object(text: str | None) -> dict[str, Any]:
    """A message body as a mapping; {} for one that is not a JSON object."""
    try:
        value = json.loads(text or "")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def reason_of(message: MessageTypeDef) -> str:
    attribute = message.get("MessageAttributes", {}).get("failure_reason")
    reason = attribute.get("StringValue") if attribute else None
    if reason:
        return reason
    deliveries = message.get("Attributes", {}).get("ApproximateReceiveCount", "?")
    return f"(no reason given: moved here by SQS after {deliveries} deliveries)"


class DeadLetterQueues:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.urls = stack.dead_letter_queue_urls()
        self._deleted: set[str] = set()

    def depths(self) -> dict[str, int]:
        """Queue key -> dead letters in it now (SQS's approximate count)."""
        return {key: self.stack.queue_counts(url)["visible"] for key, url in self.urls.items()}

    @contextmanager
    def held(
        self, keys: Iterable[str], *, visibility: int = PEEK_VISIBILITY_SECONDS
    ) -> Iterator[list[DeadLetter]]:
        """Every dead letter of these queues, hidden from other readers while the block runs and
        shown again after it (those deleted meanwhile excepted)."""
        letters: list[DeadLetter] = []
        try:
            for key in keys:
                url = self.urls[key]
                expected = self.stack.queue_counts(url)["visible"]
                if expected:
                    letters.extend(self._receive_all(key, url, expected, visibility))
            yield letters
        finally:
            self._show_again([letter for letter in letters if letter.message_id not in self._deleted])

    def _receive_all(self, key: str, url: str, expected: int, visibility: int) -> list[DeadLetter]:
        found: dict[str, DeadLetter] = {}
        waited = False
        while True:
            # A short poll samples some of SQS's servers; once it comes back empty before the count
            # is reached, one long poll asks them all.
            messages = self.stack.sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=SQS_BATCH,
                VisibilityTimeout=visibility,
                WaitTimeSeconds=1 if waited else 0,
                MessageAttributeNames=["All"],
                AttributeNames=["ApproximateReceiveCount"],
            ).get("Messages", [])
            fresh = [m for m in messages if m["MessageId"] not in found]
            for message in fresh:
                failed_at = message.get("MessageAttributes", {}).get("failed_at")
                found[message["MessageId"]] = DeadLetter(
                    queue_key=key,
                    message_id=message["MessageId"],
                    receipt_handle=message["ReceiptHandle"],
                    body=message.get("Body", ""),
                    reason=reason_of(message),
                    failed_at=failed_at.get("StringValue") if failed_at else None,
                    queue_url=url,
                )
            if fresh:
                continue
            # Empty, or only messages met before (a walk longer than the visibility): done.
            if messages or len(found) >= expected or waited:
                return list(found.values())
            waited = True

    def _show_again(self, letters: Sequence[DeadLetter]) -> None:
        for url, handles in _handles_by_queue(letters):
            self.stack.sqs.change_message_visibility_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                    for i, handle in enumerate(handles)
                ],
            )

    def delete(self, letters: Sequence[DeadLetter]) -> None:
        """Delete dead letters (``redrive``, once each is back on its type's queue)."""
        self._deleted.update(letter.message_id for letter in letters)
        for url, handles in _handles_by_queue(letters):
            self.stack.sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": handle} for i, handle in enumerate(handles)],
            )


def _handles_by_queue(letters: Sequence[DeadLetter]) -> Iterator[tuple[str, list[str]]]:
    """(queue URL, up to ten receipt handles): the batches SQS takes."""
    for url in dict.fromkeys(letter.queue_url for letter in letters):
        handles = [letter.receipt_handle for letter in letters if letter.queue_url == url]
        for start in range(0, len(handles), SQS_BATCH):
            yield url, handles[start : start + SQS_BATCH]


def select(letters: Iterable[DeadLetter], reason: str | None) -> list[DeadLetter]:
    """The dead letters whose reason contains ``reason`` (any case); all of them for None."""
    wanted = (reason or "").lower()
    return [letter for letter in letters if wanted in letter.reason.lower()]


def affected_records(stack: Stack, letters: Sequence[DeadLetter]) -> dict[str, Affected]:
    """Message id -> the records each dead letter is about, from its body and the links table (one
    read per kind of link, whatever the number of letters): no vendor call."""
    from activity_sync.domain import Direction, EmailEventKind, HubSpotActivityType, SyncType
    from activity_sync.rules.task_mapping import HubSpotActivityKey

    links = stack.service.links
    urls = stack.record_urls
    affected: dict[str, Affected] = {}
    activity_keys: dict[str, str] = {}
    for letter in letters:
        change = letter.change
        payload: dict[str, Any] = change["payload"] if isinstance(change.get("payload"), dict) else {}
        record = Affected()
        affected[letter.message_id] = record
        if letter.queue_key == CONTACT_CHANGES:
            record.hubspot_id = _text(change.get("hubspot_contact_id"))
            record.hubspot_contact_id = record.hubspot_id
            record.salesforce_person_id = _text(change.get("salesforce_person_id"))
            continue
        sync_type = SyncType.parse(letter.queue_key)
        object_id = _text(change.get("object_id"))
        if sync_type.direction is Direction.SALESFORCE_TO_HUBSPOT:
            record.salesforce_id = object_id
            continue
        activity_type = HubSpotActivityType(sync_type.type)
        record.hubspot_id = _text(payload.get("id")) or object_id
        contacts = payload.get("contact_ids") or []
        record.hubspot_contact_id = _text(contacts[0]) if contacts else None
        event = payload.get("email_event") or (
            "sent" if activity_type is HubSpotActivityType.SALES_EMAIL else None
        )
        try:
            key = HubSpotActivityKey(
                activity_type, record.hubspot_id or "", EmailEventKind(event) if event else None
            )
            activity_keys[letter.message_id] = key.external_id
        except ValueError:
            continue  # a body that names no usable activity: its reason says so
    tasks = links.links("activity", activity_keys.values())
    people = links.links("contact", [a.hubspot_contact_id for a in affected.values() if a.hubspot_contact_id])
    twins = links.by_salesforce_ids(a.salesforce_id for a in affected.values() if a.salesforce_id)
    for message_id, record in affected.items():
        task = tasks.get(activity_keys.get(message_id, ""))
        if task is not None:
            record.salesforce_id = task.salesforce_id
        person = people.get(record.hubspot_contact_id or "")
        if person is not None and record.salesforce_person_id is None:
            record.salesforce_person_id = person.salesforce_id
        twin = twins.get(record.salesforce_id or "") if task is None else None
        if twin is not None:
            record.hubspot_id = twin.hubspot_id
        candidates = {
            "hubspot_contact": urls.hubspot_contact(record.hubspot_contact_id),
            "salesforce_record": urls.salesforce_record(record.salesforce_id),
            "salesforce_person": urls.salesforce_record(record.salesforce_person_id),
        }
        record.urls = {name: url for name, url in candidates.items() if url}
    return affected


def _text(value: object) -> str | None:
    return str(value) if value not in (None, "") else None
