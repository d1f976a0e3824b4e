"""Syncer: one deployed function per activity type (SYNC_TYPE), fed by that type's queue.

A batch of queued changes becomes one batch of vendor calls; each message is settled on its own
(partial batch response, dead-letter queue with the reason, or back to its queue with a delay when
the API budget is spent).
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from activity_sync.domain import Direction, HubSpotActivityType, SyncType
from activity_sync.messages import ChangeMessage
from activity_sync.observability import logger, metrics, tracer
from activity_sync.rules.message_checks import change_problem
from activity_sync.service import service
from activity_sync.usecases.batch import ChangeHandler, run_batch
from activity_sync.usecases.queue_consumer import (
    partial_batch_response,
    queued_messages,
    tries_from_environ,
)

SYNC_TYPE = SyncType.parse(os.environ["SYNC_TYPE"])
TRIES = tries_from_environ()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(sync_type=SYNC_TYPE.key)
    metrics.add_dimension(name="SyncType", value=SYNC_TYPE.key)
    sync = service()
    remaining = context.get_remaining_time_in_millis() / 1000
    # Vendor calls, retries included, end in time to settle every message of the batch.
    sync.begin_batch(SYNC_TYPE, remaining)
    handler: ChangeHandler[ChangeMessage]
    if SYNC_TYPE.direction is Direction.HUBSPOT_TO_SALESFORCE:
        handler = sync.hubspot_to_salesforce(HubSpotActivityType(SYNC_TYPE.type))
    else:
        handler = sync.salesforce_to_hubspot(SYNC_TYPE)
    messages = queued_messages(event)
    redeliver = run_batch(
        messages,
        handler,
        sync.dead_letter_queue(SYNC_TYPE.key),
        TRIES,
        ChangeMessage,
        validate=lambda change: change_problem(change, SYNC_TYPE),
    )
    sync.end()
    metrics.add_metric(name="MessagesProcessed", unit=MetricUnit.Count, value=len(messages))
    metrics.add_metric(name="MessagesRedelivered", unit=MetricUnit.Count, value=len(redeliver))
    return partial_batch_response(redeliver)
