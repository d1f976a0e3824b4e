"""Issue #20 on the local stack: sales emails with several events each (sent, opened, clicked),
to a contact that does not sync yet and to one that does, every webhook delivered twice - the shape
that used to dead-letter whole batches (one BatchWriteItem naming a waiting activity twice). And a
stack that hit it recovers: ``activity-sync redrive sales_email`` after the upgrade syncs or parks
what was dead-lettered, with nothing duplicated."""

from __future__ import annotations

import dataclasses
import json

import pytest

from activity_sync.adapters.queues import SqsDeadLetterQueue
from activity_sync.domain import HubSpotActivityType
from activity_sync.messages import ChangeMessage, ChangeSource
from activity_sync.ports import QueuedMessage
from tests.cli.conftest import Cli
from tests.e2e.support import E2E, QUEUE_PREFIX, h2s

pytestmark = pytest.mark.e2e

SALES_EMAILS = h2s(HubSpotActivityType.SALES_EMAIL)
# What the old syncer wrote as the reason of every message of such a batch, out of tries.
OLD_REASON = (
    "gave up after 4 deliveries: PutError: Failed to batch write items: An error occurred "
    "(ValidationException) on request (x) on table (activity-sync-SyncStateTable) when calling the "
    "BatchWriteItem operation: Provided list of item keys contains duplicates"
)


@dataclasses.dataclass(frozen=True)
class Emails:
    syncing_contact: str
    person: str  # the Salesforce Contact of ``syncing_contact``
    waiting_contact: str  # no Salesforce person (yet)
    to_syncing: tuple[str, ...]
    to_waiting: tuple[str, ...]


def _email(ops: E2E, contact: str, subject: str) -> str:
    return ops.hubspot.engagement(
        "emails",
        {
            "hs_email_subject": subject,
            "hs_email_direction": "EMAIL",
            "hs_email_status": "SENT",
            "hs_email_text": "Our pricing",
        },
        [contact],
        owner="ana",
    )


def _track(ops: E2E, email_id: str, *kinds: str) -> None:
    for kind in kinds:
        ops.hubspot.admin("POST", "sales-email-events", {"emailId": email_id, "type": kind})


def _tasks(ops: E2E, email_ids: tuple[str, ...]) -> list[str]:
    wanted = ", ".join(f"'hs:sales_email:{e}:{i}'" for i in email_ids for e in ("sent", "open", "click"))
    found = ops.salesforce.tasks(f"HubSpot_Activity_Id__c IN ({wanted})")
    return sorted(task["HubSpot_Activity_Id__c"] for task in found)


@pytest.fixture(scope="module")
def emails(ops: E2E) -> Emails:
    # Given sales emails switched on, a contact that syncs and one that does not yet, and every
    # HubSpot webhook delivered twice
    syncing_email = ops.tag("syncs")
    person = ops.salesforce.person("Contact", syncing_email, owner="ana")
    syncing = ops.hubspot.contact(syncing_email, owner="ana")
    waiting = ops.hubspot.contact(ops.tag("waits"), owner="ana")
    ops.switch_on(SALES_EMAILS, task_type="Email")
    ops.drain()
    ops.hubspot.admin("POST", "webhooks", {"deliver_twice": True})
    try:
        # When reps send three emails to each, and their recipients open and click them at once
        to_syncing = tuple(_email(ops, syncing, f"To the one who syncs {n}") for n in range(3))
        to_waiting = tuple(_email(ops, waiting, f"To the one who waits {n}") for n in range(3))
        for email_id in (*to_syncing, *to_waiting):
            _track(ops, email_id, "OPEN", "OPEN", "CLICK")
        ops.drain()
        ops.poll_and_drain()
    finally:
        ops.hubspot.admin("POST", "webhooks", {"deliver_twice": False})
    return Emails(syncing, person, waiting, to_syncing, to_waiting)


def test_r4_a_batch_of_sales_emails_with_several_events_parks_and_syncs_nothing_dead_lettered(
    ops: E2E, emails: Emails
) -> None:
    # Then nothing was dead-lettered
    assert ops.dead_letters(SALES_EMAILS) == []
    # And the emails to the contact that syncs made one Task per event, once each
    expected = sorted(f"hs:sales_email:{e}:{i}" for i in emails.to_syncing for e in ("sent", "open", "click"))
    assert _tasks(ops, emails.to_syncing) == expected
    # And the emails to the contact that does not sync wait for it, each once
    waiting = {item.key for item in ops.world.service.state.waiting_for(emails.waiting_contact)}
    assert waiting == {f"{SALES_EMAILS.key}#{i}" for i in emails.to_waiting}
    assert _tasks(ops, emails.to_waiting) == []


def test_redrive_after_the_upgrade_syncs_or_parks_what_the_old_syncer_dead_lettered(
    ops: E2E, emails: Emails, cli: Cli
) -> None:
    # Given a stack that hit the defect: the messages of those emails dead-lettered with the old
    # reason (as the old syncer's dead-letter path sent and registered them), one of them twice
    stack = ops.world.stack
    prefix = QUEUE_PREFIX[SALES_EMAILS.key]
    dead_letters = SqsDeadLetterQueue(
        stack.queue_urls[f"{prefix}DeadLetterQueue"],
        stack.boto3_client("sqs"),
        queue_key=SALES_EMAILS.key,
        claim=ops.world.service.state.claim_dead_letter,
    )
    for n, email_id in enumerate((*emails.to_syncing, *emails.to_waiting, emails.to_syncing[0])):
        body = ChangeMessage(
            sync_type=SALES_EMAILS.key, object_id=email_id, source=ChangeSource.HUBSPOT_WEBHOOK
        ).to_json()
        assert dead_letters.send(QueuedMessage(f"old-{n}", body, receive_count=5), OLD_REASON)
    listed = cli.json("errors", "sales_email")
    assert sum(group["count"] for group in listed) == 6
    # And the links of the Tasks made meanwhile lost (a stack that never got that far)
    links = ops.world.service.links
    linked = links.links("activity", [f"hs:sales_email:sent:{i}" for i in emails.to_syncing])
    links.unlink(linked.values())

    # When the operator re-drives the sales emails after upgrading
    moved = cli("redrive", "sales_email", "--json")
    ops.drain()

    # Then every one left the dead-letter queue and none came back
    assert moved.status == 0, moved.err
    assert json.loads(moved.out)["moved"] == {SALES_EMAILS.key: 6}
    assert ops.dead_letters(SALES_EMAILS) == []
    assert cli.json("errors", "sales_email") == []
    # And the emails to the contact that syncs still have one Task per event: none duplicated
    expected = sorted(f"hs:sales_email:{e}:{i}" for i in emails.to_syncing for e in ("sent", "open", "click"))
    assert _tasks(ops, emails.to_syncing) == expected
    assert set(links.links("activity", [f"hs:sales_email:sent:{i}" for i in emails.to_syncing])) == {
        f"hs:sales_email:sent:{i}" for i in emails.to_syncing
    }
    # And those to the contact that does not sync are parked again, each once, no Task made
    waiting = {item.key for item in ops.world.service.state.waiting_for(emails.waiting_contact)}
    assert waiting == {f"{SALES_EMAILS.key}#{i}" for i in emails.to_waiting}
    assert _tasks(ops, emails.to_waiting) == []
