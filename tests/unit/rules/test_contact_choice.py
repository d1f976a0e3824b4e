"""R6 (which contact gets the single Task) and R4 (which Salesforce person a contact syncs with)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from itertools import permutations

import pytest

from activity_sync.domain import ContactCandidate
from activity_sync.rules.contact_choice import (
    PersonLinkSource,
    SalesforcePersonMatch,
    choose_contact,
    resolve_salesforce_person,
)

SF_CONTACT = "0035g00000AbCdEAAV"
SF_CONTACT_OTHER = "003D000000QqeJZIAZ"
SF_LEAD = "00Q5g00000XyZabEAF"
SF_LEAD_OTHER = "00Q5g00000XyZacEAF"
MAY_1 = datetime(2024, 5, 1, tzinfo=UTC)


def contact(hubspot_id: str, created_at: datetime, syncs: bool = True) -> ContactCandidate:
    return ContactCandidate(hubspot_id, created_at, SF_CONTACT if syncs else None)


def test_r6_most_recently_created_syncing_contact_wins() -> None:
    # Given two syncing contacts created on different days / When choosing / Then the newer one
    older, newer = contact("900", MAY_1), contact("100", MAY_1 + timedelta(days=1))
    assert choose_contact([older, newer]) == newer


def test_r6_a_newer_contact_that_does_not_sync_is_passed_over() -> None:
    # Given the newest contact does not sync / When choosing / Then the newest one that syncs
    syncing, not_syncing = contact("1", MAY_1), contact("2", MAY_1 + timedelta(days=5), syncs=False)
    assert choose_contact([not_syncing, syncing]) == syncing


def test_r6_contacts_created_on_the_same_date_highest_object_id_wins() -> None:
    # Given two syncing contacts created the same day, the higher id in the morning
    morning_high_id = contact("5000", MAY_1 + timedelta(hours=8))
    evening_low_id = contact("4000", MAY_1 + timedelta(hours=20))
    # When choosing / Then the higher id wins although the other was created later that day
    assert choose_contact([evening_low_id, morning_high_id]) == morning_high_id


def test_r6_object_ids_are_compared_as_numbers_not_text() -> None:
    # Given ids 99 and 100 on the same date ("99" > "100" as text) / When choosing / Then 100 wins
    assert choose_contact([contact("99", MAY_1), contact("100", MAY_1)]) == contact("100", MAY_1)


def test_r6_a_later_date_beats_a_higher_id() -> None:
    # Given a high id on May 1 and a low id just after midnight on May 2 / When choosing
    # Then the later date wins: the id only breaks ties within a date
    high, later = (
        contact("999999", MAY_1 + timedelta(hours=23, minutes=59)),
        contact("1", MAY_1 + timedelta(days=1)),
    )
    assert choose_contact([high, later]) == later


def test_r6_same_date_is_judged_in_the_time_zone_passed() -> None:
    # Given contact 2 at May 1 23:30 UTC and contact 1 at May 2 00:30 UTC (both May 1 in UTC-4)
    first, second = (
        contact("1", MAY_1 + timedelta(hours=24, minutes=30)),
        contact("2", MAY_1 + timedelta(hours=23, minutes=30)),
    )
    # When choosing in UTC / Then the May 2 contact; in UTC-4 both are May 1 / Then the higher id
    assert choose_contact([first, second]) == first
    assert choose_contact([first, second], tz=timezone(timedelta(hours=-4))) == second


@pytest.mark.parametrize("order", list(permutations(range(3))))
def test_r6_the_choice_does_not_depend_on_association_order(order: tuple[int, ...]) -> None:
    # Given three contacts in any order / When choosing / Then always the same winner
    candidates = [contact("10", MAY_1), contact("30", MAY_1), contact("20", MAY_1 - timedelta(days=1))]
    assert choose_contact([candidates[index] for index in order]) == candidates[1]


@pytest.mark.parametrize(
    "candidates", [[], [contact("1", MAY_1, syncs=False)]], ids=["no-contacts", "none-syncs"]
)
def test_r4_no_syncing_contact_means_no_choice(candidates: list[ContactCandidate]) -> None:
    # Given no contact that syncs / When choosing / Then None (the activity waits: CONTACT_NOT_SYNCING)
    assert choose_contact(candidates) is None


def test_r4_the_integrations_own_link_wins_over_hubspot_properties() -> None:
    # Given a stored link to a Lead and a salesforcecontactid / When resolving / Then the stored link
    match = resolve_salesforce_person(SF_LEAD, SF_CONTACT, None)
    assert match == SalesforcePersonMatch(SF_LEAD, PersonLinkSource.INTEGRATION_LINK)
    assert match.is_lead


def test_r4_salesforcecontactid_comes_before_salesforceleadid() -> None:
    # Given both properties set / When resolving / Then the Contact (Contact before Lead)
    match = resolve_salesforce_person(None, SF_CONTACT, SF_LEAD)
    assert match == SalesforcePersonMatch(SF_CONTACT, PersonLinkSource.SALESFORCE_CONTACT_ID_PROPERTY)


def test_r4_salesforceleadid_is_used_when_there_is_no_contact_id() -> None:
    # Given only salesforceleadid / When resolving / Then the Lead
    match = resolve_salesforce_person(None, None, SF_LEAD, [SF_CONTACT])
    assert match == SalesforcePersonMatch(SF_LEAD, PersonLinkSource.SALESFORCE_LEAD_ID_PROPERTY)


def test_r4_email_match_prefers_contacts_to_leads() -> None:
    # Given no link but a Contact and a Lead with the contact's email / When resolving / Then the Contact
    match = resolve_salesforce_person(None, None, None, [SF_CONTACT], [SF_LEAD])
    assert match == SalesforcePersonMatch(SF_CONTACT, PersonLinkSource.EMAIL_CONTACT_MATCH)


def test_r4_email_match_falls_back_to_a_lead() -> None:
    # Given only a Lead with the email / When resolving / Then the Lead
    assert resolve_salesforce_person(None, None, None, [], [SF_LEAD]) == SalesforcePersonMatch(
        SF_LEAD, PersonLinkSource.EMAIL_LEAD_MATCH
    )


@pytest.mark.parametrize("matches", [[SF_LEAD_OTHER, SF_LEAD], [SF_LEAD, SF_LEAD_OTHER]])
def test_r4_several_records_with_the_email_lowest_id_wins_whatever_the_order(matches: list[str]) -> None:
    # Given two Leads with the same email (…XyZab < …XyZac) / When resolving in any order / Then …XyZab
    assert resolve_salesforce_person(None, None, None, [], matches) == SalesforcePersonMatch(
        SF_LEAD, PersonLinkSource.EMAIL_LEAD_MATCH
    )


def test_r4_lowest_id_compares_the_case_sensitive_form() -> None:
    # Given 003D000000QqeJZ and 0035g00000AbCdE ("5" < "D" in Salesforce's 0-9A-Za-z order)
    # When resolving by email / Then 0035g… is the lower id
    match = resolve_salesforce_person(None, None, None, [SF_CONTACT_OTHER, SF_CONTACT])
    assert match is not None
    assert match.person_id == SF_CONTACT


def test_r4_malformed_or_wrong_object_ids_are_skipped() -> None:
    # Given a garbage link, a Lead id in salesforcecontactid and a User id in salesforceleadid
    # When resolving / Then those are ignored and the email match is used
    match = resolve_salesforce_person("not-an-id", SF_LEAD, "0055g00000Ab1CdAAJ", [SF_CONTACT])
    assert match == SalesforcePersonMatch(SF_CONTACT, PersonLinkSource.EMAIL_CONTACT_MATCH)


def test_r4_15_character_ids_are_normalised_to_18() -> None:
    # Given salesforcecontactid in its 15-character form / When resolving / Then the 18-character id
    match = resolve_salesforce_person(None, " 0035g00000AbCdE ", None)
    assert match is not None
    assert match.person_id == SF_CONTACT


def test_r4_a_contact_with_no_link_and_no_email_match_does_not_sync() -> None:
    # Given nothing links the contact / When resolving / Then None
    assert resolve_salesforce_person(None, "", "  ") is None
