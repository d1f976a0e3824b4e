"""Metering of the embedded AWS: a WSGI middleware around moto's server that counts every request by
service, operation and caller, and the DynamoDB capacity each request would consume on demand.

* Service and operation come from the request itself: ``X-Amz-Target`` (``DynamoDB_20120810.PutItem``,
  ``AmazonSQS.ReceiveMessage``, ``AmazonSSM.GetParametersByPath``) for the JSON protocols, the
  ``Action`` parameter for the query protocol, and the service from the SigV4 credential scope.
* The caller comes from the ``User-Agent``: a function's requests carry ``app/<LogicalId>`` (the
  local runtime sets ``AWS_SDK_UA_APP_ID`` for its workers), the event source pollers and the
  runtime's own bookkeeping carry :data:`EVENT_SOURCE_USER_AGENT` / :data:`RUNTIME_USER_AGENT`;
  anything else (tests, the CLI, the bench) is ``client``.
* An SQS ``ReceiveMessage`` that returned no message is counted as ``ReceiveMessage (empty)``.

DynamoDB capacity is computed here from item sizes, by the on-demand rules
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html), not
asked of moto: moto's ``ReturnConsumedCapacity`` answers fixed figures whatever the item size.

* Reads: one read request unit per 4 KB, half for an eventually consistent read, two for a
  transactional one. ``GetItem``/``BatchGetItem``/``TransactGetItems`` round each item up on its
  own (a key that finds nothing still costs the minimum); ``Query``/``Scan`` round the total size
  of the items returned (items a filter dropped are not seen here, so a filtered query is counted
  low).
* Writes: one write request unit per 1 KB of the larger of the item before and after the write
  (read from moto's backend, in this process, around the request), two for a transactional write;
  a write whose condition failed still costs the write. Each global secondary index whose key the
  item has (before or after) costs the same again, as the index is written too.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
import threading
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

EVENT_SOURCE_USER_AGENT = "activity-sync-local/event-source"
RUNTIME_USER_AGENT = "activity-sync-local/runtime"
EVENT_SOURCE_CALLER = "(event sources)"
RUNTIME_CALLER = "(local runtime)"
CLIENT_CALLER = "(client)"

READ_UNIT_BYTES = 4096
WRITE_UNIT_BYTES = 1024

_APP_ID = re.compile(r"(?:^|\s)app/([^\s]+)")
_CREDENTIAL_SERVICE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")
_TARGET_SERVICES = {"DynamoDB": "dynamodb", "AmazonSQS": "sqs", "AmazonSSM": "ssm"}
_WRITES = ("PutItem", "UpdateItem", "DeleteItem")

type Stored = tuple[int, int]  # an item's size in bytes, and how many global secondary indexes hold it


# -- the size and capacity rules (pure) -------------------------------------------------------------


def attribute_value_size(value: Any) -> int:
    """The size DynamoDB counts for one attribute value in DynamoDB JSON (``{"S": "..."}``)."""
    if not isinstance(value, dict) or len(value) != 1:
        return 0
    kind, content = next(iter(value.items()))
    if kind in ("S",):
        return len(str(content).encode())
    if kind == "N":
        # Numbers take about one byte per two significant digits, plus one.
        digits = str(content).lstrip("-").replace(".", "").lstrip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(content) if isinstance(content, bytes) else len(str(content)) * 3 // 4
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(v).encode()) for v in content)
    if kind == "NS":
        return sum(attribute_value_size({"N": v}) for v in content)
    if kind == "BS":
        return sum(attribute_value_size({"B": v}) for v in content)
    if kind == "L":
        return 3 + sum(1 + attribute_value_size(v) for v in content)
    if kind == "M":
        return 3 + sum(len(str(k).encode()) + 1 + attribute_value_size(v) for k, v in content.items())
    return 0


def item_size(item: dict[str, Any] | None) -> int:
    """An item's size in bytes (attribute names plus values), DynamoDB JSON."""
    if not item:
        return 0
    return sum(len(name.encode()) + attribute_value_size(value) for name, value in item.items())


