"""A stateful local emulator of the Salesforce REST API subset the activity sync uses.

Start it in-process over TLS (simple-salesforce only builds ``https://`` URLs)::

    server = start_salesforce_sandbox(seed={...})
    token = server.app.issue_session()            # or POST /services/oauth2/token
    sf = Salesforce(instance_url=server.url, session_id=token, session=sandbox_session(server),
                    version="59.0")

``activity_sync_tools.sandbox.salesforce.testing`` has helpers for tests that use the sandbox
(``Harness``: admin client, OAuth token, typed simple-salesforce client; ``BASE_SEED``).

What it serves (base ``/services/data/vXX.X``, any ``vNN.N`` from v20.0; ``Authorization: Bearer``):
OAuth token endpoint (client credentials, JWT bearer) and ``userinfo``; sObject create / read /
update / delete; upsert and lookup by external id; ``describe`` (per object and global);
``query`` / ``queryAll`` with 2,000-row pages and ``nextRecordsUrl``; ``updated`` / ``deleted``
windows; sObject Collections (create, update, upsert, delete, retrieve; ``allOrNone``; 200-record
cap); ``composite`` (25 subrequests, ``@{ref.field}`` references, ``allOrNone``); ``limits`` with
the daily request allocation, reported on every response in ``Sforce-Limit-Info`` (collections and
composite count once; ``REQUEST_LIMIT_EXCEEDED`` when spent); Outbound Messages for Task/Event
creates and updates. Errors are Salesforce's JSON arrays. See the module docstrings of
``schema`` (picklists), ``soql`` (the query subset), ``oauth`` and ``outbound`` (SOAP envelope).

Seed format (``load_seed(data)``, ``load_seed_file(path)`` for JSON or YAML, the ``seed=``
constructor argument, or ``POST /_sandbox/seed``)::

    {
      "custom_fields": {"Task": [{"name": "Source__c", "type": "string", "length": 80,
                                  "external_id": false, "unique": false, "required": false}]},
      "picklists": {"Task.Type": ["Call", "Email", "Meeting"],                 # values only, or
                    "Task.Status": {"values": [{"value": "Done", "closed": true, "default": false}],
                                    "restricted": true}},
      "hidden_fields": {"Task": ["Type"]},                  # field-level security: INVALID_FIELD
      "users": [{"key": "alice", "Username": "alice@example.com", "Email": "alice@example.com",
                 "FirstName": "Alice", "LastName": "Smith", "IsActive": true}],
      "run_as": "@alice",                                   # client-credentials user (@key / username)
      "accounts": [{"key": "acme", "Name": "Acme"}],
      "contacts": [{"key": "ada", "FirstName": "Ada", "LastName": "Lovelace",
                    "Email": "ada@example.com", "AccountId": "@acme", "OwnerId": "@alice"}],
      "leads": [{"key": "lin", "LastName": "Lin", "Company": "Lin Co", "Email": "lin@example.com"}],
      "opportunities": [{"key": "deal", "Name": "Deal", "StageName": "Prospecting",
                         "CloseDate": "2024-03-01", "AccountId": "@acme"}],
      "tasks": [{"key": "t1", "Subject": "Call", "WhoId": "@ada", "Status": "Completed",
                 "CreatedDate": "2024-01-01T10:00:00Z", "CreatedById": "@alice",
                 "LastModifiedById": "@alice", "IsDeleted": false}],
      "events": [{"Subject": "Demo", "WhoId": "@lin", "StartDateTime": "2024-01-02T15:00:00Z",
                  "DurationInMinutes": 30}]
    }

``"@key"`` values refer to records seeded earlier (in this or a previous seed; ``@integration`` is
the built-in integration user ``integration.user@sandbox.example.com``, the default run-as user).
Seeds may set system fields (``CreatedDate``, ``CreatedById``, ``LastModifiedDate``,
``LastModifiedById``, ``SystemModstamp``) and read-only fields (``IsConverted``…), and may mark a
record ``IsDeleted`` (it goes to the recycle bin). Seeding spends no API calls and sends no
outbound messages. Ids come from a counter per key prefix, so the same seed on a fresh sandbox
yields the same ids; with a frozen clock (``POST /_sandbox/clock {"now": …, "frozen": true}``) the
same timestamps too.

Admin routes (JSON; besides the core's ``/_sandbox/clock``, ``faults``, ``requests``,
``counters``, ``reset``):

* ``GET|POST /_sandbox/users`` — ``{"Username", "Email", "FirstName", "LastName", "IsActive",
  "key"}`` (snake_case accepted); ``PATCH /_sandbox/users/{id}`` e.g. ``{"IsActive": false}``
* ``POST /_sandbox/seed`` — a seed; answers ``{"keys": {key: id}}``
* ``POST /_sandbox/picklists`` — ``{"object", "field", "values": [str | {value, label, default,
  active, closed}], "restricted": bool}``
* ``POST /_sandbox/fields`` — ``{"object", "name": "X__c", "type", "length", "external_id",
  "unique", "case_sensitive", "required", "picklist_values", "reference_to"}``
* ``POST /_sandbox/field-access`` — ``{"object", "field", "accessible": false}``
* ``GET|POST /_sandbox/sessions`` — list; ``{"user": "@key"|id|username}`` issues a token;
  ``POST /_sandbox/sessions/expire`` — ``{}`` expires all, ``{"token"}`` one
* ``POST /_sandbox/jwt-key`` — ``{"public_key_pem"}`` (used when ``jwt_public_key_pem`` is None)
* ``GET|POST /_sandbox/run-as`` — ``{"user": "@key"|id|username}``
* ``GET|POST /_sandbox/clients`` — ``{"client_id", "client_secret", "run_as": "@key"|id|username}``:
  another External Client App with client credentials, run as that user (a second identity: a
  person's tool, the canary); its tokens act as that user.
* ``GET|POST /_sandbox/limits`` — ``{"remaining": n, "max": n}``
* ``GET|POST /_sandbox/sobjects/{type}``, ``GET|PATCH|DELETE /_sandbox/sobjects/{type}/{id}`` —
  read every row (deleted too) or write *as another user*: ``{"as_user": "@key", "fields": {…}}``
  (``?as_user=`` for DELETE). Full validation, no API call spent, outbound messages sent: this is
  how tests simulate a human editing a record in the Salesforce UI.
* ``POST /_sandbox/leads/{id}/convert`` — ``{"contact_id"?, "account_id"?, "as_user"?}``
* ``GET|POST|DELETE /_sandbox/outbound-messages`` — ``{"endpoint_url", "objects": ["Task",
  "Event"], "fields": [...] | {"Task": [...]}, "include_session_id", "send_as", "verify_tls"}``;
  ``POST …/flush``, ``GET …/deliveries[?include_envelope=1]``, ``GET|POST …/settings``
  (``{"background", "retry_base_seconds", "retry_max_seconds", "max_attempts", "timeout_seconds",
  "deliver_twice"}``; GET adds ``duplicates_sent``). ``"deliver_twice": true`` sends every
  acknowledged message once more, identical (same notification Ids), logged as an attempt with
  ``"duplicate": true`` and never retried; reset turns it off.

Fault kinds (``POST /_sandbox/faults``, see :mod:`activity_sync_tools.sandbox.core`) answer in
Salesforce's shapes: ``rate_limit`` → 429 with ``Retry-After``; ``server_error`` → 500
``UNKNOWN_EXCEPTION``; ``status`` → that status with a matching error code (503
``SERVER_UNAVAILABLE``, 403 ``REQUEST_LIMIT_EXCEEDED``, 400 ``UNABLE_TO_LOCK_ROW``…);
``expired_session`` → 401 ``INVALID_SESSION_ID``; ``slow`` → late but normal; ``drop`` → the
connection closes without an answer. On ``/services/oauth2/*`` they are OAuth-shaped. With
``"probability": p`` (0 < p <= 1) a fault hits that share of matching requests at random (unlimited
unless ``times`` is given), at most one fault a request; ``{"seed": n}`` makes the draw repeatable.
"""

