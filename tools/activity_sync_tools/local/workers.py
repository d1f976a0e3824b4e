"""Functions run as local Lambda execution environments: worker processes, started lazily and kept
warm, up to the function's concurrency.

An execution environment is one worker process. Its environment is built from scratch (nothing leaks
in from the shell: no AWS profile, no stray PYTHONPATH): the Lambda reserved variables, the
function's resolved ``Environment``, the local AWS endpoint with dummy credentials, then the
caller's extras. Its ``CodeUri`` directory is first on ``sys.path`` and is its working directory, so
functions that all call their module ``app`` never meet. Invocations travel as JSON lines over two
pipes; stdout/stderr go to ``<state>/logs/<LogicalId>.log`` (every environment of a function appends
to the same file, one line at a time).

Concurrency, as Lambda scales (https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html):
an environment serves one invocation at a time; an invocation goes to a warm idle environment when
there is one (the most recently used first), and a new environment starts when all are busy, up to
the function's concurrency (:func:`function_concurrency`). Past that, invocations wait for one to
finish (Lambda would throttle them, and its callers - an SQS event source, API Gateway - retry). A
function that runs past its ``Timeout`` has that environment killed (with anything it started) and
is reported as Lambda reports a timeout; its other environments go on, and the next invocation that
needs one starts a fresh one.

Each invocation reports what Lambda's ``REPORT`` line says, plus the CPU time of the worker process
(see ``_bootstrap.py``); :class:`FunctionMetrics` adds them up per function.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import secrets
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from activity_sync_tools.local.template import FunctionSpec

BOOTSTRAP_SCRIPT = Path(__file__).with_name("_bootstrap.py")

# Lambda gives a cold start's init phase 10 s; locally a cold import of boto3, Powertools and the
# vendor clients on a busy machine can take longer, and it is not what a function's Timeout measures.
DEFAULT_INIT_TIMEOUT_SECONDS = 30.0

# How many invocations of a function run at once when the template sets no limit (no
# ReservedConcurrentExecutions, no event source MaximumConcurrency): Lambda would scale much further
# (the account's 1,000), which one machine cannot; ten keeps a burst of webhooks moving.
DEFAULT_CONCURRENCY = 10


def function_concurrency(spec: FunctionSpec, limit: int | None = None) -> int:
    """How many invocations of the function may run at once: its ``ReservedConcurrentExecutions``
    when set; otherwise enough for every SQS event source's ``ScalingConfig.MaximumConcurrency`` and
    at least :data:`DEFAULT_CONCURRENCY` (HTTP routes, schedules and direct invocations share it);
    never more than ``limit`` (``LocalStack.start(concurrency=...)``; 1: one at a time)."""
    if spec.reserved_concurrency is not None:
        concurrency = max(1, spec.reserved_concurrency)
    else:
        from_sources = sum(source_concurrency(source.maximum_concurrency) for source in spec.queue_sources)
        concurrency = max(DEFAULT_CONCURRENCY, from_sources)
    return concurrency if limit is None else max(1, min(concurrency, limit))


def source_concurrency(maximum_concurrency: int | None, limit: int | None = None) -> int:
    """How many batches an SQS event source delivers at once: its ``MaximumConcurrency`` (Lambda's
    default without one is to scale with the backlog; locally :data:`DEFAULT_CONCURRENCY`), never
    more than ``limit``."""
    concurrency = maximum_concurrency if maximum_concurrency is not None else DEFAULT_CONCURRENCY
    return max(1, concurrency if limit is None else min(concurrency, limit))


@dataclass(frozen=True)
class InvocationResult:
    """What Lambda's Invoke API returns: the payload, and ``function_error`` ("Unhandled") when the
    payload is an error document (``errorMessage``, ``errorType``, ``stackTrace``); plus what the
    ``REPORT`` line says (``report``: empty when the environment died before reporting)."""

    function_id: str
    request_id: str
    payload: Any
    function_error: str | None
    duration_ms: float  # as the caller saw it: waiting for an environment and its init included
    report: Mapping[str, Any] = field(default_factory=dict)
    cold_start: bool = False

    @property
    def ok(self) -> bool:
        return self.function_error is None

    @property
    def error_type(self) -> str | None:
        return None if self.ok else str(self.payload.get("errorType"))

    @property
    def error_message(self) -> str | None:
        return None if self.ok else str(self.payload.get("errorMessage"))

    @property
    def cpu_ms(self) -> float | None:
        value = self.report.get("cpu_ms")
        return None if value is None else float(value)


class ActivityTracker:
    """Counts work in progress (invocations, batches between receive and delete) so that
    "drained" can be told apart from "between two steps"."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._running = 0

    @contextmanager
    def busy(self) -> Iterator[None]:
        self.begin()
        try:
            yield
        finally:
            self.end()

    def begin(self) -> None:
        with self._lock:
            self._running += 1

    def end(self) -> None:
        with self._lock:
            self._running -= 1
            self._lock.notify_all()

    @property
    def running(self) -> int:
        with self._lock:
            return self._running


