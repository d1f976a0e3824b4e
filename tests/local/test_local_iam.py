"""The local stack holds each function to its own role as IAM would: the role SAM makes from the
template, and each request authorized against the action and the resources AWS authorizes it
against (batch and transactional actions as AWS maps them, GetParametersByPath by its path)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.exceptions
import pytest

from activity_sync_tools.local import LocalStack
from activity_sync_tools.local.iam import Credentials
from tests.local.conftest import MakeStackDir

pytestmark = pytest.mark.integration

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Globals:
  Function: {Runtime: python3.12, Timeout: 20}
Resources:
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/echo/
      Handler: app.lambda_handler
      Policies:
        - DynamoDBCrudPolicy: {TableName: !Ref Mine}
        - SQSSendMessagePolicy: {QueueName: !GetAtt Outbox.QueueName}
        - Statement:
            - Effect: Allow
              Action: [ssm:GetParametersByPath, ssm:GetParameters]
              Resource: !Sub arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/svc/mine/*
            - Effect: Allow  # one item of another table, two of its attributes
              Action: [dynamodb:UpdateItem]
              Resource: !GetAtt Theirs.Arn
              Condition:
                ForAllValues:StringEquals:
                  dynamodb:LeadingKeys: [global]
                  dynamodb:Attributes: [pk, n, updated_at]
      Events:
        Work: {Type: SQS, Properties: {Queue: !GetAtt Inbox.Arn}}
  Mine:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
  Theirs:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
  Outbox:
    Type: AWS::SQS::Queue
  Inbox:
    Type: AWS::SQS::Queue
  Elsewhere:
    Type: AWS::SQS::Queue
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, make_stack_dir: MakeStackDir) -> Iterator[LocalStack]:
    directory = tmp_path_factory.mktemp("iam-stack")
    template = make_stack_dir(directory, TEMPLATE)
    with LocalStack.start(
        template, state_dir=directory / "state", schedules=False, event_sources=False
    ) as running:
        yield running


def as_worker(stack: LocalStack, service: str) -> Any:
    """A client signing as the Worker function does (its role's session)."""
    return stack.boto3_client(service, as_function="Worker")


def refusal(call: Any, **arguments: Any) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        call(**arguments)
    error = refused.value.response["Error"]
    return f"{error['Code']}: {error['Message']}"


def test_the_role_is_the_one_sam_makes_policy_templates_and_event_source_included(stack: LocalStack) -> None:
    role = stack.roles["Worker"]
    mine = stack.model.tables["Mine"].arn  # type: ignore[union-attr]
    assert role.allows("dynamodb:PutItem", mine)
    assert role.allows("dynamodb:Query", f"{mine}/index/any")
    assert not role.allows("dynamodb:PutItem", stack.model.tables["Theirs"].arn)  # type: ignore[union-attr]
    # SAM's SQS event source adds AWS's AWSLambdaSQSQueueExecutionRole, and SAM's basic role
    assert {"AWSLambdaSQSQueueExecutionRole", "AWSLambdaBasicExecutionRole"} <= set(role.policies)
    assert role.allows("sqs:ReceiveMessage", stack.model.queues["Inbox"].arn)  # type: ignore[union-attr]
    assert not role.allows("sqs:ChangeMessageVisibility", stack.model.queues["Inbox"].arn)  # type: ignore[union-attr]


def test_a_function_may_use_its_own_table_and_is_refused_anothers_naming_action_and_table(
    stack: LocalStack,
) -> None:
    dynamodb = as_worker(stack, "dynamodb")
    mine, theirs = stack.table_names["Mine"], stack.table_names["Theirs"]
    dynamodb.put_item(TableName=mine, Item={"pk": {"S": "a"}})

    message = refusal(dynamodb.put_item, TableName=theirs, Item={"pk": {"S": "a"}})

    assert message.startswith("AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/")
    assert f"dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:123456789012:table/{theirs}" in message


def test_a_batch_is_authorized_on_every_table_it_names(stack: LocalStack) -> None:
    dynamodb = as_worker(stack, "dynamodb")
    mine, theirs = stack.table_names["Mine"], stack.table_names["Theirs"]
    dynamodb.batch_write_item(RequestItems={mine: [{"PutRequest": {"Item": {"pk": {"S": "b"}}}}]})

    message = refusal(
        dynamodb.batch_write_item,
        RequestItems={
            mine: [{"PutRequest": {"Item": {"pk": {"S": "c"}}}}],
            theirs: [{"PutRequest": {"Item": {"pk": {"S": "c"}}}}],
        },
    )

    assert (
        f"dynamodb:BatchWriteItem on resource: arn:aws:dynamodb:us-east-1:123456789012:table/{theirs}"
        in message
    )


def test_a_transaction_is_authorized_as_the_item_actions_it_is_made_of(stack: LocalStack) -> None:
    dynamodb = as_worker(stack, "dynamodb")
    mine, theirs = stack.table_names["Mine"], stack.table_names["Theirs"]
    # (no dynamodb:TransactWriteItems in the role: none exists in IAM)
    dynamodb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": mine, "Item": {"pk": {"S": "t1"}}}},
            {
                "Update": {
                    "TableName": mine,
                    "Key": {"pk": {"S": "t2"}},
                    "UpdateExpression": "SET n = :n",
                    "ExpressionAttributeValues": {":n": {"N": "1"}},
                }
            },
        ]
    )

    message = refusal(
        dynamodb.transact_write_items,
        TransactItems=[{"Delete": {"TableName": theirs, "Key": {"pk": {"S": "t1"}}}}],
    )

    assert (
        f"dynamodb:DeleteItem on resource: arn:aws:dynamodb:us-east-1:123456789012:table/{theirs}" in message
    )


