"""What travels on the queues.

A message names *which* record changed, not its whole content: syncers read the current state in
one batch call, so order, repeats and overlapping polls do not matter (R15). Only changes that
have no read API (form submissions, marketing email events, document views, integration events)
carry their full content in ``payload``.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ChangeSource(StrEnum):
    HUBSPOT_WEBHOOK = "hubspot_webhook"
    HUBSPOT_POLL = "hubspot_poll"
    HUBSPOT_ACTIVITY_ROUTE = "hubspot_activity_route"
    SALESFORCE_OUTBOUND_MESSAGE = "salesforce_outbound_message"
    SALESFORCE_POLL = "salesforce_poll"
    CONTACT_STARTED_SYNCING = "contact_started_syncing"
    ACTIVITY_WAITING = "activity_waiting"  # a syncer parked an activity and asks for its contact
    IMPORT = "import"
    REDRIVE = "redrive"


class ChangeKind(StrEnum):
    UPSERT = "upsert"
    DELETION = "deletion"


class ChangeMessage(BaseModel):
    """One changed record, addressed to the queue of its sync type."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sync_type: str = Field(description="SyncType key, e.g. hubspot_to_salesforce#note")
    object_id: str = Field(min_length=1, max_length=256)
    source: ChangeSource
    kind: ChangeKind = ChangeKind.UPSERT
    occurred_at: dt.datetime | None = None
    payload: dict[str, Any] | None = None

    def dedup_key(self) -> str:
        """Same record, same change: sending it twice in one batch is wasted work."""
        return f"{self.sync_type}|{self.object_id}|{self.kind}"


class ContactChangeMessage(BaseModel):
    """A HubSpot contact (or a Salesforce person) changed: it may have started to sync (R4)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hubspot_contact_id: str | None = None
    salesforce_person_id: str | None = None
    source: ChangeSource
    occurred_at: dt.datetime | None = None
