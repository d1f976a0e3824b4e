"""The embedded AWS reads a queue's retention period off the queue when ReceiveMessage hands out a
message, as moto does but without computing every attribute of the queue (three scans of all its
messages) for each one: draining a backlog costs time in proportion to it, not to its square. Its
SQS clock reads the same milliseconds, more cheaply, and moto lists its own services once, not on
every request."""

from __future__ import annotations

import datetime as dt
import importlib
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.sqs.models import Queue, sqs_backends

from activity_sync_tools.local.aws import EmbeddedAws, speed_up_moto
from tests.moto_env import use_fake_aws


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    use_fake_aws(monkeypatch)
    speed_up_moto()
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


def test_receiving_from_a_backlog_does_not_scan_the_queue_for_each_message(
    sqs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a backlog of 100 messages
    url = sqs.create_queue(QueueName="backlog")["QueueUrl"]
    for start in range(0, 100, 10):
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(start, start + 10)]
        )
    computed = []
    attributes = Queue.attributes

    def counted(queue: Queue) -> dict[str, Any]:
        computed.append(queue.name)
        return attributes.fget(queue)  # type: ignore[attr-defined, no-any-return]

    monkeypatch.setattr(Queue, "attributes", property(counted))

    # When ten are received
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]

    # Then the queue's attributes were not computed for them (moto alone: three times each)
    assert len(received) == 10
    assert computed == []


def test_a_message_older_than_the_retention_period_is_still_not_delivered(sqs: Any) -> None:
    # Given a queue that keeps messages a minute, a message sent two minutes ago and one just sent
    url = sqs.create_queue(QueueName="short", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="old")
    [old] = sqs_backends["123456789012"]["us-east-1"].queues["short"]._messages
    old.sent_timestamp = int(old.sent_timestamp or 0) - 120_000  # type: ignore[assignment]  # moto types it None
    sqs.send_message(QueueUrl=url, MessageBody="new")

    # When the queue is read (as often as it takes), then only the recent message comes
    bodies = [
        message["Body"]
        for _ in range(3)
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    ]
    assert bodies == ["new"]


def test_the_sqs_clock_reads_the_same_milliseconds(sqs: Any) -> None:
    sqs_models: Any = importlib.import_module("moto.sqs.models")
    before = time.time() * 1000
    now = sqs_models.unix_time_millis()
    assert before <= now <= time.time() * 1000
    moment = dt.datetime(2026, 3, 1, 12, 0)  # moto's clock is naive UTC
    assert sqs_models.unix_time_millis(moment) == 1_772_366_400_000


def test_moto_lists_its_services_once(sqs: Any) -> None:
    moto_backends: Any = importlib.import_module("moto.backends")
    listed = moto_backends.list_of_moto_modules()
    assert {"sqs", "dynamodb", "ssm"} <= set(listed)
    assert moto_backends.list_of_moto_modules() is listed


def test_queue_counts_read_in_process_agree_with_get_queue_attributes(sqs: Any) -> None:
    # Given a queue with a message received (in flight), one delayed and one waiting
    url = sqs.create_queue(QueueName="counted")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="received")
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=60)
    sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=60)
    sqs.send_message(QueueUrl=url, MessageBody="waiting")

    # When the embedded AWS counts it without an API call
    counts = EmbeddedAws("us-east-1").queue_counts("counted")

    # Then it tells what GetQueueAttributes tells
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert counts == {"visible": 1, "in_flight": 1, "delayed": 1}
    assert counts == {
        "visible": int(attributes["ApproximateNumberOfMessages"]),
        "in_flight": int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        "delayed": int(attributes["ApproximateNumberOfMessagesDelayed"]),
    }
