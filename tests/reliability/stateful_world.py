"""The vault a state-machine example runs against: a migrated template, copied fresh for every example.

Migrating a database per example would cost more than the example itself, so one template is built
per test (a data dir with its keys, and a migrated database holding one agency and its services) and
each example gets a copy: the SQLite file and the data dir are copied, a PostgreSQL database is
cloned with ``CREATE DATABASE … TEMPLATE``. An example therefore starts from the same state every
time, which is what lets hypothesis replay and shrink a failing sequence.

Hypothesis drives state machines synchronously; a :class:`World` owns one event loop and runs each
coroutine to completion on it, so the runtime's engine and its connections never cross loops.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.agency import TestAgency, pkce_pair
from tests.support.catalogue import service_toml
from tests.support.runtime import open_runtime
from vault.config import load_settings
from vault.consent.catalogue import parse_service
from vault.db.engine import create_engine
from vault.db.migrate import upgrade

if TYPE_CHECKING:
    from collections.abc import Coroutine
    from pathlib import Path

    from tests.support.postgres import PostgresServer
    from vault.config import Settings
    from vault.runtime import Runtime

PASSWORD = "ein sehr gutes Passwort"
SERVICE_FIELDS = ("given_name", "family_name", "birth_date", "address")
OPTIONAL_FIELDS = ("email",)
#: One service per access mode; neither asks for documents (the machine reads attributes only).
SERVICES = {"svc-ongoing": "ongoing", "svc-once": "once"}


@dataclass
class Template:
    """A migrated vault to copy: its data dir, its database, and the agency registered in it."""

    directory: Path
    data_dir: Path
    database_url: str
    agency: TestAgency
    pg: PostgresServer | None = None
    pg_database: str | None = None
    copies: int = field(default=0)

    @property
    def is_sqlite(self) -> bool:
        return self.pg is None


def build_template(directory: Path, database_url: str | None, pg: PostgresServer | None) -> Template:
    """Migrate the database, create the keys, register the agency and its services.

    ``database_url`` is the PostgreSQL database to make the template of; without it the template is a
    SQLite file in ``directory`` (put that on a RAM disk: the durability of commits is not under test).
    """
    database_url = database_url or f"sqlite+aiosqlite:///{directory / 'template.db'}"
    settings = load_settings({}, data_dir=str(directory / "var"), database_url=database_url)
    agency = TestAgency(settings.issuer)
    asyncio.run(_populate(settings, agency))
    pg_database = urlsplit(database_url).path.lstrip("/") if pg is not None else None
    return Template(directory, settings.data_dir, database_url, agency, pg, pg_database)


async def _populate(settings: Settings, agency: TestAgency) -> None:
    engine = create_engine(settings)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    runtime = await open_runtime(settings)  # records the root key's check value and the service secrets
    try:
        agency.client_id = await runtime.services.catalogue.add_agency(
            "Bürgeramt", [agency.redirect_uri], agency.jwks()
        )
        for service_id, access in SERVICES.items():
            lines = {
                "id": f'id = "{service_id}"',
                "access": f'access = "{access}"',
                "documents": "documents = []",
                "fields": f"fields = {json.dumps(list(SERVICE_FIELDS))}",
                "optional_fields": f"optional_fields = {json.dumps(list(OPTIONAL_FIELDS))}",
            }
            await runtime.services.catalogue.add_service(parse_service(service_toml(agency.client_id, **lines)))
    finally:
        await runtime.close()


class World:
    """One example's copy of the template, an open runtime on it, and the loop both live on."""

    def __init__(self, template: Template) -> None:
        template.copies += 1
        self.template = template
        self.agency = template.agency
        self.directory = template.directory / f"example-{template.copies}"
        shutil.copytree(template.data_dir, self.directory / "var")
        self.loop = asyncio.new_event_loop()
        self.database: str | None = None
        if template.is_sqlite:
            db_file = self.directory / "vault.db"
            shutil.copyfile(urlsplit(template.database_url).path, db_file)
            url = f"sqlite+aiosqlite:///{db_file}"
        else:
            assert template.pg is not None
            self.database = "x_" + uuid.uuid4().hex[:16]
            self.run(self._admin(f'CREATE DATABASE "{self.database}" TEMPLATE "{template.pg_database}"'))
            url = template.pg.url(self.database)
        self.settings = load_settings({}, data_dir=str(self.directory / "var"), database_url=url)
        self.runtime: Runtime = self.run(open_runtime(self.settings))

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coroutine`` to completion on this world's loop."""
        return self.loop.run_until_complete(coroutine)

    async def restart(self) -> None:
        """Close the runtime and open a new one on the same data dir and database (a process restart)."""
        await self.runtime.close()
        self.runtime = await open_runtime(self.settings)

    def close(self) -> None:
        """Close the runtime, drop the database copy, close the loop, remove the files."""
        try:
            self.run(self.runtime.close())
            if self.database is not None:
                self.run(self._admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
        finally:
            self.loop.close()
            shutil.rmtree(self.directory, ignore_errors=True)

    async def _admin(self, statement: str) -> None:
        assert self.template.pg is not None
        engine = create_async_engine(self.template.pg.url("postgres"), isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(text(statement))
        finally:
            await engine.dispose()

    # -- the agency's side of the OAuth flow ---------------------------------------------------------

    @property
    def token_url(self) -> str:
        return f"{self.settings.issuer}/oauth/token"

    @property
    def data_url(self) -> str:
        return f"{self.settings.issuer}/api/v1/data"

    async def approve(self, citizen_id: str, service: str, fields: list[str] | None) -> dict[str, Any]:
        """PAR, the citizen's approval on the consent page, and the code exchange: the token response."""
        oauth = self.runtime.services.oauth
        assert oauth is not None
        verifier, challenge = pkce_pair()
        details: dict[str, Any] = {"type": "vault_access", "service": service}
        if fields is not None:
            details["fields"] = fields
        pushed = await oauth.push(self.agency.par_form(service, challenge, authorization_details=json.dumps([details])))
        redirect = await oauth.decide(citizen_id, self.agency.client_id, pushed["request_uri"], approve=True)
        code = parse_qs(urlsplit(redirect).query)["code"][0]
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": self.agency.redirect_uri,
            "client_id": self.agency.client_id,
            **self.agency.auth(),
        }
        response: dict[str, Any] = await oauth.token(form, self.agency.dpop("POST", self.token_url), self.token_url)
        return response

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        """A new access token from the refresh token (DPoP-bound to the same key)."""
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": self.agency.client_id,
            **self.agency.auth(),
        }
        response: dict[str, Any] = await self.runtime.services.oauth.token(
            form, self.agency.dpop("POST", self.token_url), self.token_url
        )
        return response

    async def revoke_token(self, token: str) -> None:
        """RFC 7009 revocation of one of the agency's tokens."""
        await self.runtime.services.oauth.revoke({"token": token, **self.agency.auth()})

    async def read(self, token: str) -> Any:
        """``GET /api/v1/data`` at the domain level: a fresh DPoP proof, then :class:`DataReads`."""
        oauth, reads = self.runtime.services.oauth, self.runtime.services.data_reads
        assert oauth is not None
        assert reads is not None
        proof = self.agency.dpop("GET", self.data_url, token)
        return await reads.read(*oauth.presented(f"DPoP {token}", proof, "GET", self.data_url))
