"""R15: a record HubSpot's batch-create answer does not name by the unique property is not linked
by position (HubSpot does not promise its results in input order): it comes back refused, and the
upsert that follows finds it by that property."""

from __future__ import annotations

from typing import Any

from activity_sync.adapters.hubspot_api import HubSpotClient
from activity_sync.ports import NewObject


class AnsweringClient(HubSpotClient):
    """A client whose requests get one canned answer."""

    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__("https://api.example.com", "token")
        self.answer = answer

    def request_json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return self.answer


def test_results_are_matched_by_the_unique_property_whatever_their_order() -> None:
    # Given HubSpot answers with the two records in the reverse order, one of them not named
    client = AnsweringClient(
        {
            "status": "COMPLETE",
            "results": [
                {"id": "902", "properties": {"activity_sync_salesforce_id": "00T000000000002AAA"}},
                {"id": "901", "properties": {}},
            ],
        }
    )

    # When three records are created
    results = client.create_objects(
        "calls",
        "activity_sync_salesforce_id",
        [NewObject({"activity_sync_salesforce_id": f"00T00000000000{n}AAA"}) for n in (1, 2, 3)],
    )

    # Then the named one gets its id; the others come back refused, to be upserted
    assert [(r.success, r.id) for r in results] == [(False, None), (True, "902"), (False, None)]
    assert results[0].error_codes == ["UNMATCHED"]
