"""The sandbox's admin routes (``/_sandbox/``): users, seeds, schema, sessions, the run-as user,
limits, records as reps make them in the UI, lead conversion and Outbound Messages."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request, Response

from activity_sync_tools.sandbox.core import json_response
from activity_sync_tools.sandbox.salesforce import seed
from activity_sync_tools.sandbox.salesforce.errors import (
    SalesforceError,
)
from activity_sync_tools.sandbox.salesforce.org import Org
from activity_sync_tools.sandbox.salesforce.store import StoredRecord
from activity_sync_tools.sandbox.salesforce.values import to_json


class AdminApi:
    def __init__(self, org: Org) -> None:
        self.org = org

    @staticmethod
    def _admin_body(request: Request) -> dict[str, Any]:
        body = request.get_json(force=True, silent=True)
        return body if isinstance(body, dict) else {}

    @staticmethod
    def _admin_error(message: str, status: int = 400) -> Response:
        return json_response({"message": message}, status)

    def admin_users(self, request: Request) -> Response:
        if request.method == "GET":
            with self.org.lock:
                users = [self.org.render(r, f"v{self.org.api_version}") for r in self.org.store.live("User")]
            return json_response({"users": users, "run_as": self.org.run_as_user_id})
        body = self._admin_body(request)
        key = body.pop("key", None)
        try:
            user_id = self.org.create_user(body)
        except SalesforceError as error:
            return error.response()
        if key:
            self.org.seed_keys[str(key)] = user_id
        with self.org.lock:
            return json_response(
                {
                    "id": user_id,
                    "user": self.org.render(self.org.store.records[user_id], "v" + self.org.api_version),
                },
                201,
            )

    def admin_user(self, request: Request, user_id: str) -> Response:
        body = self._admin_body(request)
        aliases = {
            "is_active": "IsActive",
            "email": "Email",
            "first_name": "FirstName",
            "last_name": "LastName",
        }
        data = {aliases.get(name, name): value for name, value in body.items()}
        try:
            with self.org.lock, self.org.store.transaction():
                record = self.org.store.update(
                    self.org.schema.require("User"), user_id, data, self.org.run_as_user_id, seeding=True
                )
                return json_response({"user": self.org.render(record, "v" + self.org.api_version)})
        except SalesforceError as error:
            return error.response()

    def admin_seed(self, request: Request) -> Response:
        try:
            keys = self.org.load_seed(self._admin_body(request))
        except (seed.SeedError, ValueError, KeyError) as exc:
            return self._admin_error(str(exc))
        except SalesforceError as error:
            return error.response()
        return json_response({"keys": keys})

    def admin_picklists(self, request: Request) -> Response:
        body = self._admin_body(request)
        try:
            with self.org.lock:
                definition = self.org.schema.set_picklist(
                    str(body["object"]), str(body["field"]), body["values"], body.get("restricted")
                )
        except (KeyError, ValueError, SalesforceError) as exc:
            return self._admin_error(str(exc))
        return json_response(definition.describe())

    def admin_fields(self, request: Request) -> Response:
        body = self._admin_body(request)
        try:
            with self.org.lock:
                definition = self.org.schema.add_custom_field(str(body.pop("object")), body)
        except (KeyError, ValueError, SalesforceError) as exc:
            return self._admin_error(str(exc))
        return json_response(definition.describe(), 201)

    def admin_field_access(self, request: Request) -> Response:
        body = self._admin_body(request)
        try:
            with self.org.lock:
                definition = self.org.schema.set_field_access(
                    str(body["object"]), str(body["field"]), bool(body.get("accessible", False))
                )
        except (KeyError, ValueError, SalesforceError) as exc:
            return self._admin_error(str(exc))
        return json_response(
            {"object": body["object"], "field": definition.name, "accessible": definition.accessible}
        )

    def admin_sessions(self, request: Request) -> Response:
        if request.method == "POST":
            body = self._admin_body(request)
            try:
                token = self.org.issue_session(body.get("user"))
            except ValueError as exc:
                return self._admin_error(str(exc))
            return json_response({"access_token": token, "instance_url": self.org.base_url(request)}, 201)
        return json_response({"sessions": self.org.sessions.describe()})

    def admin_expire_sessions(self, request: Request) -> Response:
        token = self._admin_body(request).get("token")
        return json_response({"expired": self.org.sessions.expire(str(token) if token else None)})

    def admin_jwt_key(self, request: Request) -> Response:
        pem = self._admin_body(request).get("public_key_pem")
        if not isinstance(pem, str) or "PUBLIC KEY" not in pem:
            return self._admin_error("send public_key_pem (a PEM-encoded public key)")
        self.org.jwt_public_key_pem = pem.encode()
        return json_response({"registered": True})

    def admin_run_as(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                self.org.set_run_as(str(self._admin_body(request).get("user", "")))
            except ValueError as exc:
                return self._admin_error(str(exc))
        return json_response({"run_as": self.org.run_as_user_id})

    def admin_clients(self, request: Request) -> Response:
        """Another External Client App with client credentials, run as a user of the org (``POST
        {"client_id", "client_secret", "run_as": "@ana"}``): a second identity, e.g. a person's."""
        if request.method == "POST":
            body = self._admin_body(request)
            client_id, secret = str(body.get("client_id") or ""), str(body.get("client_secret") or "")
            if not client_id or not secret or client_id == self.org.client_id:
                return self._admin_error("client_id (not the service's) and client_secret are required")
            try:
                user_id = self.org.resolve_user(str(body.get("run_as", "")))
            except ValueError as exc:
                return self._admin_error(str(exc))
            with self.org.lock:
                self.org.other_clients[client_id] = (secret, user_id)
        return json_response(
            {"clients": [{"client_id": c, "run_as": user} for c, (_, user) in self.org.other_clients.items()]}
        )

    def admin_limits(self, request: Request) -> Response:
        if request.method == "POST":
            body = self._admin_body(request)
            remaining = body.get("remaining")
            maximum = body.get("max")
            self.org.usage.set(
                self.org.clock.now(),
                remaining=int(remaining) if remaining is not None else None,
                maximum=int(maximum) if maximum is not None else None,
            )
        used, maximum_now = self.org.usage.snapshot(self.org.clock.now())
        return json_response({"used": used, "max": maximum_now, "remaining": max(0, maximum_now - used)})

    def _acting_user(self, request: Request, body: dict[str, Any]) -> str:
        reference = body.get("as_user") or request.args.get("as_user")
        return self.org.resolve_user(str(reference)) if reference else self.org.run_as_user_id

    def admin_sobjects(self, request: Request, sobject: str) -> Response:
        try:
            obj = self.org.schema.require(sobject)
        except SalesforceError as error:
            return error.response()
        version = "v" + self.org.api_version
        if request.method == "GET":
            with self.org.lock:
                rows = [self.render_all_fields(r, version) for r in self.org.store.all_rows(obj.name)]
            return json_response({"records": rows})
        body = self._admin_body(request)
        try:
            user_id = self._acting_user(request, body)
            fields = body.get("fields", {k: v for k, v in body.items() if k != "as_user"})
            with self.org.lock, self.org.store.transaction():
                record = self.org.store.create(obj.name, fields, user_id)
                created = {"id": record.id, "record": self.render_all_fields(record, version)}
                return json_response(created, 201)
        except ValueError as exc:
            return self._admin_error(str(exc))
        except SalesforceError as error:
            return error.response()

    def render_all_fields(self, record: StoredRecord, version: str) -> dict[str, Any]:
        """A record as an admin sees it: every field, hidden ones too."""
        obj = self.org.schema.require(record.sobject)
        out: dict[str, Any] = {
            "attributes": {
                "type": record.sobject,
                "url": f"/services/data/{version}/sobjects/{record.sobject}/{record.id}",
            }
        }
        for definition in obj.fields.values():
            out[definition.name] = to_json(record.values.get(definition.name))
        return out

    def admin_sobject(self, request: Request, sobject: str, record_id: str) -> Response:
        try:
            obj = self.org.schema.require(sobject)
        except SalesforceError as error:
            return error.response()
        version = "v" + self.org.api_version
        body = self._admin_body(request)
        try:
            user_id = self._acting_user(request, body)
            with self.org.lock:
                if request.method == "GET":
                    record = self.org.store.get(record_id)
                    if record is None or record.sobject != obj.name:
                        return self._admin_error("no such record", 404)
                    return json_response(self.render_all_fields(record, version))
                with self.org.store.transaction():
                    if request.method == "DELETE":
                        self.org.store.delete(obj, record_id, user_id)
                        return Response(status=204)
                    fields = body.get("fields", {k: v for k, v in body.items() if k != "as_user"})
                    record = self.org.store.update(obj, record_id, fields, user_id)
                    return json_response({"record": self.render_all_fields(record, version)})
        except ValueError as exc:
            return self._admin_error(str(exc))
        except SalesforceError as error:
            return error.response()

    def admin_convert_lead(self, request: Request, lead_id: str) -> Response:
        body = self._admin_body(request)
        try:
            user_id = self._acting_user(request, body)
            with self.org.lock, self.org.store.transaction():
                lead_object = self.org.schema.require("Lead")
                lead = self.org.store.fetch(lead_object, lead_id)
                if lead.values.get("IsConverted"):
                    raise SalesforceError("INVALID_STATUS", "Lead is already converted", 400)
                account_id = body.get("account_id")
                if not account_id:
                    account = self.org.store.create("Account", {"Name": lead.values.get("Company")}, user_id)
                    account_id = account.id
                contact_id = body.get("contact_id")
                if not contact_id:
                    fields = {
                        name: lead.values.get(name)
                        for name in ("FirstName", "LastName", "Email", "Phone", "Title")
                    }
                    contact = self.org.store.create("Contact", {**fields, "AccountId": account_id}, user_id)
                    contact_id = contact.id
                converted = self.org.store.update(
                    lead_object,
                    lead.id,
                    {
                        "IsConverted": True,
                        "ConvertedContactId": contact_id,
                        "ConvertedAccountId": account_id,
                        "ConvertedDate": self.org.clock.now().date().isoformat(),
                        "Status": "Closed - Converted",
                    },
                    user_id,
                    seeding=True,
                )
                return json_response(
                    {
                        "lead": self.render_all_fields(converted, "v" + self.org.api_version),
                        "contact_id": contact_id,
                        "account_id": account_id,
                    }
                )
        except ValueError as exc:
            return self._admin_error(str(exc))
        except SalesforceError as error:
            return error.response()

    def admin_outbound(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.org.outbound.clear()
            return json_response({"actions": []})
        if request.method == "POST":
            body = self._admin_body(request)
            endpoint = body.get("endpoint_url")
            if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
                return self._admin_error("endpoint_url must be an http(s) URL")
            try:
                with self.org.lock:
                    actions = self.org.configure_outbound(
                        endpoint,
                        list(body.get("objects") or ["Task", "Event"]),
                        body.get("fields"),
                        include_session_id=bool(body.get("include_session_id", False)),
                        send_as=body.get("send_as"),
                        verify_tls=body.get("verify_tls", True),
                        skip_changes_by=list(body.get("skip_changes_by") or []),
                    )
            except (ValueError, SalesforceError) as exc:
                return self._admin_error(str(exc))
            return json_response({"actions": actions}, 201)
        return json_response(
            {
                "actions": [a.describe() for a in self.org.outbound.actions()],
                "pending": self.org.outbound.pending(),
            }
        )

    def admin_outbound_flush(self, request: Request) -> Response:
        return json_response(self.org.outbound.flush())

    def admin_outbound_deliveries(self, request: Request) -> Response:
        include = request.args.get("include_envelope", "").lower() in ("1", "true", "yes")
        return json_response(
            {"deliveries": self.org.outbound.deliveries(include), "pending": self.org.outbound.pending()}
        )

    def admin_outbound_settings(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                return json_response(self.org.outbound.update_settings(self._admin_body(request)))
            except (TypeError, ValueError) as exc:
                return self._admin_error(str(exc))
        return json_response(self.org.outbound.settings())
