"""How the three tables are written: BatchWriteItem requests with no key twice (DynamoDB refuses
those whole), refusals for good narrowed to the items at fault, and the connection transactions
use (one per container, as the models keep theirs)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from typing import Literal

from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, PutError
from pynamodb.models import Model

from activity_sync.batching import chunks
from activity_sync.observability import logger
from activity_sync.ports import StorageRefused


def aws_region() -> str | None:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


TRANSACTION_ITEMS = 100  # TransactWriteItems' limit
_transaction_connection: Connection | None = None


def transactions() -> Connection:
    """The connection transactions go through (one per container, as the models keep theirs)."""
    global _transaction_connection
    if _transaction_connection is None:
        _transaction_connection = Connection(region=aws_region())
    return _transaction_connection


BATCH_WRITE_ITEMS = 25  # BatchWriteItem's limit
ItemKey = tuple[str, str | None]  # (hash key, range key or None)
WriteAction = Literal["put", "delete"]


def item_key(item: Model) -> ItemKey:
    hash_name, range_name = item._hash_keyname or "", item._range_keyname
    return (str(getattr(item, hash_name)), str(getattr(item, range_name)) if range_name else None)


def _refused_for_good(error: PutError | DeleteError) -> bool:
    """DynamoDB's answer for a request that can never succeed as it is (retrying cannot help)."""
    return error.cause_response_code == "ValidationException"


def write_batch[M: Model](model: type[M], operations: Iterable[tuple[WriteAction, M]]) -> int:
    """Put and delete items with BatchWriteItem, 25 a request. DynamoDB refuses a whole request
    that names one key twice, so repeated keys are collapsed first: the later operation wins (a
    later put over an earlier one, a put and a delete of one key resolve to the one that comes
    later). A request refused for good (``ValidationException``: an item too large, say) is written
    again one item at a time - a rare path - so that only the items at fault are left out; they
    are logged as the bug they are and raised as ``StorageRefused`` once every other item is
    written. Returns how many keys were written."""
    latest: dict[ItemKey, tuple[WriteAction, M]] = {}
    for action, item in operations:
        key = item_key(item)
        latest.pop(key, None)  # the later operation takes the later place too
        latest[key] = (action, item)
    refused: list[ItemKey] = []
    cause = ""
    for chunk in chunks(list(latest.items()), BATCH_WRITE_ITEMS):
        try:
            with model.batch_write() as batch:
                for _, (action, item) in chunk:
                    batch.save(item) if action == "put" else batch.delete(item)
        except PutError as error:  # pynamodb's error for any failed BatchWriteItem
            if not _refused_for_good(error):
                raise
            for key, (action, item) in chunk:
                try:
                    item.save() if action == "put" else item.delete()
                except (PutError, DeleteError) as single:
                    if not _refused_for_good(single):
                        raise
                    refused.append(key)
                    cause = cause or f"ValidationException: {single.cause_response_message}"
    if refused:
        table = model.Meta.table_name
        logger.error(
            "DynamoDB refused items for good: a bug to report, not a passing fault",
            extra={"table": table, "keys": [list(key) for key in refused], "cause": cause},
        )
        raise StorageRefused(table, refused, cause)
    return len(latest)


def forget_transaction_connection() -> None:
    global _transaction_connection
    _transaction_connection = None


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
