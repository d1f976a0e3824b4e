"""HubSpot records -> the rules' activities: R5 measures the right instant, R1.3 sales email
opens and clicks are activities of their own, R14 copies are recognisable."""

from __future__ import annotations

import datetime as dt

import pytest

from activity_sync.domain import HUBSPOT_SALESFORCE_ID_PROPERTY, EmailEventKind, HubSpotActivityType
from activity_sync.ports import HubSpotRecord
from activity_sync.rules.hubspot_records import (
    ActivityShapeError,
    engagement_activities,
    engagement_activity,
    payload_activity,
)
from activity_sync.rules.task_mapping import activity_external_id

CREATED = "2026-11-20T09:00:00.000Z"
STAMPED = "2026-11-01T15:30:00.000Z"
MODIFIED = "2026-11-27T08:00:00.000Z"


def _record(**properties: str | None) -> HubSpotRecord:
    return HubSpotRecord(
        id="501",
        properties={
            "hs_createdate": CREATED,
            "hs_timestamp": STAMPED,
            "hs_lastmodifieddate": MODIFIED,
            **properties,
        },
    )


@pytest.mark.parametrize(
    ("activity_type", "expected"),
    [
        (HubSpotActivityType.NOTE, CREATED),  # notes *created*
        (HubSpotActivityType.TASK, CREATED),  # tasks *created*
        (HubSpotActivityType.MEETING, CREATED),  # meetings *booked*
        (HubSpotActivityType.CALL, STAMPED),  # calls *made*
        (HubSpotActivityType.SALES_EMAIL, STAMPED),  # emails sent
    ],
)
def test_r5_windows_measure_when_the_activity_happened(
    activity_type: HubSpotActivityType, expected: str
) -> None:
    activity = engagement_activity(activity_type, _record(), ["7"])
    assert activity.occurred_at == dt.datetime.fromisoformat(expected.replace("Z", "+00:00"))


def test_r1_sales_email_opens_and_clicks_are_activities_of_their_own() -> None:
    record = _record(hs_email_direction="EMAIL", hs_email_subject="Pricing", hs_email_open_count="3",
                     hs_email_click_count="0")  # fmt: skip
    activities = engagement_activities(HubSpotActivityType.SALES_EMAIL, record, ["7", "8"])
    assert [a.email_event for a in activities] == [EmailEventKind.SENT, EmailEventKind.OPEN]
    assert [activity_external_id(a) for a in activities] == [
        "hs:sales_email:sent:501",
        "hs:sales_email:open:501",
    ]
    # And the open is dated by when HubSpot counted it, on the same contacts
    assert activities[1].occurred_at == dt.datetime(2026, 11, 27, 8, tzinfo=dt.UTC)
    assert activities[1].contact_ids == ("7", "8")


def test_r1_an_incoming_email_is_a_reply_and_has_no_opens() -> None:
    record = _record(hs_email_direction="INCOMING_EMAIL", hs_email_open_count="2")
    activities = engagement_activities(HubSpotActivityType.SALES_EMAIL, record, ["7"])
    assert [a.email_event for a in activities] == [EmailEventKind.REPLY]


def test_r14_a_copy_of_a_salesforce_record_carries_its_id() -> None:
    activity = engagement_activity(
        HubSpotActivityType.TASK, _record(**{HUBSPOT_SALESFORCE_ID_PROPERTY: "00T8d000000000FEAQ"}), []
    )
    assert activity.properties[HUBSPOT_SALESFORCE_ID_PROPERTY] == "00T8d000000000FEAQ"


def test_a_task_keeps_its_due_date() -> None:
    activity = engagement_activity(HubSpotActivityType.TASK, _record(hs_task_subject="Call back"), [])
    assert activity.properties["due_date"].startswith("2026-11-01T15:30")
    assert activity.properties["subject"] == "Call back"


def test_r17_a_payload_without_its_time_is_refused_with_the_field_named() -> None:
    with pytest.raises(ActivityShapeError, match="occurred_at"):
        payload_activity(HubSpotActivityType.DOCUMENT_VIEW, {"id": "v1", "contact_ids": ["7"]})


def test_marketing_email_payload_becomes_an_event_activity() -> None:
    activity = payload_activity(
        HubSpotActivityType.MARKETING_EMAIL,
        {"id": "e1", "occurred_at": 1_764_000_000_000, "contact_ids": ["7"], "email_event": "click",
         "properties": {"email_name": "April Newsletter"}},
    )  # fmt: skip
    assert activity_external_id(activity) == "hs:marketing_email:click:e1"
    assert activity.occurred_at == dt.datetime.fromtimestamp(1_764_000_000, dt.UTC)


def test_r1_an_email_not_sent_yet_or_bounced_is_no_activity() -> None:
    for status in ("SCHEDULED", "BOUNCED", "FAILED"):
        record = _record(hs_email_direction="EMAIL", hs_email_status=status, hs_email_open_count="1")
        assert engagement_activities(HubSpotActivityType.SALES_EMAIL, record, ["7"]) == []


def test_r9_a_reply_is_named_after_the_email_it_answers() -> None:
    record = _record(hs_email_direction="INCOMING_EMAIL", hs_email_subject="RE: Re: Pricing for Acme")
    (reply,) = engagement_activities(HubSpotActivityType.SALES_EMAIL, record, ["7"])
    assert reply.properties["subject"] == "Pricing for Acme"
