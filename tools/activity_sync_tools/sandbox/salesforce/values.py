"""Field values: how the REST API writes them (``2024-01-31T12:00:00.000+0000``) and which JSON
inputs it accepts for each field type.

Records are stored with Python values: ``str``, ``bool``, ``int``, ``float``, aware
``datetime`` (UTC, millisecond precision), ``date`` or ``None``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from activity_sync_tools.sandbox.salesforce.errors import json_parser_error

Value = str | bool | int | float | dt.datetime | dt.date | None

_DATETIME_INPUT = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(Z|[+-]\d{2}(?::?\d{2})?)?$"
)
_DATE_INPUT = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


def truncate_ms(instant: dt.datetime) -> dt.datetime:
    """Salesforce keeps milliseconds, not microseconds."""
    return instant.astimezone(dt.UTC).replace(microsecond=instant.microsecond // 1000 * 1000)


def format_datetime(instant: dt.datetime) -> str:
    utc = instant.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def format_soap_datetime(instant: dt.datetime) -> str:
    utc = instant.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_datetime(text: str) -> dt.datetime | None:
    """An ISO 8601 date-time as Salesforce accepts it (``Z``, ``+0000`` or ``+00:00``; a missing
    zone means UTC), or None."""
    match = _DATETIME_INPUT.match(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        micro = int((fraction or "0")[:6].ljust(6, "0"))
        tzinfo: dt.tzinfo = dt.UTC
        if zone and zone != "Z":
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            offset = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
            tzinfo = dt.timezone(sign * offset)
        instant = dt.datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro, tzinfo
        )
    except ValueError:
        return None
    return truncate_ms(instant)


def parse_date(text: str) -> dt.date | None:
    match = _DATE_INPUT.match(text.strip())
    if not match:
        return None
    try:
        return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def to_json(value: Value) -> Any:
    """A stored value as the REST API writes it."""
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def to_soap_text(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return format_soap_datetime(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _cannot_deserialize(kind: str, raw: Any) -> Exception:
    token = (
        "VALUE_STRING" if isinstance(raw, str) else "VALUE_NUMBER_INT" if isinstance(raw, int) else "VALUE"
    )
    return json_parser_error(
        f"Cannot deserialize instance of {kind} from {token} value {raw} or request may be missing a "
        "required field"
    )


# The text types a field of the sandbox's schema may have.
TEXT_FIELD_TYPES = frozenset({"string", "textarea", "email", "phone", "url", "picklist", "combobox"})
# The types whose values are taken and compared as text (Salesforce's other text types too).
STRING_TYPES = TEXT_FIELD_TYPES | {"multipicklist", "encryptedstring"}
NUMBER_TYPES = frozenset({"double", "currency", "percent"})


def coerce(field_type: str, raw: Any) -> Value:
    """A JSON input value for a field of ``field_type`` (ids are checked by the caller)."""
    if raw is None:
        return None
    if field_type in STRING_TYPES or field_type in ("id", "reference"):
        if isinstance(raw, bool):
            return "true" if raw else "false"
        if isinstance(raw, int | float):
            return str(raw)
        if isinstance(raw, str):
            return raw
        raise _cannot_deserialize("string", raw)
    if field_type == "boolean":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        raise _cannot_deserialize("boolean", raw)
    if field_type == "int":
        if isinstance(raw, bool):
            raise _cannot_deserialize("int", raw)
        if isinstance(raw, int):
            return raw
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        if isinstance(raw, str) and re.fullmatch(r"-?\d+", raw.strip()):
            return int(raw)
        raise _cannot_deserialize("int", raw)
    if field_type in NUMBER_TYPES:
        if isinstance(raw, bool):
            raise _cannot_deserialize("double", raw)
        if isinstance(raw, int | float):
            return float(raw)
        if isinstance(raw, str):
            try:
                return float(raw)
            except ValueError:
                raise _cannot_deserialize("double", raw) from None
        raise _cannot_deserialize("double", raw)
    if field_type == "datetime":
        parsed = parse_datetime(raw) if isinstance(raw, str) else None
        if parsed is None:
            raise _cannot_deserialize("datetime", raw)
        return parsed
    if field_type == "date":
        parsed_date = parse_date(raw[:10]) if isinstance(raw, str) and len(raw) >= 10 else None
        if parsed_date is None or (isinstance(raw, str) and len(raw) > 10 and parse_datetime(raw) is None):
            raise _cannot_deserialize("date", raw)
        return parsed_date
    raise _cannot_deserialize(field_type, raw)
