"""Nested applications: the local runtime expands a local ``AWS::Serverless::Application`` the way
CloudFormation deploys it (names, parameters, outputs, conditions, Globals, code paths)."""

from __future__ import annotations

from pathlib import Path

import pytest

from activity_sync_tools.local.nested import load_stack_template
from activity_sync_tools.local.template import TemplateError, TemplateResolver, build_stack_model

PARENT = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: dev}
  NoteCap: {Type: Number, Default: 7}
Globals:
  Function:
    Runtime: python3.12
    Timeout: 11
    Environment:
      Variables: {FROM_PARENT_GLOBALS: "yes", NOTE_QUEUE: !GetAtt Note.Outputs.QueueUrl}
Resources:
  Receiver:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: functions/receiver/, Handler: app.handler}
  Note:
    Type: AWS::Serverless::Application
    Properties:
      Location: nested/child.yaml
      Parameters: {Kind: note, Cap: !Ref NoteCap, Stage: !Ref Stage}
Outputs:
  NoteQueueArn: {Value: !GetAtt Note.Outputs.QueueArn}
  NoteDescribed: {Value: !Sub "queue ${Note.Outputs.QueueUrl} in ${Stage}"}
"""

CHILD = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  Kind: {Type: String}
  Cap: {Type: Number}
  Stage: {Type: String}
  Retention: {Type: Number, Default: 30}
Conditions:
  IsNote: !Equals [!Ref Kind, note]
Globals:
  Function:
    Runtime: python3.12
    Timeout: 60
Resources:
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: ../functions/worker/
      Handler: app.handler
      Environment:
        Variables:
          KIND: !Ref Kind
          OWN_QUEUE: !Ref Queue
          LABEL: !If [IsNote, a-note, other]
          NAME: !Sub "${Kind}-${Queue.QueueName}-${AWS::StackName}"
      Events:
        Queue:
          Type: SQS
          Properties:
            Queue: !GetAtt Queue.Arn
            ScalingConfig: {MaximumConcurrency: !Ref Cap}
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      MessageRetentionPeriod: !Ref Retention
  Entry:
    Type: AWS::SSM::Parameter
    Condition: IsNote
    DependsOn: Queue
    Properties: {Name: !Sub "/app/${Stage}/${Kind}", Type: String, Value: !Ref Queue}
Outputs:
  QueueUrl: {Value: !Ref Queue}
  QueueArn: {Value: !GetAtt Queue.Arn}
"""


@pytest.fixture
def parent(tmp_path: Path) -> Path:
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "child.yaml").write_text(CHILD)
    for name in ("receiver", "worker"):
        (tmp_path / "functions" / name).mkdir(parents=True)
    path = tmp_path / "template.yaml"
    path.write_text(PARENT)
    return path


def test_a_nested_application_expands_into_the_parents_namespace(parent: Path) -> None:
    # Given a parent that nests a child template once
    template = load_stack_template(parent)
    # Then the child's resources are in the parent, named after the application
    assert {"Receiver", "NoteWorker", "NoteQueue", "NoteEntry"} == set(template["Resources"])
    assert template["Resources"]["NoteEntry"]["Condition"] == "NoteIsNote"
    assert template["Resources"]["NoteEntry"]["DependsOn"] == "NoteQueue"
    assert "NoteIsNote" in template["Conditions"]


def test_parameters_outputs_globals_and_code_paths_resolve_as_in_cloudformation(parent: Path) -> None:
    resolver = TemplateResolver(
        load_stack_template(parent), stack_name="st", parameter_overrides={"NoteCap": "9"}
    )
    model = build_stack_model(resolver, parent.parent)
    worker = model.functions["NoteWorker"]
    # The child's parameters are what the parent passes (or their defaults)
    assert worker.environment["KIND"] == "note"
    assert worker.queue_sources[0].maximum_concurrency == 9
    assert model.queues["NoteQueue"].properties["MessageRetentionPeriod"] == "30"
    # Its own references follow the renaming; conditions and pseudo parameters too
    assert worker.environment["OWN_QUEUE"] == model.queues["NoteQueue"].url
    assert worker.environment["LABEL"] == "a-note"
    assert worker.environment["NAME"] == "note-st-NoteQueue-st-Note"
    assert model.ssm_parameters["NoteEntry"].name == "/app/dev/note"
    # Globals are per template: the child's own apply to its function, the parent's do not
    assert worker.timeout_seconds == 60
    assert "FROM_PARENT_GLOBALS" not in worker.environment
    assert model.functions["Receiver"].timeout_seconds == 11
    # The parent reads the child's outputs
    assert model.functions["Receiver"].environment["NOTE_QUEUE"] == model.queues["NoteQueue"].url
    outputs = resolver.resolve(resolver.template["Outputs"])
    assert outputs["NoteQueueArn"]["Value"] == model.queues["NoteQueue"].arn
    assert outputs["NoteDescribed"]["Value"] == f"queue {model.queues['NoteQueue'].url} in dev"
    # And the child's code path is found from the child template's folder
    assert worker.code_dir == (parent.parent / "functions" / "worker").resolve()


def test_a_parameter_the_child_does_not_declare_is_an_error(parent: Path) -> None:
    parent.write_text(PARENT.replace("Stage: !Ref Stage}", "Stage: !Ref Stage, Typo: x}"))
    with pytest.raises(TemplateError, match="Typo"):
        load_stack_template(parent)


def test_a_missing_nested_template_is_an_error(parent: Path) -> None:
    parent.write_text(PARENT.replace("nested/child.yaml", "nested/absent.yaml"))
    with pytest.raises(TemplateError, match=r"absent\.yaml"):
        load_stack_template(parent)
