"""What both sandboxes share: a settable clock, per-route faults, a request log with counters,
the reserved ``/_sandbox/`` admin prefix, and a threaded HTTP(S) server that runs in-process.

A sandbox is a werkzeug WSGI application. Subclasses of :class:`SandboxApp` register their API
routes in ``url_map`` and their extra admin routes under ``/_sandbox/``; everything else here
(faults, counters, clock, reset) behaves the same in both.

Faults (``/_sandbox/faults``)
-----------------------------
``POST`` takes a :class:`Fault`'s fields as JSON: ``{"route": "GET /crm/v3/objects/*", "kind":
"rate_limit"|"server_error"|"status"|"slow"|"drop"|"expired_session", "times"?: n|null,
"status"?: n, "retry_after"?: s, "delay_seconds"?: s, "probability"?: p}``; ``GET`` lists them
(``{"faults": [...], "seed": n|null}``), ``DELETE`` clears them. ``route`` is a glob over
``METHOD /path`` or the path alone. Admin routes are never faulted.

* Without ``probability`` a fault applies to the next ``times`` matching requests (default 1;
  ``null``: until cleared). These are checked first, in the order they were added.
* With ``probability`` (0 < p <= 1) a fault applies to that share of matching requests, at random;
  ``times`` then defaults to ``null`` (unlimited; a number caps how often it applies). One random
  number is rolled per request that matches any of them, and the faults share the interval [0, 1)
  in the order they were added: five faults of 0.04 each fail 20 % of requests in expectation, at
  most one fault a request. Bands beyond a cumulative 1 are never reached.
* ``{"seed": n}`` (alone, or along with a fault) seeds the faults' random numbers, so a run is
  repeatable (given the same requests in the same order). The seed lasts until another one or
  ``/_sandbox/reset`` (which unseeds); ``DELETE`` keeps it.

What a fault does: ``rate_limit`` answers 429 with ``Retry-After``; ``server_error`` and
``status`` answer 5XX or the given status; ``expired_session`` answers 401; each sandbox shapes
these bodies as its vendor does. ``slow`` waits ``delay_seconds`` and then serves the request
normally; ``drop`` closes the connection without an answer (clients see a connection error). The
request log records each faulted request once, with ``fault`` set to its kind (``drop``: status 499).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fnmatch
import ipaddress
import json
import math
import random
import shutil
import socket
import tempfile
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

ADMIN_PREFIX = "/_sandbox"

Handler = Callable[..., Response]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers or {}, mimetype="application/json")


class SandboxClock:
    """The sandbox's idea of "now": real time plus an offset, or frozen at a set instant.

    Tests move it to create records "in the past" (a contact created 40 days before a switch went
    on) without waiting, and both sandboxes stamp every record with it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = dt.timedelta(0)
        self._frozen: dt.datetime | None = None

    def now(self) -> dt.datetime:
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            return dt.datetime.now(dt.UTC) + self._offset

    def now_ms(self) -> int:
        return int(self.now().timestamp() * 1000)

    def set(self, instant: dt.datetime, *, frozen: bool = False) -> None:
        if instant.tzinfo is None:
            raise ValueError("the sandbox clock needs a timezone-aware instant")
        with self._lock:
            if frozen:
                self._frozen = instant
            else:
                self._frozen = None
                self._offset = instant - dt.datetime.now(dt.UTC)

    def advance(self, seconds: float) -> None:
        with self._lock:
            if self._frozen is not None:
                self._frozen += dt.timedelta(seconds=seconds)
            else:
                self._offset += dt.timedelta(seconds=seconds)

    def reset(self) -> None:
        with self._lock:
            self._offset = dt.timedelta(0)
            self._frozen = None

    def describe(self) -> dict[str, Any]:
        return {"now": self.now().isoformat(), "frozen": self._frozen is not None}


FAULT_KINDS = ("rate_limit", "server_error", "slow", "drop", "expired_session", "status")