def test_sqs_batch_actions_are_authorized_as_their_single_message_actions(stack: LocalStack) -> None:
    sqs = as_worker(stack, "sqs")
    # SAM's SQSSendMessagePolicy allows sqs:SendMessage*; the event source's managed policy allows
    # sqs:DeleteMessage only, which SQS also takes for DeleteMessageBatch
    sqs.send_message_batch(QueueUrl=stack.queue_urls["Outbox"], Entries=[{"Id": "1", "MessageBody": "x"}])
    stack.boto3_client("sqs").send_message(QueueUrl=stack.queue_urls["Inbox"], MessageBody="y")
    received = sqs.receive_message(QueueUrl=stack.queue_urls["Inbox"])["Messages"]
    sqs.delete_message_batch(
        QueueUrl=stack.queue_urls["Inbox"],
        Entries=[{"Id": "1", "ReceiptHandle": received[0]["ReceiptHandle"]}],
    )

    message = refusal(sqs.send_message, QueueUrl=stack.queue_urls["Elsewhere"], MessageBody="z")

    assert "sqs:SendMessage on resource: arn:aws:sqs:us-east-1:123456789012:" in message


def test_parameters_by_path_are_authorized_against_the_path_itself(stack: LocalStack) -> None:
    stack.put_secure_parameter("/svc/mine/token", "t0ken")
    ssm = as_worker(stack, "ssm")
    assert ssm.get_parameters(Names=["/svc/mine/token"], WithDecryption=True)["Parameters"]
    # parameter/svc/mine/* covers the parameters below /svc/mine/, not the path /svc/mine itself,
    # which is what IAM checks a GetParametersByPath against
    assert ssm.get_parameters_by_path(Path="/svc/mine/sub")["Parameters"] == []

    message = refusal(ssm.get_parameters_by_path, Path="/svc/mine")

    assert (
        "ssm:GetParametersByPath on resource: arn:aws:ssm:us-east-1:123456789012:parameter/svc/mine "
        in message
    )


