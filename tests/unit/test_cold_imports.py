"""Each handler imports only what it uses at cold start (issue #8): the heavy modules wait for the
path that needs them (JWT signing, simple-salesforce and its SOAP stack on the first Salesforce
call; the X-Ray SDK on the first invocation X-Ray samples). Counted, not timed: ``make bench``
times the imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ("webhook_receiver", "poller", "syncer", "contact_linker")
# Needed on some paths only, or never at import (pydantic: never; the queue messages and webhook
# events are read by activity_sync.json_fields, issue #8).
DEFERRED = (
    "pydantic",
    "aws_xray_sdk",
    "simple_salesforce",
    "zeep",
    "lxml",
    "jwt",
    "cryptography",
    "aws_lambda_powertools.utilities.data_classes",
)
ENVIRONMENT = {
    "SYNC_TYPE": "hubspot_to_salesforce#note",
    "STAGE": "dev",
    "SSM_PREFIX": "/activity-sync/dev",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_SERVICE_NAME": "activity-sync",
    "POWERTOOLS_METRICS_NAMESPACE": "ActivitySync",
    "LAMBDA_TASK_ROOT": "/var/task",  # as in Lambda, where Powertools' Tracer would be enabled
}


def _loaded_after(script: str, function: str) -> list[str]:
    """The modules of DEFERRED loaded once ``script`` ran in a fresh interpreter, in the function's
    directory, with its environment."""
    environment = {k: v for k, v in os.environ.items() if k != "_X_AMZN_TRACE_ID"}
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            f"{script}\nimport json, sys\n"
            f"print(json.dumps([m for m in {list(DEFERRED)!r} if m in sys.modules]))",
        ],
        cwd=ROOT / "functions" / function,
        env={**environment, **ENVIRONMENT},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    loaded: list[str] = json.loads(completed.stdout.strip().splitlines()[-1])
    return loaded


# The receiver's Event Handler (APIGatewayHttpResolver) reads its events through the data classes.
USED_AT_IMPORT = {"webhook_receiver": {"aws_lambda_powertools.utilities.data_classes"}}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_cold_handler_leaves_the_heavy_modules_for_the_path_that_needs_them(function: str) -> None:
    # When a fresh interpreter imports the handler, as Lambda's init does
    loaded = _loaded_after("import app", function)

    # Then none of the deferred modules it does not use at once is loaded
    assert set(loaded) - USED_AT_IMPORT.get(function, set()) == set()


def test_the_xray_sdk_loads_only_for_an_invocation_xray_samples() -> None:
    # Given a handler wrapped by the package's tracer
    script = """
import os
from activity_sync.observability import tracer

@tracer.capture_lambda_handler
def handler(event, context):
    return event

assert handler({"n": 1}, None) == {"n": 1}
import sys
assert "aws_xray_sdk" not in sys.modules, "loaded for an unsampled invocation"
os.environ["_X_AMZN_TRACE_ID"] = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=557abcec3ee5a047;Sampled=1"
assert handler({"n": 2}, None) == {"n": 2}
"""
    # When it runs once unsampled, then once sampled
    loaded = _loaded_after(script, "syncer")

    # Then the SDK came with the sampled invocation (the script asserted it was absent before)
    assert "aws_xray_sdk" in loaded
