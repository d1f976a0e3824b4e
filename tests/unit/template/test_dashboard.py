"""The CloudWatch dashboard (dashboard.yaml, nested once by template.yaml): its body is valid JSON
once CloudFormation has substituted it, it names every type, and its graphs search for metrics the
code emits under the names it emits them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from activity_sync.domain import ALL_SYNC_TYPES
from activity_sync_tools.local.template import load_template

ROOT = Path(__file__).resolve().parents[3]
DASHBOARD: dict[str, Any] = load_template(ROOT / "dashboard.yaml")


def _body(stack_name: str = "activity-sync-dev", region: str = "eu-west-1") -> dict[str, Any]:
    """The DashboardBody as CloudFormation's Fn::Sub makes it."""
    template = DASHBOARD["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    names = {"StackName": stack_name, "AWS::Region": region}

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        return "${" + name[1:] + "}" if name.startswith("!") else names[name]

    body: dict[str, Any] = json.loads(re.sub(r"\$\{([^}]+)\}", substitute, template))
    return body


def _expressions(body: dict[str, Any]) -> list[str]:
    return [
        entry["expression"]
        for widget in body["widgets"]
        if widget["type"] == "metric"
        for row in widget["properties"]["metrics"]
        for entry in row
        if isinstance(entry, dict) and "expression" in entry
    ]


def test_the_body_is_json_after_substitution_and_names_every_type() -> None:
    # Given the body as CloudFormation substitutes it for a stack
    body = _body()
    text = json.dumps(body)
    # Then it is a dashboard of widgets in the stack's region, naming the stack and every type
    assert {w["type"] for w in body["widgets"]} == {"text", "metric"}
    assert {w["properties"]["region"] for w in body["widgets"] if w["type"] == "metric"} == {"eu-west-1"}
    assert "activity-sync-dev" in text
    missing = [t.key for t in ALL_SYNC_TYPES if t.key not in text]
    assert missing == []


def test_each_graph_searches_metrics_the_code_emits() -> None:
    # Given the metric names the graphs search for in the ActivitySync namespace
    searched = {
        name
        for expression in _expressions(_body())
        if "{ActivitySync" in expression
        for name in re.findall(r'"(\w+)"', expression)
    }
    # Then each is emitted: the syncers' outcomes are "Activities" + the status they count
    # (usecases/type_syncer.py), the others by name in a handler or a table of names
    code = "\n".join(
        path.read_text() for folder in ("functions", "layers") for path in (ROOT / folder).rglob("*.py")
    )
    assert 'name=f"Activities{status.capitalize()}"' in code
    for name in sorted(searched):
        status = name.removeprefix("Activities").lower()
        emitted = (
            f'name="{name}"' in code
            # or named in a table of metric names (the vendor calls: service.VENDOR_CALL_METRICS)
            or re.search(rf'_METRICS\s*=\s*\{{[^}}]*"{name}"', code) is not None
            or (name.startswith("Activities") and re.search(rf'_count\(\s*"{status}"', code) is not None)
        )
        assert emitted, f"{name} is searched for but never emitted"
    assert {"ActivitiesSynced", "ActivitiesWaiting", "ActivitiesSkipped"} <= searched


def test_queue_graphs_cover_dead_letters_queue_age_and_errors_of_this_stack_only() -> None:
    expressions = _expressions(_body(stack_name="acme-prod"))
    # Given the graphs' searches for the stack "acme-prod", by the metric each names
    by_metric = {
        found.group(1): expression
        for expression in expressions
        if (found := re.search(r'MetricName="(\w+)"', expression)) is not None
    }
    # Then the dead-letter queues' sends and depth, the type queues' age and the functions' errors
    # are each searched for within this stack (its name, quoted: an exact phrase)
    for metric in ("NumberOfMessagesSent", "ApproximateNumberOfMessagesVisible"):
        assert "DeadLetterQueue" in by_metric[metric]
        assert '"acme-prod"' in by_metric[metric]
    assert "NOT DeadLetterQueue" in by_metric["ApproximateAgeOfOldestMessage"]
    assert '"acme-prod"' in by_metric["Errors"]


def test_template_nests_the_dashboard_once_with_its_stack_name() -> None:
    # Given the template a user reads, Then one nested application is the dashboard, scoped by name
    declared = load_template(ROOT / "template.yaml")["Resources"]
    dashboards = [
        r for r in declared.values() if (r.get("Properties") or {}).get("Location") == "dashboard.yaml"
    ]
    assert [d["Properties"]["Parameters"] for d in dashboards] == [{"StackName": {"Ref": "AWS::StackName"}}]
