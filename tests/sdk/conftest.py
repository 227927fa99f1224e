"""A real vault app in-process for the SDK's tests: the SDK talks to it through Litestar's test client.

Nothing of the vault is mocked: the agency is registered through the catalogue, the citizen registers,
stores data and approves on the vault's own pages (with its own cookies, swapped in and out of the
shared client), and the SDK does PAR, token, reads and log checks over the app's HTTP interface.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import pytest
from litestar.testing import TestClient

from tests.support.catalogue import service_toml
from tests.support.web import PASSWORD, domain, form_token
from vault.app import create_app
from vault.config import Settings, load_settings
from vault.consent.catalogue import parse_service
from vault.db.engine import create_engine
from vault.db.migrate import upgrade

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from joserfc.jwk import ECKey

from agency_sdk import generate_key, public_jwks

ISSUER = "https://vault.test"
CALLBACK = "https://amt.example/callback"
VALUES: dict[str, Any] = {
    "given_name": "Erika",
    "family_name": "Mustermann",
    "birth_date": "1964-08-12",
    "address": {"street": "Heidestraße", "house_number": "17", "postal_code": "51147", "city": "Köln", "country": "DE"},
}


@dataclass
class Citizen:
    """A citizen using the vault's pages through the shared test client, with cookies of their own."""

    http: TestClient[Any]
    cookies: httpx.Cookies = field(default_factory=httpx.Cookies)

    def _as_me(self) -> None:
        self.http.cookies = self.cookies

    def _done(self) -> None:
        self.cookies = httpx.Cookies(self.http.cookies)
        self.http.cookies = httpx.Cookies()  # the agency's calls carry no citizen cookie

    def register(self, username: str = "erika@example.de") -> None:
        self._as_me()
        try:
            page = self.http.get("/register")
            form = {"username": username, "password": PASSWORD, "password_confirm": PASSWORD,
                    "csrf_token": form_token(page.text)}  # fmt: skip
            assert self.http.post("/register", data=form, follow_redirects=False).status_code == 303
            csrf = {"X-CSRF-Token": self.http.get("/api/v1/me/csrf").json()["csrf_token"]}
            for name, value in VALUES.items():
                assert self.http.put(f"/api/v1/me/attributes/{name}", json={"value": value}, headers=csrf).is_success
        finally:
            self._done()

    def decide(self, authorize_url: str, decision: str = "approve") -> str:
        """Open the consent page the agency sent us to and decide; the callback URL the vault redirects to."""
        self._as_me()
        try:
            target = urlsplit(authorize_url)
            page = self.http.get(f"{target.path}?{target.query}")
            assert page.status_code == 200, page.text
            query = httpx.QueryParams(target.query)
            form = {"client_id": query["client_id"], "request_uri": query["request_uri"], "decision": decision,
                    "csrf_token": form_token(page.text)}  # fmt: skip
            answer = self.http.post("/oauth/authorize", data=form, follow_redirects=False)
            assert answer.status_code in (302, 303), answer.text
            return str(answer.headers["location"])
        finally:
            self._done()

    def revoke(self, grant_id: str) -> None:
        self._as_me()
        try:
            csrf = {"X-CSRF-Token": self.http.get("/api/v1/me/csrf").json()["csrf_token"]}
            assert self.http.post(f"/api/v1/me/grants/{grant_id}/revoke", headers=csrf).is_success
        finally:
            self._done()

    def upload(self, kind: str, content: bytes, content_type: str = "application/pdf") -> None:
        self._as_me()
        try:
            csrf = {"X-CSRF-Token": self.http.get("/api/v1/me/csrf").json()["csrf_token"]}
            files = {"file": ("nachweis.pdf", content, content_type)}
            answer = self.http.post("/api/v1/me/documents", data={"kind": kind}, files=files, headers=csrf)
            assert answer.is_success, answer.text
        finally:
            self._done()


@dataclass
class Vault:
    """The app, its settings, the shared client and one registered agency."""

    settings: Settings
    http: TestClient[Any]
    client_id: str
    key: ECKey
    citizen: Citizen


def _settings(tmp_path: Path, **extra: Any) -> Settings:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'v.db'}"
    settings = load_settings({}, data_dir=str(tmp_path / "var"), database_url=database_url)
    settings.issuer = ISSUER
    settings.password_concurrency = 2
    for name, value in extra.items():
        setattr(settings, name, value)
    return settings


async def _register_agency(settings: Settings, key: ECKey) -> str:
    engine = create_engine(settings)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    async with domain(settings) as runtime:
        client_id = await runtime.services.catalogue.add_agency("Bürgeramt Musterstadt", [CALLBACK], public_jwks(key))
        for service_id, access in (("ummeldung", "once"), ("adressabgleich", "ongoing")):
            lines = {"id": f'id = "{service_id}"', "access": f'access = "{access}"'}
            await runtime.services.catalogue.add_service(parse_service(service_toml(client_id, **lines)))
        return client_id


def _server_date(response: httpx.Response) -> None:
    """Add ``Date`` as the ASGI server does (granian on every response); the test client has no server."""
    response.headers.setdefault("date", formatdate(usegmt=True))


@pytest.fixture
def vault(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Vault]:
    """A migrated vault on SQLite with an agency (services ``ummeldung`` once, ``adressabgleich`` ongoing)."""
    extra = getattr(request, "param", {})
    settings = _settings(tmp_path, **extra)
    key = generate_key()
    client_id = asyncio.run(_register_agency(settings, key))
    with TestClient(create_app(settings), base_url=ISSUER) as http:
        http.event_hooks["response"] = [_server_date]
        citizen = Citizen(http)
        citizen.register()
        yield Vault(settings, http, client_id, key, citizen)
