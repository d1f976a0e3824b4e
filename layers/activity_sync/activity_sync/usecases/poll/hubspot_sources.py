"""The HubSpot sources of a poll run: engagements (a search on their last modification), the
marketing email events feed, and form submissions (a feed per form)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from itertools import batched
from typing import Any

from activity_sync.domain import HUBSPOT_SALESFORCE_ID_PROPERTY, EmailEventKind, HubSpotActivityType, SyncType
from activity_sync.messages import ChangeMessage, ChangeSource
from activity_sync.observability import logger
from activity_sync.ports import BudgetExhausted, HubSpotRecord
from activity_sync.rules.echo import (
    TASK_STATE_PROPERTIES,
    copy_edit_flows_back,
    is_copy_from_salesforce,
    same_version,
)
from activity_sync.rules.hubspot_records import ENGAGEMENTS, modified_property, parse_hubspot_time
from activity_sync.rules.owner_mapping import normalize_email
from activity_sync.rules.task_mapping import HubSpotActivityKey
from activity_sync.rules.windows import window_start
from activity_sync.usecases.poll.context import LOOK_BEFORE_WINDOW, PollContext, Source, Steps
from activity_sync.usecases.poll.watermarks import FeedPosition, Watermark

MARKETING_EVENT_KINDS: Mapping[str, EmailEventKind] = {
    "SENT": EmailEventKind.SENT,
    "OPEN": EmailEventKind.OPEN,
    "CLICK": EmailEventKind.CLICK,
}


def hubspot_source(
    context: PollContext, sync_type: SyncType, enabled_at: dt.datetime, until: dt.datetime
) -> Source | None:
    """The source of one HubSpot type, or None when the type has nothing to poll (document views
    and integration events only arrive through the activity route)."""
    activity_type = HubSpotActivityType(sync_type.type)
    start = window_start(activity_type, enabled_at)
    if activity_type in ENGAGEMENTS:
        return EngagementSource(context, sync_type, start, until)
    if activity_type is HubSpotActivityType.MARKETING_EMAIL:
        return MarketingEmailSource(context, sync_type, start, until)
    if activity_type is HubSpotActivityType.FORM_SUBMISSION:
        return FormSubmissionSource(context, sync_type, start, until)
    return None


class _TypeSource:
    """A HubSpot type's source: its window (from ``earliest``, until ``until``) and watermark."""

    def __init__(
        self, context: PollContext, sync_type: SyncType, earliest: dt.datetime, until: dt.datetime
    ) -> None:
        self.name = sync_type.key
        self.sync_type: SyncType | None = sync_type
        self._context = context
        self._watermark = f"poll#{sync_type.key}"
        self._earliest = earliest
        self._until = until


class EngagementSource(_TypeSource):
    """Notes, calls, meetings, tasks or sales emails: a search on their last modification from the
    type's watermark, passing over what synced since its last change and the service's own copies
    of Salesforce records (R14, R18)."""

    def __init__(
        self, context: PollContext, sync_type: SyncType, earliest: dt.datetime, until: dt.datetime
    ) -> None:
        super().__init__(context, sync_type, earliest, until)
        self._activity_type = HubSpotActivityType(sync_type.type)

    def steps(self) -> Steps:
        context, activity_type = self._context, self._activity_type
        sync_key = SyncType.hubspot_to_salesforce(activity_type).key
        object_type = ENGAGEMENTS[activity_type].object_type
        modified = modified_property(object_type)
        since = context.marks.since(self._watermark, self._earliest)
        is_task = activity_type is HubSpotActivityType.TASK
        # What tells the service's own copies of Salesforce records apart, and a person's edit of
        # a task copy (R14), comes with the search at no extra call.
        properties = ["hs_object_id", modified, HUBSPOT_SALESFORCE_ID_PROPERTY]
        records = context.hubspot().search_modified(
            object_type, since.at, self._until, [*properties, *(TASK_STATE_PROPERTIES if is_task else ())]
        )
        first_event = EmailEventKind.SENT if activity_type is HubSpotActivityType.SALES_EMAIL else None

        def stamp(record: HubSpotRecord) -> tuple[dt.datetime | None, str]:
            return parse_hubspot_time(record.properties.get(modified)) or record.updated_at, record.id

        def synced(records: list[HubSpotRecord]) -> set[str]:
            """Passed over: activities synced since their last change, and copies the service made
            of Salesforce records unless a person changed a task copy's state (the syncer would
            read them only to skip them as echoes, R14, R18)."""
            copies: list[HubSpotRecord] = []
            keys: dict[str, HubSpotRecord] = {}
            for r in records:
                if is_copy_from_salesforce(r.properties):
                    copies.append(r)
                else:
                    keys[HubSpotActivityKey(activity_type, r.id, first_event).external_id] = r
            if context.links is None:
                return {r.id for r in copies if not is_task}
            copy_links = (
                context.links.links(object_type, [r.id for r in copies]) if is_task and copies else {}
            )
            links = context.links.links("activity", keys) if keys else {}
            passed = {
                r.id
                for r in copies
                if not copy_edit_flows_back(
                    is_task,
                    r.properties,
                    (link.details or {}).get("task_state") if (link := copy_links.get(r.id)) else None,
                )
            }
            return passed | {
                record.id
                for key, record in keys.items()
                if (link := links.get(key)) is not None
                and same_version((link.details or {}).get("source_modified_at"), stamp(record)[0])
            }

        def queue(chunk: list[HubSpotRecord]) -> int:
            return context.send(
                ChangeMessage(sync_type=sync_key, object_id=r.id, source=ChangeSource.HUBSPOT_POLL)
                for r in chunk
            )

        yield from context.steps(self._watermark, since, records, stamp, queue, synced, self._until)