def read_units(size: int, *, consistent: bool = False, transactional: bool = False) -> float:
    """Read request units for reading ``size`` bytes (at least one 4 KB unit)."""
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    if transactional:
        return 2.0 * units
    return float(units) if consistent else units / 2


def write_units(size: int, *, transactional: bool = False) -> float:
    """Write request units for writing an item of ``size`` bytes (at least one 1 KB unit)."""
    units = max(1, math.ceil(size / WRITE_UNIT_BYTES))
    return float(2 * units if transactional else units)


def caller_of(user_agent: str) -> str:
    if EVENT_SOURCE_USER_AGENT in user_agent:
        return EVENT_SOURCE_CALLER
    if RUNTIME_USER_AGENT in user_agent:
        return RUNTIME_CALLER
    found = _APP_ID.search(user_agent)
    return found.group(1) if found else CLIENT_CALLER


def identify(environ: dict[str, Any], body: bytes) -> tuple[str, str]:
    """(service, operation) of an AWS request."""
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    credential = _CREDENTIAL_SERVICE.search(str(environ.get("HTTP_AUTHORIZATION", "")))
    service = credential.group(1) if credential else ""
    if target:
        prefix, _, operation = target.partition(".")
        service = service or _TARGET_SERVICES.get(prefix.split("_")[0], prefix.lower())
        return service or "unknown", operation
    parameters = urllib.parse.parse_qs(str(environ.get("QUERY_STRING", "")))
    if not parameters.get("Action") and body:
        parameters = urllib.parse.parse_qs(body.decode("utf-8", errors="replace"))
    action = (parameters.get("Action") or [""])[0]
    return (
        service or "unknown",
        action or f"{environ.get('REQUEST_METHOD', '')} {environ.get('PATH_INFO', '')}",
    )


# -- the usage record ------------------------------------------------------------------------------


@dataclass
class AwsUsage:
    """Requests by (service, operation, caller); DynamoDB capacity by (table, operation, caller)."""

    requests: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    read_units: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    write_units: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    # Requests IAM refused: how many, and the first REFUSALS_KEPT (caller, service, operation and
    # AWS's message, which names the action and the resource).
    refused: list[dict[str, str]] = field(default_factory=list)
    refused_count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_request(self, service: str, operation: str, caller: str) -> None:
        with self._lock:
            self.requests[(service, operation, caller)] += 1

    def add_refusal(self, service: str, operation: str, caller: str, message: str) -> None:
        with self._lock:
            self.refused.append(
                {"service": service, "operation": operation, "caller": caller, "message": message}
            )

    def add_capacity(self, table: str, operation: str, caller: str, *, read: float, write: float) -> None:
        with self._lock:
            if read:
                self.read_units[(table, operation, caller)] += read  # type: ignore[assignment]
            if write:
                self.write_units[(table, operation, caller)] += write  # type: ignore[assignment]

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready: ``requests`` and ``dynamodb_capacity`` as lists of rows."""
        with self._lock:
            requests = [
                {"service": s, "operation": o, "caller": c, "count": n}
                for (s, o, c), n in sorted(self.requests.items())
            ]
            keys = sorted(set(self.read_units) | set(self.write_units))
            capacity = [
                {
                    "table": t,
                    "operation": o,
                    "caller": c,
                    "read_units": float(self.read_units.get((t, o, c), 0.0)),
                    "write_units": float(self.write_units.get((t, o, c), 0.0)),
                }
                for (t, o, c) in keys
            ]
            refused = [dict(refusal) for refusal in self.refused]
            refused_count = self.refused_count
        return {
            "requests": requests,
            "dynamodb_capacity": capacity,
            "refused": refused,
            "refused_count": refused_count,
        }


REFUSALS_KEPT = 100
_REFUSALS = (b"AccessDenied", b"InvalidClientTokenId", b"SignatureDoesNotMatch")
_MESSAGE = re.compile(rb'"message":\s*"([^"]*)"|<Message>([^<]*)</Message>')


def _refusal(status: str, body: bytes) -> str | None:
    """IAM's refusal in a response (its message), or None."""
    if not status.startswith(("400", "403")) or not any(code in body[:400] for code in _REFUSALS):
        return None
    found = _MESSAGE.search(body)
    code = next(code for code in _REFUSALS if code in body[:400]).decode()
    message = (
        next((group for group in found.groups() if group), b"").decode("utf-8", "replace") if found else ""
    )
    return f"{code}: {message}"


