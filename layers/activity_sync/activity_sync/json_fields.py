"""Reading the JSON the service takes in - queue messages, HubSpot webhook events, posted activities
- field by field, each checked, so that what is wrong is named (``Invalid``: where, and what): a bad
message is dead-lettered with that reason, a bad request is refused with it.

The standard library only, on purpose: these are a handful of flat shapes, and a validation
framework would be a third of every function's cold import (issue #8 measured pydantic at that).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

# A number of seconds since the epoch this large is taken for milliseconds (HubSpot's instants).
_MILLISECONDS_FROM = 20_000_000_000
_INTEGER_TEXT = re.compile(r"-?[0-9]{1,20}")
# A code point of the UTF-16 surrogate range standing alone: JSON can carry one ("\\ud800"), UTF-8
# cannot, so text holding one cannot be stored, hashed or sent on.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def has_lone_surrogate(text: str) -> bool:
    """Whether ``text`` holds a code point UTF-8 cannot encode (what intake refuses)."""
    return LONE_SURROGATE.search(text) is not None


class Invalid(ValueError):
    """``where`` (a dotted path; ``body`` for the whole) is not acceptable: ``problem`` says why."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


def json_value(text: str | bytes) -> Any:
    """``text`` parsed, or ``Invalid`` at ``body`` (a document nested deeper than the parser goes
    included)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as error:
        raise Invalid("body", f"not JSON ({error})") from None


def to_json(fields: Mapping[str, Any], *, ascii_only: bool = True) -> str:
    """Compact JSON of ``fields`` without the Nones; instants in ISO 8601, enums by value; text
    escaped to ASCII unless ``ascii_only`` is off."""
    present = {name: value for name, value in fields.items() if value is not None}
    return json.dumps(present, separators=(",", ":"), default=_plain, ensure_ascii=ascii_only)


# What SQS refuses in a message body besides lone surrogates (intake refuses those): the two
# non-characters at the end of the Basic Multilingual Plane; JSON escapes them instead.
_NOT_FOR_SQS = {"\ufffe": "\\ufffe", "\uffff": "\\uffff"}


def queue_json(fields: Mapping[str, Any]) -> str:
    """``to_json`` with text kept as UTF-8, for a queue message body (``_Message.queue_body``)."""
    text = to_json(fields, ascii_only=False)
    for code_point, escape in _NOT_FOR_SQS.items():
        text = text.replace(code_point, escape)
    return text


def _plain(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(f"a {type(value).__name__} is not JSON")


def checked_string(
    value: object,
    where: str,
    *,
    min_length: int = 0,
    max_length: int | None = None,
    pattern: re.Pattern[str] | None = None,
) -> str:
    if not isinstance(value, str):
        raise Invalid(where, "should be a string")
    if has_lone_surrogate(value):
        raise Invalid(where, "is not Unicode text: it holds a lone UTF-16 surrogate (\\ud800-\\udfff)")
    if len(value) < min_length:
        raise Invalid(where, f"should have at least {min_length} characters")
    if max_length is not None and len(value) > max_length:
        raise Invalid(where, f"should have at most {max_length} characters")
    if pattern is not None and not pattern.fullmatch(value):
        raise Invalid(where, f"should match {pattern.pattern}")
    return value


def checked_integer(value: object, where: str, *, low: int | None = None, high: int | None = None) -> int:
    """An integer in [``low``, ``high``]; a string of digits is read as its number."""
    if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(where, "should be an integer")
    if low is not None and value < low:
        raise Invalid(where, f"should be at least {low}")
    if high is not None and value > high:
        raise Invalid(where, f"should be at most {high}")
    return value


def checked_instant(value: object, where: str, *, aware: bool = True) -> dt.datetime:
    """An ISO 8601 date-time, or seconds (milliseconds, when that large) since the epoch; with
    ``aware``, one without a time zone offset is refused."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = value / 1000 if abs(value) >= _MILLISECONDS_FROM else value
            return dt.datetime.fromtimestamp(seconds, dt.UTC)
        except (OverflowError, OSError, ValueError):
            raise Invalid(where, "is out of range") from None
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            raise Invalid(where, "should be an ISO 8601 date-time") from None
    else:
        raise Invalid(where, "should be a date-time")
    if aware and moment.tzinfo is None:
        raise Invalid(where, "needs a time zone offset")
    return moment


def checked_choice[E: StrEnum](value: object, where: str, kind: type[E]) -> E:
    if isinstance(value, kind):
        return value
    if isinstance(value, str) and value in kind._value2member_map_:
        return kind(value)
    raise Invalid(where, f"should be one of {', '.join(kind)}")


class Fields:
    """The fields of one JSON object, each read once and checked."""

    def __init__(self, raw: object, where: str = "") -> None:
        if not isinstance(raw, dict):
            raise Invalid(where or "body", "should be an object")
        self._raw: dict[str, Any] = raw
        self._where = where
        self._read: set[str] = set()

    def at(self, name: str) -> str:
        """Where field ``name`` is, for an error."""
        return f"{self._where}.{name}" if self._where else name

    def get(self, name: str) -> Any:
        """Field ``name`` as it came (None when absent or null)."""
        self._read.add(name)
        return self._raw.get(name)

    def required(self, name: str) -> Any:
        value = self.get(name)
        if value is None:
            raise Invalid(self.at(name), "is required")
        return value

    def unknown(self) -> dict[str, Any]:
        """The fields not read."""
        return {name: value for name, value in self._raw.items() if name not in self._read}

    def no_others(self) -> None:
        """Refuse a field that is not part of the shape."""
        for name in self.unknown():
            raise Invalid(self.at(name), "is not a field of this shape")
