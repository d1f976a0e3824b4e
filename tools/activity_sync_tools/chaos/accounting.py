"""Where every activity the fault suite made ended up: synced, waiting, dead-lettered - or lost, or
duplicated. Pure: the suite reads the vendors and the stack, this module adds up.

An activity is identified within its sync type by its source id (the HubSpot object or email event
id; the Salesforce record id). Its twins are counted by that id: more than one twin is a duplicate.
Where the suite knows the ids it made (Salesforce records) an activity is lost when it is none of
synced, waiting or dead-lettered; where it only knows how many it made (the feeds' activities, whose
ids HubSpot assigns on its side) the difference of the counts says the same, and any twin beyond
the number made is a duplicate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TypeOutcome:
    """One sync type's accounts."""

    created: int
    synced: int = 0
    waiting: int = 0
    dead_lettered: int = 0
    lost: int = 0
    duplicated: int = 0
    lost_ids: list[str] = field(default_factory=list)

    @property
    def accounted(self) -> int:
        return self.synced + self.waiting + self.dead_lettered

    def to_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "synced": self.synced,
            "waiting": self.waiting,
            "dead_lettered": self.dead_lettered,
            "lost": self.lost,
            "duplicated": self.duplicated,
            **({"lost_ids": self.lost_ids[:20]} if self.lost_ids else {}),
        }


def account_type(
    *,
    created: int,
    created_ids: Iterable[str] | None,
    twins: Counter[str],
    waiting: Iterable[str],
    dead_lettered: Iterable[str],
) -> TypeOutcome:
    """The accounts of one type: ``twins`` counts the twins made since the suite began by source
    id; ``created_ids`` is None when only the number made is known."""
    synced = {source for source, count in twins.items() if count > 0}
    duplicated = sum(count - 1 for count in twins.values() if count > 1)
    waiting_ids = set(waiting) - synced
    dead_ids = set(dead_lettered) - synced - waiting_ids
    if created_ids is not None:
        made = set(created_ids)
        extra = synced - made  # twins of records the suite did not make
        duplicated += len(extra)
        synced &= made
        waiting_ids &= made
        dead_ids &= made
        lost_ids = sorted(made - synced - waiting_ids - dead_ids)
        return TypeOutcome(
            created=len(made),
            synced=len(synced),
            waiting=len(waiting_ids),
            dead_lettered=len(dead_ids),
            lost=len(lost_ids),
            duplicated=duplicated,
            lost_ids=lost_ids,
        )
    outcome = TypeOutcome(
        created=created, synced=len(synced), waiting=len(waiting_ids), dead_lettered=len(dead_ids)
    )
    surplus = outcome.accounted - created
    if surplus > 0:
        # More activities came out than went in: the extra ones are copies under another id.
        outcome.duplicated += surplus
    else:
        outcome.lost = -surplus
    return outcome


@dataclass(frozen=True)
class BudgetCheck:
    """One limit the service had to keep, and what it did."""

    vendor: str
    limit_name: str
    limit: int | None
    used: int

    @property
    def exceeded(self) -> bool:
        return self.limit is not None and self.used > self.limit

    def to_dict(self) -> dict[str, Any]:
        return {
            "vendor": self.vendor,
            "limit": self.limit_name,
            "allowed": self.limit,
            "used": self.used,
            "exceeded": self.exceeded,
        }


def busiest_window(instants_ms: Iterable[int], window_ms: int) -> int:
    """The most instants that fall in any span of ``window_ms`` (a rolling window)."""
    ordered = sorted(instants_ms)
    busiest = 0
    start = 0
    for end, instant in enumerate(ordered):
        while instant - ordered[start] >= window_ms:
            start += 1
        busiest = max(busiest, end - start + 1)
    return busiest


def totals(outcomes: Mapping[str, TypeOutcome]) -> TypeOutcome:
    total = TypeOutcome(created=0)
    for outcome in outcomes.values():
        total.created += outcome.created
        total.synced += outcome.synced
        total.waiting += outcome.waiting
        total.dead_lettered += outcome.dead_lettered
        total.lost += outcome.lost
        total.duplicated += outcome.duplicated
    return total