class MarketingEmailSource(_TypeSource):
    """The events feed over [watermark, until) in one stream, a page at a time. The feed has no
    order to rely on, so progress is the page: after each step the position (the page's offset
    and how many of its events are done) is kept, and a run that stops resumes there. The window's
    end moves the watermark once the stream is read to its end."""

    def __init__(
        self, context: PollContext, sync_type: SyncType, earliest: dt.datetime, until: dt.datetime
    ) -> None:
        super().__init__(context, sync_type, earliest, until)
        self._names_refreshed = False

    def steps(self) -> Steps:
        context, name, earliest = self._context, self._watermark, self._earliest
        assert self.sync_type is not None  # nosec B101  # narrows a type: set in __init__
        sync_type = self.sync_type
        stored = context.marks.get(name)
        first_run = stored is None
        since = Watermark.parse(stored).at if stored else earliest - LOOK_BEFORE_WINDOW
        position = FeedPosition.load(context.marks.get(f"{name}#position"), since)
        end = position.until or self._until
        hubspot = context.hubspot()
        for page in hubspot.email_event_pages(since, end, position.offset):
            done = position.done if page.offset == position.offset else 0
            events = list(page.events)[done:]
            for chunk in batched(events, context.limits.step):
                wanted = [e for e in chunk if str(e.get("type")) in MARKETING_EVENT_KINDS]
                inside = [e for e in wanted if (parse_hubspot_time(e.get("created")) or since) >= earliest]
                if first_run:
                    context.outside[sync_type] += len(wanted) - len(inside)
                names = self._names(inside) if inside else {}
                queued = context.send(self._changes(sync_type.key, inside, names))
                done += len(chunk)
                context.marks.set(f"{name}#position", FeedPosition(end, page.offset, done).to_text())
                yield queued
            position = FeedPosition(end, page.next_offset, 0)
        context.marks.move(name, Watermark(end).to_text())
        context.marks.move(f"{name}#position", "")

    def _names(self, events: Sequence[Mapping[str, Any]]) -> Mapping[str, str]:
        """Email campaign id -> name, read again when an event names an email sent since (R9)."""
        context = self._context
        names = context.caches.marketing_names.get(context.hubspot().marketing_email_names)
        if not self._names_refreshed and any(str(e.get("emailCampaignId", "")) not in names for e in events):
            self._names_refreshed = True  # once a run: an email deleted since stays unknown
            names = context.caches.marketing_names.get(context.hubspot().marketing_email_names, fresh=True)
        return names

    def _changes(
        self, sync_key: str, events: Sequence[Mapping[str, Any]], names: Mapping[str, str]
    ) -> list[ChangeMessage]:
        contacts = self._context.contacts.find(str(e.get("recipient", "")) for e in events)
        changes: list[ChangeMessage] = []
        for event in events:
            kind = MARKETING_EVENT_KINDS[str(event.get("type"))]
            contact_id = contacts.get(normalize_email(str(event.get("recipient", ""))) or "")
            campaign = str(event.get("emailCampaignId", ""))
            payload: dict[str, Any] = {
                "type": HubSpotActivityType.MARKETING_EMAIL.value,
                "id": str(event["id"]),
                "occurred_at": event["created"],
                "contact_ids": [contact_id] if contact_id else [],
                "email_event": kind.value,
                "properties": {"email_name": names.get(campaign, f"Email {campaign}")},
            }
            changes.append(
                ChangeMessage(
                    sync_type=sync_key,
                    object_id=f"{kind.value}:{event['id']}",
                    source=ChangeSource.HUBSPOT_POLL,
                    occurred_at=parse_hubspot_time(event["created"]),
                    payload=payload,
                )
            )
        return changes


