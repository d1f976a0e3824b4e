"""How a composite call's subrequest refused as a whole settles its records (R16, R18): for a
passing reason the call fails and the batch is tried again (its writes are idempotent); refused
for good, its records fail with Salesforce's words and the other subrequests' results stand.
(The sandbox answers subrequests whole; these two refusals are Salesforce's, stubbed here.)"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from activity_sync.adapters.salesforce_api import SalesforceAuth, SalesforceClient
from activity_sync.ports import VendorApiError


class StubbedComposite(SalesforceClient):
    """A client whose composite calls get the given answers, one per subrequest."""

    def __init__(self, refusal: tuple[int, Any]) -> None:
        super().__init__(
            SalesforceAuth("https://login.example.com/services/oauth2/token", "id", client_secret="s")
        )
        self.refusal = refusal
        self.sent: list[Sequence[Mapping[str, Any]]] = []

    def _composite(self, what: str, subrequests: Sequence[Mapping[str, Any]]) -> list[tuple[int, Any]]:
        self.sent.append(subrequests)
        answers: list[tuple[int, Any]] = []
        for index, subrequest in enumerate(subrequests):
            records = subrequest["body"]["records"]
            if index == 1:
                answers.append(self.refusal)
            else:
                answers.append(
                    (200, [{"id": f"00T{index}{n:014d}", "success": True} for n in range(len(records))])
                )
        return answers


def _tasks(count: int) -> list[dict[str, Any]]:
    return [{"HubSpot_Activity_Id__c": f"hs-{n}", "Subject": f"Task {n}"} for n in range(count)]


def test_a_subrequest_refused_for_good_fails_its_records_and_the_others_stand() -> None:
    # Given Salesforce refuses the second of three Collections subrequests for good
    client = StubbedComposite((400, [{"errorCode": "JSON_PARSER_ERROR", "message": "bad body"}]))

    # When 450 tasks are upserted in one composite call
    results = client.upsert("Task", "HubSpot_Activity_Id__c", _tasks(450))

    # Then records 200-399 fail with Salesforce's code and message; the others are written
    assert len(client.sent) == 1
    assert [r.success for r in results] == [True] * 200 + [False] * 200 + [True] * 50
    assert results[250].error_codes == ["JSON_PARSER_ERROR"]
    assert "bad body" in results[250].message
    assert results[449].id == "00T2" + f"{49:014d}"


@pytest.mark.parametrize(
    "refusal",
    [
        (503, [{"errorCode": "SERVER_UNAVAILABLE", "message": "try later"}]),
        (400, [{"errorCode": "UNABLE_TO_LOCK_ROW", "message": "locked"}]),
    ],
)
def test_a_subrequest_refused_for_a_passing_reason_fails_the_call_to_be_tried_again(
    refusal: tuple[int, Any],
) -> None:
    # Given Salesforce refuses the second subrequest for a reason that passes
    client = StubbedComposite(refusal)

    # When 450 tasks are upserted, Then the call fails as retryable, as one request alone would
    with pytest.raises(VendorApiError) as raised:
        client.upsert("Task", "HubSpot_Activity_Id__c", _tasks(450))
    assert raised.value.retryable is True
