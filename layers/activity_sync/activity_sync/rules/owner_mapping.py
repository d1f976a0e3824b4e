"""R8: HubSpot owners map to Salesforce users by email among active users; explicit overrides win.

Choices where the SPEC is silent:

* Emails are compared trimmed and lower-cased (ASCII-style `lower()`, not `casefold()`, which would
  equate different addresses such as "strasse" and "straße").
* Inactive Salesforce users are never mapped: Salesforce refuses them as a Task owner.
* Several active users with the same email: the lowest user id wins (normally the oldest user) and the
  ambiguity is reported in `OwnerMap.notes`.
* An override whose Salesforce user is unknown, inactive or not a user id is dropped (the email match
  applies instead) and reported in `notes`: writing Tasks to a user Salesforce rejects would fail them
  all. `users` must therefore include every user an override names.
* The reverse direction (R13, Salesforce user -> HubSpot owner): several owners mapped to one user ->
  an active owner before an archived one, then the lowest numeric owner id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from activity_sync.domain import HubSpotOwner, SalesforceUser
from activity_sync.rules.salesforce_ids import (
    InvalidSalesforceIdError,
    SalesforceObjectType,
    require_object_type,
    to_15,
)


class OwnerMappingNoteKind(StrEnum):
    AMBIGUOUS_EMAIL = "ambiguous_email"
    OVERRIDE_TARGET_UNUSABLE = "override_target_unusable"


@dataclass(frozen=True)
class OwnerMappingNote:
    """Something about the mapping an operator should know about (logged, not fatal)."""

    kind: OwnerMappingNoteKind
    subject: str  # the email or HubSpot owner id concerned
    message: str


@dataclass(frozen=True)
class OwnerMap:
    to_salesforce: Mapping[str, str]  # HubSpot owner id -> 18-character Salesforce user id
    to_hubspot: Mapping[str, str]  # 18-character Salesforce user id -> HubSpot owner id
    notes: tuple[OwnerMappingNote, ...] = ()

    def salesforce_user_for(self, hubspot_owner_id: str | None) -> str | None:
        return None if hubspot_owner_id is None else self.to_salesforce.get(hubspot_owner_id)

    def hubspot_owner_for(self, salesforce_user_id: str | None) -> str | None:
        if salesforce_user_id is None:
            return None
        try:
            key = require_object_type(salesforce_user_id, SalesforceObjectType.USER)
        except InvalidSalesforceIdError:
            return None
        return self.to_hubspot.get(key)


def normalize_email(email: str | None) -> str | None:
    """The comparable form of an email, None when there is none."""
    if email is None:
        return None
    normalized = email.strip().lower()
    return normalized or None


def _owner_sort_key(owner: HubSpotOwner) -> tuple[bool, int, str]:
    numeric = int(owner.id) if owner.id.isdecimal() else 2**63
    return (not owner.active, numeric, owner.id)


def build_owner_map(
    owners: Iterable[HubSpotOwner],
    users: Iterable[SalesforceUser],
    overrides: Mapping[str, str] | None = None,
) -> OwnerMap:
    """R8: the owner map. `overrides` maps a HubSpot owner id to a Salesforce user id (15 or 18
    characters) and wins over the email match."""
    notes: list[OwnerMappingNote] = []

    active_users: dict[str, SalesforceUser] = {}
    for user in users:
        if not user.is_active:
            continue
        try:
            active_users[require_object_type(user.id, SalesforceObjectType.USER)] = user
        except InvalidSalesforceIdError:
            continue

    users_by_email: dict[str, list[str]] = {}
    for user_id, user in active_users.items():
        email = normalize_email(user.email)
        if email is not None:
            users_by_email.setdefault(email, []).append(user_id)
    user_for_email: dict[str, str] = {}
    for email, user_ids in users_by_email.items():
        chosen = min(user_ids, key=to_15)
        user_for_email[email] = chosen
        if len(user_ids) > 1:
            notes.append(
                OwnerMappingNote(
                    OwnerMappingNoteKind.AMBIGUOUS_EMAIL,
                    email,
                    f"{len(user_ids)} active Salesforce users have the email {email}; using the "
                    f"lowest id {chosen}. Add an override to choose another.",
                )
            )

    usable_overrides: dict[str, str] = {}
    for owner_id, user_id in (overrides or {}).items():
        try:
            target = require_object_type(user_id, SalesforceObjectType.USER)
        except InvalidSalesforceIdError as error:
            reason = str(error)
        else:
            if target in active_users:
                usable_overrides[owner_id] = target
                continue
            reason = f"{target} is not an active Salesforce user"
        notes.append(
            OwnerMappingNote(
                OwnerMappingNoteKind.OVERRIDE_TARGET_UNUSABLE,
                owner_id,
                f"override for HubSpot owner {owner_id} ignored: {reason}",
            )
        )

    owner_list = list(owners)
    to_salesforce: dict[str, str] = {}
    for owner in owner_list:
        email = normalize_email(owner.email)
        if email is not None and email in user_for_email:
            to_salesforce[owner.id] = user_for_email[email]
    # Overrides may name owners the owner list does not contain (e.g. archived ones); they still apply.
    to_salesforce.update(usable_overrides)

    owners_by_id = {owner.id: owner for owner in owner_list}
    to_hubspot: dict[str, str] = {}
    for owner_id in sorted(
        to_salesforce,
        key=lambda owner_id: _owner_sort_key(owners_by_id.get(owner_id, HubSpotOwner(owner_id, None))),
    ):
        to_hubspot.setdefault(to_salesforce[owner_id], owner_id)

    return OwnerMap(to_salesforce=to_salesforce, to_hubspot=to_hubspot, notes=tuple(notes))
