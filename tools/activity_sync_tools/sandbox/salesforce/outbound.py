"""Outbound Messages: SOAP ``notifications`` sent to a listener when Tasks or Events are created or
updated (Salesforce sends none for deletes), redelivered until the listener acknowledges.

The envelope, as Salesforce sends it (sObject fields: ``Id`` first, then alphabetical; null fields
omitted — both as seen in published captures, not in a specification)::

    <?xml version="1.0" encoding="UTF-8"?>
    <soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
        xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
      <soapenv:Body>
        <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
          <OrganizationId>00D…</OrganizationId>
          <ActionId>04k…</ActionId>
          <SessionId xsi:nil="true"/>            (or the session id when the action sends one)
          <EnterpriseUrl>https://host/services/Soap/c/59.0/00D…</EnterpriseUrl>
          <PartnerUrl>https://host/services/Soap/u/59.0/00D…</PartnerUrl>
          <Notification>                          (1 to 100 per message)
            <Id>04l…</Id>
            <sObject xsi:type="sf:Task" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
              <sf:Id>00T…</sf:Id>
              <sf:Subject>…</sf:Subject>
            </sObject>
          </Notification>
        </notifications>
      </soapenv:Body>
    </soapenv:Envelope>

The listener must answer HTTP 2xx with ``<Ack>true</Ack>`` inside ``notificationsResponse``;
anything else (another status, no Ack, a refused connection, a timeout) is retried with
exponential backoff. Salesforce retries for 24 hours with intervals growing to 2 hours; the
sandbox scales this down for local use (``retry_base_seconds`` doubling per attempt, at most
``max_attempts`` tries, then the notification is dropped, as Salesforce drops it after 24 h).
Pending notifications for the same record coalesce, and each message carries the record's data at
send time ("only the latest data is delivered").

Salesforce may deliver a notification more than once. ``deliver_twice`` (a fault-injection
setting) makes that happen every time: an acknowledged message is sent once more right away, the
same envelope byte for byte (same notification ``Id``s), logged as a delivery attempt with
``"duplicate": true`` and never retried. ``duplicates_sent`` counts these copies.

Sources (consulted for the shapes above; nothing copied):

* Salesforce SOAP API Developer Guide, "Understanding the Outbound Messaging WSDL":
  https://developer.salesforce.com/docs/platform/api/guide/sforce-api-om-outboundmessaging-wsdl.html
  (``notifications`` element, its children, ``Notification`` with ``Id`` and ``sObject``,
  ``notificationsResponse``/``Ack``)
* "Understanding Notifications" (up to 100 notifications per message, queueing, retries, latest
  data only, duplicates possible):
  https://developer.salesforce.com/docs/atlas.en-us.236.0.api.meta/api/sforce_api_om_outboundmessaging_notifications.htm
* A captured message with ``sObject xsi:type="sf:…" xmlns:sf="urn:sobject.enterprise.soap.sforce.com"``,
  ``SessionId xsi:nil``, ``EnterpriseUrl``/``PartnerUrl`` under ``/services/Soap/c|u/``:
  http://www.mikesimonds.com/95-using-salesforce-outbound-soap-messages-php-post361.html
* The acknowledgement envelope:
  https://www.foxy-solutions.com/salesforce/outboundmessage-acknowledgement-to-prevent-duplicate-retrievals/

The ``SOAPAction`` header value the sandbox sends (``"notifications"``) is unverified.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import requests

from activity_sync_tools.sandbox.salesforce.safe_xml import UnsafeXmlError, find_all_local, parse_xml
from activity_sync_tools.sandbox.salesforce.store import Change
from activity_sync_tools.sandbox.salesforce.values import Value, to_soap_text

OUTBOUND_NAMESPACE = "http://soap.sforce.com/2005/09/outbound"
SOBJECT_NAMESPACE = "urn:sobject.enterprise.soap.sforce.com"
SOAP_ENVELOPE_NAMESPACE = "http://schemas.xmlsoap.org/soap/envelope/"
MAX_NOTIFICATIONS_PER_MESSAGE = 100
SUPPORTED_OBJECTS = ("Task", "Event")

# (sobject, record id, field names) -> field values at send time, or None when the record is gone
Snapshot = Callable[[str, str, list[str]], dict[str, Value] | None]
# user id -> a fresh session id for the action's "send as" user
SessionIssuer = Callable[[str | None], str]
MintId = Callable[[str], str]


@dataclass
class OutboundAction:
    action_id: str
    sobject: str
    endpoint_url: str
    fields: list[str]
    include_session_id: bool = False
    send_as: str | None = None
    verify_tls: bool | str = True
    # The flow's entry condition: changes made by these users send nothing (the project's flows
    # leave out the integration user's own writes, see salesforce/force-app/.../flows).
    skip_changes_by: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PendingNotification:
    notification_id: str
    action_id: str
    sobject: str
    record_id: str
    attempts: int = 0
    next_attempt_at: float = 0.0  # time.monotonic()
    in_flight: bool = False


@dataclass
class DeliveryAttempt:
    at: float
    action_id: str
    endpoint_url: str
    notification_ids: list[str]
    record_ids: list[str]
    attempt: int
    status_code: int | None
    acked: bool
    outcome: str  # delivered | retrying | dropped (a duplicate: delivered | dropped, never retried)
    error: str | None = None
    envelope: str = field(default="", repr=False)
    duplicate: bool = False  # a deliver_twice copy of the acknowledged attempt before it

    def describe(self, include_envelope: bool = False) -> dict[str, Any]:
        data = asdict(self)
        if not include_envelope:
            data.pop("envelope")
        return data


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def build_envelope(
    *,
    organization_id: str,
    action_id: str,
    session_id: str | None,
    enterprise_url: str,
    partner_url: str,
    sobject: str,
    notifications: list[tuple[str, dict[str, Value]]],
) -> str:
    """The SOAP request body for one message (``notifications``: (notification id, fields))."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENVELOPE_NAMESPACE}" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
        "<soapenv:Body>",
        f'<notifications xmlns="{OUTBOUND_NAMESPACE}">',
        f"<OrganizationId>{_escape(organization_id)}</OrganizationId>",
        f"<ActionId>{_escape(action_id)}</ActionId>",
        f"<SessionId>{_escape(session_id)}</SessionId>" if session_id else '<SessionId xsi:nil="true"/>',
        f"<EnterpriseUrl>{_escape(enterprise_url)}</EnterpriseUrl>",
        f"<PartnerUrl>{_escape(partner_url)}</PartnerUrl>",
    ]
    for notification_id, values in notifications:
        parts.append(f"<Notification><Id>{_escape(notification_id)}</Id>")
        parts.append(f'<sObject xsi:type="sf:{_escape(sobject)}" xmlns:sf="{SOBJECT_NAMESPACE}">')
        names = sorted((name for name in values if name != "Id"), key=str.lower)
        for name in ["Id", *names]:
            value = values.get(name)
            if value is None:
                continue
            parts.append(f"<sf:{name}>{_escape(to_soap_text(value))}</sf:{name}>")
        parts.append("</sObject></Notification>")
    parts += ["</notifications>", "</soapenv:Body>", "</soapenv:Envelope>"]
    return "\n".join(parts)


