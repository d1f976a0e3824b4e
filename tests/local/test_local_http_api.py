"""The template's HTTP API served locally: requests become API Gateway HTTP API payload 2.0 events,
answers become responses; and the ``/_local/`` control routes."""

from __future__ import annotations

import base64
import http.client
import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from activity_sync_tools.local import LocalStack
from activity_sync_tools.local.template import local_api_id

if TYPE_CHECKING:
    from tests.local.conftest import MakeStackDir

pytestmark = pytest.mark.integration  # runs moto and worker processes

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
    Timeout: 10
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
  Echo:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/echo/
      Handler: app.lambda_handler
      Events:
        Hook:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: POST, Path: /webhooks/hubspot}
        Item:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: GET, Path: "/items/{itemId}/notes/{noteId}"}
        Respond:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: ANY, Path: "/respond/{mode}"}
        Files:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: GET, Path: "/files/{path+}"}
  Ticker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/ticker/
      Handler: app.lambda_handler
      Events:
        Tick:
          Type: Schedule
          Properties: {Schedule: rate(1 day)}
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, make_stack_dir: MakeStackDir) -> Iterator[LocalStack]:
    directory = tmp_path_factory.mktemp("api-stack")
    template = make_stack_dir(directory, TEMPLATE)
    with LocalStack.start(
        template, extra_env={"TICK_LOG": str(directory / "ticks.jsonl")}, state_dir=directory / "state"
    ) as running:
        yield running


def request(
    stack: LocalStack,
    method: str,
    target: str,
    *,
    body: bytes | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """Send a request exactly as given (raw target, repeated headers, explicit Host)."""
    parsed = urllib.parse.urlsplit(stack.api_url)
    connection = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=30)
    try:
        connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        header_list = headers or []
        if not any(name.lower() == "host" for name, _ in header_list):
            connection.putheader("Host", parsed.netloc)
        for name, value in header_list:
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body or b"")))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def echoed(stack: LocalStack, method: str, target: str, **kwargs: Any) -> dict[str, Any]:
    status, _, body = request(stack, method, target, **kwargs)
    assert status == 200, body
    event: dict[str, Any] = json.loads(body)
    return event


def test_a_request_becomes_a_payload_v2_event(stack: LocalStack) -> None:
    event = echoed(
        stack,
        "POST",
        "/webhooks/hubspot?b=2&a=1&a=3&empty=",
        body=b'{"objectId": 1}',
        headers=[
            ("Host", "hooks.example.test:8443"),
            ("Content-Type", "application/json"),
            ("X-HubSpot-Signature-v3", "c2lnbmF0dXJl"),
            ("X-Repeated", "one"),
            ("X-Repeated", "two"),
            ("Cookie", "session=abc; theme=dark"),
            ("User-Agent", "HubSpot Connect 2.0"),
        ],
    )
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /webhooks/hubspot"
    assert event["rawPath"] == "/webhooks/hubspot"
    assert event["rawQueryString"] == "b=2&a=1&a=3&empty="
    assert event["queryStringParameters"] == {"b": "2", "a": "1,3", "empty": ""}
    headers = event["headers"]
    assert headers["host"] == "hooks.example.test:8443"  # exactly as sent: signatures cover it
    assert headers["x-hubspot-signature-v3"] == "c2lnbmF0dXJl"
    assert headers["x-repeated"] == "one,two"
    assert headers["content-type"] == "application/json"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert all(name == name.lower() for name in headers)
    assert "cookie" not in headers
    assert event["cookies"] == ["session=abc", "theme=dark"]
    assert event["body"] == '{"objectId": 1}'
    assert event["isBase64Encoded"] is False
    assert "pathParameters" not in event
    context = event["requestContext"]
    assert context["accountId"] == "123456789012"
    assert context["apiId"] == local_api_id("activity-sync", "Api")  # !Ref Api, as the event's ApiId
    assert context["domainName"] == "hooks.example.test:8443"
    assert context["http"] == {
        "method": "POST",
        "path": "/webhooks/hubspot",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "HubSpot Connect 2.0",
    }
    assert context["routeKey"] == "POST /webhooks/hubspot"
    assert context["stage"] == "$default"
    assert context["requestId"]
    assert context["time"]
    assert isinstance(context["timeEpoch"], int)


