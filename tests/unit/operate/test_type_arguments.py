"""The operator commands' TYPE argument: a key, a name one direction has, or a clear error that
names only what could be meant."""

from __future__ import annotations

import pytest

from activity_sync_tools.operate.target import queue_key


def test_a_name_only_one_direction_has_is_its_key() -> None:
    assert queue_key("note") == "hubspot_to_salesforce#note"
    assert queue_key("salesforce_to_hubspot#call") == "salesforce_to_hubspot#call"
    assert queue_key("contact_changes") == "contact_changes"


def test_a_name_both_directions_have_is_ambiguous_and_the_error_names_the_two() -> None:
    with pytest.raises(SystemExit) as refused:
        queue_key("call")
    assert str(refused.value) == (
        "error: 'call' is ambiguous: hubspot_to_salesforce#call or salesforce_to_hubspot#call"
    )


def test_an_unknown_name_lists_every_type() -> None:
    with pytest.raises(SystemExit) as refused:
        queue_key("webinar")
    assert "is not a type; one of:" in str(refused.value)
    assert "hubspot_to_salesforce#note" in str(refused.value)
