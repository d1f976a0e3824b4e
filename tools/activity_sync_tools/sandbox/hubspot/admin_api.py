"""Admin routes under ``/_sandbox/`` (besides the clock, faults, requests, counters and reset that
every sandbox has). They act as HubSpot's own users and systems do, never count against the API
limits, and never appear in the request log."""

from __future__ import annotations

import dataclasses
from typing import Any

from werkzeug.wrappers import Request, Response

from activity_sync_tools.sandbox.core import json_response

from .errors import object_not_found, validation_error
from .marketing import FormField
from .portal import Portal
from .schema import OBJECT_TYPES, ObjectType, default_association_type, parse_instant, resolve_object_type
from .seed import apply_seed
from .store import ChangeSource, CrmRecord
from .tracking import record_marketing_email_event, record_sales_email_event
from .wire import bool_param, json_body, json_object, object_json
from .workflows import DOCUMENT_VIEW, INTEGRATION_EVENT, record_activity

HUBSPOT_USER = ChangeSource("CRM_UI", "userId:9000001")


class AdminApi:
    def __init__(self, sandbox: Portal) -> None:
        self.sandbox = sandbox
        self.store = sandbox.store

    # -- owners and seed -----------------------------------------------------------------------
    def owners(self, request: Request) -> Response:
        with self.sandbox.lock:
            if request.method == "GET":
                return json_response({"results": [o.to_api() for o in self.sandbox.owners.all()]})
            body = json_object(request)
            now = self.sandbox.clock.now_ms()
            if isinstance(body.get("owners"), list):
                created = [self.sandbox.owners.add(entry, now).to_api() for entry in body["owners"]]
                return json_response({"results": created}, 201)
            return json_response(self.sandbox.owners.add(body, now).to_api(), 201)

    def seed(self, request: Request) -> Response:
        body = json_object(request)
        with self.sandbox.lock:
            refs = apply_seed(self.sandbox, body)
        return json_response({"refs": refs, "state": self.sandbox.state()}, 201)

    def state(self, request: Request) -> Response:
        return json_response(self.sandbox.state())

    # -- CRM records as HubSpot users make them ------------------------------------------------
    def objects(self, request: Request, object_type: str) -> Response:
        kind = resolve_object_type(object_type)
        with self.sandbox.lock:
            if request.method == "GET":
                records = self.store.records(kind, archived=bool_param(request, "archived"))
                return json_response({"results": [self._full(r) for r in records]})
            body = json_object(request)
            if isinstance(body.get("inputs"), list):  # many at once, as an import in the UI makes them
                made = [self._create(kind, entry) for entry in body["inputs"] if isinstance(entry, dict)]
                return json_response({"results": [self._full(r) for r in made]}, 201)
            return json_response(self._full(self._create(kind, body)), 201)

    def _create(self, kind: ObjectType, body: dict[str, Any]) -> CrmRecord:
        created_at = parse_instant(body.get("createdAt"))
        source = _source(body)
        associations = self.sandbox.resolve_associations(
            kind, _v3_associations(kind, body.get("associations"))
        )
        record = self.store.create(
            kind, body.get("properties") or {}, source, created_at=created_at, system=True
        )
        self.sandbox.associate_all(record, associations, source)
        return record

    def object(self, request: Request, object_type: str, object_id: str) -> Response:
        kind = resolve_object_type(object_type)
        with self.sandbox.lock:
            record = self.store.get(kind, object_id) or self.store.get(kind, object_id, archived=True)
            if record is None:
                raise object_not_found(object_id)
            if request.method == "DELETE":
                self.store.archive(record, _source({}))
                return Response(status=204)
            if request.method == "PATCH":
                body = json_object(request)
                self.store.update(record, body.get("properties") or {}, _source(body), system=True)
            return json_response(self._full(record))

    def associations(self, request: Request) -> Response:
        body = json_object(request)
        with self.sandbox.lock:
            source = self._reference(body.get("from"))
            target = self._reference(body.get("to"))
            if request.method == "DELETE":
                self.store.disassociate(source, target, _source(body))
                return Response(status=204)
            pairs = self.sandbox.resolve_associations(
                source.object_type, _v3_associations(source.object_type, [{**body, "to": body.get("to")}])
            )
            self.sandbox.associate_all(source, pairs, _source(body))
            return json_response(self._full(source), 201)

    def _reference(self, raw: Any) -> CrmRecord:
        if not isinstance(raw, dict) or not raw.get("type") or not raw.get("id"):
            raise validation_error("from and to need a type and an id")
        kind = resolve_object_type(str(raw["type"]))
        record = self.store.get(kind, str(raw["id"]))
        if record is None:
            raise object_not_found(str(raw["id"]))
        return record

    def _full(self, record: CrmRecord) -> dict[str, Any]:
        return object_json(self.store, record, every_property=True, associations=list(OBJECT_TYPES))

    # -- marketing ------------------------------------------------------------------------------
    def marketing_emails(self, request: Request) -> Response:
        body = json_object(request)
        if not body.get("name"):
            raise validation_error("A marketing email needs a name")
        with self.sandbox.lock:
            now = self.sandbox.clock.now_ms()
            email = self.sandbox.marketing.add_email(
                str(body["name"]),
                str(body.get("subject") or body["name"]),
                now,
                email_id=body.get("id"),
                campaign_id=body.get("campaignId"),
                publish_date=parse_instant(body.get("publishDate")),
                state=str(body.get("state") or "PUBLISHED"),
            )
            return json_response(email.to_api(), 201)

    def email_events(self, request: Request) -> Response:
        with self.sandbox.lock:
            if request.method == "GET":
                portal = self.sandbox.portal_id
                return json_response({"events": [e.to_api(portal) for e in self.sandbox.marketing.events]})
            body = json_object(request)
            entries = body["events"] if isinstance(body.get("events"), list) else [body]
            recorded = [self._email_event(entry).to_api(self.sandbox.portal_id) for entry in entries]
            return json_response({"events": recorded}, 201)

    def _email_event(self, entry: Any) -> Any:
        if not isinstance(entry, dict) or not entry.get("type") or not entry.get("recipient"):
            raise validation_error("An email event needs a type and a recipient")
        campaign_id = entry.get("emailCampaignId")
        if campaign_id is None:
            email = self.sandbox.marketing.emails.get(int(entry.get("emailId") or 0))
            if email is None:
                raise validation_error("Give emailId (a marketing email) or emailCampaignId")
            campaign_id = email.campaign_ids[0]
        created = parse_instant(entry.get("created")) or self.sandbox.clock.now_ms()
        details = {
            k: v
            for k, v in entry.items()
            if k not in ("type", "recipient", "emailId", "emailCampaignId", "created")
        }
        return record_marketing_email_event(
            self.sandbox,
            str(entry["type"]).upper(),
            str(entry["recipient"]),
            int(campaign_id),
            created,
            details,
        )

    def forms(self, request: Request) -> Response:
        body = json_object(request)
        if not body.get("name"):
            raise validation_error("A form needs a name")
        fields = []
        for raw in body.get("fields") or ["email"]:
            spec = {"name": raw} if isinstance(raw, str) else raw
            name = str(spec["name"])
            fields.append(
                FormField(
                    name=name,
                    label=str(spec.get("label") or name.replace("_", " ").title()),
                    field_type=str(
                        spec.get("fieldType") or ("email" if name == "email" else "single_line_text")
                    ),
                    required=bool(spec.get("required", name == "email")),
                )
            )
        with self.sandbox.lock:
            form = self.sandbox.marketing.add_form(
                str(body["name"]),
                fields,
                self.sandbox.clock.now_ms(),
                form_id=body.get("id"),
                inline_message=body.get("inlineMessage"),
            )
            return json_response(form.to_api(), 201)

    def sales_email_events(self, request: Request) -> Response:
        body = json_object(request)
        with self.sandbox.lock:
            at = parse_instant(body.get("at")) or self.sandbox.clock.now_ms()
            touched = record_sales_email_event(
                self.sandbox, str(body.get("emailId") or ""), str(body.get("type") or "").upper(), at, body
            )
            return json_response({name: self._full(record) for name, record in touched.items()}, 201)

    # -- webhooks, limits, behaviour -------------------------------------------------------------
    def webhooks(self, request: Request) -> Response:
        dispatcher = self.sandbox.webhooks
        if request.method == "POST":
            body = json_object(request)
            try:
                dispatcher.settings.update(body)
                if "subscriptions" in body:
                    dispatcher.set_subscriptions(list(body["subscriptions"] or []))
            except (TypeError, ValueError) as exc:
                raise validation_error(str(exc)) from None
        elif request.method == "DELETE":
            dispatcher.settings.target_url = None
            dispatcher.set_subscriptions([])
        dispatcher.settings_changed()
        return json_response(dispatcher.describe())

    def webhooks_flush(self, request: Request) -> Response:
        """Flushes the workflow webhook action too, so that one flush delivers everything pending."""
        deliveries = self.sandbox.webhooks.flush()
        return json_response(
            {
                "deliveries": deliveries,
                "pending": self.sandbox.webhooks.pending_count(),
                "workflow_webhooks": self._workflow_flush(),
            }
        )

    def webhook_deliveries(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.sandbox.webhooks.clear_deliveries()
        dispatcher = self.sandbox.webhooks
        return json_response(
            {"deliveries": dispatcher.deliveries(), "duplicates_sent": dispatcher.duplicates_sent}
        )

    # -- activities without a read API, and the workflow action that sends them ----------------
    def workflow_webhooks(self, request: Request) -> Response:
        sender = self.sandbox.workflow_webhooks
        if request.method == "POST":
            try:
                sender.configure(json_object(request))
            except (TypeError, ValueError) as exc:
                raise validation_error(str(exc)) from None
        elif request.method == "DELETE":
            sender.unconfigure()
        return json_response(sender.describe())

    def workflow_webhooks_flush(self, request: Request) -> Response:
        return json_response(self._workflow_flush())

    def _workflow_flush(self) -> dict[str, Any]:
        sender = self.sandbox.workflow_webhooks
        deliveries = sender.flush()
        return {"deliveries": deliveries, "pending": sender.pending_count()}

    def workflow_webhook_deliveries(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.sandbox.workflow_webhooks.clear_deliveries()
        sender = self.sandbox.workflow_webhooks
        return json_response({"deliveries": sender.deliveries(), "duplicates_sent": sender.duplicates_sent})

    def document_views(self, request: Request) -> Response:
        return self._workflow_activity(request, DOCUMENT_VIEW)

    def timeline_events(self, request: Request) -> Response:
        return self._workflow_activity(request, INTEGRATION_EVENT)

    def _workflow_activity(self, request: Request, activity_type: str) -> Response:
        with self.sandbox.lock:
            if request.method == "GET":
                listed = self.sandbox.workflow_activities.listing(activity_type)
                return json_response({"results": [a.to_post() for a in listed]})
            activity = record_activity(self.sandbox, activity_type, json_object(request)).to_post()
            queued = self.sandbox.workflow_webhooks.send(activity)
        return json_response({"activity": activity, "queued": queued}, 201)

    def rate_limits(self, request: Request) -> Response:
        limiter = self.sandbox.limiter
        if request.method == "POST":
            try:
                limiter.settings.update(json_object(request))
            except (TypeError, ValueError) as exc:
                raise validation_error(str(exc)) from None
        elif request.method == "DELETE":
            limiter.reset_usage()
        return json_response(limiter.describe(self.sandbox.clock.now_ms()))

    def config(self, request: Request) -> Response:
        if request.method == "POST":
            body = json_body(request)
            if not isinstance(body, dict):
                raise validation_error("expected an object")
            with self.sandbox.lock:
                if "search_index_lag_seconds" in body:
                    self.store.search_index_lag_ms = int(float(body["search_index_lag_seconds"]) * 1000)
                if "search_short_page_by" in body:
                    self.sandbox.search_short_page_by = max(0, int(body["search_short_page_by"]))
                if "validation_rules" in body:
                    self.store.required_by_rules = _validation_rules(body["validation_rules"])
                if "app_tokens" in body:
                    tokens = body["app_tokens"]
                    if not isinstance(tokens, dict) or not all(isinstance(a, int) for a in tokens.values()):
                        raise validation_error("app_tokens must map tokens to app ids")
                    self.sandbox.app_tokens = {str(t): int(a) for t, a in tokens.items()}
                if "token_scopes" in body:
                    scopes = body["token_scopes"]
                    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
                        raise validation_error("token_scopes must be a list of scope names")
                    self.sandbox.token_scopes = list(scopes)
        return json_response(self.sandbox.behaviour())


def _validation_rules(raw: Any) -> dict[str, list[str]]:
    """``{"calls": ["hs_call_title"]}``: properties the portal's validation rules require."""
    if not isinstance(raw, dict):
        raise validation_error("validation_rules must map object types to lists of property names")
    rules: dict[str, list[str]] = {}
    for type_name, names in raw.items():
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise validation_error(f"validation_rules.{type_name} must be a list of property names")
        rules[resolve_object_type(str(type_name)).name] = list(names)
    return rules


def _source(body: dict[str, Any]) -> ChangeSource:
    if body.get("changeSource"):
        return ChangeSource(str(body["changeSource"]), body.get("sourceId"))
    return dataclasses.replace(HUBSPOT_USER)


def _v3_associations(kind: ObjectType, raw: Any) -> list[dict[str, Any]]:
    """Admin shorthand ``{"type": "contacts", "id": "1001"}`` (default association type) or the v3
    ``{"to": {"id"}, "types": [...]}`` shape; answers the v3 shape."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise validation_error("associations must be a list")
    converted = []
    for item in raw:
        if isinstance(item, dict) and "types" in item:
            converted.append(item)
            continue
        if not isinstance(item, dict):
            raise validation_error(f"Invalid association {item!r}")
        nested = item.get("to")
        target: dict[str, Any] = nested if isinstance(nested, dict) else item
        target_type = resolve_object_type(str(target.get("type") or ""))
        type_id = item.get("typeId")
        if type_id is None:
            association = default_association_type(kind, target_type)
            if association is None:
                raise validation_error(f"No default association from {kind.name} to {target_type.name}")
            type_id = association.type_id
        converted.append(
            {
                "to": {"id": str(target.get("id"))},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": int(type_id)}],
            }
        )
    return converted
