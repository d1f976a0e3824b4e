"""The Salesforce metadata in salesforce/ (SFDX source format) matches what the service expects: the
External ID field it upserts Tasks by, Outbound Messages carrying the fields the receiver needs, the
flows that send them, the integration user's permission set, and the project file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element

import pytest
from defusedxml import ElementTree

from activity_sync.domain import SALESFORCE_EXTERNAL_ID_FIELD
from activity_sync.rules.salesforce_outbound import OUTBOUND_NS, parse_outbound_message
from activity_sync.usecases.ingest import route_outbound_message
from activity_sync_tools.local.template import load_template

ROOT = Path(__file__).resolve().parents[3]
PROJECT = ROOT / "salesforce"
SOURCE = PROJECT / "force-app" / "main" / "default"
MD = "{http://soap.sforce.com/2006/04/metadata}"
TEMPLATE: dict[str, Any] = load_template(ROOT / "template.yaml")
ORG_ID = "00D000000000001EAA"

# What the receiver (usecases/ingest.py) and the echo rule (rules/echo.py) read from a notification.
REQUIRED_FIELDS = {
    "Task": {"Id", "TaskSubtype", "LastModifiedById", "SystemModstamp"},
    "Event": {"Id", "LastModifiedById", "SystemModstamp"},
}


def _root(path: Path, tag: str) -> Element:
    root = ElementTree.parse(path).getroot()
    assert root is not None, f"{path.name} is empty"
    assert root.tag == f"{MD}{tag}", f"{path.name} is not a {tag}"
    return root


def _text(element: Element, name: str) -> str:
    child = element.find(f"{MD}{name}")
    assert child is not None, f"<{name}> missing"
    return (child.text or "").strip()


def _texts(element: Element, name: str) -> list[str]:
    return [(child.text or "").strip() for child in element.findall(f"{MD}{name}")]


def _project() -> dict[str, Any]:
    project: dict[str, Any] = json.loads((PROJECT / "sfdx-project.json").read_text())
    return project


def _outbound_message(sobject: str) -> Element:
    workflow = _root(SOURCE / "workflows" / f"{sobject}.workflow-meta.xml", "Workflow")
    messages = workflow.findall(f"{MD}outboundMessages")
    assert len(messages) == 1, f"{sobject} should carry exactly one outbound message"
    return messages[0]


def _notification(sobject: str, fields: list[str]) -> str:
    """A SOAP notification as Salesforce sends it, carrying exactly the fields the metadata selects."""
    samples = {
        "Id": "00T000000000001AAA" if sobject == "Task" else "00U000000000001AAA",
        "TaskSubtype": "Call",
        "LastModifiedById": "005000000000001AAA",
        "SystemModstamp": "2026-05-01T10:00:00.000Z",
        SALESFORCE_EXTERNAL_ID_FIELD: "",
    }
    values = "".join(f"<sf:{name}>{samples[name]}</sf:{name}>" for name in fields)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        f'<notifications xmlns="{OUTBOUND_NS}"><OrganizationId>{ORG_ID}</OrganizationId>'
        '<ActionId>04k000000000001AAA</ActionId><SessionId xsi:nil="true"/>'
        "<EnterpriseUrl>https://example.my.salesforce.com/services/Soap/c/62.0/00D000000000001</EnterpriseUrl>"
        "<PartnerUrl>https://example.my.salesforce.com/services/Soap/u/62.0/00D000000000001</PartnerUrl>"
        "<Notification><Id>04l000000000001AAA</Id>"
        f'<sObject xsi:type="sf:{sobject}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"{values}</sObject>"
        "</Notification></notifications></soapenv:Body></soapenv:Envelope>"
    )


def test_sfdx_project_points_at_the_package_directory() -> None:
    directories = _project()["packageDirectories"]
    assert [d["path"] for d in directories] == ["force-app"]
    assert directories[0]["default"] is True
    assert (PROJECT / directories[0]["path"] / "main" / "default").is_dir()


def test_source_api_version_is_the_one_the_stack_calls() -> None:
    version = _project()["sourceApiVersion"]
    assert version == TEMPLATE["Parameters"]["SalesforceApiVersion"]["Default"]
    for flow in sorted((SOURCE / "flows").glob("*.flow-meta.xml")):
        assert _text(_root(flow, "Flow"), "apiVersion") == version, flow.name
    for sobject in REQUIRED_FIELDS:
        assert _text(_outbound_message(sobject), "apiVersion") == version


def test_r15_external_id_field_is_unique_case_insensitive_text_on_activity() -> None:
    path = SOURCE / "objects" / "Activity" / "fields" / f"{SALESFORCE_EXTERNAL_ID_FIELD}.field-meta.xml"
    field = _root(path, "CustomField")
    assert _text(field, "fullName") == SALESFORCE_EXTERNAL_ID_FIELD
    assert _text(field, "type") == "Text"
    assert _text(field, "length") == "255"
    assert _text(field, "externalId") == "true"
    assert _text(field, "unique") == "true"
    assert _text(field, "caseSensitive") == "false"
    assert _text(field, "required") == "false"


@pytest.mark.parametrize("sobject", sorted(REQUIRED_FIELDS))
def test_outbound_message_sends_what_the_receiver_needs(sobject: str) -> None:
    message = _outbound_message(sobject)
    fields = _texts(message, "fields")
    assert REQUIRED_FIELDS[sobject] <= set(fields)
    # R14: the service's own copies carry the external id; sending it lets the receiver see that.
    assert SALESFORCE_EXTERNAL_ID_FIELD in fields
    assert len(fields) == len(set(fields))
    assert _text(message, "includeSessionId") == "false"


@pytest.mark.parametrize("sobject", sorted(REQUIRED_FIELDS))
def test_outbound_message_targets_the_stacks_outbound_message_route(sobject: str) -> None:
    endpoint = _text(_outbound_message(sobject), "endpointUrl")
    output = TEMPLATE["Outputs"]["SalesforceOutboundMessageUrl"]["Value"]["Fn::Sub"]
    assert urlsplit(endpoint).scheme == "https"
    # The stack's output, then the per-stack token the receiver checks (R17)
    base, _, token = urlsplit(endpoint).path.rpartition("/")
    assert output.endswith(base)
    assert base == "/webhooks/salesforce/outbound-messages"
    assert token


def test_outbound_messages_ship_the_same_placeholders() -> None:
    # The configure script and the docs replace these; both objects must start from the same values.
    endpoints = {_text(_outbound_message(s), "endpointUrl") for s in REQUIRED_FIELDS}
    users = {_text(_outbound_message(s), "integrationUser") for s in REQUIRED_FIELDS}
    assert len(endpoints) == 1
    assert len(users) == 1


@pytest.mark.parametrize(
    ("sobject", "sync_type"),
    [("Task", "salesforce_to_hubspot#call"), ("Event", "salesforce_to_hubspot#meeting")],
)
def test_r10_receiver_routes_a_notification_built_from_the_metadata(sobject: str, sync_type: str) -> None:
    # Given a notification carrying exactly the fields the Outbound Message selects
    body = _notification(sobject, _texts(_outbound_message(sobject), "fields"))
    # When the receiver parses and routes it
    routed = route_outbound_message(parse_outbound_message(body), ORG_ID)
    # Then it is queued on the type the record belongs to
    assert [change.sync_type for change in routed.changes] == [sync_type]
    assert routed.ignored == []


def test_r10_a_task_notification_without_task_subtype_goes_to_the_task_syncer() -> None:
    # Given an Outbound Message whose TaskSubtype was left out (or is null)
    fields = [f for f in _texts(_outbound_message("Task"), "fields") if f != "TaskSubtype"]
    routed = route_outbound_message(parse_outbound_message(_notification("Task", fields)), ORG_ID)
    # Then the task syncer gets it (it re-reads the record and hands emails and calls on)
    assert [change.sync_type for change in routed.changes] == ["salesforce_to_hubspot#task"]


@pytest.mark.parametrize("sobject", sorted(REQUIRED_FIELDS))
def test_record_triggered_flow_sends_the_outbound_message_on_create_and_edit(sobject: str) -> None:
    flow = _root(SOURCE / "flows" / f"HubSpot_Activity_Sync_{sobject}_Changed.flow-meta.xml", "Flow")
    start = flow.find(f"{MD}start")
    assert start is not None
    assert _text(flow, "processType") == "AutoLaunchedFlow"
    assert _text(flow, "status") == "Active"
    assert _text(start, "object") == sobject
    assert _text(start, "triggerType") == "RecordAfterSave"
    assert _text(start, "recordTriggerType") == "CreateAndUpdate"
    actions = {_text(a, "name"): a for a in flow.findall(f"{MD}actionCalls")}
    connector = start.find(f"{MD}connector")
    assert connector is not None
    action = actions[_text(connector, "targetReference")]
    assert _text(action, "actionType") == "outboundMessage"
    assert _text(action, "actionName") == f"{sobject}.{_text(_outbound_message(sobject), 'fullName')}"
    # R14/R18: the service's own writes (its user holds the writer permission) send nothing back
    assert _text(start, "filterFormula") == "NOT({!$Permission.HubSpot_Activity_Sync_Writer})"


def test_the_integration_user_holds_the_permission_the_flows_leave_out() -> None:
    permission = _root(
        SOURCE / "customPermissions" / "HubSpot_Activity_Sync_Writer.customPermission-meta.xml",
        "CustomPermission",
    )
    assert _text(permission, "isLicensed") == "false"
    permission_set = _root(
        SOURCE / "permissionsets" / "HubSpot_Activity_Sync_Integration.permissionset-meta.xml",
        "PermissionSet",
    )
    granted = {
        _text(p, "name")
        for p in permission_set.findall(f"{MD}customPermissions")
        if _text(p, "enabled") == "true"
    }
    assert granted == {"HubSpot_Activity_Sync_Writer"}


def test_permission_set_grants_what_the_integration_user_needs() -> None:
    permission_set = _root(
        SOURCE / "permissionsets" / "HubSpot_Activity_Sync_Integration.permissionset-meta.xml",
        "PermissionSet",
    )
    fields = {
        _text(p, "field"): (_text(p, "readable"), _text(p, "editable"))
        for p in permission_set.findall(f"{MD}fieldPermissions")
    }
    # Task and Event share the FLS of an Activity field: both entries, or Salesforce disables it.
    for sobject in ("Task", "Event"):
        assert fields[f"{sobject}.{SALESFORCE_EXTERNAL_ID_FIELD}"] == ("true", "true")
    objects = {_text(p, "object"): p for p in permission_set.findall(f"{MD}objectPermissions")}
    for name in ("Account", "Contact", "Lead", "Opportunity"):
        assert _text(objects[name], "allowRead") == "true"
        assert _text(objects[name], "allowDelete") == "false"
    enabled = {
        _text(p, "name")
        for p in permission_set.findall(f"{MD}userPermissions")
        if _text(p, "enabled") == "true"
    }
    assert {"ApiEnabled", "EditTask", "EditEvent"} <= enabled
    # Salesforce limits a permission set description to 255 characters.
    assert len(_text(permission_set, "description")) <= 255


def test_the_configure_script_renders_a_copy_that_sends_to_the_stacks_url_with_its_token(
    tmp_path: Path,
) -> None:
    # Given a copy of the project's Salesforce source
    import os
    import shutil
    import subprocess

    copy = tmp_path / "salesforce"
    shutil.copytree(PROJECT, copy, ignore=shutil.ignore_patterns(".deploy"))
    url = "https://abc123.execute-api.eu-west-1.amazonaws.com/webhooks/salesforce/outbound-messages"
    token = "a" * 64
    script = copy / "scripts" / "configure-outbound-messages.sh"
    tracked = {p: p.read_bytes() for p in (copy / "force-app").rglob("*.xml")}
    environment = {k: v for k, v in os.environ.items() if k != "OUTBOUND_MESSAGE_TOKEN"}

    def run(
        *arguments: str, token_env: str | None = None, stdin: str = ""
    ) -> subprocess.CompletedProcess[str]:
        env = environment if token_env is None else {**environment, "OUTBOUND_MESSAGE_TOKEN": token_env}
        return subprocess.run(
            ["bash", str(script), *arguments],
            input=stdin,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    # When the script runs without a token, with one too short, or with the token as an argument
    # (the old way, which left it in the shell history), Then it refuses
    for refused in (
        run(url, "sync@example.com"),
        run(url, "sync@example.com", token_env="short"),
        run(url, "sync@example.com", token),
    ):
        assert refused.returncode == 2, refused.stderr
    # When it runs with the token in the environment, and again with it on standard input
    for done, out in (
        (run(url, "sync@example.com", token_env=token), copy / ".deploy"),
        (
            run(url, "sync@example.com", "--out", str(tmp_path / "elsewhere"), stdin=token + "\n"),
            tmp_path / "elsewhere",
        ),
    ):
        assert done.returncode == 0, done.stderr
        assert token not in done.stdout + done.stderr
        # Then the rendered copy's Outbound Messages send to <url>/<token>, as that user
        assert (out / "sfdx-project.json").is_file()
        for sobject in ("Task", "Event"):
            workflow = _root(
                out / "force-app/main/default/workflows" / f"{sobject}.workflow-meta.xml", "Workflow"
            )
            message = workflow.find(f"{MD}outboundMessages")
            assert message is not None
            assert _text(message, "endpointUrl") == f"{url}/{token}"
            assert _text(message, "integrationUser") == "sync@example.com"
    # and the tracked files keep their placeholders, and git ignores the default copy
    assert {p: p.read_bytes() for p in (copy / "force-app").rglob("*.xml")} == tracked
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(PROJECT / ".deploy" / "sfdx-project.json")],
        cwd=PROJECT,
        check=False,
    )
    assert ignored.returncode == 0
