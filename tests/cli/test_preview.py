"""``activity-sync preview TYPE``: before a switch is turned on, what would sync, wait or be skipped,
and what it would cost, from the sandboxes' data - changing nothing."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from activity_sync.domain import HubSpotActivityType
from tests.cli.conftest import Cli
from tests.e2e.support import E2E, h2s, iso, utcnow

pytestmark = pytest.mark.e2e

DAY = dt.timedelta(days=1)
FORMS = h2s(HubSpotActivityType.FORM_SUBMISSION)


@dataclasses.dataclass(frozen=True)
class Portal:
    pia: str  # a HubSpot contact that syncs
    quinn: str  # one that does not


@pytest.fixture(scope="module")
def portal(ops: E2E) -> Portal:
    # Given Pia, who syncs, and Quinn, who does not; a form Pia submitted 364 and 366 days ago,
    # Quinn 10 days ago and a stranger with no contact 5 days ago; a call with each of them today;
    # and a task a rep logged on Pia in Salesforce - all with every switch off
    pia_email, quinn_email = ops.tag("pia"), ops.tag("quinn")
    person = ops.salesforce.person("Contact", pia_email, owner="ana")
    pia = ops.hubspot.contact(pia_email, owner="ana")
    quinn = ops.hubspot.contact(quinn_email, owner="ana")
    now = utcnow()

    def submission(email: str, days: int) -> dict[str, Any]:
        return {
            "submittedAt": iso(now - days * DAY),
            "values": {"email": email},
            "pageUrl": "https://e.example",
        }

    ops.hubspot.admin(
        "POST",
        "seed",
        {
            "forms": [
                {
                    "ref": "preview",
                    "name": "Preview signup",
                    "fields": ["email"],
                    "submissions": [
                        submission(pia_email, 364),
                        submission(pia_email, 366),
                        submission(quinn_email, 10),
                        submission(ops.tag("stranger"), 5),
                    ],
                }
            ]
        },
    )
    for contact in (pia, quinn):
        ops.hubspot.engagement("calls", {"hs_call_title": "Intro call"}, [contact], owner="ana")
    ops.salesforce.create(
        "Task", {"Subject": "Rep's note", "TaskSubtype": "Task", "WhoId": person}, as_user="ana"
    )
    ops.drain()
    return Portal(pia, quinn)


def _outcomes(report: dict[str, Any]) -> dict[tuple[str, str], int]:
    return {(o["outcome"], o["reason"]): o["count"] for o in report["outcomes"]}


def test_preview_form_submissions_counts_each_outcome_and_changes_nothing(
    ops: E2E, portal: Portal, cli: Cli
) -> None:
    # When the operator previews form submissions before switching them on
    report = cli.json("preview", "form_submission")
    shown = cli("preview", "form_submission")

    # Then the submission within the year on Pia would sync, the one before it is left out, and
    # Quinn's and the stranger's would wait
    assert _outcomes(report) == {
        ("sync", "its contact syncs"): 1,
        ("skip", "outside_window (R5)"): 1,
        ("wait", "contact_not_syncing (R4)"): 1,
        ("wait", "no_associated_contact"): 1,
    }
    # and syncing costs one Salesforce batch, the poll and one syncer batch on HubSpot
    assert report["estimated_api_calls"]["salesforce"] == 1
    assert report["estimated_api_calls"]["hubspot"] >= 3
    assert report["this_preview_spent"]["hubspot"] >= 2
    # And nothing changed: the switch is off, no Task, no figure
    assert ops.world.service.settings.type_settings(FORMS, fresh=True).enabled is False
    assert ops.salesforce.tasks("Subject = 'Submitted: Preview signup'") == []
    assert ops.figures(FORMS) == {}
    # And the table says the same
    assert shown.status == 0, shown.err
    assert f"if {FORMS.key} were switched on now" in shown.out
    assert "contact_not_syncing (R4)" in shown.out


def test_preview_a_forward_only_type_now_and_since_a_date(portal: Portal, cli: Cli) -> None:
    yesterday = (dt.date.today() - DAY).isoformat()
    # When the operator previews calls as if switched on now, and as if on since yesterday
    now = _outcomes(cli.json("preview", "hubspot_to_salesforce#call"))
    since = _outcomes(cli.json("preview", "hubspot_to_salesforce#call", "--since", yesterday))
    # Then now, today's calls are before the switch (forward only); since yesterday, Pia's call
    # would sync and Quinn's wait
    assert now == {("skip", "outside_window (R5)"): 2}
    assert since == {("sync", "its contact syncs"): 1, ("wait", "contact_not_syncing (R4)"): 1}


def test_preview_salesforce_tasks_needs_an_import_for_history(portal: Portal, cli: Cli) -> None:
    yesterday = (dt.date.today() - DAY).isoformat()
    # When the operator previews Salesforce tasks as if switched on now, and since yesterday
    now = _outcomes(cli.json("preview", "salesforce_to_hubspot#task"))
    since = cli.json("preview", "salesforce_to_hubspot#task", "--since", yesterday)
    # Then now nothing would sync (R11: not retroactive); since yesterday the rep's task would
    assert not any(outcome == "sync" for outcome, _ in now)
    assert now.get(("skip", "outside_window (R11): an import brings it over"), 0) >= 1
    assert _outcomes(since).get(("sync", "its person has a HubSpot contact"), 0) >= 1
    assert since["estimated_api_calls"]["hubspot"] >= 2
