"""Webhook receiver: HubSpot webhooks, posted HubSpot activities and Salesforce Outbound Messages.

Thin by design: it reads the HTTP request, hands it to activity_sync.usecases.ingest.Receiver and
turns the outcome into a response. Every refusal names its reason (R17).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from aws_lambda_powertools.utilities.typing import LambdaContext

from activity_sync.adapters.hubspot_webhooks import WebhookRejected
from activity_sync.adapters.queues import ChangeQueues
from activity_sync.adapters.salesforce_outbound import ACK_RESPONSE
from activity_sync.config import RECEIVER_PARAMETERS, RuntimeConfig, load_connection_settings
from activity_sync.observability import logger, metrics, tracer
from activity_sync.usecases.ingest import Receiver

app = APIGatewayHttpResolver()


@cache
def receiver() -> Receiver:
    config = RuntimeConfig.load()
    return Receiver(
        lambda force_fetch=False: load_connection_settings(
            config, RECEIVER_PARAMETERS, force_fetch=force_fetch
        ),
        ChangeQueues(config),
        idempotency=DynamoDBPersistenceLayer(table_name=config.idempotency_table),
    )


def _request_url() -> str:
    # HubSpot signs the URL it called; API Gateway is reached over HTTPS unless a local runtime
    # says otherwise through X-Forwarded-Proto.
    event = app.current_event
    headers = event.headers
    scheme = headers.get("x-forwarded-proto", "https")
    query = f"?{event.raw_query_string}" if event.raw_query_string else ""
    return f"{scheme}://{headers.get('host', event.request_context.domain_name)}{event.raw_path}{query}"


def _report(route: str, outcome: dict[str, Any]) -> Response[str]:
    metrics.add_metric(name=f"{route}Queued", unit=MetricUnit.Count, value=outcome["queued"])
    if outcome["ignored"]:
        logger.info("ignored events", extra={"route": route, "ignored": outcome["ignored"]})
    return Response(200, content_types.APPLICATION_JSON, json.dumps(outcome))


@app.post("/webhooks/hubspot")
def hubspot_webhook() -> Response[str]:
    event = app.current_event
    outcome = receiver().hubspot_webhook(
        method=event.request_context.http.method,
        url=_request_url(),
        headers=event.headers,
        body=event.decoded_body or "",
    )
    return _report("HubSpotWebhook", outcome)


@app.post("/webhooks/hubspot/activities")
def hubspot_activities() -> Response[str]:
    event = app.current_event
    outcome = receiver().hubspot_activities(headers=event.headers, body=event.decoded_body or "")
    return _report("HubSpotActivity", outcome)


@app.post("/webhooks/salesforce/outbound-messages")
def salesforce_outbound_message() -> Response[str]:
    outcome = receiver().salesforce_outbound_message(body=app.current_event.decoded_body or "")
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
