"""Outbound Messages: the SOAP notifications the sandbox sends, acknowledgement and redelivery."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.etree.ElementTree import Element, tostring

import pytest

from activity_sync_tools.sandbox.salesforce.safe_xml import UnsafeXmlError, parse_xml
from activity_sync_tools.sandbox.salesforce.testing import Harness, SalesforceClient

pytestmark = pytest.mark.integration

SOAP = "{http://schemas.xmlsoap.org/soap/envelope/}"
OM = "{http://soap.sforce.com/2005/09/outbound}"
SF = "{urn:sobject.enterprise.soap.sforce.com}"
XSI = "{http://www.w3.org/2001/XMLSchema-instance}"
ACK = (
    b'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/'
    b'envelope/"><soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
    b"<Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>"
)
NACK = ACK.replace(b"<Ack>true</Ack>", b"<Ack>false</Ack>")


@dataclass
class Received:
    headers: dict[str, str]
    root: Element

    @property
    def notifications(self) -> Element:
        body = self.root.find(f"{SOAP}Body")
        assert body is not None
        found = body.find(f"{OM}notifications")
        assert found is not None
        return found

    def text(self, name: str) -> str | None:
        element = self.notifications.find(f"{OM}{name}")
        assert element is not None, name
        return element.text

    def records(self) -> list[dict[str, str | None]]:
        out = []
        for notification in self.notifications.findall(f"{OM}Notification"):
            sobject = notification.find(f"{OM}sObject")
            assert sobject is not None
            values: dict[str, str | None] = {child.tag.removeprefix(SF): child.text for child in sobject}
            values["_type"] = sobject.get(f"{XSI}type")
            values["_notification"] = notification.findtext(f"{OM}Id")
            out.append(values)
        return out


@dataclass
class Listener:
    """A local outbound-message listener whose answers are scripted."""

    answers: list[tuple[int, bytes]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.01)
        raise AssertionError(f"expected {count} messages, got {len(self.received)}")


@pytest.fixture
def listener() -> Iterator[Listener]:
    state = Listener()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            payload = self.rfile.read(length)
            try:
                root = parse_xml(payload)
            except UnsafeXmlError:
                self.send_response(400)
                self.end_headers()
                return
            with state.lock:
                state.received.append(Received(dict(self.headers), root))
                status, answer = state.answers.pop(0) if state.answers else (200, ACK)
            self.send_response(status)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_port}/salesforce/outbound"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _configure(harness: Harness, listener: Listener, **options: Any) -> list[dict[str, Any]]:
    body = {"endpoint_url": listener.url, "objects": ["Task", "Event"], **options}
    return harness.admin.post("/outbound-messages", body, expected=201)["actions"]  # type: ignore[no-any-return]


def _wait_until_settled(harness: Harness, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = harness.admin.get("/outbound-messages/deliveries")
        if not state["pending"]:
            return state  # type: ignore[no-any-return]
        time.sleep(0.02)
    raise AssertionError("outbound messages still pending")


def test_task_create_sends_a_soap_notification(
    sf: SalesforceClient, harness: Harness, listener: Listener
) -> None:
    # Given outbound messages for Task with a few fields
    actions = _configure(
        harness,
        listener,
        fields=["Subject", "WhoId", "Status", "LastModifiedById", "HubSpot_Activity_Id__c", "SystemModstamp"],
    )
    # When a task is created through the API
    task_id = sf.Task.create({"Subject": "Call <Ada> & co", "WhoId": harness.keys["ada"]})["id"]
    message = listener.wait_for(1)[0]
    # Then one SOAP notifications message arrives with Salesforce's envelope and the record's fields
    assert message.root.tag == f"{SOAP}Envelope"
    assert message.headers["Content-Type"].startswith("text/xml")
    assert message.text("OrganizationId") == harness.sandbox.org_id
    task_action = next(a for a in actions if a["sobject"] == "Task")
    assert message.text("ActionId") == task_action["action_id"]
    assert task_action["action_id"].startswith("04k")
    session = message.notifications.find(f"{OM}SessionId")
    assert session is not None
    assert session.get(f"{XSI}nil") == "true"
    assert f"{harness.url}/services/Soap/c/59.0/" in (message.text("EnterpriseUrl") or "")
    assert f"{harness.url}/services/Soap/u/59.0/" in (message.text("PartnerUrl") or "")
    [record] = message.records()
    assert record["_type"] == "sf:Task"
    assert record["_notification"] is not None
    assert record["_notification"].startswith("04l")
    assert record["Id"] == task_id
    assert record["Subject"] == "Call <Ada> & co"
    assert record["WhoId"] == harness.keys["ada"]
    assert record["Status"] == "Not Started"
    assert record["LastModifiedById"] == harness.keys["integration"]
    assert "HubSpot_Activity_Id__c" not in record  # null fields are left out
    assert record["SystemModstamp"] is not None
    assert record["SystemModstamp"].endswith("Z")
    assert next(iter(record)) == "Id"
    settled = _wait_until_settled(harness)
    assert [d["outcome"] for d in settled["deliveries"]] == ["delivered"]


def test_unacknowledged_messages_are_redelivered(
    sf: SalesforceClient, harness: Harness, listener: Listener
) -> None:
    # Given a listener that fails with 500, then answers without an Ack, then acknowledges
    _configure(harness, listener, objects=["Task"])
    listener.answers = [(500, b"oops"), (200, NACK)]
    # When a task is created
    task_id = sf.Task.create({"Subject": "Retry me"})["id"]
    # Then the same notification is sent three times until acknowledged
    messages = listener.wait_for(3)
    settled = _wait_until_settled(harness)
    notification_ids = {m.records()[0]["_notification"] for m in messages}
    assert len(notification_ids) == 1
    assert all(m.records()[0]["Id"] == task_id for m in messages)
    assert [(d["attempt"], d["outcome"], d["status_code"]) for d in settled["deliveries"]] == [
        (1, "retrying", 500),
        (2, "retrying", 200),
        (3, "delivered", 200),
    ]


def test_messages_are_dropped_after_the_last_attempt(
    sf: SalesforceClient, harness: Harness, listener: Listener
) -> None:
    # Given a listener that always fails and two attempts allowed
    harness.admin.post("/outbound-messages/settings", {"max_attempts": 2, "retry_base_seconds": 0.01})
    _configure(harness, listener, objects=["Task"])
    listener.answers = [(503, b"down")] * 5
    # When a task is created
    sf.Task.create({"Subject": "Lost"})
    # Then two attempts are made and the notification is dropped
    settled = _wait_until_settled(harness)
    assert [d["outcome"] for d in settled["deliveries"]] == ["retrying", "dropped"]
    assert len(listener.received) == 2


def test_updates_send_deletes_do_not_and_other_objects_are_ignored(
    sf: SalesforceClient, harness: Harness, listener: Listener
) -> None:
    # Given outbound messages for Task and Event, delivered only on flush
    harness.admin.post("/outbound-messages/settings", {"background": False})
    _configure(harness, listener)
    task_id = sf.Task.create({"Subject": "a"})["id"]
    harness.admin.post("/outbound-messages/flush")
    # When the task is updated twice and deleted, a contact is created, and an event is created
    sf.Task.update(task_id, {"Subject": "b"})
    sf.Task.update(task_id, {"Subject": "c"})
    sf.Contact.create({"LastName": "Nobody"})
    event_id = sf.Event.create(
        {"Subject": "Meet", "StartDateTime": "2024-01-01T10:00:00Z", "DurationInMinutes": 30}
    )["id"]
    report = harness.admin.post("/outbound-messages/flush")
    sf.Task.delete(task_id)
    after_delete = harness.admin.post("/outbound-messages/flush")
    # Then the two updates coalesce into one notification with the latest data, the event gets its
    # own message, and neither the contact nor the delete sends anything
    assert report["messages"] == 2
    assert report["delivered"] == 2
    records = [m.records()[0] for m in listener.received[1:]]
    assert {(r["_type"], r["Id"]) for r in records} == {("sf:Task", task_id), ("sf:Event", event_id)}
    assert next(r for r in records if r["Id"] == task_id)["Subject"] == "c"
    assert after_delete["messages"] == 0
    assert len(listener.received) == 3


def test_up_to_100_notifications_per_message(
    sf: SalesforceClient, harness: Harness, listener: Listener
) -> None:
    # Given delivery on flush only
    harness.admin.post("/outbound-messages/settings", {"background": False})
    _configure(harness, listener, objects=["Task"], fields=["Subject"])
    # When 150 tasks are created in one collection
    records = [{"attributes": {"type": "Task"}, "Subject": f"T{n}"} for n in range(150)]
    sf.restful("composite/sobjects", method="POST", json={"records": records})
    report = harness.admin.post("/outbound-messages/flush")
    # Then they arrive in two messages of 100 and 50 notifications
    assert report["messages"] == 2
    assert [len(m.records()) for m in listener.received] == [100, 50]
    assert {r["Subject"] for m in listener.received for r in m.records()} == {f"T{n}" for n in range(150)}


def test_rolled_back_writes_send_nothing(sf: SalesforceClient, harness: Harness, listener: Listener) -> None:
    # Given delivery on flush only
    harness.admin.post("/outbound-messages/settings", {"background": False})
    _configure(harness, listener, objects=["Task"])
    # When an allOrNone collection fails
    sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": True,
            "records": [
                {"attributes": {"type": "Task"}, "Subject": "ok"},
                {"attributes": {"type": "Task"}, "Status": "Nope"},
            ],
        },
    )
    report = harness.admin.post("/outbound-messages/flush")
    # Then no message is sent
    assert report["messages"] == 0
    assert listener.received == []


def test_session_id_is_sent_when_configured_and_works(
    sf: SalesforceClient, harness: Harness, listener: Listener
) -> None:
    # Given an outbound message that sends a session id for alice
    _configure(harness, listener, objects=["Task"], include_session_id=True, send_as="@alice")
    # When a task is created by a human (bob, in the UI)
    created = harness.admin.post(
        "/sobjects/Task", {"as_user": "@bob", "fields": {"Subject": "From Bob"}}, expected=201
    )
    message = listener.wait_for(1)[0]
    # Then the message names bob as modifier and its session id can call the API as alice
    record = message.records()[0]
    assert record["LastModifiedById"] == harness.keys["bob"]
    assert record["Id"] == created["id"]
    session_id = message.text("SessionId")
    assert session_id
    info = harness.client(session_id).oauth2("userinfo")
    assert info["user_id"] == harness.keys["alice"]


def test_listener_sees_constructor_configured_outbound_messages(listener: Listener) -> None:
    # Given a sandbox started with outbound_message_url
    from activity_sync_tools.sandbox.salesforce import start_salesforce_sandbox

    server = start_salesforce_sandbox(outbound_message_url=listener.url)
    try:
        harness = Harness(server, seed={})
        # When a task is created
        task_id = harness.client().Task.create({"Subject": "Hello"})["id"]
        # Then the listener receives it
        assert listener.wait_for(1)[0].records()[0]["Id"] == task_id
    finally:
        server.stop()


def test_changes_by_a_skipped_user_send_nothing_as_the_flows_entry_condition_says(
    sf: SalesforceClient, harness: Harness, listener: Listener
) -> None:
    # Given Outbound Messages whose flow leaves out the integration user's own changes
    _configure(harness, listener, objects=["Task"], skip_changes_by=["@integration"])
    # When the integration user (the API client) creates a Task, and a rep creates another
    sf.Task.create({"Subject": "Written by the sync"})
    by_rep = harness.admin.post(
        "/sobjects/Task",
        {"as_user": harness.keys["alice"], "fields": {"Subject": "Logged by Alice"}},
        expected=201,
    )
    # Then only the rep's Task is notified
    messages = listener.wait_for(1)
    _wait_until_settled(harness)
    assert [r["Id"] for m in listener.received for r in m.records()] == [by_rep["id"]]
    assert len(messages) == 1


# -- duplicate delivery -----------------------------------------------------------------------------


def _notification_ids(message: Received) -> list[str | None]:
    return [r["_notification"] for r in message.records()]


def test_deliver_twice_sends_every_acknowledged_message_again_identically(
    sf: SalesforceClient, harness: Harness, listener: Listener
) -> None:
    # Given messages delivered twice, on flush only
    settings = harness.admin.post("/outbound-messages/settings", {"background": False, "deliver_twice": True})
    _configure(harness, listener, objects=["Task"], fields=["Subject"])
    # When two tasks are created, one flush each
    reports = []
    for subject in ("first", "second"):
        sf.Task.create({"Subject": subject})
        reports.append(harness.admin.post("/outbound-messages/flush"))
    # Then each message reached the listener exactly twice, the same envelope with the same Ids
    assert (settings["deliver_twice"], settings["duplicates_sent"]) == (True, 0)
    first, copy, second, second_copy = listener.wait_for(4)
    for original, duplicate in ((first, copy), (second, second_copy)):
        assert tostring(duplicate.root) == tostring(original.root)
        assert _notification_ids(duplicate) == _notification_ids(original)
    assert _notification_ids(first) != _notification_ids(second)
    assert [(r["messages"], r["delivered"], r["duplicates"]) for r in reports] == [(1, 1, 1)] * 2
    # And the log records the copies as attempts, counted in the settings
    log = harness.admin.get("/outbound-messages/deliveries?include_envelope=1")["deliveries"]
    assert [(d["attempt"], d["outcome"], d["duplicate"]) for d in log] == [
        (1, "delivered", False),
        (1, "delivered", True),
    ] * 2
    assert log[0]["envelope"] == log[1]["envelope"]
    assert log[0]["notification_ids"] == log[1]["notification_ids"]
    assert harness.admin.get("/outbound-messages/settings")["duplicates_sent"] == 2
    assert len(listener.received) == 4


def test_deliver_twice_copies_only_acknowledged_messages_and_never_retries_a_copy(
    sf: SalesforceClient, harness: Harness, listener: Listener
) -> None:
    # Given messages delivered twice, and a listener that refuses the first try and the copy
    harness.admin.post("/outbound-messages/settings", {"deliver_twice": True})
    _configure(harness, listener, objects=["Task"])
    listener.answers = [(500, b"oops"), (200, ACK), (200, NACK)]
    # When a task is created (background delivery)
    sf.Task.create({"Subject": "Flaky"})
    messages = listener.wait_for(3)
    settled = _wait_until_settled(harness)
    # Then the failure was retried, the acknowledged retry copied once, and the unacked copy let go
    assert [(d["attempt"], d["outcome"], d["duplicate"]) for d in settled["deliveries"]] == [
        (1, "retrying", False),
        (2, "delivered", False),
        (2, "dropped", True),
    ]
    assert len({tuple(_notification_ids(m)) for m in messages}) == 1
    time.sleep(0.2)  # longer than the retry backoff: nothing more comes
    assert len(listener.received) == 3


def test_deliver_twice_is_off_by_default_and_after_a_reset(
    sf: SalesforceClient, harness: Harness, listener: Listener
) -> None:
    # Given the default settings
    defaults = harness.admin.get("/outbound-messages/settings")
    harness.admin.post("/outbound-messages/settings", {"background": False})
    _configure(harness, listener, objects=["Task"])
    # When a task is created and flushed, and deliver_twice is switched on and the org reset
    sf.Task.create({"Subject": "Once"})
    report = harness.admin.post("/outbound-messages/flush")
    harness.admin.post("/outbound-messages/settings", {"deliver_twice": True})
    harness.admin.post("/reset")
    # Then one message was sent, and the reset switched duplicates off
    assert (defaults["deliver_twice"], defaults["duplicates_sent"]) == (False, 0)
    assert (report["messages"], report["duplicates"]) == (1, 0)
    assert len(listener.received) == 1
    assert harness.admin.get("/outbound-messages/settings")["deliver_twice"] is False


def test_deliver_twice_must_be_a_boolean(harness: Harness) -> None:
    response = harness.admin.call("POST", "/outbound-messages/settings", 400, json={"deliver_twice": "yes"})
    assert "deliver_twice" in response.json()["message"]
    assert harness.admin.get("/outbound-messages/settings")["deliver_twice"] is False
