"""``ports.SalesforceApi`` over Salesforce's REST API with simple-salesforce, signed in by
``adapters.salesforce_oauth.SalesforceAuth``.

Writes go through sObject Collections: 200 records a request, and five requests - of one write or
of several written together - in one composite call: up to 1,000 records for one API call (R18),
``allOrNone`` false so that one bad record does not fail the others. Every REST call is asked of
the stack's shared API budget first (``adapters.budget``), whose daily figure follows
``Sforce-Limit-Info``. 429 and 5xx answers are retried within the invocation's deadline by the
urllib3 ``Retry`` mounted on the session (``adapters.http``; GET, PATCH and DELETE are idempotent
here: collections upsert by external id, update by id and delete by id; the only POSTs are token
requests and composite requests made of queries or of those writes, so sending one again is as
safe); an expired session is renewed once. Queries wanted together (the poller's, Contacts and
Leads) share one composite request. simple-salesforce, and PyJWT for the JWT bearer flow, are
imported on first use: a function that never calls Salesforce does not pay for them at its cold
start. API facts are in shared/reference/salesforce-api.md unless a comment
cites a Salesforce page.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import requests

from activity_sync.adapters.http import (
    MAX_RETRIES,
    READ_TIMEOUT_SECONDS,
    Deadline,
    log_retry,
    mount_retries,
    transport_error,
)
from activity_sync.adapters.salesforce_answers import (
    COLLECTION_SIZE,
    VENDOR,
    PlannedWrite,
    Subrequest,
    endpoint,
    error_answer,
    quoted_lists,
    salesforce_error,
    strip_attributes,
    subrequest_errors,
    write_result,
)
from activity_sync.adapters.salesforce_oauth import OAUTH_TOKEN_PATH, SalesforceAuth
from activity_sync.batching import chunks
from activity_sync.domain import SalesforceUser
from activity_sync.observability import logger
from activity_sync.ports import BudgetExhausted, CollectionWrite, SoqlQuery, VendorApiError, WriteResult

if TYPE_CHECKING:
    from simple_salesforce.api import Salesforce

    from activity_sync.adapters.budget import ApiBudget

# Marks the service's own writes: Change Data Capture reports it as ``changeOrigin`` (R14).
CALL_OPTIONS = {"Sforce-Call-Options": "client=activity-sync"}
# A composite request takes up to 25 subrequests, at most five of them sObject Collections or
# queries, and counts as one API call (shared/reference/salesforce-api.md; Salesforce's "Send
# Multiple Requests Using Composite": "The entire series of requests counts as a single call").
# Five Collections subrequests of 200 records: 1,000 records written or read for one API call.
MAX_COMPOSITE_QUERIES = 5
MAX_COMPOSITE_COLLECTIONS = 5


# -- the REST client -----------------------------------------------------------------------------


class _FirstPages:
    """The first pages of several queries, read in one composite request when the first of them
    is wanted. If that request fails, each query is read on its own instead (GET requests, which
    the transport retries): the composite saves calls, it never costs an answer."""

    def __init__(self, client: SalesforceClient, queries: Sequence[SoqlQuery]) -> None:
        self._client = client
        self._queries = list(queries)
        self._answers: list[dict[str, Any] | VendorApiError] | None = None
        self._failed = False

    def page(self, index: int) -> dict[str, Any] | None:
        """Query ``index``'s first page; None when it is to be read on its own."""
        if self._answers is None and not self._failed:
            try:
                self._answers = self._client.first_pages(self._queries)
            except BudgetExhausted:
                raise  # the budget decides for every call alike: nothing to fall back to
            except VendorApiError as error:
                logger.warning(
                    "composite query failed; reading each query on its own",
                    extra={"vendor": VENDOR, "error": str(error)},
                )
                self._failed = True
        if self._answers is None:
            return None
        answer = self._answers[index]
        if isinstance(answer, VendorApiError):
            raise answer
        return answer


