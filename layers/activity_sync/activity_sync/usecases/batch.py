"""The frame every queue consumer shares: parse a batch of SQS messages, hand the changes to the
type's use case in one go (batch-first, R18), and settle each message.

Settling (R16 - nothing is lost silently):

* success -> the message is deleted (Lambda's partial batch response leaves it out);
* a transient failure -> reported in ``batchItemFailures`` so SQS redelivers it, unless this was
  its last allowed delivery;
* a permanent failure, or a transient one on its last delivery -> sent to the type's dead-letter
  queue *with its reason* as message attributes, then deleted. (Were the Lambda itself to crash,
  SQS's redrive policy still moves the message there, only without the reason.)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import boto3
from pydantic import BaseModel, ValidationError

from activity_sync.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


@dataclass(frozen=True)
class QueuedMessage:
    message_id: str
    body: str
    receive_count: int = 1


@dataclass
class BatchResult:
    """Failures by message id, with their reasons; every other message succeeded."""

    retry: dict[str, str] = field(default_factory=dict)
    dead: dict[str, str] = field(default_factory=dict)

    def merge(self, other: BatchResult) -> None:
        self.retry.update(other.retry)
        self.dead.update(other.dead)


class ChangeHandler[M: BaseModel](Protocol):
    def handle(self, changes: Sequence[tuple[str, M]]) -> BatchResult:
        """Apply the changes (message id, change); report the ones that failed."""
        ...


class DeadLetters:
    def __init__(self, queue_url: str | None, client: SQSClient | None = None) -> None:
        self._queue_url = queue_url
        self._client: SQSClient | None = client

    def send(self, message: QueuedMessage, reason: str) -> bool:
        if not self._queue_url:
            return False
        client = self._client or boto3.client("sqs")
        self._client = client
        try:
            client.send_message(
                QueueUrl=self._queue_url,
                MessageBody=message.body,
                MessageAttributes={
                    "failure_reason": {"DataType": "String", "StringValue": reason[:1000] or "unknown"},
                    "failed_at": {"DataType": "String", "StringValue": dt.datetime.now(dt.UTC).isoformat()},
                    "original_message_id": {"DataType": "String", "StringValue": message.message_id},
                    "receive_count": {"DataType": "Number", "StringValue": str(message.receive_count)},
                },
            )
        except Exception:  # any failure here means: let SQS retry and redrive it
            logger.exception("could not dead-letter a message", extra={"message_id": message.message_id})
            return False
        return True


def run_batch[M: BaseModel](
    messages: Sequence[QueuedMessage],
    handler: ChangeHandler[M],
    dead_letters: DeadLetters,
    max_receive_count: int,
    model: type[M],
) -> list[str]:
    """Process a batch; return the ids of the messages SQS must deliver again."""
    result = BatchResult()
    changes: list[tuple[str, M]] = []
    for message in messages:
        try:
            changes.append((message.message_id, model.model_validate_json(message.body)))
        except ValidationError as exc:
            result.dead[message.message_id] = f"malformed message: {exc.errors()[0]['msg']}"
    if changes:
        result.merge(handler.handle(changes))
    return settle(messages, result, dead_letters, max_receive_count)


def settle(
    messages: Sequence[QueuedMessage], result: BatchResult, dead_letters: DeadLetters, max_receive_count: int
) -> list[str]:
    redeliver: list[str] = []
    for message in messages:
        reason = result.dead.get(message.message_id)
        if reason is None and message.message_id in result.retry:
            reason = result.retry[message.message_id]
            if message.receive_count < max_receive_count:
                logger.warning("will retry", extra={"message_id": message.message_id, "reason": reason})
                redeliver.append(message.message_id)
                continue
            reason = f"gave up after {message.receive_count} deliveries: {reason}"
        if reason is None:
            continue
        logger.error("dead-lettered", extra={"message_id": message.message_id, "reason": reason})
        if not dead_letters.send(message, reason):
            redeliver.append(message.message_id)
    return redeliver
