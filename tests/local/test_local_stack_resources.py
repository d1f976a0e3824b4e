"""The local stack follows the template: what the template declares exists in the embedded AWS,
what it no longer declares does not; the real template.yaml comes up with its queues wired to
their own dead-letter queues. Each test starts its own stack."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from activity_sync_tools.local import LocalStack
from activity_sync_tools.local.nested import load_stack_template
from activity_sync_tools.local.template import TemplateError

if TYPE_CHECKING:
    from tests.local.conftest import MakeStackDir

pytestmark = pytest.mark.integration  # runs moto and worker processes

BASE_TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: dev}
  MaxReceiveCount: {Type: Number, Default: 4}
Globals:
  Function:
    Runtime: python3.12
    Timeout: 5
Resources:
  StateTable:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: sk, AttributeType: S}
      KeySchema:
        - {AttributeName: pk, KeyType: HASH}
        - {AttributeName: sk, KeyType: RANGE}
      GlobalSecondaryIndexes:
        - IndexName: inverted
          KeySchema:
            - {AttributeName: sk, KeyType: HASH}
            - {AttributeName: pk, KeyType: RANGE}
          Projection: {ProjectionType: ALL}
      TimeToLiveSpecification: {AttributeName: expires_at, Enabled: true}
  WorkQueue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 120
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt WorkDeadLetterQueue.Arn
        maxReceiveCount: !Ref MaxReceiveCount
  WorkDeadLetterQueue:
    Type: AWS::SQS::Queue
    Properties:
      MessageRetentionPeriod: 1209600
  EndpointParameter:
    Type: AWS::SSM::Parameter
    Properties:
      Name: !Sub /svc/${Stage}/endpoint
      Type: String
      Value: https://example.test
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/label_a/
      Handler: app.lambda_handler
      Environment:
        Variables:
          LABEL: worker
"""

ADDED_RESOURCES = """
  AuditQueue:
    Type: AWS::SQS::Queue
    Properties:
      DelaySeconds: 3
  AuditTable:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      ProvisionedThroughput: {ReadCapacityUnits: 2, WriteCapacityUnits: 3}
  AuditParameter:
    Type: AWS::SSM::Parameter
    Properties:
      Name: !Sub /svc/${Stage}/audit
      Type: String
      Value: !GetAtt AuditQueue.QueueName
"""


def queue_names(stack: LocalStack) -> set[str]:
    urls = stack.boto3_client("sqs").list_queues().get("QueueUrls", [])
    return {url.rsplit("/", 1)[1] for url in urls}


def table_names(stack: LocalStack) -> set[str]:
    return set(stack.boto3_client("dynamodb").list_tables()["TableNames"])


def parameter_names(stack: LocalStack) -> set[str]:
    pages = stack.boto3_client("ssm").get_paginator("describe_parameters").paginate()
    return {parameter["Name"] for page in pages for parameter in page["Parameters"]}


def test_resources_added_to_the_template_appear_and_removed_ones_do_not(
    tmp_path: Path, make_stack_dir: MakeStackDir
) -> None:
    template = make_stack_dir(tmp_path, BASE_TEMPLATE + ADDED_RESOURCES)
    with LocalStack.start(template, event_sources=False, schedules=False) as stack:
        assert queue_names(stack) == {
            "activity-sync-WorkQueue",
            "activity-sync-WorkDeadLetterQueue",
            "activity-sync-AuditQueue",
        }
        assert table_names(stack) == {"activity-sync-StateTable", "activity-sync-AuditTable"}
        assert parameter_names(stack) == {"/svc/dev/endpoint", "/svc/dev/audit"}
        ssm = stack.boto3_client("ssm")
        assert ssm.get_parameter(Name="/svc/dev/audit")["Parameter"]["Value"] == "activity-sync-AuditQueue"
        attributes = stack.boto3_client("sqs").get_queue_attributes(
            QueueUrl=stack.queue_urls["AuditQueue"], AttributeNames=["DelaySeconds"]
        )["Attributes"]
        assert attributes["DelaySeconds"] == "3"
        audit = stack.boto3_client("dynamodb").describe_table(TableName="activity-sync-AuditTable")["Table"]
        assert audit["ProvisionedThroughput"]["WriteCapacityUnits"] == 3

    template = make_stack_dir(tmp_path, BASE_TEMPLATE)
    with LocalStack.start(template, event_sources=False, schedules=False) as stack:
        assert queue_names(stack) == {"activity-sync-WorkQueue", "activity-sync-WorkDeadLetterQueue"}
        assert table_names(stack) == {"activity-sync-StateTable"}
        assert parameter_names(stack) == {"/svc/dev/endpoint"}
        assert set(stack.queue_urls) == {"WorkQueue", "WorkDeadLetterQueue"}


