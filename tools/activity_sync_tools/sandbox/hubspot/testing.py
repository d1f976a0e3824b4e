"""Test helpers for code that talks to the HubSpot sandbox: admin/raw-HTTP access, a local webhook
receiver with scripted answers, and validation against HubSpot's OpenAPI specs."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from activity_sync_tools.sandbox.core import RunningServer

from .app import DEFAULT_TOKEN


class Admin:
    """The sandbox's admin routes and raw HTTP for the endpoints the official client lacks."""

    def __init__(self, server: RunningServer, token: str = DEFAULT_TOKEN) -> None:
        self.url = server.url
        self.token = token
        self.session = requests.Session()
        self.session.trust_env = False

    def get(self, route: str, **params: Any) -> Any:
        response = self.session.get(f"{self.url}/_sandbox/{route}", params=params, timeout=30)
        response.raise_for_status()
        return response.json()

    def post(self, route: str, body: Any = None) -> Any:
        response = self.session.post(f"{self.url}/_sandbox/{route}", json=body or {}, timeout=30)
        response.raise_for_status()
        return response.json() if response.content else None

    def patch(self, route: str, body: Any) -> Any:
        response = self.session.patch(f"{self.url}/_sandbox/{route}", json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def delete(self, route: str) -> None:
        self.session.delete(f"{self.url}/_sandbox/{route}", timeout=30).raise_for_status()

    def create(self, object_type: str, properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
        """A record made the way a HubSpot user makes it (no API call counted)."""
        created: dict[str, Any] = self.post(f"objects/{object_type}", {"properties": properties, **extra})
        return created

    def api(self, method: str, path: str, *, token: str | None = "", **kwargs: Any) -> requests.Response:
        """A raw API call, for endpoints the official client does not cover (``token=None``: none;
        by default the sandbox's)."""
        bearer = self.token if token == "" else token
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        return self.session.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: str

    @property
    def events(self) -> list[dict[str, Any]]:
        parsed: list[dict[str, Any]] = json.loads(self.body)
        return parsed


@dataclass
class WebhookReceiver:
    """A local HTTP endpoint that records what it receives and answers with scripted statuses
    (``responses`` is consumed first, then ``default_status``), each after ``answer_after_seconds``;
    ``most_in_flight`` is the most requests it held at once."""

    url: str
    requests: list[ReceivedRequest] = field(default_factory=list)
    responses: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    default_status: int = 204
    answer_after_seconds: float = 0.0
    in_flight: int = 0
    most_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self) -> tuple[int, dict[str, str]]:
        with self.lock:
            return self.responses.pop(0) if self.responses else (self.default_status, {})

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [event for request in self.requests for event in request.events]

    def wait_for(self, condition: Callable[[WebhookReceiver], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition(self):
                return
            time.sleep(0.01)
        raise AssertionError(f"webhook receiver: condition not met within {timeout}s; got {self.requests}")


@contextmanager
def webhook_receiver(path: str = "/hubspot/webhooks?source=test") -> Iterator[WebhookReceiver]:
    """Serve a :class:`WebhookReceiver` on a free local port for the duration of the block."""
    state: dict[str, WebhookReceiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server dispatches on this name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            target = state["receiver"]
            with target.lock:
                target.requests.append(ReceivedRequest("POST", self.path, dict(self.headers.items()), body))
                target.in_flight += 1
                target.most_in_flight = max(target.most_in_flight, target.in_flight)
            time.sleep(target.answer_after_seconds)
            with target.lock:
                target.in_flight -= 1
            status, headers = target.answer()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["receiver"] = WebhookReceiver(url=f"http://127.0.0.1:{httpd.server_port}{path}")
    # A short poll interval: shutting the server down waits for one.
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state["receiver"]
    finally:
        httpd.shutdown()
        httpd.server_close()


class OpenApi:
    """Validates JSON against a ``#/components/schemas/...`` schema of one of HubSpot's specs."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._specs: dict[str, dict[str, Any]] = {}

    def spec(self, spec_file: str) -> dict[str, Any]:
        spec = self._specs.get(spec_file)
        if spec is None:
            spec = json.loads((self.directory / spec_file).read_text())
            self._specs[spec_file] = spec
        return spec

    def validate(self, spec_file: str, schema_name: str, instance: Any) -> None:
        self.validate_schema(spec_file, {"$ref": f"#/components/schemas/{schema_name}"}, instance)

    def validate_schema(self, spec_file: str, schema: dict[str, Any], instance: Any) -> None:
        """Validates against a schema of ``spec_file`` (its ``$ref``s resolve in that spec)."""
        import jsonschema  # a development dependency, needed only here

        schema = {**schema, "components": self.spec(spec_file)["components"]}
        validator = jsonschema.Draft7Validator(
            schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
        )
        validator.validate(instance)


def openapi_directory(repo_root: Path) -> Path:
    """``<repo root>/../shared/reference/hubspot-openapi`` unless ``HUBSPOT_OPENAPI_DIR`` says otherwise."""
    configured = os.environ.get("HUBSPOT_OPENAPI_DIR")
    return Path(configured) if configured else repo_root.parent / "shared" / "reference" / "hubspot-openapi"


def without_null_properties(body: Any) -> Any:
    """HubSpot answers a requested property that has no value with ``null``, which its own specs
    (``additionalProperties: {type: string}``) do not allow; drop those before validating."""
    if isinstance(body, dict):
        cleaned = {}
        for key, value in body.items():
            if key == "properties" and isinstance(value, dict):
                cleaned[key] = {k: v for k, v in value.items() if v is not None}
            else:
                cleaned[key] = without_null_properties(value)
        return cleaned
    if isinstance(body, list):
        return [without_null_properties(item) for item in body]
    return body


# The spec file of each date-based API, by the first segments of its paths; CRM object routes share
# their path templates, so the object type picks the file.
_DATED_SPEC_FILES = {
    "crm/associations": "associations.json",
    "crm/owners": "crmOwners.json",
    "crm/properties": "properties.json",
    "marketing/emails": "marketingEmails.json",
}
_OBJECT_SPEC_FILES = {
    "calls": "calls.json",
    "contacts": "contacts.json",
    "emails": "emails.json",
    "meetings": "meetings.json",
    "notes": "notes.json",
    "tasks": "tasks.json",
}


@dataclass(frozen=True)
class Exchange:
    """One request and its answer, as seen on the wire."""

    method: str
    path: str
    request_body: Any
    status: int
    response_body: Any


class DatedSpecs:
    """Checks exchanges on HubSpot's date-based paths (``/crm/objects/2026-09/...``) against the
    operation of that version's specs: the request body against its ``requestBody`` schema and the
    answer against the schema of its status (or ``default``, HubSpot's error body)."""

    def __init__(self, directory: Path, version: str) -> None:
        self.version = version
        self._openapi = OpenApi(directory / version)
        self._specs: dict[str, dict[str, Any]] = {}

    def spec_file(self, path: str) -> str:
        segments = path.strip("/").split("/")
        if segments[:3] == ["crm", "objects", self.version]:
            return _OBJECT_SPEC_FILES[segments[3]]
        if segments[2:3] == [self.version]:
            return _DATED_SPEC_FILES["/".join(segments[:2])]
        raise AssertionError(f"{path} is not a {self.version} path")

    def operation(self, method: str, path: str) -> tuple[str, str, dict[str, Any]]:
        """(spec file, path template, operation) of a request."""
        spec_file = self.spec_file(path)
        spec = self._openapi.spec(spec_file)
        for template, operations in spec["paths"].items():
            pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
            if re.match(pattern, path) and method.lower() in operations:
                return spec_file, template, operations[method.lower()]
        raise AssertionError(f"{method} {path}: no such operation in {self.version}/{spec_file}")

    def check(self, exchange: Exchange) -> str:
        """Validates one exchange; returns ``"METHOD template"`` for coverage accounting."""
        import jsonschema

        try:
            return self._check(exchange)
        except jsonschema.ValidationError as error:
            where = "/".join(str(p) for p in error.absolute_path)
            raise AssertionError(
                f"{exchange.method} {exchange.path} -> {exchange.status}: {error.message} at '{where}'"
            ) from error

    def _check(self, exchange: Exchange) -> str:
        spec_file, template, operation = self.operation(exchange.method, exchange.path)
        spec = self._openapi.spec(spec_file)
        request_schema = _json_schema(operation.get("requestBody"), spec)
        if request_schema is not None:
            self._openapi.validate_schema(spec_file, request_schema, _as_spec_types(exchange.request_body))
        answers = operation.get("responses") or {}
        answer = answers.get(str(exchange.status))
        if answer is None and exchange.status == 207:
            # HubSpot answers partial batch failures with 207 (developers.hubspot.com/docs/
            # api-reference/error-handling, "Multi-status errors"); the date-based specs describe
            # that body as the success schema, which carries ``errors`` and ``numErrors``.
            answer = answers.get("200") or answers.get("201")
        answer = answer or answers.get("default")
        assert answer is not None, f"{exchange.method} {exchange.path}: {exchange.status} is not in the spec"
        response_schema = _json_schema(answer, spec)
        if response_schema is not None:
            self._openapi.validate_schema(
                spec_file, response_schema, without_null_properties(exchange.response_body)
            )
        else:
            assert exchange.response_body in (None, ""), f"{exchange.method} {exchange.path}: unexpected body"
        return f"{exchange.method} {template}"


def _as_spec_types(body: Any) -> Any:
    """A search's sorts as the spec types them (``"name"``, ``"-name"``): HubSpot's search guide
    writes them ``{"propertyName", "direction"}``, and HubSpot takes both."""
    if isinstance(body, dict) and isinstance(body.get("sorts"), list):
        sorts = [
            ("-" if sort.get("direction") == "DESCENDING" else "") + str(sort.get("propertyName"))
            if isinstance(sort, dict)
            else sort
            for sort in body["sorts"]
        ]
        return {**body, "sorts": sorts}
    return body


def _json_schema(part: Any, spec: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema of a request body or answer (``$ref``s to shared answers resolved)."""
    if not isinstance(part, dict):
        return None
    reference = part.get("$ref")
    if isinstance(reference, str) and reference.startswith("#/components/"):
        kind, name = reference.removeprefix("#/components/").split("/", 1)
        part = spec["components"][kind][name]
    content = part.get("content") or {}
    schema = (content.get("application/json") or content.get("*/*") or {}).get("schema")
    return schema if isinstance(schema, dict) else None


def recording_session(exchanges: list[Exchange]) -> requests.Session:
    """A ``requests`` session (ignoring proxy settings) that appends every exchange to ``exchanges``."""
    session = requests.Session()
    session.trust_env = False

    def record(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        body = response.request.body
        sent = json.loads(body) if body else None
        try:
            answered = response.json() if response.content else None
        except ValueError:
            answered = response.text
        path = urlsplit(response.request.url or "").path
        exchanges.append(Exchange(response.request.method or "", path, sent, response.status_code, answered))

    session.hooks["response"].append(record)
    return session
