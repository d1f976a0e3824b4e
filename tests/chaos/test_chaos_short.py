"""A short run of the fault suite, through its command line (``make chaos`` runs the long one):
a few dozen activities over every type in both directions, a fifth of the vendor calls failing,
every notification delivered twice, a worker killed mid-batch, sales emails with several events
each to contacts that do not sync yet and to contacts that do, and the Salesforce allocation
squeezed until the priorities engage. It runs in a process of its own (one local stack per
process: moto's state is process-wide), and fails on any loss, duplicate or budget overrun - the
suite's own verdict."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_a_short_fault_run_loses_nothing_duplicates_nothing_and_keeps_the_budget(tmp_path: Path) -> None:
    # Given the suite's faults on a small run, with HubSpot's rate low enough to defer marketing
    out = tmp_path / "chaos.json"
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "activity_sync_tools.chaos",
            "--n",
            "60",
            "--kills",
            "1",
            "--hubspot-per-10s",
            "40",
            "--drain-timeout",
            "240",
            "--json",
            str(out),
            "--results-dir",
            str(tmp_path / "results"),
            "--state-dir",
            str(tmp_path / "stack"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = json.loads(out.read_text()) if out.exists() else None

    # Then every activity is accounted for, and the suite says so
    assert report is not None, finished.stderr[-3000:]
    assert finished.returncode == 0, (report["failures"], finished.stdout[-3000:], finished.stderr[-3000:])
    total = report["total"]
    squeeze = report["squeeze"]
    emails = report["sales_emails"]
    # (a sales email is accounted per event: each is its own Task)
    made = 60 - emails["emails"] + emails["events"] + squeeze["sales_made"] + squeeze["marketing_made"]
    assert total["created"] == made
    assert total["lost"] == 0
    assert total["duplicated"] == 0
    assert total["synced"] + total["waiting"] + total["dead_lettered"] == made
    assert report["drained"]
    # And the sales emails had the shape that once dead-lettered whole batches (issue #20): several
    # events of one email, to contacts that did not sync, some of whom then did - and no dead
    # letter came of a write DynamoDB refused
    assert emails["emails_with_several_events"] > 0
    assert emails["to_contacts_not_syncing"] > 0
    assert emails["contacts_woken"] > 0
    assert report["dead_letters_for_storage"] == 0
    # And with the allocation squeezed, sales activities went first and marketing ones waited
    assert squeeze["sales_synced_while_squeezed"] == squeeze["sales_made"]
    assert squeeze["marketing_calls_reserved_while_squeezed"] == 0
    assert squeeze["deferrals_for_budget"] > 0
    # And the faults really happened: both vendors failed calls, notifications came twice, a
    # worker died mid-batch, and no limit was exceeded
    assert report["vendor_calls"]["hubspot"]["failed_by_fault"] > 0
    assert report["vendor_calls"]["salesforce"]["failed_by_fault"] > 0
    assert sum(report["duplicate_deliveries"].values()) > 0
    assert len(report["kills"]) == 1
    assert not [check for check in report["budget"] if check["exceeded"]]
