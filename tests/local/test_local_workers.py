"""Functions as local Lambda execution environments: isolation, environment, context, timeouts,
errors, init failures, and schedules."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from activity_sync_tools.local import LocalStack

if TYPE_CHECKING:
    from tests.local.conftest import MakeStackDir

pytestmark = pytest.mark.integration  # runs moto and worker processes

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: dev}
Globals:
  Function:
    Runtime: python3.12
    Timeout: 20
    MemorySize: 256
    Environment:
      Variables:
        SHARED: !Sub "shared-${Stage}"
        LABEL: from-globals
Resources:
  LabelA:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/label_a/
      Handler: app.lambda_handler
      Environment:
        Variables:
          LABEL: alpha
  LabelB:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/label_b/
      Handler: app.lambda_handler
      MemorySize: 1024
      Environment:
        Variables:
          LABEL: beta
  Sleeper:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/sleeper/
      Handler: app.lambda_handler
      Timeout: 1
  Broken:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/broken_import/
      Handler: app.lambda_handler
  MissingHandler:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/sleeper/
      Handler: app.no_such_function
  AwsUser:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/aws_user/
      Handler: app.lambda_handler
      Policies:  # what it calls, no more: the local stack holds it to its role
        - DynamoDBWritePolicy: {TableName: !Ref Records}
        - SQSSendMessagePolicy: {QueueName: !GetAtt Outbox.QueueName}
        - SSMParameterReadPolicy: {ParameterName: !Sub "svc/${Stage}/token"}
      Environment:
        Variables:
          TABLE_NAME: !Ref Records
          OUTBOX_URL: !Ref Outbox
          SECRET_NAME: !Sub /svc/${Stage}/token
  Ticker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/ticker/
      Handler: app.lambda_handler
      Events:
        Every:
          Type: Schedule
          Properties: {Schedule: rate(5 minutes)}
  Records:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      BillingMode: PAY_PER_REQUEST
  Outbox:
    Type: AWS::SQS::Queue
"""


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("workers-stack")


@pytest.fixture(scope="module")
def stack(directory: Path, make_stack_dir: MakeStackDir) -> Iterator[LocalStack]:
    template = make_stack_dir(directory, TEMPLATE)
    os.environ["SHELL_ONLY_VARIABLE"] = "the worker must not see this"
    try:
        with LocalStack.start(
            template,
            extra_env={"EXTRA_FROM_CALLER": "yes", "TICK_LOG": str(directory / "ticks.jsonl")},
            state_dir=directory / "state",
            poll_interval_seconds=0.5,
        ) as running:
            yield running
    finally:
        del os.environ["SHELL_ONLY_VARIABLE"]


def test_functions_with_the_same_module_name_run_isolated(stack: LocalStack, directory: Path) -> None:
    first, second = stack.invoke("LabelA", {}), stack.invoke("LabelB", {})
    assert first.ok, first.payload
    assert second.ok, second.payload
    a, b = first.payload, second.payload
    assert (a["marker"], b["marker"]) == ("module-a", "module-b")
    assert (a["label"], b["label"]) == ("alpha", "beta")  # function Environment wins over Globals
    assert a["shared"] == b["shared"] == "shared-dev"  # Globals, resolved
    assert a["pid"] != b["pid"]
    functions = directory / "functions"
    assert Path(a["module_file"]) == functions / "label_a" / "app.py"
    assert Path(a["sys_path_0"]) == Path(a["cwd"]) == functions / "label_a"
    assert Path(b["sys_path_0"]) == functions / "label_b"


def test_a_worker_stays_warm(stack: LocalStack) -> None:
    first = stack.invoke("LabelA", {})
    second = stack.invoke("LabelA", {})
    assert first.payload["pid"] == second.payload["pid"]
    assert first.request_id != second.request_id


def test_the_worker_environment_and_context(stack: LocalStack) -> None:
    result = stack.invoke("LabelB", {})
    environment, context = result.payload["environment"], result.payload["context"]
    assert environment == {
        "AWS_ENDPOINT_URL": stack.aws_endpoint_url,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": "activity-sync-LabelB",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "EXTRA_FROM_CALLER": "yes",
        "SHELL_ONLY_VARIABLE": None,  # nothing leaks in from the shell
    }
    assert context["function_name"] == "activity-sync-LabelB"
    assert context["function_version"] == "$LATEST"
    assert (
        context["invoked_function_arn"]
        == "arn:aws:lambda:us-east-1:123456789012:function:activity-sync-LabelB"
    )
    assert context["memory_limit_in_mb"] == 1024
    assert context["aws_request_id"] == result.request_id
    assert context["log_group_name"] == "/aws/lambda/activity-sync-LabelB"
    assert "[$LATEST]" in context["log_stream_name"]
    assert 15_000 < context["remaining_ms"] <= 20_000  # the Globals Timeout of 20 s


