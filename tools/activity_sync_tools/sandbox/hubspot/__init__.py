"""HubSpot sandbox: a stateful local emulator of the HubSpot API subset the activity sync uses,
speaking HubSpot's wire formats (paths, payloads, status codes, headers, error bodies).

Start it in-process::

    from activity_sync_tools.sandbox.hubspot import HubSpotSandbox, start_hubspot_sandbox
    server = start_hubspot_sandbox(seed=load_seed_file("seed.json"))
    client = HubSpot(access_token="hubspot-sandbox-token", host=server.url)

Served (as on api.hubapi.com, ``Authorization: Bearer <token>``)
-----------------------------------------------------------------
* ``/crm/v3/objects/{contacts|companies|deals|calls|emails|meetings|notes|tasks}`` (also by object
  type id, e.g. ``0-48``): list, create (with ``associations``), read/update/archive by id or
  ``idProperty``, ``batch/{read,create,update,upsert,archive}`` (100 inputs), ``search``.
* ``/crm/v3/owners[/{id}]``; ``/crm/v3/properties/{type}[/{name}]``, ``.../batch/{read,create,archive}``,
  ``.../groups[/{name}]``.
* ``/crm/v4/associations/{from}/{to}/batch/{read,create,archive,associate/default}``,
  ``/crm/v4/objects/{type}/{id}/associations/{toType}[/{toId}]``,
  ``/crm/v4/objects/{from}/{id}/associations/default/{to}/{toId}``.
* The same CRM routes on each date-based version in ``app.SERVED_VERSIONS`` (``2026-09``):
  ``/crm/objects/2026-09/...``, ``/crm/owners/2026-09``, ``/crm/properties/2026-09/...``,
  ``/crm/associations/2026-09/...`` (per-record association routes under ``/crm/objects/2026-09``),
  ``/marketing/emails/2026-09[/{id}]``, with that version's statuses (a created association batch
  answers 200, an archived one 200 with a body) and its write checks: the portal's validation
  rules (``config``), and with an ``objectWriteTraceId`` on every input, a batch create that writes
  the valid inputs and lists each refused one in ``errors`` (207).
* ``/marketing/v3/emails[/{id}]``, ``/email/public/v1/events``, ``/email/public/v1/campaigns/{by-id|id}``,
  ``/marketing/v3/forms[/{id}]``, ``/form-integrations/v1/submissions/forms/{guid}``,
  ``POST /submissions/v3/integration/[secure/]submit/{portalId}/{guid}`` (the plain one unauthenticated).

Admin routes (``/_sandbox/...``, JSON in and out)
-------------------------------------------------
Shared with every sandbox: ``clock``, ``faults``, ``requests``, ``counters``, ``reset`` (see
:mod:`activity_sync_tools.sandbox.core`). ``POST faults`` — ``{"route": "GET /crm/v3/objects/*",
"kind": "rate_limit"|"server_error"|"status"|"slow"|"drop"|"expired_session", "times"?,
"status"?, "retry_after"?, "delay_seconds"?, "probability"?}``, answered in HubSpot's shapes:
``rate_limit`` → 429 ``TEN_SECONDLY_ROLLING`` with ``Retry-After``; ``server_error``/``status`` →
that status (503 by default) with HubSpot's error category; ``expired_session`` → 401
``EXPIRED_AUTHENTICATION``; ``slow`` → late but normal; ``drop`` → connection closed, no answer.
``"probability": p`` fails that share of matching requests at random (unlimited unless ``times``),
one fault a request; ``{"seed": n}`` makes the draw repeatable. HubSpot's own:

* ``GET|POST owners`` — ``{"email", "firstName", "lastName", "userId"?, "teams"?, "archived"?}`` or
  ``{"owners": [...]}``.
* ``POST seed`` — a seed document (below); answers ``{"refs": {...}, "state": {...}}``.
* ``GET state`` — counts, clock, limits, webhook and workflow webhook queues.
* ``GET|POST objects/{type}``, ``GET|PATCH|DELETE objects/{type}/{id}`` — records as a HubSpot user
  makes them (``changeSource`` ``CRM_UI`` unless the body says ``"changeSource"``): ``{"properties",
  "associations": [{"type": "contacts", "id": "1001", "typeId"?}], "createdAt"?}``, or many at
  once as ``{"inputs": [...]}`` (an import). Read-only properties may be set; nothing counts against
  the API limits.
* ``POST|DELETE associations`` — ``{"from": {"type", "id"}, "to": {"type", "id"}, "typeId"?}``.
* ``POST marketing-emails`` — ``{"name", "subject", "id"?, "campaignId"?, "publishDate"?, "state"?}``.
* ``GET|POST email-events`` — ``{"type": "SENT|DELIVERED|OPEN|CLICK|...", "recipient", "emailId" or
  "emailCampaignId", "created"?, ...extra event fields}`` or ``{"events": [...]}``; rolls the event up
  on the recipient contact.
* ``POST forms`` — ``{"name", "fields": ["email", "firstname", {"name", "label", "fieldType",
  "required"}], "id"?, "inlineMessage"?}``.
* ``POST sales-email-events`` — ``{"emailId", "type": "OPEN|CLICK|REPLY", "at"?, "text"?,
  "subject"?}`` (see :mod:`.tracking` for what HubSpot exposes and what this changes).
* ``GET|POST|DELETE webhooks`` — ``{"target_url", "client_secret"?, "app_id"?, "subscriptions":
  ["object.creation", {"subscriptionType": "object.propertyChange", "objectTypeId": "0-49",
  "propertyName": "hs_email_open_count"}, "contact.propertyChange", ...], "batch_window_seconds"?,
  "max_retries"?, "retry_backoff_seconds"?, "max_backoff_seconds"?, "retry_after_scale"?,
  "timeout_seconds"?, "deliver_twice"?, "max_concurrent_requests"?}``; ``POST webhooks/flush``
  delivers what is pending now (the workflow webhook action's requests too);
  ``GET|DELETE webhooks/deliveries`` is the delivery log (``{"deliveries", "duplicates_sent"}``).
  ``"deliver_twice": true`` sends every acknowledged request again at once, identical (logged with
  ``"trigger": "duplicate"``, never retried); GET shows it and ``duplicates_sent``.
  ``max_concurrent_requests`` (1 to 100; 10, HubSpot's usual *Event throttling*, by default) is how
  many requests are in flight at once.
* ``GET|POST document-views`` — ``{"contact": id or email, "document_name", "at"?, "id"?, "owner"?}``
  and ``GET|POST timeline-events`` — ``{"contact", "app_name", "event_name", "at"?, "id"?,
  "owner"?}``: sales-content document views and other apps' timeline events, which HubSpot has no
  read API for. POST records one (``at`` defaults to the sandbox clock, ``id`` to
  ``document-view-N``/``timeline-event-N`` from a counter, ``owner`` (id or email) to the contact's
  owner) and, when the workflow webhook is configured, queues it for sending; answers
  ``{"activity": <ActivityPost>, "queued": bool}``. GET answers ``{"results": [<ActivityPost>...]}``.
* ``GET|POST|DELETE workflow-webhooks`` — a workflow's *Send a webhook* action, the way these reach
  the service: ``{"target_url", "bearer_token", "retry"?, "max_retries"?, "retry_backoff_seconds"?,
  "max_backoff_seconds"?, "retry_after_scale"?, "timeout_seconds"?, "deliver_twice"?}``. Each
  recorded activity is POSTed by a background sender as the service's ``ActivityPost`` JSON
  (``{"type": "document_view"|"integration_event", "id", "occurred_at", "contact_ids": [id],
  "owner_id"?, "properties": {"document_name"} or {"app_name", "event_name"}}``), one per request,
  with ``Authorization: Bearer <bearer_token>``; 4XX but 429 is final, anything else not 2XX is
  retried with backoff up to ``max_retries`` times (``"retry": false``: never). DELETE forgets the
  action and what it had pending. ``POST workflow-webhooks/flush`` sends what is pending now, and
  ``POST webhooks/flush`` does too (its answer adds ``"workflow_webhooks": {"deliveries",
  "pending"}``);
  ``GET|DELETE workflow-webhooks/deliveries`` is the delivery log. ``deliver_twice`` as for
  ``webhooks``. See :mod:`.workflows`.
* ``GET|POST|DELETE rate-limits`` — ``{"rate_limit_per_10s", "daily_limit", "search_per_second"}``;
  DELETE forgets usage.
* ``GET|POST config`` — ``{"search_index_lag_seconds", "search_short_page_by", "validation_rules"}``:
  new records stay out of search for a while; search pages come back short (still with
  ``paging.next``), as HubSpot's do; ``validation_rules`` (``{"calls": ["hs_call_body"]}``) are the
  portal admin's required properties, which writes on date-based paths must fill (400
  ``VALIDATION_ERROR`` naming the property, as from version 2026-09); ``token_scopes`` what the
  token holds, as ``POST /oauth/v2/private-apps/get/access-token-info`` lists them (the eight of
  ``hubspot-app/`` by default); ``app_tokens`` (``{token: app id}``) other apps' tokens, whose writes
  carry their own app id as ``sourceId`` (a second identity: a person's tool, the canary). ``GET
  /account-info/2026-03/details`` answers the portal.

Seed format
-----------
A JSON object; every key is optional::

    {
      "clock": {"now": "2024-05-01T09:00:00Z", "frozen": true},
      "owners": [{"ref": "ana", "email": "ana@example.com", "firstName": "Ana", "lastName": "Silva"}],
      "property_groups": {"calls": [{"name": "activity_sync", "label": "Activity sync"}]},
      "properties": {"calls": [{"name": "sync_key", "label": "Sync key", "type": "string",
                                "fieldType": "text", "groupName": "callinformation",
                                "hasUniqueValue": true}]},
      "contacts": [{"ref": "alice", "owner": "ana", "createdAt": "2023-01-05T10:00:00Z",
                    "properties": {"email": "alice@example.com", "firstname": "Alice"}}],
      "companies": [...], "deals": [...],
      "calls": [{"ref": "c1", "owner": "ana", "properties": {"hs_timestamp": "2024-04-30T15:00:00Z",
                 "hs_call_title": "Intro"}, "associations": ["contacts:alice"]}],
      "emails": [...], "meetings": [...], "notes": [...], "tasks": [...],
      "associations": [{"from": "calls:c1", "to": "companies:acme", "typeId": 182}],
      "marketing_emails": [{"ref": "newsletter", "name": "May newsletter", "subject": "News"}],
      "email_events": [{"type": "OPEN", "recipient": "alice@example.com", "email": "newsletter",
                        "created": "2024-04-20T08:00:00Z"}],
      "forms": [{"ref": "contact-us", "name": "Contact Us", "fields": ["email", "firstname"],
                 "submissions": [{"submittedAt": "2024-01-02T03:04:05Z",
                                  "values": {"email": "alice@example.com"}, "pageUrl": "https://x.test/c"}]}],
      "document_views": [{"contact": "alice", "document_name": "Pricing.pdf",
                          "at": "2024-04-29T10:00:00Z"}],
      "timeline_events": [{"contact": "alice@example.com", "app_name": "Zoom",
                           "event_name": "Webinar attended", "id": "zoom-42"}]
    }

``owner`` is an owner ref or email; ``associations`` entries are ``"type:ref"``, ``{"type", "ref"}``,
``{"type", "id"}`` or ``{"to": ..., "typeId": N}`` (default: HubSpot's unlabeled type for the pair);
``createdAt`` (or the ``createdate``/``hs_createdate`` property) may lie in the past. Seeded records
come from an ``IMPORT``; form submissions in a seed leave contacts alone unless
``"updateContact": true``. ``document_views`` and ``timeline_events`` take the admin routes' fields
(``contact`` and ``owner`` may also be seed refs) and are recorded, never sent. Ids come from
counters and GUIDs from a ``random.Random`` seeded with the portal id, so the same seed on a fresh
sandbox gives the same ids; with a frozen clock (or explicit timestamps) it gives byte-identical
responses.
"""

from .app import HubSpotSandbox, start_hubspot_sandbox
from .seed import load_seed_file

__all__ = ["HubSpotSandbox", "load_seed_file", "start_hubspot_sandbox"]
