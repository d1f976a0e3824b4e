"""R5 (HubSpot->Salesforce windows), R11 (Salesforce->HubSpot: created or updated after switch-on)
and R16 (every non-sync has a documented reason)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from activity_sync.domain import (
    ContactCandidate,
    EmailEventKind,
    HubSpotActivity,
    HubSpotActivityType,
    TypeSettings,
)
from activity_sync.rules.windows import (
    SkipReason,
    SyncDecision,
    check_window,
    decide_hubspot_activity,
    lookback,
    should_sync_salesforce_change,
    window_start,
)

ENABLED_AT = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
ON = TypeSettings(enabled=True, enabled_at=ENABLED_AT)
TINY = timedelta(microseconds=1)

FORWARD_ONLY = [
    HubSpotActivityType.SALES_EMAIL,
    HubSpotActivityType.TASK,
    HubSpotActivityType.MEETING,
    HubSpotActivityType.NOTE,
    HubSpotActivityType.DOCUMENT_VIEW,
    HubSpotActivityType.CALL,
    HubSpotActivityType.INTEGRATION_EVENT,
]
SYNCS = SyncDecision.sync()
OUTSIDE = SyncDecision.skip(SkipReason.OUTSIDE_WINDOW)
SYNCING_CONTACT = ContactCandidate("1", ENABLED_AT, salesforce_person_id="0035g00000AbCdEAAV")


def marketing_open(occurred_at: datetime) -> HubSpotActivity:
    return HubSpotActivity(
        type=HubSpotActivityType.MARKETING_EMAIL,
        id="ev-1",
        occurred_at=occurred_at,
        email_event=EmailEventKind.OPEN,
    )


@pytest.mark.parametrize("activity_type", FORWARD_ONLY)
def test_r5_forward_only_activity_exactly_at_enabled_at_syncs(activity_type: HubSpotActivityType) -> None:
    # Given a forward-only type switched on at noon / When an activity happened exactly at noon
    # Then it counts as after the switch went on
    assert check_window(activity_type, ENABLED_AT, ON) == SYNCS


@pytest.mark.parametrize("activity_type", FORWARD_ONLY)
def test_r5_forward_only_activity_a_microsecond_before_enabling_never_syncs(
    activity_type: HubSpotActivityType,
) -> None:
    # Given a forward-only type / When the activity happened just before enabling / Then not retroactive
    assert check_window(activity_type, ENABLED_AT - TINY, ON) == OUTSIDE


@pytest.mark.parametrize("activity_type", FORWARD_ONLY)
def test_r5_forward_only_activity_after_enabling_syncs(activity_type: HubSpotActivityType) -> None:
    # Given a forward-only type / When the activity happened a day after enabling / Then it syncs
    assert check_window(activity_type, ENABLED_AT + timedelta(days=1), ON) == SYNCS


def test_r5_marketing_email_event_29_days_before_enabling_syncs() -> None:
    # Given marketing emails switched on / When an open happened 29 days earlier / Then it syncs
    assert check_window(HubSpotActivityType.MARKETING_EMAIL, ENABLED_AT - timedelta(days=29), ON) == SYNCS


def test_r5_marketing_email_event_exactly_30_days_before_enabling_syncs() -> None:
    # Given marketing emails switched on / When an event happened exactly 30 days earlier
    # Then the boundary is inclusive: it syncs
    assert check_window(HubSpotActivityType.MARKETING_EMAIL, ENABLED_AT - timedelta(days=30), ON) == SYNCS


def test_r5_marketing_email_event_just_over_30_days_before_enabling_is_outside_window() -> None:
    # Given marketing emails switched on / When an event happened 30 days and a microsecond earlier
    # Then it is outside the window
    assert (
        check_window(HubSpotActivityType.MARKETING_EMAIL, ENABLED_AT - timedelta(days=30) - TINY, ON)
        == OUTSIDE
    )


def test_r5_form_submission_364_days_before_enabling_syncs() -> None:
    # Given forms switched on / When a submission happened 364 days earlier / Then it syncs
    assert check_window(HubSpotActivityType.FORM_SUBMISSION, ENABLED_AT - timedelta(days=364), ON) == SYNCS


def test_r5_form_submission_exactly_365_days_before_enabling_syncs() -> None:
    # Given forms switched on / When a submission happened exactly 365 days earlier / Then it syncs
    assert check_window(HubSpotActivityType.FORM_SUBMISSION, ENABLED_AT - timedelta(days=365), ON) == SYNCS


def test_r5_form_submission_just_over_365_days_before_enabling_is_outside_window() -> None:
    # Given forms switched on / When a submission happened 365 days and a microsecond earlier
    # Then it is outside the window
    assert (
        check_window(HubSpotActivityType.FORM_SUBMISSION, ENABLED_AT - timedelta(days=365) - TINY, ON)
        == OUTSIDE
    )


def test_r5_form_window_is_365_days_so_the_same_date_a_year_before_a_leap_day_is_outside() -> None:
    # Given forms switched on 2024-03-01 12:00 (the year before contains 2024-02-29)
    # When a submission happened 2023-03-01 12:00, the same calendar date a year earlier (366 days)
    same_date_last_year = datetime(2023, 3, 1, 12, 0, tzinfo=UTC)
    # Then it is outside: the window opens 365 days back, on 2023-03-02 12:00
    assert window_start(HubSpotActivityType.FORM_SUBMISSION, ENABLED_AT) == datetime(
        2023, 3, 2, 12, 0, tzinfo=UTC
    )
    assert check_window(HubSpotActivityType.FORM_SUBMISSION, same_date_last_year, ON) == OUTSIDE


def test_r5_windows_compare_instants_whatever_the_time_zone() -> None:
    # Given enabling at 12:00 UTC / When a note was written at 08:00 in UTC-4 (= 12:00 UTC)
    new_york_summer = timezone(timedelta(hours=-4))
    same_instant = datetime(2024, 3, 1, 8, 0, tzinfo=new_york_summer)
    # Then it is exactly at the boundary and syncs
    assert check_window(HubSpotActivityType.NOTE, same_instant, ON) == SYNCS


def test_r5_lookbacks_are_30_and_365_days_and_zero_for_forward_only_types() -> None:
    # Given the R5 table / When asking each type's look-back / Then 30 d, 365 d, and 0 for the rest
    assert lookback(HubSpotActivityType.MARKETING_EMAIL) == timedelta(days=30)
    assert lookback(HubSpotActivityType.FORM_SUBMISSION) == timedelta(days=365)
    assert {lookback(activity_type) for activity_type in FORWARD_ONLY} == {timedelta(0)}


@pytest.mark.parametrize(
    "settings",
    [TypeSettings(), TypeSettings(enabled=False, enabled_at=ENABLED_AT), TypeSettings(enabled=True)],
    ids=["never-on", "turned-off", "on-without-stamp"],
)
def test_s1_type_switched_off_skips_with_type_off_even_inside_the_window(settings: TypeSettings) -> None:
    # Given a switch that is off / When an activity inside any window arrives / Then TYPE_OFF
    decision = check_window(HubSpotActivityType.NOTE, ENABLED_AT + timedelta(days=1), settings)
    assert decision == SyncDecision.skip(SkipReason.TYPE_OFF)


def test_r4_activity_without_a_syncing_contact_waits_with_contact_not_syncing() -> None:
    # Given an open inside the window whose contacts do not sync (no chosen contact)
    # When deciding / Then it waits for a contact to sync
    decision = decide_hubspot_activity(marketing_open(ENABLED_AT), ON, None)
    assert decision == SyncDecision.skip(SkipReason.CONTACT_NOT_SYNCING)


def test_r4_activity_inside_window_with_syncing_contact_syncs() -> None:
    # Given an open inside the window and a contact that syncs / When deciding / Then it syncs
    assert decide_hubspot_activity(marketing_open(ENABLED_AT), ON, SYNCING_CONTACT) == SYNCS


def test_r16_reasons_are_checked_switch_first_then_window_then_contact() -> None:
    # Given an open 60 days before enabling, no syncing contact
    old_open = marketing_open(ENABLED_AT - timedelta(days=60))
    # When the switch is off / Then TYPE_OFF; when on / Then OUTSIDE_WINDOW (final, not waiting)
    assert decide_hubspot_activity(old_open, TypeSettings(), None).reason is SkipReason.TYPE_OFF
    assert decide_hubspot_activity(old_open, ON, None).reason is SkipReason.OUTSIDE_WINDOW


@pytest.mark.parametrize("reason", list(SkipReason))
def test_r16_every_skip_reason_is_documented(reason: SkipReason) -> None:
    # Given a reason / When asking for its description / Then a real sentence that cites a rule
    assert len(reason.description) > 40
    assert re.search(r"\((?:R|S)\d", reason.description)


@pytest.mark.parametrize(("should_sync", "reason"), [(True, SkipReason.TYPE_OFF), (False, None)])
def test_r16_a_decision_either_syncs_or_has_a_reason(should_sync: bool, reason: SkipReason | None) -> None:
    # Given an inconsistent decision / When building it / Then a ValueError
    with pytest.raises(ValueError, match="either syncs or carries a reason"):
        SyncDecision(should_sync=should_sync, reason=reason)


def test_r5_naive_occurred_at_is_rejected() -> None:
    # Given an activity time without zone / When checking the window / Then a ValueError
    with pytest.raises(ValueError, match="timezone-aware"):
        check_window(HubSpotActivityType.NOTE, datetime(2024, 3, 1, 12, 0), ON)


def test_r11_salesforce_record_created_after_the_switch_went_on_syncs() -> None:
    # Given the Salesforce task switch on at noon / When a Task was created at 13:00 / Then it syncs
    created = ENABLED_AT + timedelta(hours=1)
    assert should_sync_salesforce_change(created, created, ON) == SYNCS


def test_r11_salesforce_record_created_before_but_updated_after_the_switch_went_on_syncs() -> None:
    # Given a Task created last year / When someone updated it after the switch went on / Then it syncs
    assert should_sync_salesforce_change(ENABLED_AT - timedelta(days=365), ENABLED_AT + TINY, ON) == SYNCS


def test_r11_salesforce_record_updated_exactly_when_the_switch_went_on_syncs() -> None:
    # Given the switch on at noon / When the last update happened at noon exactly / Then it syncs
    assert should_sync_salesforce_change(ENABLED_AT - timedelta(days=3), ENABLED_AT, ON) == SYNCS


def test_r11_turning_the_switch_on_imports_nothing_untouched_since() -> None:
    # Given a Task created and last modified before the switch went on / When seen / Then not synced
    before = ENABLED_AT - TINY
    assert should_sync_salesforce_change(before - timedelta(days=1), before, ON) == OUTSIDE


def test_r11_nothing_syncs_while_the_switch_is_off() -> None:
    # Given the switch off (it was on before) / When a brand-new Task arrives / Then TYPE_OFF
    off = TypeSettings(enabled=False, enabled_at=ENABLED_AT, disabled_at=ENABLED_AT + timedelta(days=1))
    created = ENABLED_AT + timedelta(days=2)
    assert should_sync_salesforce_change(created, created, off) == SyncDecision.skip(SkipReason.TYPE_OFF)
