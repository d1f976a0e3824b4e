"""R8/R18: the owner map is built once per ten minutes for the whole stack, not once per container:
the first container that needs it asks the vendors, the others read it from the sync state table."""

from __future__ import annotations

from typing import Any, cast

from activity_sync.adapters.dynamodb import LinkRepository, SettingsRepository, SyncStateRepository
from activity_sync.domain import HubSpotOwner, SalesforceUser
from activity_sync.ports import HubSpotApi, SalesforceApi
from activity_sync.usecases.directories import OWNER_MAP_TTL_SECONDS, OwnerDirectory

ANA_USER = "005000000000001AAA"


class Vendors:
    """Just the calls the owner map makes, counted."""

    def __init__(self) -> None:
        self.owner_reads = 0
        self.user_reads = 0

    def owners(self) -> list[HubSpotOwner]:
        self.owner_reads += 1
        return [HubSpotOwner(id="77", email="ana@example.com", active=True)]

    def active_users(self) -> list[SalesforceUser]:
        self.user_reads += 1
        return [SalesforceUser(id=ANA_USER, email="ana@example.com")]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _container(vendors: Vendors, clock: Clock) -> OwnerDirectory:
    return OwnerDirectory(
        lambda: cast(HubSpotApi, vendors),
        lambda: cast(SalesforceApi, vendors),
        SettingsRepository(),
        LinkRepository(),
        state=SyncStateRepository(),
        clock=clock,
    )


def test_r8_r18_containers_share_one_owner_map_build(tables: dict[str, Any]) -> None:
    # Given three containers (a syncer's, another syncer's, the contact linker's)
    vendors, clock = Vendors(), Clock()
    first, second, third = (_container(vendors, clock) for _ in range(3))

    # When each of them needs the owner map
    maps = [directory.current() for directory in (first, second, third)]

    # Then the vendors were asked once, and every container maps Ana's owner to her user
    assert (vendors.owner_reads, vendors.user_reads) == (1, 1)
    assert [m.salesforce_user_for("77") for m in maps] == [ANA_USER] * 3
    assert [m.hubspot_owner_for(ANA_USER) for m in maps] == ["77"] * 3


def test_r8_a_container_keeps_its_map_ten_minutes_then_reads_the_stacks_again(tables: dict[str, Any]) -> None:
    # Given a container that built the map
    vendors, clock = Vendors(), Clock()
    directory = _container(vendors, clock)
    directory.current()

    # When it asks again within ten minutes
    clock.now += OWNER_MAP_TTL_SECONDS - 1
    directory.current()

    # Then nothing is read again
    assert (vendors.owner_reads, vendors.user_reads) == (1, 1)
