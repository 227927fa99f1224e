"""The token endpoint: ``authorization_code`` (PKCE, single use) or ``refresh_token``; tokens bound to a DPoP key."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from vault.consent.checks import check_code, check_grant_type, check_refresh_token, details
from vault.consent.errors import InvalidDpopProof, InvalidGrant
from vault.consent.grants import GrantRow, effective_status, fair_grant_lock
from vault.consent.guards import hold_grant_exclusively
from vault.consent.proofs import verify_dpop_proof
from vault.consent.replay import ProofReplayed, check_nonce
from vault.consent.tables import AuthorizationCode, Token, digest

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from vault.consent.catalogue import Agency
    from vault.consent.clients import ClientAuthentication
    from vault.consent.nonces import DpopNonces
    from vault.consent.replay import Replays

ACCESS_LIFETIME = timedelta(seconds=300)


class TokenEndpoint:
    """Exchanges codes and refresh tokens for DPoP-bound access tokens."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clients: ClientAuthentication,
        replays: Replays,
        nonces: DpopNonces | None,
    ) -> None:
        self.sessions = sessions
        self.clients = clients
        self.replays = replays
        self.nonces = nonces

    async def token(self, form: dict[str, str], dpop: str | None, url: str) -> dict[str, Any]:
        """The token response for a code or a refresh token.

        The client assertion's ``jti`` is spent only after the DPoP proof and its nonce passed: a client
        told ``use_dpop_nonce`` (or refused for its clock) may send the same assertion again.
        """
        agency, assertion = await self.clients.verify(form)
        grant_type = check_grant_type(form.get("grant_type"))
        if not dpop:
            raise InvalidDpopProof("a DPoP proof is required")
        proof = verify_dpop_proof(dpop, "POST", url, int(datetime.now(UTC).timestamp()))
        check_nonce(self.nonces, proof)
        await self.clients.spend(agency, assertion)
        try:
            await self.replays.spend(proof)
        except ProofReplayed:
            raise InvalidDpopProof("DPoP proof jti was already used") from None
        if grant_type == "refresh_token":
            return await self._refresh(agency, form.get("refresh_token", ""), proof.jkt)
        return await self._exchange_code(agency, form, proof.jkt)

    async def _exchange_code(self, agency: Agency, form: dict[str, str], jkt: str) -> dict[str, Any]:
        code = form.get("code", "")
        now = datetime.now(UTC)
        async with self.sessions.begin() as db:
            row = await db.scalar(
                select(AuthorizationCode).where(AuthorizationCode.code_hash == digest(code)).with_for_update()
            )
            if row is None or row.client_id != agency.client_id:
                raise InvalidGrant("unknown code")
            if row.used_at is not None:
                # RFC 9700 §4.2.4 / DESIGN.md §5: a replayed code revokes what was issued from it.
                await hold_grant_exclusively(db, row.grant_id)
                row.replayed_at = now
                await db.execute(
                    update(Token)
                    .where(Token.code_hash == row.code_hash, Token.revoked_at.is_(None))
                    .values(revoked_at=now)
                )
                replayed = True
            else:
                replayed = False
                row.used_at = now
        if replayed:
            raise InvalidGrant("code was already used; the tokens issued from it are revoked")
        check_code(row.expires_at, row.redirect_uri, row.code_challenge, form, now)
        return await self.issue(agency, row.grant_id, jkt, code_hash=row.code_hash, refresh=True)

    async def _refresh(self, agency: Agency, refresh_token: str, jkt: str) -> dict[str, Any]:
        async with self.sessions() as db:
            row = await db.get(Token, digest(refresh_token)) if refresh_token else None
        row = check_refresh_token(row, agency.client_id, jkt)
        return await self.issue(agency, row.grant_id, jkt, code_hash=row.code_hash, refresh=False)

    async def issue(
        self, agency: Agency, grant_id: str, jkt: str, *, code_hash: bytes | None, refresh: bool
    ) -> dict[str, Any]:
        """The token response for an active grant: an access token bound to ``jkt``, optionally a refresh token."""
        now = datetime.now(UTC)
        access = secrets.token_urlsafe(32)
        async with self.sessions.begin() as db:
            # Shared, as a read holds it: issuing changes nothing in the grant, it only needs no revoke
            # (of the grant, or of the code's tokens) to commit meanwhile; those hold it exclusively.
            await fair_grant_lock(db, grant_id, exclusive=False)
            grant = await db.scalar(select(GrantRow).where(GrantRow.id == grant_id).with_for_update(read=True))
            if grant is None or effective_status(grant, now) != "active":
                raise InvalidGrant("the grant was revoked, used up or has expired")
            replayed = await db.scalar(
                select(AuthorizationCode.replayed_at).where(AuthorizationCode.code_hash == code_hash)
            )
            if replayed is not None:
                raise InvalidGrant("code was replayed; the tokens issued from it are revoked")
            expires = min(now + ACCESS_LIFETIME, grant.expires_at)

            def token_row(secret: str, kind: str, until: datetime) -> Token:
                return Token(
                    token_hash=digest(secret),
                    kind=kind,
                    client_id=agency.client_id,
                    grant_id=grant_id,
                    code_hash=code_hash,
                    jkt=jkt,
                    expires_at=until,
                )

            db.add(token_row(access, "access", expires))
            body: dict[str, Any] = {
                "access_token": access,
                "token_type": "DPoP",
                "expires_in": int((expires - now).total_seconds()),
                "grant_id": grant_id,
                "authorization_details": [details(grant)],
            }
            if refresh:
                refresh_token = secrets.token_urlsafe(32)
                db.add(token_row(refresh_token, "refresh", grant.expires_at))
                body["refresh_token"] = refresh_token
        return body
