"""End-to-end fixtures: the whole stack on the local runtime against both vendor sandboxes, wired
together (``activity_sync_tools.rehearsal``), and the people who use it (``tests.e2e.support.E2E``).

One rehearsal serves the whole e2e run. Each start of a stack pays for a dozen cold Lambda
environments (about 1.7 s of imports each, on top of the stack itself), which made a rehearsal per
module cost most of the time budget; so instead every module starts from factory settings on the
warm stack (``E2E.reset_service_state``: switches off, no watermark, waiting activity or figure)
and tests keep out of each other's way with their own contacts and records (``E2E.tag``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from activity_sync_tools.rehearsal import Rehearsal
from tests.e2e.support import E2E, every_request_allowed, warm_rehearsal


@pytest.fixture(scope="session")
def world() -> Iterator[Rehearsal]:
    # E2E_STATE_DIR keeps the stack's state, function logs included, after the run (to read why a
    # test failed: <dir>/logs/<LogicalId>.log); by default it is a temporary directory.
    kept = os.environ.get("E2E_STATE_DIR")
    state_dir = Path(kept) if kept else None
    with warm_rehearsal(state_dir) as rehearsal:
        yield rehearsal


@pytest.fixture(scope="module")
def e2e(world: Rehearsal) -> E2E:
    helper = E2E(world)
    helper.reset_service_state()
    return helper


@pytest.fixture(autouse=True)
def every_request_allowed_by_its_functions_role(world: Rehearsal) -> Iterator[None]:
    with every_request_allowed(world):
        yield
