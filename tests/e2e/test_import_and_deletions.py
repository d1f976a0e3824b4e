"""R11's explicit import and the deletions setting, on the whole stack.

* Turning a Salesforce -> HubSpot switch on brings nothing over by itself; ``activity-sync import``
  does, for a date range, and running it twice changes nothing more.
* Deleting a synced record leaves its twin alone by default; with the setting on, the twin goes too.
"""

from __future__ import annotations

import datetime as dt

import pytest

from activity_sync.domain import HUBSPOT_SALESFORCE_ID_PROPERTY, HubSpotActivityType, SalesforceActivityType
from activity_sync.usecases.backfill import import_salesforce_history
from tests.e2e.support import E2E, h2s, s2h, utcnow

pytestmark = pytest.mark.e2e


def _hubspot_tasks_from(e2e: E2E, salesforce_id: str) -> list[dict[str, str]]:
    # The portal's own view: the id property may not exist yet before the first copy.
    return [
        r for r in e2e.hubspot.all_records("tasks") if r.get(HUBSPOT_SALESFORCE_ID_PROPERTY) == salesforce_id
    ]


def test_r11_import_brings_history_over_once_and_a_switch_alone_does_not(e2e: E2E) -> None:
    # Given a Salesforce task logged by a rep before the Tasks switch went on
    email = e2e.tag("history")
    e2e.hubspot.contact(email, owner="ana")
    person = e2e.salesforce.person("Contact", email, owner="ana")
    task = e2e.salesforce.create(
        "Task", {"Subject": "Old follow-up", "Status": "Completed", "TaskSubtype": "Task", "WhoId": person},
        as_user="ana",
    )  # fmt: skip
    e2e.drain()
    e2e.switch_on(s2h(SalesforceActivityType.TASK))
    # When the switch is on and the poller has run
    e2e.poll_and_drain()
    # Then nothing came over (R11: not retroactive)
    assert _hubspot_tasks_from(e2e, task) == []

    # When the operator imports the range that holds it, twice
    service = e2e.world.service
    since, until = utcnow() - dt.timedelta(days=1), utcnow() + dt.timedelta(minutes=1)
    first = import_salesforce_history(
        service.salesforce(), service.queues, [SalesforceActivityType.TASK], since, until
    )
    e2e.drain()
    second = import_salesforce_history(
        service.salesforce(), service.queues, [SalesforceActivityType.TASK], since, until
    )
    e2e.drain()

    # Then it is in HubSpot exactly once, on the contact, however often the import ran
    assert first[SalesforceActivityType.TASK] >= 1
    assert second == first
    copies = _hubspot_tasks_from(e2e, task)
    assert len(copies) == 1
    assert len(e2e.hubspot.associated_contacts("tasks", copies[0]["id"])) == 1


def test_deleting_a_synced_note_leaves_its_task_unless_deletions_sync(e2e: E2E) -> None:
    service = e2e.world.service
    e2e.switch_on(h2s(HubSpotActivityType.NOTE))
    email = e2e.tag("deletions")
    contact = e2e.hubspot.contact(email, owner="ana")
    e2e.salesforce.person("Contact", email, owner="ana")
    kept = e2e.hubspot.engagement("notes", {"hs_note_body": "keep my task"}, [contact])
    mirrored = e2e.hubspot.engagement("notes", {"hs_note_body": "take my task along"}, [contact])
    e2e.drain()
    assert len(e2e.salesforce.tasks_for_activity(f"hs:note:{kept}")) == 1
    assert len(e2e.salesforce.tasks_for_activity(f"hs:note:{mirrored}")) == 1
    try:
        # Given the default (off), When a synced note is deleted in HubSpot
        e2e.hubspot.admin("DELETE", f"objects/notes/{kept}")
        e2e.drain()
        # Then its Task stays
        assert len(e2e.salesforce.tasks_for_activity(f"hs:note:{kept}")) == 1
        assert e2e.figures(h2s(HubSpotActivityType.NOTE)).get("skipped:deleted_in_hubspot", 0) >= 1

        # Given deletions switched on, When another synced note is deleted
        service.settings.set_sync_deletions(True)
        e2e.hubspot.admin("DELETE", f"objects/notes/{mirrored}")
        e2e.drain()
        # Then its Task is deleted too, and the other one still stands
        assert e2e.salesforce.tasks_for_activity(f"hs:note:{mirrored}") == []
        assert len(e2e.salesforce.tasks_for_activity(f"hs:note:{kept}")) == 1
    finally:
        service.settings.set_sync_deletions(False)


def _poll_after_this_second(e2e: E2E) -> None:
    # The poller's SOQL windows are whole seconds, up to the start of the current one; a deletion
    # made in the current second is read by the next poll (its overlap).
    e2e.poll_after_this_second()


def test_deleting_a_synced_salesforce_task_archives_its_hubspot_copy_only_when_deletions_sync(
    e2e: E2E,
) -> None:
    service = e2e.world.service
    e2e.switch_on(s2h(SalesforceActivityType.TASK))
    email = e2e.tag("sf-deletions")
    e2e.hubspot.contact(email, owner="ana")
    person = e2e.salesforce.person("Contact", email, owner="ana")
    fields = {"Status": "Not Started", "TaskSubtype": "Task", "WhoId": person}
    kept = e2e.salesforce.create("Task", {**fields, "Subject": "Keep my copy"}, as_user="ana")
    mirrored = e2e.salesforce.create("Task", {**fields, "Subject": "Take my copy along"}, as_user="ana")
    e2e.drain()
    assert len(_hubspot_tasks_from(e2e, kept)) == 1
    assert len(_hubspot_tasks_from(e2e, mirrored)) == 1
    ana = e2e.salesforce.users["ana"]
    try:
        # Given the default (off), When a rep deletes a synced Task (seen by the poller: Salesforce
        # sends no Outbound Message for a delete)
        e2e.salesforce.admin("DELETE", f"sobjects/Task/{kept}?as_user={ana}")
        _poll_after_this_second(e2e)
        # Then its HubSpot copy stays
        assert len(_hubspot_tasks_from(e2e, kept)) == 1

        # Given deletions switched on, When another synced Task is deleted
        service.settings.set_sync_deletions(True)
        e2e.salesforce.admin("DELETE", f"sobjects/Task/{mirrored}?as_user={ana}")
        _poll_after_this_second(e2e)
        # Then its HubSpot copy is archived, and the other one still stands (its deletion was
        # decided while the setting was off, and stays decided)
        assert _hubspot_tasks_from(e2e, mirrored) == []
        assert len(_hubspot_tasks_from(e2e, kept)) == 1
    finally:
        service.settings.set_sync_deletions(False)
