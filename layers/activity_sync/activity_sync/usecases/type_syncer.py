"""What every per-type syncer shares: the switch (S1), vendor-wide failures, and the outcome
figures (R16). A subclass implements ``sync`` for its direction."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence

from aws_lambda_powertools.metrics import MetricUnit

from activity_sync.domain import SyncType, TypeSettings
from activity_sync.messages import ChangeMessage
from activity_sync.observability import logger, metrics
from activity_sync.ports import (
    BudgetExhausted,
    HubSpotApi,
    Link,
    LinkStore,
    SalesforceApi,
    SettingsStore,
    StorageRefused,
    SyncStateStore,
    VendorApiError,
)
from activity_sync.rules.switches import is_on
from activity_sync.rules.windows import SkipReason
from activity_sync.usecases.batch import BatchResult


class TypeSyncer(ABC):
    def __init__(
        self,
        sync_type: SyncType,
        *,
        settings: SettingsStore,
        links: LinkStore,
        state: SyncStateStore,
        hubspot: HubSpotApi,
        salesforce: SalesforceApi,
    ) -> None:
        self.sync_type = sync_type
        self._settings = settings
        self._links = links
        self._state = state
        self._hubspot = hubspot
        self._salesforce = salesforce
        self._tally: Counter[tuple[str, str | None]] = Counter()

    def handle(self, changes: Sequence[tuple[str, ChangeMessage]]) -> BatchResult:
        result = BatchResult()
        try:
            settings = self._settings.type_settings(self.sync_type)
            if not is_on(settings):
                # A switch just turned on may not be in this container's copy of the settings yet:
                # look again before setting anything aside for it.
                settings = self._settings.type_settings(self.sync_type, fresh=True)
            if not is_on(settings):
                # S1: nothing syncs while the switch is off; the figure says how much waited for it.
                self._count("waiting", SkipReason.TYPE_OFF, len(changes))
                return result
            self.sync(changes, settings, result)
        except BudgetExhausted as spent:
            # The vendors' budget is spent for now: what is left goes back to the queue, to come
            # again when the budget returns - waiting, not failing (R18).
            logger.info(
                "held back by the API budget", extra={"scope": spent.scope, "delay": spent.delay_seconds}
            )
            held = [message_id for message_id, _ in changes if not result.settled(message_id)]
            for message_id in held:
                result.defer[message_id] = (str(spent), spent.delay_seconds)
            self._count("waiting", "api_budget", len(held))
        except VendorApiError as error:
            # A whole call failed. Rate limits, outages and timeouts are retried; an answer that
            # will not change (credentials, a missing scope, a request the vendor refuses) sends
            # every unsettled message to the dead-letter queue now, with the vendor's words.
            logger.warning("vendor call failed", extra={"error": str(error), "retryable": error.retryable})
            target = result.retry if error.retryable else result.dead
            self._settle_the_rest(changes, result, target, str(error))
        except Exception as error:  # settled per message, with its reason, below
            # Anything else (a DynamoDB throttle, a bug): each message is retried with the reason,
            # and dead-lettered with it once out of tries - never a bare failed invocation.
            logger.exception("batch failed")
            self._settle_the_rest(changes, result, result.retry, f"{type(error).__name__}: {error}")
        finally:
            self._flush_counts()
        return result

    @staticmethod
    def _settle_the_rest(
        changes: Sequence[tuple[str, ChangeMessage]], result: BatchResult, target: dict[str, str], reason: str
    ) -> None:
        for message_id, _ in changes:
            if not result.settled(message_id):
                target[message_id] = reason

    @abstractmethod
    def sync(
        self, changes: Sequence[tuple[str, ChangeMessage]], settings: TypeSettings, result: BatchResult
    ) -> None:
        """Apply the changes of a switched-on type, recording failures in ``result``."""

    def _save_links(self, links: Sequence[Link]) -> None:
        """Links that record vendor writes already made. DynamoDB refusing some for good (a bug,
        logged loudly with its keys by the adapter; the others are saved) must not undo those
        writes: the records settle as synced, and a twin whose link is missing is found again by
        its External ID or unique property the next time its record changes (R15)."""
        try:
            self._links.save(links)
        except StorageRefused as refused:
            logger.error(
                "records synced, but DynamoDB refused their links: settled as synced",
                extra={"sync_type": self.sync_type.key, "keys": [list(k) for k in refused.keys]},
            )

    def _count(self, status: str, reason: str | None, n: int) -> None:
        """One outcome figure (R16), added up over the batch and written once at its end."""
        if n > 0:
            self._tally[(status, str(reason) if reason else None)] += n

    def _flush_counts(self) -> None:
        """The batch's figures: in DynamoDB for ``activity-sync status`` (one UpdateItem per
        outcome), and as CloudWatch metrics (``ActivitiesSynced``, ``ActivitiesWaiting``… by the
        handler's SyncType dimension)."""
        tally, self._tally = self._tally, Counter()
        if not tally:
            return
        for (status, reason), n in tally.items():
            metrics.add_metric(name=f"Activities{status.capitalize()}", unit=MetricUnit.Count, value=n)
            logger.info(
                "outcome", extra={"sync_type": self.sync_type.key, "status": status, "reason": reason, "n": n}
            )
        try:
            self._state.count_outcomes(self.sync_type, tally)
        except Exception:  # the figures must never undo the work they describe
            logger.exception("could not record the outcome figures", extra={"tally": str(dict(tally))})
