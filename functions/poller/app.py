"""Poller: on the EventBridge schedule, reconciles what webhooks missed and reads the feeds that
have none (marketing email events, form submissions, Salesforce changes)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from activity_sync.observability import logger, metrics, tracer
from activity_sync.service import service


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    summary = service().poller().run(dt.datetime.now(dt.UTC))
    metrics.add_metric(name="ChangesQueuedByPoll", unit=MetricUnit.Count, value=sum(summary.queued.values()))
    return {"queued": summary.queued}
