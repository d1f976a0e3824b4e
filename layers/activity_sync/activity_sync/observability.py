"""One Logger, Tracer and Metrics for the whole package (Powertools reads its settings from the
POWERTOOLS_* environment variables the template sets)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

type Handler = Callable[[Any, Any], Any]

# Lambda's reserved variable with the invocation's X-Ray header, "Root=…;Parent=…;Sampled=1"; it
# changes with every invocation (docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html).
TRACE_HEADER = "_X_AMZN_TRACE_ID"


def invocation_is_sampled() -> bool:
    return "Sampled=1" in os.environ.get(TRACE_HEADER, "")


class SampledTracer:
    """Powertools' Tracer, built on the first invocation X-Ray samples. Its constructor imports the
    X-Ray SDK (a third of a cold start) even when tracing is off, so a container that records no
    trace never pays for it."""

    def __init__(self) -> None:
        self._tracer: Tracer | None = None

    @property
    def tracer(self) -> Tracer:
        if self._tracer is None:
            from aws_lambda_powertools import Tracer

            self._tracer = Tracer()
        return self._tracer

    def capture_lambda_handler(self, handler: Handler) -> Handler:
        traced: list[Handler] = []

        @functools.wraps(handler)
        def run(event: Any, context: Any) -> Any:
            if not invocation_is_sampled():
                return handler(event, context)
            if not traced:
                traced.append(self.tracer.capture_lambda_handler(handler))
            return traced[0](event, context)

        return run


logger = Logger()
tracer = SampledTracer()
metrics = Metrics()
