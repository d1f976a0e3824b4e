"""The Salesforce sandbox's TLS certificate lives in a temporary directory of its own, which goes
when the server stops, or when the process ends without stopping it (issue #12.13)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from activity_sync_tools.sandbox.salesforce import start_salesforce_sandbox


def test_stopping_the_sandbox_removes_its_certificate_directory() -> None:
    # Given a running Salesforce sandbox, whose certificate clients trust
    server = start_salesforce_sandbox()
    assert server.ca_bundle is not None
    directory = server.ca_bundle.parent
    assert directory.name.startswith("activity-sync-tls-")
    assert server.ca_bundle.exists()

    # When it stops
    server.stop()

    # Then its directory is gone
    assert not directory.exists()


def test_a_process_that_never_stops_its_sandbox_leaves_no_directory(tmp_path: Path) -> None:
    # Given a process that starts a sandbox and simply ends
    script = (
        "from activity_sync_tools.sandbox.salesforce import start_salesforce_sandbox\n"
        "server = start_salesforce_sandbox()\n"
        "print(server.ca_bundle)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    # Then the certificate was made in the temp folder, and nothing of it is left there
    assert completed.stdout.startswith(str(tmp_path))
    assert list(tmp_path.iterdir()) == []
