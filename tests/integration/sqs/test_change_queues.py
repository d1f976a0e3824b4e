"""``adapters.queues.ChangeQueues`` on moto: messages travel as UTF-8 (not ``\\uXXXX`` escapes), and
SendMessageBatch requests are cut by bytes as well as by count, so a batch of large messages is
never refused as a whole (BatchRequestTooLong)."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from activity_sync.adapters.queues import ChangeQueues
from activity_sync.config import RuntimeConfig, queue_env_var
from activity_sync.domain import HubSpotActivityType, SyncType
from activity_sync.messages import MAX_QUEUE_MESSAGE_BYTES, ChangeMessage, ChangeSource
from activity_sync.ports import QueueSendError
from tests.moto_env import use_fake_aws

pytestmark = pytest.mark.integration

EVENTS = SyncType.hubspot_to_salesforce(HubSpotActivityType.INTEGRATION_EVENT)


@pytest.fixture
def queue(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ChangeQueues, str]]:
    use_fake_aws(monkeypatch)
    with mock_aws():
        sqs = boto3.client("sqs")
        url = sqs.create_queue(QueueName="events")["QueueUrl"]
        environ = {
            "STAGE": "test",
            "SETTINGS_TABLE": "s",
            "LINKS_TABLE": "l",
            "SYNC_STATE_TABLE": "t",
            "IDEMPOTENCY_TABLE": "i",
            queue_env_var(EVENTS): url,
        }
        yield ChangeQueues(RuntimeConfig.from_environ(environ), sqs), url


def _event(event_id: str, text: str) -> ChangeMessage:
    return ChangeMessage(
        sync_type=EVENTS.key,
        object_id=event_id,
        source=ChangeSource.HUBSPOT_ACTIVITY_ROUTE,
        payload={"id": event_id, "properties": {"event_name": text}},
    )


def _received(url: str) -> list[str]:
    sqs = boto3.client("sqs")
    bodies: list[str] = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def test_ten_messages_of_120_kb_go_in_requests_sqs_takes_and_all_arrive(
    queue: tuple[ChangeQueues, str],
) -> None:
    # Given ten changes of 120 kB each: 1.2 MB, more than one SendMessageBatch carries
    queues, url = queue
    changes = [_event(f"e{n}", "x" * 120_000) for n in range(10)]

    # When they are queued
    sent = queues.send_changes(changes)

    # Then every one arrives
    assert sent == 10
    assert len(_received(url)) == 10


def test_text_travels_as_utf8_so_a_chinese_note_stays_its_size(queue: tuple[ChangeQueues, str]) -> None:
    queues, url = queue
    text = "中" * 80_000  # 240,000 bytes of UTF-8; as \\u escapes it would be 480,000

    queues.send_changes([_event("e1", text)])

    [body] = _received(url)
    assert len(body.encode()) < MAX_QUEUE_MESSAGE_BYTES
    assert ChangeMessage.from_json(body).payload == {"id": "e1", "properties": {"event_name": text}}


def test_a_message_larger_than_sqs_takes_fails_naming_the_limit(queue: tuple[ChangeQueues, str]) -> None:
    queues, _ = queue
    with pytest.raises(QueueSendError, match=str(MAX_QUEUE_MESSAGE_BYTES)):
        queues.send_changes([_event("e1", "x" * (MAX_QUEUE_MESSAGE_BYTES + 1))])
