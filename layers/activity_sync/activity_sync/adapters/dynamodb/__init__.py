"""DynamoDB, through pynamodb: the storage ports (``activity_sync.ports.storage``) on the three
tables of template.yaml, one module each - ``settings_table``, ``links_table``,
``sync_state_table`` - and how they are written (``writes``).

Table names come from the environment at import (a Lambda's environment is fixed); ``bind_tables``
re-points the models, for tools and tests that talk to several stacks.
"""

from __future__ import annotations

from pynamodb.models import Model

from activity_sync.adapters.dynamodb.links_table import LinkItem, LinkRepository
from activity_sync.adapters.dynamodb.settings_table import (
    SETTINGS_CACHE_SECONDS,
    GlobalSettingsItem,
    OverrideItem,
    SettingsRepository,
    SettingsRow,
    TypeSettingsItem,
)
from activity_sync.adapters.dynamodb.sync_state_table import (
    DEAD_LETTER_TTL,
    WAITING_TTL,
    SyncStateItem,
    SyncStateRepository,
    outcome_label,
)
from activity_sync.adapters.dynamodb.writes import aws_region, forget_transaction_connection, write_batch
from activity_sync.config import RuntimeConfig

ALL_MODELS: tuple[type[Model], ...] = (
    TypeSettingsItem,
    GlobalSettingsItem,
    OverrideItem,
    SettingsRow,
    LinkItem,
    SyncStateItem,
)


def bind_tables(config: RuntimeConfig) -> None:
    """Point every model at this stack's tables (and drop cached connections)."""
    names = {
        TypeSettingsItem: config.settings_table,
        GlobalSettingsItem: config.settings_table,
        OverrideItem: config.settings_table,
        SettingsRow: config.settings_table,
        LinkItem: config.links_table,
        SyncStateItem: config.sync_state_table,
    }
    for model, table in names.items():
        model.Meta.table_name = table
        model.Meta.region = aws_region()
        model._connection = None
    forget_transaction_connection()


__all__ = [
    "ALL_MODELS",
    "DEAD_LETTER_TTL",
    "SETTINGS_CACHE_SECONDS",
    "WAITING_TTL",
    "GlobalSettingsItem",
    "LinkItem",
    "LinkRepository",
    "OverrideItem",
    "SettingsRepository",
    "SettingsRow",
    "SyncStateItem",
    "SyncStateRepository",
    "TypeSettingsItem",
    "bind_tables",
    "outcome_label",
    "write_batch",
]
