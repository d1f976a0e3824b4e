"""Sleeps as long as the event says; fails with a custom error when asked."""

import os
import time
from typing import Any


class SyncFailed(Exception):
    pass


def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    if event.get("fail"):
        raise SyncFailed(f"cannot sync {event['fail']}")
    print(f"sleeping {event.get('seconds', 0)} s in pid {os.getpid()}")
    time.sleep(float(event.get("seconds", 0)))
    return {"slept": event.get("seconds", 0), "pid": os.getpid()}