class SalesforceClient:
    """``ports.SalesforceApi``. ``calls`` counts every REST request sent, retries included, by
    ``"METHOD resource"``; ``calls.total()`` is the API allocation spent (R18). Token requests are
    counted in ``auth.calls`` (they do not count against the org's API limit)."""

    def __init__(
        self,
        auth: SalesforceAuth,
        api_version: str = "62.0",
        *,
        session: requests.Session | None = None,
        budget: ApiBudget | None = None,
        deadline: Deadline | None = None,
        max_retries: int = MAX_RETRIES,
    ) -> None:
        self.auth = auth
        self.api_version = api_version.removeprefix("v")
        self._session = session or requests.Session()
        self.calls: Counter[str] = Counter()
        self._salesforce: Salesforce | None = None
        self._user_id: str | None = None
        self._budget = budget
        self.deadline = deadline or Deadline()
        mount_retries(
            self._session,
            allowed_methods=("GET", "PATCH", "DELETE", "POST"),
            listener=self._on_retry,
            deadline=self.deadline,
            max_retries=max_retries,
        )

    # -- plumbing ------------------------------------------------------------------------------
    def _on_retry(
        self, method: str, url: str, status: int | None, wait: float | None, error: Exception | None
    ) -> None:
        path = urlsplit(url).path
        data_prefix = f"/services/data/v{self.api_version}/"
        key = f"{method} {path.removeprefix(data_prefix)}"
        # A session shared with the auth also retries token requests: those are not API calls.
        if not path.startswith(OAUTH_TOKEN_PATH):
            if self._budget is not None:
                self._budget.acquire()  # a retry is a call too
            self.calls[key] += 1
        log_retry(VENDOR, key, status, wait, error)

    def _client(self) -> Salesforce:
        if self._salesforce is None:
            from simple_salesforce.api import Salesforce  # heavy (SOAP, zeep): on first use only

            access_token, instance_url = self.auth.token()
            self._salesforce = Salesforce(
                instance_url=instance_url,
                session_id=access_token,
                session=self._session,
                version=self.api_version,
                object_pairs_hook=dict,
            )
        return self._salesforce

    def _options(self, read_seconds: float = READ_TIMEOUT_SECONDS) -> dict[str, Any]:
        # An explicit CA bundle on the session must win over REQUESTS_CA_BUNDLE.
        return {
            "timeout": self.deadline.timeout("Salesforce", VENDOR, read_seconds),
            "verify": self._session.verify,
        }

    def _call[T](self, what: str, operation: Callable[[Salesforce], T]) -> T:
        """Run one REST request; on an expired or revoked session renew the token and try once more."""
        from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession

        renewed = False
        while True:
            salesforce = self._client()
            if self._budget is not None:
                self._budget.acquire()
            self.calls[what] += 1
            try:
                answer = operation(salesforce)
                self._observe(salesforce)
                return answer
            except SalesforceExpiredSession as error:
                if renewed:
                    raise salesforce_error(what, error) from error
                renewed = True
                logger.info(
                    "Salesforce session expired; renewing the token", extra={"vendor": VENDOR, "route": what}
                )
                self.auth.invalidate(salesforce.session_id)
                self._salesforce = None
            except SalesforceError as error:
                raise salesforce_error(what, error) from error
            except requests.RequestException as error:
                raise transport_error(VENDOR, what, error) from error

    def _observe(self, salesforce: Salesforce) -> None:
        """The org's daily figures from ``Sforce-Limit-Info`` (simple-salesforce parses it into
        ``api_usage``), for the shared budget."""
        usage = (salesforce.api_usage or {}).get("api-usage") if self._budget is not None else None
        if usage is not None and self._budget is not None:
            self._budget.observe(int(usage.total) - int(usage.used), int(usage.total))

    @property
    def known_user_id(self) -> str | None:
        """The user the service runs as, if known without a request (after the first token)."""
        if self._user_id is None:
            token = self.auth.cached()
            self._user_id = token.user_id if token is not None else None
        return self._user_id

    def _restful(
        self, method: str, path: str, *, read_seconds: float = READ_TIMEOUT_SECONDS, **kwargs: Any
    ) -> Any:
        def send(salesforce: Salesforce) -> Any:
            return salesforce.restful(path, method=method, **self._options(read_seconds), **kwargs)

        return self._call(f"{method} {path}", send)

    # -- writes ---------------------------------------------------------------------------------
    def upsert(
        self, sobject: str, external_id_field: str, records: Sequence[Mapping[str, Any]]
    ) -> list[WriteResult]:
        return self.write_together([CollectionWrite(sobject, records, external_id_field)])[0]

    def update(self, sobject: str, records: Sequence[Mapping[str, Any]]) -> list[WriteResult]:
        return self.write_together([CollectionWrite(sobject, records)])[0]

    def write_together(self, writes: Sequence[CollectionWrite]) -> list[list[WriteResult]]:
        """Records written by sObject Collections (``allOrNone`` false), 200 a subrequest, and up to
        five subrequests - of any of the writes - in one composite call: up to 1,000 records for
        one API call (R18). Each write's results in its input order.

        A subrequest refused as a whole for a passing reason (a rate limit, an outage) fails the
        call, as the same Collections request sent alone would: writes by External ID and by Id
        are idempotent, so the batch is simply tried again. Refused for good, its records fail
        with Salesforce's answer, and the other subrequests' results stand."""
        planned = [PlannedWrite.of(write) for write in writes]
        subrequests = [
            (
                index,
                Subrequest("PATCH", plan.path, {"allOrNone": False, "records": list(chunk)}, CALL_OPTIONS),
            )
            for index, plan in enumerate(planned)
            for chunk in chunks(plan.records, COLLECTION_SIZE)
        ]
        written: list[list[WriteResult]] = [[] for _ in planned]
        for group in chunks(subrequests, MAX_COMPOSITE_COLLECTIONS):
            for (index, _), results in zip(group, self._send_collections([r for _, r in group]), strict=True):
                written[index] += results
        return [plan.results(results) for plan, results in zip(planned, written, strict=True)]

    def _send_collections(self, subrequests: Sequence[Subrequest]) -> list[list[WriteResult]]:
        """Collections requests in one call: alone as itself, several as one composite call."""
        if len(subrequests) == 1:
            (only,) = subrequests
            return [
                self._collection_results(only.method, only.path, len(only.body["records"]), json=only.body)
            ]
        answers = self._composite(
            " + ".join(dict.fromkeys(f"{r.method} {r.path}" for r in subrequests)), subrequests
        )
        results: list[list[WriteResult]] = []
        for subrequest, (status, answer) in zip(subrequests, answers, strict=True):
            what = f"{subrequest.method} {subrequest.path} (composite)"
            expected = len(subrequest.body["records"])
            if 200 <= status < 300:
                results.append(self._rows_as_results(what, answer, expected))
                continue
            refused = error_answer(what, status, answer)
            if refused.retryable:
                raise refused
            results.append([WriteResult(success=False, errors=subrequest_errors(status, answer))] * expected)
        return results

    def _composite(self, what: str, subrequests: Sequence[Subrequest]) -> list[tuple[int, Any]]:
        """One composite request (``allOrNone`` false: the subrequests stand alone); each
        subrequest's HTTP status and body, in order."""
        composite_request = []
        for index, subrequest in enumerate(subrequests):
            entry: dict[str, Any] = {
                "method": subrequest.method,
                "url": f"/services/data/v{self.api_version}/{subrequest.path}",
                "referenceId": f"sub{index}",
            }
            if subrequest.body is not None:
                entry["body"] = subrequest.body
            if subrequest.headers:
                entry["httpHeaders"] = dict(subrequest.headers)
            composite_request.append(entry)
        # Salesforce runs the subrequests one after another: the answer may take as long as each
        # of them sent alone would (within what the invocation has left).
        answer = self._restful(
            "POST",
            "composite",
            read_seconds=READ_TIMEOUT_SECONDS * len(subrequests),
            headers=CALL_OPTIONS,
            json={"allOrNone": False, "compositeRequest": composite_request},
        )
        by_reference = {
            str(r.get("referenceId")): r
            for r in (answer or {}).get("compositeResponse") or []
            if isinstance(r, dict)
        }
        answers: list[tuple[int, Any]] = []
        for entry in composite_request:
            response = by_reference.get(entry["referenceId"])
            if response is None:
                raise VendorApiError(VENDOR, 200, f"{what} (composite): no answer", retryable=True)
            answers.append((int(response.get("httpStatusCode") or 0), response.get("body")))
        return answers

    @staticmethod
    def _rows_as_results(what: str, answer: Any, expected: int) -> list[WriteResult]:
        rows = answer if isinstance(answer, list) else []
        if len(rows) != expected:
            raise VendorApiError(
                VENDOR, 200, f"{what}: {len(rows)} results for {expected} records", retryable=False
            )
        return [write_result(row) for row in rows]

    def delete(self, ids: Sequence[str]) -> list[WriteResult]:
        results: list[WriteResult] = []
        for chunk in chunks(ids, COLLECTION_SIZE):
            params = {"ids": ",".join(chunk), "allOrNone": "false"}
            results.extend(
                self._collection_results("DELETE", "composite/sobjects", len(chunk), params=params)
            )
        return results

    def _collection_results(self, method: str, path: str, expected: int, **kwargs: Any) -> list[WriteResult]:
        answer = self._restful(method, path, headers=CALL_OPTIONS, **kwargs)
        return self._rows_as_results(f"{method} {path}", answer, expected)

    # -- reads ---------------------------------------------------------------------------------
    def query(self, soql: str, *, include_deleted: bool = False) -> Iterator[dict[str, Any]]:
        endpoint = "queryAll" if include_deleted else "query"
        page = self._call(
            f"GET {endpoint}",
            lambda sf: sf.query(soql, include_deleted=include_deleted, **self._options()),
        )
        yield from self._rows_from(page, endpoint)

    def query_together(self, queries: Sequence[SoqlQuery]) -> list[Iterator[dict[str, Any]]]:
        """Every row of each query, as ``query`` gives them; the first pages of up to five come in
        one composite request (one API call, R18), sent when the first of them is read. Further
        pages (``nextRecordsUrl``) are read per query."""
        if len(queries) < 2:  # one query needs no composite
            return [self.query(q.soql, include_deleted=q.include_deleted) for q in queries]
        rows: list[Iterator[dict[str, Any]]] = []
        for group in chunks(queries, MAX_COMPOSITE_QUERIES):
            first = _FirstPages(self, group)
            rows += [self._rows_after(first, index, query) for index, query in enumerate(group)]
        return rows

    def first_pages(self, queries: Sequence[SoqlQuery]) -> list[dict[str, Any] | VendorApiError]:
        """One composite request (``allOrNone`` false: the queries stand alone) with a query or
        queryAll subrequest per query: each query's first page, or the error its subrequest got."""
        subrequests = [Subrequest("GET", f"{endpoint(q)}?{urlencode({'q': q.soql})}") for q in queries]
        pages: list[dict[str, Any] | VendorApiError] = []
        for query, (status, body) in zip(queries, self._composite("GET query", subrequests), strict=True):
            if 200 <= status < 300 and isinstance(body, dict):  # HTTP success
                pages.append(body)
            else:
                pages.append(error_answer(f"GET {endpoint(query)} (composite)", status, body))
        return pages

    def _rows_after(self, first: _FirstPages, index: int, query: SoqlQuery) -> Iterator[dict[str, Any]]:
        page = first.page(index)
        if page is None:
            yield from self.query(query.soql, include_deleted=query.include_deleted)
        else:
            yield from self._rows_from(page, endpoint(query))

    def _rows_from(self, page: Mapping[str, Any], endpoint: str) -> Iterator[dict[str, Any]]:
        while True:
            for row in page.get("records") or []:
                yield strip_attributes(row)
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            page = self._call(f"GET {endpoint}/<locator>", self._query_more(str(next_url)))

    def _query_more(self, next_records_url: str) -> Callable[[Salesforce], Any]:
        def fetch(salesforce: Salesforce) -> Any:
            return salesforce.query_more(next_records_url, identifier_is_url=True, **self._options())

        return fetch

    def retrieve(self, sobject: str, ids: Sequence[str], fields: Sequence[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        wanted = list(dict.fromkeys(ids))
        # The record's own (18-character) Id always comes back, whichever form was asked for.
        field_list = ",".join(dict.fromkeys(["Id", *(f for f in fields if f.lower() != "id")]))
        path = f"composite/sobjects/{sobject}"
        # 200 ids a Collections request, up to five requests in one composite call (R18).
        for group in chunks(list(chunks(wanted, COLLECTION_SIZE)), MAX_COMPOSITE_COLLECTIONS):
            queries = [{"ids": ",".join(chunk), "fields": field_list} for chunk in group]
            if len(group) == 1:
                answers = [(200, self._restful("GET", path, params=queries[0]))]
            else:
                answers = self._composite(
                    f"GET {path}", [Subrequest("GET", f"{path}?{urlencode(query)}") for query in queries]
                )
            for chunk, (status, rows) in zip(group, answers, strict=True):
                if not 200 <= status < 300:
                    raise error_answer(f"GET {path} (composite)", status, rows)
                # One entry per id in request order; null where the record does not exist (or is
                # deleted).
                for record_id, row in zip(chunk, rows or [], strict=False):
                    if isinstance(row, dict):
                        found[record_id] = strip_attributes(row)
        return found

    def active_users(self) -> list[SalesforceUser]:
        rows = self.query("SELECT Id, Email, IsActive FROM User WHERE IsActive = true")
        return [
            SalesforceUser(
                id=str(row["Id"]), email=row.get("Email") or None, is_active=bool(row.get("IsActive"))
            )
            for row in rows
        ]

    def people_by_email(self, emails: Sequence[str]) -> dict[str, dict[str, list[str]]]:
        """Only emails with at least one Contact or unconverted Lead are keys; each has both lists,
        oldest person first (``CreatedDate, Id``)."""
        wanted = list(dict.fromkeys(e.strip().lower() for e in emails if e and e.strip()))
        people: dict[str, dict[str, list[str]]] = {}
        objects = (("Contact", ""), ("Lead", "IsConverted = false AND "))
        queries: list[tuple[str, SoqlQuery]] = [
            (
                sobject,
                # Only constants and soql_quote()d values are interpolated.
                SoqlQuery(
                    f"SELECT Id, Email FROM {sobject} WHERE {extra_condition}Email IN ({in_list}) "  # noqa: S608  # nosec B608  # soql_quote()d values
                    "ORDER BY CreatedDate, Id"
                ),
            )
            for in_list in quoted_lists(wanted)
            for sobject, extra_condition in objects
        ]
        # Contacts and Leads (and further lists of emails) in one composite call.
        answers = self.query_together([query for _, query in queries])
        for (sobject, _), rows in zip(queries, answers, strict=True):
            for row in rows:
                email = str(row.get("Email") or "").lower()
                if email in wanted:
                    people.setdefault(email, {"Contact": [], "Lead": []})[sobject].append(str(row["Id"]))
        return people

    def picklist_values(self, sobject: str, field_name: str) -> list[str]:
        describe = self._restful("GET", f"sobjects/{sobject}/describe") or {}
        for described in describe.get("fields") or []:
            if str(described.get("name", "")).lower() == field_name.lower():
                return [
                    str(entry["value"])
                    for entry in described.get("picklistValues") or []
                    if entry.get("active")
                ]
        raise VendorApiError(
            VENDOR,
            None,
            f"{sobject}.{field_name} is not visible to the integration user (missing, or hidden by "
            "field-level security)",
            retryable=False,
        )

    def read_resource(self, path: str) -> Any:
        """A REST resource below the API version, as JSON (``sobjects/Task/describe``, ``limits``,
        ``query?q=...``): what the operator's checks read."""
        return self._restful("GET", path)

    def tooling_query(self, soql: str) -> list[dict[str, Any]]:
        """The records of a Tooling API query (one page: the operator's checks read a handful)."""
        answer = self._restful("GET", "tooling/query", params={"q": soql}) or {}
        return list(answer.get("records") or [])

    def api_versions(self) -> list[str]:
        """The API versions the org serves (``GET /services/data/``), e.g. ``["64.0", "65.0"]``."""
        from simple_salesforce.exceptions import SalesforceError

        def versions(salesforce: Salesforce) -> list[str]:
            response = self._session.get(
                f"https://{salesforce.sf_instance}/services/data/",
                headers={"Authorization": f"Bearer {salesforce.session_id}"},
                **self._options(),
            )
            if response.status_code != 200:
                raise SalesforceError(response.url, response.status_code, "versions", response.content)
            return [str(entry["version"]) for entry in response.json()]

        return self._call("GET /services/data/", versions)

    @property
    def user_id(self) -> str:
        if self._user_id is None:
            self._user_id = self.auth.current().user_id or self._userinfo_user_id()
        return self._user_id

    def _userinfo_user_id(self) -> str:
        from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession

        def userinfo(salesforce: Salesforce) -> str:
            response = self._session.get(
                f"https://{salesforce.sf_instance}/services/oauth2/userinfo",
                headers={"Authorization": f"Bearer {salesforce.session_id}"},
                **self._options(),
            )
            if response.status_code == 401:
                raise SalesforceExpiredSession(response.url, 401, "userinfo", response.content)
            if response.status_code != 200:
                raise SalesforceError(response.url, response.status_code, "userinfo", response.content)
            return str(response.json()["user_id"])

        return self._call("GET /services/oauth2/userinfo", userinfo)
