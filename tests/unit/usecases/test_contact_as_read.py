"""What a contact link keeps of its contact, and when that stands in for HubSpot (R18): only a
complete read, made at most CONTACT_READ_SECONDS ago."""

from __future__ import annotations

import datetime as dt

import pytest

from activity_sync.ports import HubSpotRecord, StoredLink
from activity_sync.usecases.directories import CONTACT_READ_SECONDS, contact_as_read, contact_from_link

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def _link(contact: dict[str, str | None] | None) -> StoredLink:
    return StoredLink("hubspot#contact#51", salesforce_id="003000000000001AAA", contact=contact)


def test_a_read_keeps_what_r4_r6_and_r7_read_and_when() -> None:
    record = HubSpotRecord(
        "51",
        {"email": "rita@example.com", "hubspot_owner_id": "77", "phone": "+351", "salesforceleadid": ""},
        created_at=T0 - dt.timedelta(days=3),
    )
    kept = contact_as_read(record, T0)
    assert kept == {
        "email": "rita@example.com",
        "createdate": (T0 - dt.timedelta(days=3)).isoformat(),
        "hubspot_owner_id": "77",
        "salesforcecontactid": None,
        "salesforceleadid": None,
        "read_at": T0.isoformat(),
    }
    back = contact_from_link(_link(kept), T0 + dt.timedelta(minutes=1))
    assert back is not None
    assert (back.id, back.properties["hubspot_owner_id"], back.properties["createdate"]) == (
        "51",
        "77",
        kept["createdate"],
    )


@pytest.mark.parametrize(
    ("read_at", "createdate", "age_seconds"),
    [
        (T0.isoformat(), "2025-01-01T00:00:00Z", CONTACT_READ_SECONDS),  # too old
        (T0.isoformat(), "2025-01-01T00:00:00Z", -1),  # from the future: a clock to distrust
        ("yesterday", "2025-01-01T00:00:00Z", 0),  # not an instant
        (None, "2025-01-01T00:00:00Z", 0),  # never read
        (T0.isoformat(), None, 0),  # incomplete: R6 needs the creation date
    ],
)
def test_a_read_that_is_old_odd_or_incomplete_does_not_stand_in_for_hubspot(
    read_at: str | None, createdate: str | None, age_seconds: float
) -> None:
    link = _link({"read_at": read_at, "createdate": createdate, "hubspot_owner_id": "77"})
    assert contact_from_link(link, T0 + dt.timedelta(seconds=age_seconds)) is None


def test_a_link_without_a_read_does_not_stand_in_for_hubspot() -> None:
    assert contact_from_link(_link(None), T0) is None
