"""SQS: put changes on the queue of their type, ten at a time (SendMessageBatch's limit)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import boto3

from activity_sync.config import RuntimeConfig
from activity_sync.domain import SyncType
from activity_sync.messages import ChangeMessage, ContactChangeMessage

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

SQS_BATCH_LIMIT = 10


class QueueSendError(RuntimeError):
    """Some messages could not be queued; the caller must not acknowledge their source."""

    def __init__(self, failures: Sequence[dict[str, Any]]) -> None:
        super().__init__(f"{len(failures)} message(s) not queued: {failures[:3]}")
        self.failures = list(failures)


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
        for start in range(0, len(messages), SQS_BATCH_LIMIT):
            chunk = messages[start : start + SQS_BATCH_LIMIT]
            response = self.client.send_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "MessageBody": m.to_json()} for i, m in enumerate(chunk)],
            )
            failures.extend(dict(f) for f in response.get("Failed", []))
        if failures:
            raise QueueSendError(failures)
        return len(messages)
