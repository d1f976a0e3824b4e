"""Each function under its own IAM role, locally, as AWS would hold it to it.

What a function may do is what its execution role allows, as ``sam deploy`` creates it: the
template is translated by SAM's own translator (``aws-sam-translator``, the version SAM CLI pins),
so policy templates (``DynamoDBCrudPolicy``, ...), inline statements, the template's managed
policies and what SAM adds by itself (``AWSLambdaBasicExecutionRole``, the SQS event source's
``AWSLambdaSQSQueueExecutionRole``, X-Ray) are expanded exactly as SAM expands them. The AWS managed
policies' documents are moto's snapshot of AWS's.

The embedded AWS then holds every request to it:

* each function's workers, and the SQS event source that polls for it (Lambda polls with the
  function's role), sign with the temporary credentials of that role's session (STS AssumeRole);
* the operator (the harness, the CLI, the tests) signs as an IAM user allowed everything, with the
  well-known dummy key ``testing``/``testing`` (moto's documentation's), so that every local tool
  keeps working unchanged;
* moto's IAM enforcement is on (``INITIAL_NO_AUTH_ACTION_COUNT`` = 0): a request whose signature
  does not match, or whose action no statement of the principal's policies allows, is refused with
  ``AccessDenied``, as AWS refuses it.

moto checks the action but not the resource for DynamoDB and Parameter Store (it authorizes them
against ``*``). :func:`authorize_resources_as_aws` makes it check both, against the resources AWS
authorizes each request against: every table a DynamoDB request names (each table of a batch, an
index's ARN for a query on it), every parameter a GetParameter(s) names and the *path* of a
GetParametersByPath
(https://docs.aws.amazon.com/systems-manager/latest/userguide/ps-retrieval-authorization.html),
and SQS's batch actions as their single-message actions, which is how SQS authorizes them
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-batch-api.html).
Conditions, which moto does not check: a DynamoDB request that only conditional statements allow
is allowed when one of them holds for ``dynamodb:LeadingKeys`` and ``dynamodb:Attributes``
(``StringEquals`` and its ``ForAllValues``/``ForAnyValue`` forms, single-item requests), and refused
otherwise - a local check that cannot tell says no. Not checked here: other services' conditions,
resource policies, KMS key policies.
"""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import json
import re
import threading
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import urlparse

from activity_sync_tools.local.template import TemplateError, TemplateResolver

OPERATOR_ACCESS_KEY = "testing"
OPERATOR_SECRET_KEY = "testing"  # noqa: S105 - moto's documented dummy key, for the local stack only
OPERATOR_USER = "local-operator"

_LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}
_EVERYTHING = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}

# SQS authorizes a batch action as its single-message action (see the module's docstring).
_SQS_BATCH_ACTIONS = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def environment(self) -> dict[str, str]:
        """As the Lambda runtime gives them to a function."""
        environment = {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
        }
        if self.session_token:
            environment["AWS_SESSION_TOKEN"] = self.session_token
        return environment

    def client_arguments(self) -> dict[str, str]:
        arguments = {"aws_access_key_id": self.access_key_id, "aws_secret_access_key": self.secret_access_key}
        if self.session_token:
            arguments["aws_session_token"] = self.session_token
        return arguments


OPERATOR_CREDENTIALS = Credentials(OPERATOR_ACCESS_KEY, OPERATOR_SECRET_KEY)


def use_operator_credentials(environ: MutableMapping[str, str]) -> None:
    """Sign as the local operator from here on: never with a developer's own credentials, which
    the embedded AWS would refuse and must never see."""
    environ.update(OPERATOR_CREDENTIALS.environment())
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
        environ.pop(name, None)


