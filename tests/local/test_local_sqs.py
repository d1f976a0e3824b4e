"""SQS event sources: batches, partial batch failures, handler errors, dead-letter queues.

The fixture function ``recorder`` logs every delivery it sees, so the tests count deliveries from
the handler's side."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from activity_sync_tools.local import LocalStack

if TYPE_CHECKING:
    from tests.local.conftest import MakeStackDir

pytestmark = pytest.mark.integration  # runs moto and worker processes

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  MaxReceiveCount: {Type: Number, Default: 3}
  BigBatch: {Type: Number, Default: 25}
Globals:
  Function:
    Runtime: python3.12
    Timeout: 10
Resources:
  Recorder:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/recorder/
      Handler: app.lambda_handler
      Events:
        Failing:
          Type: SQS
          Properties:
            Queue: !GetAtt FailingQueue.Arn
            BatchSize: 10
            FunctionResponseTypes: [ReportBatchItemFailures]
        Partial:
          Type: SQS
          Properties:
            Queue: !GetAtt PartialQueue.Arn
            BatchSize: 10
            FunctionResponseTypes: [ReportBatchItemFailures]
        Big:
          Type: SQS
          Properties:
            Queue: !GetAtt BigQueue.Arn
            BatchSize: !Ref BigBatch
            MaximumBatchingWindowInSeconds: 30
  PlainRecorder:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/recorder/
      Handler: app.lambda_handler
      Events:
        Plain:
          Type: SQS
          Properties:
            Queue: !GetAtt PlainQueue.Arn
            BatchSize: 10
            MaximumBatchingWindowInSeconds: 1
  FailingQueue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 360
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt FailingDeadLetterQueue.Arn
        maxReceiveCount: !Ref MaxReceiveCount
  FailingDeadLetterQueue:
    Type: AWS::SQS::Queue
  PartialQueue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 360
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt PartialDeadLetterQueue.Arn
        maxReceiveCount: 4
  PartialDeadLetterQueue:
    Type: AWS::SQS::Queue
  BigQueue:
    Type: AWS::SQS::Queue
  PlainQueue:
    Type: AWS::SQS::Queue
    Properties:
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt PlainDeadLetterQueue.Arn
        maxReceiveCount: 2
  PlainDeadLetterQueue:
    Type: AWS::SQS::Queue
"""


@pytest.fixture(scope="module")
def delivery_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("deliveries") / "deliveries.jsonl"


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, make_stack_dir: MakeStackDir, delivery_log: Path
) -> Iterator[LocalStack]:
    directory = tmp_path_factory.mktemp("sqs-stack")
    template = make_stack_dir(directory, TEMPLATE)
    with LocalStack.start(
        template, extra_env={"DELIVERY_LOG": str(delivery_log)}, state_dir=directory / "state"
    ) as running:
        yield running


def deliveries(delivery_log: Path, ids: set[str]) -> list[dict[str, Any]]:
    lines = delivery_log.read_text(encoding="utf-8").splitlines() if delivery_log.exists() else []
    return [entry for entry in map(json.loads, lines) if entry["id"] in ids]


def send(stack: LocalStack, queue_id: str, bodies: list[dict[str, Any]]) -> None:
    sqs = stack.boto3_client("sqs")
    for start in range(0, len(bodies), 10):
        chunk = bodies[start : start + 10]
        sqs.send_message_batch(
            QueueUrl=stack.queue_urls[queue_id],
            Entries=[{"Id": str(index), "MessageBody": json.dumps(body)} for index, body in enumerate(chunk)],
        )


def queue_bodies(stack: LocalStack, queue_id: str) -> list[dict[str, Any]]:
    sqs = stack.boto3_client("sqs")
    messages = sqs.receive_message(QueueUrl=stack.queue_urls[queue_id], MaxNumberOfMessages=10).get(
        "Messages", []
    )
    return [json.loads(message["Body"]) for message in messages]


def new_id() -> str:
    return uuid.uuid4().hex


def test_a_failing_message_ends_in_its_dead_letter_queue_after_max_receive_count_deliveries(
    stack: LocalStack, delivery_log: Path
) -> None:
    message_id = new_id()
    send(stack, "FailingQueue", [{"id": message_id, "fail": True}])
    stack.wait_until_drained(timeout=30)

    seen = deliveries(delivery_log, {message_id})
    assert [entry["receive_count"] for entry in seen] == [1, 2, 3]  # MaxReceiveCount deliveries, no more
    assert queue_bodies(stack, "FailingDeadLetterQueue") == [{"id": message_id, "fail": True}]
    assert queue_bodies(stack, "FailingQueue") == []