def test_path_parameters_and_the_raw_path(stack: LocalStack) -> None:
    event = echoed(stack, "GET", "/items/0031%20x/notes/n-7")
    assert event["routeKey"] == "GET /items/{itemId}/notes/{noteId}"
    assert event["rawPath"] == "/items/0031%20x/notes/n-7"
    assert event["requestContext"]["http"]["path"] == "/items/0031 x/notes/n-7"
    assert event["pathParameters"] == {"itemId": "0031 x", "noteId": "n-7"}
    assert event["rawQueryString"] == ""
    assert "queryStringParameters" not in event
    assert "body" not in event

    greedy = echoed(stack, "GET", "/files/a/b/c.txt")
    assert greedy["pathParameters"] == {"path": "a/b/c.txt"}
    assert greedy["routeKey"] == "GET /files/{path+}"


def test_a_binary_body_is_base64_encoded(stack: LocalStack) -> None:
    payload = b"\x00\xff\xfe binary \x80"
    event = echoed(
        stack,
        "POST",
        "/webhooks/hubspot",
        body=payload,
        headers=[("Content-Type", "application/octet-stream")],
    )
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload


def test_a_full_response_maps_status_headers_cookies_and_base64_body(stack: LocalStack) -> None:
    status, headers, body = request(stack, "PUT", "/respond/binary")
    assert status == 201
    assert body == b"\x00\xffbinary"
    assert headers["content-type"] == "application/octet-stream"
    assert headers["x-answer"] == "42"
    assert headers.get_all("set-cookie") == ["session=abc; Path=/", "theme=dark"]


@pytest.mark.parametrize(
    ("mode", "expected_body"),
    [("bare-dict", {"hello": "world"}), ("bare-string", "plain words")],
)
def test_an_answer_without_status_code_is_a_200_json_response(
    stack: LocalStack, mode: str, expected_body: Any
) -> None:
    status, headers, body = request(stack, "GET", f"/respond/{mode}")
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == expected_body


def test_a_handler_error_is_a_500_and_unknown_routes_are_404(stack: LocalStack) -> None:
    status, _, body = request(stack, "POST", "/respond/error")
    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})
    status, _, body = request(stack, "GET", "/nowhere")
    assert (status, json.loads(body)) == (404, {"message": "Not Found"})
    status, _, _ = request(stack, "GET", "/webhooks/hubspot")  # the route is POST only
    assert status == 404


def test_control_routes(stack: LocalStack) -> None:
    status, _, body = request(stack, "GET", "/_local/endpoints")
    endpoints = json.loads(body)
    assert status == 200
    assert endpoints["api_url"] == stack.api_url
    assert endpoints["aws_endpoint_url"] == stack.aws_endpoint_url
    assert endpoints["routes"]["POST /webhooks/hubspot"] == "Echo"
    assert Path(endpoints["functions"]["Echo"]["log_file"]) == stack.function_log("Echo")

    status, _, body = request(stack, "POST", "/_local/poll")
    (invocation,) = json.loads(body)["invocations"]
    assert status == 200
    assert invocation["function"] == "Ticker"
    assert invocation["function_error"] is None
    assert invocation["payload"] == {"ticked": True}

    status, _, body = request(stack, "POST", "/_local/poll?function=Echo")
    assert status == 404
    assert "has no Schedule" in json.loads(body)["error"]

    status, _, body = request(stack, "POST", "/_local/wait-drained?timeout=5")
    assert (status, json.loads(body)) == (200, {"drained": True})

    status, headers, body = request(
        stack, "POST", "/_local/invoke/Echo", body=b'{"pathParameters": {"mode": "error"}}'
    )
    assert status == 200
    assert headers["x-amz-function-error"] == "Unhandled"
    assert json.loads(body)["errorType"] == "ValueError"

    status, _, _ = request(stack, "POST", "/_local/invoke/Nope", body=b"{}")
    assert status == 404
    status, _, _ = request(stack, "GET", "/_local/nothing-here")
    assert status == 404


def test_the_access_log_records_requests(stack: LocalStack) -> None:
    request(stack, "GET", "/items/1/notes/2")
    entries = [json.loads(line) for line in (stack.log_dir / "http-api.log").read_text().splitlines()]
    assert {"method": "GET", "path": "/items/1/notes/2", "status": 200}.items() <= entries[-1].items()