@dataclass
class Fault:
    """One injected failure: requests whose ``METHOD /path`` matches ``route`` (a glob such as
    ``POST /crm/v3/objects/*/batch/*`` or ``* /services/data/*``) fail ``times`` times (None:
    until cleared). With ``probability`` a matching request fails only with that chance (see
    :meth:`FaultSwitch.take`); such a fault usually has ``times=None`` (which :meth:`from_body`
    makes the default)."""

    route: str
    kind: str
    times: int | None = 1
    status: int | None = None
    retry_after: int = 1
    delay_seconds: float = 0.0
    hits: int = 0
    probability: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if self.kind == "status" and self.status is None:
            raise ValueError("a 'status' fault needs a status code")
        if self.probability is not None:
            # bool is an int: reject it rather than read true as a probability of 1.
            if isinstance(self.probability, bool) or not isinstance(self.probability, int | float):
                raise ValueError("probability must be a number")
            if not (math.isfinite(self.probability) and 0 < self.probability <= 1):
                raise ValueError("probability must be greater than 0 and at most 1")
            self.probability = float(self.probability)

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Fault:
        """A fault from the admin route's JSON; a probabilistic one is unlimited unless ``times``
        is given (a one-shot fault that fires at random is rarely what a caller means)."""
        if body.get("probability") is not None and "times" not in body:
            body = {**body, "times": None}
        return cls(**body)

    def matches(self, method: str, path: str) -> bool:
        return fnmatch.fnmatchcase(f"{method} {path}", self.route) or fnmatch.fnmatchcase(path, self.route)


