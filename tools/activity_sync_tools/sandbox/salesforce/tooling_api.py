"""The Tooling API subset an operator's checks read: the org's Outbound Messages and the flows that
send them (``GET /services/data/vXX.X/tooling/query?q=...``).

Each Outbound Message the sandbox is configured with (``/_sandbox/outbound-messages``, one per
object) stands for what the project's metadata deploys: a ``WorkflowOutboundMessage`` named
``HubSpot_Activity_Sync_<Object>`` and the active record-triggered flow
``HubSpot_Activity_Sync_<Object>_Changed`` whose action calls it. Shapes as Salesforce documents them:
``WorkflowOutboundMessage`` (its endpoint only in ``Metadata.endpointUrl``, and ``Metadata``/
``FullName`` only on a query that returns at most one record),
https://developer.salesforce.com/docs/atlas.en-us.api_tooling.meta/api_tooling/tooling_api_objects_workflowoutboundmessage.htm;
``FlowDefinitionView`` (``IsActive``, ``ActiveVersionId``, ``TriggerObjectOrEventId``); ``Flow``
(``Status``, ``Metadata.actionCalls`` with ``actionType: outboundMessage`` and ``actionName:
<Object>.<message>``), https://developer.salesforce.com/docs/atlas.en-us.api_tooling.meta/api_tooling/tooling_api_objects_flow.htm.

``FlowDefinitionView`` is a data API object (``/query``), the others Tooling API objects
(``/tooling/query``). Queries: ``SELECT f1, f2 FROM Object [WHERE a = 'x' AND b = true AND c IN
('x', 'y')]``; field names in any case, as SOQL takes them.
"""

from __future__ import annotations

import re
from typing import Any

from werkzeug.wrappers import Response

from activity_sync_tools.sandbox.core import json_response
from activity_sync_tools.sandbox.salesforce.api_common import ApiContext
from activity_sync_tools.sandbox.salesforce.errors import invalid_field, malformed_query
from activity_sync_tools.sandbox.salesforce.org import Org

VIEW_QUERY = re.compile(r"\bFROM\s+FlowDefinitionView\b", re.IGNORECASE)
_QUERY = re.compile(
    r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<object>\w+)(?:\s+WHERE\s+(?P<where>.+?))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_CONDITION = re.compile(
    r"^\s*(?P<field>\w+)\s*(?:=\s*(?P<value>'[^']*'|true|false|null)|\s+IN\s*\((?P<values>[^)]*)\))\s*$",
    re.IGNORECASE,
)
_ONE_RECORD_FIELDS = {"Metadata", "FullName"}
TOOLING_OBJECTS = ("WorkflowOutboundMessage", "Flow")
DATA_OBJECTS = ("FlowDefinitionView",)


def _value(raw: str) -> Any:
    raw = raw.strip()
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    if raw.lower() == "null":
        return None
    return raw.strip("'")


