"""Hardening found by independent testing: what a redelivery, a second contact starting to sync or a
hostile request must not do (R6, R7, R15, R17)."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest

from activity_sync.domain import HubSpotActivityType
from tests.e2e.support import E2E, h2s, utcnow

pytestmark = pytest.mark.e2e


def test_r7_r15_a_redelivered_webhook_keeps_the_tasks_contact_and_owner(e2e: E2E) -> None:
    hubspot, salesforce = e2e.hubspot, e2e.salesforce
    # Given h1, owned by Ana and syncing, and h5, created later, owned by Carla (no Salesforce user)
    # and not syncing yet
    first_email, second_email = e2e.tag("h1"), e2e.tag("h5")
    salesforce.person("Contact", first_email, owner="ana")
    h1 = hubspot.contact(first_email, owner="ana", created_at=utcnow() - dt.timedelta(days=2))
    h5 = hubspot.contact(second_email, owner="carla")
    e2e.drain()
    e2e.switch_on(h2s(HubSpotActivityType.SALES_EMAIL))
    # And a sales email to both, synced as one Task on h1's Contact, assigned to Ana
    email = hubspot.engagement(
        "emails",
        {"hs_email_subject": "Pricing", "hs_email_direction": "EMAIL", "hs_email_status": "SENT"},
        [h1, h5],
    )
    e2e.drain()
    external_id = f"hs:sales_email:sent:{email}"
    [before] = e2e.salesforce.tasks_for_activity(external_id)
    assert before["OwnerId"] == salesforce.users["ana"]
    stamped = salesforce.get("Task", before["Id"])["SystemModstamp"]

    # When h5 starts to sync (a rep creates its Contact; the poller sees it)
    salesforce.person("Contact", second_email)
    time.sleep(1.1)  # the poller's SOQL window ends at the start of the current second
    e2e.poll_and_drain()
    # And HubSpot delivers the email's webhooks again, unchanged
    e2e.world.flush()
    events = [
        event
        for delivery in hubspot.admin("GET", "webhooks/deliveries")["deliveries"]
        for event in delivery["events"]
        if str(event.get("objectId")) == email
    ]
    assert events
    assert e2e.signed_hubspot_post(json.dumps(events)).status_code == 200
    e2e.drain()

    # Then the Task is still the one Task, on h1's Contact, assigned to Ana, and was not written
    [after] = e2e.salesforce.tasks_for_activity(external_id)
    assert (after["Id"], after["WhoId"], after["OwnerId"]) == (
        before["Id"],
        before["WhoId"],
        before["OwnerId"],
    )
    assert salesforce.get("Task", after["Id"])["SystemModstamp"] == stamped
