"""The CloudFormation loader and resolver: short-form tags, intrinsics, parameters, Globals, and
everything the real template.yaml uses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from activity_sync_tools.local.nested import load_stack_template
from activity_sync_tools.local.template import (
    ACCOUNT_ID,
    NO_VALUE,
    TemplateError,
    TemplateResolver,
    build_stack_model,
    load_template_text,
    merge_sam_globals,
)

SHORT_FORMS = """
Parameters:
  Stage: {Type: String, Default: dev, AllowedValues: [dev, prod]}
  Sizes: {Type: CommaDelimitedList, Default: "a,b,c"}
  Count: {Type: Number, Default: 5, MinValue: 1, MaxValue: 10}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  IsDev: !Not [!Condition IsProd]
  Both: !And [!Condition IsDev, !Equals [x, x]]
  Either: !Or [!Condition IsProd, !Condition IsDev]
Mappings:
  Limits:
    dev: {Batch: 10}
    prod: {Batch: 50}
Resources:
  Queue:
    Type: AWS::SQS::Queue
  Dlq:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "named-${Stage}-dlq"
  Table:
    Type: AWS::DynamoDB::Table
  Param:
    Type: AWS::SSM::Parameter
    Properties: {Name: !Sub "/app/${Stage}/x", Type: String, Value: v}
  ProdOnly:
    Type: AWS::SQS::Queue
    Condition: IsProd
Outputs:
  Ref: {Value: !Ref Queue}
  GetAttDotted: {Value: !GetAtt Queue.Arn}
  GetAttList: {Value: !GetAtt [Queue, QueueName]}
  LongForm: {Value: {"Fn::GetAtt": [Table, Arn]}}
  SubPlain: {Value: !Sub "${AWS::StackName}-${Stage}-${Queue.QueueName}-${!Literal}"}
  SubList: {Value: !Sub ["${Name}/${AWS::Region}/${AWS::AccountId}", {Name: !Ref Table}]}
  Join: {Value: !Join [":", [a, !Ref Stage, !Select [1, !Ref Sizes]]]}
  Split: {Value: !Select [2, !Split [",", "x,y,z"]]}
  If: {Value: !If [IsProd, big, small]}
  IfNoValue: {Value: [keep, !If [IsProd, gone, !Ref AWS::NoValue]]}
  Map: {Value: !FindInMap [Limits, !Ref Stage, Batch]}
  Base64: {Value: !Base64 hi}
  Conditions: {Value: [!Condition Both, !Condition Either]}
  Pseudo: {Value: !Sub "${AWS::Partition}|${AWS::URLSuffix}"}
  Number: {Value: !Ref Count}
