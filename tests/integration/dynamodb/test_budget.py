"""R18: one API budget per vendor, shared by every function, never overspent - whatever the race."""

from __future__ import annotations

import threading
from typing import Any

import boto3
import pytest
from moto.dynamodb.models import DynamoDBBackend

from activity_sync.adapters.budget import SALESFORCE, ApiBudget, VendorLimits
from activity_sync.domain import HubSpotActivityType, SalesforceActivityType, SyncType
from activity_sync.ports import BudgetExhausted

NOTES = SyncType.hubspot_to_salesforce(HubSpotActivityType.NOTE)
FORMS = SyncType.hubspot_to_salesforce(HubSpotActivityType.FORM_SUBMISSION)
SF_TASKS = SyncType.salesforce_to_hubspot(SalesforceActivityType.TASK)
START = 1_780_000_000.0  # an instant on the hour's first minute


@pytest.fixture
def atomic_dynamodb(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB applies a conditional update atomically; moto's backend takes no lock, so the race
    tests lend it one (the property under test is our conditions, not moto's threading)."""
    lock = threading.Lock()
    original = DynamoDBBackend.update_item

    def atomic(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return original(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "update_item", atomic)


class FakeClock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def state_table(tables: dict[str, str]) -> str:
    return tables["SyncStateTable"]


def _spend_until_refused(budget: ApiBudget) -> int:
    calls = 0
    while True:
        try:
            budget.acquire()
        except BudgetExhausted:
            return calls
        calls += 1


def test_r18_fourteen_functions_racing_never_spend_more_than_the_allocation(
    state_table: str, atomic_dynamodb: None
) -> None:
    # Given a Salesforce allocation of 300 calls a day, and 14 functions each with its own view
    limits = VendorLimits(daily_allocation=300)
    budgets = [
        ApiBudget(
            SALESFORCE, state_table, lambda: limits, client=boto3.client("dynamodb"), clock=lambda: START
        )
        for _ in range(14)
    ]
    spent = [0] * 14

    def run(index: int) -> None:
        with budgets[index].working_for(SF_TASKS):
            spent[index] = _spend_until_refused(budgets[index])

    # When they all spend as fast as they can, at once
    threads = [threading.Thread(target=run, args=(i,)) for i in range(14)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then together they made no more calls than allowed, and the shared figure says so
    reserved = sum(b.reserved for b in budgets)
    assert sum(spent) <= reserved <= 300
    assert sum(spent) >= 300 - 14 * 5  # at most a few calls each left reserved and unused
    usage = budgets[0].usage()
    assert usage["used"] == reserved
    assert usage["by_type"] == {"salesforce_to_hubspot_task": reserved}


def test_r18_no_ten_seconds_however_placed_see_more_than_the_hubspot_rate(state_table: str) -> None:
    # Given HubSpot's 190 requests per rolling 10 seconds, and a function that spends as fast as
    # it may for a minute, its clock moving a little with every call
    clock = FakeClock(START + 0.37)
    limits = VendorLimits.rolling(190, 10, searches_per_second=None, daily_allocation=None)
    budget = ApiBudget(
        "hubspot", state_table, lambda: limits, clock=clock, sleep=clock.sleep, max_wait_seconds=10
    )
    calls: list[float] = []
    while clock.now < START + 60:
        budget.acquire()
        calls.append(clock.now)
        clock.now += 0.013

    # Then every 10-second span, starting at any call, holds at most 190 calls
    busiest = max(sum(1 for t in calls if start <= t < start + 10) for start in calls)
    assert busiest <= 190
    assert busiest >= 150  # and the rate is nearly all usable
    # even when each call reaches HubSpot up to a second after its reservation
    arrivals = [t + 0.999 * ((index * 7919) % 13) / 12 for index, t in enumerate(calls)]
    assert max(sum(1 for t in arrivals if start <= t < start + 10) for start in arrivals) <= 190


def test_r18_no_second_however_placed_sees_more_than_the_hubspot_search_rate(state_table: str) -> None:
    # Given HubSpot's 4 searches per second, a poller that searches as fast as it may for half a
    # minute, and searches that reach HubSpot up to a second after their reservation
    clock = FakeClock(START + 0.37)
    limits = VendorLimits.rolling(190, 10, searches_per_second=4, daily_allocation=None)
    budget = ApiBudget(
        "hubspot", state_table, lambda: limits, clock=clock, sleep=clock.sleep, max_wait_seconds=10
    )
    reserved: list[float] = []
    while clock.now < START + 30:
        budget.acquire("search")
        reserved.append(clock.now)
        clock.now += 0.013

    # Then no rolling second of their arrivals holds more than 4
    for delay in (0.0, 0.5, 0.999):
        arrivals = [t + (delay if index % 2 else 0.0) for index, t in enumerate(reserved)]
        assert max(sum(1 for t in arrivals if start <= t < start + 1) for start in arrivals) <= 4
    assert len(reserved) >= 25  # and searches keep going, about one a second


def test_r18_a_rate_window_is_waited_out_briefly_or_handed_back(state_table: str) -> None:
    clock = FakeClock()
    limits = VendorLimits(calls_per_window=10, window_seconds=10)
    budget = ApiBudget(
        "hubspot", state_table, lambda: limits, clock=clock, sleep=clock.sleep, max_wait_seconds=10
    )
    # Given ten calls spent in this 10-second window
    for _ in range(10):
        budget.acquire()
    assert clock.now == START
    # When an eleventh is asked for, Then it waits for the next window (a moment away) and goes on
    budget.acquire()
    assert clock.now == pytest.approx(START + 10)
    # And a function that may not wait that long is told when to come back instead
    impatient = ApiBudget(
        "hubspot", state_table, lambda: limits, clock=clock, sleep=clock.sleep, max_wait_seconds=1
    )
    in_this_window = budget.reserved - 10
    calls = _spend_until_refused(impatient)
    assert in_this_window + impatient.reserved == 10
    assert calls <= impatient.reserved
    assert clock.now == pytest.approx(START + 10)
    with pytest.raises(BudgetExhausted) as refused:
        impatient.acquire()
    assert refused.value.retryable
    assert 0 < refused.value.delay_seconds <= 10


def test_r18_marketing_activities_leave_the_last_fifth_to_sales_activities(state_table: str) -> None:
    limits = VendorLimits(daily_allocation=100)
    forms = ApiBudget("hubspot", state_table, lambda: limits, clock=lambda: START)
    notes = ApiBudget("hubspot", state_table, lambda: limits, clock=lambda: START)
    with forms.working_for(FORMS):
        form_calls = _spend_until_refused(forms)
    with notes.working_for(NOTES):
        note_calls = _spend_until_refused(notes)
    assert form_calls <= 80
    assert form_calls + note_calls <= 100
    assert note_calls >= 100 - 80 - 5


def test_r18_a_lowered_allocation_applies_to_calls_reserved_ahead(state_table: str) -> None:
    # Given a marketing syncer that reserved a few calls ahead while its share allowed them
    clock = FakeClock()
    allocation = {"calls": 100}
    budget = ApiBudget(
        SALESFORCE,
        state_table,
        lambda: VendorLimits(daily_allocation=allocation["calls"]),
        clock=clock,
        sleep=clock.sleep,
    )
    with budget.working_for(FORMS):
        for _ in range(4):  # reserved 1, 2, then 3 at a time as it gets busier
            budget.acquire()
        assert budget.reserved > budget.acquired  # calls in hand
        # When the operator lowers the allocation below what marketing may use of it (80 %)
        allocation["calls"] = budget.reserved
        # Then the calls in hand are not spent: it must reserve anew, and is refused
        with pytest.raises(BudgetExhausted):
            budget.acquire()
    # while a sales syncer still may use the rest
    sales = ApiBudget(
        SALESFORCE, state_table, lambda: VendorLimits(daily_allocation=allocation["calls"] + 1), clock=clock
    )
    with sales.working_for(NOTES):
        sales.acquire()


def test_r18_the_rolling_day_counts_the_hours_before_this_one(state_table: str) -> None:
    limits = VendorLimits(daily_allocation=50)
    earlier = ApiBudget(SALESFORCE, state_table, lambda: limits, clock=lambda: START - 3 * 3600)
    assert _spend_until_refused(earlier) >= 45
    later = ApiBudget(SALESFORCE, state_table, lambda: limits, clock=lambda: START)
    assert _spend_until_refused(later) <= 50 - earlier.reserved
    next_day = ApiBudget(SALESFORCE, state_table, lambda: limits, clock=lambda: START + 25 * 3600)
    assert _spend_until_refused(next_day) >= 45


def test_r18_the_vendors_own_daily_figure_leaves_a_reserve_to_the_orgs_other_integrations(
    state_table: str,
) -> None:
    budget = ApiBudget(SALESFORCE, state_table, lambda: VendorLimits(), clock=lambda: START)
    budget.acquire()
    # Given Salesforce says 1,400 of the org's 15,000 calls are left
    budget.observe(remaining=1400, limit=15000)
    # Then the service stops: the last 10 % belongs to everybody else
    with pytest.raises(BudgetExhausted, match="vendor's daily limit"):
        budget.acquire()
    budget.observe(remaining=9000, limit=15000)
    budget.acquire()
    assert budget.usage()["vendor"]["remaining"] == 9000
