"""Demo data for ``vault serve --demo``: one citizen with attributes and a document (idempotent)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vault.citizens.errors import LoginTaken
from vault.runtime import Runtime

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from vault.bootstrap import Keys
    from vault.config import Settings

DEMO_LOGIN = "erika.mustermann@example.de"
DEMO_PASSWORD = "Demo-Passwort-2026"  # noqa: S105  published demo credentials
DEMO_ATTRIBUTES: dict[str, object] = {
    "given_name": "Erika",
    "family_name": "Mustermann",
    "birth_date": "1964-08-12",
    "birth_place": "Berlin",
    "nationality": "DE",
    "address": {"street": "Heidestraße", "house_number": "17", "postal_code": "51147", "city": "Köln", "country": "DE"},
    "email": "erika.mustermann@example.de",
    "tax_id": "86095742719",
    "iban": "DE89370400440532013000",
}


async def seed_demo(settings: Settings, keys: Keys) -> bool:
    """Create the demo citizen unless it exists; True when it was created now."""
    runtime = Runtime(settings, keys)
    await runtime.open(integrate=False)
    try:
        assert runtime.accounts is not None, "database not ready"
        assert runtime.vault is not None, "database not ready"
        try:
            cid = await runtime.accounts.register(DEMO_LOGIN, DEMO_PASSWORD)
        except LoginTaken:
            return False
        for name, value in DEMO_ATTRIBUTES.items():
            await runtime.vault.set_attribute(cid, name, value)

        async def letter() -> AsyncIterator[bytes]:
            yield b"%PDF-1.4\n% Demo: Mietbescheinigung fuer Erika Mustermann\n%%EOF\n"

        await runtime.vault.put_document(
            cid, "rental_confirmation", "application/pdf", "Mietbescheinigung.pdf", letter()
        )
        return True
    finally:
        await runtime.close()
