"""The queues, as the use cases see them: each type's change queue (and the contact linker's), and
a consumer's dead-letter queue. ``activity_sync.adapters.queues`` implements them on SQS."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from activity_sync.messages import ChangeMessage, ContactChangeMessage


class QueueSendError(RuntimeError):
    """Some messages could not be queued; the caller must not acknowledge their source."""

    def __init__(self, failures: Sequence[dict[str, Any]]) -> None:
        super().__init__(f"{len(failures)} message(s) not queued: {failures[:3]}")
        self.failures = list(failures)


@dataclass(frozen=True)
class QueuedMessage:
    """A message as a queue delivered it: its id, its body and how many times it was delivered."""

    message_id: str
    body: str
    receive_count: int = 1


class ChangeQueue(Protocol):
    def send_changes(self, changes: Iterable[ChangeMessage]) -> int:
        """Queue each change on its type's queue, once per (type, record, kind); how many were
        sent. ``QueueSendError`` when any could not be: nothing is silently dropped."""
        ...

    def send_contact_changes(self, changes: Iterable[ContactChangeMessage]) -> int:
        """Queue contact changes for the contact linker; how many were sent."""
        ...


class DeadLetterQueue(Protocol):
    """A consumer's dead-letter queue, and its own queue for what the API budget holds back."""

    def send(self, message: QueuedMessage, reason: str) -> bool:
        """Dead-letter ``message`` with its reason; True once it is there (or already was, for
        this reason: one dead letter per record and reason)."""
        ...

    def hand_back(self, messages: Sequence[tuple[QueuedMessage, int]]) -> set[str]:
        """Put messages back on their own queue, each after its delay (seconds); the ids of those
        that could not be sent (the queue delivers them again instead)."""
        ...
