"""A vault under fuzzing: the whole app in-process on a migrated SQLite database, with credentials for every call.

Schemathesis reaches the app through its ASGI transport (one event-loop thread for the whole run; its
pytest plugin ends the app's lifespan after each test and the next call starts it again, on the same
database). The setup goes through the same transport over HTTP, as a browser and an agency would: a
citizen registers, an agency pushes a request, the citizen approves, the agency redeems the code for
a DPoP-bound token. Each fuzzed call then gets what its operation needs: the
session cookie and ``X-CSRF-Token`` for ``/api/v1/me/*``, the access token and a fresh DPoP proof
(``htm``, ``htu`` and ``ath`` of exactly this call) for the agency endpoints.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote, urlsplit

from schemathesis.python import asgi

from tests.fuzz.flows import Citizen, grant, register
from tests.support.agency import TestAgency
from tests.support.catalogue import service_toml
from tests.support.web import domain
from vault.app import create_app
from vault.config import load_settings
from vault.consent.catalogue import parse_service
from vault.db.engine import create_engine
from vault.db.migrate import upgrade

if TYPE_CHECKING:
    import requests
    from litestar import Litestar
    from schemathesis import Case

    from vault.config import Settings

# Schemathesis' ASGI client calls the app as ``testserver``; https, so the ``__Host-`` cookies are valid.
BASE_URL = f"https://{asgi.HOST}"
AGENCY_PATHS = re.compile(r"^/api/v1/(data|documents)(/|$)")
ERASE_PATH = "/api/v1/me"
TOKEN_REFRESH_AFTER = 200.0  # seconds; access tokens live at most 300 s
PDF = b"%PDF-1.4\n% fuzzing\n%%EOF\n"


@dataclass
class Credentials:
    """What one call carries besides the generated request."""

    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)


@dataclass
class InProcess:
    """:class:`tests.fuzz.flows.Http` over schemathesis' ASGI client (a fresh cookie jar per call)."""

    app: Litestar
    base_url: str = BASE_URL

    def get(self, path: str, headers: dict[str, str]) -> requests.Response:
        with client_of(self.app) as client:
            return client.get(self.base_url + path, headers=headers, allow_redirects=False)

    def post(self, path: str, data: dict[str, str], headers: dict[str, str]) -> requests.Response:
        with client_of(self.app) as client:
            return client.post(self.base_url + path, data=data, headers=headers, allow_redirects=False)


def client_of(app: Litestar) -> asgi.ASGIClient:
    """Schemathesis' ASGI client (a ``requests`` session) for ``app``, on its shared event loop."""
    return asgi.get_client(cast("Any", app))


def migrate(settings: Settings) -> None:
    """Bring the (empty) database to the current schema."""

    async def run() -> None:
        engine = create_engine(settings)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(run())


def register_agency(settings: Settings) -> TestAgency:
    """An agency with an ``ongoing`` change-of-address service, so a token serves many reads."""
    agency = TestAgency(BASE_URL)

    async def run() -> None:
        async with domain(settings) as runtime:
            agency.client_id = await runtime.services.catalogue.add_agency(
                "Bürgeramt Fuzz", [agency.redirect_uri], agency.jwks()
            )
            service = service_toml(agency.client_id, access='access = "ongoing"')
            await runtime.services.catalogue.add_service(parse_service(service))

    asyncio.run(run())
    return agency


class FuzzedVault:
    """The app under test and the credentials the fuzzer's calls need."""

    def __init__(self, app: Litestar, agency: TestAgency) -> None:
        self.app = app
        self.agency = agency
        self.http = InProcess(app)
        self.citizen = register(self.http)
        self._doomed: Citizen | None = None  # signs DELETE /api/v1/me, replaced once erased
        self._token: str | None = None
        self._token_at = 0.0
        self._prepare_citizen()

    def _prepare_citizen(self) -> None:
        """Attributes and a document the agency's grant covers, so reads have something to decrypt."""
        headers = self.citizen.headers()
        with client_of(self.app) as client:
            for name, value in [("given_name", "Erika"), ("family_name", "Mustermann"), ("birth_date", "1964-08-12")]:
                r = client.put(f"{BASE_URL}/api/v1/me/attributes/{name}", json={"value": value}, headers=headers)
                assert r.status_code == 200, r.text
            files = {"file": ("mietbescheinigung.pdf", PDF, "application/pdf")}
            form = {"kind": "rental_confirmation"}
            r = client.post(f"{BASE_URL}/api/v1/me/documents", data=form, files=files, headers=headers)
            assert r.status_code == 201, r.text

    def _access_token(self) -> str:
        if self._token is None or time.monotonic() - self._token_at > TOKEN_REFRESH_AFTER:
            self._token, self._token_at = grant(self.http, self.agency, self.citizen), time.monotonic()
        return self._token

    def credentials(self, case: Case[Any]) -> Credentials:
        """Session, CSRF token, access token and DPoP proof, as the call's operation needs them."""
        path, method = case.operation.path, case.method.upper()
        if path == ERASE_PATH:
            if self._doomed is None:
                self._doomed = register(self.http)
            return Credentials({"X-CSRF-Token": self._doomed.csrf}, self._doomed.cookies())
        if path.startswith("/api/v1/me/"):
            return Credentials({"X-CSRF-Token": self.citizen.csrf}, self.citizen.cookies())
        if path == "/oauth/authorize":
            if method == "POST" and isinstance(case.body, dict):
                case.body.setdefault("csrf_token", self.citizen.csrf)
            return Credentials({}, self.citizen.cookies())
        if AGENCY_PATHS.match(path):
            token = self._access_token()
            url = BASE_URL + unquote(urlsplit(case.formatted_path).path)
            proof = self.agency.dpop(method, url, token)
            return Credentials({"Authorization": f"DPoP {token}", "DPoP": proof})
        return Credentials()

    def observe(self, case: Case[Any], response: Any) -> None:
        """Notice what the call ended: the doomed citizen's account, or the agency's grant."""
        path = case.operation.path
        if path == ERASE_PATH and response.status_code == 204:
            self._doomed = None
        if AGENCY_PATHS.match(path) and response.status_code == 401:
            self._token = None  # revoked by a fuzzed call, or expired: a new grant for the next call

    def call(self, case: Case[Any], *, signed_in: bool = True) -> None:
        """Send ``case`` (with its credentials unless not ``signed_in``) and run the configured checks on the answer."""
        creds = self.credentials(case) if signed_in else Credentials()
        response = case.call_and_validate(base_url=BASE_URL, headers=creds.headers, cookies=creds.cookies, app=self.app)
        self.observe(case, response)


def settings_for(tmp: Path) -> Settings:
    """A fresh data dir and SQLite database; the issuer is the fuzzer's base URL (DPoP ``htu``, ``aud``)."""
    return load_settings(
        {}, data_dir=str(tmp / "var"), database_url=f"sqlite+aiosqlite:///{tmp / 'vault.db'}", issuer=BASE_URL
    )


def openapi_document() -> dict[str, Any]:
    """The app's OpenAPI document, as ``/schema/openapi.json`` serves it (built in a throwaway data dir)."""
    with tempfile.TemporaryDirectory() as tmp:
        return create_app(settings_for(Path(tmp))).openapi_schema.to_schema()


def start(tmp: Path) -> FuzzedVault:
    """Migrate, register the agency, build the app, sign the citizen in."""
    settings = settings_for(tmp)
    migrate(settings)
    agency = register_agency(settings)
    return FuzzedVault(create_app(settings), agency)


def stop() -> None:
    """End the app's lifespan (the runtime closes its database and background tasks)."""
    asgi.shutdown_lifespans()
