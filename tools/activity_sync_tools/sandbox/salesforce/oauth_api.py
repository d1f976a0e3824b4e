"""OAuth under ``/services/oauth2/``: the token endpoint (client credentials, JWT bearer, refresh),
userinfo and revoke, as the org answers them."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request, Response

from activity_sync_tools.sandbox.core import json_response
from activity_sync_tools.sandbox.salesforce import oauth
from activity_sync_tools.sandbox.salesforce.api_common import USER_ENVIRON_KEY
from activity_sync_tools.sandbox.salesforce.errors import (
    oauth_error,
)
from activity_sync_tools.sandbox.salesforce.org import Org


class OAuthApi:
    def __init__(self, org: Org) -> None:
        self.org = org

    def oauth_token(self, request: Request) -> Response:
        form = request.form
        grant_type = form.get("grant_type", "")
        base = self.org.base_url(request)
        if grant_type == "client_credentials":
            basic = oauth.client_from_basic_auth(request.headers.get("Authorization"))
            client_id, client_secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
            other = self.org.other_clients.get(client_id)
            if client_id != self.org.client_id and other is None:
                return oauth_error("invalid_client_id", "client identifier invalid")
            expected_secret, run_as = other or (self.org.client_secret, self.org.run_as_user_id)
            if client_secret != expected_secret:
                return oauth_error("invalid_client", "invalid client credentials")
            with self.org.lock:
                user = self.org.store.records.get(run_as)
            if user is None or user.values.get("IsActive") is False:
                return oauth_error("invalid_grant", "no client credentials user enabled")
            return self._token_answer(base, user.id)
        if grant_type == oauth.JWT_BEARER_GRANT:
            key = self.org.jwt_public_key_pem
            if key is None:
                return oauth_error("invalid_client", "no certificate is registered for this connected app")
            try:
                username = oauth.verify_jwt_assertion(
                    form.get("assertion", ""),
                    public_key_pem=key,
                    client_id=self.org.client_id,
                    audiences=(*oauth.LOGIN_AUDIENCES, base, request.host_url.rstrip("/")),
                    now=self.org.clock.now(),
                )
            except oauth.OAuthFailure as failure:
                return oauth_error(failure.error, failure.description)
            with self.org.lock:
                user = next(
                    (
                        r
                        for r in self.org.store.live("User")
                        if str(r.values["Username"]).lower() == username.lower()
                    ),
                    None,
                )
            if user is None:
                return oauth_error("invalid_grant", "user hasn't approved this consumer")
            if user.values.get("IsActive") is False:
                return oauth_error("invalid_grant", "inactive user")
            return self._token_answer(base, user.id, include_issued_at=False)
        if not grant_type:
            return oauth_error("invalid_request", "grant type is missing")
        return oauth_error("unsupported_grant_type", "grant type not supported")

    def _token_answer(self, base: str, user_id: str, *, include_issued_at: bool = True) -> Response:
        session = self.org.sessions.issue(user_id, self.org.client_id)
        identity = f"{base}/id/{self.org.org_id}/{user_id}"
        issued_at = str(int(session.issued_at.timestamp() * 1000))
        body: dict[str, Any] = {
            "access_token": session.token,
            "scope": "api",
            "instance_url": base,
            "id": identity,
            "token_type": "Bearer",
        }
        if include_issued_at:
            body["issued_at"] = issued_at
            body["signature"] = oauth.signature(self.org.client_secret, identity, issued_at)
        return json_response(body)

    def oauth_userinfo(self, request: Request) -> Response:
        user_id = str(request.environ.get(USER_ENVIRON_KEY, ""))
        with self.org.lock:
            user = self.org.store.records[user_id]
        base = self.org.base_url(request)
        values = user.values
        return json_response(
            {
                "sub": f"{base}/id/{self.org.org_id}/{user_id}",
                "user_id": user_id,
                "organization_id": self.org.org_id,
                "preferred_username": values.get("Username"),
                "name": values.get("Name"),
                "given_name": values.get("FirstName"),
                "family_name": values.get("LastName"),
                "email": values.get("Email"),
                "email_verified": True,
                "active": values.get("IsActive"),
                "user_type": "STANDARD",
                "urls": {"rest": f"{base}/services/data/v{{version}}/"},
            }
        )

    def oauth_revoke(self, request: Request) -> Response:
        token = request.form.get("token", "")
        if not self.org.sessions.expire(token):
            return oauth_error("unsupported_token_type", "this token type is not supported")
        return Response(status=200)
