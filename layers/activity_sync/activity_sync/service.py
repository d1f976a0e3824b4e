"""The one place that wires adapters to use cases: builds the service's objects from a Lambda's
environment - the stack's resources (the stack's directory in SSM), the vendor connections (SSM),
the repositories, the queues, the API budgets and the use cases. Queue consumers and the poller
call ``service()`` once per container and ``begin(...)`` once per invocation; the webhook receiver
calls ``receiver()``, which builds only what it needs (its cold start). Clients are rebuilt when
their credentials change in SSM, so a rotated secret takes effect without a redeploy (S3).
"""

from __future__ import annotations

from functools import cache, cached_property
from typing import TYPE_CHECKING

from aws_lambda_powertools.metrics import MetricUnit

# What every function uses; the vendor clients and the API budget are imported by the functions
# that call the vendors (``Service``), not by the receiver (its cold start).
from activity_sync.adapters.budget import HUBSPOT, SALESFORCE
from activity_sync.adapters.dynamodb import (
    LinkRepository,
    SettingsRepository,
    SyncStateRepository,
    bind_tables,
)
from activity_sync.adapters.queues import ChangeQueues, SqsDeadLetterQueue, dead_letter_queue_from_environ
from activity_sync.config import ConnectionSettings, RuntimeConfig, load_connection_settings
from activity_sync.domain import HubSpotActivityType, SalesforceActivityType, SyncType
from activity_sync.observability import logger, metrics
from activity_sync.rules.priority import priority_of

VENDOR_CALL_METRICS = {HUBSPOT: "HubSpotApiCalls", SALESFORCE: "SalesforceApiCalls"}

if TYPE_CHECKING:
    from activity_sync.adapters.budget import VendorLimits
    from activity_sync.adapters.hubspot_api import HubSpotClient
    from activity_sync.adapters.salesforce_api import SalesforceClient
    from activity_sync.usecases.directories import OwnerDirectory

    # Each handler imports only the use case it runs (cold start): see the factories below.
    from activity_sync.usecases.hubspot_to_salesforce import HubSpotToSalesforce
    from activity_sync.usecases.ingest import Receiver
    from activity_sync.usecases.link_contacts import ContactLinker
    from activity_sync.usecases.poll import PollCaches, Poller
    from activity_sync.usecases.salesforce_to_hubspot import SalesforceToHubSpot


