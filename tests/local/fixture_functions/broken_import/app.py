"""Fails at import, like a handler whose dependency is missing."""

from typing import Any

import a_module_that_does_not_exist  # type: ignore[import-not-found]  # noqa: F401


def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    return "never"