@dataclass
class FunctionRole:
    """A function's execution role as SAM creates it: its policies by name, resolved."""

    function_id: str
    role_name: str
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)

    def statements(self) -> list[dict[str, Any]]:
        return [
            statement
            for document in self.policies.values()
            for statement in _as_list(document.get("Statement"))
        ]

    def allows(self, action: str, resource: str) -> bool:
        """Whether the role's policies allow ``action`` on ``resource`` (an explicit Deny wins)."""
        allowed = False
        for statement in self.statements():
            # (IAM matches action names in any case, resources as written)
            actions = [str(a).lower() for a in _as_list(statement.get("Action"))]
            if not (_matches(actions, action.lower()) and _matches(statement.get("Resource"), resource)):
                continue
            if statement.get("Effect") == "Deny":
                return False
            allowed = True
        return allowed

    def without(self, action: str, resource: str | None = None) -> FunctionRole:
        """The same role with ``action`` (by its exact name) no longer allowed on ``resource`` (an
        ARN; None: anywhere); everything else it allowed, it still allows (fault tests)."""
        policies: dict[str, dict[str, Any]] = {}
        for name, document in self.policies.items():
            statements = []
            for statement in _as_list(document.get("Statement")):
                actions = _as_list(statement.get("Action"))
                if action not in actions:
                    statements.append(statement)
                    continue
                resources = _as_list(statement.get("Resource"))
                hit = [r for r in resources if resource is None or fnmatch.fnmatchcase(resource, r)]
                kept = [r for r in resources if r not in hit]
                if kept:
                    statements.append({**statement, "Resource": kept})
                others = [a for a in actions if a != action]
                if others and hit:
                    statements.append({**statement, "Action": others, "Resource": hit})
            if statements:
                policies[name] = {**document, "Statement": statements}
        return FunctionRole(self.function_id, self.role_name, policies)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _matches(patterns: Any, value: str) -> bool:
    # IAM's wildcards: * and ? (fnmatch also reads [...], which no ARN or action here contains).
    return any(fnmatch.fnmatchcase(value, pattern) for pattern in _as_list(patterns))


# ------------------------------------------------------------------ what SAM creates


def function_roles(
    template: Mapping[str, Any], resolver: TemplateResolver, stack_name: str
) -> dict[str, FunctionRole]:
    """Every function's execution role, by function logical id, as SAM translates ``template``
    (the whole stack, nested applications expanded) and CloudFormation resolves it."""
    translated = _translate(json.dumps(template, sort_keys=True), resolver.region)
    resources: dict[str, Any] = translated["Resources"]
    roles: dict[str, FunctionRole] = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Lambda::Function":
            continue
        role_ref = resource["Properties"].get("Role")
        if not (isinstance(role_ref, dict) and "Fn::GetAtt" in role_ref):
            raise TemplateError(f"{logical_id}: the local stack runs only functions whose role SAM creates")
        role_id = role_ref["Fn::GetAtt"][0]
        role = resources[role_id]["Properties"]
        policies: dict[str, dict[str, Any]] = {}
        for policy in role.get("Policies", []):
            policies[policy["PolicyName"]] = resolver.resolve(policy["PolicyDocument"])
        for arn in role.get("ManagedPolicyArns", []):
            name, document = _managed_policy(arn, template, resolver)
            policies[name] = document
        roles[logical_id] = FunctionRole(logical_id, _role_name(stack_name, role_id), policies)
    return roles


def _role_name(stack_name: str, role_id: str) -> str:
    """``<stack>-<RoleId>``; IAM takes at most 64 characters, so a longer one keeps a digest of the
    whole (CloudFormation adds a random suffix instead) and two roles never share a name."""
    name = f"{stack_name}-{role_id}"
    if len(name) <= 64:
        return name
    return f"{name[:55]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