@dataclass
class FunctionMetrics:
    """What a function's invocations added up to (what CloudWatch's Lambda metrics and the REPORT
    lines would tell), plus the CPU time the local runtime measures."""

    memory_mb: int
    concurrency: int
    invocations: int = 0
    errors: int = 0
    cold_starts: int = 0
    duration_ms: float = 0.0
    billed_duration_ms: float = 0.0
    cpu_ms: float = 0.0
    init_duration_ms: float = 0.0
    init_cpu_ms: float = 0.0
    peak_concurrency: int = 0

    @property
    def gb_seconds(self) -> float:
        """Billed invocation time times memory, in GB-seconds (init phases not included)."""
        return self.billed_duration_ms / 1000 * self.memory_mb / 1024

    @property
    def init_gb_seconds(self) -> float:
        return self.init_duration_ms / 1000 * self.memory_mb / 1024

    def to_dict(self) -> dict[str, Any]:
        return {
            "memory_mb": self.memory_mb,
            "concurrency": self.concurrency,
            "invocations": self.invocations,
            "errors": self.errors,
            "cold_starts": self.cold_starts,
            "duration_ms": round(self.duration_ms, 3),
            "billed_duration_ms": round(self.billed_duration_ms, 3),
            "cpu_ms": round(self.cpu_ms, 3),
            "init_duration_ms": round(self.init_duration_ms, 3),
            "init_cpu_ms": round(self.init_cpu_ms, 3),
            "gb_seconds": round(self.gb_seconds, 6),
            "init_gb_seconds": round(self.init_gb_seconds, 6),
            "peak_concurrency": self.peak_concurrency,
        }


