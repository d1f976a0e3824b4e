"""What every per-type syncer shares: the switch (S1), vendor-wide failures, and the outcome
figures (R16). A subclass implements ``sync`` for its direction."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from aws_lambda_powertools.metrics import MetricUnit

from activity_sync.adapters.dynamodb import LinkRepository, SettingsRepository, SyncStateRepository
from activity_sync.domain import SyncType, TypeSettings
from activity_sync.messages import ChangeMessage
from activity_sync.observability import logger, metrics
from activity_sync.ports import HubSpotApi, SalesforceApi, VendorApiError
from activity_sync.rules.switches import is_on
from activity_sync.rules.windows import SkipReason
from activity_sync.usecases.batch import BatchResult


class TypeSyncer(ABC):
    def __init__(
        self,
        sync_type: SyncType,
        *,
        settings: SettingsRepository,
        links: LinkRepository,
        state: SyncStateRepository,
        hubspot: HubSpotApi,
        salesforce: SalesforceApi,
    ) -> None:
        self.sync_type = sync_type
        self._settings = settings
        self._links = links
        self._state = state
        self._hubspot = hubspot
        self._salesforce = salesforce

    def handle(self, changes: Sequence[tuple[str, ChangeMessage]]) -> BatchResult:
        result = BatchResult()
        settings = self._settings.type_settings(self.sync_type)
        if not is_on(settings):
            # S1: nothing syncs while the switch is off; the figure says how much waited for it.
            self._count("waiting", SkipReason.TYPE_OFF, len(changes))
            return result
        try:
            self.sync(changes, settings, result)
        except VendorApiError as error:
            # A whole call failed (rate limit, outage, credentials): every message not yet settled
            # is retried, and dead-lettered with this reason once it runs out of tries.
            logger.warning("vendor call failed", extra={"error": str(error), "retryable": error.retryable})
            for message_id, _ in changes:
                if message_id not in result.dead:
                    result.retry.setdefault(message_id, str(error))
        return result

    @abstractmethod
    def sync(
        self, changes: Sequence[tuple[str, ChangeMessage]], settings: TypeSettings, result: BatchResult
    ) -> None:
        """Apply the changes of a switched-on type, recording failures in ``result``."""

    def _count(self, status: str, reason: str | None, n: int) -> None:
        """One outcome figure (R16): in DynamoDB for ``activity-sync status``, and as a CloudWatch
        metric (``ActivitiesSynced``, ``ActivitiesWaiting``… by the handler's SyncType dimension)."""
        if n > 0:
            metrics.add_metric(name=f"Activities{status.capitalize()}", unit=MetricUnit.Count, value=n)
            self._state.count_outcome(self.sync_type, status, str(reason) if reason else None, n)
            logger.info(
                "outcome", extra={"sync_type": self.sync_type.key, "status": status, "reason": reason, "n": n}
            )
