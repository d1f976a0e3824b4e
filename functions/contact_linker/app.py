"""Contact linker: links HubSpot contacts to Salesforce Contacts/Leads (R4) and wakes the
activities that were waiting for a contact that now syncs."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from activity_sync.messages import ContactChangeMessage
from activity_sync.observability import logger, metrics, tracer
from activity_sync.rules.message_checks import contact_change_problem
from activity_sync.service import service
from activity_sync.usecases.batch import run_batch
from activity_sync.usecases.queue_consumer import (
    partial_batch_response,
    queued_messages,
    tries_from_environ,
)

TRIES = tries_from_environ()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    sync = service()
    remaining = context.get_remaining_time_in_millis() / 1000
    sync.begin_batch(None, remaining)
    redeliver = run_batch(
        queued_messages(event),
        sync.contact_linker(),
        sync.dead_letter_queue("contact_changes"),
        TRIES,
        ContactChangeMessage,
        validate=contact_change_problem,
    )
    sync.end()
    return partial_batch_response(redeliver)
