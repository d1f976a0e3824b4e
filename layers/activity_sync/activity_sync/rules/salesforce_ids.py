"""Salesforce record ids: 15/18-character forms, validation, normalisation and key prefixes.

A Salesforce id is 15 case-sensitive characters; the 18-character form appends a 3-character suffix
that encodes which of the first 15 characters are upper-case letters, so it survives case-insensitive
systems (spreadsheets, some databases). The service stores and compares the 18-character form.
"""

from __future__ import annotations

from enum import StrEnum

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_CHARACTERS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_CHUNK = 5


class InvalidSalesforceIdError(ValueError):
    """Raised for text that is not a Salesforce record id (or not of the expected object)."""


class SalesforceObjectType(StrEnum):
    ACCOUNT = "Account"
    CONTACT = "Contact"
    LEAD = "Lead"
    OPPORTUNITY = "Opportunity"
    USER = "User"
    TASK = "Task"
    EVENT = "Event"
    ORGANIZATION = "Organization"


KEY_PREFIXES: dict[str, SalesforceObjectType] = {
    "001": SalesforceObjectType.ACCOUNT,
    "003": SalesforceObjectType.CONTACT,
    "00Q": SalesforceObjectType.LEAD,
    "006": SalesforceObjectType.OPPORTUNITY,
    "005": SalesforceObjectType.USER,
    "00T": SalesforceObjectType.TASK,
    "00U": SalesforceObjectType.EVENT,
    "00D": SalesforceObjectType.ORGANIZATION,
}


def checksum_suffix(id15: str) -> str:
    """The 3-character suffix of a 15-character id: for each 5-character chunk, bit i is set when the
    chunk's i-th character is an upper-case letter; the 5-bit number indexes A-Z0-5."""
    if len(id15) != 15 or not set(id15) <= _ID_CHARACTERS:
        raise InvalidSalesforceIdError(f"{id15!r} is not a 15-character Salesforce id")
    suffix = ""
    for start in range(0, 15, _CHUNK):
        bits = sum(1 << i for i, char in enumerate(id15[start : start + _CHUNK]) if "A" <= char <= "Z")
        suffix += _SUFFIX_ALPHABET[bits]
    return suffix


def to_18(id15: str) -> str:
    """The 18-character form of a 15-character (case-sensitive) id."""
    return id15 + checksum_suffix(id15)


def _restore_case(id18: str) -> str:
    """The correctly cased 15-character id behind an 18-character id whose letters may have lost their
    case: the suffix says which positions are upper-case letters."""
    body, suffix = id18[:15], id18[15:].upper()
    restored = []
    for chunk_index, suffix_char in enumerate(suffix):
        bits = _SUFFIX_ALPHABET.find(suffix_char)
        if bits < 0:
            raise InvalidSalesforceIdError(f"{id18!r} has an invalid checksum suffix {suffix!r}")
        for offset, char in enumerate(body[chunk_index * _CHUNK : (chunk_index + 1) * _CHUNK]):
            if bits & (1 << offset):
                if not char.isalpha():
                    raise InvalidSalesforceIdError(f"{id18!r} does not match its checksum suffix")
                restored.append(char.upper())
            else:
                restored.append(char.lower())
    return "".join(restored)


def normalize_salesforce_id(value: str) -> str:
    """User or API input (15 or 18 characters, surrounding whitespace ignored) as the canonical
    18-character id. An 18-character id is trusted for its suffix, not its case, so an id lower-cased
    by a spreadsheet is repaired; a suffix that contradicts the characters is an error."""
    candidate = value.strip()
    if not set(candidate) <= _ID_CHARACTERS or len(candidate) not in (15, 18):
        raise InvalidSalesforceIdError(
            f"{value!r} is not a Salesforce id (15 or 18 letters and digits, like 0035g00000AbCdEAAV)"
        )
    if len(candidate) == 15:
        return to_18(candidate)
    return to_18(_restore_case(candidate))


def is_valid_salesforce_id(value: str) -> bool:
    try:
        normalize_salesforce_id(value)
    except InvalidSalesforceIdError:
        return False
    return True


def to_15(value: str) -> str:
    """The canonical, case-sensitive 15-character form (what Salesforce's UI shows in URLs)."""
    return normalize_salesforce_id(value)[:15]


def same_salesforce_id(first: str, second: str) -> bool:
    """Whether two ids (either form) name the same record; invalid ids never match."""
    try:
        return normalize_salesforce_id(first) == normalize_salesforce_id(second)
    except InvalidSalesforceIdError:
        return False


def object_type_of(value: str) -> SalesforceObjectType | None:
    """The object an id belongs to, from its 3-character key prefix; None for other objects."""
    return KEY_PREFIXES.get(normalize_salesforce_id(value)[:3])


def require_object_type(value: str, *expected: SalesforceObjectType) -> str:
    """The normalised id, or a clear error when it is not an id of one of the expected objects
    (e.g. a WhoId must be a Contact or a Lead)."""
    normalized = normalize_salesforce_id(value)
    actual = KEY_PREFIXES.get(normalized[:3])
    if actual not in expected:
        wanted = " or ".join(object_type.value for object_type in expected)
        found = actual.value if actual else f"an object with key prefix {normalized[:3]}"
        raise InvalidSalesforceIdError(f"{value!r} is {found}, expected {wanted}")
    return normalized
