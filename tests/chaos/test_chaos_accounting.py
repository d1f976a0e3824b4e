"""The fault suite's accounts: what counts as synced, waiting, dead-lettered, lost or duplicated,
and the rolling windows the budget is checked with. Pure: nothing here runs the stack."""

from __future__ import annotations

from collections import Counter

import pytest

from activity_sync_tools.chaos.accounting import BudgetCheck, account_type, busiest_window, totals
from activity_sync_tools.chaos.suite import ChaosPlan


def test_known_ids_every_activity_accounted_for() -> None:
    outcome = account_type(
        created=4,
        created_ids={"a", "b", "c", "d"},
        twins=Counter({"a": 1, "b": 1}),
        waiting={"c"},
        dead_lettered={"d"},
    )
    assert (outcome.synced, outcome.waiting, outcome.dead_lettered) == (2, 1, 1)
    assert outcome.lost == 0
    assert outcome.duplicated == 0


def test_known_ids_a_missing_one_is_lost_by_name() -> None:
    outcome = account_type(
        created=3, created_ids={"a", "b", "c"}, twins=Counter({"a": 1}), waiting=(), dead_lettered={"b"}
    )
    assert outcome.lost == 1
    assert outcome.lost_ids == ["c"]


def test_two_twins_of_one_activity_are_a_duplicate() -> None:
    outcome = account_type(
        created=2, created_ids={"a", "b"}, twins=Counter({"a": 2, "b": 1}), waiting=(), dead_lettered=()
    )
    assert outcome.synced == 2
    assert outcome.duplicated == 1
    assert outcome.lost == 0


def test_a_synced_activity_once_dead_lettered_counts_once_as_synced() -> None:
    # A record dead-lettered and then synced by a later delivery is synced, not both.
    outcome = account_type(
        created=1, created_ids={"a"}, twins=Counter({"a": 1}), waiting={"a"}, dead_lettered={"a"}
    )
    assert (outcome.synced, outcome.waiting, outcome.dead_lettered, outcome.lost) == (1, 0, 0, 0)


def test_twins_of_records_never_made_are_duplicates() -> None:
    outcome = account_type(
        created=1, created_ids={"a"}, twins=Counter({"a": 1, "zzz": 1}), waiting=(), dead_lettered=()
    )
    assert outcome.synced == 1
    assert outcome.duplicated == 1


def test_counted_only_shortfall_is_lost_and_surplus_is_duplicated() -> None:
    short = account_type(
        created=5, created_ids=None, twins=Counter({"1": 1, "2": 1}), waiting={"3"}, dead_lettered=()
    )
    assert short.lost == 2
    assert short.duplicated == 0
    surplus = account_type(
        created=1, created_ids=None, twins=Counter({"1": 1, "2": 1}), waiting=(), dead_lettered=()
    )
    assert surplus.lost == 0
    assert surplus.duplicated == 1


def test_totals_add_every_type() -> None:
    first = account_type(created=2, created_ids=None, twins=Counter({"1": 1}), waiting=(), dead_lettered=())
    second = account_type(created=1, created_ids={"x"}, twins=Counter({"x": 2}), waiting=(), dead_lettered=())
    total = totals({"one": first, "two": second})
    assert (total.created, total.synced, total.lost, total.duplicated) == (3, 2, 1, 1)


def test_busiest_window_is_a_rolling_window() -> None:
    # 3 calls in [0, 10 s), then 3 more within 10 s of the second: 4 in the busiest span.
    instants = [0, 5_000, 9_000, 14_000, 14_500, 20_000]
    assert busiest_window(instants, 10_000) == 4
    assert busiest_window([], 10_000) == 0
    assert busiest_window([0, 10_000], 10_000) == 1  # a window of 10 s holds [t, t + 10 s)


def test_a_budget_check_fails_only_past_its_limit() -> None:
    assert not BudgetCheck("HubSpot", "calls in any 10 s", 60, 60).exceeded
    assert BudgetCheck("HubSpot", "calls in any 10 s", 60, 61).exceeded
    assert not BudgetCheck("HubSpot", "no limit", None, 10**9).exceeded


def test_the_plan_refuses_what_cannot_run() -> None:
    with pytest.raises(ValueError, match="at least 6"):
        ChaosPlan(n=5)
    with pytest.raises(ValueError, match="share of the calls"):
        ChaosPlan(fault_rate=1.0)
