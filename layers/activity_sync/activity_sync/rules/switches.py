"""S1: one switch per sync type, off by default; turning it on records when (`enabled_at`).

Choices where the SPEC is silent:

* Turning on a switch that is already on keeps its original `enabled_at`: repeating the command (or a
  retried request) must not move the R5 windows.
* A switch stored as on but without `enabled_at` (someone flipped `enabled` by hand in the DynamoDB
  console, S3) is treated as off until it is stamped; `turn_on` stamps it with `now`.
* Turning off keeps the last `enabled_at` as history and records `disabled_at = now`. Turning on again
  starts a new period with `enabled_at = now`: switching back on is "from now on", like the first
  time, so activities that happened while the switch was off are not synced retroactively (beyond the
  look-back windows of R5, which are measured from the new `enabled_at`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from activity_sync.domain import TypeSettings


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got naive {now.isoformat()}")


def is_on(settings: TypeSettings) -> bool:
    """Whether activities of this type sync now: enabled and stamped with `enabled_at`."""
    return settings.enabled and settings.enabled_at is not None


def turn_on(settings: TypeSettings, now: datetime) -> TypeSettings:
    _require_aware(now)
    if is_on(settings):
        return settings
    return replace(settings, enabled=True, enabled_at=now, disabled_at=None)


def turn_off(settings: TypeSettings, now: datetime) -> TypeSettings:
    _require_aware(now)
    if not settings.enabled:
        return settings
    return replace(settings, enabled=False, disabled_at=now)


def set_switch(settings: TypeSettings, on: bool, now: datetime) -> TypeSettings:
    """`turn_on` or `turn_off`, for callers that hold the wanted state as a value (CLI, API)."""
    return turn_on(settings, now) if on else turn_off(settings, now)