def is_acknowledged(status_code: int, body: bytes) -> bool:
    """Whether a listener's answer acknowledges the message (2xx with ``<Ack>true</Ack>``)."""
    if not 200 <= status_code < 300:
        return False
    try:
        root = parse_xml(body)
    except UnsafeXmlError:
        return False
    return any((element.text or "").strip().lower() == "true" for element in find_all_local(root, "Ack"))


class OutboundMessenger:
    """Queues notifications and delivers them from a background thread (while work is pending)."""

    def __init__(
        self,
        *,
        organization_id: str,
        mint_id: MintId,
        snapshot: Snapshot,
        issue_session: SessionIssuer,
        urls: Callable[[], tuple[str, str]],
        retry_base_seconds: float = 0.2,
        retry_max_seconds: float = 5.0,
        max_attempts: int = 5,
        timeout_seconds: float = 5.0,
        background: bool = True,
        deliver_twice: bool = False,
    ) -> None:
        self.organization_id = organization_id
        self._mint_id = mint_id
        self._snapshot = snapshot
        self._issue_session = issue_session
        self._urls = urls
        self.retry_base_seconds = retry_base_seconds
        self.retry_max_seconds = retry_max_seconds
        self.max_attempts = max_attempts
        self.timeout_seconds = timeout_seconds
        self.background = background
        self.deliver_twice = deliver_twice
        self.duplicates_sent = 0
        self._lock = threading.Condition()
        self._actions: list[OutboundAction] = []
        self._pending: list[PendingNotification] = []
        self._deliveries: list[DeliveryAttempt] = []
        self._worker: threading.Thread | None = None
        self._http = requests.Session()
        self._http.trust_env = False  # a local listener: no proxies from the environment

    # -- configuration ---------------------------------------------------------------------------
    def configure(
        self,
        *,
        endpoint_url: str,
        objects: list[str],
        fields_by_object: dict[str, list[str]],
        include_session_id: bool = False,
        send_as: str | None = None,
        verify_tls: bool | str = True,
        skip_changes_by: tuple[str, ...] = (),
    ) -> list[OutboundAction]:
        created = []
        for sobject in objects:
            action = OutboundAction(
                action_id=self._mint_id("04k"),
                sobject=sobject,
                endpoint_url=endpoint_url,
                fields=fields_by_object[sobject],
                include_session_id=include_session_id,
                send_as=send_as,
                verify_tls=verify_tls,
                skip_changes_by=skip_changes_by,
            )
            created.append(action)
        with self._lock:
            self._actions.extend(created)
        return created

    def actions(self) -> list[OutboundAction]:
        with self._lock:
            return list(self._actions)

    def clear(self, *, actions: bool = True) -> None:
        with self._lock:
            if actions:
                self._actions.clear()
            self._pending.clear()
            self._deliveries.clear()
            self.duplicates_sent = 0
            self._lock.notify_all()

    def stop(self) -> None:
        """Stop the background sender; pending notifications stay queued for ``flush``."""
        with self._lock:
            self.background = False
            worker = self._worker
            self._lock.notify_all()
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout=self.timeout_seconds + 1)

    # A flat JSON object like several others here (options, deliveries); only the shape is shared.
    def settings(self) -> dict[str, Any]:
        return {
            "background": self.background,
            "retry_base_seconds": self.retry_base_seconds,
            "retry_max_seconds": self.retry_max_seconds,
            "max_attempts": self.max_attempts,
            "timeout_seconds": self.timeout_seconds,
            "deliver_twice": self.deliver_twice,
            "duplicates_sent": self.duplicates_sent,
        }

    def update_settings(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply ``changes`` to the settings; ValueError (nothing changed) when invalid."""
        if "deliver_twice" in changes and not isinstance(changes["deliver_twice"], bool):
            raise ValueError("deliver_twice must be true or false")
        with self._lock:
            if "deliver_twice" in changes:
                self.deliver_twice = changes["deliver_twice"]
            if "background" in changes:
                self.background = bool(changes["background"])
            for name in ("retry_base_seconds", "retry_max_seconds", "timeout_seconds"):
                if name in changes:
                    setattr(self, name, float(changes[name]))
            if "max_attempts" in changes:
                self.max_attempts = max(1, int(changes["max_attempts"]))
            self._lock.notify_all()
        self._ensure_worker()
        return self.settings()

    # -- queueing --------------------------------------------------------------------------------
    def on_changes(self, changes: list[Change]) -> None:
        """Store listener: queue a notification per matching create/update (deletes send none)."""
        queued = False
        with self._lock:
            for change in changes:
                if change.kind == "deleted":
                    continue
                for action in self._actions:
                    if action.sobject != change.sobject or change.user_id in action.skip_changes_by:
                        continue
                    if any(
                        p.action_id == action.action_id
                        and p.record_id == change.record_id
                        and not p.in_flight
                        for p in self._pending
                    ):
                        continue  # the queued one will carry the latest data
                    self._pending.append(
                        PendingNotification(
                            notification_id=self._mint_id("04l"),
                            action_id=action.action_id,
                            sobject=change.sobject,
                            record_id=change.record_id,
                            next_attempt_at=time.monotonic(),
                        )
                    )
                    queued = True
            if queued:
                self._lock.notify_all()
        if queued:
            self._ensure_worker()

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(p) for p in self._pending]

    def deliveries(self, include_envelope: bool = False) -> list[dict[str, Any]]:
        with self._lock:
            return [d.describe(include_envelope) for d in self._deliveries]

    # -- delivery --------------------------------------------------------------------------------
    def _ensure_worker(self) -> None:
        with self._lock:
            if not self.background or not self._pending:
                return
            if self._worker is not None and self._worker.is_alive():
                return
            self._worker = threading.Thread(target=self._run, name="salesforce-outbound", daemon=True)
            self._worker.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self.background or not self._pending:
                    self._worker = None
                    return
                now = time.monotonic()
                due = [p for p in self._pending if not p.in_flight and p.next_attempt_at <= now]
                if not due:
                    waiting = [p.next_attempt_at for p in self._pending if not p.in_flight]
                    self._lock.wait(timeout=max(0.01, min(waiting) - now) if waiting else 0.05)
                    continue
                batch = self._take_batch(due)
            self._deliver(batch)

    def _take_batch(self, due: list[PendingNotification]) -> list[PendingNotification]:
        """Up to 100 due notifications of the first due action; marks them in flight (lock held)."""
        action_id = due[0].action_id
        batch = [p for p in due if p.action_id == action_id][:MAX_NOTIFICATIONS_PER_MESSAGE]
        for notification in batch:
            notification.in_flight = True
        return batch

    def flush(self, timeout_seconds: float = 30.0) -> dict[str, Any]:
        """Deliver every pending notification now (one attempt each), ignoring backoff."""
        deadline = time.monotonic() + timeout_seconds
        attempted: set[str] = set()
        start_index = len(self._deliveries)
        while True:
            with self._lock:
                waiting_on_worker = any(p.in_flight for p in self._pending)
                candidates = [
                    p for p in self._pending if not p.in_flight and p.notification_id not in attempted
                ]
                if not candidates and not waiting_on_worker:
                    break
                if not candidates:
                    if time.monotonic() > deadline:
                        break
                    self._lock.wait(timeout=0.05)
                    continue
                batch = self._take_batch(candidates)
            attempted.update(p.notification_id for p in batch)
            self._deliver(batch)
        with self._lock:
            made = self._deliveries[start_index:]
            # The counts are the notifications' fates; duplicates are counted apart.
            fates = [d for d in made if not d.duplicate]
            return {
                "messages": len(fates),
                "delivered": sum(len(d.notification_ids) for d in fates if d.outcome == "delivered"),
                "retrying": sum(len(d.notification_ids) for d in fates if d.outcome == "retrying"),
                "dropped": sum(len(d.notification_ids) for d in fates if d.outcome == "dropped"),
                "duplicates": len(made) - len(fates),
                "pending": len(self._pending),
                "attempts": [d.describe() for d in made],
            }

    def _deliver(self, batch: list[PendingNotification]) -> None:
        with self._lock:
            action = next((a for a in self._actions if a.action_id == batch[0].action_id), None)
        if action is None:  # configuration cleared meanwhile
            with self._lock:
                self._pending = [p for p in self._pending if p not in batch]
            return
        notifications: list[tuple[str, dict[str, Value]]] = []
        for notification in batch:
            values = self._snapshot(notification.sobject, notification.record_id, action.fields)
            notifications.append((notification.notification_id, values or {"Id": notification.record_id}))
        enterprise_url, partner_url = self._urls()
        envelope = build_envelope(
            organization_id=self.organization_id,
            action_id=action.action_id,
            session_id=self._issue_session(action.send_as) if action.include_session_id else None,
            enterprise_url=enterprise_url,
            partner_url=partner_url,
            sobject=action.sobject,
            notifications=notifications,
        )
        status_code, acked, error = self._post(action, envelope)
        # Sent while the batch is still in flight, so that nothing looks settled before the copy
        # went too.
        duplicate = self._post(action, envelope) if acked and self.deliver_twice else None
        with self._lock:
            attempt = max(p.attempts for p in batch) + 1
            if acked:
                outcome = "delivered"
            elif attempt >= self.max_attempts:
                outcome = "dropped"
            else:
                outcome = "retrying"
            delay = min(self.retry_base_seconds * 2 ** (attempt - 1), self.retry_max_seconds)
            for notification in batch:
                notification.attempts = attempt
                notification.in_flight = False
                notification.next_attempt_at = time.monotonic() + delay
            if outcome != "retrying":
                self._pending = [p for p in self._pending if p not in batch]

            def attempt_record(
                status: int | None, was_acked: bool, shown_outcome: str, failure: str | None, copy: bool
            ) -> DeliveryAttempt:
                return DeliveryAttempt(
                    at=time.time(),
                    action_id=action.action_id,
                    endpoint_url=action.endpoint_url,
                    notification_ids=[p.notification_id for p in batch],
                    record_ids=[p.record_id for p in batch],
                    attempt=attempt,
                    status_code=status,
                    acked=was_acked,
                    outcome=shown_outcome,
                    error=failure,
                    envelope=envelope,
                    duplicate=copy,
                )

            self._deliveries.append(attempt_record(status_code, acked, outcome, error, False))
            if duplicate is not None:
                copy_status, copy_acked, copy_error = duplicate
                self.duplicates_sent += 1
                self._deliveries.append(
                    attempt_record(
                        copy_status, copy_acked, "delivered" if copy_acked else "dropped", copy_error, True
                    )
                )
            self._lock.notify_all()

    def _post(self, action: OutboundAction, envelope: str) -> tuple[int | None, bool, str | None]:
        """POST one message: (HTTP status or None, acknowledged, what went wrong)."""
        try:
            response = self._http.post(
                action.endpoint_url,
                data=envelope.encode(),
                headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"notifications"'},
                timeout=self.timeout_seconds,
                verify=action.verify_tls,
            )
        except requests.RequestException as exc:
            return None, False, f"{type(exc).__name__}: {exc}"
        if is_acknowledged(response.status_code, response.content):
            return response.status_code, True, None
        return response.status_code, False, f"no <Ack>true</Ack> in the HTTP {response.status_code} answer"
