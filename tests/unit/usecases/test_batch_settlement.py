"""R16: every message of a batch is settled - done, redelivered, or dead-lettered with its reason."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from activity_sync.adapters.queues import SqsDeadLetterQueue
from activity_sync.messages import ChangeMessage, ChangeSource
from activity_sync.ports import QueuedMessage
from activity_sync.usecases.batch import BatchResult, run_batch


class RecordingDeadLetters:
    """A dead-letter queue that records what it is sent (and can refuse it), and hands back
    nothing (no budget deferrals here)."""

    def __init__(self, works: bool = True) -> None:
        self.sent: list[tuple[str, str]] = []
        self.works = works

    def send(self, message: QueuedMessage, reason: str) -> bool:
        self.sent.append((message.message_id, reason))
        return self.works

    def hand_back(self, messages: Sequence[tuple[QueuedMessage, int]]) -> set[str]:
        return {message.message_id for message, _ in messages}


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
    return QueuedMessage(message_id, body.to_json(), receive_count)


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


class ExplodingHandler:
    def handle(self, changes: Sequence[tuple[str, ChangeMessage]]) -> BatchResult:
        raise RuntimeError("ProvisionedThroughputExceededException: throttled")


def test_r16_an_unexpected_exception_is_settled_per_message_with_its_reason() -> None:
    # Given a handler that fails outright (a DynamoDB throttle, a bug)
    dead = RecordingDeadLetters()
    # When a batch arrives, Then every message is redelivered - not a failed invocation ...
    assert run_batch([_message("a"), _message("b")], ExplodingHandler(), dead, 4, ChangeMessage) == ["a", "b"]
    # ... and on its last try it goes to the dead-letter queue with the exception as its reason
    assert run_batch([_message("a", receive_count=4)], ExplodingHandler(), dead, 4, ChangeMessage) == []
    assert dead.sent == [
        ("a", "gave up after 4 deliveries: RuntimeError: ProvisionedThroughputExceededException: throttled")
    ]


def test_r16_a_delivery_after_a_crash_on_the_last_try_is_dead_lettered_with_that_reason() -> None:
    # Given a message whose last try (the 4th) ended without a result: SQS delivers it a 5th time
    handler = ScriptedHandler(BatchResult())
    dead = RecordingDeadLetters()
    assert run_batch([_message("a", receive_count=5)], handler, dead, 4, ChangeMessage) == []
    # Then it is not tried again but dead-lettered, saying why
    assert handler.seen == []
    assert dead.sent == [
        ("a", "its delivery 4 ended without a result (the function crashed or timed out while handling it)")
    ]


def test_r17_a_message_that_cannot_be_right_is_dead_lettered_before_any_work() -> None:
    handler = ScriptedHandler(BatchResult())
    dead = RecordingDeadLetters()
    run_batch(
        [_message("a"), _message("b")],
        handler,
        dead,
        4,
        ChangeMessage,
        validate=lambda change: "not a number" if change.object_id == "b" else None,
    )
    assert handler.seen == ["a"]
    assert dead.sent == [("b", "invalid message: not a number")]


class RecordingQueue:
    def __init__(self, failing: set[str] | None = None) -> None:
        self.sent: list[dict[str, object]] = []
        self.failing = failing or set()

    def send_message_batch(self, **request: Any) -> dict[str, object]:
        entries: list[dict[str, object]] = request["Entries"]
        self.sent.extend(entries)
        return {"Failed": [{"Id": e["Id"]} for e in entries if e["MessageBody"] in self.failing]}

    def send_message(self, **request: Any) -> dict[str, object]:
        self.sent.append(request)
        return {}


def test_r18_held_back_messages_go_back_to_their_queue_with_a_delay_and_spend_no_try() -> None:
    # Given a batch the API budget held back
    queue = RecordingQueue()
    dead = SqsDeadLetterQueue("dlq", cast(Any, queue), own_queue_url="own-queue")
    handler = ScriptedHandler(BatchResult(defer={"a": ("budget spent", 120), "b": ("budget spent", 120)}))
    # When it is settled
    redeliver = run_batch([_message("a", receive_count=4), _message("b")], handler, dead, 4, ChangeMessage)
    # Then both are queued again, delayed, and their deliveries deleted: nothing dead-lettered
    assert redeliver == []
    assert [(e["DelaySeconds"], e["MessageBody"]) for e in queue.sent] == [
        (120, _message("a").body),
        (120, _message("b").body),
    ]


def test_r16_one_dead_letter_per_record_and_reason() -> None:
    # Given a registry that already holds record "a" for this reason
    claims: list[tuple[str, str, str]] = []

    def claim(queue: str, record: str, reason: str, body: str) -> bool:
        claims.append((queue, record, reason))
        return len([c for c in claims if c[1:] == (record, reason)]) == 1

    queue = RecordingQueue()
    letters = SqsDeadLetterQueue("dlq", cast(Any, queue), queue_key="hubspot_to_salesforce#note", claim=claim)
    # When the same record fails twice for the same reason, and once for another
    assert letters.send(_message("a"), "INVALID_CROSS_REFERENCE_KEY")
    assert letters.send(_message("a"), "INVALID_CROSS_REFERENCE_KEY")
    assert letters.send(_message("a"), "FIELD_CUSTOM_VALIDATION_EXCEPTION")
    # Then two dead letters were sent, keyed by the record the message is about
    assert len(queue.sent) == 2
    assert {c[1] for c in claims} == {"a"}
