"""The operator's commands on the local stack with both vendor sandboxes, through the real command
line (``activity_sync_tools.cli.main``, as the ``activity-sync`` script runs it).

One rehearsal serves the whole directory: this pytest process also runs the local runtime's and
the adapters' tests, and moto's state is process-wide, so the stack must be gone before they
start - and so must what the rehearsal set in the environment and the caches.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from activity_sync_tools.cli import main
from activity_sync_tools.rehearsal import Rehearsal
from tests.e2e.support import E2E, every_request_allowed, warm_rehearsal


@dataclass(frozen=True)
class Answer:
    status: int
    out: str
    err: str


class Cli:
    """``cli("errors", "--json")`` runs ``activity-sync errors --local <endpoints> --json``;
    ``cli.json("errors")`` does so and reads the answer, which must be a success."""

    def __init__(self, run: Callable[..., Answer]) -> None:
        self._run = run

    def __call__(self, command: str, *arguments: str) -> Answer:
        return self._run(command, *arguments)

    def json(self, command: str, *arguments: str) -> Any:
        answer = self._run(command, *arguments, "--json")
        assert answer.status == 0, answer.err
        return json.loads(answer.out)


HERE = Path(__file__).parent
# The rehearsal and what it changed in this process, undone after this directory's last test.
_RUNNING = contextlib.ExitStack()


@contextlib.contextmanager
def _rehearsal(state_dir: Path) -> Iterator[Rehearsal]:
    from aws_lambda_powertools.utilities import parameters

    from activity_sync.adapters.salesforce_oauth import forget_cached_tokens

    saved = dict(os.environ)
    try:
        with warm_rehearsal(state_dir) as rehearsal:
            yield rehearsal
    finally:
        os.environ.clear()
        os.environ.update(saved)
        parameters.clear_caches()  # type: ignore[no-untyped-call]
        forget_cached_tokens()


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rehearsal]:
    yield _RUNNING.enter_context(_rehearsal(tmp_path_factory.mktemp("cli-stack")))
    _RUNNING.close()


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Stop the rehearsal after this directory's last test: the next directory's tests start
    local stacks or in-process moto of their own (pytest's package scope needs an __init__.py)."""
    if nextitem is None or HERE not in Path(nextitem.path).parents:
        _RUNNING.close()


@pytest.fixture(autouse=True)
def every_request_allowed_by_its_functions_role(request: pytest.FixtureRequest) -> Iterator[None]:
    """As in tests/e2e, for the tests that use the stack (``refusals_expected``: those that take a
    right away from a role on purpose)."""
    if "world" not in request.fixturenames or request.node.get_closest_marker("refusals_expected"):
        yield
        return
    with every_request_allowed(request.getfixturevalue("world")):
        yield


@pytest.fixture(scope="module")
def ops(world: Rehearsal) -> E2E:
    """The people using the stack (``tests.e2e.support``), every module from factory settings and
    with empty dead-letter queues (a module counts the dead letters it makes)."""
    helper = E2E(world)
    helper.reset_service_state()
    sqs = world.stack.boto3_client("sqs")
    for logical_id, url in world.stack.queue_urls.items():
        # (received and deleted: SQS allows one purge a minute)
        while logical_id.endswith("DeadLetterQueue"):
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                break
            for message in messages:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return helper


@pytest.fixture
def cli(world: Rehearsal, capsys: pytest.CaptureFixture[str]) -> Cli:
    endpoints = Path(world.stack.state_dir) / "endpoints.json"

    def run(command: str, *arguments: str) -> Answer:
        capsys.readouterr()
        try:
            status = main([command, "--local", str(endpoints), *arguments])
        except SystemExit as stopped:
            # SystemExit("error: ...") prints its message and exits 1, as the script would.
            status = stopped.code if isinstance(stopped.code, int) else 1
            if isinstance(stopped.code, str):
                print(stopped.code, file=sys.stderr)
        captured = capsys.readouterr()
        return Answer(status, captured.out, captured.err)

    return Cli(run)
