"""The Docker-less local runtime: the project's own ``sam local``, driven by ``template.yaml``.

What it runs, all from the template itself (nothing is kept in a hand-written list):

* an embedded AWS - moto's server, in process, on a free port - holding the template's DynamoDB
  tables (with their indexes and TTL), SQS queues (with their redrive policies) and SSM parameters;
* every SAM function as local Lambda execution environments: worker processes running the unchanged
  handler from ``CodeUri`` with the function's resolved environment, ``Timeout`` and a Lambda-like
  context, started on demand and kept warm, as many at once as the function's concurrency allows
  (below); their output goes to ``<state-dir>/logs/<LogicalId>.log``, with a ``REPORT`` line per
  invocation (duration, billed duration, memory, init duration on a cold start, and the CPU time
  the local runtime measures);
* the ``HttpApi`` routes on one local port, as API Gateway HTTP API payload 2.0 events;
* one poller per SQS event source (batches, partial batch failures, dead-letter queues), delivering
  several batches of a queue at once;
* ``Schedule``/``ScheduleV2`` events on their ``rate(...)`` (or a local override), and on demand.

From a shell (foreground; Ctrl-C or SIGTERM stops it)::

    activity-sync local up --template template.yaml --port 3000 \\
        --parameter-overrides Stage=dev HubSpotApiBaseUrl=http://127.0.0.1:8081 \\
        --env REQUESTS_CA_BUNDLE=/path/to/sandbox-ca.pem --poll-interval 10 --state-dir .local

It prints its endpoints and writes them to ``<state-dir>/endpoints.json``. Another process drives it
over HTTP, on the API port under the reserved ``/_local/`` prefix::

    curl -s http://127.0.0.1:3000/_local/endpoints                 # API URL, moto URL, queues, tables, logs
    curl -s -X POST http://127.0.0.1:3000/_local/poll              # run every schedule (the poller) now
    curl -s -X POST 'http://127.0.0.1:3000/_local/poll?function=Poller'
    curl -sf -X POST 'http://127.0.0.1:3000/_local/wait-drained?timeout=60'   # 200 drained, 504 not
    curl -s -X POST http://127.0.0.1:3000/_local/invoke/Poller -d '{}'        # invoke a function directly
    curl -s http://127.0.0.1:3000/_local/metrics    # per function: invocations, CPU, GB-s; AWS requests

From Python (tests and scripts)::

    from activity_sync_tools.local import LocalStack

    with LocalStack.start(
        "template.yaml",
        parameter_overrides={"HubSpotApiBaseUrl": hubspot.url},
        extra_env={"REQUESTS_CA_BUNDLE": str(salesforce.ca_bundle)},
    ) as stack:
        stack.put_secure_parameter("/activity-sync/dev/hubspot/private-app-token", "token")
        requests.post(f"{stack.api_url}/webhooks/hubspot", data=body, headers=signed_headers)
        stack.trigger_schedule("Poller")            # or None: every scheduled function
        stack.wait_until_drained(timeout=60)        # every polled queue empty, nothing in flight or running
        sqs = stack.boto3_client("sqs")
        sqs.get_queue_attributes(QueueUrl=stack.queue_urls["HubSpotNoteDeadLetterQueue"], ...)
        result = stack.invoke("Poller", {})         # InvocationResult: payload, function_error, report
        stack.function_metrics()                    # per function: invocations, cold starts, CPU ms, GB-s
        stack.aws_usage()                           # AWS requests by service/operation/caller, DynamoDB units

``stack.aws_endpoint_url``, ``stack.queue_urls`` (logical id -> URL), ``stack.table_names``,
``stack.parameter_names``, ``stack.function_log(logical_id)`` and ``stack.endpoints()`` tell where
everything is. Physical names are ``<StackName>-<LogicalId>`` (stack name ``activity-sync`` unless
``stack_name=`` says otherwise), account ``123456789012``, region ``us-east-1``.

Concurrency, as in Lambda: a function runs up to N invocations at once, each in an execution
environment of its own (a warm idle one when there is one, a new one otherwise); N is the function's
``ReservedConcurrentExecutions`` when set (the poller's 1), otherwise enough for its SQS event
sources' ``ScalingConfig.MaximumConcurrency`` and at least 10 (``DEFAULT_CONCURRENCY``, e.g. the
webhook receiver behind the HTTP API). Each SQS event source delivers up to its
``MaximumConcurrency`` batches of its queue at once. Beyond N, invocations wait for an environment
(Lambda would throttle them and the caller would retry). ``LocalStack.start(..., concurrency=1)``
(``activity-sync local up --concurrency 1``) runs every function one invocation at a time and every
queue one batch at a time, in order; any other number caps both.

Permissions: each function runs, and is polled for, under its own role as SAM would create it, and
the embedded AWS authorizes every request as IAM would (:mod:`activity_sync_tools.local.iam`);
``LocalStack.roles`` holds the roles, ``LocalStack.put_role`` changes one while it runs.

Metering: the embedded AWS counts every request by service, operation and caller (each function's
requests carry ``app/<LogicalId>`` in their User-Agent), and the DynamoDB read and write request
units each would consume on demand, and the requests IAM refused (``aws_usage()["refused_count"]``,
the first ones in ``["refused"]``) (:mod:`activity_sync_tools.local.metering`).

Local shortcuts, on purpose: a failed message becomes visible again after 1 s
(``retry_delay_seconds``) rather than the queue's 360 s visibility timeout; batching windows are
capped at 1 s (``max_batching_window_seconds``); concurrency without a limit in the template is 10,
not the account's 1,000; ``cron(...)`` schedules run only on demand. moto moves a message to its
dead-letter queue on the receive after its ``maxReceiveCount``-th, as SQS does. moto's state is
process-wide, so one local stack runs per process at a time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from activity_sync_tools.local.stack import DrainTimeout, LocalStack
    from activity_sync_tools.local.workers import InvocationResult

__all__ = ["DrainTimeout", "InvocationResult", "LocalStack"]


def __getattr__(name: str) -> Any:
    # Lazy, so that importing the package (e.g. for the CLI's --help) does not load moto.
    if name in ("LocalStack", "DrainTimeout"):
        from activity_sync_tools.local import stack

        return getattr(stack, name)
    if name == "InvocationResult":
        from activity_sync_tools.local import workers

        return workers.InvocationResult
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
