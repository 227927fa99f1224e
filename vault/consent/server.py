"""The authorization server (DESIGN.md §5, FAPI 2.0 Security Profile).

PAR, the consent decision, token, revocation, introspection, and resolving a DPoP-bound access token
for the agency data API.

HTTP lives in ``vault.api.oauth``; this module takes form fields and headers as plain values and
raises :class:`~vault.consent.proofs.OAuthError` with the RFC 6749/9126/9449 error codes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from vault.consent.catalogue import Agency, AgencyRow, ServiceDefinition, UnknownEntry
from vault.consent.grants import GrantRow, effective_status, fair_grant_lock
from vault.consent.proofs import (
    ClientAssertion,
    DpopProof,
    OAuthError,
    unverified_issuer,
    verify_client_assertion,
    verify_dpop_proof,
)
from vault.consent.replay import ProofReplayed, spend_proof
from vault.consent.tables import AuthorizationCode, PushedRequest, SeenJti, Token, digest
from vault.transparency.records import LogRecord, utc_now_iso

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from vault.consent.catalogue import Catalogue
    from vault.consent.grants import Grant, Grants
    from vault.consent.nonces import DpopNonces
    from vault.transparency.log import TransparencyLog

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
PAR_LIFETIME = timedelta(seconds=90)
CODE_LIFETIME = timedelta(seconds=60)
ACCESS_LIFETIME = timedelta(seconds=300)
PKCE_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
PKCE_CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{43}")
MAX_STATE = 500
PURGE_EVERY = timedelta(seconds=10)


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


@dataclass(frozen=True, slots=True)
class Access:
    """A valid access token with a valid proof, which is spent: which client, bound to which key, and its grant.

    The token was looked up before the read's transaction: :func:`token_guard` checks it (by
    ``token_hash``, never the token itself) again there.
    """

    client_id: str
    grant_id: str
    jkt: str
    grant: GrantRow
    token_hash: bytes


def _now() -> datetime:
    return datetime.now(UTC)


def _pkce(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _details(grant: GrantRow) -> dict[str, Any]:
    return {
        "type": "vault_access",
        "service": grant.service,
        "fields": json.loads(grant.fields),
        "documents": json.loads(grant.documents),
    }


def _redirect(uri: str, params: dict[str, str | None]) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{uri}{'&' if '?' in uri else '?'}{query}"


def parse_authorization_details(raw: str | None, service_lookup: ServiceDefinition | None = None) -> dict[str, Any]:
    """The single ``vault_access`` entry of ``authorization_details`` (RFC 9396)."""
    if not raw:
        raise OAuthError("invalid_authorization_details", "authorization_details is required")
    try:
        details = json.loads(raw)
    except (ValueError, RecursionError):
        raise OAuthError("invalid_authorization_details", "authorization_details is not JSON") from None
    if not isinstance(details, list) or len(details) != 1 or not isinstance(details[0], dict):
        raise OAuthError("invalid_authorization_details", "exactly one authorization_details entry")
    entry = details[0]
    if entry.get("type") != "vault_access" or not isinstance(entry.get("service"), str):
        raise OAuthError("invalid_authorization_details", 'type must be "vault_access" with a service id')
    for key in ("fields", "documents"):
        if key in entry and (not isinstance(entry[key], list) or not all(isinstance(v, str) for v in entry[key])):
            raise OAuthError("invalid_authorization_details", f"{key} must be a list of strings")
    unknown = set(entry) - {"type", "service", "fields", "documents"}
    if unknown:
        raise OAuthError("invalid_authorization_details", f"unknown members: {', '.join(sorted(unknown))}")
    return entry


class AuthorizationServer:
    """FAPI 2.0 authorization server over the catalogue and the grants."""

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
        self.sessions = sessions
        self.nonces = nonces
        self.reads = reads or sessions
        self.catalogue = catalogue
        self.grants = grants
        self.log = log
        self.issuer = issuer
        self._last_purge = datetime.min.replace(tzinfo=UTC)

    # -- client authentication and replay --------------------------------------------------------

    async def _remember(self, kind: str, value: str, until: datetime) -> bool:
        """Record a ``jti``; False if it was seen before (a replay)."""
        now = _now()
        try:
            async with self.sessions.begin() as db:
                if now - self._last_purge > PURGE_EVERY:  # not on every call: concurrent deletes contend
                    self._last_purge = now
                    await db.execute(delete(SeenJti).where(SeenJti.expires_at < now))
                db.add(SeenJti(kind=kind, jti_hash=digest(value), expires_at=until))
        except IntegrityError:
            return False
        return True

    async def _spend(self, proof: DpopProof) -> None:
        """Spend a DPoP proof in a short transaction of its own; :class:`ProofReplayed` if it was used before."""
        now = _now()
        async with self.sessions.begin() as db:
            if now - self._last_purge > PURGE_EVERY:  # not on every call: concurrent deletes contend
                self._last_purge = now
                await db.execute(delete(SeenJti).where(SeenJti.expires_at < now))
            await spend_proof(db, proof, now)

    async def authenticate_client(self, form: dict[str, str]) -> Agency:
        """``private_key_jwt`` only (no secrets, no ``none``); ``invalid_client`` (401) otherwise."""
        agency, checked = await self._verify_client(form)
        await self._spend_assertion(agency, checked)
        return agency

    async def _verify_client(self, form: dict[str, str]) -> tuple[Agency, ClientAssertion]:
        """The client and its verified assertion; the assertion's ``jti`` is not spent yet."""
        if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("client_assertion"):
            raise OAuthError("invalid_client", "private_key_jwt client authentication is required", 401)
        assertion = form["client_assertion"]
        client_id = form.get("client_id") or unverified_issuer(assertion) or ""
        try:
            agency = await self.catalogue.agency(client_id)
        except UnknownEntry:
            raise OAuthError("invalid_client", "unknown or disabled client", 401) from None
        checked = verify_client_assertion(
            assertion, agency.client_id, agency.jwks, self.issuer, int(_now().timestamp())
        )
        return agency, checked

    async def _spend_assertion(self, agency: Agency, checked: ClientAssertion) -> None:
        """Record the assertion's ``jti``: ``invalid_client`` if it was used before."""
        until = datetime.fromtimestamp(checked.exp, UTC) + timedelta(seconds=60)
        if not await self._remember("client", f"{agency.client_id}\x00{checked.jti}", until):
            raise OAuthError("invalid_client", "client assertion jti was already used", 401)

    # -- PAR ------------------------------------------------------------------------------------

    async def push(self, form: dict[str, str]) -> dict[str, Any]:
        """RFC 9126: check the request, store it, return ``request_uri`` and ``expires_in``."""
        agency = await self.authenticate_client(form)
        if "request_uri" in form:
            raise OAuthError("invalid_request", "request_uri must not be pushed")
        if "request" in form:
            raise OAuthError("request_not_supported", "signed request objects are not supported; push the parameters")
        request = await self._check_request(agency, form)
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
                    expires_at=_now() + PAR_LIFETIME,
                )
            )
        return {"request_uri": request_uri, "expires_in": int(PAR_LIFETIME.total_seconds())}

    async def _check_request(self, agency: Agency, form: dict[str, str]) -> AuthorizationRequest:
        if form.get("response_type") != "code":
            raise OAuthError("unsupported_response_type", "response_type must be code")
        redirect_uri = form.get("redirect_uri", "")
        if redirect_uri not in agency.redirect_uris:
            raise OAuthError("invalid_request", "redirect_uri is not registered for this client (exact match)")
        if form.get("code_challenge_method") != "S256":
            raise OAuthError("invalid_request", "PKCE with code_challenge_method=S256 is required")
        challenge = form.get("code_challenge", "")
        if not PKCE_CHALLENGE.fullmatch(challenge):
            raise OAuthError("invalid_request", "code_challenge must be the 43-character S256 challenge")
        state = form.get("state")
        if state is not None and len(state) > MAX_STATE:
            raise OAuthError("invalid_request", f"state is longer than {MAX_STATE} characters")
        entry = parse_authorization_details(form.get("authorization_details"))
        try:
            service = await self.catalogue.service(entry["service"])
        except UnknownEntry:
            raise OAuthError("invalid_authorization_details", "unknown or disabled service") from None
        if service.agency != agency.client_id:
            raise OAuthError("invalid_authorization_details", "this service belongs to another agency")
        fields = tuple(entry.get("fields", service.all_fields))
        documents = tuple(entry.get("documents", [d.kind for d in service.documents]))
        if not set(fields) <= set(service.all_fields) or len(set(fields)) != len(fields):
            raise OAuthError("invalid_authorization_details", "fields may only narrow the service's fields")
        kinds = {d.kind for d in service.documents}
        if not set(documents) <= kinds or len(set(documents)) != len(documents):
            raise OAuthError("invalid_authorization_details", "documents may only narrow the service's documents")
        return AuthorizationRequest(agency.client_id, redirect_uri, state, challenge, service.id, fields, documents)

    # -- authorize: the consent page --------------------------------------------------------------

    async def pending(self, client_id: str, request_uri: str) -> Pending:
        """The pushed request behind ``request_uri`` for ``client_id``: unused, unexpired, this client's."""
        try:
            agency = await self.catalogue.agency(client_id)
        except UnknownEntry:
            raise OAuthError("invalid_client", "unknown or disabled client") from None
        async with self.sessions() as db:
            row = await db.get(PushedRequest, digest(request_uri)) if request_uri else None
        if row is None or row.client_id != agency.client_id:
            raise OAuthError("invalid_request_uri", "unknown request_uri (authorization requests must be pushed)")
        if row.used_at is not None or row.expires_at <= _now():
            raise OAuthError("invalid_request_uri", "request_uri was already used or has expired")
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
            raise OAuthError("invalid_request_uri", "the service is no longer offered") from None
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
        rules = {d.kind: d for d in pending.service.documents}
        absent = [k for k in pending.request.documents if k not in present]
        blocking = [k for k in absent if rules[k].required and not rules[k].late_submission]
        return blocking, [k for k in absent if k not in blocking]

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
                .values(used_at=_now())
            )
            if getattr(used, "rowcount", 0) != 1:
                raise OAuthError("invalid_request_uri", "request_uri was already used")
        request = pending.request
        if not approve:
            await self._log_denied(citizen_id, pending)
            return _redirect(
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
                    expires_at=_now() + CODE_LIFETIME,
                )
            )
        return _redirect(request.redirect_uri, {"code": code, "state": request.state, "iss": self.issuer})

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

    # -- token ------------------------------------------------------------------------------------

    async def token(self, form: dict[str, str], dpop: str | None, url: str) -> dict[str, Any]:
        """``authorization_code`` (PKCE, single use) or ``refresh_token``; tokens bound to the DPoP key.

        The client assertion's ``jti`` is spent only after the DPoP proof and its nonce passed: a client
        told ``use_dpop_nonce`` (or refused for its clock) may send the same assertion again.
        """
        agency, assertion = await self._verify_client(form)
        grant_type = form.get("grant_type")
        if grant_type not in {"authorization_code", "refresh_token"}:
            raise OAuthError("unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
        if not dpop:
            raise OAuthError("invalid_dpop_proof", "a DPoP proof is required")
        proof = verify_dpop_proof(dpop, "POST", url, int(_now().timestamp()))
        self._check_nonce(proof, 400)
        await self._spend_assertion(agency, assertion)
        try:
            await self._spend(proof)
        except ProofReplayed:
            raise OAuthError("invalid_dpop_proof", "DPoP proof jti was already used") from None
        if grant_type == "refresh_token":
            return await self._refresh(agency, form.get("refresh_token", ""), proof.jkt)
        return await self._exchange_code(agency, form, proof.jkt)

    async def _exchange_code(self, agency: Agency, form: dict[str, str], jkt: str) -> dict[str, Any]:
        code, verifier = form.get("code", ""), form.get("code_verifier", "")
        now = _now()
        async with self.sessions.begin() as db:
            row = await db.scalar(
                select(AuthorizationCode).where(AuthorizationCode.code_hash == digest(code)).with_for_update()
            )
            if row is None or row.client_id != agency.client_id:
                raise OAuthError("invalid_grant", "unknown code")
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
            raise OAuthError("invalid_grant", "code was already used; the tokens issued from it are revoked")
        if row.expires_at <= now:
            raise OAuthError("invalid_grant", "code expired")
        if form.get("redirect_uri") != row.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri does not match the authorization request")
        if not PKCE_VERIFIER.fullmatch(verifier) or not secrets.compare_digest(_pkce(verifier), row.code_challenge):
            raise OAuthError("invalid_grant", "PKCE code_verifier does not match")
        return await self.issue(agency, row.grant_id, jkt, code_hash=row.code_hash, refresh=True)

    async def _refresh(self, agency: Agency, refresh_token: str, jkt: str) -> dict[str, Any]:
        async with self.sessions() as db:
            row = await db.get(Token, digest(refresh_token)) if refresh_token else None
        if row is None or row.kind != "refresh" or row.client_id != agency.client_id or row.revoked_at is not None:
            raise OAuthError("invalid_grant", "unknown or revoked refresh token")
        if row.jkt != jkt:
            raise OAuthError("invalid_grant", "refresh token is bound to another DPoP key")
        return await self.issue(agency, row.grant_id, jkt, code_hash=row.code_hash, refresh=False)

    async def issue(
        self, agency: Agency, grant_id: str, jkt: str, *, code_hash: bytes | None, refresh: bool
    ) -> dict[str, Any]:
        """The token response for an active grant: an access token bound to ``jkt``, optionally a refresh token."""
        now = _now()
        access = secrets.token_urlsafe(32)
        async with self.sessions.begin() as db:
            # Shared, as a read holds it: issuing changes nothing in the grant, it only needs no revoke
            # (of the grant, or of the code's tokens) to commit meanwhile; those hold it exclusively.
            await fair_grant_lock(db, grant_id, exclusive=False)
            grant = await db.scalar(select(GrantRow).where(GrantRow.id == grant_id).with_for_update(read=True))
            if grant is None or effective_status(grant, now) != "active":
                raise OAuthError("invalid_grant", "the grant was revoked, used up or has expired")
            replayed = await db.scalar(
                select(AuthorizationCode.replayed_at).where(AuthorizationCode.code_hash == code_hash)
            )
            if replayed is not None:
                raise OAuthError("invalid_grant", "code was replayed; the tokens issued from it are revoked")
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
                "authorization_details": [_details(grant)],
            }
            if refresh:
                refresh_token = secrets.token_urlsafe(32)
                db.add(token_row(refresh_token, "refresh", grant.expires_at))
                body["refresh_token"] = refresh_token
        return body

    # -- revocation, introspection, resource access ------------------------------------------------

    async def revoke(self, form: dict[str, str]) -> None:
        """RFC 7009: revoke one of the client's tokens (unknown tokens are not an error)."""
        agency = await self.authenticate_client(form)
        mine = (Token.token_hash == digest(form.get("token", "")), Token.client_id == agency.client_id)
        async with self.sessions.begin() as db:
            grant_id = await db.scalar(select(Token.grant_id).where(*mine, Token.revoked_at.is_(None)))
            if grant_id is None:
                return
            await hold_grant_exclusively(db, grant_id)  # no read with this token is served after the commit
            await db.execute(update(Token).where(*mine, Token.revoked_at.is_(None)).values(revoked_at=_now()))

    async def introspect(self, form: dict[str, str]) -> dict[str, Any]:
        """RFC 7662 for the client's own tokens; anything else is ``{"active": false}``."""
        agency = await self.authenticate_client(form)
        now = _now()
        async with self.sessions() as db:
            row = await db.get(Token, digest(form.get("token", "")))
            grant = await db.get(GrantRow, row.grant_id) if row is not None else None
        if (
            row is None
            or grant is None
            or row.client_id != agency.client_id
            or row.revoked_at is not None
            or row.expires_at <= now
            or effective_status(grant, now) != "active"
        ):
            return {"active": False}
        return {
            "active": True,
            "client_id": row.client_id,
            "token_type": "DPoP" if row.kind == "access" else "refresh_token",
            "exp": int(row.expires_at.timestamp()),
            "iss": self.issuer,
            "cnf": {"jkt": row.jkt},
            "grant_id": row.grant_id,
            "authorization_details": [_details(grant)],
        }

    def presented(self, authorization: str | None, dpop: str | None, method: str, url: str) -> tuple[str, DpopProof]:
        """The access token of ``Authorization: DPoP <token>`` and its verified proof (not yet looked up).

        The proof is not spent yet: whoever serves the request spends it, as
        :class:`~vault.consent.reads.DataReads` does in its batch and :meth:`resolve` does for the others.
        """
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "dpop" or not token:
            raise _unauthorized("invalid_token", "Authorization: DPoP <access token> is required")
        if not dpop:
            raise _unauthorized("invalid_dpop_proof", "a DPoP proof is required")
        proof = verify_dpop_proof(dpop, method, url, int(_now().timestamp()), access_token=token)
        self._check_nonce(proof, 401)
        return token, proof

    def _check_nonce(self, proof: DpopProof, status: int) -> None:
        """With server nonces on, a proof must carry a current one; ``use_dpop_nonce`` hands it out."""
        if self.nonces is None or self.nonces.valid(proof.nonce):
            return
        description = "a DPoP nonce is required: sign the proof again with the one in the DPoP-Nonce header"
        challenge = f'DPoP error="use_dpop_nonce", error_description="{description}"'
        raise OAuthError(
            "use_dpop_nonce",
            description,
            status,
            www_authenticate=challenge if status == 401 else None,
            headers={"DPoP-Nonce": self.nonces.current()},
        )

    async def resolve(self, authorization: str | None, dpop: str | None, method: str, url: str) -> Access:
        """The access behind ``Authorization: DPoP <token>`` with a valid proof, which it spends.

        ``invalid_token`` (401) for a bad token, :class:`ProofReplayed` for a proof used before.
        """
        token, proof = self.presented(authorization, dpop, method, url)
        async with self.reads() as db:  # one query: token, its grant and whether the agency is enabled
            found = (
                await db.execute(
                    select(Token, GrantRow, AgencyRow.disabled_at)
                    .join(GrantRow, GrantRow.id == Token.grant_id)
                    .join(AgencyRow, AgencyRow.client_id == Token.client_id)
                    .where(Token.token_hash == digest(token))
                )
            ).first()
        row, grant, agency_disabled = found if found is not None else (None, None, None)
        problem = token_problem(row, grant, agency_disabled, proof.jkt, _now())
        if problem is not None:
            raise problem
        assert row is not None
        assert grant is not None
        await self._spend(proof)
        return Access(row.client_id, row.grant_id, row.jkt, grant, bytes(row.token_hash))


