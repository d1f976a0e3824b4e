"""The bench's pure parts: cost arithmetic, percentiles, the naive baseline, the counters'
arithmetic, the figures and their table. Nothing here runs the stack or measures time."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from activity_sync_tools.bench import prices
from activity_sync_tools.bench.measure import Counts, service_routes
from activity_sync_tools.bench.naive import NaiveCalls, calls_per_record, naive_calls
from activity_sync_tools.bench.report import (
    BURST,
    GOALS,
    HUBSPOT_TO_SALESFORCE,
    SALESFORCE_TO_HUBSPOT,
    TRICKLE,
    Phase,
    RunResult,
    build_rows,
    format_value,
    markdown_table,
    render_text,
    to_json,
)
from activity_sync_tools.bench.stats import median, percentile
from activity_sync_tools.bench.workload import Plan, spread

# -- cost arithmetic ----------------------------------------------------------------------------------


def test_each_price_turns_a_quantity_into_dollars() -> None:
    usage = prices.Usage(
        lambda_requests=1_000_000,
        lambda_gb_seconds=1_000_000,
        dynamodb_write_units=1_000_000,
        dynamodb_read_units=1_000_000,
        sqs_requests=1_000_000,
        http_api_requests=1_000_000,
    )
    breakdown = prices.cost_breakdown(usage)
    assert breakdown[prices.LAMBDA_REQUESTS.name] == pytest.approx(0.20)
    assert breakdown[prices.LAMBDA_ARM_GB_SECOND.name] == pytest.approx(13.3334)
    assert breakdown[prices.DYNAMODB_WRITE_REQUEST_UNIT.name] == pytest.approx(0.625)
    assert breakdown[prices.DYNAMODB_READ_REQUEST_UNIT.name] == pytest.approx(0.125)
    assert breakdown[prices.SQS_REQUEST.name] == pytest.approx(0.40)
    assert breakdown[prices.HTTP_API_REQUEST.name] == pytest.approx(1.00)
    assert all(price.source.startswith("https://aws.amazon.com/") for price in prices.ALL_PRICES)


def test_cost_per_million_scales_what_a_run_used_to_a_million_activities() -> None:
    # 100 activities: 200 invocations, 10 GB-s, 150 writes, 300 reads, 400 SQS requests, 100 posts
    usage = prices.Usage(200, 10, 150, 300, 400, 100)
    expected = (
        (
            200 * 0.20 / 1e6
            + 10 * 0.0000133334
            + 150 * 0.625 / 1e6
            + 300 * 0.125 / 1e6
            + 400 * 0.40 / 1e6
            + 100 / 1e6
        )
        * 1e6
        / 100
    )
    assert prices.cost_per_million(usage, 100) == pytest.approx(expected)
    assert prices.cost_per_million(usage, 0) == 0.0


def test_the_cost_floor_counts_cpu_time_instead_of_durations() -> None:
    read = counts()
    # 30 ms and 8 ms of CPU at 512 MB
    assert read.cpu_gb_seconds() == pytest.approx((30 + 8) / 1000 * 0.5)


# -- percentiles --------------------------------------------------------------------------------------


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 21)]  # 1..20
    assert percentile(values, 50) == 10.0
    assert percentile(values, 99) == 20.0  # of twenty values, the largest
    assert percentile(values, 100) == 20.0
    assert percentile(values, 0) == 1.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0  # order does not matter
    assert percentile([5.0], 99) == 5.0
    assert percentile([], 50) is None
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile(values, 101)


def test_the_median_of_an_even_count_is_the_mean_of_the_middle_two() -> None:
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert median([7.0, 1.0, 3.0]) == 3.0
    assert median([]) is None


# -- the naive baseline -------------------------------------------------------------------------------


def test_the_naive_baseline_counts_one_call_per_record_and_step() -> None:
    assert calls_per_record("hubspot_to_salesforce#note") == NaiveCalls(hubspot=3, salesforce=2)
    assert calls_per_record("hubspot_to_salesforce#sales_email") == NaiveCalls(hubspot=3, salesforce=2)
    assert calls_per_record("hubspot_to_salesforce#form_submission") == NaiveCalls(hubspot=2, salesforce=2)
    assert calls_per_record("hubspot_to_salesforce#integration_event") == NaiveCalls(hubspot=1, salesforce=2)
    assert calls_per_record("salesforce_to_hubspot#meeting") == NaiveCalls(hubspot=3, salesforce=1)
    with pytest.raises(ValueError, match="no naive baseline"):
        calls_per_record("salesforce_to_hubspot#note")
    total = naive_calls({"hubspot_to_salesforce#note": 10, "salesforce_to_hubspot#task": 5})
    assert total == NaiveCalls(hubspot=10 * 3 + 5 * 3, salesforce=10 * 2 + 5 * 1)


def test_the_plan_splits_n_into_half_a_third_and_the_pollers_rest() -> None:
    plan = Plan.from_n(300)
    assert (plan.hubspot_live, plan.salesforce_live, plan.missed) == (150, 100, 50)
    assert plan.hubspot_missed + plan.salesforce_missed == plan.missed
    assert (plan.burst, plan.trickle) == (1000, 25)  # 5 N, but 1,000 at most
    assert Plan.from_n(60).burst == 300
    assert spread(10, ("a", "b", "c")) == Counter({"a": 4, "b": 3, "c": 3})
    with pytest.raises(ValueError, match="at least 6"):
        Plan.from_n(5)


# -- the counters -------------------------------------------------------------------------------------


def counts(**overrides: object) -> Counts:
    base: dict[str, object] = {
        "salesforce_counters": {
            "PATCH /services/data/<version>/composite/sobjects/<sobject>/<field>": 2,
            "POST /services/oauth2/token": 5,  # token requests are not API spend
        },
        "hubspot_counters": {
            "POST /crm/objects/2026-09/<object_type>/batch/<action>": 4,
            "POST /submissions/v3/integration/submit/<portal_id>/<form_guid>": 9,  # the visitors
        },
        "aws_usage": {
            "requests": [
                {"service": "dynamodb", "operation": "GetItem", "caller": "HubSpotNoteSyncer", "count": 6},
                {"service": "dynamodb", "operation": "Scan", "caller": "(client)", "count": 50},
                {"service": "sqs", "operation": "ReceiveMessage", "caller": "(event sources)", "count": 3},
                {
                    "service": "sqs",
                    "operation": "ReceiveMessage (empty)",
                    "caller": "(event sources)",
                    "count": 70,
                },
                {
                    "service": "sqs",
                    "operation": "GetQueueAttributes",
                    "caller": "(local runtime)",
                    "count": 40,
                },
                {"service": "sqs", "operation": "SendMessageBatch", "caller": "WebhookReceiver", "count": 2},
            ],
            "dynamodb_capacity": [
                {
                    "table": "t",
                    "operation": "GetItem",
                    "caller": "HubSpotNoteSyncer",
                    "read_units": 3.0,
                    "write_units": 0.0,
                },
                {
                    "table": "t",
                    "operation": "Scan",
                    "caller": "(client)",
                    "read_units": 99.0,
                    "write_units": 0.0,
                },
            ],
        },
        "function_metrics": {
            "HubSpotNoteSyncer": {"invocations": 2, "cpu_ms": 30.0, "gb_seconds": 0.5, "memory_mb": 512},
            "WebhookReceiver": {"invocations": 4, "cpu_ms": 8.0, "gb_seconds": 0.25, "memory_mb": 512},
        },
    }
    base.update(overrides)
    return Counts.read(**base)  # type: ignore[arg-type]


def test_counts_keep_only_what_the_service_spends() -> None:
    read = counts()
    assert read.salesforce_calls == 2
    assert read.hubspot_calls == 4
    assert read.dynamodb_requests == 6  # the bench's own scan is not the service's
    assert read.sqs_requests == 5  # no empty receive, no runtime bookkeeping
    assert read.empty_receives() == 70
    assert read.capacity() == (3.0, 0.0)
    assert read.syncers() == ["HubSpotNoteSyncer"]
    assert read.function_total("cpu_ms") == 38.0
    assert read.function_total("invocations", ["WebhookReceiver"]) == 4
    assert service_routes({"a": 0, "GET /services/oauth2/userinfo": 1}) == Counter()


def test_a_phase_is_the_difference_of_its_counts_and_phases_add_up() -> None:
    before = Counts()
    after = counts()
    phase = after - before
    assert phase.salesforce_calls == 2
    later = counts(
        function_metrics={"HubSpotNoteSyncer": {"invocations": 5, "cpu_ms": 50.0, "memory_mb": 512}}
    )
    grown = later - after
    assert grown.functions["HubSpotNoteSyncer"]["invocations"] == 3
    assert grown.function_total("cpu_ms") == 20.0
    assert grown.salesforce_calls == 0
    both = phase + grown
    assert both.function_total("invocations", ["HubSpotNoteSyncer"]) == 5
    assert json.dumps(both.to_dict())  # JSON-ready


# -- the figures and their table --------------------------------------------------------------------


def result() -> RunResult:
    h2s = Phase(HUBSPOT_TO_SALESFORCE, Counter({"hubspot_to_salesforce#note": 100}), counts(), 10.0, 100)
    s2h = Phase(SALESFORCE_TO_HUBSPOT, Counter({"salesforce_to_hubspot#task": 50}), counts(), 10.0, 50)
    burst = Phase(BURST, Counter({"hubspot_to_salesforce#note": 1000}), counts(), 10.0, 1000)
    return RunResult(
        meta={"n": 150},
        phases={HUBSPOT_TO_SALESFORCE: h2s, SALESFORCE_TO_HUBSPOT: s2h, BURST: burst},
        latency_seconds={TRICKLE: [1.0, 2.0, 3.0], BURST: [float(v) for v in range(1, 101)]},
        imports_ms={"import boto3": [100.0, 120.0, 110.0], "poller/app.py": [300.0, 330.0, 310.0]},
    )


def rows_by_figure() -> dict[str, object]:
    return {row.figure: row for row in build_rows(result())}


def test_rows_divide_each_phases_counts_by_its_activities_and_judge_the_goals() -> None:
    rows = rows_by_figure()
    mixed = rows["Salesforce calls — mixed"]
    assert mixed.measured == pytest.approx(4 / 150)  # type: ignore[attr-defined]
    assert mixed.naive == pytest.approx((100 * 2 + 50 * 1) / 150)  # type: ignore[attr-defined]
    assert mixed.goal == GOALS["salesforce_mixed"]  # type: ignore[attr-defined]
    assert mixed.met is False  # type: ignore[attr-defined]  # 1/37.5 > 1/50
    busy = rows["Salesforce calls — one busy type (burst of notes)"]
    assert busy.measured == pytest.approx(2 / 1000)  # type: ignore[attr-defined]
    assert busy.met is True  # type: ignore[attr-defined]  # 1/500 <= 1/150
    assert rows["DynamoDB requests — mixed"].measured == pytest.approx(12 / 150)  # type: ignore[attr-defined]
    assert rows["Syncer CPU — mixed"].measured == pytest.approx(60 / 150)  # type: ignore[attr-defined]
    assert rows["trickle p50 (3 notes, one at a time)"].measured == 2.0  # type: ignore[attr-defined]
    assert rows["burst p99"].measured == 99.0  # type: ignore[attr-defined]
    assert rows["burst p99"].met is False  # type: ignore[attr-defined]
    ratio = rows["  poller/app.py ÷ import boto3"]
    assert ratio.measured == pytest.approx(310 / 110)  # type: ignore[attr-defined]
    cost = rows["total — mixed"]
    assert cost.measured == pytest.approx(  # type: ignore[attr-defined]
        prices.cost_per_million(
            prices.Usage(
                lambda_requests=12,
                lambda_gb_seconds=1.5,
                dynamodb_read_units=6.0,
                sqs_requests=10,
                http_api_requests=8,
            ),
            150,
        )
    )


def test_values_are_formatted_for_reading() -> None:
    assert format_value(1 / 150, "per_activity") == "0.0067 (1/150)"
    assert format_value(0, "per_activity") == "0"
    assert format_value(3.5, "per_activity") == "3.50"
    assert format_value(0.8, "per_activity") == "0.80"
    assert format_value(0.125, "per_activity") == "0.125 (1/8.0)"
    assert format_value(1234.56, "ms") == "1,234.6 ms"
    assert format_value(2.5, "seconds") == "2.50 s"
    assert format_value(3, "usd") == "$3.00"
    assert format_value(2.25, "ratio") == "2.25x"
    assert format_value(None, "ms") == "—"


def test_the_table_and_the_json_carry_the_same_figures() -> None:
    run = result()
    rows = build_rows(run)
    text = render_text(rows, "bench")
    assert "Salesforce calls — mixed" in text
    assert "not met" in text
    assert "≤ 1/150" in text
    document = to_json(run, rows)
    assert [figure["figure"] for figure in document["figures"]] == [row.figure for row in rows]
    assert {p["name"] for p in document["prices"]} == {p.name for p in prices.ALL_PRICES}
    assert document["phases"][BURST]["activities_total"] == 1000
    assert json.loads(json.dumps(document)) == document
    markdown = markdown_table(rows)
    assert markdown.count("\n") >= len(rows)
    assert "| Salesforce calls — mixed | 0.0267 (1/38) | 1.67 | ≤ 1/50 | **not met** |" in markdown