@cache
def _translate(template_json: str, region: str) -> dict[str, Any]:
    """SAM's translation of the template (code locations stand in as S3 URIs, as after
    ``sam package``). Cached: the tests start many stacks from one template."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    template = json.loads(template_json)
    for resource in template.get("Resources", {}).values():
        properties = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            if key in properties:
                properties[key] = f"s3://local-stack/{key}"
    function_globals = (template.get("Globals") or {}).get("Function") or {}
    if "CodeUri" in function_globals:
        function_globals["CodeUri"] = "s3://local-stack/CodeUri"
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    translated: dict[str, Any] = translator.translate(
        copy.deepcopy(template), parameter_values={}, get_managed_policy_map=dict
    )
    return translated


def _managed_policy(
    arn: Any, template: Mapping[str, Any], resolver: TemplateResolver
) -> tuple[str, dict[str, Any]]:
    if isinstance(arn, dict) and set(arn) == {"Ref"}:  # one of the template's own managed policies
        resource = template["Resources"].get(arn["Ref"], {})
        if resource.get("Type") == "AWS::IAM::ManagedPolicy":
            return arn["Ref"], resolver.resolve(resource["Properties"]["PolicyDocument"])
    resolved = resolver.resolve(arn)
    if isinstance(resolved, str) and ":iam::aws:policy/" in resolved:
        name = resolved.rsplit("/", 1)[-1]
        return name, aws_managed_policy(name)
    raise TemplateError(f"a managed policy the local stack cannot read: {arn!r}")


@cache
def _aws_managed_policies() -> dict[str, Any]:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    policies: dict[str, Any] = json.loads(aws_managed_policies_data)
    return policies


def aws_managed_policy(name: str) -> dict[str, Any]:
    """The document of an AWS managed policy (moto's snapshot of AWS's)."""
    try:
        document: dict[str, Any] = _aws_managed_policies()[name]["Document"]
    except KeyError:
        raise TemplateError(f"an AWS managed policy the local stack does not know: {name}") from None
    return document


# ------------------------------------------------------------------ principals in the embedded AWS


def install_operator(account_id: str) -> None:
    """The operator: an IAM user allowed everything, whose key is ``testing``/``testing``. Made
    straight in moto's backend: IAM would hand out a random key, and every local tool signs with
    the well-known one."""
    from moto.iam.models import iam_backends

    backend = iam_backends[account_id]["aws"]
    backend.create_user(region_name="us-east-1", user_name=OPERATOR_USER)
    backend.put_user_policy(OPERATOR_USER, "everything", json.dumps(_EVERYTHING))
    key = backend.create_access_key(OPERATOR_USER)
    backend.access_keys.pop(key.access_key_id, None)
    key.access_key_id = OPERATOR_ACCESS_KEY
    key.secret_access_key = OPERATOR_SECRET_KEY
    backend.access_keys[OPERATOR_ACCESS_KEY] = key


def install_roles(
    iam: Any, account_id: str, region: str, roles: Iterable[FunctionRole]
) -> dict[str, Credentials]:
    """Create each role with its policies (through IAM's API, which validates every document; one
    inline policy per source policy) and open one session of it per function, as Lambda does; the
    sessions' credentials by function logical id. The session is opened in STS's backend: Lambda
    assumes the role as the service ``lambda.amazonaws.com``, a principal no local caller is."""
    from moto.sts.models import sts_backends

    sts: Any = sts_backends[account_id]["aws"]
    credentials: dict[str, Credentials] = {}
    for role in roles:
        arn = iam.create_role(RoleName=role.role_name, AssumeRolePolicyDocument=json.dumps(_LAMBDA_TRUST))[
            "Role"
        ]["Arn"]
        put_role_policies(iam, role)
        session = sts.assume_role(
            region_name=region,
            role_session_name=role.function_id,
            role_arn=arn,
            policy=None,
            duration=43200,
            external_id=None,
        )
        credentials[role.function_id] = Credentials(
            session.access_key_id, session.secret_access_key, session.session_token
        )
    return credentials


def put_role_policies(iam: Any, role: FunctionRole) -> None:
    """Make the role's policies in the embedded AWS exactly ``role.policies``."""
    existing = set(iam.list_role_policies(RoleName=role.role_name)["PolicyNames"])
    for name, document in role.policies.items():
        # SAM's policy templates carry no Version: IAM takes that as 2008-10-17, which differs from
        # 2012-10-17 only in policy variables (none here); moto refuses it.
        versioned = {"Version": "2012-10-17", **document}
        iam.put_role_policy(RoleName=role.role_name, PolicyName=name, PolicyDocument=json.dumps(versioned))
    for name in existing - set(role.policies):
        iam.delete_role_policy(RoleName=role.role_name, PolicyName=name)


