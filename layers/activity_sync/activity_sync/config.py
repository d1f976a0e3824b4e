"""Where the service finds its resources and its connection settings.

Resource names (tables, queues) come from the environment the template sets. Connection settings
and secrets come from SSM Parameter Store under ``/activity-sync/<Stage>/``: plain parameters
created by the stack, SecureString parameters created by the operator. They are read through
Powertools Parameters with a short cache, so a changed parameter takes effect within
``SETTINGS_MAX_AGE_SECONDS`` without a redeploy (S3).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from aws_lambda_powertools.utilities import parameters

from activity_sync.domain import ALL_SYNC_TYPES, SyncType

SETTINGS_MAX_AGE_SECONDS = 60


class ConfigurationError(RuntimeError):
    """A setting the service needs is missing or invalid; the message names it."""


def queue_env_var(sync_type: SyncType) -> str:
    """``hubspot_to_salesforce#note`` -> ``QUEUE_URL_HUBSPOT_TO_SALESFORCE_NOTE``."""
    return "QUEUE_URL_" + sync_type.key.upper().replace("#", "_")


@dataclass(frozen=True)
class RuntimeConfig:
    """The stack's own resources, from the function's environment."""

    stage: str
    ssm_prefix: str
    settings_table: str
    links_table: str
    sync_state_table: str
    idempotency_table: str
    queue_urls: Mapping[SyncType, str] = field(default_factory=dict)
    contact_queue_url: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> RuntimeConfig:
        env = os.environ if environ is None else environ
        stage = env.get("STAGE", "dev")
        return cls(
            stage=stage,
            ssm_prefix=env.get("SSM_PREFIX", f"/activity-sync/{stage}").rstrip("/"),
            settings_table=env.get("SETTINGS_TABLE", "activity-sync-settings"),
            links_table=env.get("LINKS_TABLE", "activity-sync-links"),
            sync_state_table=env.get("SYNC_STATE_TABLE", "activity-sync-state"),
            idempotency_table=env.get("IDEMPOTENCY_TABLE", "activity-sync-idempotency"),
            queue_urls={t: env[queue_env_var(t)] for t in ALL_SYNC_TYPES if queue_env_var(t) in env},
            contact_queue_url=env.get("QUEUE_URL_CONTACT_CHANGES"),
        )

    def queue_url(self, sync_type: SyncType) -> str:
        try:
            return self.queue_urls[sync_type]
        except KeyError:
            raise ConfigurationError(
                f"no queue configured for {sync_type.key} ({queue_env_var(sync_type)})"
            ) from None


@dataclass(frozen=True)
class ConnectionSettings:
    """What it takes to talk to both vendors. Secrets are optional here so that each function
    only fails for the secret it actually uses (``require`` names the missing parameter)."""

    prefix: str
    values: Mapping[str, str]

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.values.get(name, default)

    def require(self, name: str) -> str:
        value = self.values.get(name)
        if not value or value == "set-me":
            raise ConfigurationError(f"SSM parameter {self.prefix}/{name} is not set")
        return value

    @property
    def hubspot_api_base_url(self) -> str:
        return (self.get("hubspot/api-base-url") or "https://api.hubapi.com").rstrip("/")

    @property
    def hubspot_portal_id(self) -> int | None:
        raw = self.get("hubspot/portal-id")
        return int(raw) if raw and raw.isdigit() and raw != "0" else None


def load_connection_settings(config: RuntimeConfig, *, force_fetch: bool = False) -> ConnectionSettings:
    """Every parameter under the stage prefix, SecureStrings decrypted, cached for a minute."""
    values = parameters.get_parameters(
        config.ssm_prefix,
        recursive=True,
        decrypt=True,
        max_age=SETTINGS_MAX_AGE_SECONDS,
        force_fetch=force_fetch,
    )
    return ConnectionSettings(
        prefix=config.ssm_prefix, values={k.lstrip("/"): str(v) for k, v in values.items()}
    )
