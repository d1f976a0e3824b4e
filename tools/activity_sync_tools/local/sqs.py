"""SQS event sources: one poller thread per queue a function consumes, doing what Lambda's
event source mapping does (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html).

* It gathers a batch of up to ``BatchSize`` messages with repeated ReceiveMessage calls (10 at most
  each) for up to ``MaximumBatchingWindowInSeconds`` - capped locally (1 s by default) so that
  tests and local runs stay quick - and invokes the function with the SQS event.
* Success deletes the batch. With ``ReportBatchItemFailures`` only the messages the function did
  not name in ``batchItemFailures`` are deleted; a response naming an id that is not in the batch
  fails the whole batch, as in AWS. A handler error or timeout deletes nothing.
* Failed messages become visible again after a short local retry delay (1 s by default, by
  ChangeMessageVisibility) instead of waiting out the queue's ``VisibilityTimeout`` (360 s in the
  template). The queue's own visibility timeout still covers a batch while it is being processed.
* Moving a message to the dead-letter queue after ``maxReceiveCount`` receives is moto's work: its
  ReceiveMessage enforces the queue's RedrivePolicy as SQS does, so the message that was received
  ``maxReceiveCount`` times moves on the next receive (tests prove it).
* Several batches of one queue are delivered at once, as Lambda's pollers scale out with the backlog:
  up to ``ScalingConfig.MaximumConcurrency`` (``concurrency``; see
  :func:`activity_sync_tools.local.workers.source_concurrency`). One receiving thread per queue
  gathers a batch whenever fewer than that many are in flight, and hands it to a delivery thread of
  its own; an idle queue costs one long poll at a time. ``concurrency=1`` delivers one batch at a
  time, in order.
* The poller's own calls on its queue (receive, delete, change visibility) never overlap: moto's
  SQS backend is not safe for a receive and a delete of the same queue at the same moment (a
  receive can fail half-way after marking messages received, and they would then sit in flight
  for the whole visibility timeout). While batches are in flight the receiver therefore polls
  without waiting (briefly, every ``RETRY_POLL_SECONDS``) instead of holding a long poll.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from activity_sync_tools.local.template import QueueEventSource
from activity_sync_tools.local.workers import ActivityTracker, InvocationResult

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

logger = logging.getLogger(__name__)

RECEIVE_LIMIT = 10  # SQS returns at most 10 messages per ReceiveMessage
LONG_POLL_SECONDS = 1  # short, so that stopping the stack never waits long on an idle queue
RETRY_POLL_SECONDS = 0.1


class QueuePoller:
    """Polls one queue and delivers its batches to one function."""

    def __init__(
        self,
        source: QueueEventSource,
        queue_url: str,
        sqs: SQSClient,
        invoke: Callable[[str, Any], InvocationResult],
        tracker: ActivityTracker,
        *,
        region: str,
        max_batching_window_seconds: float = 1.0,
        retry_delay_seconds: int = 1,
        concurrency: int = 1,
        retry_sqs: SQSClient | None = None,
    ) -> None:
        self.source = source
        self.queue_url = queue_url
        self.sqs = sqs  # as Lambda polls: with the function's role
        # Making a failed batch visible again after ``retry_delay_seconds`` is the local runtime's
        # shortcut (Lambda waits out the visibility timeout and calls nothing), so it is not
        # asked of the function's role: ``retry_sqs`` (the operator's) makes it.
        self.retry_sqs = retry_sqs or sqs
        self.invoke = invoke
        self.tracker = tracker
        self.region = region
        self.batching_window_seconds = min(source.batching_window_seconds, max_batching_window_seconds)
        self.retry_delay_seconds = retry_delay_seconds
        self.concurrency = max(1, concurrency)
        self._retries_due_until = 0.0
        self._stop = threading.Event()
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self._lock = threading.Lock()
        self._sqs_lock = threading.Lock()  # one call on the queue at a time (see the module docstring)
        self._deliveries: set[threading.Thread] = set()
        self._in_flight = 0
        self.peak_in_flight = 0  # the most batches of this queue delivered at once
        self.batches = 0
        self._thread = threading.Thread(
            target=self._run, name=f"sqs-poller-{source.queue_logical_id}", daemon=True
        )

    def start(self) -> QueuePoller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        self._thread.join(timeout)
        with self._lock:
            deliveries = list(self._deliveries)
        for thread in deliveries:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._slots.acquire(timeout=0.2):
                continue  # every slot is delivering a batch
            handed_off = False
            try:
                # moto wakes a long poll for new messages only, not for ones whose visibility ran
                # out: poll briskly while failed messages are due back; and never hold a long poll
                # while batches in flight need to delete theirs.
                brisk = time.monotonic() < self._retries_due_until or self.in_flight > 0
                messages = self._gather(0 if brisk else LONG_POLL_SECONDS)
                if messages:
                    self._hand_off(messages)
                    handed_off = True
                elif brisk:
                    self._stop.wait(RETRY_POLL_SECONDS)
            except Exception:
                if self._stop.is_set():
                    return
                logger.exception("polling %s failed; retrying", self.source.queue_logical_id)
                self._stop.wait(1.0)
            finally:
                if not handed_off:
                    self._slots.release()

    @property
    def in_flight(self) -> int:
        """Batches being delivered now."""
        with self._lock:
            return self._in_flight

    def _hand_off(self, messages: list[MessageTypeDef]) -> None:
        """Deliver the batch on a thread of its own; its slot is released when it is settled."""
        self.tracker.begin()
        with self._lock:
            self._in_flight += 1
            self.batches += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
            thread = threading.Thread(
                target=self._deliver_in_background,
                args=(messages,),
                name=f"sqs-batch-{self.source.queue_logical_id}",
                daemon=True,
            )
            self._deliveries.add(thread)
        thread.start()

    def _deliver_in_background(self, messages: list[MessageTypeDef]) -> None:
        try:
            self._deliver(messages)
        except Exception:
            if not self._stop.is_set():
                logger.exception("delivering a batch of %s failed", self.source.queue_logical_id)
        finally:
            with self._lock:
                self._in_flight -= 1
                self._deliveries.discard(threading.current_thread())
            self._slots.release()
            self.tracker.end()

    def poll_once(self, wait_seconds: int = 0) -> int:
        """Receive one batch and deliver it in this thread; how many messages it held."""
        messages = self._gather(wait_seconds)
        if not messages:
            return 0
        with self.tracker.busy():
            self._deliver(messages)
        return len(messages)

    def _gather(self, wait_seconds: int) -> list[MessageTypeDef]:
        """A batch: up to ``BatchSize`` messages gathered within the batching window."""
        messages = self._receive(min(RECEIVE_LIMIT, self.source.batch_size), wait_seconds)
        if not messages:
            return []
        with self.tracker.busy():
            deadline = time.monotonic() + self.batching_window_seconds
            while len(messages) < self.source.batch_size and time.monotonic() < deadline:
                more = self._receive(min(RECEIVE_LIMIT, self.source.batch_size - len(messages)), 0)
                if more:
                    messages.extend(more)
                else:
                    self._stop.wait(min(0.05, max(0.0, deadline - time.monotonic())))
        return messages

    def _receive(self, count: int, wait_seconds: int) -> list[MessageTypeDef]:
        with self._sqs_lock:
            response = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=count,
                WaitTimeSeconds=wait_seconds,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
        return list(response.get("Messages", []))

    def _deliver(self, messages: list[MessageTypeDef]) -> None:
        event = {"Records": [self._record(message) for message in messages]}
        result = self.invoke(self.source.function_id, event)
        failed_ids = self._failed_message_ids(result, {message["MessageId"] for message in messages})
        succeeded = [message for message in messages if message["MessageId"] not in failed_ids]
        failed = [message for message in messages if message["MessageId"] in failed_ids]
        for chunk in _chunks(succeeded):
            with self._sqs_lock:
                self.sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {"Id": str(index), "ReceiptHandle": m["ReceiptHandle"]}
                        for index, m in enumerate(chunk)
                    ],
                )
        if failed:
            self._retries_due_until = time.monotonic() + self.retry_delay_seconds + 1.0
        for chunk in _chunks(failed):
            with self._sqs_lock:
                self.retry_sqs.change_message_visibility_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {
                            "Id": str(index),
                            "ReceiptHandle": m["ReceiptHandle"],
                            "VisibilityTimeout": self.retry_delay_seconds,
                        }
                        for index, m in enumerate(chunk)
                    ],
                )

    def _failed_message_ids(self, result: InvocationResult, batch_ids: set[str]) -> set[str]:
        """Which messages to keep, by the rules of partial batch responses
        (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html)."""
        if not result.ok:
            logger.warning(
                "%s failed a batch of %d from %s: %s: %s",
                self.source.function_id,
                len(batch_ids),
                self.source.queue_logical_id,
                result.error_type,
                result.error_message,
            )
            return batch_ids
        if not self.source.report_batch_item_failures:
            return set()
        payload = result.payload
        if not isinstance(payload, dict):
            return set()
        failures = payload.get("batchItemFailures")
        if not failures:
            return set()
        if not isinstance(failures, list):
            return batch_ids
        named: set[str] = set()
        for failure in failures:
            identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if not isinstance(identifier, str) or identifier not in batch_ids:
                return batch_ids  # an invalid response fails the whole batch
            named.add(identifier)
        return named

    def _record(self, message: MessageTypeDef) -> dict[str, Any]:
        record: dict[str, Any] = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message.get("Body", ""),
            "attributes": dict(message.get("Attributes", {})),
            "messageAttributes": {
                name: _message_attribute(value)
                for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.source.queue_arn,
            "awsRegion": self.region,
        }
        if "MD5OfMessageAttributes" in message:
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        return record


def _message_attribute(value: Any) -> dict[str, Any]:
    attribute: dict[str, Any] = {
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
    return attribute


def _chunks(messages: list[MessageTypeDef]) -> list[list[MessageTypeDef]]:
    return [messages[start : start + RECEIVE_LIMIT] for start in range(0, len(messages), RECEIVE_LIMIT)]
