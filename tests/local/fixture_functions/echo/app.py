"""HTTP handler for the local runtime tests: echoes the event, or answers in the shape named by
the ``mode`` path parameter."""

import base64
import json
from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    mode = (event.get("pathParameters") or {}).get("mode")
    if mode == "bare-dict":
        return {"hello": "world"}
    if mode == "bare-string":
        return "plain words"
    if mode == "binary":
        return {
            "statusCode": 201,
            "headers": {"content-type": "application/octet-stream", "x-answer": "42"},
            "cookies": ["session=abc; Path=/", "theme=dark"],
            "body": base64.b64encode(b"\x00\xffbinary").decode(),
            "isBase64Encoded": True,
        }
    if mode == "error":
        raise ValueError("the handler failed")
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(event)}