def test_a_function_past_its_timeout_is_killed_and_reported(stack: LocalStack) -> None:
    warm = stack.invoke("Sleeper", {"seconds": 0})
    started = time.monotonic()
    result = stack.invoke("Sleeper", {"seconds": 10})
    elapsed = time.monotonic() - started

    assert 1.0 <= elapsed < 3.0
    assert result.function_error == "Unhandled"
    assert result.error_type == "Sandbox.Timedout"
    assert result.error_message == f"RequestId: {result.request_id} Error: Task timed out after 1.00 seconds"
    with pytest.raises(ProcessLookupError):
        os.kill(warm.payload["pid"], 0)
    assert "Task timed out after 1.00 seconds" in stack.function_log("Sleeper").read_text()

    after = stack.invoke("Sleeper", {"seconds": 0})  # a fresh environment
    assert after.ok
    assert after.payload["pid"] != warm.payload["pid"]


def test_a_busy_worker_killed_mid_invocation_is_reported_as_a_runtime_exit(stack: LocalStack) -> None:
    # Given an invocation in progress (and nothing busy before it)
    assert stack.kill_busy_worker(["Sleeper"]) is None
    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(stack.invoke, "Sleeper", {"seconds": 0.9})
        deadline = time.monotonic() + 5
        killed = None
        # When the fault suite kills it
        while killed is None and time.monotonic() < deadline:
            time.sleep(0.05)
            killed = stack.kill_busy_worker(["Sleeper"])
        result = running.result(timeout=10)

    # Then the invocation ends as Lambda reports a crashed runtime, and the next one starts afresh
    assert killed is not None
    assert killed[0] == "Sleeper"
    assert result.error_type == "Runtime.ExitError"
    after = stack.invoke("Sleeper", {"seconds": 0})
    assert after.ok
    assert after.payload["pid"] != killed[1]


def test_a_handler_exception_is_reported_as_lambda_does(stack: LocalStack) -> None:
    result = stack.invoke("Sleeper", {"fail": "note 42"})
    assert result.function_error == "Unhandled"
    assert result.payload["errorType"] == "SyncFailed"
    assert result.payload["errorMessage"] == "cannot sync note 42"
    assert any("lambda_handler" in frame for frame in result.payload["stackTrace"])
    log = stack.function_log("Sleeper").read_text()
    assert "[ERROR] SyncFailed: cannot sync note 42" in log
    assert f"END RequestId: {result.request_id}" in log
    assert stack.invoke("Sleeper", {"seconds": 0}).ok  # the environment survives a handler error


def test_init_failures(stack: LocalStack) -> None:
    broken = stack.invoke("Broken", {})
    assert broken.error_type == "Runtime.ImportModuleError"
    assert "a_module_that_does_not_exist" in (broken.error_message or "")
    missing = stack.invoke("MissingHandler", {})
    assert missing.error_type == "Runtime.HandlerNotFound"


def test_a_function_uses_the_embedded_aws_with_plain_boto3(stack: LocalStack) -> None:
    stack.put_secure_parameter("/svc/dev/token", "t0ken")
    result = stack.invoke("AwsUser", {"pk": "note#1"})
    assert result.ok, result.payload
    assert result.payload == {"secret": "t0ken"}
    item = stack.boto3_client("dynamodb").get_item(
        TableName=stack.table_names["Records"], Key={"pk": {"S": "note#1"}}
    )
    assert item["Item"] == {"pk": {"S": "note#1"}}
    messages = stack.boto3_client("sqs").receive_message(QueueUrl=stack.queue_urls["Outbox"])["Messages"]
    assert [message["Body"] for message in messages] == ["note#1"]


def test_schedules_run_on_the_local_interval_and_on_demand(stack: LocalStack, directory: Path) -> None:
    tick_log = directory / "ticks.jsonl"
    deadline = time.monotonic() + 10
    while len(tick_log.read_text().splitlines() if tick_log.exists() else []) < 2:
        assert time.monotonic() < deadline, "the 0.5 s local poll interval fired twice"
        time.sleep(0.1)

    (result,) = stack.trigger_schedule("Ticker")
    assert result.ok
    event = json.loads(tick_log.read_text().splitlines()[-1])
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["account"] == "123456789012"
    assert event["region"] == "us-east-1"
    assert event["detail"] == {}
    assert event["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/activity-sync-TickerEvery"]
    assert [r.function_id for r in stack.trigger_schedule()] == ["Ticker"]
    with pytest.raises(KeyError):
        stack.trigger_schedule("LabelA")