class ExecutionEnvironment:
    """One execution environment of a function: one worker process, one invocation at a time."""

    def __init__(
        self,
        spec: FunctionSpec,
        environment: Mapping[str, str],
        log_path: Path,
        *,
        init_timeout_seconds: float = DEFAULT_INIT_TIMEOUT_SECONDS,
    ) -> None:
        self.spec = spec
        self.environment = dict(environment)
        self.log_path = log_path
        self.init_timeout_seconds = init_timeout_seconds
        self.log_stream_name = ""
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._requests: IO[bytes] | None = None
        self._responses: _LineReader | None = None
        self._stopped = False
        self.init_report: dict[str, float] | None = None  # set by a cold start, taken by its invocation

    @property
    def pid(self) -> int | None:
        process = self._process
        return None if process is None or process.poll() is not None else process.pid

    @property
    def alive(self) -> bool:
        return self.pid is not None

    def invoke(self, request_id: str, event: Any) -> tuple[Any, str | None, dict[str, Any], bool]:
        """(payload, function_error, report, cold_start) of one invocation in this environment."""
        with self._lock:
            if self._stopped:
                raise RuntimeError(f"{self.spec.logical_id}: the local stack is stopping")
            return self._invoke_locked(request_id, event)

    def _invoke_locked(self, request_id: str, event: Any) -> tuple[Any, str | None, dict[str, Any], bool]:
        cold = False
        if self._process is None or self._process.poll() is not None:
            cold = True
            init_error = self._start()
            if init_error is not None:
                return {**init_error, "requestId": request_id}, "Unhandled", {}, cold
        assert self._requests is not None
        assert self._responses is not None
        deadline = time.time() + self.spec.timeout_seconds
        request = {
            "request_id": request_id,
            "event": event,
            "deadline_ms": int(deadline * 1000),
            "function": {
                "name": self.spec.name,
                "version": "$LATEST",
                "arn": self.spec.arn,
                "memory_mb": self.spec.memory_mb,
                "log_group_name": f"/aws/lambda/{self.spec.name}",
                "log_stream_name": self.log_stream_name,
            },
        }
        try:
            self._requests.write(json.dumps(request).encode() + b"\n")
            self._requests.flush()
            line = self._responses.read_line(deadline - time.time())
        except BrokenPipeError:
            line = b""
        if line is None:
            self._kill()
            message = f"Task timed out after {self.spec.timeout_seconds:.2f} seconds"
            self._append_log(f"{_timestamp()} {request_id} {message}\n")
            billed = math.ceil(self.spec.timeout_seconds * 1000)
            timed_out_report = {"duration_ms": float(billed), "billed_duration_ms": billed}
            return (
                {
                    "errorMessage": f"RequestId: {request_id} Error: {message}",
                    "errorType": "Sandbox.Timedout",
                    "requestId": request_id,
                },
                "Unhandled",
                timed_out_report,
                cold,
            )
        if not line:
            status = self._kill()
            message = f"Runtime exited with error: exit status {status}"
            return (
                {
                    "errorMessage": f"RequestId: {request_id} Error: {message}",
                    "errorType": "Runtime.ExitError",
                    "requestId": request_id,
                },
                "Unhandled",
                {},
                cold,
            )
        response = json.loads(line)
        report = dict(response.get("report") or {})
        if cold and self.init_report is not None:
            report["init_cpu_ms"] = self.init_report.get("init_cpu_ms", 0.0)
            report.setdefault("init_duration_ms", self.init_report.get("init_ms", 0.0))
        if response["type"] == "result":
            return response["payload"], None, report, cold
        return response["error"], "Unhandled", report, cold

    def _start(self) -> dict[str, Any] | None:
        """Start a fresh environment; the init error document if the handler cannot be loaded."""
        request_read, request_write = os.pipe()
        response_read, response_write = os.pipe()
        self.log_stream_name = f"{dt.datetime.now(dt.UTC):%Y/%m/%d}/[$LATEST]{secrets.token_hex(16)}"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        try:
            self._process = subprocess.Popen(  # noqa: S603 - our interpreter and our own bootstrap script
                [
                    sys.executable,
                    str(BOOTSTRAP_SCRIPT),
                    str(self.spec.code_dir),
                    self.spec.handler,
                    str(request_read),
                    str(response_write),
                    repr(time.time()),
                ],
                cwd=self.spec.code_dir,
                env=self.environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(request_read, response_write),
                # Its own process group: Ctrl-C in the terminal reaches the local stack, which then
                # stops its workers, instead of interrupting handlers mid-invocation; and a timeout
                # kills whatever the handler started too.
                start_new_session=True,
            )
        finally:
            os.close(request_read)
            os.close(response_write)
            log.close()
        self._requests = os.fdopen(request_write, "wb")
        self._responses = _LineReader(response_read)
        line = self._responses.read_line(self.init_timeout_seconds)
        if line:
            message = json.loads(line)
            if message["type"] == "ready":
                self.init_report = {
                    "init_ms": float(message.get("init_ms", 0.0)),
                    "init_cpu_ms": float(message.get("init_cpu_ms", 0.0)),
                }
                return None
            self._kill()
            return dict(message["error"])
        status = self._kill()
        reason = "timed out" if line is None else f"exited with status {status}"
        return {
            "errorMessage": f"the execution environment {reason} during init; see {self.log_path}",
            "errorType": "Runtime.Unknown" if line is None else "Runtime.ExitError",
        }

    def kill_if_busy(self) -> int | None:
        """Kill the worker now if it is running an invocation (a crash mid-batch, for fault tests):
        the invocation ends as Lambda reports a runtime exit. The killed pid, or None when idle."""
        process = self._process
        if not self._lock.locked() or process is None or process.poll() is not None:
            return None
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        return process.pid

    def _kill(self) -> int | None:
        """Kill the worker's process group and release its pipes; its exit status."""
        process, self._process = self._process, None
        status: int | None = None
        if process is not None:
            if process.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
            status = process.wait()
        self._close_pipes()
        return status

    def _close_pipes(self) -> None:
        if self._requests is not None:
            with suppress(BrokenPipeError):
                self._requests.close()
            self._requests = None
        if self._responses is not None:
            self._responses.close()
            self._responses = None

    def _append_log(self, text: str) -> None:
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(text)

    def stop(self, grace_seconds: float = 2.0) -> None:
        """End the environment: let an idle worker exit on end of input, kill a busy or stuck one."""
        self._stopped = True
        if not self._lock.acquire(timeout=0.1):
            # An invocation is running; killing the worker makes it return at once.
            process = self._process
            if process is not None and process.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
            self._lock.acquire()
        try:
            process = self._process
            if process is None:
                return
            self._close_pipes()
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=grace_seconds)
            self._kill()
        finally:
            self._lock.release()


