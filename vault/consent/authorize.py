"""The authorization endpoint: a pushed request shown to the citizen, and their decision.

The decision uses the request once and answers with the redirect to the agency's registered URI:
a single-use code (60 s), or ``access_denied`` (logged as ``denied``), each with ``state`` and ``iss``
(RFC 9207).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from vault.consent.catalogue import Agency, ServiceDefinition, UnknownEntry
from vault.consent.checks import missing_documents, redirect_to
from vault.consent.errors import InvalidClient, InvalidRequestUri
from vault.consent.par import AuthorizationRequest
from vault.consent.tables import AuthorizationCode, PushedRequest, digest
from vault.transparency.records import LogRecord, utc_now_iso

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from vault.consent.catalogue import Catalogue
    from vault.consent.grants import Grants
    from vault.transparency.log import TransparencyLog

CODE_LIFETIME = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Pending:
    """An authorization waiting for the citizen's decision (what the consent page shows)."""

    request: AuthorizationRequest
    agency: Agency
    service: ServiceDefinition


class DocumentsMissing(Exception):
    """Approval needs documents the citizen has not handed in and that may not come later."""

    def __init__(self, kinds: list[str]) -> None:
        super().__init__(", ".join(kinds))
        self.kinds = kinds


class Authorizations:
    """The consent page's request and the citizen's decision on it."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        catalogue: Catalogue,
        grants: Grants,
        log: TransparencyLog,
        issuer: str,
    ) -> None:
        self.sessions = sessions
        self.catalogue = catalogue
        self.grants = grants
        self.log = log
        self.issuer = issuer

    async def pending(self, client_id: str, request_uri: str) -> Pending:
        """The pushed request behind ``request_uri`` for ``client_id``: unused, unexpired, this client's."""
        try:
            agency = await self.catalogue.agency(client_id)
        except UnknownEntry:
            raise InvalidClient("unknown or disabled client") from None
        async with self.sessions() as db:
            row = await db.get(PushedRequest, digest(request_uri)) if request_uri else None
        if row is None or row.client_id != agency.client_id:
            raise InvalidRequestUri("unknown request_uri (authorization requests must be pushed)")
        if row.used_at is not None or row.expires_at <= datetime.now(UTC):
            raise InvalidRequestUri("request_uri was already used or has expired")
        params = json.loads(row.params)
        request = AuthorizationRequest(
            client_id=row.client_id,
            redirect_uri=params["redirect_uri"],
            state=params["state"],
            code_challenge=params["code_challenge"],
            service=params["service"],
            fields=tuple(params["fields"]),
            documents=tuple(params["documents"]),
        )
        try:
            service = await self.catalogue.service(request.service)
        except UnknownEntry:
            raise InvalidRequestUri("the service is no longer offered") from None
        return Pending(request, agency, service)

    async def missing_documents(self, citizen_id: str, pending: Pending) -> tuple[list[str], list[str]]:
        """``(blocking, later)``: requested documents the citizen has not handed in yet.

        ``blocking`` are required without ``late_submission`` (approval waits for them); ``later``
        may follow after approval and show as pending to both sides.
        """
        from vault.citizens.tables import StoredDocument

        async with self.sessions() as db:
            present = set(
                (
                    await db.execute(
                        select(StoredDocument.kind).where(
                            StoredDocument.citizen_id == citizen_id, StoredDocument.complete
                        )
                    )
                ).scalars()
            )
        return missing_documents(pending.service, pending.request.documents, present)

    async def decide(self, citizen_id: str, client_id: str, request_uri: str, *, approve: bool) -> str:
        """Use the request (once) and answer: the redirect to the agency with a code, or ``access_denied``.

        Approval is refused (:class:`DocumentsMissing`, the request stays usable) while a required
        document that may not be handed in later is missing.
        """
        pending = await self.pending(client_id, request_uri)
        if approve:
            blocking, _ = await self.missing_documents(citizen_id, pending)
            if blocking:
                raise DocumentsMissing(blocking)
        async with self.sessions.begin() as db:
            used = await db.execute(
                update(PushedRequest)
                .where(PushedRequest.request_uri_hash == digest(request_uri), PushedRequest.used_at.is_(None))
                .values(used_at=datetime.now(UTC))
            )
            if getattr(used, "rowcount", 0) != 1:
                raise InvalidRequestUri("request_uri was already used")
        request = pending.request
        if not approve:
            await self._log_denied(citizen_id, pending)
            return redirect_to(
                request.redirect_uri,
                {
                    "error": "access_denied",
                    "error_description": "the citizen declined",
                    "state": request.state,
                    "iss": self.issuer,
                },
            )
        grant = await self.grants.create(citizen_id, pending.agency, pending.service, request.fields, request.documents)
        code = secrets.token_urlsafe(32)
        async with self.sessions.begin() as db:
            db.add(
                AuthorizationCode(
                    code_hash=digest(code),
                    client_id=request.client_id,
                    grant_id=grant.id,
                    redirect_uri=request.redirect_uri,
                    code_challenge=request.code_challenge,
                    expires_at=datetime.now(UTC) + CODE_LIFETIME,
                )
            )
        return redirect_to(request.redirect_uri, {"code": code, "state": request.state, "iss": self.issuer})

    async def _log_denied(self, citizen_id: str, pending: Pending) -> None:
        record = LogRecord(
            pseudonym=self.log.pseudonymizer.pseudonym(citizen_id),
            actor=pending.agency.client_id,
            action="denied",
            time=utc_now_iso(),
            service=pending.service.id,
            fields=pending.request.fields + tuple(f"document:{d}" for d in pending.request.documents),
            purpose=pending.service.purpose.de,
            legal_basis=pending.service.legal_basis,
        )
        async with self.sessions.begin() as db:
            await self.log.append(db, record, subject=citizen_id)
