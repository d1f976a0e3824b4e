"""Poller: on the EventBridge schedule, reconciles what webhooks missed and reads the feeds that
have none (marketing email events, form submissions, Salesforce changes)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from activity_sync.observability import logger, metrics, tracer
from activity_sync.service import service

# No new step starts this close to the timeout: the step under way (a page queued, then its
# watermark written) must have time to finish, or the next run repeats it. A fifth of the time at
# most, so that a function given a short timeout still polls.
SAFETY_MARGIN_SECONDS = 60.0
SAFETY_MARGIN_SHARE = 0.2


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    remaining = context.get_remaining_time_in_millis() / 1000
    margin = min(SAFETY_MARGIN_SECONDS, remaining * SAFETY_MARGIN_SHARE)
    deadline = time.monotonic() + remaining - margin
    sync = service()
    # Vendor calls, their retries included, end by the deadline too (each job sets its priority).
    sync.begin(None, remaining - margin)
    summary = sync.poller().run(dt.datetime.now(dt.UTC), deadline=deadline)
    metrics.add_metric(name="ChangesQueuedByPoll", unit=MetricUnit.Count, value=sum(summary.queued.values()))
    # A failed job does not fail the invocation (the schedule's retries would repeat every other
    # job too); it is logged with its name and counted here, for an alarm.
    metrics.add_metric(name="PollJobsFailed", unit=MetricUnit.Count, value=len(summary.failed))
    metrics.add_metric(name="PollJobsUnfinished", unit=MetricUnit.Count, value=len(summary.unfinished))
    sync.report_vendor_calls()
    return {"queued": summary.queued, "failed": summary.failed, "unfinished": summary.unfinished}
