"""The HubSpot sources that have no generally available date-based API yet, behind one boundary.

HubSpot's date-based versions (``/crm/objects/2026-09/...``; ``hubspot_api``) cover the CRM and the
marketing emails listing. Three sources the poller reads have none:

* marketing email events, ``GET /email/public/v1/events`` (R1.2);
* form submissions, ``GET /form-integrations/v1/submissions/forms/{guid}`` (R1.1);
* the forms listing, ``GET /marketing/v3/forms`` (its date-based version is ``2026-09-beta`` only).

HubSpot stops supporting ``/v1``-``/v3`` paths in September 2027 (developer changelog; see the
README, "HubSpot API versions"). When a GA replacement appears, it goes here and nowhere else.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from activity_sync.adapters.hubspot_answers import next_after, to_epoch_ms
from activity_sync.adapters.hubspot_http import HubSpotTransport
from activity_sync.ports import EmailEventPage

EMAIL_EVENTS_PATH = "/email/public/v1/events"
FORM_SUBMISSIONS_PATH = "/form-integrations/v1/submissions/forms/"
FORMS_PATH = "/marketing/v3/forms"
LEGACY_PATHS = (EMAIL_EVENTS_PATH, FORM_SUBMISSIONS_PATH, FORMS_PATH)
SUPPORTED_UNTIL = "2027-09"  # HubSpot: /v1-/v3 unsupported from September 2027

EMAIL_EVENTS_PAGE_SIZE = 1_000
FORMS_PAGE_SIZE = 50
FORM_SUBMISSIONS_PAGE_SIZE = 50  # the legacy submissions feed's maximum


class HubSpotLegacyFeeds:
    """Marketing email events, forms and form submissions, over the shared transport."""

    def __init__(self, transport: HubSpotTransport) -> None:
        self._transport = transport

    def email_event_pages(
        self, since: dt.datetime, until: dt.datetime, offset: str | None = None
    ) -> Iterator[EmailEventPage]:
        """The legacy feed over the whole window, every event type in one stream (one call per
        1,000 events, whatever the window's length), filtered to the window by ``created``."""
        since_ms, until_ms = to_epoch_ms(since), to_epoch_ms(until)
        if until_ms <= since_ms:
            return
        while True:
            params: dict[str, Any] = {
                "startTimestamp": since_ms,
                "endTimestamp": until_ms - 1,  # inclusive bound; the port's window is half-open
                "limit": EMAIL_EVENTS_PAGE_SIZE,
            }
            if offset:
                params["offset"] = offset
            page = self._transport.request_json("GET", EMAIL_EVENTS_PATH, params=params)
            events = [
                event
                for event in page.get("events") or []
                if isinstance(event.get("created"), int | float) and since_ms <= event["created"] < until_ms
            ]
            next_offset = None if page.get("offset") in (None, "") else str(page["offset"])
            if not page.get("hasMore"):
                next_offset = None
            yield EmailEventPage(events, offset, next_offset)
            if next_offset is None:
                return
            offset = next_offset

    def forms(self) -> list[dict[str, Any]]:
        forms: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": FORMS_PAGE_SIZE}
            if after:
                params["after"] = after
            page = self._transport.request_json("GET", FORMS_PATH, params=params)
            forms.extend(page.get("results") or [])
            after = next_after(page)
            if after is None:
                return forms

    def form_submissions(self, form_id: str, since: dt.datetime) -> Iterator[dict[str, Any]]:
        since_ms = to_epoch_ms(since)
        path = FORM_SUBMISSIONS_PATH + quote(form_id, safe="")
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": FORM_SUBMISSIONS_PAGE_SIZE}
            if after:
                params["after"] = after
            page = self._transport.request_json("GET", path, params=params)
            for submission in page.get("results") or []:
                submitted = submission.get("submittedAt")
                if not isinstance(submitted, int | float):
                    continue
                if submitted < since_ms:
                    return  # newest first: everything after this is older still
                yield submission
            after = next_after(page)
            if after is None:
                return