class ToolingApi:
    def __init__(self, org: Org) -> None:
        self.org = org

    def query(self, ctx: ApiContext) -> Response:
        """``/tooling/query``."""
        return self.answer(ctx, ctx.request.args.get("q") or "", TOOLING_OBJECTS)

    def answer(self, ctx: ApiContext, text: str, served: tuple[str, ...]) -> Response:
        """A query of the objects ``served`` (those this API answers; the data API's ``/query``
        hands ``FlowDefinitionView`` here)."""
        match = _QUERY.match(text)
        if not match:
            raise malformed_query(f"unexpected query: {text}")
        sobject = next((name for name in served if name.lower() == match.group("object").lower()), None)
        if sobject is None:
            raise invalid_field(f"sObject type '{match.group('object')}' is not supported.")
        known = {name.lower(): name for name in self._fields(sobject)}
        fields = [field.strip() for field in match.group("fields").split(",")]
        unknown = [field for field in fields if field.lower() not in known]
        if unknown:
            raise invalid_field(f"No such column '{unknown[0]}' on entity '{sobject}'.", unknown)
        fields = [known[field.lower()] for field in fields]
        conditions = self._conditions(match.group("where"), known, sobject)
        rows = [
            row
            for row in self._tables()[sobject]
            if all(row.get(field) in values for field, values in conditions)
        ]
        if _ONE_RECORD_FIELDS & set(fields) and len(rows) > 1:
            raise malformed_query(
                f"When retrieving results with Metadata or FullName fields, the query qualificatio"
                f"ns must specify no more than one row for retrieval. Result size: {len(rows)}"
            )
        tooling = "/tooling" if sobject in TOOLING_OBJECTS else ""
        base = f"/services/data/{ctx.version}{tooling}/sobjects/{sobject}"
        records = [
            {"attributes": {"type": sobject, "url": f"{base}/{row['Id']}"}, **{f: row.get(f) for f in fields}}
            for row in rows
        ]
        if not tooling:  # the data API's query shape
            return json_response({"totalSize": len(records), "done": True, "records": records})
        return json_response(
            {
                "size": len(records),
                "totalSize": len(records),
                "done": True,
                "queryLocator": None,
                "entityTypeName": sobject,
                "records": records,
            }
        )

    @staticmethod
    def _conditions(where: str | None, known: dict[str, str], sobject: str) -> list[tuple[str, list[Any]]]:
        """The WHERE clause as (field, accepted values), every field checked, rows or none."""
        conditions: list[tuple[str, list[Any]]] = []
        for condition in re.split(r"\s+AND\s+", where, flags=re.IGNORECASE) if where else []:
            match = _CONDITION.match(condition)
            if not match:
                raise malformed_query(f"unexpected condition: {condition}")
            field = known.get(match.group("field").lower())
            if field is None:
                raise invalid_field(f"No such column '{match.group('field')}' on entity '{sobject}'.")
            if match.group("values") is not None:
                conditions.append((field, [_value(v) for v in match.group("values").split(",")]))
            else:
                conditions.append((field, [_value(match.group("value"))]))
        return conditions

    def _fields(self, sobject: str) -> list[str]:
        return {
            "WorkflowOutboundMessage": [
                "Id",
                "Name",
                "ApiVersion",
                "EntityDefinitionId",
                "IntegrationUserId",
                "NamespacePrefix",
                "FullName",
                "Metadata",
            ],
            "FlowDefinitionView": [
                "Id",
                "ApiName",
                "IsActive",
                "ActiveVersionId",
                "ProcessType",
                "TriggerType",
                "TriggerObjectOrEventId",
            ],
            "Flow": ["Id", "DefinitionId", "Status", "ProcessType", "VersionNumber", "Metadata"],
        }[sobject]

    def _tables(self) -> dict[str, list[dict[str, Any]]]:
        messages: list[dict[str, Any]] = []
        definitions: list[dict[str, Any]] = []
        flows: list[dict[str, Any]] = []
        for action in self.org.outbound.actions():
            name = f"HubSpot_Activity_Sync_{action.sobject}"
            messages.append(
                {
                    "Id": action.action_id,
                    "Name": name.replace("_", " "),  # the label; FullName is <Object>.<unique name>
                    "ApiVersion": 62.0,
                    "EntityDefinitionId": action.sobject,
                    "IntegrationUserId": action.send_as,
                    "NamespacePrefix": None,
                    "FullName": f"{action.sobject}.{name}",
                    "Metadata": {
                        "apiVersion": 62.0,
                        "endpointUrl": action.endpoint_url,
                        "fields": list(action.fields),
                        "includeSessionId": action.include_session_id,
                        "integrationUser": action.send_as,
                        "name": name.replace("_", " "),
                        "protected": False,
                        "useDeadLetterQueue": False,
                    },
                }
            )
            flow_id = "301" + action.action_id[3:]
            definitions.append(
                {
                    "Id": "300" + action.action_id[3:],
                    "ApiName": f"{name}_Changed",
                    "IsActive": True,
                    "ActiveVersionId": flow_id,
                    "ProcessType": "AutoLaunchedFlow",
                    "TriggerType": "RecordAfterSave",
                    "TriggerObjectOrEventId": action.sobject,
                }
            )
            flows.append(
                {
                    "Id": flow_id,
                    "DefinitionId": "300" + action.action_id[3:],
                    "Status": "Active",
                    "ProcessType": "AutoLaunchedFlow",
                    "VersionNumber": 1,
                    "Metadata": {
                        "start": {
                            "object": action.sobject,
                            "triggerType": "RecordAfterSave",
                            "recordTriggerType": "CreateAndUpdate",
                        },
                        "actionCalls": [
                            {
                                "name": f"Send_{name}",
                                "actionType": "outboundMessage",
                                "actionName": f"{action.sobject}.{name}",
                            }
                        ],
                        "status": "Active",
                    },
                }
            )
        return {"WorkflowOutboundMessage": messages, "FlowDefinitionView": definitions, "Flow": flows}
