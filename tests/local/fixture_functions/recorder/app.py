"""SQS consumer for the local runtime tests: logs every delivery it sees to $DELIVERY_LOG.

Message bodies are JSON: ``{"id": ..., "fail": true}`` is reported as a batch item failure,
``{"id": ..., "raise_on_first": true}`` makes the whole batch raise on its first delivery.
"""

import json
import os
from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    records = event["Records"]
    failures = []
    raise_batch = False
    with open(os.environ["DELIVERY_LOG"], "a", encoding="utf-8") as log:
        for record in records:
            body = json.loads(record["body"])
            receive_count = int(record["attributes"]["ApproximateReceiveCount"])
            log.write(
                json.dumps(
                    {
                        "function": context.function_name,
                        "id": body["id"],
                        "queue_arn": record["eventSourceARN"],
                        "receive_count": receive_count,
                        "batch_size": len(records),
                        "record": record,
                    }
                )
                + "\n"
            )
            if body.get("fail"):
                failures.append({"itemIdentifier": record["messageId"]})
            if body.get("raise_on_first") and receive_count == 1:
                raise_batch = True
    if raise_batch:
        raise RuntimeError("the first delivery of this batch fails")
    return {"batchItemFailures": failures}