def set_enforcement(enabled: bool | float) -> float:
    """Turn moto's IAM enforcement on (every request authenticated and authorized) or off, or back
    to a count this returned before (moto's settings are process-wide); returns the previous one."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    previous = float(settings.INITIAL_NO_AUTH_ACTION_COUNT)
    if isinstance(enabled, bool):
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0 if enabled else float("inf")
    else:
        settings.INITIAL_NO_AUTH_ACTION_COUNT = enabled
    ActionAuthenticatorMixin.request_count = 0
    return previous


# ------------------------------------------------------------------ resources, as AWS authorizes them

_patch_lock = threading.Lock()


def authorize_resources_as_aws() -> None:
    """Make moto authorize DynamoDB, Parameter Store and SQS requests against the resources AWS
    authorizes them against, and SQS batch actions as their single-message actions (see the
    module's docstring). Applied once, idempotent; changes nothing while enforcement is off."""
    from moto.dynamodb.responses import DynamoHandler
    from moto.sqs.responses import SQSResponse
    from moto.ssm.responses import SimpleSystemManagerResponse

    with _patch_lock:
        for handler_class, resources in (
            (DynamoHandler, _dynamodb_resources),
            (SimpleSystemManagerResponse, _ssm_resources),
            (SQSResponse, None),
        ):
            if getattr(handler_class, "authorizes_resources", False):
                continue
            handler_class._authenticate_and_authorize_normal_action = _authorizer(resources)  # type: ignore[method-assign]
            setattr(handler_class, "authorizes_resources", True)  # noqa: B010 - a marker on moto's class


def _authorizer(resources_of: Any) -> Any:
    def authorize(self: Any, resource: str = "*") -> None:
        from moto import settings
        from moto.core.authorization import ActionAuthenticatorMixin
        from moto.core.exceptions import AccessDeniedError
        from moto.iam.access_control import IAMRequest

        if ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
            ActionAuthenticatorMixin.request_count += 1
            return
        operation = self._get_action()
        if resources_of is None:  # SQS: moto finds the queue's ARN itself
            checks = [(_SQS_BATCH_ACTIONS.get(operation, operation), resource)]
        else:
            checks = resources_of(self, operation) or [(operation, "*")]
        query = urlparse(self.uri).query  # the path as signed, as moto's own check builds it
        path = self.raw_path + (f"?{query}" if query else "")
        requests: dict[str, Any] = {}
        for action, arn in checks:
            if action not in requests:  # one per action: its name is part of what moto checks
                requests[action] = IAMRequest(
                    account_id=self.current_account,
                    method=self.method,
                    path=path,
                    data=self.data,
                    body=self.raw_body,
                    headers=self.headers,
                    action=action,
                )
                requests[action].check_signature()
            request = requests[action]
            try:
                request.check_action_permitted(arn)
                if resources_of is _dynamodb_resources and not _conditions_hold(self, request, arn):
                    raise AccessDeniedError(user_arn=request._access_key.arn, action=request._action)
            except AccessDeniedError:
                raise _access_denied(self, request._access_key.arn, request._action, arn) from None

    return authorize


def _access_denied(handler: Any, principal: str, action: str, resource: str) -> Exception:
    """AWS's refusal, in the request's protocol: JSON services (DynamoDB, Parameter Store, SQS's
    JSON protocol) answer 400 ``AccessDeniedException``, the query protocol 403 ``AccessDenied``."""
    from moto.core.exceptions import AccessDeniedError, JsonRESTError

    message = (
        f"User: {principal} is not authorized to perform: {action} on resource: {resource} "
        f"because no identity-based policy allows the {action} action"
    )
    if str(handler.headers.get("Content-Type", "")).startswith("application/x-amz-json"):
        return JsonRESTError("AccessDeniedException", message)
    return AccessDeniedError(user_arn=principal, action=message.split("perform: ", 1)[1])


def _conditions_hold(handler: Any, request: Any, arn: str) -> bool:
    """moto checks no condition. When every statement that allows this DynamoDB request is
    conditional, one of them must hold for it: ``dynamodb:LeadingKeys`` (the partition key's value)
    and ``dynamodb:Attributes`` (the key's and the request's attribute names: what AWS evaluates,
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html)
    with ``StringEquals`` and its ``ForAllValues``/``ForAnyValue`` forms, on single-item requests.
    Anything else conditional is refused: a local check that cannot tell says no."""
    from moto.iam.access_control import IAMPolicy

    action = request._action.lower()
    allowing = []
    for policy in request._access_key.collect_policies():
        document = IAMPolicy(policy)._policy_json  # moto's reading of each kind of policy it keeps
        for statement in _as_list(document.get("Statement")):
            actions = [str(a).lower() for a in _as_list(statement.get("Action"))]
            if (
                statement.get("Effect") == "Allow"
                and _matches(actions, action)
                and _matches(statement.get("Resource"), arn)
            ):
                allowing.append(statement)
    if not allowing or any("Condition" not in statement for statement in allowing):
        return True
    context = _dynamodb_context(handler, request._action.split(":", 1)[1])
    return context is not None and any(_holds(statement["Condition"], context) for statement in allowing)


def _dynamodb_context(handler: Any, operation: str) -> dict[str, list[str]] | None:
    """The condition keys of a single-item request; None for any other (not evaluated here)."""
    if operation not in ("GetItem", "PutItem", "UpdateItem", "DeleteItem"):
        return None
    body = _parameters(handler)
    key: dict[str, Any] = body.get("Item") if operation == "PutItem" else body.get("Key")  # type: ignore[assignment]
    if not isinstance(key, dict):
        return None
    hash_key = handler.dynamodb_backend.get_table(body["TableName"]).hash_key_attr
    leading = [next(iter(key[hash_key].values()))] if hash_key in key else []
    names = set(key if operation != "PutItem" else body.get("Item") or {})
    names |= set((body.get("ExpressionAttributeNames") or {}).values())
    for expression in ("UpdateExpression", "ConditionExpression", "ProjectionExpression"):
        names |= {
            token
            for token in re.findall(r"(?<![#:\w])[A-Za-z_][\w]*", str(body.get(expression) or ""))
            if token.upper() not in _EXPRESSION_WORDS
        }
    return {"dynamodb:leadingkeys": [str(v) for v in leading], "dynamodb:attributes": sorted(names)}


_EXPRESSION_WORDS = {
    "SET", "REMOVE", "ADD", "DELETE", "AND", "OR", "NOT", "BETWEEN", "IN", "SIZE",
    "IF_NOT_EXISTS", "LIST_APPEND", "ATTRIBUTE_EXISTS", "ATTRIBUTE_NOT_EXISTS", "ATTRIBUTE_TYPE",
    "BEGINS_WITH", "CONTAINS",
}  # fmt: skip


def _holds(condition: Mapping[str, Any], context: Mapping[str, list[str]]) -> bool:
    for operator, entries in condition.items():
        qualifier, _, test = operator.rpartition(":")
        if test != "StringEquals" or qualifier not in ("", "ForAllValues", "ForAnyValue"):
            return False  # an operator this check does not know: refused
        for key, allowed in entries.items():
            if key.lower() not in context:
                return False
            values, permitted = context[key.lower()], {str(v) for v in _as_list(allowed)}
            if qualifier == "ForAnyValue":
                if not any(v in permitted for v in values):
                    return False
            elif qualifier == "ForAllValues":
                if not all(v in permitted for v in values):
                    return False
            elif len(values) != 1 or values[0] not in permitted:
                return False
    return True


def _parameters(handler: Any) -> dict[str, Any]:
    params = getattr(handler, "params", None)
    if isinstance(params, dict) and params:
        return params
    try:
        parsed = json.loads(handler.body or "{}")
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


# A transaction is authorized as the single-item actions it is made of
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html).
_TRANSACTION_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