class FunctionEnvironments:
    """Every execution environment of one function: up to ``concurrency`` of them, each serving one
    invocation at a time, started on demand and kept warm."""

    def __init__(
        self,
        spec: FunctionSpec,
        environment: Mapping[str, str],
        log_path: Path,
        *,
        concurrency: int = 1,
        init_timeout_seconds: float = DEFAULT_INIT_TIMEOUT_SECONDS,
    ) -> None:
        self.spec = spec
        self.environment = dict(environment)
        self.log_path = log_path
        self.concurrency = max(1, concurrency)
        self.init_timeout_seconds = init_timeout_seconds
        self._condition = threading.Condition()
        self._idle: list[ExecutionEnvironment] = []  # most recently used last
        self._environments: list[ExecutionEnvironment] = []
        self._running = 0
        self._stopped = False
        self.metrics = FunctionMetrics(memory_mb=spec.memory_mb, concurrency=self.concurrency)

    @property
    def running(self) -> int:
        with self._condition:
            return self._running

    @property
    def pids(self) -> list[int]:
        with self._condition:
            return [pid for environment in self._environments if (pid := environment.pid) is not None]

    @property
    def starts(self) -> int:
        """How many execution environments were started (cold starts)."""
        with self._condition:
            return self.metrics.cold_starts

    def invoke(self, event: Any) -> InvocationResult:
        request_id = str(uuid.uuid4())
        started = time.monotonic()
        environment = self._acquire()
        try:
            payload, function_error, report, cold = environment.invoke(request_id, event)
        finally:
            self._release(environment)
        result = InvocationResult(
            function_id=self.spec.logical_id,
            request_id=request_id,
            payload=payload,
            function_error=function_error,
            duration_ms=(time.monotonic() - started) * 1000,
            report=report,
            cold_start=cold,
        )
        self._record(result)
        return result

    def _acquire(self) -> ExecutionEnvironment:
        with self._condition:
            while True:
                if self._stopped:
                    raise RuntimeError(f"{self.spec.logical_id}: the local stack is stopping")
                if self._running < self.concurrency:
                    break
                self._condition.wait(0.5)
            self._running += 1
            self.metrics.peak_concurrency = max(self.metrics.peak_concurrency, self._running)
            if self._idle:
                return self._idle.pop()
            environment = ExecutionEnvironment(
                self.spec, self.environment, self.log_path, init_timeout_seconds=self.init_timeout_seconds
            )
            self._environments.append(environment)
            return environment

    def _release(self, environment: ExecutionEnvironment) -> None:
        with self._condition:
            self._running -= 1
            if environment.alive and not self._stopped:
                self._idle.append(environment)
            else:
                # Timed out, crashed or failed its init: gone, as Lambda discards it.
                with suppress(ValueError):
                    self._environments.remove(environment)
            self._condition.notify_all()

    def _record(self, result: InvocationResult) -> None:
        report = result.report
        with self._condition:
            metrics = self.metrics
            metrics.invocations += 1
            metrics.errors += 0 if result.ok else 1
            if result.cold_start:
                metrics.cold_starts += 1
                metrics.init_duration_ms += float(report.get("init_duration_ms", 0.0))
                metrics.init_cpu_ms += float(report.get("init_cpu_ms", 0.0))
            metrics.duration_ms += float(report.get("duration_ms", 0.0))
            metrics.billed_duration_ms += float(report.get("billed_duration_ms", 0.0))
            metrics.cpu_ms += float(report.get("cpu_ms", 0.0))

    def snapshot(self) -> dict[str, Any]:
        with self._condition:
            return self.metrics.to_dict()

    def kill_busy(self) -> int | None:
        """Kill one environment that is running an invocation; its pid, or None when none is."""
        with self._condition:
            environments = list(self._environments)
        for environment in environments:
            pid = environment.kill_if_busy()
            if pid is not None:
                return pid
        return None

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            environments = list(self._environments)
            self._idle.clear()
            self._condition.notify_all()
        threads = [threading.Thread(target=environment.stop) for environment in environments]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


