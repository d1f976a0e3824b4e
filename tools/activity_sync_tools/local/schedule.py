"""Schedule events: the function invoked with an EventBridge "Scheduled Event" on its rate.

``rate(N minute|minutes|hour|hours|day|days)`` runs on a timer (first run one period after start);
``cron(...)`` schedules are not timed locally - trigger them on demand. A local interval override
(``--poll-interval``) replaces every schedule's period. The payload follows
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-run-lambda-schedule.html; a schedule
with an ``Input`` sends that instead, as EventBridge does.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import uuid
from collections.abc import Callable
from typing import Any

from activity_sync_tools.local.template import ScheduleEventSource
from activity_sync_tools.local.workers import InvocationResult

logger = logging.getLogger(__name__)

_RATE = re.compile(r"rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> float | None:
    """The period of a ``rate(...)`` expression in seconds; None for ``cron(...)``."""
    expression = expression.strip()
    if expression.startswith("cron("):
        return None
    match = _RATE.fullmatch(expression)
    if match is None:
        raise ValueError(f"unsupported schedule expression {expression!r}")
    value = int(match.group(1))
    if value < 1:
        raise ValueError(f"a rate must be at least 1: {expression!r}")
    return float(value * _UNIT_SECONDS[match.group(2).rstrip("s")])


def scheduled_event(schedule: ScheduleEventSource, *, region: str, account_id: str) -> Any:
    if schedule.input is not None:
        return schedule.input
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{account_id}:rule/{schedule.rule_name}"],
        "detail": {},
    }


class ScheduleRunner:
    """Fires one enabled ``rate(...)`` schedule on its own timer thread."""

    def __init__(
        self,
        schedule: ScheduleEventSource,
        period_seconds: float,
        fire: Callable[[ScheduleEventSource], InvocationResult],
    ) -> None:
        self.schedule = schedule
        self.period_seconds = period_seconds
        self.fire = fire
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"schedule-{schedule.function_id}-{schedule.event_name}", daemon=True
        )

    def start(self) -> ScheduleRunner:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.period_seconds):
            try:
                result = self.fire(self.schedule)
                if not result.ok:
                    logger.warning(
                        "scheduled %s failed: %s: %s",
                        self.schedule.function_id,
                        result.error_type,
                        result.error_message,
                    )
            except Exception:
                if self._stop.is_set():
                    return
                logger.exception("scheduled invocation of %s failed", self.schedule.function_id)
