"""Worker isolation fixture: same module name as label_b, different code and environment."""

import os
import sys
from typing import Any

MARKER = "module-a"


def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    return {
        "marker": MARKER,
        "module_file": __file__,
        "sys_path_0": sys.path[0],
        "cwd": os.getcwd(),
        "pid": os.getpid(),
        "label": os.environ.get("LABEL"),
        "shared": os.environ.get("SHARED"),
        "environment": {
            key: os.environ.get(key)
            for key in (
                "AWS_ENDPOINT_URL",
                "AWS_DEFAULT_REGION",
                "AWS_LAMBDA_FUNCTION_NAME",
                "POWERTOOLS_TRACE_DISABLED",
                "EXTRA_FROM_CALLER",
                "SHELL_ONLY_VARIABLE",
            )
        },
        "context": {
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining_ms": context.get_remaining_time_in_millis(),
        },
    }
