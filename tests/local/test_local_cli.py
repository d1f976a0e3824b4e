"""``activity-sync local up`` and ``activity-sync sandbox`` from the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from activity_sync_tools.cli import build_parser
from activity_sync_tools.local.cli import parse_assignments

if TYPE_CHECKING:
    from tests.local.conftest import MakeStackDir

pytestmark = pytest.mark.integration  # runs moto and worker processes

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: dev}
Globals:
  Function:
    Runtime: python3.12
    Timeout: 10
Resources:
  Work:
    Type: AWS::SQS::Queue
  Setting:
    Type: AWS::SSM::Parameter
    Properties: {Name: !Sub "/svc/${Stage}/setting", Type: String, Value: on}
  Ticker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/ticker/
      Handler: app.lambda_handler
      Events:
        Poll:
          Type: Schedule
          Properties: {Schedule: rate(1 hour)}
"""


def test_parse_assignments_reads_both_forms() -> None:
    assert parse_assignments(["A=1", "B=x=y C=", "ParameterKey=D,ParameterValue=4"], "test") == {
        "A": "1",
        "B": "x=y",
        "C": "",
        "D": "4",
    }
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_assignments(["novalue"], "test")


def test_the_parser_knows_its_subcommands() -> None:
    parser = build_parser()
    arguments = parser.parse_args(
        [
            "local",
            "up",
            "--port",
            "0",
            "--parameter-overrides",
            "A=1",
            "B=2",
            "--env",
            "X=1",
            "--poll-interval",
            "10",
            "--concurrency",
            "1",
        ]
    )
    assert arguments.concurrency == 1
    assert (arguments.port, arguments.parameter_overrides, arguments.env) == (0, ["A=1", "B=2"], ["X=1"])
    assert arguments.poll_interval == 10.0
    assert arguments.template == Path("template.yaml")
    arguments = parser.parse_args(["sandbox", "--hubspot-port", "0", "--salesforce-port", "0"])
    assert (arguments.hubspot_port, arguments.salesforce_port, arguments.seed) == (0, 0, None)


def call(url: str, method: str = "GET", body: bytes | None = None) -> Any:
    request = urllib.request.Request(url, method=method, data=body)  # noqa: S310 - a local http URL
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.loads(response.read())


def test_local_up_runs_in_the_foreground_until_sigterm(tmp_path: Path, make_stack_dir: MakeStackDir) -> None:
    template = make_stack_dir(tmp_path, TEMPLATE)
    state_dir = tmp_path / "state"
    tick_log = tmp_path / "ticks.jsonl"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "activity_sync_tools.cli",
            "local",
            "up",
            "--template",
            str(template),
            "--port",
            "0",
            "--state-dir",
            str(state_dir),
            "--parameter-overrides",
            "Stage=qa",
            "--env",
            f"TICK_LOG={tick_log}",
            "--concurrency",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "AWS_PROFILE": "a-profile-that-does-not-exist"},
    )
    try:
        endpoints_file = state_dir / "endpoints.json"
        deadline = time.monotonic() + 30
        while not endpoints_file.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "local up did not come up"
            time.sleep(0.1)
        api_url = json.loads(endpoints_file.read_text())["api_url"]

        endpoints = call(f"{api_url}/_local/endpoints")
        assert endpoints["ssm_parameters"] == {"Setting": "/svc/qa/setting"}
        assert endpoints["queues"]["Work"].startswith(endpoints["aws_endpoint_url"])
        assert endpoints["functions"]["Ticker"]["concurrency"] == 1  # --concurrency 1
        (invocation,) = call(f"{api_url}/_local/poll", "POST", b"")["invocations"]
        assert invocation["payload"] == {"ticked": True}
        assert json.loads(tick_log.read_text())["detail-type"] == "Scheduled Event"
        assert call(f"{api_url}/_local/wait-drained?timeout=10", "POST", b"") == {"drained": True}
        metrics = call(f"{api_url}/_local/metrics")
        assert metrics["functions"]["Ticker"]["invocations"] == 1
        assert metrics["functions"]["Ticker"]["cold_starts"] == 1

        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert "Ready." in stdout
    assert api_url in stdout
    assert "/svc/qa/setting" in stdout
    assert "Ticker.Poll" in stdout


def test_local_up_reports_a_bad_template(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text("Resources: {a: [}\n")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "activity_sync_tools.cli",
            "local",
            "up",
            "--template",
            str(template),
            "--port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert completed.returncode == 1
    assert "not valid YAML" in completed.stderr


def test_sandbox_serves_both_sandboxes_until_sigterm(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"salesforce": {"accounts": [{"key": "acme", "Name": "Acme"}]}}))
    temp = tmp_path / "tmp"  # the system temp folder, as the sandbox sees it
    temp.mkdir()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "activity_sync_tools.cli",
            "sandbox",
            "--hubspot-port",
            "0",
            "--salesforce-port",
            "0",
            "--seed",
            str(seed),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(temp)},
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        while not lines or not lines[-1].startswith("Ready."):
            line = process.stdout.readline()
            assert line, process.communicate(timeout=10)
            lines.append(line)
        urls = {
            line.split()[0]: line.split()[1] for line in lines if line.startswith(("HubSpot", "Salesforce"))
        }
        assert urls["HubSpot"].startswith("http://127.0.0.1:")
        assert urls["Salesforce"].startswith("https://localhost:")
        output = "".join(lines)
        assert "private app token" in output
        assert "client secret" in output
        assert f"HubSpotApiBaseUrl={urls['HubSpot']}" in output
        assert [p.name for p in temp.glob("activity-sync-tls-*")], "the certificate is not where we look"
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    # Issue #12.13: what the sandbox created in the temp folder went with it
    assert list(temp.iterdir()) == []