def token_problem(
    row: Token | None, grant: GrantRow | None, agency_disabled: datetime | None, jkt: str, now: datetime
) -> OAuthError | None:
    """Why an access token found as ``row`` (with its grant and agency) may not be used with a proof by ``jkt``."""
    if row is None or grant is None or row.kind != "access" or row.revoked_at is not None or row.expires_at <= now:
        return _unauthorized("invalid_token", "unknown, revoked or expired access token")
    if row.client_id != grant.agency:  # cannot happen through this server; refuse rather than trust it
        return _unauthorized("invalid_token", "unknown, revoked or expired access token")
    if row.jkt != jkt:
        return _unauthorized("invalid_dpop_proof", "the proof is signed by another key than the token is bound to")
    if agency_disabled is not None:
        return _unauthorized("invalid_token", "the agency is disabled")
    return None


def token_guard(access: Access) -> Any:
    """Check the token again in the read's transaction.

    The token was looked up before the transaction (:meth:`AuthorizationServer.resolve`); it is read
    again once the grant's fair lock is held, which a token revocation holds exclusively: a
    revocation that committed meanwhile refuses the read.
    """

    async def guard(db: AsyncSession) -> None:
        await fair_grant_lock(db, access.grant_id, exclusive=False)
        revoked = await db.scalar(select(Token.revoked_at).where(Token.token_hash == access.token_hash))
        if revoked is not None:
            raise _unauthorized("invalid_token", "unknown, revoked or expired access token")

    return guard


