"""Where the service finds its resources and its connection settings.

Resource names (tables, queues) are in the stack's directory in SSM Parameter Store,
``/activity-sync/<Stage>/stack/``: ``resources`` (tables, the contact queue; written by
template.yaml) and one ``syncers/<direction>/<type>`` entry per type (its queue and dead-letter
queue; written by syncer.yaml). Environment variables of the same names win over the directory
(the local tools and the tests name their resources that way). Connection settings and secrets
come from SSM too, under ``/activity-sync/<Stage>/``: plain parameters created by the stack,
SecureString parameters created by the operator. Everything is read through Powertools Parameters
with a short cache, so a changed parameter takes effect within ``SETTINGS_MAX_AGE_SECONDS``
without a redeploy (S3).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aws_lambda_powertools.utilities import parameters

from activity_sync.domain import ALL_SYNC_TYPES, SyncType

SETTINGS_MAX_AGE_SECONDS = 60
# The stack's resources change only with a deployment that replaces them.
DIRECTORY_MAX_AGE_SECONDS = 300
DIRECTORY = "stack"


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
    dead_letter_queue_urls: Mapping[SyncType, str] = field(default_factory=dict)
    contact_dead_letter_queue_url: str | None = None
    poll_settle: dt.timedelta = dt.timedelta(minutes=2)  # the poller reads what changed before now - this
    poll_forms_list_seconds: float = 900  # how long the poller keeps the list of forms

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> RuntimeConfig:
        """From environment variables alone (the local tools and tests name every resource)."""
        return cls.from_directory({}, environ)

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None) -> RuntimeConfig:
        """The stack's directory in SSM, with what the environment names explicitly on top."""
        env = os.environ if environ is None else environ
        return cls.from_directory(read_stack_directory(_ssm_prefix(env)), env)

    @classmethod
    def from_directory(
        cls, directory: Mapping[str, str], environ: Mapping[str, str] | None = None
    ) -> RuntimeConfig:
        """``directory``: the entries under ``<prefix>/stack/`` by relative name, JSON values."""
        env = os.environ if environ is None else environ
        resources: dict[str, str] = {}
        queues: dict[SyncType, str] = {}
        dead_letters: dict[SyncType, str] = {}
        for name, raw in directory.items():
            entry = _json_object(name, raw)
            if name == "resources":
                resources = {str(k): str(v) for k, v in entry.items()}
            elif name.startswith("syncers/"):
                sync_type = SyncType.parse(str(entry.get("sync_type", "")))
                queues[sync_type] = str(entry["queue_url"])
                dead_letters[sync_type] = str(entry["dead_letter_queue_url"])
        queues.update({t: env[queue_env_var(t)] for t in ALL_SYNC_TYPES if queue_env_var(t) in env})

        def named(variable: str, key: str, default: str) -> str:
            return env.get(variable) or resources.get(key) or default

        return cls(
            stage=env.get("STAGE", "dev"),
            ssm_prefix=_ssm_prefix(env),
            settings_table=named("SETTINGS_TABLE", "settings_table", "activity-sync-settings"),
            links_table=named("LINKS_TABLE", "links_table", "activity-sync-links"),
            sync_state_table=named("SYNC_STATE_TABLE", "sync_state_table", "activity-sync-state"),
            idempotency_table=named("IDEMPOTENCY_TABLE", "idempotency_table", "activity-sync-idempotency"),
            queue_urls=queues,
            contact_queue_url=env.get("QUEUE_URL_CONTACT_CHANGES")
            or resources.get("contact_changes_queue_url"),
            dead_letter_queue_urls=dead_letters,
            contact_dead_letter_queue_url=resources.get("contact_changes_dead_letter_queue_url"),
            poll_settle=dt.timedelta(seconds=float(env.get("POLL_SETTLE_SECONDS", "120"))),
            poll_forms_list_seconds=float(env.get("POLL_FORMS_LIST_SECONDS", "900")),
        )

    def queue_url(self, sync_type: SyncType) -> str:
        try:
            return self.queue_urls[sync_type]
        except KeyError:
            raise ConfigurationError(
                f"no queue configured for {sync_type.key} ({queue_env_var(sync_type)})"
            ) from None


def _ssm_prefix(env: Mapping[str, str]) -> str:
    return env.get("SSM_PREFIX", f"/activity-sync/{env.get('STAGE', 'dev')}").rstrip("/")


def _json_object(name: str, raw: str) -> Mapping[str, object]:
    try:
        value = json.loads(raw)
    except ValueError:
        raise ConfigurationError(f"stack directory entry {name} is not JSON: {raw[:80]!r}") from None
    if not isinstance(value, dict):
        raise ConfigurationError(f"stack directory entry {name} is not a JSON object")
    return value


def read_stack_directory(ssm_prefix: str) -> dict[str, str]:
    """Every entry under ``<ssm_prefix>/stack/`` by relative name (``resources``,
    ``syncers/hubspot_to_salesforce/note``…), cached for a few minutes."""
    values = parameters.get_parameters(
        f"{ssm_prefix}/{DIRECTORY}", recursive=True, max_age=DIRECTORY_MAX_AGE_SECONDS
    )
    return {name.lstrip("/"): str(value) for name, value in values.items()}


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


# Each function reads only the parameters it uses (and its role may read no others): the
# internet-facing receiver never holds the vendors' API credentials.
VENDOR_PARAMETERS = (
    "hubspot/api-base-url",
    "hubspot/private-app-token",
    "salesforce/token-url",
    "salesforce/auth-flow",
    "salesforce/client-id",
    "salesforce/username",
    "salesforce/api-version",
    "salesforce/client-secret",  # client_credentials flow
    "salesforce/jwt-private-key",  # jwt_bearer flow
)
RECEIVER_PARAMETERS = (
    "hubspot/webhook-client-secret",
    "hubspot/portal-id",
    "webhooks/activity-route-token",
    "webhooks/outbound-message-token",
    "salesforce/org-id",
)


def load_connection_settings(
    config: RuntimeConfig, names: Sequence[str] = VENDOR_PARAMETERS, *, force_fetch: bool = False
) -> ConnectionSettings:
    """The named parameters under the stage prefix (one GetParameters call for up to ten, with
    SecureStrings decrypted), cached for a minute; a parameter that does not exist is absent."""
    by_path = {f"{config.ssm_prefix}/{name}": name for name in names}
    values = parameters.get_parameters_by_name(
        {path: {} for path in by_path},
        decrypt=True,
        max_age=0 if force_fetch else SETTINGS_MAX_AGE_SECONDS,
        raise_on_error=False,
    )
    return ConnectionSettings(
        prefix=config.ssm_prefix,
        values={by_path[path]: str(value) for path, value in values.items() if path in by_path},
    )
