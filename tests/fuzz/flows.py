"""A citizen signing up and an agency getting a DPoP-bound token, over any HTTP client.

The fuzz tests need both against the in-process app (schemathesis' ASGI client, a ``requests``
session) and against a real ``vault serve`` (``httpx``). Cookies travel as an explicit ``Cookie``
header: the ``__Host-`` cookies are ``Secure``, and a client's jar would not send them over plain
http to a loopback server.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs, quote, urlsplit

from tests.support.agency import TestAgency, pkce_pair
from tests.support.web import PASSWORD
from vault.api.auth import FORM_CSRF_COOKIE, SESSION_COOKIE


class Http(Protocol):
    """The two calls the flows make; never following redirects."""

    base_url: str

    def get(self, path: str, headers: dict[str, str]) -> Any:
        """``GET path``."""

    def post(self, path: str, data: dict[str, str], headers: dict[str, str]) -> Any:
        """``POST path`` with a urlencoded form."""


@dataclass
class Citizen:
    """A signed-in citizen: session cookie and CSRF token."""

    login: str
    session: str
    csrf: str

    def cookies(self) -> dict[str, str]:
        """The session cookie, as a browser sends it."""
        return {SESSION_COOKIE: self.session}

    def headers(self) -> dict[str, str]:
        """``Cookie`` and ``X-CSRF-Token``: what an unsafe call to ``/api/v1/me/*`` carries."""
        return {"Cookie": f"{SESSION_COOKIE}={self.session}", "X-CSRF-Token": self.csrf}


def register(http: Http) -> Citizen:
    """Sign up a fresh citizen through the registration form."""
    login = f"fuzz-{uuid.uuid4().hex[:12]}@example.de"
    page = http.get("/register", {})
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text
    form = {"username": login, "password": PASSWORD, "password_confirm": PASSWORD, "csrf_token": token[1]}
    r = http.post("/register", form, {"Cookie": f"{FORM_CSRF_COOKIE}={page.cookies[FORM_CSRF_COOKIE]}"})
    assert r.status_code == 303, r.text
    session = r.cookies[SESSION_COOKIE]
    csrf = http.get("/api/v1/me/csrf", {"Cookie": f"{SESSION_COOKIE}={session}"}).json()["csrf_token"]
    return Citizen(login, session, csrf)


def grant(http: Http, agency: TestAgency, citizen: Citizen) -> str:
    """PAR, the citizen's approval, the code for a DPoP-bound access token."""
    verifier, challenge = pkce_pair()
    r = http.post("/oauth/par", agency.par_form(challenge=challenge), {})
    assert r.status_code == 201, r.text
    request_uri = r.json()["request_uri"]
    cookie = {"Cookie": f"{SESSION_COOKIE}={citizen.session}"}
    ids = {"client_id": agency.client_id, "request_uri": request_uri}
    page = http.get(f"/oauth/authorize?client_id={quote(agency.client_id)}&request_uri={quote(request_uri)}", cookie)
    assert page.status_code == 200, page.text
    r = http.post("/oauth/authorize", {**ids, "decision": "approve", "csrf_token": citizen.csrf}, cookie)
    assert r.status_code == 303, r.text
    code = parse_qs(urlsplit(r.headers["location"]).query)["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": agency.redirect_uri,
        "client_id": agency.client_id,
        **agency.auth(),
    }
    r = http.post("/oauth/token", form, {"DPoP": agency.dpop("POST", f"{http.base_url}/oauth/token")})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])
