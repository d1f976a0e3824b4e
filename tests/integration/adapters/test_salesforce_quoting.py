"""Unit tests of the pieces of the Salesforce adapter that need no org: SOQL string quoting (no
injection through an email address) and the JWT audience derived from the token URL."""

from __future__ import annotations

import re

import pytest

from activity_sync.adapters.salesforce_answers import soql_quote
from activity_sync.adapters.salesforce_oauth import default_jwt_audience

# A SOQL string literal: quotes around characters that are neither a quote nor a backslash, or
# an escape sequence Salesforce accepts.
_LITERAL = re.compile(r"'(?:[^'\\\n\r]|\\[nrtbf\"'\\])*'")


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("ada@example.com", "'ada@example.com'"),
        ("o'brien@example.com", r"'o\'brien@example.com'"),
        ("x' OR Name != '", r"'x\' OR Name != \''"),
        ("x') OR (Email != '", r"'x\') OR (Email != \''"),
        ("back\\slash", r"'back\\slash'"),
        ("x\\' OR Id != \\'", r"'x\\\' OR Id != \\\''"),
        ('say "hi"', r"'say \"hi\"'"),
        ("line\nbreak\r\ttab", r"'line\nbreak\r\ttab'"),
        ("", "''"),
    ],
)
def test_soql_quote_escapes_every_character_that_could_end_the_literal(value: str, quoted: str) -> None:
    assert soql_quote(value) == quoted
    # The whole result is one literal: nothing of the value can escape into the query.
    assert _LITERAL.fullmatch(soql_quote(value))


def test_soql_quote_round_trips_through_salesforce_unescaping() -> None:
    escapes = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
    value = "a'b\\c\"d\ne\rf\tg\bh\fi"
    body = soql_quote(value)[1:-1]
    unescaped = re.sub(r"\\(.)", lambda m: escapes[m.group(1)], body)
    assert unescaped == value


@pytest.mark.parametrize(
    ("token_url", "audience"),
    [
        ("https://login.salesforce.com/services/oauth2/token", "https://login.salesforce.com"),
        ("https://test.salesforce.com/services/oauth2/token", "https://test.salesforce.com"),
        ("https://acme.my.salesforce.com/services/oauth2/token", "https://login.salesforce.com"),
        ("https://acme--uat.sandbox.my.salesforce.com/services/oauth2/token", "https://test.salesforce.com"),
        ("https://localhost:8443/services/oauth2/token", "https://localhost:8443"),
    ],
)
def test_default_jwt_audience(token_url: str, audience: str) -> None:
    assert default_jwt_audience(token_url) == audience
