"""Salesforce ids: 15 <-> 18 characters, validation, normalisation of user input, key prefixes
(used by R3 WhoId/OwnerId, R4 links, R8 overrides, S4 integration user)."""

from __future__ import annotations

import pytest

from activity_sync.rules.salesforce_ids import (
    InvalidSalesforceIdError,
    SalesforceObjectType,
    checksum_suffix,
    is_valid_salesforce_id,
    normalize_salesforce_id,
    object_type_of,
    require_object_type,
    same_salesforce_id,
    to_15,
    to_18,
)


@pytest.mark.parametrize(
    ("id15", "id18"),
    [
        # Worked by hand: chunks "00D00" | "00000" | "00062". Only "D" (position 2 of chunk 1) is an
        # upper-case letter -> 0b00100 = 4 -> "E"; the other chunks have none -> 0 -> "A". Suffix "EAA".
        ("00D000000000062", "00D000000000062EAA"),
        # From Salesforce's Visualforce docs: "001D0" has D at position 3 -> 8 -> "I"; "00000" -> "A";
        # "IRt53" has I (bit 0) and R (bit 1) -> 3 -> "D".
        ("001D000000IRt53", "001D000000IRt53IAD"),
        # "QqeJZ": Q (bit 0) + J (bit 3) + Z (bit 4) = 1 + 8 + 16 = 25 -> "Z".
        ("003D000000QqeJZ", "003D000000QqeJZIAZ"),
        # "AbCdE": A (1) + C (4) + E (16) = 21 -> "V".
        ("0035g00000AbCdE", "0035g00000AbCdEAAV"),
        # All five upper-case in every chunk: 31 -> "5", the last letter of the A-Z0-5 alphabet.
        ("ABCDEFGHIJKLMNO", "ABCDEFGHIJKLMNO555"),
    ],
)
def test_salesforce_15_character_id_converts_to_18(id15: str, id18: str) -> None:
    # Given a 15-character id / When converting / Then the documented 18-character form
    assert to_18(id15) == id18
    assert checksum_suffix(id15) == id18[15:]


@pytest.mark.parametrize("value", ["00D000000000062", "00D000000000062EAA", "  00D000000000062EAA\n"])
def test_salesforce_id_input_in_either_form_normalises_to_18(value: str) -> None:
    # Given user input as 15 or 18 characters (with stray whitespace) / When normalising / Then 18
    assert normalize_salesforce_id(value) == "00D000000000062EAA"


@pytest.mark.parametrize("value", ["001d000000irt53iad", "001D000000IRT53IAD"])
def test_salesforce_18_character_id_with_lost_case_is_repaired_from_its_suffix(value: str) -> None:
    # Given an 18-character id lower- or upper-cased by a spreadsheet / When normalising
    # Then the suffix restores the real case
    assert normalize_salesforce_id(value) == "001D000000IRt53IAD"
    assert to_15(value) == "001D000000IRt53"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "001D000000IRt5",  # 14 characters
        "001D000000IRt53I",  # 16 characters
        "001D000000IRt53-",  # not alphanumeric
        "001D000000IRt53IA!",
        "001D000000IRt53IA9",  # 9 is outside the suffix alphabet A-Z0-5
        "001D000000IRt53IA5",  # suffix says all of chunk 3 are letters, but it holds digits
    ],
)
def test_salesforce_id_rejects_malformed_values(value: str) -> None:
    # Given text that is not a Salesforce id / When normalising / Then a clear error, and invalid
    with pytest.raises(InvalidSalesforceIdError, match=r"Salesforce id|suffix"):
        normalize_salesforce_id(value)
    assert not is_valid_salesforce_id(value)


@pytest.mark.parametrize(
    ("record_id", "object_type"),
    [
        ("0035g00000AbCdE", SalesforceObjectType.CONTACT),
        ("00Q5g00000XyZab", SalesforceObjectType.LEAD),
        ("0055g00000Ab1Cd", SalesforceObjectType.USER),
        ("0015g00000AbCdE", SalesforceObjectType.ACCOUNT),
        ("0065g00000AbCdE", SalesforceObjectType.OPPORTUNITY),
        ("00T5g000001aBcD", SalesforceObjectType.TASK),
        ("00U5g000001aBcD", SalesforceObjectType.EVENT),
        ("00D000000000062", SalesforceObjectType.ORGANIZATION),
        ("a015g000001aBcD", None),
    ],
)
def test_salesforce_key_prefix_names_the_object(
    record_id: str, object_type: SalesforceObjectType | None
) -> None:
    # Given an id / When reading its 3-character key prefix / Then the object (None for custom ones)
    assert object_type_of(record_id) == object_type


def test_salesforce_id_of_the_wrong_object_is_refused_with_both_objects_named() -> None:
    # Given a Lead id where a User is required / When requiring a User / Then the error names both
    with pytest.raises(InvalidSalesforceIdError, match="is Lead, expected User"):
        require_object_type("00Q5g00000XyZab", SalesforceObjectType.USER)


def test_salesforce_id_of_an_expected_object_comes_back_normalised() -> None:
    # Given a 15-character Lead id / When requiring a Contact or a Lead / Then its 18-character form
    assert require_object_type(
        "00Q5g00000XyZab", SalesforceObjectType.CONTACT, SalesforceObjectType.LEAD
    ) == ("00Q5g00000XyZabEAF")


def test_salesforce_ids_compare_across_forms() -> None:
    # Given one record as 15 and as 18 characters, a different record, and garbage / When comparing
    assert same_salesforce_id("001D000000IRt53", "001d000000irt53iad")
    assert not same_salesforce_id("001D000000IRt53", "001D000000IRt54")
    # Then 15-character ids differing only in case are different records
    assert not same_salesforce_id("001D000000IRt53", "001D000000IRT53")
    assert not same_salesforce_id("garbage", "garbage")
