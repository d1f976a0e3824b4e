"""The ports: what the use cases need from the world, as Protocols and the plain values that cross
them. ``vendors`` - the HubSpot and Salesforce APIs and their API budget; ``storage`` - links,
settings and sync state; ``queues`` - change queues and dead-letter queues. Adapters
(``activity_sync.adapters``) implement them; the use-case tests hand in in-memory fakes, held to
the adapters' contract by a shared test suite."""

from activity_sync.domain import HubSpotRecord
from activity_sync.ports.queues import ChangeQueue, DeadLetterQueue, QueuedMessage, QueueSendError
from activity_sync.ports.storage import (
    ALLOCATION_SETTINGS,
    DeadLetterEntry,
    GlobalSettings,
    Link,
    LinkStore,
    SettingsStore,
    StorageRefused,
    StoredLink,
    SyncStateStore,
    WaitingActivity,
    WaitingEntry,
    hubspot_key,
    newest_contact_reads,
    read_instant,
    salesforce_key,
)
from activity_sync.ports.vendors import (
    BudgetExhausted,
    CallBudget,
    CollectionWrite,
    ConnectionValues,
    EmailEventPage,
    HubSpotApi,
    NewObject,
    SalesforceApi,
    SoqlQuery,
    VendorApiError,
    WriteResult,
)

__all__ = [
    "ALLOCATION_SETTINGS",
    "BudgetExhausted",
    "CallBudget",
    "ChangeQueue",
    "CollectionWrite",
    "ConnectionValues",
    "DeadLetterEntry",
    "DeadLetterQueue",
    "EmailEventPage",
    "GlobalSettings",
    "HubSpotApi",
    "HubSpotRecord",
    "Link",
    "LinkStore",
    "NewObject",
    "QueueSendError",
    "QueuedMessage",
    "SalesforceApi",
    "SettingsStore",
    "SoqlQuery",
    "StorageRefused",
    "StoredLink",
    "SyncStateStore",
    "VendorApiError",
    "WaitingActivity",
    "WaitingEntry",
    "WriteResult",
    "hubspot_key",
    "newest_contact_reads",
    "read_instant",
    "salesforce_key",
]
