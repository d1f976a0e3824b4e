"""R8: owners map to Salesforce users by email (case-insensitive) among active users; overrides win.
R13 uses the reverse map (Salesforce Assigned To -> HubSpot owner)."""

from __future__ import annotations

from itertools import permutations

import pytest

from activity_sync.domain import HubSpotOwner, SalesforceUser
from activity_sync.rules.owner_mapping import OwnerMappingNoteKind, build_owner_map, normalize_email

ANA_USER = "0055g00000Ab1CdAAJ"
ANA_USER_DUPLICATE = "0055g00000Ab1CeAAJ"  # created after ANA_USER: higher id
BEN_USER = "0055g00000Zz9YxAAJ"


def test_r8_owner_maps_to_the_user_with_the_same_email_ignoring_case() -> None:
    # Given a HubSpot owner Ana@Example.com and an active user ana@example.COM
    owners = [HubSpotOwner("11", "Ana@Example.com")]
    users = [SalesforceUser(ANA_USER, "ana@example.COM")]
    # When mapping / Then Ana's owner id maps to Ana's user
    assert build_owner_map(owners, users).salesforce_user_for("11") == ANA_USER


def test_r8_surrounding_whitespace_in_emails_is_ignored() -> None:
    # Given an owner email with stray spaces / When mapping / Then it still matches
    owner_map = build_owner_map(
        [HubSpotOwner("11", "  ana@example.com\t")], [SalesforceUser(ANA_USER, "ana@example.com")]
    )
    assert owner_map.salesforce_user_for("11") == ANA_USER


def test_r8_inactive_users_are_never_mapped() -> None:
    # Given the only user with Ana's email is inactive / When mapping / Then Ana is unmapped
    owner_map = build_owner_map(
        [HubSpotOwner("11", "ana@example.com")],
        [SalesforceUser(ANA_USER, "ana@example.com", is_active=False)],
    )
    assert owner_map.salesforce_user_for("11") is None


def test_r8_an_inactive_duplicate_does_not_hide_the_active_user() -> None:
    # Given an inactive (lower id) and an active user with Ana's email / When mapping / Then the active one
    users = [
        SalesforceUser(ANA_USER, "ana@example.com", is_active=False),
        SalesforceUser(ANA_USER_DUPLICATE, "ana@example.com"),
    ]
    owner_map = build_owner_map([HubSpotOwner("11", "ana@example.com")], users)
    assert owner_map.salesforce_user_for("11") == ANA_USER_DUPLICATE
    assert owner_map.notes == ()


@pytest.mark.parametrize("order", list(permutations(range(2))))
def test_r8_several_active_users_with_one_email_lowest_id_wins_and_is_reported(
    order: tuple[int, ...],
) -> None:
    # Given two active users sharing Ana's email, in any order
    users = [
        SalesforceUser(ANA_USER_DUPLICATE, "ana@example.com"),
        SalesforceUser(ANA_USER, "ANA@example.com"),
    ]
    # When mapping / Then the lowest id, every time, and a note says the email is ambiguous
    owner_map = build_owner_map([HubSpotOwner("11", "ana@example.com")], [users[index] for index in order])
    assert owner_map.salesforce_user_for("11") == ANA_USER
    assert [note.kind for note in owner_map.notes] == [OwnerMappingNoteKind.AMBIGUOUS_EMAIL]


def test_r8_an_explicit_override_wins_over_the_email_match() -> None:
    # Given Ana's email matches Ana's user, but an override sends owner 11 to Ben
    users = [SalesforceUser(ANA_USER, "ana@example.com"), SalesforceUser(BEN_USER, "ben@example.com")]
    # When mapping / Then Ben
    owner_map = build_owner_map([HubSpotOwner("11", "ana@example.com")], users, {"11": BEN_USER})
    assert owner_map.salesforce_user_for("11") == BEN_USER


def test_r8_an_override_may_use_the_15_character_id_and_name_an_owner_without_email() -> None:
    # Given an owner with no email and an override written with a 15-character user id
    owner_map = build_owner_map(
        [HubSpotOwner("12", None)], [SalesforceUser(BEN_USER, "ben@example.com")], {"12": BEN_USER[:15]}
    )
    # When mapping / Then the override applies, normalised to 18 characters
    assert owner_map.salesforce_user_for("12") == BEN_USER


@pytest.mark.parametrize(
    ("override", "users"),
    [
        (BEN_USER, [SalesforceUser(BEN_USER, "ben@example.com", is_active=False)]),
        (BEN_USER, []),
        ("0035g00000AbCdEAAV", []),
        ("garbage", []),
    ],
    ids=["inactive-user", "unknown-user", "contact-id", "malformed"],
)
def test_r8_an_override_salesforce_would_refuse_is_ignored_and_reported(
    override: str, users: list[SalesforceUser]
) -> None:
    # Given an override to an inactive, unknown, non-user or malformed id, and Ana's email match
    all_users = [SalesforceUser(ANA_USER, "ana@example.com"), *users]
    # When mapping / Then the email match applies and a note explains the override was dropped
    owner_map = build_owner_map([HubSpotOwner("11", "ana@example.com")], all_users, {"11": override})
    assert owner_map.salesforce_user_for("11") == ANA_USER
    assert [note.kind for note in owner_map.notes] == [OwnerMappingNoteKind.OVERRIDE_TARGET_UNUSABLE]
    assert "11" in owner_map.notes[0].message


@pytest.mark.parametrize("email", [None, "", "   "])
def test_r8_an_owner_without_email_is_unmapped(email: str | None) -> None:
    # Given an owner and a user without emails / When mapping / Then no match on "no email"
    owner_map = build_owner_map([HubSpotOwner("11", email)], [SalesforceUser(ANA_USER, email)])
    assert owner_map.salesforce_user_for("11") is None
    assert owner_map.salesforce_user_for(None) is None


def test_r8_emails_compare_lower_cased_not_case_folded() -> None:
    # Given two addresses that only casefold() would equate / When normalising / Then they differ
    assert normalize_email(" Ana@Example.COM ") == "ana@example.com"
    assert normalize_email("straße@example.com") != normalize_email("strasse@example.com")


def test_r13_reverse_map_prefers_the_active_owner_then_the_lowest_id() -> None:
    # Given three HubSpot owners with Ana's email: an archived one with the lowest id, two active
    owners = [
        HubSpotOwner("30", "ana@example.com"),
        HubSpotOwner("5", "ana@example.com", active=False),
        HubSpotOwner("20", "ana@example.com"),
    ]
    owner_map = build_owner_map(owners, [SalesforceUser(ANA_USER, "ana@example.com")])
    # When asking which owner Ana's user is (even by 15-character id) / Then the active owner 20
    assert owner_map.hubspot_owner_for(ANA_USER) == "20"
    assert owner_map.hubspot_owner_for(ANA_USER[:15]) == "20"


@pytest.mark.parametrize("user_id", [None, "garbage", BEN_USER])
def test_r13_unknown_or_invalid_users_have_no_hubspot_owner(user_id: str | None) -> None:
    # Given a map that knows only Ana / When asking for Ben, nobody or garbage / Then None
    owner_map = build_owner_map(
        [HubSpotOwner("11", "ana@example.com")], [SalesforceUser(ANA_USER, "ana@example.com")]
    )
    assert owner_map.hubspot_owner_for(user_id) is None
