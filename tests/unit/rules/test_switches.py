"""S1: switches are off by default; turning one on records when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from activity_sync.domain import TypeSettings
from activity_sync.rules.switches import is_on, set_switch, turn_off, turn_on

MONDAY = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)
FRIDAY = MONDAY + timedelta(days=4)


def test_s1_switch_is_off_by_default() -> None:
    # Given settings nobody has touched / When asking / Then the switch is off
    assert not is_on(TypeSettings())


def test_s1_turning_on_records_enabled_at_now() -> None:
    # Given an off switch / When turning it on on Monday / Then it is on since Monday
    settings = turn_on(TypeSettings(), MONDAY)
    assert is_on(settings)
    assert settings.enabled_at == MONDAY


def test_s1_turning_on_an_on_switch_keeps_its_original_enabled_at() -> None:
    # Given a switch turned on on Monday / When turned on again on Friday
    settings = turn_on(turn_on(TypeSettings(), MONDAY), FRIDAY)
    # Then the windows still start on Monday
    assert settings.enabled_at == MONDAY


def test_s1_turning_on_keeps_the_other_settings() -> None:
    # Given a Task Type and a subject override / When turning the switch on / Then both survive
    settings = turn_on(TypeSettings(task_type="Call", subject_template="Call: {title}"), MONDAY)
    assert (settings.task_type, settings.subject_template) == ("Call", "Call: {title}")


def test_s1_turning_off_keeps_enabled_at_as_history_and_records_disabled_at() -> None:
    # Given a switch on since Monday / When turned off on Friday
    settings = turn_off(turn_on(TypeSettings(), MONDAY), FRIDAY)
    # Then it is off, remembers it was on from Monday, and when it went off
    assert not is_on(settings)
    assert (settings.enabled_at, settings.disabled_at) == (MONDAY, FRIDAY)


def test_s1_turning_off_an_off_switch_changes_nothing() -> None:
    # Given an off switch / When turning it off / Then the very same settings come back
    settings = TypeSettings()
    assert turn_off(settings, FRIDAY) is settings


def test_s1_turning_back_on_starts_a_new_period_from_now() -> None:
    # Given a switch on Monday, off Tuesday / When turned on again on Friday
    tuesday = MONDAY + timedelta(days=1)
    settings = turn_on(turn_off(turn_on(TypeSettings(), MONDAY), tuesday), FRIDAY)
    # Then it is on since Friday (not retroactive) and the off stamp is cleared
    assert is_on(settings)
    assert (settings.enabled_at, settings.disabled_at) == (FRIDAY, None)


def test_s1_enabled_without_enabled_at_is_off_until_stamped() -> None:
    # Given an item flipped to enabled by hand in the console, without a stamp
    hand_edited = TypeSettings(enabled=True)
    # When asking / Then it does not sync yet; turning it on stamps it with now
    assert not is_on(hand_edited)
    assert turn_on(hand_edited, MONDAY).enabled_at == MONDAY


@pytest.mark.parametrize("on", [True, False])
def test_s1_set_switch_reaches_the_wanted_state(on: bool) -> None:
    # Given a switch in the opposite state / When setting it / Then it is in the wanted state
    start = TypeSettings() if on else turn_on(TypeSettings(), MONDAY)
    assert is_on(set_switch(start, on, FRIDAY)) is on


def test_s1_a_naive_now_is_rejected() -> None:
    # Given a clock reading without a time zone / When turning on / Then a ValueError
    with pytest.raises(ValueError, match="timezone-aware"):
        turn_on(TypeSettings(), datetime(2024, 5, 6, 9, 0))
