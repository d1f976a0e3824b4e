"""Marketing emails (official client), the legacy email events and campaign feeds (HTTP), forms
(official client), the legacy submissions feed and the forms submit endpoint (HTTP)."""

from __future__ import annotations

from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.marketing.emails.exceptions import ApiException as EmailsApiException

from activity_sync_tools.sandbox.hubspot.testing import Admin

PORTAL_ID = 62515


@pytest.fixture
def newsletter(admin: Admin) -> dict[str, Any]:
    created: dict[str, Any] = admin.post(
        "marketing-emails", {"name": "May newsletter", "subject": "What's new"}
    )
    return created


@pytest.fixture
def contact_us(admin: Admin) -> dict[str, Any]:
    created: dict[str, Any] = admin.post(
        "forms",
        {
            "name": "Contact Us",
            "fields": ["email", "firstname", {"name": "message", "fieldType": "multi_line_text"}],
        },
    )
    return created


def test_marketing_emails_list_and_read(client: HubSpot, admin: Admin, newsletter: dict[str, Any]) -> None:
    # Given a second marketing email
    admin.post("marketing-emails", {"name": "June newsletter", "subject": "Summer"})
    emails = client.marketing.emails.marketing_emails_api

    # When they are paged one at a time and the first is read by id
    first = emails.get_page(limit=1)
    second = emails.get_page(limit=1, after=first.paging.next.after)
    read = emails.get_by_id(newsletter["id"])

    # Then both come with total 2, and the email carries name, subject and its campaign ids
    assert first.total == 2
    assert [first.results[0].name, second.results[0].name] == ["May newsletter", "June newsletter"]
    assert (read.name, read.subject, read.state) == ("May newsletter", "What's new", "PUBLISHED")
    assert newsletter["allEmailCampaignIds"] == [str(200_001)]
    with pytest.raises(EmailsApiException) as missing:
        emails.get_by_id("1")
    assert missing.value.status == 404


def test_email_events_feed_filters_and_pages_newest_first(admin: Admin, newsletter: dict[str, Any]) -> None:
    # Given SENT, DELIVERED and OPEN events for two recipients on successive days
    for day, (kind, who) in enumerate(
        [
            ("SENT", "a@example.com"),
            ("SENT", "b@example.com"),
            ("DELIVERED", "a@example.com"),
            ("OPEN", "a@example.com"),
        ],
        start=1,
    ):
        admin.post(
            "email-events",
            {
                "type": kind,
                "recipient": who,
                "emailId": newsletter["id"],
                "created": f"2024-05-0{day}T10:00:00Z",
            },
        )

    # When the feed is read two at a time, then filtered by type, recipient and time
    first = admin.api("GET", "/email/public/v1/events", params={"limit": 2}).json()
    second = admin.api(
        "GET", "/email/public/v1/events", params={"limit": 2, "offset": first["offset"]}
    ).json()
    opens = admin.api("GET", "/email/public/v1/events", params={"eventType": "OPEN"}).json()
    window = admin.api(
        "GET",
        "/email/public/v1/events",
        params={"recipient": "a@example.com", "startTimestamp": 1714557600000, "endTimestamp": 1714730400000},
    ).json()

    # Then pages run newest first with hasMore, and filters narrow the feed
    assert [e["type"] for e in first["events"] + second["events"]] == ["OPEN", "DELIVERED", "SENT", "SENT"]
    assert (first["hasMore"], second["hasMore"]) == (True, False)
    assert [e["recipient"] for e in opens["events"]] == ["a@example.com"]
    assert [e["type"] for e in window["events"]] == ["DELIVERED", "SENT"]
    event = opens["events"][0]
    assert event["emailCampaignId"] == 200_001
    assert event["portalId"] == PORTAL_ID
    assert event["sentBy"]["id"] == second["events"][1]["id"]  # the SENT event for a@example.com


