"""The authorization server (DESIGN.md §5, FAPI 2.0 Security Profile), composed of one part per endpoint.

PAR (:mod:`~vault.consent.par`), the consent decision (:mod:`~vault.consent.authorize`), token
(:mod:`~vault.consent.token`), revocation (:mod:`~vault.consent.revocation`), introspection
(:mod:`~vault.consent.introspection`), and resolving a DPoP-bound access token for the agency data API
(:mod:`~vault.consent.resource`). Their rules are the pure functions of :mod:`~vault.consent.checks`.

HTTP lives in ``vault.api.oauth``; the parts take form fields and headers as plain values and raise
the errors of :mod:`vault.consent.errors`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vault.consent.authorize import Authorizations
from vault.consent.clients import ClientAuthentication
from vault.consent.introspection import Introspection
from vault.consent.par import PushedRequests
from vault.consent.replay import Replays
from vault.consent.resource import ResourceAccess
from vault.consent.revocation import Revocation
from vault.consent.token import TokenEndpoint

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from vault.consent.authorize import Pending
    from vault.consent.catalogue import Agency, Catalogue
    from vault.consent.grants import Grants
    from vault.consent.nonces import DpopNonces
    from vault.consent.proofs import DpopProof
    from vault.consent.resource import Access
    from vault.transparency.log import TransparencyLog


class AuthorizationServer:
    """FAPI 2.0 authorization server over the catalogue and the grants: its endpoints, sharing one replay store."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        catalogue: Catalogue,
        grants: Grants,
        log: TransparencyLog,
        issuer: str,
        reads: async_sessionmaker[AsyncSession] | None = None,
        nonces: DpopNonces | None = None,
    ) -> None:
        self.issuer = issuer
        replays = Replays(sessions)
        clients = ClientAuthentication(catalogue, replays, issuer)
        self.par = PushedRequests(sessions, catalogue, clients)
        self.authorizations = Authorizations(sessions, catalogue, grants, log, issuer)
        self.tokens = TokenEndpoint(sessions, clients, replays, nonces)
        self.revocation = Revocation(sessions, clients)
        self.introspection = Introspection(sessions, clients, issuer)
        self.resources = ResourceAccess(reads or sessions, replays, nonces)

    async def push(self, form: dict[str, str]) -> dict[str, Any]:
        """RFC 9126: :meth:`PushedRequests.push <vault.consent.par.PushedRequests.push>`."""
        return await self.par.push(form)

    async def pending(self, client_id: str, request_uri: str) -> Pending:
        """The pushed request the consent page shows (:meth:`~vault.consent.authorize.Authorizations.pending`)."""
        return await self.authorizations.pending(client_id, request_uri)

    async def missing_documents(self, citizen_id: str, pending: Pending) -> tuple[list[str], list[str]]:
        """``(blocking, later)`` (:meth:`~vault.consent.authorize.Authorizations.missing_documents`)."""
        return await self.authorizations.missing_documents(citizen_id, pending)

    async def decide(self, citizen_id: str, client_id: str, request_uri: str, *, approve: bool) -> str:
        """The citizen's decision (:meth:`~vault.consent.authorize.Authorizations.decide`)."""
        return await self.authorizations.decide(citizen_id, client_id, request_uri, approve=approve)

    async def token(self, form: dict[str, str], dpop: str | None, url: str) -> dict[str, Any]:
        """The token endpoint (:meth:`~vault.consent.token.TokenEndpoint.token`)."""
        return await self.tokens.token(form, dpop, url)

    async def issue(
        self, agency: Agency, grant_id: str, jkt: str, *, code_hash: bytes | None, refresh: bool
    ) -> dict[str, Any]:
        """A token response for an active grant (:meth:`~vault.consent.token.TokenEndpoint.issue`)."""
        return await self.tokens.issue(agency, grant_id, jkt, code_hash=code_hash, refresh=refresh)

    async def revoke(self, form: dict[str, str]) -> None:
        """RFC 7009 (:meth:`~vault.consent.revocation.Revocation.revoke`)."""
        await self.revocation.revoke(form)

    async def introspect(self, form: dict[str, str]) -> dict[str, Any]:
        """RFC 7662 (:meth:`~vault.consent.introspection.Introspection.introspect`)."""
        return await self.introspection.introspect(form)

    def presented(self, authorization: str | None, dpop: str | None, method: str, url: str) -> tuple[str, DpopProof]:
        """The presented token and its proof (:meth:`~vault.consent.resource.ResourceAccess.presented`)."""
        return self.resources.presented(authorization, dpop, method, url)

    async def resolve(self, authorization: str | None, dpop: str | None, method: str, url: str) -> Access:
        """The access behind a token, its proof spent (:meth:`~vault.consent.resource.ResourceAccess.resolve`)."""
        return await self.resources.resolve(authorization, dpop, method, url)
