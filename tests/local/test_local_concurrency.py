"""A function runs up to its concurrency of invocations at once, each in an execution environment of
its own, and never more; an SQS event source delivers up to its MaximumConcurrency of batches at once.

The fixture function ``overlap`` appends ``start``/``end`` lines in the order things happen and holds
each invocation until a given number of invocations have started, so these tests count overlaps
from that order; none of them measures time.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from activity_sync_tools.local import InvocationResult, LocalStack
from activity_sync_tools.local.template import FunctionSpec
from activity_sync_tools.local.workers import DEFAULT_CONCURRENCY, function_concurrency, source_concurrency

if TYPE_CHECKING:
    from tests.local.conftest import MakeStackDir

pytestmark = pytest.mark.integration  # runs moto and worker processes

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
    Timeout: 20
    CodeUri: functions/overlap/
    Handler: app.lambda_handler
Resources:
  Reserved:
    Type: AWS::Serverless::Function
    Properties:
      ReservedConcurrentExecutions: 3
  Single:
    Type: AWS::Serverless::Function
    Properties:
      ReservedConcurrentExecutions: 1
  Unreserved:
    Type: AWS::Serverless::Function
  Short:
    Type: AWS::Serverless::Function
    Properties:
      Timeout: 1
      ReservedConcurrentExecutions: 2
  Consumer:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Queue:
          Type: SQS
          Properties:
            Queue: !GetAtt Work.Arn
            BatchSize: 1
            ScalingConfig: {MaximumConcurrency: 2}
  Work:
    Type: AWS::SQS::Queue
"""

REPORT = re.compile(
    r"^REPORT RequestId: [0-9a-f-]{36}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\t"
    r"Memory Size: \d+ MB\tMax Memory Used: \d+ MB(\tInit Duration: \d+\.\d\d ms)?\tCPU Time: \d+\.\d\d ms$"
)


@dataclass
class Overlaps:
    """What the ``overlap`` fixture logged for one tag, in order."""

    events: list[tuple[str, str, int]]  # (start|end, id, pid)

    @property
    def most_at_once(self) -> int:
        running = most = 0
        for kind, _, _ in self.events:
            running += 1 if kind == "start" else -1
            most = max(most, running)
        return most

    @property
    def started(self) -> list[str]:
        return [identifier for kind, identifier, _ in self.events if kind == "start"]

    @property
    def ended(self) -> list[str]:
        return [identifier for kind, identifier, _ in self.events if kind == "end"]

    @property
    def pids(self) -> set[int]:
        return {pid for _, _, pid in self.events}


def overlaps(log: Path, tag: str) -> Overlaps:
    events: list[tuple[str, str, int]] = []
    for line in log.read_text(encoding="utf-8").splitlines() if log.exists() else []:
        kind, line_tag, identifier, pid = line.split()
        if line_tag == tag:
            events.append((kind, identifier, int(pid)))
    return Overlaps(events)


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "overlap.log"


def start_stack(directory: Path, make_stack_dir: MakeStackDir, **options: Any) -> LocalStack:
    template = make_stack_dir(directory, TEMPLATE)
    return LocalStack.start(template, state_dir=directory / "state", schedules=False, **options)


@pytest.fixture
def stack(tmp_path: Path, make_stack_dir: MakeStackDir) -> Iterator[LocalStack]:
    with start_stack(tmp_path / "stack", make_stack_dir) as running:
        yield running


def invoke_at_once(stack: LocalStack, function_id: str, jobs: list[dict[str, Any]]) -> list[InvocationResult]:
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(lambda job: stack.invoke(function_id, job), jobs))


def jobs(log: Path, tag: str, count: int, **options: Any) -> list[dict[str, Any]]:
    return [{"log": str(log), "tag": tag, "id": f"{tag}-{n}", **options} for n in range(count)]


