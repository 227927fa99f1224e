"""The test provider's personas: people a tester signs in as, each at one eIDAS level.

Invented data in the style of the specimen ID card ("Erika Mustermann"). ``level`` is what the
provider vouches for (``acr`` in OIDC, AuthnContextClassRef in SAML).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: eIDAS levels of assurance as OIDC ``acr`` values (and SAML AuthnContextClassRef, eIDAS style).
ACR = {
    "high": "http://eidas.europa.eu/LoA/high",
    "substantial": "http://eidas.europa.eu/LoA/substantial",
}
#: BundID's SAML levels (RequestedAuthnContext, Comparison="minimum").
STORK = {
    "high": "STORK-QAA-Level-4",
    "substantial": "STORK-QAA-Level-3",
}


@dataclass(frozen=True, slots=True)
class Persona:
    """A person the test provider signs in; ``subject`` is stable per persona (pairwise per client in OIDC)."""

    key: str
    level: str
    given_name: str
    family_name: str
    birthdate: str
    place_of_birth: str
    nationality: str
    address: dict[str, str] = field(default_factory=dict)
    birth_name: str | None = None


PERSONAS: tuple[Persona, ...] = (
    Persona(
        key="erika",
        level="high",
        given_name="Erika",
        family_name="Mustermann",
        birth_name="Gabler",
        birthdate="1964-08-12",
        place_of_birth="Berlin",
        nationality="DE",
        address={"street_address": "Heidestraße 17", "postal_code": "51147", "locality": "Köln", "country": "DE"},
    ),
    Persona(
        key="max",
        level="substantial",
        given_name="Max",
        family_name="Mustermann",
        birthdate="1990-01-31",
        place_of_birth="Hamburg",
        nationality="DE",
        address={"street_address": "Musterweg 5", "postal_code": "20095", "locality": "Hamburg", "country": "DE"},
    ),
    Persona(
        key="anna",
        level="high",
        given_name="Anna",
        family_name="Beispiel",
        birthdate="1985-05-05",
        place_of_birth="Dresden",
        nationality="DE",
        address={"street_address": "Lindenallee 3", "postal_code": "01067", "locality": "Dresden", "country": "DE"},
    ),
)


def persona(key: str) -> Persona | None:
    """The persona called ``key``, or ``None``."""
    return next((p for p in PERSONAS if p.key == key), None)
