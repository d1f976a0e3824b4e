"""The runtime loop of one local Lambda execution environment (a worker process).

Run as a script, not as a module of the package: ``python _bootstrap.py TASK_ROOT HANDLER
REQUEST_FD RESPONSE_FD``. It uses only the standard library so that nothing but the function's own
code and the installed packages (what the Lambda layer provides) is imported into the worker.

Protocol (one JSON document per line): the worker first answers ``{"type": "ready"}`` or
``{"type": "init_error", "error": {...}}`` (and exits); then, for each request
``{"request_id", "event", "deadline_ms", "function": {...}}`` it answers
``{"type": "result", "payload": ...}`` or ``{"type": "error", "error": {...}}``. End of input ends the
worker. Its stdout and stderr are the function's log file, like a CloudWatch log stream.
Error shapes follow the Lambda Python runtime
(https://docs.aws.amazon.com/lambda/latest/dg/python-exceptions.html).
"""

from __future__ import annotations

import importlib
import json
import os
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


def invoke(handler: Callable[[Any, LambdaContext], Any], request: dict[str, Any]) -> dict[str, Any]:
    request_id = str(request["request_id"])
    context = LambdaContext(request_id, int(request["deadline_ms"]), request["function"])
    started = time.monotonic()
    print(f"START RequestId: {request_id} Version: {context.function_version}", flush=True)
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
    sys.stderr.flush()
    print(f"END RequestId: {request_id}", flush=True)
    print(
        f"REPORT RequestId: {request_id}\tDuration: {elapsed_ms:.2f} ms\t"
        f"Memory Size: {context.memory_limit_in_mb} MB",
        flush=True,
    )
    return response


def main(argv: list[str]) -> int:
    task_root, handler_spec, request_fd, response_fd = argv[1:5]
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
        send(writer, {"type": "ready"})
        for line in reader:
            if line.strip():
                send(writer, invoke(handler, json.loads(line)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
