"""Contact linker: links HubSpot contacts to Salesforce Contacts/Leads (R4) and wakes the
activities that were waiting for a contact that now syncs."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from activity_sync.messages import ContactChangeMessage
from activity_sync.observability import logger, metrics, tracer
from activity_sync.service import service
from activity_sync.usecases.batch import run_batch
from activity_sync.usecases.queue_consumer import (
    dead_letters_from_environ,
    max_receive_count_from_environ,
    partial_batch_response,
    queued_messages,
)

DEAD_LETTERS = dead_letters_from_environ()
MAX_RECEIVE_COUNT = max_receive_count_from_environ()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    redeliver = run_batch(
        queued_messages(event),
        service().contact_linker(),
        DEAD_LETTERS,
        MAX_RECEIVE_COUNT,
        ContactChangeMessage,
    )
    return partial_batch_response(redeliver)