"""


@pytest.fixture
def resolver() -> TemplateResolver:
    return TemplateResolver(
        load_template_text(SHORT_FORMS),
        stack_name="st",
        region="eu-west-1",
        aws_endpoint_url="http://127.0.0.1:4566",
    )


def output(resolver: TemplateResolver, name: str) -> Any:
    return resolver.resolve(resolver.template["Outputs"][name]["Value"])


def test_short_form_tags_load_as_their_long_form() -> None:
    template = load_template_text(SHORT_FORMS)
    outputs = template["Outputs"]
    assert outputs["Ref"]["Value"] == {"Ref": "Queue"}
    assert outputs["GetAttDotted"]["Value"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert outputs["GetAttList"]["Value"] == {"Fn::GetAtt": ["Queue", "QueueName"]}
    assert outputs["SubList"]["Value"]["Fn::Sub"][1] == {"Name": {"Ref": "Table"}}
    assert template["Conditions"]["IsDev"] == {"Fn::Not": [{"Condition": "IsProd"}]}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Ref", "http://127.0.0.1:4566/123456789012/st-Queue"),
        ("GetAttDotted", "arn:aws:sqs:eu-west-1:123456789012:st-Queue"),
        ("GetAttList", "st-Queue"),
        ("LongForm", "arn:aws:dynamodb:eu-west-1:123456789012:table/st-Table"),
        ("SubPlain", "st-dev-st-Queue-${Literal}"),
        ("SubList", f"st-Table/eu-west-1/{ACCOUNT_ID}"),
        ("Join", "a:dev:b"),
        ("Split", "z"),
        ("If", "small"),
        ("IfNoValue", ["keep"]),
        ("Map", 10),
        ("Base64", "aGk="),
        ("Conditions", [True, True]),
        ("Pseudo", "aws|amazonaws.com"),
        ("Number", "5"),
    ],
)
def test_intrinsics_resolve(resolver: TemplateResolver, name: str, expected: Any) -> None:
    assert output(resolver, name) == expected


def test_overrides_change_parameters_conditions_and_names() -> None:
    resolver = TemplateResolver(load_template_text(SHORT_FORMS), parameter_overrides={"Stage": "prod"})
    assert output(resolver, "If") == "big"
    assert output(resolver, "Map") == 50
    assert resolver.physical_name("Dlq") == "named-prod-dlq"
    model = build_stack_model(resolver, Path())
    assert "ProdOnly" in model.queues
    assert model.ssm_parameters["Param"].name == "/app/prod/x"


def test_a_resource_whose_condition_is_false_is_not_built(resolver: TemplateResolver) -> None:
    model = build_stack_model(resolver, Path())
    assert set(model.queues) == {"Queue", "Dlq"}
    assert model.queues["Dlq"].name == "named-dev-dlq"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"Stage": "qa"}, "not one of"),
        ({"Count": "11"}, "above MaxValue"),
        ({"Count": "many"}, "not a number"),
        ({"Nope": "1"}, "undeclared"),
    ],
)
def test_bad_parameter_overrides_are_refused(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        TemplateResolver(load_template_text(SHORT_FORMS), parameter_overrides=overrides)


def test_unknown_references_are_errors(resolver: TemplateResolver) -> None:
    with pytest.raises(TemplateError, match="unknown resource"):
        resolver.resolve({"Ref": "Missing"})
    with pytest.raises(TemplateError, match="not emulated"):
        resolver.resolve({"Fn::GetAtt": ["Table", "Nonsense"]})
    with pytest.raises(TemplateError, match="not supported"):
        resolver.resolve({"Fn::ImportValue": "x"})


def test_no_value_removes_a_property(resolver: TemplateResolver) -> None:
    assert resolver.resolve({"A": 1, "B": {"Ref": "AWS::NoValue"}}) == {"A": 1}
    assert resolver.resolve({"Ref": "AWS::NoValue"}) is NO_VALUE


def test_sam_globals_merge_maps_override_scalars_and_append_lists() -> None:
    merged = merge_sam_globals(
        {"Timeout": 60, "Layers": ["L1"], "Environment": {"Variables": {"A": "global", "B": "global"}}},
        {"Timeout": 10, "Layers": ["L2"], "Environment": {"Variables": {"B": "own", "C": "own"}}},
    )
    assert merged == {
        "Timeout": 10,
        "Layers": ["L1", "L2"],
        "Environment": {"Variables": {"A": "global", "B": "own", "C": "own"}},
    }


def test_a_yaml_error_is_a_template_error() -> None:
    with pytest.raises(TemplateError, match="not valid YAML"):
        load_template_text("Resources: {a: [}")


# ----------------------------------------------------------------------- the real template.yaml


def intrinsics_in(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" or key.startswith("Fn::"):
                found.add(key)
            found |= intrinsics_in(value)
    elif isinstance(node, list):
        for item in node:
            found |= intrinsics_in(item)
    return found


def test_every_intrinsic_of_the_real_template_resolves(real_template: Path) -> None:
    template = load_stack_template(real_template)
    used = intrinsics_in(template)
    assert {"Ref", "Fn::Sub", "Fn::GetAtt"} <= used
    resolver = TemplateResolver(template)
    resolved = resolver.resolve(
        {key: template[key] for key in ("Globals", "Resources", "Outputs") if key in template}
    )
    assert not intrinsics_in(resolved), "an intrinsic was left unresolved"
    assert "${" not in json.dumps(resolved["Outputs"])


def test_the_real_template_model(real_template: Path) -> None:
    resolver = TemplateResolver(
        load_stack_template(real_template), parameter_overrides={"Stage": "test", "SyncerBatchSize": "7"}
    )
    model = build_stack_model(resolver, real_template.parent)
    assert model.tables
    assert model.queues
    assert model.ssm_parameters
    assert model.functions
    assert all(
        parameter.name.startswith("/activity-sync/test/") for parameter in model.ssm_parameters.values()
    )
    for function in model.functions.values():
        assert function.code_dir.parent == real_template.parent / "functions"
        assert function.environment["STAGE"] == "test"  # from Globals, resolved
        assert function.timeout_seconds > 0
    assert model.http_routes, "the webhook receiver's HttpApi routes"
    assert any(schedule.expression.startswith("rate(") for schedule in model.schedules)
    for source in model.queue_sources:
        queue = model.queues[source.queue_logical_id]
        if "SYNC_TYPE" in model.functions[source.function_id].environment:
            assert source.batch_size == 7  # !Ref SyncerBatchSize, overridden
        assert queue.dead_letter_target_arn in {q.arn for q in model.queues.values()}
        assert queue.dead_letter_target_arn != queue.arn
