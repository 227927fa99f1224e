"""Client authentication at the authorization server: ``private_key_jwt`` only (no secrets, no ``none``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from vault.consent.catalogue import UnknownEntry
from vault.consent.errors import InvalidClient
from vault.consent.proofs import unverified_issuer, verify_client_assertion

if TYPE_CHECKING:
    from vault.consent.catalogue import Agency, Catalogue
    from vault.consent.proofs import ClientAssertion
    from vault.consent.replay import Replays

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class ClientAuthentication:
    """Finds the client of a form and checks its assertion, which is accepted once."""

    def __init__(self, catalogue: Catalogue, replays: Replays, issuer: str) -> None:
        self.catalogue = catalogue
        self.replays = replays
        self.issuer = issuer

    async def authenticate(self, form: dict[str, str]) -> Agency:
        """The client, its assertion checked and spent; :class:`~vault.consent.errors.InvalidClient` otherwise."""
        agency, checked = await self.verify(form)
        await self.spend(agency, checked)
        return agency

    async def verify(self, form: dict[str, str]) -> tuple[Agency, ClientAssertion]:
        """The client and its verified assertion; the assertion's ``jti`` is not spent yet."""
        if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("client_assertion"):
            raise InvalidClient("private_key_jwt client authentication is required")
        assertion = form["client_assertion"]
        client_id = form.get("client_id") or unverified_issuer(assertion) or ""
        try:
            agency = await self.catalogue.agency(client_id)
        except UnknownEntry:
            raise InvalidClient("unknown or disabled client") from None
        now = int(datetime.now(UTC).timestamp())
        checked = verify_client_assertion(assertion, agency.client_id, agency.jwks, self.issuer, now)
        return agency, checked

    async def spend(self, agency: Agency, checked: ClientAssertion) -> None:
        """Record the assertion's ``jti``: ``invalid_client`` if it was used before."""
        until = datetime.fromtimestamp(checked.exp, UTC) + timedelta(seconds=60)
        if not await self.replays.remember("client", f"{agency.client_id}\x00{checked.jti}", until):
            raise InvalidClient("client assertion jti was already used")
