"""Scheduled fixture: appends each event it gets to $TICK_LOG."""

import json
import os
from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    with open(os.environ["TICK_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps(event) + "\n")
    return {"ticked": True}
