"""Read a SAM/CloudFormation template and resolve what the local stack needs from it.

Two layers:

* :func:`load_template` parses YAML (or JSON) with the CloudFormation short-form tags
  (``!Ref``, ``!Sub``, ``!GetAtt A.B``, ``!Join``, ``!If``, ``!Select``, ``!Split``, ``!Equals``, ...)
  turned into their long form (``{"Ref": ...}``, ``{"Fn::Sub": ...}``), exactly as CloudFormation
  reads them.
* :class:`TemplateResolver` evaluates intrinsic functions against parameters (defaults plus
  overrides), pseudo parameters, conditions and the local physical ids of resources, and
  :func:`build_stack_model` turns the resources the local runtime emulates (DynamoDB tables, SQS
  queues, SSM parameters, SAM functions with their HttpApi / SQS / Schedule events) into plain
  dataclasses.

Physical names are deterministic, ``<StackName>-<LogicalId>``, unless the resource names itself
(``TableName``, ``QueueName``, ``FunctionName``, SSM ``Name``). Intrinsic semantics follow the
CloudFormation intrinsic function reference
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/intrinsic-function-reference.html)
and SAM's Globals rules
(https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-specification-template-anatomy-globals.html).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
DEFAULT_STACK_NAME = "activity-sync"
CONTROL_PREFIX = "/_local"
# Metadata key of a function whose SAM Globals were already applied: a nested template's own
# (see ``nested.flatten_applications``); the parent's Globals do not apply to it.
GLOBALS_APPLIED = "LocalGlobalsApplied"


class TemplateError(ValueError):
    """The template cannot be loaded or resolved for the local stack."""


# ---------------------------------------------------------------------------------------------
# Loading


class _NoValue:
    """``Ref: AWS::NoValue``: removes the property (or list item) that holds it."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()

_SHORT_FORM_TAGS = {
    "Ref": "Ref",
    "Condition": "Condition",
    "Base64": "Fn::Base64",
    "Cidr": "Fn::Cidr",
    "FindInMap": "Fn::FindInMap",
    "GetAtt": "Fn::GetAtt",
    "GetAZs": "Fn::GetAZs",
    "ImportValue": "Fn::ImportValue",
    "Join": "Fn::Join",
    "Select": "Fn::Select",
    "Split": "Fn::Split",
    "Sub": "Fn::Sub",
    "Transform": "Fn::Transform",
    "And": "Fn::And",
    "Equals": "Fn::Equals",
    "If": "Fn::If",
    "Not": "Fn::Not",
    "Or": "Fn::Or",
    "ToJsonString": "Fn::ToJsonString",
    "Length": "Fn::Length",
}