class _LineReader:
    """Reads newline-terminated messages from a pipe with a deadline."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = b""

    def read_line(self, timeout_seconds: float) -> bytes | None:
        """One line; ``b""`` at end of file; None when ``timeout_seconds`` passed first."""
        deadline = time.monotonic() + max(0.0, timeout_seconds)
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            readable, _, _ = select.select([self._fd], [], [], remaining)
            if not readable:
                return None
            chunk = os.read(self._fd, 65536)
            if not chunk:
                return b""
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def close(self) -> None:
        os.close(self._fd)


class WorkerPool:
    """The execution environments of every function of the stack, started lazily."""

    def __init__(
        self,
        functions: Mapping[str, FunctionSpec],
        environments: Mapping[str, Mapping[str, str]],
        log_dir: Path,
        tracker: ActivityTracker,
        *,
        concurrency: Mapping[str, int] | None = None,
        init_timeout_seconds: float = DEFAULT_INIT_TIMEOUT_SECONDS,
    ) -> None:
        self.tracker = tracker
        self.functions = {
            logical_id: FunctionEnvironments(
                spec,
                environments[logical_id],
                log_dir / f"{logical_id}.log",
                concurrency=(concurrency or {}).get(logical_id, 1),
                init_timeout_seconds=init_timeout_seconds,
            )
            for logical_id, spec in functions.items()
        }

    def invoke(self, function_id: str, event: Any) -> InvocationResult:
        if function_id not in self.functions:
            raise KeyError(
                f"no function {function_id!r} in the template; known: {', '.join(sorted(self.functions))}"
            )
        with self.tracker.busy():
            return self.functions[function_id].invoke(event)

    def kill_busy_worker(self, function_ids: Iterable[str] | None = None) -> tuple[str, int] | None:
        """Kill one execution environment busy with an invocation, among ``function_ids`` (every
        function when None): (function, pid), or None when none of them is busy."""
        for function_id in function_ids if function_ids is not None else list(self.functions):
            pid = self.functions[function_id].kill_busy()
            if pid is not None:
                return function_id, pid
        return None

    def metrics(self) -> dict[str, dict[str, Any]]:
        """Per function: invocations, errors, cold starts, durations, CPU, GB-s, peak concurrency."""
        return {logical_id: function.snapshot() for logical_id, function in self.functions.items()}

    def stop(self) -> None:
        threads = [threading.Thread(target=function.stop) for function in self.functions.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def _timestamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def function_environment(
    spec: FunctionSpec,
    *,
    region: str,
    aws_endpoint_url: str,
    extra_env: Mapping[str, str] | None = None,
    config_dir: Path,
    credentials: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The worker's environment, built from scratch like a Lambda execution environment's
    (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime).
    ``credentials``: the ``AWS_ACCESS_KEY_ID``/``…SECRET…``/``AWS_SESSION_TOKEN`` of the session of
    the function's role (without them, the local operator's dummy key)."""
    environment = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "PYTHONUNBUFFERED": "1",  # the log file shows output as it happens
        # botocore adds "app/<LogicalId>" to the User-Agent of every AWS request the function makes,
        # which is how the embedded AWS tells whose requests it counts (local only).
        "AWS_SDK_UA_APP_ID": spec.logical_id,
        **spec.environment,
        "_HANDLER": spec.handler,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        "LAMBDA_TASK_ROOT": str(spec.code_dir),
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ENDPOINT_URL": aws_endpoint_url,
        **(credentials or {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}),
        # Keep boto3 away from the developer's own AWS config, profiles and instance metadata.
        "AWS_CONFIG_FILE": str(config_dir / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(config_dir / "aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    environment.update(extra_env or {})
    return environment