class Service:
    def __init__(self, config: RuntimeConfig, *, metered: bool = True) -> None:
        """``metered=False``: vendor calls are not charged to the shared budget (which writes to
        the sync state table): the operator's read-only checks."""
        from activity_sync.adapters.budget import ApiBudget
        from activity_sync.adapters.http import Deadline
        from activity_sync.usecases.directories import ContactDirectory

        self.config = config
        self.metered = metered
        bind_tables(config)
        self.settings = SettingsRepository()
        self.links = LinkRepository()
        self.state = SyncStateRepository()
        self.queues = ChangeQueues(config)
        self._hubspot: tuple[tuple[str, str], HubSpotClient] | None = None
        self._salesforce: tuple[tuple[str | None, ...], SalesforceClient] | None = None
        self._owners: OwnerDirectory | None = None
        self.contacts = ContactDirectory(self.hubspot, links=self.links)
        # Shared by both clients: when this invocation's vendor calls must be over.
        self.deadline = Deadline()
        self._calls_before: dict[str, int] = {}
        self._dead_letter_queues: dict[str, SqsDeadLetterQueue] = {}
        self.budgets = {
            HUBSPOT: ApiBudget(HUBSPOT, config.sync_state_table, self._hubspot_limits),
            SALESFORCE: ApiBudget(SALESFORCE, config.sync_state_table, self._salesforce_limits),
        }

    # -- one invocation --------------------------------------------------------------------------
    def begin(self, sync_type: SyncType | None, call_seconds: float | None) -> None:
        """An invocation starts: its vendor calls are for ``sync_type`` (its priority and its share
        of the API figures; None for work that serves every type) and must be over within
        ``call_seconds`` (None: no limit)."""
        for budget in self.budgets.values():
            budget.priority = priority_of(sync_type)
            budget.sync_key = sync_type.key if sync_type else None
        self._calls_before = {vendor: budget.acquired for vendor, budget in self.budgets.items()}
        if call_seconds is None:
            self.deadline.clear()
        else:
            self.deadline.set_in(call_seconds)

    def begin_batch(self, sync_type: SyncType | None, remaining_seconds: float) -> None:
        """A queue consumer's invocation starts with ``remaining_seconds`` left: its vendor calls,
        retries included, end in time to settle every message of the batch."""
        from activity_sync.adapters.http import call_seconds

        self.begin(sync_type, call_seconds(remaining_seconds))

    def dead_letter_queue(self, queue_key: str) -> SqsDeadLetterQueue:
        """This function's dead-letter queue: one dead letter per record and reason (the registry
        in the sync state table)."""
        if queue_key not in self._dead_letter_queues:
            self._dead_letter_queues[queue_key] = dead_letter_queue_from_environ(
                queue_key, claim=self.state.claim_dead_letter
            )
        return self._dead_letter_queues[queue_key]

    def report_vendor_calls(self) -> None:
        """This invocation's calls per vendor, as metrics (the dashboard's API calls)."""
        for vendor, budget in self.budgets.items():
            calls = budget.acquired - self._calls_before.get(vendor, 0)
            metrics.add_metric(name=VENDOR_CALL_METRICS[vendor], unit=MetricUnit.Count, value=calls)

    def end(self) -> None:
        """An invocation is over: its vendor calls reported, and the Salesforce user the service
        signs in as recorded (once per container, when it changed), for the receiver's echo check
        (R14)."""
        self.report_vendor_calls()
        client = self._salesforce[1] if self._salesforce else None
        user_id = client.known_user_id if client is not None else None
        if user_id:
            try:
                self.settings.remember_salesforce_api_user(user_id)
            except Exception:  # a figure for the receiver; the invocation's work is done
                logger.exception("could not record the Salesforce API user")

    def _hubspot_limits(self) -> VendorLimits:
        from activity_sync.adapters.budget import (
            DEFAULT_HUBSPOT_REQUESTS_PER_10S,
            DEFAULT_HUBSPOT_SEARCHES_PER_SECOND,
            HUBSPOT_WINDOW_SECONDS,
            VendorLimits,
        )

        current = self.settings.global_settings()
        return VendorLimits.rolling(
            current.hubspot_requests_per_10s or DEFAULT_HUBSPOT_REQUESTS_PER_10S,
            HUBSPOT_WINDOW_SECONDS,
            searches_per_second=current.hubspot_searches_per_second or DEFAULT_HUBSPOT_SEARCHES_PER_SECOND,
            daily_allocation=current.hubspot_daily_allocation,
        )

    def _salesforce_limits(self) -> VendorLimits:
        from activity_sync.adapters.budget import VendorLimits

        return VendorLimits(daily_allocation=self.settings.global_settings().salesforce_daily_allocation)

    # -- vendors ---------------------------------------------------------------------------------
    def connection(self) -> ConnectionSettings:
        return load_connection_settings(self.config)

    def hubspot(self) -> HubSpotClient:
        from activity_sync.adapters.hubspot_api import HubSpotClient

        connection = self.connection()
        key = (connection.hubspot_api_base_url, connection.require("hubspot/private-app-token"))
        if self._hubspot is None or self._hubspot[0] != key:
            self._hubspot = (
                key,
                HubSpotClient(
                    *key, budget=self.budgets[HUBSPOT] if self.metered else None, deadline=self.deadline
                ),
            )
        return self._hubspot[1]

    def salesforce(self) -> SalesforceClient:
        from activity_sync.adapters.salesforce_api import SalesforceClient
        from activity_sync.adapters.salesforce_oauth import SalesforceAuth

        connection = self.connection()
        flow = connection.get("salesforce/auth-flow") or "client_credentials"
        token_url = connection.require("salesforce/token-url")
        client_id = connection.require("salesforce/client-id")
        secret = connection.require("salesforce/client-secret") if flow == "client_credentials" else None
        username = connection.require("salesforce/username") if flow == "jwt_bearer" else None
        private_key = connection.require("salesforce/jwt-private-key") if flow == "jwt_bearer" else None
        api_version = connection.get("salesforce/api-version") or "62.0"
        key = (token_url, client_id, flow, secret, username, private_key, api_version)
        if self._salesforce is None or self._salesforce[0] != key:
            auth = SalesforceAuth(
                token_url,
                client_id,
                flow="jwt_bearer" if flow == "jwt_bearer" else "client_credentials",
                client_secret=secret,
                username=username,
                private_key_pem=private_key,
            )
            client = SalesforceClient(
                auth,
                api_version,
                budget=self.budgets[SALESFORCE] if self.metered else None,
                deadline=self.deadline,
            )
            self._salesforce = (key, client)
        return self._salesforce[1]

    def owners(self) -> OwnerDirectory:
        from activity_sync.usecases.directories import OwnerDirectory

        if self._owners is None:
            self._owners = OwnerDirectory(
                self.hubspot, self.salesforce, self.settings, self.links, state=self.state
            )
        return self._owners

    @cached_property
    def poll_caches(self) -> PollCaches:
        from activity_sync.usecases.poll import PollCaches

        return PollCaches(forms_seconds=self.config.poll_forms_list_seconds)

    def hubspot_to_salesforce(self, activity_type: HubSpotActivityType) -> HubSpotToSalesforce:
        from activity_sync.usecases.hubspot_to_salesforce import HubSpotToSalesforce

        return HubSpotToSalesforce(
            activity_type,
            settings=self.settings,
            links=self.links,
            state=self.state,
            hubspot=self.hubspot(),
            salesforce=self.salesforce(),
            queues=self.queues,
            owners=self.owners(),
            contacts=self.contacts,
        )

    def salesforce_to_hubspot(self, sync_type: SyncType) -> SalesforceToHubSpot:
        from activity_sync.usecases.salesforce_to_hubspot import SalesforceToHubSpot

        return SalesforceToHubSpot(
            SalesforceActivityType(sync_type.type),
            settings=self.settings,
            links=self.links,
            state=self.state,
            hubspot=self.hubspot(),
            salesforce=self.salesforce(),
            owners=self.owners(),
            # A record that reached this type's syncer without its subtype is handled by its own.
            siblings=lambda actual: self.salesforce_to_hubspot(SyncType.salesforce_to_hubspot(actual)),
        )

    def poller(self) -> Poller:
        from activity_sync.usecases.poll import Poller

        # Clients are built on first use: a poll with only HubSpot types on needs no Salesforce login.
        return Poller(
            settings=self.settings,
            state=self.state,
            links=self.links,
            hubspot=self.hubspot,
            salesforce=self.salesforce,
            queues=self.queues,
            budgets=list(self.budgets.values()),
            caches=self.poll_caches,
            settle=self.config.poll_settle,
        )

    def contact_linker(self) -> ContactLinker:
        from activity_sync.usecases.link_contacts import ContactLinker

        return ContactLinker(
            settings=self.settings,
            links=self.links,
            state=self.state,
            hubspot=self.hubspot(),
            salesforce=self.salesforce(),
            queues=self.queues,
        )


@cache
def service() -> Service:
    return Service(RuntimeConfig.load())


@cache
def receiver() -> Receiver:
    """The webhook receiver's use case, with only what it needs: the settings (the service's own
    Salesforce user, R14), the change queues, the idempotency table and the receiver's secrets."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from activity_sync.config import RECEIVER_PARAMETERS
    from activity_sync.usecases.ingest import Receiver

    config = RuntimeConfig.load()
    bind_tables(config)
    settings = SettingsRepository()
    return Receiver(
        lambda force_fetch=False: load_connection_settings(
            config, RECEIVER_PARAMETERS, force_fetch=force_fetch
        ),
        ChangeQueues(config),
        idempotency=DynamoDBPersistenceLayer(table_name=config.idempotency_table),
        service_user=lambda: settings.global_settings().salesforce_api_user_id,
    )
