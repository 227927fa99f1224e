"""Demo data for ``vault serve --demo`` (idempotent).

One citizen with attributes and a document; one agency whose private key (JWK) is written to the
data dir, so an agency client can sign its ``private_key_jwt`` assertions; and its services: the
DESIGN.md §5 example "Wohnsitz ummelden", an ``ongoing`` one, and "Wohnsitz anmelden" at level high
(the online Anmeldung under § 23a BMG, reached by signing in with the online ID card).
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import TYPE_CHECKING

from joserfc.jwk import ECKey

from vault.citizens.errors import LoginTaken
from vault.consent.catalogue import DocumentRule, ServiceDefinition, Text2
from vault.runtime import Runtime

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from vault.bootstrap import Keys
    from vault.config import Settings

DEMO_LOGIN = "erika.mustermann@example.de"
DEMO_PASSWORD = "Demo-Passwort-2026"  # noqa: S105  published demo credentials
DEMO_AUDITOR = "pruefung@datenschutz.example"
DEMO_AUDITOR_PASSWORD = "Demo-Pruefung-2026"  # noqa: S105  published demo credentials
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


DEMO_AGENCY_NAME = "Bürgeramt Musterstadt (Demo)"
DEMO_REDIRECT_URI = "http://localhost:8001/callback"
DEMO_AGENCY_FILE = "demo-agency.json"


def demo_services(client_id: str) -> list[ServiceDefinition]:
    """The demo agency's services: the DESIGN.md §5 example (``once``), an ``ongoing`` one, and one at level high.

    ``adressabgleich`` is what the example agency app (``make demo``) asks for first: it may read again
    until the citizen revokes, so a revoke visibly ends the agency's reads. ``wohnsitz-anmelden`` (its
    second button) needs level high, which only a sign-in through the eID provider reaches.
    """
    ummeldung = ServiceDefinition(
        id="ummeldung",
        agency=client_id,
        title=Text2(de="Wohnsitz ummelden", en="Register a change of address"),
        purpose=Text2(de="Anmeldung der neuen Wohnung", en="Registering your new home"),
        legal_basis="§ 17 Bundesmeldegesetz (BMG)",
        fields=("given_name", "family_name", "birth_date", "address"),
        optional_fields=("email",),
        documents=(DocumentRule(kind="rental_confirmation", required=True, late_submission=True),),
        access="once",
        max_duration_days=30,
        min_assurance="basic",
    )
    abgleich = ServiceDefinition(
        id="adressabgleich",
        agency=client_id,
        title=Text2(de="Ummeldung mit Adressabgleich", en="Change of address, kept up to date"),
        purpose=Text2(
            de="Anmeldung der neuen Wohnung und Abgleich der Meldedaten, bis Sie den Zugriff widerrufen",
            en="Registering your new home and keeping the registration in step until you revoke access",
        ),
        legal_basis="§ 17 Bundesmeldegesetz (BMG)",
        fields=("given_name", "family_name", "birth_date", "address"),
        optional_fields=("email",),
        documents=(),
        access="ongoing",
        max_duration_days=90,
        min_assurance="basic",
    )
    anmeldung = ServiceDefinition(
        id="wohnsitz-anmelden",
        agency=client_id,
        title=Text2(de="Wohnsitz anmelden", en="Register your new home"),
        purpose=Text2(
            de="Anmeldung einer Wohnung (elektronische Wohnsitzanmeldung)", en="Registering a new home online"
        ),
        legal_basis="§ 23a Bundesmeldegesetz (BMG)",
        fields=("given_name", "family_name", "birth_date", "birth_place", "nationality", "address"),
        documents=(),
        access="once",
        max_duration_days=30,
        min_assurance="high",
    )
    return [ummeldung, abgleich, anmeldung]


async def seed_agency(runtime: Runtime, settings: Settings) -> str:
    """Register the demo agency and its services unless done; its key goes to ``<data dir>/demo-agency.json``."""
    path = settings.data_dir / DEMO_AGENCY_FILE
    if path.exists():
        client_id = str(json.loads(path.read_text())["client_id"])
    else:
        key = ECKey.generate_key("P-256", private=True)
        kid = key.thumbprint()
        public = {**key.as_dict(private=False), "kid": kid, "alg": "ES256", "use": "sig"}
        client_id = await runtime.services.catalogue.add_agency(
            DEMO_AGENCY_NAME, [DEMO_REDIRECT_URI], {"keys": [public]}
        )
        private = {**key.as_dict(private=True), "kid": kid, "alg": "ES256"}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            agency = {"client_id": client_id, "redirect_uri": DEMO_REDIRECT_URI, "private_jwk": private}
            json.dump(agency, out, indent=2)
    for service in demo_services(client_id):  # also on a data dir seeded before a service was added
        try:
            await runtime.services.catalogue.service(service.id, active=False)
        except LookupError:
            await runtime.services.catalogue.add_service(service)
    return client_id


async def seed_auditor(runtime: Runtime) -> None:
    """The demo auditor (``/audit``), unless its login exists."""
    with contextlib.suppress(LoginTaken):
        await runtime.services.auditors.add(
            runtime.services.accounts, DEMO_AUDITOR, DEMO_AUDITOR_PASSWORD, "Demo-Prüfstelle"
        )


async def seed_demo(settings: Settings, keys: Keys) -> bool:
    """Create the demo citizen unless it exists; True when it was created now."""
    runtime = Runtime(settings, keys)
    await runtime.open(integrate=False)
    try:
        await seed_agency(runtime, settings)
        await seed_auditor(runtime)
        try:
            cid = await runtime.services.accounts.register(DEMO_LOGIN, DEMO_PASSWORD)
        except LoginTaken:
            return False
        for name, value in DEMO_ATTRIBUTES.items():
            await runtime.services.vault.set_attribute(cid, name, value)

        async def letter() -> AsyncIterator[bytes]:
            yield b"%PDF-1.4\n% Demo: Mietbescheinigung fuer Erika Mustermann\n%%EOF\n"

        await runtime.services.vault.put_document(
            cid, "rental_confirmation", "application/pdf", "Mietbescheinigung.pdf", letter()
        )
        return True
    finally:
        await runtime.close()
