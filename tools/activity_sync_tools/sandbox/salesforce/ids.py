"""Salesforce record ids: 15-character case-sensitive ids and their 18-character case-insensitive
form, whose 3-character suffix encodes which letters of the three 5-character groups are upper
case (alphabet ``A-Z0-5``).

The sandbox mints ids from a counter per key prefix, so the same sequence of creations always
yields the same ids. The counter is written in base 62 with digits before upper before lower case
letters, which keeps ids of one object in creation order when sorted as strings (as ``ORDER BY Id``
does in a real org, roughly).
"""

from __future__ import annotations

import string
import threading

from activity_sync_tools.sandbox.salesforce.errors import SalesforceError

SUFFIX_ALPHABET = string.ascii_uppercase + "012345"
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_ID_CHARACTERS = frozenset(string.ascii_letters + string.digits)

# The two characters after the key prefix hold the pod / instance in real ids.
_INSTANCE = "8d"


def checksum_suffix(id15: str) -> str:
    """The 3-character suffix that turns a 15-character id into its 18-character form."""
    if len(id15) != 15:
        raise ValueError(f"expected a 15-character id, got {id15!r}")
    suffix = ""
    for group in range(3):
        bits = 0
        for position, char in enumerate(id15[group * 5 : group * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix += SUFFIX_ALPHABET[bits]
    return suffix


def to_18(id15: str) -> str:
    return id15 + checksum_suffix(id15)


def parse_id(raw: str) -> str | None:
    """The canonical 18-character id for a 15- or 18-character input, or None when ``raw`` is not
    a well-formed id. An 18-character id is case-insensitive: its suffix restores the case of the
    first 15 characters."""
    if not isinstance(raw, str) or len(raw) not in (15, 18) or not set(raw) <= _ID_CHARACTERS:
        return None
    if len(raw) == 15:
        return to_18(raw)
    suffix = raw[15:].upper()
    if any(char not in SUFFIX_ALPHABET for char in suffix):
        return None
    restored = []
    for group in range(3):
        bits = SUFFIX_ALPHABET.index(suffix[group])
        for position, char in enumerate(raw[group * 5 : group * 5 + 5]):
            restored.append(char.upper() if bits & (1 << position) else char.lower())
    id15 = "".join(restored)
    if checksum_suffix(id15) != suffix:
        return None
    return id15 + suffix


def require_id(raw: object, label: str = "id") -> str:
    """Like :func:`parse_id` but raises Salesforce's MALFORMED_ID."""
    parsed = parse_id(raw) if isinstance(raw, str) else None
    if parsed is None:
        raise SalesforceError("MALFORMED_ID", f"{label}: id value of incorrect type: {raw}", 400, [])
    return parsed


def key_prefix(record_id: str) -> str:
    return record_id[:3]


class IdMinter:
    """Deterministic ids per key prefix (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, int] = {}

    def reset(self) -> None:
        with self._lock:
            self._counters.clear()

    def mint(self, prefix: str) -> str:
        if len(prefix) != 3:
            raise ValueError(f"a key prefix has 3 characters, got {prefix!r}")
        with self._lock:
            number = self._counters.get(prefix, 0) + 1
            self._counters[prefix] = number
        digits = ""
        while number:
            number, remainder = divmod(number, 62)
            digits = BASE62[remainder] + digits
        body = digits.rjust(10, "0")
        return to_18(prefix + _INSTANCE + body)