def test_tables_queues_and_parameters_carry_the_template_properties(
    tmp_path: Path, make_stack_dir: MakeStackDir
) -> None:
    template = make_stack_dir(tmp_path, BASE_TEMPLATE)
    with LocalStack.start(
        template, parameter_overrides={"Stage": "qa", "MaxReceiveCount": "2"}, stack_name="other"
    ) as stack:
        dynamodb = stack.boto3_client("dynamodb")
        table = dynamodb.describe_table(TableName=stack.table_names["StateTable"])["Table"]
        assert table["TableName"] == "other-StateTable"
        assert [key["AttributeName"] for key in table["KeySchema"]] == ["pk", "sk"]
        assert table["GlobalSecondaryIndexes"][0]["IndexName"] == "inverted"
        ttl = dynamodb.describe_time_to_live(TableName="other-StateTable")["TimeToLiveDescription"]
        assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}

        sqs = stack.boto3_client("sqs")
        attributes = sqs.get_queue_attributes(QueueUrl=stack.queue_urls["WorkQueue"], AttributeNames=["All"])[
            "Attributes"
        ]
        assert attributes["VisibilityTimeout"] == "120"
        assert json.loads(attributes["RedrivePolicy"]) == {
            "deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:other-WorkDeadLetterQueue",
            "maxReceiveCount": 2,
        }
        assert stack.parameter_names == {"EndpointParameter": "/svc/qa/endpoint"}
        stack.put_secure_parameter("/svc/qa/secret", "s3cr3t")
        secret = stack.boto3_client("ssm").get_parameter(Name="/svc/qa/secret", WithDecryption=True)
        assert secret["Parameter"]["Type"] == "SecureString"
        assert secret["Parameter"]["Value"] == "s3cr3t"


def test_stop_leaves_no_process_or_thread_behind(tmp_path: Path, make_stack_dir: MakeStackDir) -> None:
    threads_before = set(threading.enumerate())
    template = make_stack_dir(tmp_path, BASE_TEMPLATE)
    stack = LocalStack.start(template, state_dir=tmp_path / "state")
    result = stack.invoke("Worker", {})
    assert result.ok, result.payload
    worker_pid = result.payload["pid"]
    os.kill(worker_pid, 0)  # running, warm
    stack.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(worker_pid, 0)
    # A server's request thread may still be closing its connection a moment after the stop
    # (daemon threads are not joined): what is left must be gone within a few seconds.
    deadline = time.monotonic() + 5
    while (
        leftover := [thread for thread in set(threading.enumerate()) - threads_before if thread.is_alive()]
    ) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftover == []
    assert (tmp_path / "state" / "logs" / "Worker.log").exists()


def test_one_stack_per_process(tmp_path: Path, make_stack_dir: MakeStackDir) -> None:
    template = make_stack_dir(tmp_path, BASE_TEMPLATE)
    with (
        LocalStack.start(template, event_sources=False, schedules=False),
        pytest.raises(RuntimeError, match="already runs"),
    ):
        LocalStack.start(template)


def test_a_template_error_stops_what_was_started(tmp_path: Path, make_stack_dir: MakeStackDir) -> None:
    template = make_stack_dir(tmp_path, BASE_TEMPLATE)
    with pytest.raises(TemplateError, match="undeclared"):
        LocalStack.start(template, parameter_overrides={"Unknown": "1"})
    with LocalStack.start(
        template, event_sources=False, schedules=False
    ) as stack:  # nothing was left running
        assert stack.table_names == {"StateTable": "activity-sync-StateTable"}


# ----------------------------------------------------------------------- the real template.yaml


def test_the_real_template_comes_up_with_every_queue_redriving_to_its_own_dead_letter_queue(
    real_template: Path, tmp_path: Path
) -> None:
    with LocalStack.start(
        real_template,
        parameter_overrides={"MaxReceiveCount": "3"},
        state_dir=tmp_path / "state",
        schedules=False,
    ) as stack:
        model = stack.model
        assert model is not None
        sqs = stack.boto3_client("sqs")
        arn_by_url = {
            url: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            for url in stack.queue_urls.values()
        }
        assert model.queue_sources, "the syncers consume queues"
        for source in model.queue_sources:
            queue_url = stack.queue_urls[source.queue_logical_id]
            attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
            policy = json.loads(attributes["RedrivePolicy"])
            assert policy["maxReceiveCount"] == 3
            dead_letter_ids = [
                logical_id
                for logical_id, url in stack.queue_urls.items()
                if arn_by_url[url] == policy["deadLetterTargetArn"]
            ]
            assert len(dead_letter_ids) == 1, f"{source.queue_logical_id}'s dead-letter queue exists"
            (dead_letter_id,) = dead_letter_ids
            # Its own: no other consumed queue shares it, and it is not itself consumed.
            others = [s for s in model.queue_sources if s.queue_logical_id != source.queue_logical_id]
            assert all(
                json.loads(
                    sqs.get_queue_attributes(
                        QueueUrl=stack.queue_urls[other.queue_logical_id], AttributeNames=["RedrivePolicy"]
                    )["Attributes"]["RedrivePolicy"]
                )["deadLetterTargetArn"]
                != policy["deadLetterTargetArn"]
                for other in others
            )
            assert dead_letter_id not in {s.queue_logical_id for s in model.queue_sources}

        template = load_stack_template(real_template)
        declared_tables = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::DynamoDB::Table"]
        assert set(stack.table_names) == set(declared_tables)
        assert set(stack.boto3_client("dynamodb").list_tables()["TableNames"]) == set(
            stack.table_names.values()
        )
        ssm = stack.boto3_client("ssm")
        for spec in model.ssm_parameters.values():
            assert ssm.get_parameter(Name=spec.name)["Parameter"]["Value"] == spec.value
        # Every queue URL a function is given, or finds in the stack directory, is a queue that exists.
        existing = set(stack.boto3_client("sqs").list_queues()["QueueUrls"])
        for function in model.functions.values():
            for name, value in function.environment.items():
                if name.endswith("QUEUE_URL") or name.startswith("QUEUE_URL_"):
                    assert value in existing, f"{function.logical_id}: {name}"
        directory = model.ssm_values_under("/activity-sync/dev/stack")
        urls = [v for entry in directory.values() for k, v in json.loads(entry).items() if k.endswith("_url")]
        assert len(urls) == 2 + 2 * 13
        assert set(urls) <= existing