def test_email_events_roll_up_on_the_contact(
    admin: Admin, client: HubSpot, newsletter: dict[str, Any]
) -> None:
    # Given a contact who receives and opens the newsletter
    contact = admin.create("contacts", {"email": "reader@example.com"})
    for kind, created in (("SENT", "2024-05-01T10:00:00Z"), ("OPEN", "2024-05-02T11:00:00Z")):
        admin.post(
            "email-events",
            {
                "type": kind,
                "recipient": "Reader@example.com",
                "emailId": newsletter["id"],
                "created": created,
            },
        )

    # When the contact is read
    read = client.crm.contacts.basic_api.get_by_id(
        contact["id"], properties=["hs_email_last_open_date", "hs_email_open", "hs_email_last_email_name"]
    )
    # Then HubSpot's marketing email properties reflect the events
    assert read.properties == {
        "hs_email_last_open_date": "2024-05-02T11:00:00.000Z",
        "hs_email_open": "1",
        "hs_email_last_email_name": "May newsletter",
    }


def test_campaign_resolves_to_the_email(admin: Admin, newsletter: dict[str, Any]) -> None:
    # Given an open of the newsletter
    admin.post("email-events", {"type": "OPEN", "recipient": "a@example.com", "emailId": newsletter["id"]})
    campaign_id = newsletter["allEmailCampaignIds"][0]

    # When the campaign is read, and listed
    campaign = admin.api("GET", f"/email/public/v1/campaigns/{campaign_id}").json()
    listed = admin.api("GET", "/email/public/v1/campaigns/by-id").json()
    missing = admin.api("GET", "/email/public/v1/campaigns/999")

    # Then it names the marketing email and counts its events
    assert (campaign["name"], campaign["subject"], campaign["contentId"]) == (
        "May newsletter",
        "What's new",
        int(newsletter["id"]),
    )
    assert campaign["counters"] == {"open": 1}
    assert [c["id"] for c in listed["campaigns"]] == [int(campaign_id)]
    assert missing.status_code == 404


def test_forms_list_and_read(client: HubSpot, contact_us: dict[str, Any]) -> None:
    # When forms are listed and one is read
    listed = client.marketing.forms.forms_api.get_page()
    read = client.marketing.forms.forms_api.get_by_id(contact_us["id"])

    # Then the definition carries its fields
    assert [f.name for f in listed.results] == ["Contact Us"]
    fields = [field.name for group in read.field_groups for field in group.fields]
    assert (read.id, fields) == (contact_us["id"], ["email", "firstname", "message"])


def test_submit_creates_then_updates_the_contact(
    client: HubSpot, admin: Admin, contact_us: dict[str, Any]
) -> None:
    path = f"/submissions/v3/integration/submit/{PORTAL_ID}/{contact_us['id']}"

    # When a visitor submits twice (without credentials, like HubSpot's forms), a day apart
    first = admin.api(
        "POST",
        path,
        token=None,
        json={
            "submittedAt": 1704067200000,
            "fields": [
                {"objectTypeId": "0-1", "name": "email", "value": "Visitor@example.com"},
                {"objectTypeId": "0-1", "name": "firstname", "value": "Vi"},
            ],
            "context": {"pageUri": "https://www.example.com/contact", "pageName": "Contact"},
        },
    )
    second = admin.api(
        "POST",
        path,
        token=None,
        json={
            "submittedAt": 1704153600000,
            "fields": [
                {"name": "email", "value": "visitor@example.com"},
                {"name": "firstname", "value": "Vivian"},
                {"name": "message", "value": "Call me"},
            ],
        },
    )

    # Then HubSpot's thank-you answers, one contact exists with the latest values and conversion data
    assert first.status_code == second.status_code == 200
    assert first.json() == {"inlineMessage": "Thanks for submitting the form."}
    contact = client.crm.contacts.basic_api.get_by_id(
        "visitor@example.com",
        id_property="email",
        properties=[
            "firstname",
            "createdate",
            "num_conversion_events",
            "recent_conversion_event_name",
            "first_conversion_date",
            "recent_conversion_date",
        ],
    )
    assert contact.properties == {
        "firstname": "Vivian",
        "createdate": "2024-01-01T00:00:00.000Z",
        "num_conversion_events": "2",
        "recent_conversion_event_name": "Contact Us",
        "first_conversion_date": "2024-01-01T00:00:00.000Z",
        "recent_conversion_date": "2024-01-02T00:00:00.000Z",
    }


