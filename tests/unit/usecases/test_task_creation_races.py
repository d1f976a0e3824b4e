"""R15/R18: a Task creation refused because the Task exists - another batch of the same type made it
meanwhile, or its link was lost - costs a second Salesforce call only when that Task does not hold
what this batch would write already."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any, cast

from activity_sync.domain import (
    SALESFORCE_EXTERNAL_ID_FIELD,
    HubSpotActivity,
    HubSpotActivityType,
    SalesforceTaskDraft,
)
from activity_sync.messages import ChangeMessage, ChangeSource
from activity_sync.ports import WriteResult
from activity_sync.rules.echo import fingerprint
from activity_sync.usecases.hubspot_to_salesforce import HubSpotToSalesforce, _Pending

EXISTS = WriteResult(
    success=False, errors=({"statusCode": "INVALID_FIELD_FOR_INSERT_UPDATE", "message": "TaskSubtype"},)
)


class SavedLinks:
    """The links table as another batch has just left it."""

    def __init__(self, saved: Mapping[str, str]) -> None:
        self.saved = saved  # external id -> fingerprint of what its Task holds
        self.reads: list[list[str]] = []

    def links(self, object_type: str, ids: Sequence[str]) -> dict[str, Any]:
        self.reads.append(list(ids))
        return {i: SimpleNamespace(fingerprint=self.saved[i]) for i in ids if i in self.saved}


class RecordingSalesforce:
    def __init__(self) -> None:
        self.upserts: list[list[Mapping[str, Any]]] = []

    def upsert(
        self, sobject: str, external_id_field: str, records: Sequence[Mapping[str, Any]]
    ) -> list[WriteResult]:
        self.upserts.append(list(records))
        return [WriteResult(success=True, id=f"00T{n:015d}", created=False) for n, _ in enumerate(records)]


def _note(note_id: str, body: str) -> _Pending:
    activity = HubSpotActivity(HubSpotActivityType.NOTE, note_id, dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    change = ChangeMessage(
        sync_type="hubspot_to_salesforce#note", object_id=note_id, source=ChangeSource.HUBSPOT_WEBHOOK
    )
    draft = SalesforceTaskDraft(
        f"hs:note:{note_id}",
        {
            SALESFORCE_EXTERNAL_ID_FIELD: f"hs:note:{note_id}",
            "Subject": f"Note: {body}",
            "TaskSubtype": "Task",
        },
    )
    return _Pending(activity, [f"m-{note_id}"], change, draft=draft)


def _syncer(links: SavedLinks, salesforce: RecordingSalesforce) -> HubSpotToSalesforce:
    unused = cast("Any", None)
    return HubSpotToSalesforce(
        HubSpotActivityType.NOTE,
        settings=unused,
        links=cast("Any", links),
        state=unused,
        hubspot=unused,
        salesforce=cast("Any", salesforce),
        queues=unused,
        owners=unused,
    )


def test_r18_a_task_another_batch_made_with_the_same_fields_costs_no_second_call() -> None:
    # Given two notes whose creations were refused: the Task exists. Another batch saved the first
    # one's link with the very fields this batch would write; the second one's link says otherwise
    same, newer = _note("1", "Final words"), _note("2", "Newer words")
    assert same.draft is not None
    links = SavedLinks({"hs:note:1": fingerprint(same.draft.update_fields), "hs:note:2": "older"})
    salesforce = RecordingSalesforce()

    # When the refusals are settled
    outcomes = _syncer(links, salesforce)._update_existing([same, newer], [EXISTS, EXISTS])

    # Then one read of their links, and one Salesforce call for the second note only, with the
    # fields an update may set (not TaskSubtype); the first needs nothing more
    assert links.reads == [["hs:note:1", "hs:note:2"]]
    assert salesforce.upserts == [
        [{SALESFORCE_EXTERNAL_ID_FIELD: "hs:note:2", "Subject": "Note: Newer words"}]
    ]
    assert outcomes[0] is None
    assert outcomes[1] is not None
    assert outcomes[1].success


def test_r15_a_task_whose_link_was_lost_is_updated_in_place() -> None:
    # Given a note whose creation was refused, and no link for it at all
    lost = _note("3", "Edited")
    salesforce = RecordingSalesforce()

    # When the refusal is settled, Then the Task is updated in place by its External ID
    outcomes = _syncer(SavedLinks({}), salesforce)._update_existing([lost], [EXISTS])
    assert salesforce.upserts == [[{SALESFORCE_EXTERNAL_ID_FIELD: "hs:note:3", "Subject": "Note: Edited"}]]
    assert outcomes == [WriteResult(success=True, id="00T000000000000000", created=False)]


def test_r18_creations_that_went_through_read_and_write_nothing_more() -> None:
    # Given a creation that succeeded and one refused for another reason
    made = WriteResult(success=True, id="00T000000000000001", created=True)
    refused = WriteResult(
        success=False, errors=({"statusCode": "FIELD_INTEGRITY_EXCEPTION", "message": "WhoId"},)
    )
    links, salesforce = SavedLinks({}), RecordingSalesforce()

    # When they are settled, Then their outcomes stand, with no read and no call
    outcomes = _syncer(links, salesforce)._update_existing(
        [_note("4", "a"), _note("5", "b")], [made, refused]
    )
    assert outcomes == [made, refused]
    assert links.reads == []
    assert salesforce.upserts == []