class FaultSwitch:
    """The active faults, and the random numbers that decide the probabilistic ones."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.seed: int | None = None
        self._random = random.Random()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def reseed(self, seed: int | None) -> None:
        """Restart the random numbers from ``seed`` (None: unseeded, from the OS)."""
        with self._lock:
            self.seed = seed
            self._random = random.Random(seed)

    def take(self, method: str, path: str) -> Fault | None:
        """The fault to apply to this request, if any, spending one of its ``times``.

        Faults without a probability come first, in order: the first active match applies. Else one
        number in [0, 1) is rolled and the active probabilistic matches, in order, each cover the
        next ``probability`` of that interval; the one whose band holds the roll applies. Rolling
        once (rather than once per fault) keeps the faults exclusive and their shares exact.
        """
        with self._lock:
            chances: list[tuple[Fault, float]] = []
            for fault in self._faults:
                if not fault.matches(method, path) or (fault.times is not None and fault.times <= 0):
                    continue
                if fault.probability is None:
                    return self._spend(fault)
                chances.append((fault, fault.probability))
            if not chances:
                return None  # no roll: the sequence only advances for requests that could fail
            roll = self._random.random()
            band = 0.0
            for fault, probability in chances:
                band += probability
                if roll < band:
                    return self._spend(fault)
        return None

    @staticmethod
    def _spend(fault: Fault) -> Fault:
        fault.hits += 1
        if fault.times is not None:
            fault.times -= 1
        return fault

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(f) for f in self._faults]


@dataclass
class LoggedRequest:
    at: str
    method: str
    path: str
    query: str
    status: int
    route: str
    fault: str | None = None
    body: str | None = None


@dataclass
class RequestLog:
    """Every API request (admin routes excluded) with a counter per route template, so tests can
    assert how many vendor calls an operation cost (R18)."""

    entries: list[LoggedRequest] = field(default_factory=list)
    counters: Counter[str] = field(default_factory=Counter)
    keep_bodies: bool = True
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self.entries.append(entry)
            self.counters[entry.route] += 1

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()
            self.counters.clear()

    def describe(self, limit: int | None = None) -> list[dict[str, Any]]:
        with self._lock:
            entries = self.entries if limit is None else self.entries[-limit:]
            return [{k: v for k, v in asdict(e).items() if v is not None} for e in entries]


class DropConnection(ConnectionError):
    """Raised inside a request to close the client's connection without any response (werkzeug
    treats a ConnectionError as a dropped connection and answers nothing)."""


class SandboxApp:
    """Base WSGI app: dispatches ``url_map`` rules to handler methods, applies faults, logs.

    Subclasses call :meth:`route` / :meth:`admin_route` in ``__init__`` and implement
    :meth:`reset_state`, and may override :meth:`fault_response` for vendor-shaped error bodies.
    """

    name = "sandbox"

    def __init__(self) -> None:
        self.clock = SandboxClock()
        self.faults = FaultSwitch()
        self.log = RequestLog()
        self.lock = threading.RLock()  # guards the sandbox's state; handlers take it as needed
        self.url_map = Map(strict_slashes=False, merge_slashes=False)
        self._handlers: dict[str, Handler] = {}
        self.admin_route("/clock", self._admin_clock, methods=["GET", "POST"])
        self.admin_route("/faults", self._admin_faults, methods=["GET", "POST", "DELETE"])
        self.admin_route("/requests", self._admin_requests, methods=["GET", "DELETE"])
        self.admin_route("/counters", self._admin_counters, methods=["GET"])
        self.admin_route("/reset", self._admin_reset, methods=["POST"])

    # -- routing -------------------------------------------------------------------------------
    def route(self, rule: str, handler: Handler, methods: Iterable[str], endpoint: str | None = None) -> None:
        endpoint = endpoint or f"{','.join(sorted(methods))} {rule}"
        self.url_map.add(Rule(rule, endpoint=endpoint, methods=list(methods)))
        self._handlers[endpoint] = handler

    def dispatch_route(self, request: Request) -> Response:
        """Serve ``request`` by this app's route table alone (no faults, no log, no
        authentication): for a request made inside another, such as a composite subrequest.
        Raises werkzeug's ``NotFound`` or ``HTTPException`` as routing does."""
        endpoint, arguments = self.url_map.bind_to_environ(request.environ).match()
        return self._handlers[str(endpoint)](request, **arguments)

    def admin_route(self, rule: str, handler: Handler, methods: Iterable[str]) -> None:
        self.route(ADMIN_PREFIX + rule, handler, methods, endpoint=f"admin {rule} {','.join(methods)}")

    # -- hooks for subclasses ------------------------------------------------------------------
    def reset_state(self) -> None:
        """Forget every record (called by ``POST /_sandbox/reset``)."""

    def authenticate(self, request: Request) -> Response | None:
        """Return an error response when the request's credentials are not accepted."""
        return None

    def fault_response(self, fault: Fault, request: Request) -> Response:
        if fault.kind == "rate_limit":
            return json_response({"message": "rate limited"}, 429, {"Retry-After": str(fault.retry_after)})
        if fault.kind == "expired_session":
            return json_response({"message": "session expired"}, 401)
        status = fault.status or 503
        return json_response({"message": f"injected fault {status}"}, status)

    def decorate(self, request: Request, response: Response) -> None:
        """Add vendor headers (rate-limit or API-usage headers) to every API response."""

    def close(self) -> None:
        """Release background resources (threads); called when the server stops."""

    # -- WSGI ----------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        response = self._dispatch(request)
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        adapter = self.url_map.bind_to_environ(request.environ)
        is_admin = request.path.startswith(ADMIN_PREFIX + "/") or request.path == ADMIN_PREFIX
        route_name = "unmatched"
        fault: Fault | None = None
        try:
            endpoint, args = adapter.match()
            route_name = str(endpoint)
            if not is_admin:
                fault = self.faults.take(request.method, request.path)
                if fault is not None:
                    if fault.kind == "slow":
                        time.sleep(fault.delay_seconds)
                        fault_applied = None
                    elif fault.kind == "drop":
                        self._after(request, Response(status=499), route_name, fault)
                        self._drop(request)
                        raise DropConnection
                    else:
                        fault_applied = self.fault_response(fault, request)
                    if fault_applied is not None:
                        self._after(request, fault_applied, route_name, fault)
                        return fault_applied
                denied = self.authenticate(request)
                if denied is not None:
                    self._after(request, denied, route_name, fault)  # a "slow" fault still shows
                    return denied
            response = self._handlers[str(endpoint)](request, **args)
        except DropConnection:
            raise
        except NotFound:
            response = self.not_found(request)
        except HTTPException as exc:
            response = self.http_error(request, exc)
        if not is_admin:
            self._after(request, response, route_name, fault)
        return response

    def not_found(self, request: Request) -> Response:
        return json_response({"message": f"no route for {request.method} {request.path}"}, 404)

    def http_error(self, request: Request, error: HTTPException) -> Response:
        """The answer to a routing error other than 404 (405 Method Not Allowed, …)."""
        return json_response({"message": error.description}, error.code or 500)

    def _after(self, request: Request, response: Response, route: str, fault: Fault | None) -> None:
        self.decorate(request, response)
        body = request.get_data(as_text=True) if self.log.keep_bodies else None
        self.log.record(
            LoggedRequest(
                at=self.clock.now().isoformat(),
                method=request.method,
                path=request.path,
                query=request.query_string.decode(),
                status=response.status_code,
                route=route,
                fault=fault.kind if fault else None,
                body=body or None,
            )
        )

    @staticmethod
    def _drop(request: Request) -> None:
        # Read the body first: a client still sending it would see a reset, or over TLS an
        # SSLEOFError mid-write, rather than a connection closed without a response.
        with contextlib.suppress(Exception):
            request.get_data()
        sock = request.environ.get("werkzeug.socket")
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    # -- admin routes --------------------------------------------------------------------------
    def _admin_clock(self, request: Request) -> Response:
        if request.method == "POST":
            body = request.get_json(force=True, silent=True) or {}
            if "advance_seconds" in body:
                self.clock.advance(float(body["advance_seconds"]))
            elif "now" in body:
                self.clock.set(dt.datetime.fromisoformat(body["now"]), frozen=bool(body.get("frozen")))
            elif body.get("reset"):
                self.clock.reset()
            else:
                return json_response({"message": "send now, advance_seconds or reset"}, 400)
        return json_response(self.clock.describe())

    def _admin_faults(self, request: Request) -> Response:
        if request.method == "POST":
            body = request.get_json(force=True, silent=True) or {}
            if not isinstance(body, dict):
                return json_response({"message": "send a JSON object"}, 400)
            body = dict(body)
            has_seed = "seed" in body
            seed = body.pop("seed", None)
            if has_seed and seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
                return json_response({"message": "seed must be an integer or null"}, 400)
            try:
                # {"seed": n} alone only seeds; validate a fault before seeding for it.
                fault = Fault.from_body(body) if body or not has_seed else None
            except (TypeError, ValueError) as exc:
                return json_response({"message": str(exc)}, 400)
            if has_seed:
                self.faults.reseed(seed)
            if fault is not None:
                self.faults.add(fault)
        elif request.method == "DELETE":
            self.faults.clear()
        return json_response({"faults": self.faults.describe(), "seed": self.faults.seed})

    def _admin_requests(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.log.clear()
        limit = request.args.get("limit", type=int)
        return json_response({"requests": self.log.describe(limit)})

    def _admin_counters(self, request: Request) -> Response:
        return json_response({"counters": dict(self.log.counters), "total": sum(self.log.counters.values())})

    def _admin_reset(self, request: Request) -> Response:
        with self.lock:
            self.reset_state()
        self.faults.clear()
        self.faults.reseed(None)
        self.log.clear()
        self.clock.reset()
        return json_response({"reset": True})


# -- serving ---------------------------------------------------------------------------------------


def generate_certificate(directory: Path | None = None) -> tuple[Path, Path]:
    """A self-signed certificate for ``localhost``/``127.0.0.1`` (the Salesforce sandbox must speak
    TLS: simple-salesforce always builds ``https://`` URLs). Returns (certificate, key) paths; the
    certificate doubles as the CA bundle clients pass as ``verify=``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory = directory or Path(tempfile.mkdtemp(prefix="activity-sync-tls-"))
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "activity-sync sandbox")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "sandbox-cert.pem", directory / "sandbox-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class RunningServer:
    """A sandbox served on a background thread; ``url`` is its base URL. The certificate directory
    it was given (``owned_dir``) goes when it stops, or when the process exits without stopping."""

    def __init__(
        self,
        app: SandboxApp,
        server: BaseWSGIServer,
        scheme: str,
        ca_bundle: Path | None,
        owned_dir: Path | None = None,
    ) -> None:
        self.app = app
        self._server = server
        self.scheme = scheme
        self.ca_bundle = ca_bundle
        self.host = "localhost" if scheme == "https" else "127.0.0.1"
        self.port = server.server_port
        self.url = f"{scheme}://{self.host}:{self.port}"
        self._thread = threading.Thread(target=server.serve_forever, name=f"{app.name}-server", daemon=True)
        self._cleanup = (
            weakref.finalize(self, shutil.rmtree, owned_dir, ignore_errors=True) if owned_dir else None
        )

    def start(self) -> RunningServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        if self._cleanup is not None:
            self._cleanup()
        self.app.close()


class _QuietRequestHandler(WSGIRequestHandler):
    def setup(self) -> None:
        super().setup()
        # Without TCP_NODELAY, Nagle's algorithm holds the response's small TLS records back until
        # the client's delayed ACK: about 10 ms per HTTPS request.
        if isinstance(self.connection, socket.socket):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # The dev server logs every request to stderr; the sandbox keeps its own request log instead.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return

    def connection_dropped(self, error: BaseException, environ: Any = None) -> None:
        # After a "drop" fault (or a client hanging up) the socket is shut: reading another request
        # from it would parse leftovers (over TLS, raw records) as a request line.
        self.close_connection = True


def serve(app: SandboxApp, port: int = 0, *, tls: bool = False, host: str = "127.0.0.1") -> RunningServer:
    """Serve ``app`` on ``host:port`` (0 picks a free port) in a daemon thread."""
    ca_bundle: Path | None = None
    ssl_context: Any = None
    if tls:
        import ssl

        ca_bundle, key_path = generate_certificate()  # in a temporary directory of its own
        ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ssl_context.load_cert_chain(ca_bundle, key_path)
    try:
        server = make_server(
            host, port, app, threaded=True, ssl_context=ssl_context, request_handler=_QuietRequestHandler
        )
    except BaseException:
        if ca_bundle is not None:
            shutil.rmtree(ca_bundle.parent, ignore_errors=True)
        raise
    owned_dir = ca_bundle.parent if ca_bundle else None
    return RunningServer(app, server, "https" if tls else "http", ca_bundle, owned_dir).start()
