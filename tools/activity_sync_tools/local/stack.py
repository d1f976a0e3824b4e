"""The local stack: the template's resources in an embedded moto, its functions in worker
processes, its HTTP API on a local port, its queues polled and its schedules on timers.

See the package docstring (:mod:`activity_sync_tools.local`) for how tests and scripts drive it.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from activity_sync_tools.local.api import HttpApiApp, serve_http_api
from activity_sync_tools.local.aws import (
    EVENT_SOURCE_USER_AGENT,
    EmbeddedAws,
    create_stack_resources,
)
from activity_sync_tools.local.iam import Credentials, FunctionRole, function_roles
from activity_sync_tools.local.nested import load_stack_template
from activity_sync_tools.local.schedule import ScheduleRunner, rate_seconds, scheduled_event
from activity_sync_tools.local.sqs import QueuePoller
from activity_sync_tools.local.template import (
    CONTROL_PREFIX,
    DEFAULT_REGION,
    DEFAULT_STACK_NAME,
    ScheduleEventSource,
    StackModel,
    TemplateResolver,
    build_stack_model,
)
from activity_sync_tools.local.workers import (
    DEFAULT_INIT_TIMEOUT_SECONDS,
    ActivityTracker,
    InvocationResult,
    WorkerPool,
    function_concurrency,
    function_environment,
    source_concurrency,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from werkzeug.serving import BaseWSGIServer

logger = logging.getLogger("activity_sync_tools.local")


class DrainTimeout(TimeoutError):
    """The stack still had work when ``wait_until_drained`` gave up; ``pending`` says what."""

    def __init__(self, pending: dict[str, Any], timeout: float) -> None:
        super().__init__(f"the local stack did not drain within {timeout:g} s: {json.dumps(pending)}")
        self.pending = pending


class _LateBoundApp:
    """The WSGI app the server is bound with before the routes are known (the API URL is needed to
    resolve the template, and binding the socket is what decides the port)."""

    def __init__(self) -> None:
        self.target: Callable[..., Iterable[bytes]] | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self.target is None:
            return Response("starting", status=503)(environ, start_response)
        return self.target(environ, start_response)


class LocalStack:
    """A running local stack. Create it with :meth:`start`; stop it with :meth:`stop` or ``with``."""

    def __init__(
        self,
        template_path: str | Path,
        *,
        parameter_overrides: Mapping[str, str] | None = None,
        extra_env: Mapping[str, str] | None = None,
        stack_name: str = DEFAULT_STACK_NAME,
        region: str = DEFAULT_REGION,
        host: str = "127.0.0.1",
        api_port: int = 0,
        state_dir: str | Path | None = None,
        poll_interval_seconds: float | None = None,
        event_sources: bool = True,
        schedules: bool = True,
        max_batching_window_seconds: float = 1.0,
        retry_delay_seconds: int = 1,
        init_timeout_seconds: float = DEFAULT_INIT_TIMEOUT_SECONDS,
        concurrency: int | None = None,
    ) -> None:
        if concurrency is not None and concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.template_path = Path(template_path).resolve()
        self.parameter_overrides = dict(parameter_overrides or {})
        self.extra_env = dict(extra_env or {})
        self.stack_name = stack_name
        self.region = region
        self.host = host
        self.api_port = api_port
        self._owns_state_dir = state_dir is None
        self.state_dir = Path(state_dir).resolve() if state_dir is not None else Path()
        self.poll_interval_seconds = poll_interval_seconds
        self.event_sources_enabled = event_sources
        self.schedules_enabled = schedules
        self.max_batching_window_seconds = max_batching_window_seconds
        self.retry_delay_seconds = retry_delay_seconds
        self.init_timeout_seconds = init_timeout_seconds
        self.concurrency_limit = concurrency

        self.model: StackModel | None = None
        self.roles: dict[str, FunctionRole] = {}  # each function's execution role, by logical id
        self._credentials: dict[str, Credentials] = {}  # the session of each one's role
        self.api_url = ""
        self.tracker = ActivityTracker()
        self._aws: EmbeddedAws | None = None
        self._pool: WorkerPool | None = None
        self._environments: dict[str, dict[str, str]] = {}
        self._http_server: BaseWSGIServer | None = None
        self._http_thread: threading.Thread | None = None
        self._pollers: list[QueuePoller] = []
        self._schedule_runners: list[ScheduleRunner] = []
        self._log_handler: logging.Handler | None = None
        self._stopped = False

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def start(
        cls,
        template_path: str | Path,
        *,
        parameter_overrides: Mapping[str, str] | None = None,
        extra_env: Mapping[str, str] | None = None,
        stack_name: str = DEFAULT_STACK_NAME,
        region: str = DEFAULT_REGION,
        host: str = "127.0.0.1",
        api_port: int = 0,
        state_dir: str | Path | None = None,
        poll_interval_seconds: float | None = None,
        event_sources: bool = True,
        schedules: bool = True,
        max_batching_window_seconds: float = 1.0,
        retry_delay_seconds: int = 1,
        init_timeout_seconds: float = DEFAULT_INIT_TIMEOUT_SECONDS,
        concurrency: int | None = None,
    ) -> LocalStack:
        """Bring the stack up from ``template_path``; returns once every resource exists and the
        API, pollers and schedules run (workers start lazily on first invocation).

        ``concurrency``: at most this many invocations of any one function, and batches of any one
        queue, at once (1: one at a time, in order); None (the default): as the template says -
        each function up to its ``ReservedConcurrentExecutions``, each SQS event source up to its
        ``ScalingConfig.MaximumConcurrency``, others up to ``DEFAULT_CONCURRENCY``."""
        stack = cls(
            template_path,
            parameter_overrides=parameter_overrides,
            extra_env=extra_env,
            stack_name=stack_name,
            region=region,
            host=host,
            api_port=api_port,
            state_dir=state_dir,
            poll_interval_seconds=poll_interval_seconds,
            event_sources=event_sources,
            schedules=schedules,
            max_batching_window_seconds=max_batching_window_seconds,
            retry_delay_seconds=retry_delay_seconds,
            init_timeout_seconds=init_timeout_seconds,
            concurrency=concurrency,
        )
        try:
            stack._bring_up()
        except BaseException:
            stack.stop()
            raise
        return stack

    def _bring_up(self) -> None:
        if self._owns_state_dir:
            self.state_dir = Path(tempfile.mkdtemp(prefix="activity-sync-local-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for old_file in [*self.log_dir.glob("*.log"), self.state_dir / "endpoints.json"]:
            old_file.unlink(missing_ok=True)  # a fresh stack: moto's state does not outlive it either
        (self.state_dir / "aws").mkdir(exist_ok=True)
        self._log_handler = logging.FileHandler(self.log_dir / "local-runtime.log", encoding="utf-8")
        self._log_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(self._log_handler)
        logger.setLevel(logging.INFO)

        template = load_stack_template(self.template_path)
        late_app = _LateBoundApp()
        self._http_server = serve_http_api(late_app, self.host, self.api_port)
        self.api_url = f"http://{self.host}:{self._http_server.server_port}"
        self._http_thread = threading.Thread(
            target=self._http_server.serve_forever,
            kwargs={"poll_interval": 0.1},  # stops promptly
            name="local-http-api",
            daemon=True,
        )
        self._http_thread.start()

        self._aws = EmbeddedAws(self.region, self.host).start()
        resolver = TemplateResolver(
            template,
            parameter_overrides=self.parameter_overrides,
            stack_name=self.stack_name,
            region=self.region,
            aws_endpoint_url=self._aws.endpoint_url,
            api_url=self.api_url,
        )
        model = build_stack_model(resolver, self.template_path.parent)
        self.model = model
        for warning in model.warnings:
            logger.warning("%s", warning)
        create_stack_resources(self._aws, model)
        # Each function runs, and is polled for, under its own role (activity_sync_tools.local.iam).
        self.roles = function_roles(template, resolver, self.stack_name)
        credentials = self._aws.install_roles(list(self.roles.values()))
        self._credentials = credentials

        environments = {
            logical_id: function_environment(
                spec,
                region=self.region,
                aws_endpoint_url=self._aws.endpoint_url,
                extra_env=self.extra_env,
                config_dir=self.state_dir / "aws",
                credentials=credentials[logical_id].environment(),
            )
            for logical_id, spec in model.functions.items()
        }
        self._environments = environments
        self._pool = WorkerPool(
            model.functions,
            environments,
            self.log_dir,
            self.tracker,
            concurrency={
                logical_id: function_concurrency(spec, self.concurrency_limit)
                for logical_id, spec in model.functions.items()
            },
            init_timeout_seconds=self.init_timeout_seconds,
        )
        late_app.target = HttpApiApp(
            model.http_routes,
            self._pool.invoke,
            account_id=model.account_id,
            control=self._control,
            access_log=self.log_dir / "http-api.log",
        )
        if self.event_sources_enabled:
            for source in model.queue_sources:
                if not source.enabled:
                    continue
                self._pollers.append(
                    QueuePoller(
                        source,
                        model.queues[source.queue_logical_id].url,
                        self._aws.client(
                            "sqs",
                            user_agent_extra=EVENT_SOURCE_USER_AGENT,
                            credentials=credentials[source.function_id],
                        ),
                        self._pool.invoke,
                        self.tracker,
                        region=self.region,
                        max_batching_window_seconds=self.max_batching_window_seconds,
                        retry_delay_seconds=self.retry_delay_seconds,
                        concurrency=source_concurrency(source.maximum_concurrency, self.concurrency_limit),
                        retry_sqs=self._aws.client("sqs", user_agent_extra=EVENT_SOURCE_USER_AGENT),
                    ).start()
                )
        if self.schedules_enabled:
            for schedule in model.schedules:
                period = self.poll_interval_seconds or rate_seconds(schedule.expression)
                if not schedule.enabled or period is None:
                    logger.info("%s.%s runs on demand only", schedule.function_id, schedule.event_name)
                    continue
                self._schedule_runners.append(ScheduleRunner(schedule, period, self._fire_schedule).start())
        (self.state_dir / "endpoints.json").write_text(
            json.dumps(self.endpoints(), indent=2), encoding="utf-8"
        )
        logger.info("local stack %s up: API %s, AWS %s", self.stack_name, self.api_url, self.aws_endpoint_url)

    def stop(self) -> None:
        """Stop everything this stack started: timers, pollers, workers, the API and moto."""
        if self._stopped:
            return
        self._stopped = True
        for runner in self._schedule_runners:
            runner.stop()
        for poller in self._pollers:
            poller.stop()
        if self._pool is not None:
            self._pool.stop()  # kills running invocations, so pollers and timers return promptly
        for runner in self._schedule_runners:
            runner.join(timeout=5)
        for poller in self._pollers:
            poller.join(timeout=5)
        if self._http_server is not None:
            self._http_server.shutdown()
            self._http_server.server_close()
        if self._http_thread is not None:
            self._http_thread.join(timeout=5)
        if self._aws is not None:
            self._aws.stop()
        if self._log_handler is not None:
            logger.removeHandler(self._log_handler)
            self._log_handler.close()
        if self._owns_state_dir and self.state_dir != Path():
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> LocalStack:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ what it exposes

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def aws_endpoint_url(self) -> str:
        return self._require_aws().endpoint_url

    @property
    def queue_urls(self) -> dict[str, str]:
        """Every queue of the template (dead-letter queues included), by logical id."""
        return {logical_id: queue.url for logical_id, queue in self._require_model().queues.items()}

    @property
    def table_names(self) -> dict[str, str]:
        return {logical_id: table.name for logical_id, table in self._require_model().tables.items()}

    @property
    def parameter_names(self) -> dict[str, str]:
        """The template's SSM parameters: logical id -> parameter name."""
        return {logical_id: spec.name for logical_id, spec in self._require_model().ssm_parameters.items()}

    @property
    def function_names(self) -> dict[str, str]:
        return {logical_id: spec.name for logical_id, spec in self._require_model().functions.items()}

    def function_environment(self, function_id: str) -> dict[str, str]:
        """The environment variables the function's workers get (a copy)."""
        return dict(self._environments[function_id])

    def function_metrics(self) -> dict[str, dict[str, Any]]:
        """Per function, since the stack started: invocations, errors, cold starts, duration,
        billed duration, CPU time, init time, GB-seconds, concurrency and its peak."""
        if self._pool is None:
            raise RuntimeError("the local stack is not running")
        return self._pool.metrics()

    def event_source_metrics(self) -> dict[str, dict[str, int]]:
        """Per polled queue: its concurrency, the batches delivered and the most at once."""
        return {
            poller.source.queue_logical_id: {
                "concurrency": poller.concurrency,
                "batches": poller.batches,
                "peak_in_flight": poller.peak_in_flight,
            }
            for poller in self._pollers
        }

    def aws_usage(self) -> dict[str, Any]:
        """What the embedded AWS served since it started: requests by service, operation and
        caller, and DynamoDB capacity units (see :mod:`activity_sync_tools.local.metering`)."""
        return self._require_aws().usage()

    def function_log(self, function_id: str) -> Path:
        """The function's log file (its stdout/stderr, START/END/REPORT lines, timeouts)."""
        return self.log_dir / f"{function_id}.log"

    def endpoints(self) -> dict[str, Any]:
        model = self._require_model()
        return {
            "stack_name": model.stack_name,
            "region": model.region,
            "account_id": model.account_id,
            "api_url": self.api_url,
            "aws_endpoint_url": self.aws_endpoint_url,
            "routes": {route.route_key: route.function_id for route in model.http_routes},
            "queues": self.queue_urls,
            "tables": self.table_names,
            "ssm_parameters": self.parameter_names,
            "functions": {
                logical_id: {
                    "name": spec.name,
                    "log_file": str(self.function_log(logical_id)),
                    "concurrency": function_concurrency(spec, self.concurrency_limit),
                }
                for logical_id, spec in model.functions.items()
            },
            "schedules": {
                f"{schedule.function_id}.{schedule.event_name}": schedule.expression
                for schedule in model.schedules
            },
            "state_dir": str(self.state_dir),
            "log_dir": str(self.log_dir),
            "control": {
                "endpoints": f"GET {self.api_url}{CONTROL_PREFIX}/endpoints",
                "poll": f"POST {self.api_url}{CONTROL_PREFIX}/poll[?function=LogicalId]",
                "wait_drained": f"POST {self.api_url}{CONTROL_PREFIX}/wait-drained?timeout=SECONDS",
                "invoke": f"POST {self.api_url}{CONTROL_PREFIX}/invoke/LogicalId",
                "metrics": f"GET {self.api_url}{CONTROL_PREFIX}/metrics",
            },
        }

    # ------------------------------------------------------------------ what it does

    def invoke(self, function_id: str, event: Any) -> InvocationResult:
        """Invoke a function synchronously, as Lambda's Invoke API (RequestResponse) would."""
        if self._pool is None:
            raise RuntimeError("the local stack is not running")
        return self._pool.invoke(function_id, event)

    def kill_busy_worker(self, function_ids: Iterable[str] | None = None) -> tuple[str, int] | None:
        """Kill one execution environment in the middle of an invocation (fault tests: a crash
        mid-batch); (function, pid), or None when none of ``function_ids`` is busy."""
        if self._pool is None:
            raise RuntimeError("the local stack is not running")
        return self._pool.kill_busy_worker(function_ids)

    def trigger_schedule(self, function_id: str | None = None) -> list[InvocationResult]:
        """Run a function's schedule now (every scheduled function's when ``function_id`` is None),
        waiting for the invocations to finish."""
        schedules = self._require_model().schedules
        if function_id is not None:
            schedules = [schedule for schedule in schedules if schedule.function_id == function_id]
            if not schedules:
                raise KeyError(f"{function_id!r} has no Schedule event in the template")
        return [self._fire_schedule(schedule) for schedule in schedules]

    def _fire_schedule(self, schedule: ScheduleEventSource) -> InvocationResult:
        model = self._require_model()
        return self.invoke(
            schedule.function_id, scheduled_event(schedule, region=model.region, account_id=model.account_id)
        )

    def pending_work(self) -> dict[str, Any]:
        """Messages still in each polled queue (visible, in flight, delayed) and work running."""
        model = self._require_model()
        aws = self._require_aws()
        queues: dict[str, dict[str, int]] = {}
        for queue_id in sorted({poller.source.queue_logical_id for poller in self._pollers}):
            counts = aws.queue_counts(model.queues[queue_id].name)
            if any(counts.values()):
                queues[queue_id] = counts
        return {"queues": queues, "running": self.tracker.running}

    def wait_until_drained(self, timeout: float = 60.0) -> None:
        """Return once every queue a function consumes is empty (nothing visible, in flight or
        delayed) and nothing runs, twice in a row; raise :class:`DrainTimeout` after ``timeout``.
        Dead-letter queues are not waited on: what rests there is done, not pending."""
        deadline = time.monotonic() + timeout
        idle_checks = 0
        while True:
            pending = self.pending_work()
            idle_checks = idle_checks + 1 if not pending["queues"] and not pending["running"] else 0
            if idle_checks >= 2:
                return
            if time.monotonic() > deadline:
                raise DrainTimeout(pending, timeout)
            time.sleep(0.1)

    def put_secure_parameter(self, name: str, value: str) -> None:
        """Create or overwrite a SecureString parameter (how the README has users store secrets)."""
        self.boto3_client("ssm").put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)

    def put_role(self, role: FunctionRole) -> None:
        """Replace a function's role policies with ``role``'s (fault tests: an action taken out);
        they hold from the function's next request on, as IAM's would."""
        self._require_aws().put_role_policies(role)
        self.roles[role.function_id] = role

    def boto3_client(self, service: str, *, as_function: str | None = None) -> Any:
        """A boto3 client for the embedded AWS: the operator's, or with ``as_function`` one that
        signs as that function does (its role's session)."""
        credentials = self._credentials[as_function] if as_function is not None else None
        return self._require_aws().client(service, credentials=credentials)

    # ------------------------------------------------------------------ control over HTTP

    def _control(self, request: Request) -> Response:
        route = request.path[len(CONTROL_PREFIX) :].strip("/")
        method = request.method.upper()
        try:
            if method == "GET" and route in ("", "endpoints"):
                return _json(self.endpoints())
            if method == "GET" and route == "health":
                return _json({"status": "ok"})
            if method == "GET" and route == "metrics":
                return _json(
                    {
                        "functions": self.function_metrics(),
                        "event_sources": self.event_source_metrics(),
                        "aws": self.aws_usage(),
                    }
                )
            if method == "POST" and route == "poll":
                results = self.trigger_schedule(request.args.get("function") or None)
                return _json({"invocations": [_result_document(result) for result in results]})
            if method == "POST" and route == "wait-drained":
                timeout = float(request.args.get("timeout", "60"))
                try:
                    self.wait_until_drained(timeout=timeout)
                except DrainTimeout as timed_out:
                    return _json({"drained": False, "pending": timed_out.pending}, status=504)
                return _json({"drained": True})
            if method == "POST" and route.startswith("invoke/"):
                body = request.get_data(as_text=True)
                result = self.invoke(route.removeprefix("invoke/"), json.loads(body) if body else {})
                response = _json(result.payload)
                if result.function_error:
                    response.headers["X-Amz-Function-Error"] = result.function_error
                return response
        except KeyError as error:
            return _json({"error": str(error.args[0] if error.args else error)}, status=404)
        except ValueError as error:
            return _json({"error": str(error)}, status=400)
        return _json({"error": f"no control route {method} {request.path}"}, status=404)

    def _require_model(self) -> StackModel:
        if self.model is None:
            raise RuntimeError("the local stack is not running")
        return self.model

    def _require_aws(self) -> EmbeddedAws:
        if self._aws is None:
            raise RuntimeError("the local stack is not running")
        return self._aws


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _result_document(result: InvocationResult) -> dict[str, Any]:
    return {
        "function": result.function_id,
        "request_id": result.request_id,
        "function_error": result.function_error,
        "payload": result.payload,
        "duration_ms": round(result.duration_ms, 1),
        "report": dict(result.report),
    }
