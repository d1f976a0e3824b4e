"""SQS: put changes on the queue of their type, ten and 256 KiB at a time (SendMessageBatch's limits); a queue
consumer's dead-letter queue, which carries each message's reason (``ports.DeadLetterQueue``)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import boto3

from activity_sync.config import RuntimeConfig
from activity_sync.domain import SyncType
from activity_sync.messages import MAX_QUEUE_MESSAGE_BYTES, ChangeMessage, ContactChangeMessage, record_key
from activity_sync.observability import logger
from activity_sync.ports import QueuedMessage, QueueSendError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

SQS_BATCH_LIMIT = 10


class ChangeQueues:
    def __init__(self, config: RuntimeConfig, client: SQSClient | None = None) -> None:
        self._config = config
        self.client: SQSClient = client or boto3.client("sqs")

    def send_changes(self, changes: Iterable[ChangeMessage]) -> int:
        """Queue each change on its type's queue, once per (type, record, kind). Returns how many
        messages were sent; raises QueueSendError if any failed (nothing is silently dropped)."""
        unique: dict[str, ChangeMessage] = {}
        for change in changes:
            unique.setdefault(change.dedup_key(), change)
        by_queue: dict[str, list[ChangeMessage | ContactChangeMessage]] = {}
        for change in unique.values():
            url = self._config.queue_url(SyncType.parse(change.sync_type))
            by_queue.setdefault(url, []).append(change)
        return sum(self._send(url, messages) for url, messages in by_queue.items())

    def send_contact_changes(self, changes: Iterable[ContactChangeMessage]) -> int:
        if self._config.contact_queue_url is None:
            raise QueueSendError([{"reason": "QUEUE_URL_CONTACT_CHANGES is not configured"}])
        return self._send(self._config.contact_queue_url, list(changes))

    def _send(self, queue_url: str, messages: Sequence[ChangeMessage | ContactChangeMessage]) -> int:
        failures: list[dict[str, Any]] = []
        for chunk in _batches([m.queue_body() for m in messages]):
            response = self.client.send_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(chunk)],
            )
            failures.extend(dict(f) for f in response.get("Failed", []))
        if failures:
            raise QueueSendError(failures)
        return len(messages)


def _batches(bodies: Sequence[str]) -> list[list[str]]:
    """Bodies in SendMessageBatch requests: ten at most, and no more bytes in all than SQS takes in
    one request. A body too large for any request fails here, naming the limit, not at SQS."""
    batches: list[list[str]] = []
    size = 0
    for body in bodies:
        length = len(body.encode("utf-8"))
        if length > MAX_QUEUE_MESSAGE_BYTES:
            raise QueueSendError(
                [{"reason": f"a message of {length} bytes; SQS takes {MAX_QUEUE_MESSAGE_BYTES} at most"}]
            )
        if not batches or len(batches[-1]) == SQS_BATCH_LIMIT or size + length > MAX_QUEUE_MESSAGE_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(body)
        size += length
    return batches


# (queue key, record id, reason) -> whether this is the first dead letter of it; None: no registry.
Claim = Callable[[str, str, str, str], bool]


class SqsDeadLetterQueue:
    """The dead-letter queue of one consumer, and the queue it hands held-back messages back to."""

    def __init__(
        self,
        queue_url: str | None,
        client: SQSClient | None = None,
        *,
        own_queue_url: str | None = None,
        queue_key: str = "",
        claim: Claim | None = None,
    ) -> None:
        self._queue_url = queue_url
        self._client: SQSClient | None = client
        self.own_queue_url = own_queue_url
        self.queue_key = queue_key
        self.claim = claim

    @property
    def client(self) -> SQSClient:
        if self._client is None:
            self._client = boto3.client("sqs")
        return self._client

    def send(self, message: QueuedMessage, reason: str) -> bool:
        """Dead-letter ``message``; True once it is there (or was already, for this reason)."""
        if not self._queue_url:
            return False
        reason = reason[:1000] or "unknown"
        try:
            if self.claim is not None and not self.claim(
                self.queue_key, record_key(message.message_id, message.body), reason, message.body
            ):
                logger.info("already dead-lettered for this reason", extra={"message_id": message.message_id})
                return True
            self.client.send_message(
                QueueUrl=self._queue_url,
                MessageBody=message.body,
                MessageAttributes={
                    "failure_reason": {"DataType": "String", "StringValue": reason},
                    "failed_at": {"DataType": "String", "StringValue": dt.datetime.now(dt.UTC).isoformat()},
                    "original_message_id": {"DataType": "String", "StringValue": message.message_id},
                    "receive_count": {"DataType": "Number", "StringValue": str(message.receive_count)},
                },
            )
        except Exception:  # any failure here means: let SQS deliver it again, and try again
            logger.exception("could not dead-letter a message", extra={"message_id": message.message_id})
            return False
        return True

    def hand_back(self, messages: Sequence[tuple[QueuedMessage, int]]) -> set[str]:
        """Put messages back on their own queue, each after its delay (seconds); the ids of those
        that could not be sent (SQS delivers them again instead)."""
        if not messages:
            return set()
        if not self.own_queue_url:
            return {message.message_id for message, _ in messages}
        failed: set[str] = set()
        for start in range(0, len(messages), SQS_BATCH_LIMIT):
            chunk = messages[start : start + SQS_BATCH_LIMIT]
            try:
                response = self.client.send_message_batch(
                    QueueUrl=self.own_queue_url,
                    Entries=[
                        {"Id": str(i), "MessageBody": message.body, "DelaySeconds": delay}
                        for i, (message, delay) in enumerate(chunk)
                    ],
                )
            except Exception:
                logger.exception("could not hand messages back to their queue")
                failed.update(message.message_id for message, _ in chunk)
                continue
            failed.update(chunk[int(f["Id"])][0].message_id for f in response.get("Failed", []))
        return failed


def dead_letter_queue_from_environ(queue_key: str, claim: Claim | None = None) -> SqsDeadLetterQueue:
    """The dead-letter queue of the function this runs in, and its own queue, as the templates set
    them (``DEAD_LETTER_QUEUE_URL``, ``QUEUE_URL``)."""
    return SqsDeadLetterQueue(
        os.environ.get("DEAD_LETTER_QUEUE_URL"),
        own_queue_url=os.environ.get("QUEUE_URL"),
        queue_key=queue_key,
        claim=claim,
    )
