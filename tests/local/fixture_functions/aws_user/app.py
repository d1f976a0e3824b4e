"""Talks to the embedded AWS with plain boto3, as the real handlers do."""

import os
from typing import Any

import boto3


def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    boto3.client("dynamodb").put_item(TableName=os.environ["TABLE_NAME"], Item={"pk": {"S": event["pk"]}})
    boto3.client("sqs").send_message(QueueUrl=os.environ["OUTBOX_URL"], MessageBody=event["pk"])
    parameter = boto3.client("ssm").get_parameter(Name=os.environ["SECRET_NAME"], WithDecryption=True)
    return {"secret": parameter["Parameter"]["Value"]}
