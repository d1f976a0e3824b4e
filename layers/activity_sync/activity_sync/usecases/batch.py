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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, Self

from activity_sync.json_fields import Invalid
from activity_sync.observability import logger
from activity_sync.ports import DeadLetterQueue, QueuedMessage


class QueueMessage(Protocol):
    """What a queue carries (``activity_sync.messages``), read from a message body."""

    @classmethod
    def from_json(cls, text: str) -> Self: ...


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


def run_batch[M: QueueMessage](
    messages: Sequence[QueuedMessage],
    handler: ChangeHandler[M],
    dead_letters: DeadLetterQueue,
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
    messages: Sequence[QueuedMessage],
    result: BatchResult,
    dead_letters: DeadLetterQueue,
    max_receive_count: int,
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
