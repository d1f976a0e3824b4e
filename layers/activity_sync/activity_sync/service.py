"""Builds the service's objects from a Lambda's environment: the stack's resources (environment
variables), the vendor connections (SSM), the repositories and the use cases. Handlers call
``service()`` once per container; clients are rebuilt when their credentials change in SSM, so a
rotated secret takes effect without a redeploy (S3).
"""

from __future__ import annotations

from functools import cache

from activity_sync.adapters.dynamodb import (
    LinkRepository,
    SettingsRepository,
    SyncStateRepository,
    bind_tables,
)
from activity_sync.adapters.hubspot_api import HubSpotClient
from activity_sync.adapters.queues import ChangeQueues
from activity_sync.adapters.salesforce_api import SalesforceAuth, SalesforceClient
from activity_sync.config import ConnectionSettings, RuntimeConfig, load_connection_settings
from activity_sync.domain import HubSpotActivityType, SalesforceActivityType, SyncType
from activity_sync.usecases.directories import ContactDirectory, OwnerDirectory
from activity_sync.usecases.hubspot_to_salesforce import HubSpotToSalesforce
from activity_sync.usecases.link_contacts import ContactLinker
from activity_sync.usecases.poll import Poller
from activity_sync.usecases.salesforce_to_hubspot import SalesforceToHubSpot


class Service:
    def __init__(self, config: RuntimeConfig) -> None:
        self.config = config
        bind_tables(config)
        self.settings = SettingsRepository()
        self.links = LinkRepository()
        self.state = SyncStateRepository()
        self.queues = ChangeQueues(config)
        self._hubspot: tuple[tuple[str, str], HubSpotClient] | None = None
        self._salesforce: tuple[tuple[str | None, ...], SalesforceClient] | None = None
        self._owners: OwnerDirectory | None = None
        self.contacts = ContactDirectory(self.hubspot)

    def connection(self) -> ConnectionSettings:
        return load_connection_settings(self.config)

    def hubspot(self) -> HubSpotClient:
        connection = self.connection()
        key = (connection.hubspot_api_base_url, connection.require("hubspot/private-app-token"))
        if self._hubspot is None or self._hubspot[0] != key:
            self._hubspot = (key, HubSpotClient(*key))
        return self._hubspot[1]

    def salesforce(self) -> SalesforceClient:
        connection = self.connection()
        flow = connection.get("salesforce/auth-flow") or "client_credentials"
        key: tuple[str | None, ...] = (
            connection.require("salesforce/token-url"),
            connection.require("salesforce/client-id"),
            flow,
            connection.require("salesforce/client-secret") if flow == "client_credentials" else None,
            connection.require("salesforce/username") if flow == "jwt_bearer" else None,
            connection.require("salesforce/jwt-private-key") if flow == "jwt_bearer" else None,
            connection.get("salesforce/api-version") or "62.0",
        )
        if self._salesforce is None or self._salesforce[0] != key:
            token_url, client_id, _, secret, username, private_key, api_version = key
            assert token_url is not None
            assert client_id is not None
            assert api_version is not None
            auth = SalesforceAuth(
                token_url,
                client_id,
                flow="jwt_bearer" if flow == "jwt_bearer" else "client_credentials",
                client_secret=secret,
                username=username,
                private_key_pem=private_key,
            )
            self._salesforce = (key, SalesforceClient(auth, api_version))
        return self._salesforce[1]

    def owners(self) -> OwnerDirectory:
        if self._owners is None:
            self._owners = OwnerDirectory(self.hubspot, self.salesforce, self.settings, self.links)
        return self._owners

    def hubspot_to_salesforce(self, activity_type: HubSpotActivityType) -> HubSpotToSalesforce:
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
        # Clients are built on first use: a poll with only HubSpot types on needs no Salesforce login.
        return Poller(
            settings=self.settings,
            state=self.state,
            hubspot=self.hubspot,
            salesforce=self.salesforce,
            queues=self.queues,
        )

    def contact_linker(self) -> ContactLinker:
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