def _dynamodb_resources(handler: Any, operation: str) -> list[tuple[str, str]]:
    """(action, ARN) pairs a DynamoDB request is authorized against."""
    prefix = f"arn:aws:dynamodb:{handler.region}:{handler.current_account}:table/"
    body = _parameters(handler)
    if operation in ("BatchWriteItem", "BatchGetItem"):
        return [(operation, prefix + name) for name in body.get("RequestItems") or {}]
    if operation in ("TransactWriteItems", "TransactGetItems"):
        checks = []
        for item in body.get("TransactItems") or []:
            for kind, request in item.items():
                if isinstance(request, dict) and request.get("TableName"):
                    checks.append((_TRANSACTION_ACTIONS.get(kind, operation), prefix + request["TableName"]))
        return list(dict.fromkeys(checks))
    if body.get("TableName"):
        table = prefix + body["TableName"]
        index = body.get("IndexName")
        return [(operation, f"{table}/index/{index}" if index and operation in ("Query", "Scan") else table)]
    return []


def _ssm_resources(handler: Any, operation: str) -> list[tuple[str, str]]:
    """(action, ARN) pairs a Parameter Store request is authorized against."""
    prefix = f"arn:aws:ssm:{handler.region}:{handler.current_account}:parameter"
    body = _parameters(handler)

    def arn(name: str) -> str:
        return prefix + (name if name.startswith("/") else f"/{name}")

    if operation == "GetParametersByPath":
        return [(operation, arn(str(body.get("Path", "/")).rstrip("/") or "/"))]
    if body.get("Names"):
        return [(operation, arn(name)) for name in body["Names"]]
    if body.get("Name"):
        return [(operation, arn(body["Name"]))]
    return []
