"""The frame every queue consumer shares: parse a batch of SQS messages, hand the changes to the
type's use case in one go (batch-first, R18), and settle each message on its own.

Settling (R16 - nothing is lost silently):

* success -> the message is deleted (Lambda's partial batch response leaves it out);
* a transient failure -> reported in ``batchItemFailures`` so SQS redelivers it, until it has had
  its tries;
* held back by the API budget -> sent again to its own queue with a delay, and the delivery
  deleted: waiting for budget never spends a try towards the dead-letter queue;
* a permanent failure, or a transient one out of tries -> sent to the type's dead-letter queue
  *with its reason* as message attributes, then deleted. One dead letter per record and reason: a
  repeat of a record already waiting there for the same reason is recognised and not added again.

The queue keeps one delivery more than the consumer tries (``MAX_RECEIVE_COUNT``): a message whose
last try ended without a result (the function crashed or timed out) is dead-lettered, with that
reason, on the extra delivery - so every dead letter carries its reason.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, Self

import boto3

from activity_sync.json_fields import Invalid
from activity_sync.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

SQS_BATCH_LIMIT = 10


class QueueMessage(Protocol):
    """What a queue carries (``activity_sync.messages``), read from a message body."""

    @classmethod
    def from_json(cls, text: str) -> Self: ...


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
    defer: dict[str, tuple[str, int]] = field(default_factory=dict)  # reason, delay in seconds

    def merge(self, other: BatchResult) -> None:
        self.retry.update(other.retry)
        self.dead.update(other.dead)
        self.defer.update(other.defer)

    def settled(self, message_id: str) -> bool:
        return message_id in self.retry or message_id in self.dead or message_id in self.defer


class ChangeHandler[M](Protocol):
    def handle(self, changes: Sequence[tuple[str, M]]) -> BatchResult:
        """Apply the changes (message id, change); report the ones that failed."""
        ...


# (queue key, record id, reason) -> whether this is the first dead letter of it; None: no registry.
Claim = Callable[[str, str, str, str], bool]


class DeadLetters:
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
                self.queue_key, record_key(message), reason, message.body
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


def record_key(message: QueuedMessage) -> str:
    """What a message is about, for "one dead letter per record and reason": its record id, or
    the message id when the body cannot say."""
    try:
        body: Any = json.loads(message.body)
    except ValueError:
        return message.message_id
    if isinstance(body, dict):
        for name in ("object_id", "hubspot_contact_id", "salesforce_person_id"):
            if isinstance(body.get(name), str) and body[name]:
                return str(body[name])[:256]
    return message.message_id


def run_batch[M: QueueMessage](
    messages: Sequence[QueuedMessage],
    handler: ChangeHandler[M],
    dead_letters: DeadLetters,
    max_receive_count: int,
    model: type[M],
    validate: Callable[[M], str | None] = lambda _change: None,
) -> list[str]:
    """Process a batch; return the ids of the messages SQS must deliver again. ``validate`` says
    what is wrong with a change that cannot be right for this consumer (None when it is fine)."""
    result = BatchResult()
    changes: list[tuple[str, M]] = []
    for message in messages:
        if message.receive_count > max_receive_count:
            result.dead[message.message_id] = (
                f"its delivery {message.receive_count - 1} ended without a result "
                "(the function crashed or timed out while handling it)"
            )
            continue
        try:
            change = model.from_json(message.body)
        except Invalid as malformed:
            result.dead[message.message_id] = f"malformed message: {malformed}"
            continue
        problem = validate(change)
        if problem is not None:
            result.dead[message.message_id] = f"invalid message: {problem}"
            continue
        changes.append((message.message_id, change))
    if changes:
        try:
            result.merge(handler.handle(changes))
        except Exception as error:  # settled per message with the reason, never a bare failure
            logger.exception("batch failed")
            for message_id, _ in changes:
                if not result.settled(message_id):
                    result.retry[message_id] = f"{type(error).__name__}: {error}"
    return settle(messages, result, dead_letters, max_receive_count)


def settle(
    messages: Sequence[QueuedMessage], result: BatchResult, dead_letters: DeadLetters, max_receive_count: int
) -> list[str]:
    redeliver: list[str] = []
    held_back = [
        (message, result.defer[message.message_id][1])
        for message in messages
        if message.message_id in result.defer
        and message.message_id not in result.dead
        and message.message_id not in result.retry
    ]
    redeliver.extend(dead_letters.hand_back(held_back))
    for message in messages:
        reason = result.dead.get(message.message_id)
        if reason is None and message.message_id in result.retry:
            reason = result.retry[message.message_id]
            # The last delivery the consumer tries; the queue keeps one more for crashes.
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
