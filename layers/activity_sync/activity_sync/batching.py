"""Cutting work into the batches the vendors' and AWS's APIs take (R18)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence


def chunks[T](items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
