"""The embedded AWS counts requests by service, operation and caller, and the DynamoDB capacity units
each would consume on demand, computed from item sizes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from activity_sync_tools.local import LocalStack
from activity_sync_tools.local.metering import (
    CLIENT_CALLER,
    EVENT_SOURCE_CALLER,
    EVENT_SOURCE_USER_AGENT,
    RUNTIME_CALLER,
    RUNTIME_USER_AGENT,
    caller_of,
    identify,
    item_size,
    read_units,
    write_units,
)

if TYPE_CHECKING:
    from tests.local.conftest import MakeStackDir


def test_item_sizes_follow_dynamodbs_rules() -> None:
    assert item_size({"pk": {"S": "abc"}}) == 5  # name + UTF-8 bytes
    assert item_size({"é": {"S": "é"}}) == 4
    assert item_size({"n": {"N": "12345"}}) == 1 + 4  # one byte per two digits, plus one
    assert item_size({"b": {"BOOL": True}, "z": {"NULL": True}}) == 4
    assert item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + (1 + 1 + 1)
    assert item_size({"l": {"L": [{"S": "ab"}, {"S": "c"}]}}) == 1 + 3 + (1 + 2) + (1 + 1)
    assert item_size(None) == 0


def test_capacity_units_round_up_per_4_kb_read_and_1_kb_written() -> None:
    assert read_units(0) == 0.5  # a read that finds nothing still costs the minimum
    assert read_units(4096, consistent=True) == 1.0
    assert read_units(4097, consistent=True) == 2.0
    assert read_units(5000) == 1.0  # eventually consistent: half
    assert read_units(100, transactional=True) == 2.0
    assert write_units(1) == 1.0
    assert write_units(1025) == 2.0
    assert write_units(100, transactional=True) == 2.0


def test_callers_and_operations_are_told_from_the_request() -> None:
    assert caller_of("Boto3/1.35 md/Botocore#1.35 app/HubSpotNoteSyncer") == "HubSpotNoteSyncer"
    assert caller_of(f"Boto3/1.35 {EVENT_SOURCE_USER_AGENT}") == EVENT_SOURCE_CALLER
    assert caller_of(f"Boto3/1.35 {RUNTIME_USER_AGENT}") == RUNTIME_CALLER
    assert caller_of("curl/8") == CLIENT_CALLER
    credential = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{}/aws4_request, SignedHeaders=x"
    dynamodb = {
        "HTTP_X_AMZ_TARGET": "DynamoDB_20120810.PutItem",
        "HTTP_AUTHORIZATION": credential.format("dynamodb"),
    }
    assert identify(dynamodb, b"{}") == ("dynamodb", "PutItem")
    query = {"HTTP_AUTHORIZATION": credential.format("sqs"), "QUERY_STRING": ""}
    assert identify(query, b"Action=SendMessage&QueueUrl=x") == ("sqs", "SendMessage")


TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
    Timeout: 20
Resources:
  AwsUser:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/aws_user/
      Handler: app.lambda_handler
      Policies:  # what it calls, no more: the local stack holds it to its role
        - DynamoDBWritePolicy: {TableName: !Ref Records}
        - SQSSendMessagePolicy: {QueueName: !GetAtt Outbox.QueueName}
        - SSMParameterReadPolicy: {ParameterName: svc/token}
      Environment:
        Variables:
          TABLE_NAME: !Ref Records
          OUTBOX_URL: !Ref Outbox
          SECRET_NAME: /svc/token
  Records:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: other_id, AttributeType: S}
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      GlobalSecondaryIndexes:
        - IndexName: by_other_id
          KeySchema: [{AttributeName: other_id, KeyType: HASH}]
          Projection: {ProjectionType: ALL}
  Outbox:
    Type: AWS::SQS::Queue
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, make_stack_dir: MakeStackDir) -> Iterator[LocalStack]:
    directory = tmp_path_factory.mktemp("metering-stack")
    template = make_stack_dir(directory, TEMPLATE)
    with LocalStack.start(template, state_dir=directory / "state", schedules=False) as running:
        yield running


def requests_of(stack: LocalStack, caller: str) -> dict[tuple[str, str], int]:
    return {
        (row["service"], row["operation"]): row["count"]
        for row in stack.aws_usage()["requests"]
        if row["caller"] == caller
    }


def capacity_of(stack: LocalStack, operation: str) -> tuple[float, float]:
    rows = [row for row in stack.aws_usage()["dynamodb_capacity"] if row["operation"] == operation]
    return sum(r["read_units"] for r in rows), sum(r["write_units"] for r in rows)


@pytest.mark.integration
def test_a_functions_requests_are_counted_under_its_logical_id(stack: LocalStack) -> None:
    stack.put_secure_parameter("/svc/token", "t0ken")
    result = stack.invoke("AwsUser", {"pk": "note#1"})
    assert result.ok, result.payload

    counted = requests_of(stack, "AwsUser")
    assert counted[("ssm", "GetParameter")] == 1
    assert counted[("dynamodb", "PutItem")] == 1
    assert counted[("sqs", "SendMessage")] == 1


@pytest.mark.integration
def test_dynamodb_capacity_is_computed_from_item_sizes(stack: LocalStack) -> None:
    dynamodb: Any = stack.boto3_client("dynamodb")
    table = stack.table_names["Records"]
    big = "x" * 3000  # about 3 KB: three write units, one read unit
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "big"}, "body": {"S": big}})
    assert capacity_of(stack, "PutItem")[1] == 3.0 + 1.0  # with the function's small put above

    # an item in the index is written twice: the table and its global secondary index
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "indexed"}, "other_id": {"S": "o-1"}})
    assert capacity_of(stack, "PutItem")[1] == 3.0 + 1.0 + 2.0

    # an update pays for the larger of the item before and after
    dynamodb.update_item(
        TableName=table,
        Key={"pk": {"S": "big"}},
        UpdateExpression="SET flag = :f",
        ExpressionAttributeValues={":f": {"BOOL": True}},
    )
    assert capacity_of(stack, "UpdateItem")[1] == 3.0

    dynamodb.get_item(TableName=table, Key={"pk": {"S": "big"}}, ConsistentRead=True)
    dynamodb.get_item(TableName=table, Key={"pk": {"S": "missing"}})
    assert capacity_of(stack, "GetItem")[0] == 1.0 + 0.5

    dynamodb.delete_item(TableName=table, Key={"pk": {"S": "big"}})
    assert capacity_of(stack, "DeleteItem")[1] == 3.0  # the size of what was deleted

    counted = requests_of(stack, CLIENT_CALLER)
    assert counted[("dynamodb", "PutItem")] == 2
    assert counted[("dynamodb", "GetItem")] == 2


@pytest.mark.integration
def test_an_sqs_receive_that_finds_nothing_is_counted_apart(stack: LocalStack, tmp_path: Path) -> None:
    sqs: Any = stack.boto3_client("sqs")
    url = stack.queue_urls["Outbox"]
    sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)  # the function's message
    sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)  # nothing left (it is in flight)
    counted = requests_of(stack, CLIENT_CALLER)
    assert counted[("sqs", "ReceiveMessage")] == 1
    assert counted[("sqs", "ReceiveMessage (empty)")] == 1
