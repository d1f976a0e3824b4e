"""events/ holds a valid sample for every function of the template (what `sam local invoke` takes)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from activity_sync.messages import ChangeMessage, ContactChangeMessage
from activity_sync.rules.hubspot_webhooks import parse_delivery, verify_v3
from activity_sync.rules.salesforce_outbound import parse_outbound_message
from activity_sync_tools.events import TEST_WEBHOOK_CLIENT_SECRET, build_events, resign
from activity_sync_tools.local.nested import load_stack_template

ROOT = Path(__file__).resolve().parents[3]
EVENTS = ROOT / "events"


def _load(relative: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / relative).read_text())
    return loaded


def test_every_generated_sample_is_committed() -> None:
    committed = {str(p.relative_to(EVENTS)) for p in EVENTS.rglob("*.json")}
    assert committed == set(build_events())


def test_every_function_has_a_sample() -> None:
    functions = {
        props["CodeUri"].strip("/").split("/")[-1]
        for r in load_stack_template(ROOT / "template.yaml")["Resources"].values()
        if r["Type"] == "AWS::Serverless::Function"
        for props in [r["Properties"]]
    }
    assert functions == {p.name for p in EVENTS.iterdir() if p.is_dir()}


@pytest.mark.parametrize(
    "relative", sorted(p for p in build_events() if p.startswith(("syncer/", "contact_linker/")))
)
def test_sqs_samples_carry_valid_queue_messages(relative: str) -> None:
    model = ContactChangeMessage if relative.startswith("contact_linker/") else ChangeMessage
    for record in _load(relative)["Records"]:
        assert record["eventSource"] == "aws:sqs"
        model.from_json(record["body"])


def test_hubspot_webhook_sample_is_signed_with_the_documented_secret(tmp_path: Path) -> None:
    # Given the sample re-signed now (v3 signatures expire after five minutes)
    copy = tmp_path / "hubspot_webhook.json"
    copy.write_text((EVENTS / "webhook_receiver/hubspot_webhook.json").read_text())
    event = resign(copy)
    headers = event["headers"]
    url = f"{headers['x-forwarded-proto']}://{headers['host']}{event['rawPath']}"
    # Then the receiver's verification accepts it and its body parses
    verify_v3(
        client_secret=TEST_WEBHOOK_CLIENT_SECRET,
        method="POST",
        uri=url,
        body=event["body"],
        timestamp=headers["x-hubspot-request-timestamp"],
        signature=headers["x-hubspot-signature-v3"],
        now=dt.datetime.now(dt.UTC),
    )
    events, set_aside = parse_delivery(event["body"])
    assert len(events) == 2
    assert set_aside == []


def test_outbound_message_sample_parses() -> None:
    message = parse_outbound_message(_load("webhook_receiver/salesforce_outbound_message.json")["body"])
    assert [r.sobject_type for r in message.records] == ["Task"]
