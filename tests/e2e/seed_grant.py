"""Give a citizen a grant from a demo agency, as the consent flow will (run as a separate process).

``python -m tests.e2e.seed_grant LOGIN`` with the server's ``VAULT_*`` environment: registers an
agency and the DESIGN.md §5 example service if missing, then records the citizen's approval. The
browser tests use it until the OAuth consent page exists.
"""

from __future__ import annotations

import asyncio
import sys

from sqlalchemy import select

from tests.support.catalogue import agency_key, service_toml
from vault.bootstrap import prepare
from vault.citizens.tables import Citizen
from vault.config import load_settings
from vault.consent.catalogue import UnknownEntry, parse_service
from vault.runtime import Runtime


async def seed(login: str) -> str:
    """The new grant's id."""
    settings = load_settings()
    runtime = Runtime(settings, prepare(settings))
    await runtime.open(integrate=False)
    try:
        try:  # other browser tests register agencies of their own on the same server
            client_id = (await runtime.services.catalogue.service("ummeldung")).agency
        except UnknownEntry:
            client_id = await runtime.services.catalogue.add_agency(
                "Bürgeramt Köln", ["https://amt.example/cb"], agency_key()[1]
            )
            await runtime.services.catalogue.add_service(parse_service(service_toml(client_id)))
        async with runtime.sessions() as db:
            citizen_id = await db.scalar(
                select(Citizen.id).where(Citizen.login_hash == runtime.services.accounts.login_hash(login))
            )
        assert citizen_id is not None, login
        grant = await runtime.services.grants.create(
            citizen_id,
            await runtime.services.catalogue.agency(client_id),
            await runtime.services.catalogue.service("ummeldung"),
            ("given_name", "family_name", "birth_date"),
            ("rental_confirmation",),
        )
        return grant.id
    finally:
        await runtime.close()


if __name__ == "__main__":
    print(asyncio.run(seed(sys.argv[1])))
