"""Where each poll job stopped, kept in the sync state table: a ``Watermark`` (the instant of the
last record queued and the ids queued at it), a feed's ``FeedPosition`` (a page and how much of it
is done), and the run's ``RunWatermarks`` - every watermark read in one Query when a run starts,
a step's progress written at once, a job's final move written with the others when the run ends."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass

from activity_sync.ports import SyncStateStore


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


@dataclass
class Watermark:
    """Where a job stopped: the instant of the last record queued and the ids queued at it."""

    at: dt.datetime
    ids: frozenset[str] = frozenset()

    def to_text(self) -> str:
        return json.dumps({"at": iso(self.at), "ids": sorted(self.ids)})

    @classmethod
    def parse(cls, text: str) -> Watermark:
        if text.startswith("{"):
            value = json.loads(text)
            return cls(dt.datetime.fromisoformat(value["at"]), frozenset(value.get("ids") or ()))
        return cls(dt.datetime.fromisoformat(text))  # the instant alone (earlier versions)

    def passes(self, stamp: dt.datetime | None, record_id: str) -> bool:
        """Whether a record read from this watermark on is new: not one queued at the instant."""
        return not (stamp is not None and stamp <= self.at and record_id in self.ids)

    def advanced(self, keys: Sequence[tuple[dt.datetime | None, str]]) -> Watermark:
        """The watermark after ``keys`` (in order): the latest instant and the ids queued at it."""
        latest = max((stamp for stamp, _ in keys if stamp is not None), default=None)
        if latest is None or latest < self.at:
            return self
        ids = {record_id for stamp, record_id in keys if stamp == latest}
        if latest == self.at:
            ids |= self.ids
        return Watermark(latest, frozenset(ids))


@dataclass(frozen=True)
class FeedPosition:
    """Where a feed read stopped: the end of the window being read, the offset of the page under
    way (None: the first) and how many of its events are done."""

    until: dt.datetime | None
    offset: str | None
    done: int

    def to_text(self) -> str:
        return json.dumps(
            {"until": iso(self.until) if self.until else None, "offset": self.offset, "done": self.done}
        )

    @classmethod
    def load(cls, text: str | None, since: dt.datetime) -> FeedPosition:
        if not text:
            return cls(None, None, 0)
        value = json.loads(text)
        until = dt.datetime.fromisoformat(value["until"]) if value.get("until") else None
        if until is not None and until <= since:
            return cls(None, None, 0)
        return cls(until, value.get("offset"), int(value.get("done") or 0))


class RunWatermarks:
    """The run's watermarks: all read in one Query when the run starts. A step's progress is
    written at once (a run cut short resumes there); a job's final move to the end of its
    interval is kept and written with the others in one batch when the run ends - lost only if
    the run dies first, and then the next run reads that interval again, which queues nothing
    already synced."""

    def __init__(self, state: SyncStateStore) -> None:
        self._state = state
        self._values = state.watermarks()
        self._moves: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        value = self._moves.get(name, self._values.get(name))
        return value if value else None

    def set(self, name: str, value: str) -> None:
        self._moves.pop(name, None)
        if self._values.get(name) != value:
            self._state.set_watermark(name, value)
        self._values[name] = value

    def move(self, name: str, value: str) -> None:
        if self._values.get(name) != value:
            self._moves[name] = value
        else:
            self._moves.pop(name, None)

    def flush(self) -> None:
        if self._moves:
            self._state.set_watermarks(self._moves)
            self._values.update(self._moves)
            self._moves.clear()

    def since(self, name: str, earliest: dt.datetime, fallback: Sequence[str] = ()) -> Watermark:
        """Where job ``name`` resumes: its watermark (or the first of ``fallback`` that exists),
        never before ``earliest``."""
        stored = self.get(name)
        for other in fallback:
            if stored is not None:
                break
            stored = self.get(other)
        if stored is None:
            return Watermark(earliest)
        mark = Watermark.parse(stored)
        return mark if mark.at >= earliest else Watermark(earliest)
