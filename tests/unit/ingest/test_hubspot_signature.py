"""R17: HubSpot webhooks must carry a fresh, valid v3 signature."""

from __future__ import annotations

import datetime as dt

import pytest
from hubspot.utils.signature import Signature

from activity_sync.rules.hubspot_webhooks import WebhookRejected, decode_signed_uri, sign_v3, verify_v3

SECRET = "test-client-secret"
URL = "https://hooks.example.com/webhooks/hubspot"
BODY = '[{"eventId":1}]'
NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
NOW_MS = str(int(NOW.timestamp() * 1000))


def _verify(**overrides: object) -> None:
    arguments: dict[str, object] = {
        "client_secret": SECRET,
        "method": "POST",
        "uri": URL,
        "body": BODY,
        "timestamp": NOW_MS,
        "signature": sign_v3(SECRET, "POST", URL, BODY, NOW_MS),
        "now": NOW,
    }
    arguments.update(overrides)
    verify_v3(**arguments)  # type: ignore[arg-type]


def test_r17_signature_matches_the_official_hubspot_client() -> None:
    # Given a signature computed by HubSpot's own Python client
    official = Signature.get_signature(SECRET, BODY, "v3", URL, "POST", NOW_MS)
    # When we compute ours, Then they are the same bytes
    assert sign_v3(SECRET, "POST", URL, BODY, NOW_MS) == official


def test_r17_valid_fresh_signature_is_accepted() -> None:
    _verify()


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"signature": None}, "missing"),
        ({"timestamp": None}, "missing"),
        ({"timestamp": "yesterday"}, "not a millisecond timestamp"),
        ({"body": BODY + " "}, "invalid X-HubSpot-Signature-v3"),
        ({"uri": URL + "?x=1"}, "invalid X-HubSpot-Signature-v3"),
        ({"client_secret": "another-secret"}, "invalid X-HubSpot-Signature-v3"),
        ({"now": NOW + dt.timedelta(minutes=5, seconds=1)}, "stale"),
        ({"now": NOW - dt.timedelta(minutes=5, seconds=1)}, "stale"),
    ],
)
def test_r17_bad_or_stale_signature_is_refused_with_its_reason(
    overrides: dict[str, object], reason: str
) -> None:
    with pytest.raises(WebhookRejected) as refused:
        _verify(**overrides)
    assert refused.value.status == 401
    assert reason in refused.value.reason


def test_r17_signature_is_at_most_five_minutes_old() -> None:
    # Given a delivery signed exactly five minutes ago, Then it still passes
    _verify(now=NOW + dt.timedelta(minutes=5))


def test_signed_uri_decodes_hubspots_listed_characters_only() -> None:
    assert decode_signed_uri("https://x.io/a%3Ab%2Fc%3fd%20e") == "https://x.io/a:b/c?d%20e"
