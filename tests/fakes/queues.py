"""In-memory stand-ins for the queue ports (``activity_sync.ports.queues``): what was queued, by
type, in order; deduplicated per (type, record, kind) as the SQS adapter does."""

from __future__ import annotations

from collections.abc import Iterable

from activity_sync.messages import ChangeMessage, ContactChangeMessage


class InMemoryChangeQueue:
    """``ChangeQueue``: each type's queue a list; ``take`` empties one as a consumer would."""

    def __init__(self) -> None:
        self.changes: dict[str, list[ChangeMessage]] = {}
        self.contact_changes: list[ContactChangeMessage] = []
        self.calls = 0

    def send_changes(self, changes: Iterable[ChangeMessage]) -> int:
        self.calls += 1
        unique: dict[str, ChangeMessage] = {}
        for change in changes:
            unique.setdefault(change.dedup_key(), change)
        for change in unique.values():
            self.changes.setdefault(change.sync_type, []).append(change)
        return len(unique)

    def send_contact_changes(self, changes: Iterable[ContactChangeMessage]) -> int:
        self.calls += 1
        sent = list(changes)
        self.contact_changes += sent
        return len(sent)

    def take(self, sync_key: str) -> list[ChangeMessage]:
        return self.changes.pop(sync_key, [])

    def take_contact_changes(self) -> list[ContactChangeMessage]:
        taken, self.contact_changes = self.contact_changes, []
        return taken