def test_the_concurrency_of_a_function_follows_the_template() -> None:
    def spec(reserved: int | None = None, sources: tuple[int | None, ...] = ()) -> FunctionSpec:
        from activity_sync_tools.local.template import QueueEventSource

        return FunctionSpec(
            logical_id="F",
            name="f",
            arn="arn",
            code_dir=Path(),
            handler="app.handler",
            runtime="python3.12",
            timeout_seconds=3,
            memory_mb=128,
            environment={},
            reserved_concurrency=reserved,
            queue_sources=tuple(
                QueueEventSource("F", f"Q{n}", f"Q{n}", "arn", 10, 0, False, cap, True)
                for n, cap in enumerate(sources)
            ),
        )

    assert function_concurrency(spec(reserved=1)) == 1  # the poller: one poll at a time
    assert function_concurrency(spec(reserved=25, sources=(5,))) == 25
    assert function_concurrency(spec()) == DEFAULT_CONCURRENCY  # HTTP-invoked
    assert function_concurrency(spec(sources=(5,))) == DEFAULT_CONCURRENCY  # room for direct invokes too
    assert function_concurrency(spec(sources=(8, 7))) == 15
    assert function_concurrency(spec(reserved=3), limit=1) == 1  # concurrency=1: one at a time
    assert function_concurrency(spec(reserved=1), limit=4) == 1  # a limit never raises it
    assert source_concurrency(5) == 5
    assert source_concurrency(None) == DEFAULT_CONCURRENCY
    assert source_concurrency(5, limit=1) == 1


def test_invocations_overlap_up_to_the_reserved_concurrency_and_never_beyond(
    stack: LocalStack, log: Path
) -> None:
    # Six invocations at once of a function reserved to 3: each holds until three have started
    results = invoke_at_once(stack, "Reserved", jobs(log, "r", 6, until_started=3, hold_s=0.3))

    assert all(result.ok for result in results), [r.payload for r in results]
    seen = overlaps(log, "r")
    assert sorted(seen.ended) == sorted(f"r-{n}" for n in range(6))
    assert seen.most_at_once == 3
    # each in an environment of its own, started lazily and reused: three processes for six calls
    assert len(seen.pids) == 3
    metrics = stack.function_metrics()["Reserved"]
    assert (metrics["invocations"], metrics["cold_starts"], metrics["peak_concurrency"]) == (6, 3, 3)
    assert metrics["concurrency"] == 3


def test_a_function_without_a_reservation_runs_several_at_once(stack: LocalStack, log: Path) -> None:
    results = invoke_at_once(stack, "Unreserved", jobs(log, "u", 4, until_started=4))

    assert all(result.ok for result in results)
    assert overlaps(log, "u").most_at_once == 4  # the HTTP default (10) lets all four run together


def test_a_function_reserved_to_one_runs_one_invocation_at_a_time_in_one_environment(
    stack: LocalStack, log: Path
) -> None:
    results = invoke_at_once(stack, "Single", jobs(log, "s", 3, hold_s=0.2))

    assert all(result.ok for result in results)
    seen = overlaps(log, "s")
    assert seen.most_at_once == 1
    assert len(seen.ended) == 3
    assert len(seen.pids) == 1  # warm: the one environment served all three


def test_the_event_source_delivers_several_batches_of_one_queue_at_once_up_to_its_maximum(
    stack: LocalStack, log: Path
) -> None:
    # Five messages, one per batch, on a queue whose event source has MaximumConcurrency 2
    sqs = stack.boto3_client("sqs")
    for job in jobs(log, "q", 5, until_started=2, hold_s=0.3):
        sqs.send_message(QueueUrl=stack.queue_urls["Work"], MessageBody=json.dumps(job))
    stack.wait_until_drained(timeout=60)

    seen = overlaps(log, "q")
    assert sorted(seen.ended) == sorted(f"q-{n}" for n in range(5))  # each delivered once
    assert seen.most_at_once == 2  # two batches at once, never three
    sources = stack.event_source_metrics()["Work"]
    assert (sources["concurrency"], sources["batches"], sources["peak_in_flight"]) == (2, 5, 2)


