"""R5 and R11: which activities a switch lets through, measured against its `enabled_at`; and R16's
documented reasons for every activity that does not sync.

Boundaries (the SPEC is silent on them):

* An activity that happened exactly at `enabled_at` counts as after it: the switch was on.
* Marketing emails look back 30 days (30 x 24 h) and form submissions 365 days (365 x 24 h), both
  inclusive: an event exactly 30 (365) days before `enabled_at` syncs, one a microsecond earlier does
  not. "One year" is a fixed 365 days, not a calendar year: it is measured the same way as the 30-day
  window, does not depend on a time zone, and has no Feb-29 special case. The cost: when the year
  before `enabled_at` contains a Feb 29, the window reaches back only to the day after the same
  calendar date, so a submission made at the very same date and time a year earlier (366 days
  before) is out. Either reading meets the SPEC's "within one year" to within a day.
* Windows apply to when the activity happened (`occurred_at`), not to later edits: a note written
  before the switch went on does not sync when someone edits it afterwards (R5 "not retroactive").
  Salesforce records are different (R11): there an update after the switch went on does sync.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from activity_sync.domain import ContactCandidate, HubSpotActivity, HubSpotActivityType, TypeSettings
from activity_sync.rules.switches import is_on

MARKETING_EMAIL_LOOKBACK = timedelta(days=30)
FORM_SUBMISSION_LOOKBACK = timedelta(days=365)

_LOOKBACK_BY_TYPE: dict[HubSpotActivityType, timedelta] = {
    HubSpotActivityType.MARKETING_EMAIL: MARKETING_EMAIL_LOOKBACK,
    HubSpotActivityType.FORM_SUBMISSION: FORM_SUBMISSION_LOOKBACK,
}


class SkipReason(StrEnum):
    """R16: why an activity or record is not synced (now). Each value is documented by `description`."""

    TYPE_OFF = "type_off"
    OUTSIDE_WINDOW = "outside_window"
    CONTACT_NOT_SYNCING = "contact_not_syncing"
    ECHO = "echo"

    @property
    def description(self) -> str:
        return _REASON_DESCRIPTIONS[self]


_REASON_DESCRIPTIONS: dict[SkipReason, str] = {
    SkipReason.TYPE_OFF: "The switch for this activity type is off (S1); it is re-evaluated when the "
    "switch is turned on, within the R5 windows measured from that moment.",
    SkipReason.OUTSIDE_WINDOW: "The activity happened before its type's window opened (R5/R11): "
    "switching a type on is not retroactive. Bring history over with an explicit backfill.",
    SkipReason.CONTACT_NOT_SYNCING: "None of the activity's contacts syncs with a Salesforce Contact "
    "or Lead yet (R4); it waits and syncs when one of them starts to sync.",
    SkipReason.ECHO: "The service wrote this record or this change itself (R14); syncing it back "
    "would duplicate it.",
}


@dataclass(frozen=True)
class SyncDecision:
    """Either `should_sync`, or a documented `reason` not to (never both, never neither)."""

    should_sync: bool
    reason: SkipReason | None = None

    def __post_init__(self) -> None:
        if self.should_sync == (self.reason is not None):
            raise ValueError("a decision either syncs or carries a reason, not both or neither")

    @classmethod
    def sync(cls) -> SyncDecision:
        return cls(should_sync=True)

    @classmethod
    def skip(cls, reason: SkipReason) -> SyncDecision:
        return cls(should_sync=False, reason=reason)


def _require_aware(value: datetime, what: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")


def lookback(activity_type: HubSpotActivityType) -> timedelta:
    """How far before `enabled_at` activities of this type still sync (zero: forward only)."""
    return _LOOKBACK_BY_TYPE.get(HubSpotActivityType(activity_type), timedelta(0))


def window_start(activity_type: HubSpotActivityType, enabled_at: datetime) -> datetime:
    """The earliest `occurred_at` that syncs (inclusive)."""
    return enabled_at - lookback(activity_type)


def check_window(
    activity_type: HubSpotActivityType, occurred_at: datetime, settings: TypeSettings
) -> SyncDecision:
    """R5 for one HubSpot activity: the switch is on and the activity is inside its window."""
    _require_aware(occurred_at, "occurred_at")
    if not is_on(settings) or settings.enabled_at is None:
        return SyncDecision.skip(SkipReason.TYPE_OFF)
    if occurred_at < window_start(activity_type, settings.enabled_at):
        return SyncDecision.skip(SkipReason.OUTSIDE_WINDOW)
    return SyncDecision.sync()


def decide_hubspot_activity(
    activity: HubSpotActivity, settings: TypeSettings, chosen_contact: ContactCandidate | None
) -> SyncDecision:
    """R2/R4/R5 together. The reasons are checked in this order: the switch (TYPE_OFF), the window
    (OUTSIDE_WINDOW, final), then the contact (CONTACT_NOT_SYNCING, waits for the contact to sync).
    `chosen_contact` is the result of `contact_choice.choose_contact`."""
    decision = check_window(activity.type, activity.occurred_at, settings)
    if not decision.should_sync:
        return decision
    if chosen_contact is None or chosen_contact.salesforce_person_id is None:
        return SyncDecision.skip(SkipReason.CONTACT_NOT_SYNCING)
    return SyncDecision.sync()


def should_sync_salesforce_change(
    created_at: datetime, last_modified_at: datetime, settings: TypeSettings
) -> SyncDecision:
    """R11: a Salesforce record syncs when it was created or last modified at or after the moment its
    switch went on; nothing syncs while the switch is off, and turning it on imports nothing itself."""
    _require_aware(created_at, "created_at")
    _require_aware(last_modified_at, "last_modified_at")
    if not is_on(settings) or settings.enabled_at is None:
        return SyncDecision.skip(SkipReason.TYPE_OFF)
    if created_at >= settings.enabled_at or last_modified_at >= settings.enabled_at:
        return SyncDecision.sync()
    return SyncDecision.skip(SkipReason.OUTSIDE_WINDOW)
