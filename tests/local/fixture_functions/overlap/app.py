"""Records, in order, when each invocation starts and ends, so that tests count how many ran at once
without measuring time.

The event (or, from SQS, each record's JSON body) says ``{"log": path, "tag": ..., "id": ...}``:
``start <tag> <id> <pid>`` and ``end <tag> <id> <pid>`` lines are appended to ``log`` (one write each:
appends of a short line never interleave). ``until_started: N`` holds the invocation until N starts
of its tag are in the log (or ``deadline_s`` passed, 10 s by default), then ``hold_s`` longer;
``sleep_s`` sleeps first (to run past a timeout).
"""

import json
import os
import time
from typing import Any


def _append(path: str, line: str) -> None:
    with open(path, "a", encoding="utf-8") as log:
        log.write(line + "\n")


def _started(path: str, tag: str) -> int:
    with open(path, encoding="utf-8") as log:
        return sum(1 for line in log if line.startswith(f"start {tag} "))


def _run(job: dict[str, Any]) -> None:
    path, tag, identifier = job["log"], job["tag"], job["id"]
    _append(path, f"start {tag} {identifier} {os.getpid()}")
    time.sleep(float(job.get("sleep_s", 0)))
    deadline = time.monotonic() + float(job.get("deadline_s", 10))
    while _started(path, tag) < int(job.get("until_started", 0)) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(float(job.get("hold_s", 0)))
    _append(path, f"end {tag} {identifier} {os.getpid()}")


def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    if "Records" in event:
        for record in event["Records"]:
            _run(json.loads(record["body"]))
        return {"batchItemFailures": []}
    _run(event)
    return {"id": event["id"], "pid": os.getpid()}