from __future__ import annotations

from typing import Any

import requests

from activity_sync_tools.sandbox.core import RunningServer, serve
from activity_sync_tools.sandbox.salesforce.app import SalesforceSandbox
from activity_sync_tools.sandbox.salesforce.ids import checksum_suffix, parse_id, to_18

__all__ = [
    "SalesforceSandbox",
    "checksum_suffix",
    "parse_id",
    "sandbox_session",
    "start_salesforce_sandbox",
    "to_18",
]


def start_salesforce_sandbox(port: int = 0, **kwargs: Any) -> RunningServer:
    """Serve a new :class:`SalesforceSandbox` over TLS on ``localhost:port`` (0: a free port).
    ``server.app`` is the sandbox; ``server.url`` its instance URL; ``server.ca_bundle`` the
    certificate to trust."""
    app = SalesforceSandbox(**kwargs)
    server = serve(app, port, tls=True)
    if app.instance_url is None:
        app.instance_url = server.url
    return server


def sandbox_session(server: RunningServer) -> requests.Session:
    """A ``requests`` session that trusts the sandbox's certificate, for simple-salesforce's
    ``session=``. ``trust_env`` is off because ``REQUESTS_CA_BUNDLE`` (and proxy variables) in
    the environment would otherwise override ``verify``."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(server.ca_bundle) if server.ca_bundle else True
    return session
