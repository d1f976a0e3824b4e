"""Functions run as local Lambda execution environments: one worker process per function.

A worker starts on its function's first invocation and stays warm. Its environment is built from
scratch (nothing leaks in from the shell: no AWS profile, no stray PYTHONPATH): the Lambda
reserved variables, the function's resolved ``Environment``, the local AWS endpoint with dummy
credentials, then the caller's extras. Its ``CodeUri`` directory is first on ``sys.path`` and is its
working directory, so functions that all call their module ``app`` never meet. Invocations travel
as JSON lines over two pipes; stdout/stderr go to ``<state>/logs/<LogicalId>.log``.

One environment per function serves one invocation at a time (the others wait their turn), which
is what ``ReservedConcurrentExecutions: 1`` gives in AWS and is plenty locally. A function that runs
past its ``Timeout`` is killed (with anything it started) and reported as Lambda reports a timeout;
the next invocation starts a fresh worker.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from activity_sync_tools.local.template import FunctionSpec

BOOTSTRAP_SCRIPT = Path(__file__).with_name("_bootstrap.py")

# Lambda gives a cold start's init phase 10 s; locally a cold import of boto3, Powertools and the
# vendor clients on a busy machine can take longer, and it is not what a function's Timeout measures.
DEFAULT_INIT_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class InvocationResult:
    """What Lambda's Invoke API returns: the payload, and ``function_error`` ("Unhandled") when the
    payload is an error document (``errorMessage``, ``errorType``, ``stackTrace``)."""

    function_id: str
    request_id: str
    payload: Any
    function_error: str | None
    duration_ms: float

    @property
    def ok(self) -> bool:
        return self.function_error is None

    @property
    def error_type(self) -> str | None:
        return None if self.ok else str(self.payload.get("errorType"))

    @property
    def error_message(self) -> str | None:
        return None if self.ok else str(self.payload.get("errorMessage"))


class ActivityTracker:
    """Counts work in progress (invocations, batches between receive and delete) so that
    "drained" can be told apart from "between two steps"."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._running = 0

    @contextmanager
    def busy(self) -> Iterator[None]:
        with self._lock:
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                self._lock.notify_all()

    @property
    def running(self) -> int:
        with self._lock:
            return self._running


class FunctionWorker:
    """The execution environment of one function."""

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
        self.starts = 0  # how many execution environments were started (cold starts)

    @property
    def pid(self) -> int | None:
        process = self._process
        return None if process is None or process.poll() is not None else process.pid

    def invoke(self, event: Any) -> InvocationResult:
        request_id = str(uuid.uuid4())
        with self._lock:
            if self._stopped:
                raise RuntimeError(f"{self.spec.logical_id}: the local stack is stopping")
            started = time.monotonic()
            payload, function_error = self._invoke_locked(request_id, event)
            return InvocationResult(
                function_id=self.spec.logical_id,
                request_id=request_id,
                payload=payload,
                function_error=function_error,
                duration_ms=(time.monotonic() - started) * 1000,
            )

    def _invoke_locked(self, request_id: str, event: Any) -> tuple[Any, str | None]:
        if self._process is None or self._process.poll() is not None:
            init_error = self._start()
            if init_error is not None:
                return {**init_error, "requestId": request_id}, "Unhandled"
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
            return {
                "errorMessage": f"RequestId: {request_id} Error: {message}",
                "errorType": "Sandbox.Timedout",
                "requestId": request_id,
            }, "Unhandled"
        if not line:
            status = self._kill()
            message = f"Runtime exited with error: exit status {status}"
            return {
                "errorMessage": f"RequestId: {request_id} Error: {message}",
                "errorType": "Runtime.ExitError",
                "requestId": request_id,
            }, "Unhandled"
        response = json.loads(line)
        if response["type"] == "result":
            return response["payload"], None
        return response["error"], "Unhandled"

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
        self.starts += 1
        self._requests = os.fdopen(request_write, "wb")
        self._responses = _LineReader(response_read)
        line = self._responses.read_line(self.init_timeout_seconds)
        if line:
            message = json.loads(line)
            if message["type"] == "ready":
                return None
            self._kill()
            return dict(message["error"])
        status = self._kill()
        reason = "timed out" if line is None else f"exited with status {status}"
        return {
            "errorMessage": f"the execution environment {reason} during init; see {self.log_path}",
            "errorType": "Runtime.Unknown" if line is None else "Runtime.ExitError",
        }

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
        init_timeout_seconds: float = DEFAULT_INIT_TIMEOUT_SECONDS,
    ) -> None:
        self.tracker = tracker
        self.workers = {
            logical_id: FunctionWorker(
                spec,
                environments[logical_id],
                log_dir / f"{logical_id}.log",
                init_timeout_seconds=init_timeout_seconds,
            )
            for logical_id, spec in functions.items()
        }

    def invoke(self, function_id: str, event: Any) -> InvocationResult:
        if function_id not in self.workers:
            raise KeyError(
                f"no function {function_id!r} in the template; known: {', '.join(sorted(self.workers))}"
            )
        with self.tracker.busy():
            return self.workers[function_id].invoke(event)

    def stop(self) -> None:
        threads = [threading.Thread(target=worker.stop) for worker in self.workers.values()]
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
) -> dict[str, str]:
    """The worker's environment, built from scratch like a Lambda execution environment's
    (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime)."""
    environment = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "PYTHONUNBUFFERED": "1",  # the log file shows output as it happens
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
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        # Keep boto3 away from the developer's own AWS config, profiles and instance metadata.
        "AWS_CONFIG_FILE": str(config_dir / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(config_dir / "aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    environment.update(extra_env or {})
    return environment