@pytest.mark.parametrize(
    ("fields", "error_type"),
    [
        ([{"name": "email", "value": "not-an-email"}], "INVALID_EMAIL"),
        (
            [{"name": "email", "value": "a@example.com"}, {"name": "shoe_size", "value": "9"}],
            "FIELD_NOT_IN_FORM_DEFINITION",
        ),
        ([{"name": "firstname", "value": "NoEmail"}], "REQUIRED_FIELD"),
    ],
)
def test_submit_validation(
    admin: Admin, contact_us: dict[str, Any], fields: list[dict[str, str]], error_type: str
) -> None:
    # When an invalid submission is sent
    response = admin.api(
        "POST",
        f"/submissions/v3/integration/submit/{PORTAL_ID}/{contact_us['id']}",
        token=None,
        json={"fields": fields},
    )
    # Then the forms API's error lists the errorType and nothing is recorded
    assert response.status_code == 400
    assert response.json()["message"] == "The request is not valid"
    assert [e["errorType"] for e in response.json()["errors"]] == [error_type]
    assert admin.get("state")["formSubmissions"] == 0


def test_submit_to_an_unknown_form_or_portal_is_404(admin: Admin, contact_us: dict[str, Any]) -> None:
    body = {"fields": [{"name": "email", "value": "a@example.com"}]}
    unknown_form = admin.api(
        "POST", f"/submissions/v3/integration/submit/{PORTAL_ID}/nope", token=None, json=body
    )
    other_portal = admin.api(
        "POST", f"/submissions/v3/integration/submit/1/{contact_us['id']}", token=None, json=body
    )
    assert (unknown_form.status_code, other_portal.status_code) == (404, 404)


def test_secure_submit_needs_the_token(admin: Admin, contact_us: dict[str, Any]) -> None:
    path = f"/submissions/v3/integration/secure/submit/{PORTAL_ID}/{contact_us['id']}"
    body = {"fields": [{"name": "email", "value": "a@example.com"}]}
    assert admin.api("POST", path, token=None, json=body).status_code == 401
    assert admin.api("POST", path, json=body).status_code == 200


def test_submissions_feed_pages_newest_first_up_to_50(admin: Admin, contact_us: dict[str, Any]) -> None:
    # Given 60 submissions a minute apart
    path = f"/submissions/v3/integration/submit/{PORTAL_ID}/{contact_us['id']}"
    for index in range(60):
        admin.api(
            "POST",
            path,
            token=None,
            json={
                "submittedAt": 1704067200000 + index * 60_000,
                "fields": [{"name": "email", "value": f"v{index}@example.com"}],
                "context": {"pageUri": "https://www.example.com/contact"},
            },
        ).raise_for_status()
    feed = f"/form-integrations/v1/submissions/forms/{contact_us['id']}"

    # When the feed is read 50 at a time, and 51 are asked for
    first = admin.api("GET", feed, params={"limit": 50}).json()
    second = admin.api("GET", feed, params={"limit": 50, "after": first["paging"]["next"]["after"]}).json()
    too_many = admin.api("GET", feed, params={"limit": 51})

    # Then the newest come first, every submission once, each with its values and page
    emails = [
        next(v["value"] for v in s["values"] if v["name"] == "email")
        for s in first["results"] + second["results"]
    ]
    assert emails == [f"v{i}@example.com" for i in reversed(range(60))]
    assert "paging" not in second
    assert first["results"][0]["pageUrl"] == "https://www.example.com/contact"
    assert first["results"][0]["submittedAt"] == 1704067200000 + 59 * 60_000
    assert len({s["conversionId"] for s in first["results"]}) == 50
    assert too_many.status_code == 400