# -- the middleware --------------------------------------------------------------------------------

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class MeteringMiddleware:
    """Counts what passes through to moto (its ``/moto-api/`` routes excepted)."""

    def __init__(
        self, app: WsgiApp, usage: AwsUsage, dynamodb_backend: Callable[[], Any] | None = None
    ) -> None:
        self.app = app
        self.usage = usage
        self.dynamodb_backend = dynamodb_backend

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if str(environ.get("PATH_INFO", "")).startswith("/moto-api"):
            return self.app(environ, start_response)
        body = _read_body(environ)
        service, operation = identify(environ, body)
        caller = caller_of(str(environ.get("HTTP_USER_AGENT", "")))
        request: dict[str, Any] = {}
        if service == "dynamodb" or (service == "sqs" and operation == "ReceiveMessage"):
            try:
                request = json.loads(body) if body else {}
            except ValueError:
                request = {}
        before = self._write_sizes(operation, request) if service == "dynamodb" else {}
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"] = status
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        chunks = self.app(environ, capture)
        try:
            response_body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        with contextlib.suppress(Exception):  # metering must never break the request it watches
            self._record(service, operation, caller, request, response_body, before)
            refusal = _refusal(captured.get("status", ""), response_body)
            if refusal:
                self.usage.add_refusal(service, operation, caller, refusal)
        return [response_body]

    # -- what to record --------------------------------------------------------------------------
    def _record(
        self,
        service: str,
        operation: str,
        caller: str,
        request: dict[str, Any],
        response_body: bytes,
        before: dict[tuple[str, str], Stored],
    ) -> None:
        if service == "sqs" and operation == "ReceiveMessage" and not _received_messages(response_body):
            operation = "ReceiveMessage (empty)"
        self.usage.add_request(service, operation, caller)
        if service != "dynamodb":
            return
        try:
            response = json.loads(response_body) if response_body else {}
        except ValueError:
            response = {}
        for table, read, write in self._capacity(operation, request, response, before):
            self.usage.add_capacity(table, operation, caller, read=read, write=write)

    def _capacity(
        self,
        operation: str,
        request: dict[str, Any],
        response: dict[str, Any],
        before: dict[tuple[str, str], Stored],
    ) -> list[tuple[str, float, float]]:
        consistent = bool(request.get("ConsistentRead"))
        match operation:
            case "GetItem":
                size = item_size(response.get("Item"))
                return [(str(request.get("TableName", "")), read_units(size, consistent=consistent), 0.0)]
            case "Query" | "Scan":
                size = sum(item_size(item) for item in response.get("Items", []))
                return [(str(request.get("TableName", "")), read_units(size, consistent=consistent), 0.0)]
            case "BatchGetItem":
                return self._batch_get(request, response)
            case "TransactGetItems":
                rows: list[tuple[str, float, float]] = []
                for entry, answer in zip(
                    request.get("TransactItems", []), response.get("Responses", []), strict=False
                ):
                    table = str(entry.get("Get", {}).get("TableName", ""))
                    rows.append((table, read_units(item_size(answer.get("Item")), transactional=True), 0.0))
                return rows
            case "PutItem" | "UpdateItem" | "DeleteItem":
                table = str(request.get("TableName", ""))
                return [
                    (table, 0.0, self._write_cost(table, before, after=self._write_sizes(operation, request)))
                ]
            case "BatchWriteItem":
                return self._batch_write(request, response, before)
            case "TransactWriteItems":
                after = self._write_sizes(operation, request)
                return [
                    (table, 0.0, self._write_cost(table, before, after, transactional=True, key=key))
                    for (table, key) in after
                ]
        return []

    def _batch_get(self, request: dict[str, Any], response: dict[str, Any]) -> list[tuple[str, float, float]]:
        rows: list[tuple[str, float, float]] = []
        unprocessed = response.get("UnprocessedKeys") or {}
        for table, asked in (request.get("RequestItems") or {}).items():
            consistent = bool(asked.get("ConsistentRead"))
            found = response.get("Responses", {}).get(table, [])
            missing = (
                len(asked.get("Keys", [])) - len(found) - len(unprocessed.get(table, {}).get("Keys", []))
            )
            units = sum(read_units(item_size(item), consistent=consistent) for item in found)
            units += max(0, missing) * read_units(0, consistent=consistent)
            rows.append((str(table), units, 0.0))
        return rows

    def _batch_write(
        self, request: dict[str, Any], response: dict[str, Any], before: dict[tuple[str, str], Stored]
    ) -> list[tuple[str, float, float]]:
        unprocessed = {
            (table, _key_text(target))
            for table, entries in (response.get("UnprocessedItems") or {}).items()
            for target in (self._entry_key(table, entry) for entry in entries)
        }
        after = self._write_sizes("BatchWriteItem", request)
        return [
            (table, 0.0, self._write_cost(table, before, after, key=key))
            for (table, key) in after
            if (table, key) not in unprocessed
        ]

    def _write_cost(
        self,
        table: str,
        before: dict[tuple[str, str], Stored],
        after: dict[tuple[str, str], Stored],
        *,
        transactional: bool = False,
        key: str | None = None,
    ) -> float:
        entries = {k for k in (*after, *before) if k[0] == table and (key is None or k[1] == key)}
        total = 0.0
        for entry in entries:
            old, new = before.get(entry, (0, 0)), after.get(entry, (0, 0))
            size = max(old[0], new[0])
            copies = 1 + max(old[1], new[1])
            total += copies * write_units(size, transactional=transactional)
        return total or write_units(0, transactional=transactional)

    # -- moto's backend, for the item before and after a write --------------------------------------
    def _write_sizes(self, operation: str, request: dict[str, Any]) -> dict[tuple[str, str], Stored]:
        """Each item a write touches, as stored now: {(table, key text): (bytes, indexes it is in)}."""
        if operation not in (*_WRITES, "BatchWriteItem", "TransactWriteItems"):
            return {}
        return {
            (table, _key_text(key)): self._stored(table, key)
            for table, key in self._write_targets(operation, request)
        }

    def _write_targets(self, operation: str, request: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        targets: list[tuple[str, dict[str, Any]]] = []
        if operation in _WRITES:
            table = str(request.get("TableName", ""))
            key = request.get("Key") or self._key_of(table, request.get("Item") or {})
            targets.append((table, key))
        elif operation == "BatchWriteItem":
            for table, entries in (request.get("RequestItems") or {}).items():
                targets.extend((table, self._entry_key(table, entry)) for entry in entries)
        elif operation == "TransactWriteItems":
            for entry in request.get("TransactItems", []):
                for kind, action in entry.items():
                    table = str(action.get("TableName", ""))
                    key = (
                        action.get("Key") if kind != "Put" else self._key_of(table, action.get("Item") or {})
                    )
                    targets.append((table, key or {}))
        return targets

    def _entry_key(self, table: str, entry: dict[str, Any]) -> dict[str, Any]:
        if "DeleteRequest" in entry:
            return dict(entry["DeleteRequest"].get("Key") or {})
        return self._key_of(table, entry.get("PutRequest", {}).get("Item") or {})

    def _table(self, table: str) -> Any:
        if self.dynamodb_backend is None:
            return None
        try:
            return self.dynamodb_backend().get_table(table)
        except Exception:
            return None

    def _key_of(self, table: str, item: dict[str, Any]) -> dict[str, Any]:
        found = self._table(table)
        if found is None:
            return {}
        names = [found.hash_key_attr] + ([found.range_key_attr] if found.range_key_attr else [])
        return {name: item[name] for name in names if name in item}

    def _stored(self, table_name: str, key: dict[str, Any]) -> Stored:
        """(size, how many global secondary indexes hold it) of the item as stored now."""
        table = self._table(table_name)
        if table is None or not key:
            return (0, 0)
        try:
            stored = self.dynamodb_backend().get_item(table_name, key) if self.dynamodb_backend else None
        except Exception:
            return (0, 0)
        if stored is None:
            return (0, 0)
        attributes = stored.to_json()["Attributes"]
        indexes = sum(
            1
            for index in getattr(table, "global_indexes", []) or []
            if set(index.schema_key_attrs) <= set(attributes)
        )
        return (item_size(attributes), indexes)


class SerializedBackends:
    """Runs the requests that moto's backends cannot take at the same moment one at a time.

    * SQS: moto deletes a message by rebuilding the queue's list of messages and assigning it back,
      without the lock its sends take, so two deletes at the same moment can lose one of them (the
      message then sits in flight for the whole visibility timeout) and a send during a delete can
      be lost outright. Once several batches of a queue are delivered at once, that happens; so
      sends, deletes, visibility changes and receives that do not wait go through one lock. Long
      polls do not (they wait for sends), and the event source pollers never hold one while their
      own batches are being deleted (``activity_sync_tools.local.sqs``).
    * DynamoDB: a query or scan iterates a table's items while a write may add one ("dictionary
      changed size during iteration", a 500 the SDK retries); every DynamoDB request goes through
      a lock of its own. moto runs in this process, under its one interpreter lock, so little is
      lost.
    """

    SERIALIZED = frozenset(
        {
            "SendMessage",
            "SendMessageBatch",
            "DeleteMessage",
            "DeleteMessageBatch",
            "ChangeMessageVisibility",
            "ChangeMessageVisibilityBatch",
            "PurgeQueue",
        }
    )

    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self._locks = {"sqs": threading.Lock(), "dynamodb": threading.Lock()}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if str(environ.get("PATH_INFO", "")).startswith("/moto-api"):
            return self.app(environ, start_response)
        body = _read_body(environ)
        service, operation = identify(environ, body)
        serialized = service == "dynamodb" or (service == "sqs" and self._serialized(operation, body))
        if not serialized:
            return self.app(environ, start_response)
        with self._locks[service]:
            chunks = self.app(environ, start_response)
            try:
                return [b"".join(chunks)]
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()

    def _serialized(self, operation: str, body: bytes) -> bool:
        if operation in self.SERIALIZED:
            return True
        if operation != "ReceiveMessage":
            return False
        # Only a receive that says it does not wait (without WaitTimeSeconds, the queue's own
        # ReceiveMessageWaitTimeSeconds applies, and a long poll must not hold the lock).
        wait: object = None
        try:
            if body.lstrip().startswith(b"{"):
                wait = json.loads(body).get("WaitTimeSeconds")
            else:
                form = urllib.parse.parse_qs(body.decode("utf-8", errors="replace"))
                wait = next(iter(form.get("WaitTimeSeconds", [])), None)
        except ValueError:
            return False
        return wait is not None and str(wait) == "0"


def _key_text(key: dict[str, Any]) -> str:
    return json.dumps(key, sort_keys=True)


def _read_body(environ: dict[str, Any]) -> bytes:
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    length = str(environ.get("CONTENT_LENGTH") or "")
    body = (
        stream.read(int(length))
        if length.isdigit()
        else (stream.read() if environ.get("wsgi.input_terminated") else b"")
    )
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return bytes(body)


def _received_messages(response_body: bytes) -> bool:
    text = response_body.decode("utf-8", errors="replace")
    if text.lstrip().startswith("{"):
        try:
            return bool(json.loads(text).get("Messages"))
        except ValueError:
            return False
    return "<Message>" in text
