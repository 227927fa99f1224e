"""Pushed authorization requests (RFC 9126): the only way an authorization request reaches the vault."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from vault.consent.catalogue import UnknownEntry
from vault.consent.checks import (
    check_code_challenge,
    check_redirect_uri,
    check_response_type,
    check_state,
    narrow,
    parse_authorization_details,
)
from vault.consent.errors import InvalidAuthorizationDetails, InvalidRequest, RequestNotSupported
from vault.consent.tables import PushedRequest, digest

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from vault.consent.catalogue import Agency, Catalogue
    from vault.consent.clients import ClientAuthentication

REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
PAR_LIFETIME = timedelta(seconds=90)


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """What a pushed request asks for, checked against the catalogue."""

    client_id: str
    redirect_uri: str
    state: str | None
    code_challenge: str
    service: str
    fields: tuple[str, ...]
    documents: tuple[str, ...]


class PushedRequests:
    """Checks and stores pushed requests; each ``request_uri`` is single use, 90 s, bound to its client."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], catalogue: Catalogue, clients: ClientAuthentication
    ) -> None:
        self.sessions = sessions
        self.catalogue = catalogue
        self.clients = clients

    async def push(self, form: dict[str, str]) -> dict[str, Any]:
        """Check the request, store it, return ``request_uri`` and ``expires_in``."""
        agency = await self.clients.authenticate(form)
        if "request_uri" in form:
            raise InvalidRequest("request_uri must not be pushed")
        if "request" in form:
            raise RequestNotSupported("signed request objects are not supported; push the parameters")
        request = await self._check(agency, form)
        request_uri = REQUEST_URI_PREFIX + secrets.token_urlsafe(32)
        params = {
            "redirect_uri": request.redirect_uri,
            "state": request.state,
            "code_challenge": request.code_challenge,
            "service": request.service,
            "fields": list(request.fields),
            "documents": list(request.documents),
        }
        async with self.sessions.begin() as db:
            db.add(
                PushedRequest(
                    request_uri_hash=digest(request_uri),
                    client_id=agency.client_id,
                    params=json.dumps(params),
                    expires_at=datetime.now(UTC) + PAR_LIFETIME,
                )
            )
        return {"request_uri": request_uri, "expires_in": int(PAR_LIFETIME.total_seconds())}

    async def _check(self, agency: Agency, form: dict[str, str]) -> AuthorizationRequest:
        check_response_type(form.get("response_type"))
        redirect_uri = form.get("redirect_uri", "")
        check_redirect_uri(redirect_uri, agency.redirect_uris)
        challenge = form.get("code_challenge", "")
        check_code_challenge(form.get("code_challenge_method"), challenge)
        state = form.get("state")
        check_state(state)
        entry = parse_authorization_details(form.get("authorization_details"))
        try:
            service = await self.catalogue.service(entry["service"])
        except UnknownEntry:
            raise InvalidAuthorizationDetails("unknown or disabled service") from None
        fields, documents = narrow(entry, service, agency.client_id)
        return AuthorizationRequest(agency.client_id, redirect_uri, state, challenge, service.id, fields, documents)
