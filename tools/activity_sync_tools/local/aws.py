"""The embedded AWS: moto's server on a free local port, in this process, and the template's
DynamoDB tables, SQS queues and SSM parameters created in it.

moto keeps its state in process-wide backends, so one embedded AWS runs per process at a time
(:class:`EmbeddedAws` refuses a second) and its state is reset when it starts and stops.
Starting the server follows moto's documented in-process use
(https://docs.getmoto.org/en/latest/docs/server_mode.html#start-within-python). Every request to it
is metered (:mod:`activity_sync_tools.local.metering`): requests by service, operation and caller,
and DynamoDB capacity units; :meth:`EmbeddedAws.usage` tells what was counted since the start.
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
import time
import urllib.request
from typing import TYPE_CHECKING, Any

import boto3
import botocore.config
import botocore.session

from activity_sync_tools.local.iam import (
    OPERATOR_CREDENTIALS,
    Credentials,
    FunctionRole,
    authorize_resources_as_aws,
    install_operator,
    install_roles,
    put_role_policies,
    set_enforcement,
)
from activity_sync_tools.local.metering import (
    EVENT_SOURCE_USER_AGENT,
    RUNTIME_USER_AGENT,
    AwsUsage,
    MeteringMiddleware,
    SerializedBackends,
)
from activity_sync_tools.local.template import QueueSpec, SsmParameterSpec, StackModel, TableSpec

logger = logging.getLogger(__name__)

__all__ = [
    "EVENT_SOURCE_USER_AGENT",
    "RUNTIME_USER_AGENT",
    "EmbeddedAws",
    "create_stack_resources",
]

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_ssm import SSMClient

LOCAL_CREDENTIALS = OPERATOR_CREDENTIALS.client_arguments()

# CloudFormation AWS::SQS::Queue properties that are SetQueueAttributes attributes of the same name.
_QUEUE_ATTRIBUTE_PROPERTIES = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "RedriveAllowPolicy",
    "RedrivePolicy",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)

_in_process_lock = threading.Lock()
_running: EmbeddedAws | None = None


class EmbeddedAws:
    """moto's ``ThreadedMotoServer`` bound to ``host`` on a free port.

    ``enforce_iam`` (the default): every request is authenticated and authorized as IAM would
    (:mod:`activity_sync_tools.local.iam`); the operator - :meth:`client` without credentials, and
    any tool signing with the dummy key ``testing`` - may do everything."""

    def __init__(self, region: str, host: str = "127.0.0.1", *, enforce_iam: bool = True) -> None:
        self.region = region
        self.host = host
        self.enforce_iam = enforce_iam
        self._server: Any = None
        self.endpoint_url = ""
        self._session: boto3.session.Session | None = None
        self._session_lock = threading.Lock()
        self.metered = AwsUsage()
        self._enforcement_before: float | None = None

    def start(self) -> EmbeddedAws:
        global _running
        with _in_process_lock:
            if _running is not None:
                raise RuntimeError(
                    "an embedded AWS (moto) already runs in this process; moto's state is process-wide, "
                    "so stop the other local stack first"
                )
            _running = self
        try:
            speed_up_moto()
            dynamodb_as_aws()
            authorize_resources_as_aws()
            self._enforcement_before = set_enforcement(False)
            self._server = _quiet_moto_server(self.host, self.metered, self.region)
            self._server.start()
            host, port = self._server.get_host_and_port()
            self.endpoint_url = f"http://{host}:{port}"
            self.reset()
        except BaseException:
            self.stop()
            raise
        return self

    def reset(self) -> None:
        """Forget every resource and principal (moto's ``/moto-api/reset``) but the operator."""
        from moto.core.models import DEFAULT_ACCOUNT_ID

        set_enforcement(False)
        request = urllib.request.Request(  # noqa: S310 - our own http URL
            f"{self.endpoint_url}/moto-api/reset", method="POST", data=b""
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own http URL
            response.read()
        install_operator(DEFAULT_ACCOUNT_ID)
        set_enforcement(self.enforce_iam)

    def install_roles(self, roles: list[FunctionRole]) -> dict[str, Credentials]:
        """Create the functions' roles and one session of each; its credentials by function."""
        from moto.core.models import DEFAULT_ACCOUNT_ID

        return install_roles(self.client("iam"), DEFAULT_ACCOUNT_ID, self.region, roles)

    def put_role_policies(self, role: FunctionRole) -> None:
        """Make a role's policies ``role.policies`` (as an operator editing the role would)."""
        put_role_policies(self.client("iam"), role)

    def stop(self) -> None:
        global _running
        try:
            if self._server is not None and self.endpoint_url:
                self.reset()
                self._server.stop()
        finally:
            if self._enforcement_before is not None:  # moto's settings are process-wide: as they were
                set_enforcement(self._enforcement_before)
                self._enforcement_before = None
            self._server = None
            with _in_process_lock:
                if _running is self:
                    _running = None

    def usage(self) -> dict[str, Any]:
        """What the embedded AWS served since it started (see :class:`AwsUsage`)."""
        return self.metered.snapshot()

    def queue_counts(self, queue_name: str) -> dict[str, int]:
        """A queue's messages (``visible``, ``in_flight``, ``delayed``: what GetQueueAttributes
        calls ApproximateNumberOfMessages, …NotVisible and …Delayed), read off moto's backend in
        this process. Asked ten times a second while a caller waits for the stack to drain, the
        API call cost about 5 ms of this process's time for each queue (78 ms for the template's
        fifteen): a harness that took a core from the functions it waited for. Reading a queue
        needs no lock: the lists it counts are only ever replaced or appended to."""
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.sqs.models import sqs_backends

        queue = sqs_backends[DEFAULT_ACCOUNT_ID][self.region].get_queue(queue_name)
        return {
            "visible": queue.approximate_number_of_messages,
            "in_flight": queue.approximate_number_of_messages_not_visible,
            "delayed": queue.approximate_number_of_messages_delayed,
        }

    def client(
        self, service: str, *, user_agent_extra: str | None = None, credentials: Credentials | None = None
    ) -> Any:
        """A boto3 client for ``service`` that talks to the embedded AWS (``user_agent_extra``:
        how its requests are told apart in :meth:`usage`), as the operator or, with
        ``credentials``, as that principal."""
        if credentials is not None:
            config = botocore.config.Config(user_agent_extra=user_agent_extra) if user_agent_extra else None
            session = boto3.session.Session(
                botocore_session=botocore.session.Session(session_vars={"profile": (None, None, None, None)}),
                region_name=self.region,
                **credentials.client_arguments(),
            )
            return session.client(service, endpoint_url=self.endpoint_url, config=config)  # type: ignore[call-overload]
        with self._session_lock:
            if self._session is None:
                # Blind to the shell's AWS_PROFILE and config files: a developer's profile must
                # neither break the local stack nor lend it real credentials.
                botocore_session = botocore.session.Session(
                    session_vars={"profile": (None, None, None, None)}
                )
                self._session = boto3.session.Session(
                    botocore_session=botocore_session, region_name=self.region, **LOCAL_CREDENTIALS
                )
            config = botocore.config.Config(user_agent_extra=user_agent_extra) if user_agent_extra else None
            return self._session.client(  # type: ignore[call-overload]
                service, endpoint_url=self.endpoint_url, config=config
            )


def speed_up_moto() -> None:
    """Costs of moto (5.2) removed without changing what it answers; applied once, when an embedded
    AWS starts. The embedded AWS shares one interpreter with the sandboxes and the local runtime, so
    whatever it wastes slows every function waiting on it - and a burst measured locally with it.

    * Every request asks which service its host names, listing moto's package directory (two
      hundred entries, each checked for being a directory) to find out. The list is read once.

    * ReceiveMessage asks moto's own GetQueueAttributes for ``MessageRetentionPeriod`` once for
      every message it hands out, and that computes every attribute of the queue three times over:
      each a scan of all its messages. Draining a backlog of n messages therefore took time
      quadratic in n - a burst of a thousand notes kept the embedded AWS busy there a third of its
      time, and every function waiting on it with it. The retention period is read off the queue
      instead: the same value and the same rule (a message older than it is not delivered).
    * Each such scan (SendMessage still makes three, for the queue's attributes) asks every
      message whether it is visible and delayed, each asking the time as a datetime made and taken
      apart again. The same milliseconds come from ``time.time()``.
    """
    from moto.core.utils import unix_time

    moto_backends: Any = importlib.import_module("moto.backends")
    if not getattr(moto_backends.list_of_moto_modules, "listed_once", False):
        modules = tuple(moto_backends.list_of_moto_modules())

        def list_of_moto_modules() -> tuple[str, ...]:
            return modules

        list_of_moto_modules.listed_once = True  # type: ignore[attr-defined]
        moto_backends.list_of_moto_modules = list_of_moto_modules

    sqs_models: Any = importlib.import_module("moto.sqs.models")  # patched where SQS reads the time

    backend = sqs_models.SQSBackend
    if not getattr(backend.is_message_valid_based_on_retention_period, "reads_the_queue_setting", False):
        if backend.is_message_valid_based_on_retention_period.__code__.co_varnames[:3] != (
            "self",
            "queue_name",
            "message",
        ):
            logger.warning("moto's retention check changed shape; left as it is")
        else:

            def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
                retention_seconds = int(self.get_queue(queue_name).message_retention_period)
                return bool(retention_seconds + message.sent_timestamp / 1000 > unix_time())

            is_message_valid_based_on_retention_period.reads_the_queue_setting = True  # type: ignore[attr-defined]
            backend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period

    moto_millis = sqs_models.unix_time_millis
    if not getattr(moto_millis, "reads_time_time", False):

        def unix_time_millis(moment: Any = None) -> float:
            return time.time() * 1000.0 if moment is None else float(moto_millis(moment))

        unix_time_millis.reads_time_time = True  # type: ignore[attr-defined]
        sqs_models.unix_time_millis = unix_time_millis


def dynamodb_as_aws() -> None:
    """moto (5.2) refuses a BatchWriteItem that puts one *identical item* twice; DynamoDB refuses
    any that names one *key* twice - two puts of different values, a put and a delete, two deletes
    (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html: "Your
    request contains at least two items with identical hash and range keys", "you cannot put and
    delete the same item in the same BatchWriteItem request"). The local stack and the tests refuse
    it as DynamoDB does, so that a writer sending such a batch fails here as it would on AWS (issue
    #20: sales emails dead-lettered by whole batches). Applied once, idempotent."""
    from moto.dynamodb.exceptions import MockValidationException
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.batch_write_item
    if getattr(original, "refuses_repeated_keys", False):
        return

    def batch_write_item(self: Any) -> Any:
        for table_name, requests in (self.body.get("RequestItems") or {}).items():
            table = self.dynamodb_backend.get_table(table_name)
            names = [name for name in (table.hash_key_attr, table.range_key_attr) if name]
            seen: set[str] = set()
            for request in requests:
                attributes = (
                    (request.get("PutRequest") or {}).get("Item")
                    or (request.get("DeleteRequest") or {}).get("Key")
                    or {}
                )
                key = json.dumps([attributes.get(name) for name in names], sort_keys=True)
                if key in seen:
                    raise MockValidationException("Provided list of item keys contains duplicates")
                seen.add(key)
        return original(self)

    batch_write_item.refuses_repeated_keys = True  # type: ignore[attr-defined]
    DynamoHandler.batch_write_item = batch_write_item  # type: ignore[method-assign]


def _quiet_moto_server(host: str, usage: AwsUsage, region: str) -> Any:
    """moto's ThreadedMotoServer on a free port, minus its per-request access log on stderr (the
    pollers' long polls would flood the terminal of ``activity-sync local up``), metered."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    class QuietMotoRequestHandler(MotoRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            return

    class QuietThreadedMotoServer(ThreadedMotoServer):
        # Same as ThreadedMotoServer._server_entry, with the quiet request handler.
        def _server_entry(self) -> None:
            app = MeteringMiddleware(
                SerializedBackends(DomainDispatcherApplication(create_backend_app)),
                usage,
                _dynamodb_backend(region),
            )
            self._server = make_server(
                self._ip_address, self._port, app, threaded=True, request_handler=QuietMotoRequestHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever(poll_interval=0.1)  # stops promptly

    return QuietThreadedMotoServer(ip_address=host, port=0, verbose=False)


def _dynamodb_backend(region: str) -> Any:
    """A lookup of moto's DynamoDB backend of the local account and region (the meter reads item
    sizes from it around each write)."""

    def backend() -> Any:
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        return dynamodb_backends[DEFAULT_ACCOUNT_ID][region]

    return backend


def create_stack_resources(aws: EmbeddedAws, model: StackModel) -> None:
    """Create the model's tables, queues (dead-letter targets first) and SSM parameters."""
    dynamodb: DynamoDBClient = aws.client("dynamodb")
    for table in model.tables.values():
        create_table(dynamodb, table)
    sqs: SQSClient = aws.client("sqs")
    for queue in queues_in_creation_order(model):
        create_queue(sqs, queue)
    ssm: SSMClient = aws.client("ssm")
    for parameter in model.ssm_parameters.values():
        create_ssm_parameter(ssm, parameter)


def create_table(dynamodb: DynamoDBClient, table: TableSpec) -> None:
    properties = table.properties
    request: dict[str, Any] = {
        "TableName": table.name,
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
    }
    if properties.get("ProvisionedThroughput"):
        request["BillingMode"] = properties.get("BillingMode", "PROVISIONED")
        request["ProvisionedThroughput"] = _throughput(properties["ProvisionedThroughput"])
    else:
        request["BillingMode"] = "PAY_PER_REQUEST"
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if properties.get(key):
            request[key] = [_index(index) for index in properties[key]]
    if properties.get("StreamSpecification"):
        request["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": properties["StreamSpecification"]["StreamViewType"],
        }
    if properties.get("SSESpecification"):
        sse = properties["SSESpecification"]
        request["SSESpecification"] = {"Enabled": bool(sse.get("SSEEnabled", False))}
    if properties.get("Tags"):
        request["Tags"] = properties["Tags"]
    dynamodb.create_table(**request)
    ttl = properties.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        dynamodb.update_time_to_live(
            TableName=table.name,
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
        )
    recovery = properties.get("PointInTimeRecoverySpecification")
    if recovery and recovery.get("PointInTimeRecoveryEnabled"):
        dynamodb.update_continuous_backups(
            TableName=table.name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )


def _throughput(throughput: dict[str, Any]) -> dict[str, int]:
    return {
        "ReadCapacityUnits": int(throughput["ReadCapacityUnits"]),
        "WriteCapacityUnits": int(throughput["WriteCapacityUnits"]),
    }


def _index(index: dict[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {
        "IndexName": index["IndexName"],
        "KeySchema": index["KeySchema"],
        "Projection": index["Projection"],
    }
    if index.get("ProvisionedThroughput"):
        converted["ProvisionedThroughput"] = _throughput(index["ProvisionedThroughput"])
    return converted


def queues_in_creation_order(model: StackModel) -> list[QueueSpec]:
    """Queues ordered so that each dead-letter target exists before the queue that names it
    (SQS rejects a RedrivePolicy whose target does not exist)."""
    by_arn = {queue.arn: queue for queue in model.queues.values()}
    ordered: list[QueueSpec] = []
    placed: set[str] = set()

    def place(queue: QueueSpec, chain: tuple[str, ...]) -> None:
        if queue.logical_id in placed:
            return
        if queue.logical_id in chain:
            raise ValueError(f"dead-letter queues form a cycle: {' -> '.join((*chain, queue.logical_id))}")
        target = queue.dead_letter_target_arn
        if target is not None and target in by_arn:
            place(by_arn[target], (*chain, queue.logical_id))
        ordered.append(queue)
        placed.add(queue.logical_id)

    for queue in model.queues.values():
        place(queue, ())
    return ordered


def create_queue(sqs: SQSClient, queue: QueueSpec) -> None:
    attributes: dict[str, str] = {}
    for key in _QUEUE_ATTRIBUTE_PROPERTIES:
        if key not in queue.properties:
            continue
        value = queue.properties[key]
        if isinstance(value, dict):
            attributes[key] = json.dumps(value)
        elif isinstance(value, bool):
            attributes[key] = "true" if value else "false"
        else:
            attributes[key] = str(value)
    response = sqs.create_queue(QueueName=queue.name, Attributes=attributes)  # type: ignore[arg-type]
    if response["QueueUrl"] != queue.url:
        raise RuntimeError(
            f"moto named queue {queue.logical_id} {response['QueueUrl']}, expected {queue.url}"
        )


def create_ssm_parameter(ssm: SSMClient, parameter: SsmParameterSpec) -> None:
    request: dict[str, Any] = {"Name": parameter.name, "Value": parameter.value, "Type": parameter.type}
    for key in ("Description", "AllowedPattern", "Tier", "DataType"):
        if parameter.properties.get(key):
            request[key] = parameter.properties[key]
    ssm.put_parameter(**request)
