"""The runtime loop of one local Lambda execution environment (a worker process).

Run as a script, not as a module of the package: ``python _bootstrap.py TASK_ROOT HANDLER
REQUEST_FD RESPONSE_FD [STARTED_AT]`` (``STARTED_AT``: the epoch seconds at which the parent started
the process, so that the init duration covers the interpreter's own start, as Lambda's does). It
uses only the standard library so that nothing but the function's own code and the installed
packages (what the Lambda layer provides) is imported into the worker.

Protocol (one JSON document per line): the worker first answers ``{"type": "ready", "init_ms",
"init_cpu_ms"}`` or ``{"type": "init_error", "error": {...}}`` (and exits); then, for each request
``{"request_id", "event", "deadline_ms", "function": {...}}`` it answers
``{"type": "result", "payload": ..., "report": {...}}`` or ``{"type": "error", "error": {...},
"report": {...}}``. End of input ends the worker. Its stdout and stderr are the function's log file,
like a CloudWatch log stream.

The report is what Lambda's ``REPORT`` line says - ``duration_ms``, ``billed_duration_ms`` (rounded
up to the millisecond, as Lambda bills), ``memory_size_mb``, ``max_memory_used_mb`` and, on an
environment's first invocation, ``init_duration_ms`` - plus ``cpu_ms``: the CPU time the process
spent on this invocation (``time.process_time()`` before and after the handler, every thread of the
process included), which Lambda does not report and the local runtime adds to the ``REPORT`` line
as ``CPU Time``. Several environments of one function append to the same log file, so each
``START``/``END``/``REPORT`` line is written with one call.
Error shapes follow the Lambda Python runtime
(https://docs.aws.amazon.com/lambda/latest/dg/python-exceptions.html).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import resource
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any, BinaryIO


class LambdaContext:
    """The attributes and method of the Lambda Python context object
    (https://docs.aws.amazon.com/lambda/latest/dg/python-context.html)."""

    def __init__(self, request_id: str, deadline_ms: int, function: dict[str, Any]) -> None:
        self.aws_request_id = request_id
        self.function_name: str = function["name"]
        self.function_version: str = function["version"]
        self.invoked_function_arn: str = function["arn"]
        self.memory_limit_in_mb: int = int(function["memory_mb"])
        self.log_group_name: str = function["log_group_name"]
        self.log_stream_name: str = function["log_stream_name"]
        self.identity: Any = None
        self.client_context: Any = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def error_document(
    error: BaseException, error_type: str | None = None, message: str | None = None
) -> dict[str, Any]:
    return {
        "errorMessage": str(error) if message is None else message,
        "errorType": error_type or type(error).__name__,
        "stackTrace": traceback.format_list(traceback.extract_tb(error.__traceback__)),
    }


def load_handler(handler_spec: str) -> Callable[[Any, LambdaContext], Any]:
    module_path, _, function_name = handler_spec.rpartition(".")
    module_name = module_path.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except Exception as error:
        raise InitError(
            error, "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {error}"
        ) from error
    handler = getattr(module, function_name, None)
    if not callable(handler):
        raise InitError(
            AttributeError(function_name),
            "Runtime.HandlerNotFound",
            f"Handler '{function_name}' missing on module '{module_name}'",
        )
    return handler  # type: ignore[no-any-return]


class InitError(Exception):
    def __init__(self, cause: BaseException, error_type: str, message: str) -> None:
        super().__init__(message)
        self.document = error_document(cause, error_type, message)


def send(writer: BinaryIO, message: dict[str, Any]) -> None:
    writer.write(json.dumps(message).encode() + b"\n")
    writer.flush()


def log_line(text: str) -> None:
    """One whole line in one write, so that concurrent environments never split each other's."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def max_memory_used_mb() -> int:
    # ru_maxrss is in kilobytes on Linux.
    return math.ceil(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def invoke(
    handler: Callable[[Any, LambdaContext], Any],
    request: dict[str, Any],
    init_duration_ms: float | None = None,
) -> dict[str, Any]:
    request_id = str(request["request_id"])
    context = LambdaContext(request_id, int(request["deadline_ms"]), request["function"])
    log_line(f"START RequestId: {request_id} Version: {context.function_version}")
    started = time.monotonic()
    cpu_started = time.process_time()
    try:
        result = handler(request["event"], context)
        try:
            response: dict[str, Any] = {"type": "result", "payload": json.loads(json.dumps(result))}
        except (TypeError, ValueError) as error:
            response = {
                "type": "error",
                "error": error_document(
                    error, "Runtime.MarshalError", f"Unable to marshal response: {error}"
                ),
            }
    except Exception as error:
        document = error_document(error)
        document["requestId"] = request_id
        # Like the Lambda runtime: the error goes to the log as well as to the caller.
        print(f"[ERROR] {document['errorType']}: {document['errorMessage']}", file=sys.stderr)
        traceback.print_exc()
        response = {"type": "error", "error": document}
    elapsed_ms = (time.monotonic() - started) * 1000
    cpu_ms = (time.process_time() - cpu_started) * 1000
    report: dict[str, Any] = {
        "duration_ms": round(elapsed_ms, 3),
        "billed_duration_ms": max(1, math.ceil(elapsed_ms)),
        "memory_size_mb": context.memory_limit_in_mb,
        "max_memory_used_mb": max_memory_used_mb(),
        "cpu_ms": round(cpu_ms, 3),
    }
    if init_duration_ms is not None:
        report["init_duration_ms"] = round(init_duration_ms, 3)
    response["report"] = report
    sys.stderr.flush()
    log_line(f"END RequestId: {request_id}")
    log_line(report_line(request_id, report))
    return response


def report_line(request_id: str, report: dict[str, Any]) -> str:
    """Lambda's REPORT line, plus the local ``CPU Time``."""
    fields = [
        f"REPORT RequestId: {request_id}",
        f"Duration: {report['duration_ms']:.2f} ms",
        f"Billed Duration: {report['billed_duration_ms']} ms",
        f"Memory Size: {report['memory_size_mb']} MB",
        f"Max Memory Used: {report['max_memory_used_mb']} MB",
    ]
    if "init_duration_ms" in report:
        fields.append(f"Init Duration: {report['init_duration_ms']:.2f} ms")
    fields.append(f"CPU Time: {report['cpu_ms']:.2f} ms")
    return "\t".join(fields)


def main(argv: list[str]) -> int:
    task_root, handler_spec, request_fd, response_fd = argv[1:5]
    started_at = float(argv[5]) if len(argv) > 5 else time.time()
    # The function's own directory comes first, as /var/task does in Lambda; the script's own
    # directory (which Python put there) must not shadow the function's modules.
    sys.path[0] = task_root
    os.chdir(task_root)
    with os.fdopen(int(request_fd), "rb") as reader, os.fdopen(int(response_fd), "wb") as writer:
        try:
            handler = load_handler(handler_spec)
        except InitError as error:
            print(f"[ERROR] {error.document['errorType']}: {error.document['errorMessage']}", file=sys.stderr)
            send(writer, {"type": "init_error", "error": error.document})
            return 1
        init_duration_ms: float | None = max(0.0, (time.time() - started_at) * 1000)
        send(
            writer,
            {
                "type": "ready",
                "init_ms": round(init_duration_ms or 0.0, 3),
                "init_cpu_ms": round(time.process_time() * 1000, 3),
            },
        )
        for line in reader:
            if line.strip():
                send(writer, invoke(handler, json.loads(line), init_duration_ms))
                init_duration_ms = None  # only the first invocation of an environment reports it
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
