"""Webhook receiver: HubSpot webhooks, posted HubSpot activities and Salesforce Outbound Messages.

Thin by design: it reads the HTTP request, hands it to activity_sync.usecases.ingest.Receiver and
turns the outcome into a response. Every refusal names its reason (R17); no request, however
malformed, gets a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from activity_sync.observability import logger, metrics, tracer
from activity_sync.rules.hubspot_webhooks import WebhookRejected
from activity_sync.rules.salesforce_outbound import ACK_RESPONSE
from activity_sync.service import receiver
from activity_sync.usecases.ingest import MAX_ACTIVITY_BODY_BYTES

app = APIGatewayHttpResolver()
# A compressed body may not unpack to more than the route takes (no decompression bombs).
MAX_DECOMPRESSED_BYTES = MAX_ACTIVITY_BODY_BYTES + 1


def _request_url() -> str:
    # HubSpot signs the URL it called; API Gateway is reached over HTTPS unless a local runtime
    # says otherwise through X-Forwarded-Proto.
    event = app.current_event
    headers = event.headers
    scheme = headers.get("x-forwarded-proto", "https")
    query = f"?{event.raw_query_string}" if event.raw_query_string else ""
    return f"{scheme}://{headers.get('host', event.request_context.domain_name)}{event.raw_path}{query}"


def _body(*, gzip_allowed: bool = False) -> str:
    """The request body as text. API Gateway hands over a body it cannot pass as text base64-encoded
    (``isBase64Encoded``); a gzip body is unpacked where the route takes one; what is not UTF-8
    after that is refused (400), never a 500."""
    event = app.current_event
    raw: str = event.get("body") or ""
    try:
        data = base64.b64decode(raw, validate=True) if event.get("isBase64Encoded") else raw.encode("utf-8")
    except (binascii.Error, ValueError):
        raise WebhookRejected(400, "body is marked base64 but is not") from None
    if event.headers.get("content-encoding", "").strip().lower() == "gzip":
        if not gzip_allowed:
            raise WebhookRejected(415, "this route takes no Content-Encoding")
        data = _gunzip(data)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookRejected(400, "body is not UTF-8 text") from None


def _gunzip(data: bytes) -> bytes:
    unpacker = zlib.decompressobj(wbits=31)  # gzip framing
    try:
        unpacked = unpacker.decompress(data, MAX_DECOMPRESSED_BYTES)
    except zlib.error:
        raise WebhookRejected(400, "body is marked gzip but is not") from None
    if unpacker.unconsumed_tail or len(unpacked) >= MAX_DECOMPRESSED_BYTES:
        raise WebhookRejected(413, f"body larger than {MAX_ACTIVITY_BODY_BYTES} bytes once unpacked")
    return unpacked


def _report(route: str, outcome: dict[str, Any]) -> Response[str]:
    metrics.add_metric(name=f"{route}Queued", unit=MetricUnit.Count, value=outcome["queued"])
    if outcome["ignored"]:
        logger.info("ignored events", extra={"route": route, "ignored": outcome["ignored"]})
    return Response(200, content_types.APPLICATION_JSON, json.dumps(outcome))


@app.post("/webhooks/hubspot")
def hubspot_webhook() -> Response[str]:
    event = app.current_event
    outcome = receiver().hubspot_webhook(
        method=event.request_context.http.method, url=_request_url(), headers=event.headers, body=_body()
    )
    return _report("HubSpotWebhook", outcome)


@app.post("/webhooks/hubspot/activities")
def hubspot_activities() -> Response[str]:
    outcome = receiver().hubspot_activities(
        headers=app.current_event.headers, read_body=lambda: _body(gzip_allowed=True)
    )
    return _report("HubSpotActivity", outcome)


@app.post("/webhooks/salesforce/outbound-messages")
def salesforce_outbound_message_without_token() -> Response[str]:
    raise WebhookRejected(401, "the Outbound Message URL must end with this stack's token (README: Security)")


@app.post("/webhooks/salesforce/outbound-messages/<token>")
def salesforce_outbound_message(token: str) -> Response[str]:
    outcome = receiver().salesforce_outbound_message(body=_body(), token=token)
    _report("SalesforceOutboundMessage", outcome)
    return Response(200, "text/xml", ACK_RESPONSE)


@app.exception_handler(WebhookRejected)  # type: ignore[untyped-decorator]
def rejected(error: WebhookRejected) -> Response[str]:
    logger.warning("request rejected", extra={"status": error.status, "reason": error.reason})
    metrics.add_metric(name="RequestsRejected", unit=MetricUnit.Count, value=1)
    return Response(error.status, content_types.APPLICATION_JSON, json.dumps({"message": error.reason}))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    receiver().register_lambda_context(context)
    return app.resolve(event, context)
