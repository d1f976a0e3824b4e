"""How a composite call's subrequest refused as a whole settles its records (R16, R18): for a
passing reason the call fails and the batch is tried again (its writes are idempotent); refused
for good, its records fail with Salesforce's words and the other subrequests' results stand.
(The sandbox answers subrequests whole; these two refusals are Salesforce's, stubbed here.)"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from activity_sync.adapters.http import CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS, Deadline
from activity_sync.adapters.salesforce_answers import Subrequest
from activity_sync.adapters.salesforce_api import SalesforceClient
from activity_sync.adapters.salesforce_oauth import SalesforceAuth
from activity_sync.ports import VendorApiError


class StubbedComposite(SalesforceClient):
    """A client whose composite calls get the given answers, one per subrequest."""

    def __init__(self, refusal: tuple[int, Any]) -> None:
        super().__init__(
            SalesforceAuth("https://login.example.com/services/oauth2/token", "id", client_secret="s")
        )
        self.refusal = refusal
        self.sent: list[Sequence[Subrequest]] = []

    def _composite(self, what: str, subrequests: Sequence[Subrequest]) -> list[tuple[int, Any]]:
        self.sent.append(subrequests)
        answers: list[tuple[int, Any]] = []
        for index, subrequest in enumerate(subrequests):
            records = subrequest.body["records"]
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


class RecordingRestful(SalesforceClient):
    """A client that records the read timeout each request asks for, and answers every composite
    subrequest with success."""

    def __init__(self) -> None:
        super().__init__(
            SalesforceAuth("https://login.example.com/services/oauth2/token", "id", client_secret="s")
        )
        self.read_seconds: list[float] = []

    def _restful(
        self, method: str, path: str, *, read_seconds: float = READ_TIMEOUT_SECONDS, **kwargs: Any
    ) -> Any:
        self.read_seconds.append(read_seconds)
        subrequests = kwargs["json"]["compositeRequest"]
        return {
            "compositeResponse": [
                {
                    "referenceId": s["referenceId"],
                    "httpStatusCode": 200,
                    "body": [{"id": "00T000000000001AAA", "success": True}] * len(s["body"]["records"]),
                }
                for s in subrequests
            ]
        }


def test_a_composite_call_waits_for_its_answer_as_long_as_its_requests_alone_would() -> None:
    # Given a client, When 1,000 tasks are upserted (five Collections requests in one call)
    client = RecordingRestful()
    client.upsert("Task", "HubSpot_Activity_Id__c", _tasks(1000))

    # Then that call waits five requests' worth for Salesforce's answer
    assert client.read_seconds == [5 * READ_TIMEOUT_SECONDS]


def test_a_long_read_timeout_still_ends_where_the_invocation_would_run_out_of_time() -> None:
    # Given 30 s left in the invocation
    deadline = Deadline(clock=lambda: 0.0)
    deadline.set_in(30)

    # When a request asks to wait 100 s for its answer, Then it waits what is left, no more
    connect, read = deadline.timeout("composite", "salesforce", 100)
    assert (connect, read) == (CONNECT_TIMEOUT_SECONDS, 30 - CONNECT_TIMEOUT_SECONDS)
    assert Deadline().timeout("query", "salesforce") == (CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS)
