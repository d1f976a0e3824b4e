"""The template's HTTP API served locally: each request becomes an API Gateway HTTP API payload
format 2.0 event for the route's function, and the function's answer becomes the HTTP response.

Event and response rules follow "Create AWS Lambda proxy integrations for HTTP APIs"
(https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html):
header names lower-cased, repeated headers and query parameters comma-joined, cookies moved to
``cookies``, a body that is not UTF-8 text base64-encoded; a function answer without ``statusCode``
is a 200 ``application/json`` response whose body is the answer as JSON.

What API Gateway adds to the request is added here too, with the local values: ``x-forwarded-for``
(the client address appended), ``x-forwarded-proto`` (``http``), ``x-forwarded-port`` and
``x-amzn-trace-id``. ``Host`` reaches the function exactly as the client sent it, so a handler can
rebuild the URL the caller signed from ``x-forwarded-proto``, ``host``, ``rawPath`` and
``rawQueryString``. ``rawPath`` is the path as sent (percent-encoding kept); path parameters and
``requestContext.http.path`` are decoded.

Routes are matched as API Gateway does: an exact path beats one with parameters, more literal
segments beat fewer, a greedy ``{name+}`` comes last, then ``$default``. Paths under ``/_local/``
are the local runtime's own control routes (see :mod:`activity_sync_tools.local.stack`).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
import secrets
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from activity_sync_tools.local.template import CONTROL_PREFIX, HttpRoute
from activity_sync_tools.local.workers import InvocationResult

Invoker = Callable[[str, Any], InvocationResult]
ControlHandler = Callable[[Request], Response]

_PATH_PARAMETER = re.compile(r"\{([^}/]+?)(\+?)\}")


@dataclass(frozen=True)
class CompiledRoute:
    route: HttpRoute
    pattern: re.Pattern[str]
    parameter_names: tuple[str, ...]
    specificity: tuple[int, int, int]

    @classmethod
    def compile(cls, route: HttpRoute) -> CompiledRoute:
        if route.path is None:
            return cls(route, re.compile(r".*", re.DOTALL), (), (3, 0, 0))
        names: list[str] = []
        regex = ""
        position = 0
        greedy = False
        for match in _PATH_PARAMETER.finditer(route.path):
            regex += re.escape(route.path[position : match.start()])
            names.append(match.group(1))
            greedy = greedy or bool(match.group(2))
            regex += f"(?P<p{len(names) - 1}>.+)" if match.group(2) else f"(?P<p{len(names) - 1}>[^/]+)"
            position = match.end()
        regex += re.escape(route.path[position:])
        literal_segments = sum(1 for segment in route.path.split("/") if segment and "{" not in segment)
        # Lower sorts first: exact paths, then parameterised, then greedy; within each, more
        # literal segments first; a specific method beats ANY.
        kind = 2 if greedy else (1 if names else 0)
        return cls(route, re.compile(regex), tuple(names), (kind, -literal_segments, route.method == "ANY"))

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.route.method not in ("ANY", method):
            return None
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        return {name: found.group(f"p{index}") for index, name in enumerate(self.parameter_names)}


class HttpApiApp:
    """The WSGI application: control routes under ``/_local/``, then the template's routes."""

    def __init__(
        self,
        routes: Iterable[HttpRoute],
        invoke: Invoker,
        *,
        account_id: str,
        control: ControlHandler | None = None,
        access_log: Path | None = None,
    ) -> None:
        self.routes = sorted((CompiledRoute.compile(route) for route in routes), key=lambda r: r.specificity)
        self.invoke = invoke
        self.account_id = account_id
        self.control = control
        self.access_log = access_log

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        started = time.monotonic()
        path = request.path
        if self.control is not None and (path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")):
            response = self.control(request)
            route_key = "control"
        else:
            response, route_key = self._serve(request, environ)
        self._log_access(request, response, route_key, started)
        return response(environ, start_response)

    def _serve(self, request: Request, environ: dict[str, Any]) -> tuple[Response, str]:
        method = request.method.upper()
        for compiled in self.routes:
            parameters = compiled.match(method, request.path)
            if parameters is None:
                continue
            event = self.build_event(compiled.route, parameters, request, environ)
            result = self.invoke(compiled.route.function_id, event)
            if not result.ok:
                return _message_response(500, "Internal Server Error"), compiled.route.route_key
            return response_from_payload(result.payload), compiled.route.route_key
        return _message_response(404, "Not Found"), "-"

    def build_event(
        self, route: HttpRoute, path_parameters: dict[str, str], request: Request, environ: dict[str, Any]
    ) -> dict[str, Any]:
        """The payload format 2.0 event for ``request`` on ``route``."""
        raw_uri = str(environ.get("RAW_URI") or environ.get("REQUEST_URI") or request.full_path)
        raw_path = raw_uri.split("?", 1)[0]
        raw_query = str(environ.get("QUERY_STRING", ""))
        source_ip = str(environ.get("REMOTE_ADDR", "127.0.0.1"))
        headers = _request_headers(environ)
        cookies = [cookie.strip() for cookie in headers.pop("cookie", "").split(";") if cookie.strip()]
        headers["x-forwarded-for"] = (
            f"{headers['x-forwarded-for']}, {source_ip}" if "x-forwarded-for" in headers else source_ip
        )
        headers["x-forwarded-proto"] = str(environ.get("wsgi.url_scheme", "http"))
        headers["x-forwarded-port"] = str(environ.get("SERVER_PORT", ""))
        headers.setdefault("x-amzn-trace-id", f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}")
        now = dt.datetime.now(dt.UTC)
        host = headers.get("host", "")
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route.route_key,
            "rawPath": raw_path,
            "rawQueryString": raw_query,
        }
        if cookies:
            event["cookies"] = cookies
        event["headers"] = headers
        query = _query_parameters(raw_query)
        if query:
            event["queryStringParameters"] = query
        event["requestContext"] = {
            "accountId": self.account_id,
            "apiId": route.api_id,
            "domainName": host,
            "domainPrefix": host.split(".", 1)[0].split(":", 1)[0],
            "http": {
                "method": request.method.upper(),
                "path": request.path,
                "protocol": str(environ.get("SERVER_PROTOCOL", "HTTP/1.1")),
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": base64.b64encode(secrets.token_bytes(10)).decode().rstrip("=") + "=",
            "routeKey": route.route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        }
        if path_parameters:
            event["pathParameters"] = path_parameters
        body = request.get_data(cache=False)
        if body:
            try:
                event["body"] = body.decode("utf-8")
                event["isBase64Encoded"] = False
            except UnicodeDecodeError:
                event["body"] = base64.b64encode(body).decode("ascii")
                event["isBase64Encoded"] = True
        else:
            event["isBase64Encoded"] = False
        return event

    def _log_access(self, request: Request, response: Response, route_key: str, started: float) -> None:
        if self.access_log is None:
            return
        entry = {
            "time": dt.datetime.now(dt.UTC).isoformat(),
            "ip": request.remote_addr,
            "method": request.method,
            "path": request.path,
            "routeKey": route_key,
            "status": response.status_code,
            "latencyMs": round((time.monotonic() - started) * 1000, 1),
        }
        with self.access_log.open("a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")


def _request_headers(environ: dict[str, Any]) -> dict[str, str]:
    # The WSGI server already joined repeated headers with commas.
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = str(value)
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = str(environ[key])
    return headers


def _query_parameters(raw_query: str) -> dict[str, str]:
    values: dict[str, list[str]] = {}
    for name, value in urllib.parse.parse_qsl(raw_query, keep_blank_values=True):
        values.setdefault(name, []).append(value)
    return {name: ",".join(items) for name, items in values.items()}


def _message_response(status: int, message: str) -> Response:
    return Response(json.dumps({"message": message}), status=status, mimetype="application/json")


def response_from_payload(payload: Any) -> Response:
    """Map a function's answer to the HTTP response, per the payload format 2.0 rules."""
    if not isinstance(payload, dict) or "statusCode" not in payload:
        return Response(json.dumps(payload), status=200, mimetype="application/json")
    try:
        status = int(payload["statusCode"])
        body: str | bytes = payload.get("body") or ""
        if payload.get("isBase64Encoded") and body:
            body = base64.b64decode(str(body), validate=True)
        elif not isinstance(body, str):
            body = json.dumps(body)
        response = Response(body, status=status)
    except (TypeError, ValueError, binascii.Error):
        return _message_response(500, "Internal Server Error")
    response.headers.remove("Content-Type")
    for name, value in (payload.get("headers") or {}).items():
        response.headers[str(name)] = _header_text(value)
    for cookie in payload.get("cookies") or []:
        response.headers.add("Set-Cookie", str(cookie))
    return response


def _header_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _QuietRequestHandler(WSGIRequestHandler):
    # The access log file records requests; the terminal stays readable.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


def serve_http_api(app: Callable[..., Iterable[bytes]], host: str, port: int) -> BaseWSGIServer:
    """Bind a threaded WSGI server for ``app`` (port 0: a free port); the caller runs it."""
    return make_server(host, port, app, threaded=True, request_handler=_QuietRequestHandler)
