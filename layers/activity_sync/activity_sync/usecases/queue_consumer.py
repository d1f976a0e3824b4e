"""What a queue-consuming handler needs from its environment: its dead-letter queue and how many
deliveries a message gets (both set per function by template.yaml)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.data_classes import SQSEvent

from activity_sync.usecases.batch import DeadLetters, QueuedMessage

DEFAULT_MAX_RECEIVE_COUNT = 5


def queued_messages(event: Mapping[str, Any]) -> list[QueuedMessage]:
    return [
        QueuedMessage(
            message_id=record.message_id,
            body=record.body or "",
            receive_count=int(record.attributes.approximate_receive_count or 1),
        )
        for record in SQSEvent(dict(event)).records
    ]


def dead_letters_from_environ() -> DeadLetters:
    return DeadLetters(os.environ.get("DEAD_LETTER_QUEUE_URL"))


def max_receive_count_from_environ() -> int:
    return int(os.environ.get("MAX_RECEIVE_COUNT", DEFAULT_MAX_RECEIVE_COUNT))


def partial_batch_response(redeliver: list[str]) -> dict[str, Any]:
    """Lambda's partial batch response for SQS (``ReportBatchItemFailures``)."""
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in redeliver]}
