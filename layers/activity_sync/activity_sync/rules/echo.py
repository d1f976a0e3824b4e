"""R14: no echoes. Pure predicates that tell the service's own writes, seen coming back from the other
side, from changes people made.

How a record is recognised:
* A Salesforce Task/Event the service created from HubSpot carries `HubSpot_Activity_Id__c`; a HubSpot
  activity the service created from Salesforce carries `activity_sync_salesforce_id`. Such a copy is
  never synced back as a new record (`ChangeOrigin.EDIT_OF_OWN_COPY` at most, which may update the
  original but never creates one).
* A change is the service's own write bouncing back (`ChangeOrigin.OWN_WRITE`) when the synced content
  still equals what the service last wrote (`WrittenVersion`, a fingerprint of exactly the fields it
  wrote), or - Salesforce - when the service's API user made the last modification and the
  SystemModstamp equals the one read back after that write.

Conflicting edits (both sides changed the same pair since the last sync): the later modification wins;
an exact tie goes to Salesforce, where reps own Assigned To and completion (R13).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum

from activity_sync.domain import (
    HUBSPOT_SALESFORCE_ID_PROPERTY,
    SALESFORCE_EXTERNAL_ID_FIELD,
    HubSpotActivity,
)
from activity_sync.rules.salesforce_ids import same_salesforce_id

# HubSpot marks a change made through an app's token with changeSource INTEGRATION and the app's id
# as sourceId (developers.hubspot.com/docs/api/webhooks, the event's fields). The service writes with
# the private app that owns its webhook subscriptions, whose id every event carries as appId.
HUBSPOT_INTEGRATION_SOURCE = "INTEGRATION"


def made_by_this_app(change_source: str | None, source_id: str | None, app_id: int | None) -> bool:
    """A HubSpot webhook event about the service's own write: dropped before it is queued (R14,
    R18). Anything else - a person, a workflow, another integration, or a source id in a form this
    does not recognise - passes, and the syncer's own echo checks still apply."""
    return (
        change_source == HUBSPOT_INTEGRATION_SOURCE
        and app_id is not None
        and (source_id or "").strip() == str(app_id)
    )


class ChangeOrigin(StrEnum):
    OWN_WRITE = "own_write"  # the service's own write coming back: skip (SkipReason.ECHO)
    EDIT_OF_OWN_COPY = "edit_of_own_copy"  # a person edited a copy the service made: never create
    NATIVE = "native"  # a record that belongs to this side: sync it (create or update)


class Side(StrEnum):
    HUBSPOT = "hubspot"
    SALESFORCE = "salesforce"


def _canonical(value: object) -> object:
    """A JSON-ready form that is equal for values equal in meaning (None/empty, 5 and 5.0, CRLF/LF,
    the same instant in different offsets)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"cannot fingerprint naive datetime {value.isoformat()}")
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        return value.replace("\r\n", "\n").strip()
    raise TypeError(f"cannot fingerprint a {type(value).__name__}")


def fingerprint(fields: Mapping[str, object], keys: Iterable[str] | None = None) -> str:
    """A stable hash of synced field values (of `keys` only, when given). Absent, None and empty
    values are the same thing, so a cleared field read back as null still matches."""
    names = set(fields) if keys is None else set(keys)
    canonical: dict[str, object] = {}
    for name in sorted(names):
        value = _canonical(fields.get(name))
        if value is not None and value != "":
            canonical[name] = value
    payload = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class WrittenVersion:
    """What the service remembers about its last write of a record: a fingerprint of exactly the
    fields it wrote, their names, and the modification stamp read back after the write (if any)."""

    fingerprint: str
    field_names: tuple[str, ...]
    modified_at: datetime | None = None

    @classmethod
    def of(cls, written_fields: Mapping[str, object], modified_at: datetime | None = None) -> WrittenVersion:
        names = tuple(sorted(written_fields))
        return cls(fingerprint(written_fields, names), names, modified_at)

    def matches(self, current_fields: Mapping[str, object]) -> bool:
        """Whether the record's current values of the written fields are still what was written."""
        return fingerprint(current_fields, self.field_names) == self.fingerprint


