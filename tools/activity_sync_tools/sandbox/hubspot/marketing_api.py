"""Routes for marketing emails, the legacy email events and campaigns feeds, forms, the legacy form
submissions feed and the forms submit endpoint (``POST /submissions/v3/integration/submit/...``,
unauthenticated like HubSpot's, which creates or updates the contact by email)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from werkzeug.wrappers import Request, Response

from activity_sync_tools.sandbox.core import json_response

from .errors import HubSpotError, resource_not_found, validation_error
from .marketing import (
    MARKETING_APP_ID,
    MARKETING_APP_NAME,
    MAX_EVENTS_PAGE,
    MAX_SUBMISSIONS_PAGE,
    Form,
    FormSubmission,
)
from .portal import Portal
from .schema import CONTACTS, ms_to_iso, parse_instant
from .store import ChangeSource
from .wire import bool_param, int_param, json_body

_EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class MarketingApi:
    def __init__(self, sandbox: Portal) -> None:
        self.sandbox = sandbox
        self.state = sandbox.marketing

    # -- marketing emails ----------------------------------------------------------------------
    def emails(self, request: Request) -> Response:
        listing = _Listing.parse(request, default_limit=10, max_limit=300)
        with self.sandbox.lock:
            total, page = listing.page(self.state.emails.values(), lambda e: e.id)
        return json_response({"total": total, **page})

    def email(self, request: Request, email_id: str) -> Response:
        with self.sandbox.lock:
            email = self.state.emails.get(int(email_id)) if email_id.isdigit() else None
            if email is None or email.archived != bool_param(request, "archived"):
                raise resource_not_found(f"Marketing email {email_id} does not exist")
            return json_response(email.to_api())

    # -- legacy email analytics ----------------------------------------------------------------
    def email_events(self, request: Request) -> Response:
        limit = int_param(request, "limit", MAX_EVENTS_PAGE, minimum=1, maximum=MAX_EVENTS_PAGE)
        offset = int_param(request, "offset", 0)
        event_type = request.args.get("eventType")
        campaign = request.args.get("campaignId")
        with self.sandbox.lock:
            events, has_more = self.state.events_page(
                start=_optional_int(request, "startTimestamp"),
                end=_optional_int(request, "endTimestamp"),
                event_type=event_type.upper() if event_type else None,
                recipient=request.args.get("recipient"),
                campaign_id=int(campaign) if campaign and campaign.isdigit() else None,
                limit=limit,
                offset=offset,
            )
            payload = [e.to_api(self.sandbox.portal_id) for e in events]
        return json_response({"hasMore": has_more, "offset": str(offset + len(payload)), "events": payload})

    def campaigns(self, request: Request) -> Response:
        limit = int_param(request, "limit", 250, minimum=1, maximum=1000)
        offset = int_param(request, "offset", 0)
        with self.sandbox.lock:
            ids = sorted(self.state.campaign_to_email)
            page = [
                {"id": c, "appId": MARKETING_APP_ID, "appName": MARKETING_APP_NAME}
                for c in ids[offset : offset + limit]
            ]
        return json_response(
            {"campaigns": page, "hasMore": offset + limit < len(ids), "offset": str(offset + len(page))}
        )

    def campaign(self, request: Request, campaign_id: str) -> Response:
        with self.sandbox.lock:
            summary = self.state.campaign_summary(int(campaign_id)) if campaign_id.isdigit() else None
        if summary is None:
            raise resource_not_found(f"Campaign {campaign_id} does not exist")
        return json_response(summary)

    # -- forms ---------------------------------------------------------------------------------
    def forms(self, request: Request) -> Response:
        listing = _Listing.parse(request, default_limit=20, max_limit=100)
        with self.sandbox.lock:
            _, page = listing.page(self.state.forms.values(), lambda f: (f.created_at, f.id))
        return json_response(page)

    def form(self, request: Request, form_id: str) -> Response:
        with self.sandbox.lock:
            form = self.state.forms.get(form_id)
            if form is None or form.archived != bool_param(request, "archived"):
                raise resource_not_found(f"Form {form_id} does not exist")
            return json_response(form.to_api())

    def submissions(self, request: Request, form_guid: str) -> Response:
        limit = int_param(request, "limit", 20, minimum=1, maximum=MAX_SUBMISSIONS_PAGE)
        offset = int_param(request, "after", 0)
        with self.sandbox.lock:
            if form_guid not in self.state.forms:
                raise resource_not_found(f"Form {form_guid} does not exist")
            page, has_more = self.state.submissions_page(form_guid, limit, offset)
            results = [s.to_api() for s in page]
        body: dict[str, Any] = {"results": results}
        if has_more:
            after = str(offset + len(results))
            body["paging"] = {
                "next": {"after": after, "link": f"{request.base_url}?limit={limit}&after={after}"}
            }
        return json_response(body)

    def submit(self, request: Request, portal_id: str, form_guid: str) -> Response:
        body = json_body(request)
        with self.sandbox.lock:
            form = self.state.forms.get(form_guid)
            if form is None or portal_id != str(self.sandbox.portal_id) or form.archived:
                raise HubSpotError(
                    404,
                    f"Form {form_guid} does not exist in portal {portal_id}",
                    "OBJECT_NOT_FOUND",
                    errors=[{"message": "The form does not exist", "errorType": "FORM_NOT_FOUND"}],
                )
            values = _submitted_values(form, body)
            submitted_at = parse_instant(body.get("submittedAt")) if isinstance(body, dict) else None
            context = body.get("context") if isinstance(body, dict) else None
            page_url = context.get("pageUri") if isinstance(context, dict) else None
            self.record_submission(form, values, submitted_at or self.sandbox.clock.now_ms(), page_url)
        return json_response({"inlineMessage": form.inline_message})

    def record_submission(
        self,
        form: Form,
        values: list[dict[str, str]],
        submitted_at: int,
        page_url: str | None,
        *,
        update_contact: bool = True,
    ) -> FormSubmission:
        """Store a submission and, like HubSpot, create or update the contact with that email and
        its conversion properties."""
        submission = self.state.add_submission(form, submitted_at, values, page_url)
        email = submission.value("email")
        if not update_contact or not email:
            return submission
        store = self.sandbox.store
        source = ChangeSource("FORM", form.id)
        definitions = store.definitions(CONTACTS)
        writable = {
            v["name"]: v["value"]
            for v in values
            if v.get("objectTypeId", "0-1") == "0-1"
            and v["name"] in definitions
            and not definitions[v["name"]].read_only_value
        }
        contact = store.find(CONTACTS, email, "email")
        if contact is None:
            contact = store.create(CONTACTS, writable, source, created_at=submitted_at)
        else:
            store.update(contact, writable, source)
        when = ms_to_iso(submitted_at)
        conversions: dict[str, str | None] = {
            "recent_conversion_event_name": form.name,
            "recent_conversion_date": when,
            "num_conversion_events": str(int(contact.value("num_conversion_events") or 0) + 1),
        }
        if not contact.value("first_conversion_event_name"):
            conversions.update({"first_conversion_event_name": form.name, "first_conversion_date": when})
        store.set_system_values(contact, conversions, source)
        return submission


def _submitted_values(form: Form, body: Any) -> list[dict[str, str]]:
    """The submission's values, validated the way the forms API reports problems
    (``errors[].errorType``)."""
    fields = body.get("fields") if isinstance(body, dict) else None
    if not isinstance(fields, list) or not fields:
        raise _invalid_submission([("fields", "REQUIRED_FIELD", "At least one field is required")])
    problems: list[tuple[str, str, str]] = []
    values: list[dict[str, str]] = []
    given: set[str] = set()
    for raw in fields:
        name = str(raw.get("name")) if isinstance(raw, dict) else ""
        value = "" if not isinstance(raw, dict) or raw.get("value") is None else str(raw["value"])
        if value:
            given.add(name)
        form_field = form.field(name)
        if form_field is None:
            problems.append(
                (name, "FIELD_NOT_IN_FORM_DEFINITION", f"Field {name} is not in the form definition")
            )
            continue
        if form_field.field_type == "email" and value and not _EMAIL_PATTERN.match(value):
            problems.append((name, "INVALID_EMAIL", "Invalid email address"))
            continue
        values.append({"objectTypeId": form_field.object_type_id, "name": name, "value": value})
    for form_field in form.fields:
        if form_field.required and form_field.name not in given:
            problems.append((form_field.name, "REQUIRED_FIELD", "Required field is missing"))
    if problems:
        raise _invalid_submission(problems)
    return values


def _invalid_submission(problems: list[tuple[str, str, str]]) -> HubSpotError:
    return validation_error(
        "The request is not valid",
        errors=[{"message": f"Error in 'fields.{n}'. {m}", "errorType": t} for n, t, m in problems],
    )


def _optional_int(request: Request, name: str) -> int | None:
    raw = request.args.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise validation_error(f"{name} must be a timestamp in milliseconds; got {raw}") from None


class _Listed(Protocol):
    archived: bool

    def to_api(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class _Listing:
    """A listing route's query: ``?limit``, ``?after`` (an offset) and ``?archived``."""

    base_url: str
    limit: int
    offset: int
    archived: bool

    @classmethod
    def parse(cls, request: Request, *, default_limit: int, max_limit: int) -> _Listing:
        limit = int_param(request, "limit", default_limit, minimum=1, maximum=max_limit)
        offset = int_param(request, "after", 0)
        return cls(request.base_url, limit, offset, bool_param(request, "archived"))

    def page[T: _Listed](
        self, items: Iterable[T], sort_key: Callable[[T], Any]
    ) -> tuple[int, dict[str, Any]]:
        """How many of ``items`` are listed (live or archived), and the page: ``{"results", "paging"?}``."""
        listed = sorted((item for item in items if item.archived == self.archived), key=sort_key)
        end = self.offset + self.limit
        page: dict[str, Any] = {"results": [item.to_api() for item in listed[self.offset : end]]}
        if end < len(listed):
            page["paging"] = {"next": {"after": str(end), "link": f"{self.base_url}?after={end}"}}
        return len(listed), page