def test_partial_batch_failure_redelivers_only_the_failed_items(
    stack: LocalStack, delivery_log: Path
) -> None:
    good = [new_id() for _ in range(3)]
    bad = new_id()
    send(
        stack, "PartialQueue", [{"id": good[0]}, {"id": bad, "fail": True}, {"id": good[1]}, {"id": good[2]}]
    )
    stack.wait_until_drained(timeout=30)

    seen = deliveries(delivery_log, {*good, bad})
    times_delivered = {
        identifier: sum(entry["id"] == identifier for entry in seen) for identifier in {*good, bad}
    }
    assert times_delivered == {good[0]: 1, good[1]: 1, good[2]: 1, bad: 4}
    assert max(entry["batch_size"] for entry in seen) == 4  # the four were one batch
    assert [entry["batch_size"] for entry in seen if entry["receive_count"] > 1] == [1, 1, 1]
    assert queue_bodies(stack, "PartialDeadLetterQueue") == [{"id": bad, "fail": True}]


def test_a_handler_error_deletes_nothing_and_the_batch_is_retried(
    stack: LocalStack, delivery_log: Path
) -> None:
    innocent, culprit = new_id(), new_id()
    send(stack, "PartialQueue", [{"id": innocent}, {"id": culprit, "raise_on_first": True}])
    stack.wait_until_drained(timeout=30)

    seen = deliveries(delivery_log, {innocent, culprit})
    assert sorted((entry["id"], entry["receive_count"]) for entry in seen) == sorted(
        [(innocent, 1), (culprit, 1), (innocent, 2), (culprit, 2)]
    )
    assert queue_bodies(stack, "PartialDeadLetterQueue") == []
    log = stack.function_log("Recorder").read_text(encoding="utf-8")
    assert "RuntimeError: the first delivery of this batch fails" in log


def test_batches_gather_up_to_batch_size_across_receives(stack: LocalStack, delivery_log: Path) -> None:
    ids = [new_id() for _ in range(25)]
    send(stack, "BigQueue", [{"id": identifier} for identifier in ids])
    stack.wait_until_drained(timeout=30)

    seen = deliveries(delivery_log, set(ids))
    assert sorted(entry["id"] for entry in seen) == sorted(ids)  # each exactly once
    batch_sizes = {entry["batch_size"] for entry in seen}
    assert max(batch_sizes) > 10, "one ReceiveMessage returns 10 at most: the poller gathered more"
    assert max(batch_sizes) <= 25


def test_without_report_batch_item_failures_a_returned_failure_list_is_ignored(
    stack: LocalStack, delivery_log: Path
) -> None:
    message_id = new_id()
    send(stack, "PlainQueue", [{"id": message_id, "fail": True}])
    stack.wait_until_drained(timeout=30)

    assert [entry["receive_count"] for entry in deliveries(delivery_log, {message_id})] == [1]
    assert queue_bodies(stack, "PlainDeadLetterQueue") == []


def test_the_sqs_event_has_the_lambda_record_shape(stack: LocalStack, delivery_log: Path) -> None:
    message_id = new_id()
    stack.boto3_client("sqs").send_message(
        QueueUrl=stack.queue_urls["PlainQueue"],
        MessageBody=json.dumps({"id": message_id}),
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "note"}},
    )
    stack.wait_until_drained(timeout=30)

    (entry,) = deliveries(delivery_log, {message_id})
    record = entry["record"]
    assert entry["function"] == "activity-sync-PlainRecorder"
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == "arn:aws:sqs:us-east-1:123456789012:activity-sync-PlainQueue"
    assert record["awsRegion"] == "us-east-1"
    assert json.loads(record["body"]) == {"id": message_id}
    assert record["messageId"]
    assert record["receiptHandle"]
    assert len(record["md5OfBody"]) == 32
    assert {"ApproximateReceiveCount", "SentTimestamp", "ApproximateFirstReceiveTimestamp"} <= set(
        record["attributes"]
    )
    assert record["messageAttributes"]["kind"] == {
        "stringValue": "note",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }


def test_wait_until_drained_counts_messages_in_flight(stack: LocalStack, delivery_log: Path) -> None:
    message_id = new_id()
    send(stack, "FailingQueue", [{"id": message_id, "fail": True}])
    # The message is failing and retried about once a second: not drained after half a second.
    with pytest.raises(TimeoutError) as timed_out:
        stack.wait_until_drained(timeout=0.5)
    assert "FailingQueue" in str(timed_out.value)
    stack.wait_until_drained(timeout=30)
    assert len(deliveries(delivery_log, {message_id})) == 3