async def hold_grant_exclusively(db: AsyncSession, grant_id: str) -> None:
    """Queue fairly for the grant, then take its row ``FOR UPDATE``, as a revoke does (DESIGN.md §2).

    A token revocation holds it so: reads hold the grant shared and read their token again after,
    so none is served with a token once its revocation has committed.
    """
    await fair_grant_lock(db, grant_id, exclusive=True)
    await db.execute(select(GrantRow.id).where(GrantRow.id == grant_id).with_for_update())


def _unauthorized(error: str, description: str) -> OAuthError:
    return OAuthError(error, description, 401, www_authenticate=f'DPoP error="{error}"')


def grant_guard(grant_id: str, client_id: str, item: str, *, exclusive: bool = False) -> Any:
    """The guard an agency read runs inside its logging transaction (DESIGN.md §2).

    It takes the grant row ``FOR SHARE`` and refuses unless the grant is active: a read after a
    committed revoke cannot pass. A ``once`` grant is changed by the read, so its readers pass
    ``exclusive`` and take the row ``FOR UPDATE`` from the start: two readers that both held it
    ``FOR SHARE`` and then asked for ``FOR UPDATE`` would deadlock. ``item`` is what is read
    (``data`` or ``document:<kind>``); a ``once`` grant delivers each item one time and is
    ``used`` when every granted item has been delivered.
    """
    from vault.consent.grants import GrantNotActive, fair_grant_lock

    async def guard(db: AsyncSession) -> None:
        await fair_grant_lock(db, grant_id, exclusive=False)
        query = select(GrantRow).where(GrantRow.id == grant_id, GrantRow.agency == client_id)
        locked = await db.scalar(query.with_for_update(read=not exclusive))
        if locked is None or effective_status(locked, _now()) != "active":
            raise GrantNotActive(grant_id)
        if locked.access != "once":
            return
        if not exclusive:  # the caller did not know; upgrade (only safe without concurrent readers)
            locked = await db.scalar(query.with_for_update())
            assert locked is not None
        use_once(locked, item, _now())

    return guard


def use_once(locked: GrantRow, item: str, now: datetime) -> None:
    """Deliver ``item`` under a ``once`` grant held ``FOR UPDATE``: :class:`GrantNotActive` if it was delivered.

    The grant is ``used`` once every granted item (``data``, ``document:<kind>``) has been delivered.
    """
    from vault.consent.grants import GrantNotActive

    consumed = set(json.loads(locked.consumed))
    if item in consumed:
        raise GrantNotActive(locked.id)
    consumed.add(item)
    locked.consumed = json.dumps(sorted(consumed))
    wanted = {f"document:{k}" for k in json.loads(locked.documents)}
    if json.loads(locked.fields):
        wanted.add("data")
    if wanted <= consumed:
        locked.status, locked.ended_at = "used", now


def grant_from(row_grant: Grant) -> dict[str, Any]:
    """The ``grant`` member of a data response."""
    return {"id": row_grant.id, "service": row_grant.service, "expires_at": row_grant.expires_at.isoformat()}