class _CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that reads the short-form intrinsic tags as their long form."""


def _construct_intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    long_name = _SHORT_FORM_TAGS[tag_suffix]
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if long_name == "Fn::GetAtt":
            # "!GetAtt Queue.Arn" is the short form of ["Queue", "Arn"]; attribute names may hold
            # further dots ("Endpoint.Address"), the logical id never does.
            logical_id, _, attribute = str(value).partition(".")
            value = [logical_id, attribute]
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - yaml has no other node kinds
        raise TemplateError(f"unsupported YAML node for !{tag_suffix}")
    return {long_name: value}


def _intrinsic_constructor(tag_suffix: str) -> Callable[[yaml.SafeLoader, yaml.Node], dict[str, Any]]:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        return _construct_intrinsic(loader, tag_suffix, node)

    return construct


for _short_tag in _SHORT_FORM_TAGS:
    _CloudFormationLoader.add_constructor(f"!{_short_tag}", _intrinsic_constructor(_short_tag))


def _construct_mapping_as_text_keys(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    # CloudFormation treats every key and date-like scalar as text ("2010-09-09" stays a string).
    loader.flatten_mapping(node)
    return {str(loader.construct_object(key)): loader.construct_object(value) for key, value in node.value}


_CloudFormationLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping_as_text_keys
)


def _construct_timestamp_as_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


_CloudFormationLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp_as_text)


def load_template_text(text: str) -> dict[str, Any]:
    """Parse template text (YAML with short-form tags, or JSON) into a plain dict."""
    try:
        document = yaml.load(text, Loader=_CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        raise TemplateError(f"the template is not valid YAML: {error}") from error
    if not isinstance(document, dict) or "Resources" not in document:
        raise TemplateError("not a CloudFormation template: no Resources section")
    return document


def load_template(path: str | Path) -> dict[str, Any]:
    """Read and parse the template file at ``path``."""
    return load_template_text(Path(path).read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------
# Resolving


_ARN_SERVICE_BY_TYPE = {
    "AWS::DynamoDB::Table": "dynamodb",
    "AWS::SQS::Queue": "sqs",
    "AWS::SNS::Topic": "sns",
    "AWS::Serverless::Function": "lambda",
    "AWS::Lambda::Function": "lambda",
    "AWS::Serverless::LayerVersion": "lambda",
    "AWS::Lambda::LayerVersion": "lambda",
    "AWS::Logs::LogGroup": "logs",
    "AWS::SSM::Parameter": "ssm",
    "AWS::IAM::Role": "iam",
    "AWS::IAM::ManagedPolicy": "iam",
    "AWS::Events::Rule": "events",
    "AWS::CloudWatch::Alarm": "cloudwatch",
}

_NAME_PROPERTY_BY_TYPE = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::Serverless::Function": "FunctionName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Serverless::LayerVersion": "LayerName",
    "AWS::Lambda::LayerVersion": "LayerName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::SSM::Parameter": "Name",
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::Events::Rule": "Name",
    "AWS::CloudWatch::Alarm": "AlarmName",
}

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def local_api_id(stack_name: str, logical_id: str) -> str:
    """A stable, API Gateway shaped (10 lower-case alphanumerics) id for an HttpApi resource."""
    digest = hashlib.sha256(f"{stack_name}/{logical_id}".encode()).hexdigest()
    return digest[:10]


class TemplateResolver:
    """Evaluates intrinsic functions of one template for the local stack.

    ``aws_endpoint_url`` makes ``Ref`` of a queue the URL moto's server gives that queue;
    ``api_url`` is what ``GetAtt <HttpApi>.ApiEndpoint`` resolves to.
    """

    def __init__(
        self,
        template: dict[str, Any],
        *,
        parameter_overrides: dict[str, str] | None = None,
        stack_name: str = DEFAULT_STACK_NAME,
        region: str = DEFAULT_REGION,
        aws_endpoint_url: str = "http://127.0.0.1:5000",
        api_url: str = "http://127.0.0.1:3000",
    ) -> None:
        self.template = template
        self.stack_name = stack_name
        self.region = region
        self.account_id = ACCOUNT_ID
        self.aws_endpoint_url = aws_endpoint_url.rstrip("/")
        self.api_url = api_url.rstrip("/")
        self.resources: dict[str, dict[str, Any]] = dict(template.get("Resources") or {})
        self.parameters = self._resolve_parameters(parameter_overrides or {})
        self._conditions: dict[str, bool] = {}
        self._conditions_in_progress: set[str] = set()

    # -- parameters and conditions

    def _resolve_parameters(self, overrides: dict[str, str]) -> dict[str, Any]:
        declared: dict[str, dict[str, Any]] = dict(self.template.get("Parameters") or {})
        unknown = sorted(set(overrides) - set(declared))
        if unknown:
            raise TemplateError(f"parameter overrides name undeclared parameters: {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, declaration in declared.items():
            if name in overrides:
                raw = str(overrides[name])
            elif "Default" in declaration:
                raw = _parameter_text(declaration["Default"])
            else:
                raise TemplateError(f"parameter {name} has no Default; pass it as an override")
            _validate_parameter(name, declaration, raw)
            if str(declaration.get("Type", "String")) in ("CommaDelimitedList", "List<Number>"):
                values[name] = [item.strip() for item in raw.split(",")] if raw else []
            else:
                values[name] = raw
        return values

    def condition(self, name: str) -> bool:
        if name in self._conditions:
            return self._conditions[name]
        declared = self.template.get("Conditions") or {}
        if name not in declared:
            raise TemplateError(f"unknown condition {name}")
        if name in self._conditions_in_progress:
            raise TemplateError(f"condition {name} refers to itself")
        self._conditions_in_progress.add(name)
        try:
            value = self.resolve(declared[name])
        finally:
            self._conditions_in_progress.discard(name)
        if not isinstance(value, bool):
            raise TemplateError(f"condition {name} does not evaluate to true/false: {value!r}")
        self._conditions[name] = value
        return value

    def resource_enabled(self, logical_id: str) -> bool:
        condition = self.resources[logical_id].get("Condition")
        return True if condition is None else self.condition(str(condition))

    # -- names, refs and attributes of resources

    def resource_type(self, logical_id: str) -> str:
        if logical_id not in self.resources:
            raise TemplateError(f"unknown resource {logical_id}")
        return str(self.resources[logical_id].get("Type", ""))

    def physical_name(self, logical_id: str) -> str:
        resource_type = self.resource_type(logical_id)
        properties = self.resources[logical_id].get("Properties") or {}
        name_property = _NAME_PROPERTY_BY_TYPE.get(resource_type)
        if name_property and properties.get(name_property) is not None:
            return str(self.resolve(properties[name_property]))
        name = f"{self.stack_name}-{logical_id}"
        if resource_type == "AWS::SQS::Queue" and self._truthy(properties.get("FifoQueue")):
            name += ".fifo"
        return name

    def queue_url(self, logical_id: str) -> str:
        return f"{self.aws_endpoint_url}/{self.account_id}/{self.physical_name(logical_id)}"

    def arn(self, logical_id: str) -> str:
        resource_type = self.resource_type(logical_id)
        name = self.physical_name(logical_id)
        service = _ARN_SERVICE_BY_TYPE.get(resource_type, resource_type.split("::")[1].lower())
        prefix = f"arn:aws:{service}:{self.region}:{self.account_id}"
        match resource_type:
            case "AWS::DynamoDB::Table":
                return f"{prefix}:table/{name}"
            case "AWS::Serverless::Function" | "AWS::Lambda::Function":
                return f"{prefix}:function:{name}"
            case "AWS::Serverless::LayerVersion" | "AWS::Lambda::LayerVersion":
                return f"{prefix}:layer:{name}:1"
            case "AWS::Logs::LogGroup":
                return f"{prefix}:log-group:{name}:*"
            case "AWS::SSM::Parameter":
                return f"{prefix}:parameter/{name.lstrip('/')}"
            case "AWS::IAM::Role":
                return f"arn:aws:iam::{self.account_id}:role/{name}"
            case "AWS::IAM::ManagedPolicy":
                return f"arn:aws:iam::{self.account_id}:policy/{name}"
            case "AWS::Events::Rule":
                return f"{prefix}:rule/{name}"
            case "AWS::CloudWatch::Alarm":
                return f"{prefix}:alarm:{name}"
            case _:
                return f"{prefix}:{name}"

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack_name,
            "AWS::StackId": (
                f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/local"
            ),
            "AWS::NotificationARNs": [],
        }
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        resource_type = self.resource_type(name)
        match resource_type:
            case "AWS::SQS::Queue":
                return self.queue_url(name)
            case "AWS::SNS::Topic" | "AWS::IAM::ManagedPolicy":
                return self.arn(name)
            case "AWS::Serverless::LayerVersion" | "AWS::Lambda::LayerVersion":
                return self.arn(name)
            case "AWS::Serverless::HttpApi" | "AWS::ApiGatewayV2::Api":
                return local_api_id(self.stack_name, name)
            case _:
                return self.physical_name(name)

    def get_att(self, logical_id: str, attribute: str) -> Any:
        resource_type = self.resource_type(logical_id)
        match resource_type, attribute:
            case _, "Arn":
                return self.arn(logical_id)
            case "AWS::SQS::Queue", "QueueName":
                return self.physical_name(logical_id)
            case "AWS::SQS::Queue", "QueueUrl":
                return self.queue_url(logical_id)
            case "AWS::DynamoDB::Table", "StreamArn":
                return f"{self.arn(logical_id)}/stream/1970-01-01T00:00:00.000"
            case "AWS::SNS::Topic", "TopicArn":
                return self.arn(logical_id)
            case "AWS::SNS::Topic", "TopicName":
                return self.physical_name(logical_id)
            case "AWS::SSM::Parameter", "Type":
                return self.resolve((self.resources[logical_id].get("Properties") or {}).get("Type"))
            case "AWS::SSM::Parameter", "Value":
                return self.resolve((self.resources[logical_id].get("Properties") or {}).get("Value"))
            case (("AWS::Serverless::HttpApi" | "AWS::ApiGatewayV2::Api"), "ApiEndpoint"):
                return self.api_url
            case (("AWS::Serverless::HttpApi" | "AWS::ApiGatewayV2::Api"), "ApiId"):
                return local_api_id(self.stack_name, logical_id)
        raise TemplateError(f"GetAtt {logical_id}.{attribute} ({resource_type}) is not emulated locally")

    # -- the evaluator

    def resolve(self, node: Any) -> Any:
        """Evaluate every intrinsic function in ``node`` (a template fragment)."""
        if isinstance(node, list):
            items = [self.resolve(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, argument),) = node.items()
            if key == "Ref" or key.startswith("Fn::") or key == "Condition":
                return self._intrinsic(key, argument)
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}

    def _intrinsic(self, name: str, argument: Any) -> Any:
        match name:
            case "Ref":
                return self.ref(str(self.resolve(argument)))
            case "Condition":
                return self.condition(str(argument))
            case "Fn::GetAtt":
                if isinstance(argument, str):
                    logical_id, _, attribute = argument.partition(".")
                else:
                    logical_id, attribute = (str(part) for part in self.resolve(argument))
                return self.get_att(logical_id, attribute)
            case "Fn::Sub":
                return self._sub(argument)
            case "Fn::Join":
                delimiter, items = self._arguments(name, argument, 2)
                values = self.resolve(items)
                if not isinstance(values, list):
                    raise TemplateError("Fn::Join needs a list of values")
                return str(delimiter).join(_text(value) for value in values)
            case "Fn::Select":
                index, items = self._arguments(name, argument, 2)
                values = self.resolve(items)
                try:
                    return values[int(self.resolve(index))]
                except (IndexError, TypeError, ValueError) as error:
                    raise TemplateError(f"Fn::Select index {index!r} is out of {values!r}") from error
            case "Fn::Split":
                delimiter, text = self._arguments(name, argument, 2)
                return _text(self.resolve(text)).split(str(delimiter))
            case "Fn::If":
                condition, when_true, when_false = self._arguments(name, argument, 3)
                return self.resolve(when_true if self.condition(str(condition)) else when_false)
            case "Fn::Equals":
                left, right = self._arguments(name, argument, 2)
                return _text(self.resolve(left)) == _text(self.resolve(right))
            case "Fn::And":
                return all(self._boolean(item) for item in self._as_list(name, argument))
            case "Fn::Or":
                return any(self._boolean(item) for item in self._as_list(name, argument))
            case "Fn::Not":
                (operand,) = self._arguments(name, argument, 1)
                return not self._boolean(operand)
            case "Fn::FindInMap":
                map_name, top_key, second_key = (
                    _text(self.resolve(part)) for part in self._arguments(name, argument, 3)
                )
                try:
                    return copy.deepcopy(self.template["Mappings"][map_name][top_key][second_key])
                except KeyError as error:
                    raise TemplateError(
                        f"Fn::FindInMap {map_name}/{top_key}/{second_key} not found"
                    ) from error
            case "Fn::Base64":
                return base64.b64encode(_text(self.resolve(argument)).encode()).decode()
            case "Fn::GetAZs":
                return [f"{self.region}{zone}" for zone in "abc"]
            case "Fn::ToJsonString":
                return json.dumps(self.resolve(argument), separators=(",", ":"))
            case "Fn::Length":
                return len(self.resolve(argument))
        raise TemplateError(f"{name} is not supported by the local runtime")

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            text, variables = self._arguments("Fn::Sub", argument, 2)
            local_values = {key: self.resolve(value) for key, value in dict(variables).items()}
        else:
            text, local_values = argument, {}

        def replace(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression.startswith("!"):
                return "${" + expression[1:] + "}"  # "${!Literal}" writes "${Literal}"
            if expression in local_values:
                return _text(local_values[expression])
            if "." in expression and expression.split(".", 1)[0] in self.resources:
                logical_id, attribute = expression.split(".", 1)
                return _text(self.get_att(logical_id, attribute))
            return _text(self.ref(expression))

        return _SUB_VARIABLE.sub(replace, str(text))

    def _boolean(self, node: Any) -> bool:
        value = self.resolve(node)
        if not isinstance(value, bool):
            raise TemplateError(f"expected a condition, got {value!r}")
        return value

    def _arguments(self, name: str, argument: Any, count: int) -> list[Any]:
        items = self._as_list(name, argument)
        if len(items) != count:
            raise TemplateError(f"{name} takes {count} arguments, got {argument!r}")
        return items

    @staticmethod
    def _as_list(name: str, argument: Any) -> list[Any]:
        if not isinstance(argument, list):
            raise TemplateError(f"{name} takes a list, got {argument!r}")
        return argument

    def _truthy(self, node: Any) -> bool:
        return _text(self.resolve(node)).lower() == "true"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        raise TemplateError(f"expected a scalar, got {value!r}")
    return str(value)


def _parameter_text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(_text(item) for item in value)
    return _text(value)


def _validate_parameter(name: str, declaration: dict[str, Any], raw: str) -> None:
    allowed = declaration.get("AllowedValues")
    if allowed is not None and raw not in [_text(value) for value in allowed]:
        raise TemplateError(f"parameter {name}={raw!r} is not one of {allowed}")
    pattern = declaration.get("AllowedPattern")
    if pattern is not None and re.fullmatch(str(pattern), raw) is None:
        raise TemplateError(f"parameter {name}={raw!r} does not match {pattern}")
    if str(declaration.get("Type", "String")) == "Number":
        try:
            number = float(raw)
        except ValueError as error:
            raise TemplateError(f"parameter {name}={raw!r} is not a number") from error
        if "MinValue" in declaration and number < float(declaration["MinValue"]):
            raise TemplateError(f"parameter {name}={raw} is below MinValue {declaration['MinValue']}")
        if "MaxValue" in declaration and number > float(declaration["MaxValue"]):
            raise TemplateError(f"parameter {name}={raw} is above MaxValue {declaration['MaxValue']}")


# ---------------------------------------------------------------------------------------------
# The model of what runs locally


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    name: str
    arn: str
    properties: dict[str, Any]


@dataclass(frozen=True)
class QueueSpec:
    logical_id: str
    name: str
    url: str
    arn: str
    properties: dict[str, Any]

    @property
    def dead_letter_target_arn(self) -> str | None:
        policy = self.properties.get("RedrivePolicy")
        if isinstance(policy, str):
            policy = json.loads(policy)
        return None if not policy else str(policy["deadLetterTargetArn"])

    @property
    def max_receive_count(self) -> int | None:
        policy = self.properties.get("RedrivePolicy")
        if isinstance(policy, str):
            policy = json.loads(policy)
        return None if not policy else int(policy["maxReceiveCount"])


@dataclass(frozen=True)
class SsmParameterSpec:
    logical_id: str
    name: str
    type: str
    value: str
    properties: dict[str, Any]


@dataclass(frozen=True)
class HttpRoute:
    function_id: str
    event_name: str
    method: str  # upper case, or "ANY"
    path: str | None  # None: the "$default" route
    api_id: str = ""

    @property
    def route_key(self) -> str:
        return "$default" if self.path is None else f"{self.method} {self.path}"


@dataclass(frozen=True)
class QueueEventSource:
    function_id: str
    event_name: str
    queue_logical_id: str
    queue_arn: str
    batch_size: int
    batching_window_seconds: float
    report_batch_item_failures: bool
    maximum_concurrency: int | None
    enabled: bool


@dataclass(frozen=True)
class ScheduleEventSource:
    function_id: str
    event_name: str
    expression: str
    enabled: bool
    rule_name: str
    input: Any = None  # the event to send instead of the Scheduled Event payload


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str
    runtime: str
    timeout_seconds: float
    memory_mb: int
    environment: dict[str, str]
    # ReservedConcurrentExecutions: at most this many invocations at once (None: not reserved).
    reserved_concurrency: int | None = None
    http_routes: tuple[HttpRoute, ...] = ()
    queue_sources: tuple[QueueEventSource, ...] = ()
    schedules: tuple[ScheduleEventSource, ...] = ()


@dataclass
class StackModel:
    """What the local stack builds: resolved names, properties, functions and their events."""

    stack_name: str
    region: str
    account_id: str
    parameters: dict[str, Any]
    tables: dict[str, TableSpec] = field(default_factory=dict)
    queues: dict[str, QueueSpec] = field(default_factory=dict)
    ssm_parameters: dict[str, SsmParameterSpec] = field(default_factory=dict)
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def http_routes(self) -> list[HttpRoute]:
        return [route for function in self.functions.values() for route in function.http_routes]

    @property
    def queue_sources(self) -> list[QueueEventSource]:
        return [source for function in self.functions.values() for source in function.queue_sources]

    @property
    def schedules(self) -> list[ScheduleEventSource]:
        return [schedule for function in self.functions.values() for schedule in function.schedules]

    def ssm_values_under(self, path: str) -> dict[str, str]:
        """The values of the template's SSM parameters below ``path``, by name relative to it (what
        ``GetParametersByPath`` would answer once the stack is up)."""
        prefix = path.rstrip("/") + "/"
        return {
            spec.name.removeprefix(prefix): spec.value
            for spec in self.ssm_parameters.values()
            if spec.name.startswith(prefix)
        }

    def queue_by_arn(self, arn: str) -> QueueSpec:
        for queue in self.queues.values():
            if queue.arn == arn:
                return queue
        raise TemplateError(f"no queue in the template has the ARN {arn}")


_PYTHON_RUNTIME = re.compile(r"python3\.\d+")
_SAM_FUNCTION = "AWS::Serverless::Function"


def merge_sam_globals(global_properties: dict[str, Any], properties: dict[str, Any]) -> dict[str, Any]:
    """SAM's Globals rules: scalars are overridden by the resource, maps are merged (the resource
    wins per key), lists are concatenated (globals first)."""
    merged = copy.deepcopy(global_properties)
    for key, value in properties.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict) and not _is_intrinsic(value):
            merged[key] = merge_sam_globals(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            merged[key] = current + copy.deepcopy(value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _is_intrinsic(node: dict[str, Any]) -> bool:
    if len(node) != 1:
        return False
    key = next(iter(node))
    return key in ("Ref", "Condition") or key.startswith("Fn::")


def build_stack_model(resolver: TemplateResolver, template_dir: Path) -> StackModel:
    """Resolve the resources the local stack emulates into a :class:`StackModel`."""
    model = StackModel(
        stack_name=resolver.stack_name,
        region=resolver.region,
        account_id=resolver.account_id,
        parameters=dict(resolver.parameters),
    )
    globals_function = dict((resolver.template.get("Globals") or {}).get("Function") or {})
    for logical_id, resource in resolver.resources.items():
        if not resolver.resource_enabled(logical_id):
            continue
        resource_type = str(resource.get("Type", ""))
        properties: dict[str, Any] = resource.get("Properties") or {}
        match resource_type:
            case "AWS::DynamoDB::Table":
                model.tables[logical_id] = TableSpec(
                    logical_id=logical_id,
                    name=resolver.physical_name(logical_id),
                    arn=resolver.arn(logical_id),
                    properties=resolver.resolve(properties),
                )
            case "AWS::SQS::Queue":
                model.queues[logical_id] = QueueSpec(
                    logical_id=logical_id,
                    name=resolver.physical_name(logical_id),
                    url=resolver.queue_url(logical_id),
                    arn=resolver.arn(logical_id),
                    properties=resolver.resolve(properties),
                )
            case "AWS::SSM::Parameter":
                resolved = resolver.resolve(properties)
                model.ssm_parameters[logical_id] = SsmParameterSpec(
                    logical_id=logical_id,
                    name=resolver.physical_name(logical_id),
                    type=str(resolved.get("Type", "String")),
                    value=_text(resolved.get("Value", "")),
                    properties=resolved,
                )
    for logical_id, resource in resolver.resources.items():
        if resource.get("Type") == _SAM_FUNCTION and resolver.resource_enabled(logical_id):
            own_globals = {} if (resource.get("Metadata") or {}).get(GLOBALS_APPLIED) else globals_function
            properties = merge_sam_globals(own_globals, resource.get("Properties") or {})
            model.functions[logical_id] = _function_spec(
                resolver, model, logical_id, properties, template_dir
            )
        elif resource.get("Type") == "AWS::Lambda::Function":
            model.warnings.append(f"{logical_id}: plain AWS::Lambda::Function is not run locally")
    return model


def _function_spec(
    resolver: TemplateResolver,
    model: StackModel,
    logical_id: str,
    properties: dict[str, Any],
    template_dir: Path,
) -> FunctionSpec:
    runtime = str(resolver.resolve(properties.get("Runtime", "")))
    if not _PYTHON_RUNTIME.fullmatch(runtime):
        raise TemplateError(
            f"{logical_id}: runtime {runtime!r} is not a Python runtime; only Python runs locally"
        )
    if "InlineCode" in properties:
        raise TemplateError(f"{logical_id}: InlineCode is not supported locally; use CodeUri")
    code_uri = resolver.resolve(properties.get("CodeUri"))
    if not isinstance(code_uri, str):
        raise TemplateError(f"{logical_id}: CodeUri must be a local directory, got {code_uri!r}")
    environment_variables = resolver.resolve((properties.get("Environment") or {}).get("Variables") or {})
    environment = {str(key): _text(value) for key, value in environment_variables.items()}
    reserved = resolver.resolve(properties.get("ReservedConcurrentExecutions"))
    events: dict[str, Any] = properties.get("Events") or {}
    http_routes: list[HttpRoute] = []
    queue_sources: list[QueueEventSource] = []
    schedules: list[ScheduleEventSource] = []
    for event_name, event in events.items():
        event_type = str(event.get("Type", ""))
        event_properties = resolver.resolve(event.get("Properties") or {})
        match event_type:
            case "HttpApi":
                api_id = str(
                    event_properties.get("ApiId") or local_api_id(resolver.stack_name, "ServerlessHttpApi")
                )
                http_routes.append(_http_route(logical_id, event_name, event_properties, api_id))
            case "SQS":
                queue_sources.append(_queue_source(model, logical_id, event_name, event_properties))
            case "Schedule" | "ScheduleV2":
                schedules.append(_schedule(resolver, logical_id, event_name, event_type, event_properties))
            case _:
                model.warnings.append(
                    f"{logical_id}.{event_name}: {event_type} events are not emulated locally"
                )
    return FunctionSpec(
        logical_id=logical_id,
        name=resolver.physical_name(logical_id),
        arn=resolver.arn(logical_id),
        code_dir=(template_dir / code_uri).resolve(),
        handler=str(resolver.resolve(properties.get("Handler"))),
        runtime=runtime,
        timeout_seconds=float(resolver.resolve(properties.get("Timeout", 3))),
        memory_mb=int(resolver.resolve(properties.get("MemorySize", 128))),
        environment=environment,
        reserved_concurrency=None if reserved is None or reserved is NO_VALUE else int(reserved),
        http_routes=tuple(http_routes),
        queue_sources=tuple(queue_sources),
        schedules=tuple(schedules),
    )


def _http_route(function_id: str, event_name: str, properties: dict[str, Any], api_id: str) -> HttpRoute:
    payload_version = str(properties.get("PayloadFormatVersion", "2.0"))
    if payload_version != "2.0":
        raise TemplateError(f"{function_id}.{event_name}: only payload format 2.0 is emulated locally")
    path = properties.get("Path")
    method = str(properties.get("Method", "ANY")).upper()
    if path is None:
        return HttpRoute(function_id, event_name, "ANY", None, api_id)
    path = str(path)
    if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
        raise TemplateError(f"{function_id}.{event_name}: {CONTROL_PREFIX} is reserved for the local runtime")
    any_method = method in ("ANY", "X-AMAZON-APIGATEWAY-ANY-METHOD")
    return HttpRoute(function_id, event_name, "ANY" if any_method else method, path, api_id)


def _queue_source(
    model: StackModel, function_id: str, event_name: str, properties: dict[str, Any]
) -> QueueEventSource:
    queue = model.queue_by_arn(str(properties["Queue"]))
    if properties.get("FilterCriteria"):
        model.warnings.append(f"{function_id}.{event_name}: FilterCriteria is not applied locally")
    scaling = properties.get("ScalingConfig") or {}
    concurrency = scaling.get("MaximumConcurrency")
    return QueueEventSource(
        function_id=function_id,
        event_name=event_name,
        queue_logical_id=queue.logical_id,
        queue_arn=queue.arn,
        batch_size=int(properties.get("BatchSize", 10)),
        batching_window_seconds=float(properties.get("MaximumBatchingWindowInSeconds", 0)),
        report_batch_item_failures="ReportBatchItemFailures"
        in (properties.get("FunctionResponseTypes") or []),
        maximum_concurrency=None if concurrency is None else int(concurrency),
        enabled=_text(properties.get("Enabled", True)).lower() == "true",
    )


def _schedule(
    resolver: TemplateResolver,
    function_id: str,
    event_name: str,
    event_type: str,
    properties: dict[str, Any],
) -> ScheduleEventSource:
    expression_key = "Schedule" if event_type == "Schedule" else "ScheduleExpression"
    if expression_key not in properties:
        raise TemplateError(f"{function_id}.{event_name}: {event_type} event without {expression_key}")
    state = properties.get("State")
    enabled = (
        str(state).upper() == "ENABLED"
        if state is not None
        else _text(properties.get("Enabled", True)).lower() == "true"
    )
    raw_input = properties.get("Input")
    return ScheduleEventSource(
        function_id=function_id,
        event_name=event_name,
        expression=str(properties[expression_key]),
        enabled=enabled,
        rule_name=str(properties.get("Name") or f"{resolver.stack_name}-{function_id}{event_name}"),
        input=None if raw_input is None else json.loads(str(raw_input)),
    )