def parse_salesforce_datetime(value: object) -> datetime | None:
    """A Salesforce timestamp (`2024-05-01T10:00:00.000+0000`) or datetime as an aware datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a Salesforce datetime")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone offset")
    return moment


def same_version(stored: object, modified_at: datetime | None) -> bool:
    """R14/R18: whether the modification instant a link stored at its last sync (ISO text, or
    Salesforce's ``+0000`` form) is ``modified_at``: the record has not changed since, so reading
    it again would find nothing to write."""
    if not isinstance(stored, str) or not stored or modified_at is None:
        return False
    try:
        parsed = parse_salesforce_datetime(stored) if "+0000" in stored else datetime.fromisoformat(stored)
    except ValueError:
        return False
    return parsed is not None and parsed == modified_at


def carries_hubspot_activity_id(record: Mapping[str, object]) -> bool:
    """A Salesforce Task/Event the service created from a HubSpot activity."""
    value = record.get(SALESFORCE_EXTERNAL_ID_FIELD)
    return isinstance(value, str) and bool(value.strip())


def carries_salesforce_id(activity: HubSpotActivity) -> bool:
    """A HubSpot activity the service created from a Salesforce record: never a new Task (R14)."""
    return is_copy_from_salesforce(activity.properties)


# What a person may change on a task the service copied from Salesforce, and what then flows back
# to the Salesforce original (R14): the state as the service wrote it is kept with the link.
TASK_STATE_PROPERTIES = ("hs_task_status", "hs_task_priority", "hs_task_subject")


def is_copy_from_salesforce(properties: Mapping[str, object]) -> bool:
    """A HubSpot activity's properties name a Salesforce original: the service made it (R14)."""
    value = properties.get(HUBSPOT_SALESFORCE_ID_PROPERTY)
    return isinstance(value, str) and bool(value.strip())


def copy_edit_flows_back(
    is_task: bool, current: Mapping[str, object], written_task_state: Mapping[str, object] | None
) -> bool:
    """Whether a change seen on a HubSpot copy of a Salesforce record goes back to the original:
    only a task's state (completed, re-prioritised, renamed) a person changed since the service
    wrote it. Anything else about a copy - the service's own write coming back, an edit of a note
    copy - is an echo (R14)."""
    if not is_task or not written_task_state:
        return False
    return any((current.get(name) or None) != (value or None) for name, value in written_task_state.items())


def is_own_salesforce_write(
    record: Mapping[str, object], service_user_id: str, last_written: WrittenVersion | None
) -> bool:
    """The record's last modification is the service's own write: made by its API user and stamped
    with the SystemModstamp read back after that write."""
    if last_written is None or last_written.modified_at is None:
        return False
    last_modified_by = record.get("LastModifiedById")
    if not isinstance(last_modified_by, str) or not same_salesforce_id(last_modified_by, service_user_id):
        return False
    return parse_salesforce_datetime(record.get("SystemModstamp")) == last_written.modified_at


def classify_salesforce_change(
    record: Mapping[str, object], *, service_user_id: str, last_written: WrittenVersion | None
) -> ChangeOrigin:
    """R14 for a Salesforce Task/Event seen by the poller or an outbound message. `last_written` is
    the service's last write of this record (None if it never wrote it)."""
    if last_written is not None and (
        is_own_salesforce_write(record, service_user_id, last_written) or last_written.matches(record)
    ):
        return ChangeOrigin.OWN_WRITE
    if carries_hubspot_activity_id(record):
        return ChangeOrigin.EDIT_OF_OWN_COPY
    return ChangeOrigin.NATIVE


def classify_hubspot_change(activity: HubSpotActivity, last_written: WrittenVersion | None) -> ChangeOrigin:
    """R14 for a HubSpot activity seen by a webhook or the poller. `last_written` is the service's last
    write of this activity (its properties, as written), None if it never wrote it."""
    if last_written is not None and (
        last_written.matches(activity.properties)
        or (last_written.modified_at is not None and activity.updated_at == last_written.modified_at)
    ):
        return ChangeOrigin.OWN_WRITE
    if carries_salesforce_id(activity):
        return ChangeOrigin.EDIT_OF_OWN_COPY
    return ChangeOrigin.NATIVE


def resolve_conflicting_edit(hubspot_modified_at: datetime, salesforce_modified_at: datetime) -> Side:
    """The side whose edit wins when both changed since the last sync: the later one; a tie goes to
    Salesforce."""
    for moment in (hubspot_modified_at, salesforce_modified_at):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"modification times must be timezone-aware, got {moment.isoformat()}")
    return Side.HUBSPOT if hubspot_modified_at > salesforce_modified_at else Side.SALESFORCE
