"""Each function runs under its own role on the local stack, and the embedded AWS holds it to it as
IAM would: an action taken out of one function's role makes that function fail as it would on AWS
(AccessDenied), named in its log and in ``activity-sync errors``, and nothing is lost or made twice
once the role is fixed and the dead letters re-driven."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from activity_sync.domain import HubSpotActivityType
from activity_sync_tools.rehearsal import Rehearsal
from tests.cli.conftest import Cli
from tests.e2e.support import E2E, h2s

pytestmark = pytest.mark.e2e

NOTES = h2s(HubSpotActivityType.NOTE)
SYNCER = "HubSpotNoteSyncer"


@pytest.fixture
def original_role(world: Rehearsal) -> Iterator[None]:
    role = world.stack.roles[SYNCER]
    yield
    world.stack.put_role(role)


@pytest.mark.refusals_expected
def test_a_syncer_whose_role_lacks_one_action_fails_with_access_denied_named_in_its_log_and_errors(
    ops: E2E, cli: Cli, world: Rehearsal, original_role: None
) -> None:
    # Given notes sync, on a contact present on both sides
    email = ops.tag("iam")
    person = ops.salesforce.person("Contact", email, owner="ana")
    contact = ops.hubspot.contact(email, owner="ana")
    ops.switch_on(NOTES)
    links = world.stack.model.tables["LinksTable"].arn
    role = world.stack.roles[SYNCER]
    assert role.allows("dynamodb:BatchWriteItem", links)

    # When the note syncer's role no longer allows it to write the links table, and a note is written
    world.stack.put_role(role.without("dynamodb:BatchWriteItem", links))
    assert not world.stack.roles[SYNCER].allows("dynamodb:BatchWriteItem", links)
    sync_state = world.stack.model.tables["SyncStateTable"].arn
    assert world.stack.roles[SYNCER].allows("dynamodb:BatchWriteItem", sync_state)  # the rest as it was
    note = ops.hubspot.engagement(
        "notes", {"hs_note_body": "Written while the role lacked a right"}, [contact]
    )
    ops.drain()

    # Then the syncer failed as AWS would have failed it: its log names the refusal, the action and
    # the table, and the note waits in its dead-letter queue with that reason
    denial = f"not authorized to perform: dynamodb:BatchWriteItem on resource: {links}"
    assert "AccessDeniedException" in ops.function_log(SYNCER, tail=400)
    assert denial in ops.function_log(SYNCER, tail=400)
    records = [record for card in cli.json("errors", NOTES.key) for record in card["records"]]
    assert [record["hubspot_id"] for record in records] == [note], records
    assert denial in records[0]["reason"]
    assert "AccessDeniedException" in records[0]["reason"]
    # (its Task was written, by External Id, before the link: written again on each retry, once)
    assert len(ops.salesforce.tasks_for_activity(f"hs:note:{note}")) <= 1

    # When the role is fixed and the dead letter re-driven
    world.stack.put_role(role)
    moved = cli("redrive", NOTES.key, "--reason", "AccessDenied")
    assert moved.status == 0, moved.err
    ops.drain()

    # Then the note is one Task on the person, and nothing is left in the dead-letter queue
    tasks = ops.salesforce.tasks_for_activity(f"hs:note:{note}")
    assert [task["WhoId"] for task in tasks] == [person]
    assert cli.json("errors", NOTES.key) == []


def test_every_function_signs_with_a_session_of_its_own_role(
    world: Rehearsal,
) -> None:
    keys = {
        function_id: world.stack.function_environment(function_id)["AWS_ACCESS_KEY_ID"]
        for function_id in world.stack.function_names
    }
    assert len(set(keys.values())) == len(keys)  # one session per function
    assert "testing" not in keys.values()
    for function_id in keys:
        assert world.stack.function_environment(function_id)["AWS_SESSION_TOKEN"]
