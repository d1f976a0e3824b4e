"""What a queue-consuming handler needs from its event and environment: the messages, how many
deliveries a message gets (set per function by the templates), and Lambda's partial batch
response. Its dead-letter queue comes from ``service.dead_letter_queue``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from activity_sync.ports import QueuedMessage

DEFAULT_MAX_RECEIVE_COUNT = 5


def queued_messages(event: Mapping[str, Any]) -> list[QueuedMessage]:
    """The SQS event's records (read as the plain dicts they are: Powertools' data classes package
    would import every event type it knows at cold start)."""
    return [
        QueuedMessage(
            message_id=record["messageId"],
            body=record.get("body") or "",
            receive_count=int((record.get("attributes") or {}).get("ApproximateReceiveCount") or 1),
        )
        for record in event.get("Records") or []
    ]


def tries_from_environ() -> int:
    """How many deliveries the consumer tries a message: one fewer than the queue's
    ``maxReceiveCount``, whose last delivery settles a try that ended without a result."""
    return max(1, int(os.environ.get("MAX_RECEIVE_COUNT", DEFAULT_MAX_RECEIVE_COUNT)) - 1)


def partial_batch_response(redeliver: list[str]) -> dict[str, Any]:
    """Lambda's partial batch response for SQS (``ReportBatchItemFailures``)."""
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in redeliver]}
