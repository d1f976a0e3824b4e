"""One Logger, Tracer and Metrics for the whole package (Powertools reads its settings from the
POWERTOOLS_* environment variables the template sets)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()
