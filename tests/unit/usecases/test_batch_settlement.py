"""R16: every message of a batch is settled - done, redelivered, or dead-lettered with its reason."""

from __future__ import annotations

from collections.abc import Sequence

from activity_sync.messages import ChangeMessage, ChangeSource
from activity_sync.usecases.batch import BatchResult, DeadLetters, QueuedMessage, run_batch


class RecordingDeadLetters(DeadLetters):
    def __init__(self, works: bool = True) -> None:
        super().__init__(queue_url="unused")
        self.sent: list[tuple[str, str]] = []
        self.works = works

    def send(self, message: QueuedMessage, reason: str) -> bool:
        self.sent.append((message.message_id, reason))
        return self.works


class ScriptedHandler:
    def __init__(self, result: BatchResult) -> None:
        self.result = result
        self.seen: list[str] = []

    def handle(self, changes: Sequence[tuple[str, ChangeMessage]]) -> BatchResult:
        self.seen = [message_id for message_id, _ in changes]
        return self.result


def _message(message_id: str, receive_count: int = 1) -> QueuedMessage:
    body = ChangeMessage(
        sync_type="hubspot_to_salesforce#note", object_id=message_id, source=ChangeSource.HUBSPOT_POLL
    )
    return QueuedMessage(message_id, body.model_dump_json(), receive_count)


def test_r16_successes_are_deleted_and_transient_failures_redelivered() -> None:
    handler = ScriptedHandler(BatchResult(retry={"b": "rate limited"}))
    dead = RecordingDeadLetters()
    redeliver = run_batch(
        [_message("a"), _message("b")], handler, dead, max_receive_count=5, model=ChangeMessage
    )
    assert handler.seen == ["a", "b"]
    assert redeliver == ["b"]
    assert dead.sent == []


def test_r16_permanent_failures_go_to_the_dlq_at_once_with_their_reason() -> None:
    handler = ScriptedHandler(BatchResult(dead={"a": "Salesforce refused the Task upsert: INVALID_FIELD"}))
    dead = RecordingDeadLetters()
    assert run_batch([_message("a")], handler, dead, max_receive_count=5, model=ChangeMessage) == []
    assert dead.sent == [("a", "Salesforce refused the Task upsert: INVALID_FIELD")]


def test_r16_a_transient_failure_on_its_last_delivery_is_dead_lettered_with_its_reason() -> None:
    handler = ScriptedHandler(BatchResult(retry={"a": "HubSpot 503"}))
    dead = RecordingDeadLetters()
    assert (
        run_batch([_message("a", receive_count=5)], handler, dead, max_receive_count=5, model=ChangeMessage)
        == []
    )
    assert dead.sent == [("a", "gave up after 5 deliveries: HubSpot 503")]


def test_r16_malformed_messages_never_reach_the_handler_and_are_dead_lettered() -> None:
    handler = ScriptedHandler(BatchResult())
    dead = RecordingDeadLetters()
    bad = QueuedMessage("x", '{"sync_type": 1}', 1)
    assert run_batch([bad, _message("a")], handler, dead, max_receive_count=5, model=ChangeMessage) == []
    assert handler.seen == ["a"]
    assert dead.sent[0][0] == "x"
    assert dead.sent[0][1].startswith("malformed message")


def test_r16_when_the_dlq_cannot_be_written_sqs_redelivers_instead() -> None:
    handler = ScriptedHandler(BatchResult(dead={"a": "bad data"}))
    assert run_batch([_message("a")], handler, RecordingDeadLetters(works=False), 5, ChangeMessage) == ["a"]
