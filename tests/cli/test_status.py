"""``activity-sync status``: the backlog now apart from the outcomes over a period, every R16
outcome counted (feed activities outside their window included), and API use per vendor."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from activity_sync.domain import HubSpotActivityType
from tests.cli.conftest import Cli
from tests.e2e.support import E2E, h2s, iso, utcnow

pytestmark = pytest.mark.e2e

NOTES = h2s(HubSpotActivityType.NOTE)
MARKETING = h2s(HubSpotActivityType.MARKETING_EMAIL)


@dataclasses.dataclass(frozen=True)
class Desk:
    waiting_email: str  # a HubSpot contact with no Salesforce person yet
    waiting_contact: str


@pytest.fixture(scope="module")
def desk(ops: E2E) -> Desk:
    # Given notes and marketing emails switched on; Sam syncs and Wanda does not yet; a marketing
    # email Sam opened 31 days before the switch went on; a note on each of them
    sam = ops.tag("sam")
    ops.salesforce.person("Contact", sam, owner="ana")
    sam_contact = ops.hubspot.contact(sam, owner="ana")
    wanda = ops.tag("wanda")
    wanda_contact = ops.hubspot.contact(wanda, owner="ana")
    old_open = {
        "type": "OPEN",
        "recipient": sam,
        "email": "status",
        "created": iso(utcnow() - dt.timedelta(days=31)),
    }
    ops.hubspot.admin(
        "POST",
        "seed",
        {
            "marketing_emails": [{"ref": "status", "name": "Status", "subject": "S"}],
            "email_events": [old_open],
        },
    )
    ops.switch_on(NOTES)
    ops.switch_on(MARKETING)
    ops.hubspot.engagement("notes", {"hs_note_body": "Sam's note"}, [sam_contact], owner="ana")
    ops.hubspot.engagement("notes", {"hs_note_body": "Wanda's note"}, [wanda_contact], owner="ana")
    ops.poll_and_drain()
    return Desk(wanda, wanda_contact)


def test_status_tells_the_backlog_now_from_the_history(ops: E2E, desk: Desk, cli: Cli) -> None:
    # When the operator asks for the status
    before = cli.json("status")
    shown = cli("status")

    # Then now: Wanda's note waits for her contact, nothing else waits, no dead letters
    assert before["now"][NOTES.key]["waiting"] == {"contact_not_syncing": 1}
    assert before["now"][NOTES.key]["switch"] != "off"
    assert before["now"]["hubspot_to_salesforce#call"]["switch"] == "off"
    assert sum(entry["dead_letters"] for entry in before["now"].values()) == 0
    # and history: one note synced, the other set aside to wait (each time it came: its creation
    # and its association each sent a webhook); the open outside its window is counted
    # (repeats of Sam's note are skipped as unchanged)
    notes = before["history"][NOTES.key]
    set_aside = notes["waiting:contact_not_syncing"]
    assert (notes["synced"], set_aside >= 1) == (1, True)
    assert set(notes) <= {"synced", "waiting:contact_not_syncing", "skipped:unchanged"}
    assert before["history"][MARKETING.key] == {"skipped:outside_window": 1}
    # and API use per vendor over the last 24 hours, split per type
    hubspot, salesforce = before["api_use_24h"]["hubspot"], before["api_use_24h"]["salesforce"]
    assert hubspot["used"] >= 1
    assert salesforce["used"] >= 1
    # (each function reserves a few calls at a time, so the split is by reservation: it adds up)
    assert sum(salesforce["by_type"].values()) == salesforce["used"]
    assert sum(hubspot["by_type"].values()) == hubspot["used"]
    assert salesforce["vendor"]["limit"] > 0
    # and the tables say the same
    assert shown.status == 0, shown.err
    for title in ("now: the backlog", "history: outcomes all days kept", "API use, last 24 hours"):
        assert title in shown.out
    assert "contact_not_syncing: 1 " in shown.out

    # When Wanda starts to sync (a rep creates her Salesforce Contact) and her note syncs
    ops.salesforce.create("Contact", {"LastName": "Wanda", "Email": desk.waiting_email}, as_user="ana")
    ops.drain()
    ops.poll_after_this_second()  # the poller reads whole seconds, up to the current one
    after = cli.json("status")

    # Then nothing waits now, while the history keeps that it waited, and counts both synced
    assert after["now"][NOTES.key]["waiting"] == {}
    notes = after["history"][NOTES.key]
    assert (notes["synced"], notes["waiting:contact_not_syncing"]) == (2, set_aside)
    # and a period that starts tomorrow has no outcome yet
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    assert all(figures == {} for figures in cli.json("status", "--since", tomorrow)["history"].values())


def test_the_allocation_the_operator_sets_is_what_status_shows(ops: E2E, cli: Cli) -> None:
    # When the operator allots the service 5,000 Salesforce calls a day
    answer = cli("settings", "budget", "salesforce_daily_allocation", "5000")

    # Then status shows that allocation next to what was used
    assert answer.status == 0, answer.err
    assert cli.json("status")["api_use_24h"]["salesforce"]["allocation"] == 5000
    # and 'none' puts the default back, while a value that is not a number is refused, saying why
    assert cli("settings", "budget", "salesforce_daily_allocation", "none").status == 0
    assert cli.json("status")["api_use_24h"]["salesforce"]["allocation"] is None
    refused = cli("settings", "budget", "salesforce_daily_allocation", "lots")
    assert (refused.status, "whole number" in refused.err) == (2, True)


def test_status_says_when_the_portal_check_is_off(ops: E2E, cli: Cli) -> None:
    from aws_lambda_powertools.utilities import parameters

    from activity_sync.usecases.ingest import PORTAL_CHECK_OFF

    ssm = ops.world.stack.boto3_client("ssm")
    name = "/activity-sync/dev/hubspot/portal-id"
    kept = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    assert cli.json("status")["problems"] == []
    try:
        # Given the stack parameter HubSpotPortalId left at 0
        ssm.put_parameter(Name=name, Value="0", Type="String", Overwrite=True)
        parameters.clear_caches()  # type: ignore[no-untyped-call]
        # Then status names the problem first
        assert cli.json("status")["problems"] == [PORTAL_CHECK_OFF]
        text = cli("status")
        assert text.status == 0
        assert "HubSpotPortalId is 0" in text.out
    finally:
        ssm.put_parameter(Name=name, Value=kept, Type="String", Overwrite=True)
        parameters.clear_caches()  # type: ignore[no-untyped-call]