def test_a_request_signed_with_an_unknown_key_or_a_wrong_secret_is_refused(stack: LocalStack) -> None:
    environment = stack.function_environment("Worker")
    wrong_secret = Credentials(
        environment["AWS_ACCESS_KEY_ID"], "not-the-secret", environment["AWS_SESSION_TOKEN"]
    )
    for credentials in (Credentials("ASIAUNKNOWN000000000", "x", "y"), wrong_secret):
        client = boto3.client(
            "sqs",
            endpoint_url=stack.aws_endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=credentials.access_key_id,
            aws_secret_access_key=credentials.secret_access_key,
            aws_session_token=credentials.session_token,
        )
        with pytest.raises(botocore.exceptions.ClientError) as refused:
            client.list_queues()
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_a_role_changed_while_running_holds_from_the_next_request(stack: LocalStack) -> None:
    role = stack.roles["Worker"]
    mine = stack.model.tables["Mine"].arn  # type: ignore[union-attr]
    dynamodb = as_worker(stack, "dynamodb")
    try:
        stack.put_role(role.without("dynamodb:GetItem", mine))
        message = refusal(dynamodb.get_item, TableName=stack.table_names["Mine"], Key={"pk": {"S": "a"}})
        assert "dynamodb:GetItem on resource" in message
        policies = stack.boto3_client("iam").list_role_policies(RoleName=role.role_name)["PolicyNames"]
        assert set(policies) == set(stack.roles["Worker"].policies)
    finally:
        stack.put_role(role)
    assert json.dumps(dynamodb.get_item(TableName=stack.table_names["Mine"], Key={"pk": {"S": "a"}})["Item"])


def test_role_names_longer_than_iam_takes_stay_apart() -> None:
    from activity_sync_tools.local.iam import _role_name

    stack = "a-stack-name-long-enough-to-push-role-names-past-the-limit"
    first, second = (
        _role_name(stack, "HubSpotIntegrationEventSyncerRole"),
        _role_name(stack, "HubSpotIntegrationEventSyncerRole2"),
    )
    assert len(first) <= 64
    assert len(second) <= 64
    assert first != second
    assert _role_name("activity-sync", "PollerRole") == "activity-sync-PollerRole"


def test_a_role_matches_actions_in_any_case_and_loses_only_what_is_taken_out() -> None:
    from activity_sync_tools.local.iam import FunctionRole

    table = "arn:aws:dynamodb:us-east-1:123456789012:table/T"
    other = "arn:aws:dynamodb:us-east-1:123456789012:table/U"
    role = FunctionRole(
        "F",
        "r",
        {
            "p": {
                "Statement": [{"Effect": "Allow", "Action": ["DynamoDB:PutItem"], "Resource": [table, other]}]
            }
        },
    )
    assert role.allows("dynamodb:PutItem", table)
    narrowed = role.without("DynamoDB:PutItem", table)
    assert not narrowed.allows("dynamodb:PutItem", table)
    assert narrowed.allows("dynamodb:PutItem", other)


def test_a_conditional_allow_holds_only_for_the_item_and_attributes_it_names(stack: LocalStack) -> None:
    dynamodb = as_worker(stack, "dynamodb")
    theirs = stack.table_names["Theirs"]

    def update(key: str, attribute: str) -> Any:
        return dynamodb.update_item(
            TableName=theirs,
            Key={"pk": {"S": key}},
            UpdateExpression="SET #a = :v, #u = :u",
            ExpressionAttributeNames={"#a": attribute, "#u": "updated_at"},
            ExpressionAttributeValues={":v": {"N": "1"}, ":u": {"S": "now"}},
            ReturnValues="ALL_NEW",
        )

    update("global", "n")  # the item and the attributes the condition names

    other_item = refusal(update, key="someone-else", attribute="n")
    other_attribute = refusal(update, key="global", attribute="secret")

    for message in (other_item, other_attribute):
        assert (
            f"dynamodb:UpdateItem on resource: arn:aws:dynamodb:us-east-1:123456789012:table/{theirs}"
            in message
        )