def test_a_timeout_kills_only_the_environment_that_timed_out(stack: LocalStack, log: Path) -> None:
    slow = {"log": str(log), "tag": "t", "id": "slow", "sleep_s": 30}
    fast = {"log": str(log), "tag": "t", "id": "fast", "until_started": 2}
    with ThreadPoolExecutor(max_workers=2) as pool:
        timed_out, finished = pool.map(lambda job: stack.invoke("Short", job), [slow, fast])

    assert timed_out.error_type == "Sandbox.Timedout"
    assert finished.ok, finished.payload
    survivor = finished.payload["pid"]
    os.kill(survivor, 0)  # the other environment is alive ...
    (slow_pid,) = {pid for kind, identifier, pid in overlaps(log, "t").events if identifier == "slow"}
    with pytest.raises(ProcessLookupError):
        os.kill(slow_pid, 0)  # ... the one that timed out is gone
    again = stack.invoke("Short", {"log": str(log), "tag": "t2", "id": "again"})
    assert again.payload["pid"] == survivor  # and the warm one serves the next invocation


def test_each_invocation_writes_whole_start_end_and_report_lines(stack: LocalStack, log: Path) -> None:
    results = invoke_at_once(stack, "Reserved", jobs(log, "l", 6, until_started=3))

    lines = stack.function_log("Reserved").read_text(encoding="utf-8").splitlines()
    reports = [line for line in lines if line.startswith("REPORT")]
    assert {line.split()[2] for line in reports} >= {result.request_id for result in results}
    malformed = [line for line in reports if not REPORT.match(line)]
    assert malformed == []
    assert (
        sum("Init Duration" in line for line in reports)
        == stack.function_metrics()["Reserved"]["cold_starts"]
    )
    for result in results:
        assert f"START RequestId: {result.request_id} Version: $LATEST" in lines
        assert f"END RequestId: {result.request_id}" in lines
        assert result.cpu_ms is not None
        assert result.cpu_ms >= 0
        assert result.report["billed_duration_ms"] >= 1


def test_concurrency_one_runs_everything_one_at_a_time(
    tmp_path: Path, make_stack_dir: MakeStackDir, log: Path
) -> None:
    with start_stack(tmp_path / "serial", make_stack_dir, concurrency=1) as stack:
        results = invoke_at_once(stack, "Reserved", jobs(log, "one", 3, hold_s=0.2))
        sqs = stack.boto3_client("sqs")
        for job in jobs(log, "oneq", 3, hold_s=0.2):
            sqs.send_message(QueueUrl=stack.queue_urls["Work"], MessageBody=json.dumps(job))
        stack.wait_until_drained(timeout=60)

        assert all(result.ok for result in results)
        assert overlaps(log, "one").most_at_once == 1
        assert len(overlaps(log, "one").pids) == 1
        assert overlaps(log, "oneq").most_at_once == 1
        assert len(overlaps(log, "oneq").ended) == 3
        assert stack.endpoints()["functions"]["Reserved"]["concurrency"] == 1


def test_stop_ends_every_environment_even_mid_invocation(
    tmp_path: Path, make_stack_dir: MakeStackDir, log: Path
) -> None:
    stack = start_stack(tmp_path / "stopping", make_stack_dir)
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            pending = [
                pool.submit(stack.invoke, "Reserved", job)
                for job in jobs(log, "stop", 3, until_started=99, deadline_s=60)
            ]
            for _ in range(3000):
                if len(overlaps(log, "stop").started) == 3:
                    break
                time.sleep(0.01)
            pids = overlaps(log, "stop").pids
            stack.stop()
            results = [future.result(timeout=30) for future in pending]
    finally:
        stack.stop()

    assert [result.ok for result in results] == [False, False, False]
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
