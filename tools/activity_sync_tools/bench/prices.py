"""AWS list prices the bench turns its counts into dollars with (us-east-1, on-demand, no free tier).

They are written down here, not fetched at run time: the bench runs without a network. Each names
the page it comes from and when it was read; refresh them when AWS changes its prices.
"""

from __future__ import annotations

from dataclasses import dataclass

PRICES_AS_OF = "2025-11"
REGION = "us-east-1"


@dataclass(frozen=True)
class Price:
    name: str
    usd: float  # per ``unit``
    unit: str
    source: str

    def cost(self, quantity: float) -> float:
        return quantity * self.usd


LAMBDA_REQUESTS = Price(
    "Lambda requests",
    0.20 / 1_000_000,
    "request",
    "https://aws.amazon.com/lambda/pricing/ ($0.20 per 1M requests)",
)
LAMBDA_ARM_GB_SECOND = Price(
    "Lambda duration (arm64)",
    0.0000133334,
    "GB-second",
    "https://aws.amazon.com/lambda/pricing/ (Arm, first 7.5 billion GB-s a month)",
)
DYNAMODB_WRITE_REQUEST_UNIT = Price(
    "DynamoDB write request units (on demand)",
    0.625 / 1_000_000,
    "write request unit",
    "https://aws.amazon.com/dynamodb/pricing/on-demand/ ($0.625 per 1M, since the 2024-11-01 cut)",
)
DYNAMODB_READ_REQUEST_UNIT = Price(
    "DynamoDB read request units (on demand)",
    0.125 / 1_000_000,
    "read request unit",
    "https://aws.amazon.com/dynamodb/pricing/on-demand/ ($0.125 per 1M, since the 2024-11-01 cut)",
)
SQS_REQUEST = Price(
    "SQS requests (standard queue)",
    0.40 / 1_000_000,
    "request",
    "https://aws.amazon.com/sqs/pricing/ ($0.40 per 1M, 64 KB chunks, after the first 1M a month)",
)
HTTP_API_REQUEST = Price(
    "API Gateway HTTP API requests",
    1.00 / 1_000_000,
    "request",
    "https://aws.amazon.com/api-gateway/pricing/ ($1.00 per 1M, first 300M a month, 512 KB units)",
)

ALL_PRICES = (
    LAMBDA_REQUESTS,
    LAMBDA_ARM_GB_SECOND,
    DYNAMODB_WRITE_REQUEST_UNIT,
    DYNAMODB_READ_REQUEST_UNIT,
    SQS_REQUEST,
    HTTP_API_REQUEST,
)


@dataclass(frozen=True)
class Usage:
    """What a run used, in billed units."""

    lambda_requests: float = 0.0
    lambda_gb_seconds: float = 0.0
    dynamodb_write_units: float = 0.0
    dynamodb_read_units: float = 0.0
    sqs_requests: float = 0.0
    http_api_requests: float = 0.0


def cost_breakdown(usage: Usage) -> dict[str, float]:
    """Dollars per priced item, at the list prices above."""
    return {
        LAMBDA_REQUESTS.name: LAMBDA_REQUESTS.cost(usage.lambda_requests),
        LAMBDA_ARM_GB_SECOND.name: LAMBDA_ARM_GB_SECOND.cost(usage.lambda_gb_seconds),
        DYNAMODB_WRITE_REQUEST_UNIT.name: DYNAMODB_WRITE_REQUEST_UNIT.cost(usage.dynamodb_write_units),
        DYNAMODB_READ_REQUEST_UNIT.name: DYNAMODB_READ_REQUEST_UNIT.cost(usage.dynamodb_read_units),
        SQS_REQUEST.name: SQS_REQUEST.cost(usage.sqs_requests),
        HTTP_API_REQUEST.name: HTTP_API_REQUEST.cost(usage.http_api_requests),
    }


def cost_per_million(usage: Usage, activities: int) -> float:
    """Dollars per million activities, if every million costs what ``activities`` did."""
    if activities <= 0:
        return 0.0
    return sum(cost_breakdown(usage).values()) / activities * 1_000_000