class FormSubmissionSource(_TypeSource):
    """Each form has its own watermark (``<type watermark>#form#<id>``): the feed is per form and
    newest first, so one busy form's year of history costs only its own walk, and a form that
    fails holds back only itself."""

    def steps(self) -> Steps:
        hubspot = self._context.hubspot()
        first_error: Exception | None = None
        for form in sorted(self._context.caches.forms.get(hubspot.forms), key=lambda f: str(f["id"])):
            try:
                yield from self._one_form(form)
            except BudgetExhausted:
                raise
            except Exception as error:
                # One form's trouble (deleted since the list was read, say) holds back that form only.
                logger.exception("form submissions poll failed", extra={"form_id": str(form["id"])})
                first_error = first_error or error
            yield 0  # a step boundary: this form's watermark is durable
        if first_error is not None:
            raise first_error

    def _one_form(self, form: Mapping[str, Any]) -> Steps:
        context, earliest, until = self._context, self._earliest, self._until
        assert self.sync_type is not None  # nosec B101  # narrows a type: set in __init__
        sync_type = self.sync_type
        name = f"{self._watermark}#form#{form['id']}"
        stored = context.marks.get(name)
        since = context.marks.since(name, earliest)
        # The first walk reads on a little past the window, to count what lies outside it.
        look_from = since.at - LOOK_BEFORE_WINDOW if stored is None else since.at
        submissions = context.hubspot().form_submissions(str(form["id"]), look_from)
        timed: list[tuple[dt.datetime, Mapping[str, Any]]] = []
        for submission in submissions:
            submitted_at = parse_hubspot_time(submission.get("submittedAt"))
            if submitted_at is None or submitted_at >= until:
                continue
            if submitted_at < earliest:
                if stored is None:
                    context.outside[sync_type] += 1  # seen on the first walk, outside the year (R5, R16)
                continue
            timed.append((submitted_at, submission))
        timed.sort(key=lambda pair: pair[0])  # the feed is newest first; the watermark wants oldest first

        def key(pair: tuple[dt.datetime, Mapping[str, Any]]) -> tuple[dt.datetime | None, str]:
            return pair[0], submission_id(form, pair[1])

        yield from context.steps(
            name,
            since,
            timed,
            key,
            lambda chunk: self._queue(sync_type.key, form, [s for _, s in chunk]),
            until=until,
        )

    def _queue(self, sync_key: str, form: Mapping[str, Any], submissions: Sequence[Mapping[str, Any]]) -> int:
        def email_of(submission: Mapping[str, Any]) -> str:
            values = {v.get("name"): v.get("value") for v in submission.get("values", [])}
            return str(values.get("email") or "")

        contacts = self._context.contacts.find(email_of(s) for s in submissions)
        changes: list[ChangeMessage] = []
        for submission in submissions:
            contact_id = contacts.get(normalize_email(email_of(submission)) or "")
            identity = submission_id(form, submission)
            payload = {
                "type": HubSpotActivityType.FORM_SUBMISSION.value,
                "id": identity,
                "occurred_at": submission.get("submittedAt"),
                "contact_ids": [contact_id] if contact_id else [],
                "properties": {
                    "form_name": str(form.get("name", "")),
                    "page_url": str(submission.get("pageUrl") or ""),
                },
            }
            changes.append(
                ChangeMessage(
                    sync_type=sync_key,
                    object_id=identity,
                    source=ChangeSource.HUBSPOT_POLL,
                    occurred_at=parse_hubspot_time(submission.get("submittedAt")),
                    payload=payload,
                )
            )
        return self._context.send(changes)


def submission_id(form: Mapping[str, Any], submission: Mapping[str, Any]) -> str:
    return str(submission.get("conversionId") or f"{form['id']}:{submission.get('submittedAt')}")
