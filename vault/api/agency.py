"""The agency data API (DESIGN.md §6): DPoP-bound access tokens, exactly the granted data, a receipt per read.

Every request spends its DPoP proof (:mod:`vault.consent.replay`: a proof is accepted once, on
every endpoint; the OpenAPI document marks each operation that takes one), resolves the token, then reads through
:class:`~vault.citizens.vault.CitizenVault` with a guard that holds the grant row (``FOR SHARE``,
``FOR UPDATE`` for a ``once`` grant, which the read uses up) in the same transaction that appends
the log entry (DESIGN.md §2). The response carries the entry's receipt: its commitment and the
log's signed promise; the inclusion proof follows from ``/log/receipt`` once it is integrated.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec
import structlog
from litestar import Controller, Request, Response, get
from litestar.params import FromPath  # noqa: TC002  Litestar reads the annotations at runtime
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tlog.receipts import Receipt
from vault.api.oauth_errors import resource_error
from vault.api.openapi import binary, errors, oauth_errors, operation
from vault.api.services import Injected  # noqa: TC001  Litestar reads the annotations
from vault.audit.auditors import record_refusal, record_token_refusal
from vault.citizens.errors import UnknownRecord
from vault.citizens.vault import CONTENT_TYPES, CitizenVault
from vault.consent.errors import InsufficientScope, InvalidDpopProof, InvalidToken, OAuthError
from vault.consent.grants import GrantNotActive, GrantRow
from vault.consent.guards import grant_guard, token_guard
from vault.consent.reads import DataReads, agency_reason
from vault.consent.replay import ProofReplayed
from vault.consent.server import AuthorizationServer  # noqa: TC001  Litestar reads the annotations
from vault.identity.binding import IdentityBinding, link_of
from vault.identity.providers import Providers  # noqa: TC001  Litestar reads the annotations

if TYPE_CHECKING:
    from vault.citizens.vault import Guard
    from vault.consent.resource import Access
    from vault.transparency.log import LoggedAccess


Sessions = async_sessionmaker[AsyncSession]

log = structlog.get_logger(__name__)


class VerifiedBy(msgspec.Struct):
    """The identity provider that vouches for a value (the citizen's eID), and the level of the account's link to it."""

    provider: str
    issuer: str
    kind: str
    level: str


class AttributeRead(msgspec.Struct, omit_defaults=True):
    """One granted attribute; ``verified_by`` names the identity provider a confirmed value came from."""

    value: Any
    source: str
    updated_at: datetime
    verified_by: VerifiedBy | None = None


async def _verified_by(
    providers: Providers, binding: IdentityBinding, citizen_id: str, sources: set[str]
) -> dict[str, VerifiedBy]:
    """The providers that vouch for values with these ``sources`` now (no lookup when none came from one).

    A value is vouched for only while the link it came through exists and its provider is enabled.
    """
    wanted = {s: link for s in sources if (link := link_of(s)) is not None}
    if not wanted:
        return {}
    confirmed = await binding.confirmations(citizen_id)
    out = {}
    for source, link_id in wanted.items():
        if link_id not in confirmed:
            continue
        provider_id, level = confirmed[link_id]
        provider = await providers.get(provider_id)
        if provider is not None:
            out[source] = VerifiedBy(provider.name, provider.issuer, provider.kind, level)
    return out


class GrantInfo(msgspec.Struct):
    """The grant a read was served under."""

    id: str
    service: str
    expires_at: datetime


class DataOut(msgspec.Struct):
    """``GET /api/v1/data``."""

    attributes: dict[str, AttributeRead]
    grant: GrantInfo
    receipt: Receipt


class DocumentMeta(msgspec.Struct):
    """A granted document's metadata."""

    id: str
    kind: str
    content_type: str
    size: int
    created_at: datetime


class DocumentsOut(msgspec.Struct):
    """``GET /api/v1/documents``: the granted kinds, which are there and which are still pending."""

    documents: list[DocumentMeta]
    pending: list[str]
    grant: GrantInfo


def _receipt(access: LoggedAccess) -> Receipt:
    return Receipt(commitment=base64.b64encode(access.commitment).decode(), promise=access.promise)


async def _access(
    request: Request[Any, Any, Any], oauth: AuthorizationServer, sessions: Sessions, endpoint: str
) -> tuple[Access, GrantRow]:
    """The token's access, its proof spent; a refusal of a token the vault issued is noted for the auditors."""
    url = oauth.issuer + request.url.path
    authorization = request.headers.get("authorization")
    try:
        access = await oauth.resolve(authorization, request.headers.get("dpop"), request.method, url)
    except (OAuthError, ProofReplayed) as exc:
        raise await _refused(sessions, endpoint, exc, authorization) from None
    return access, access.grant


async def _refused(
    sessions: Sessions, endpoint: str, exc: OAuthError | ProofReplayed, authorization: str | None
) -> OAuthError:
    """The answer to a refused token or proof, once the refusal is noted."""
    error = _replayed() if isinstance(exc, ProofReplayed) else exc
    await _note_token_refusal(sessions, endpoint, error, authorization)
    return error


def _guard(access: Access, item: str) -> Guard:
    """In the read's transaction: check the token again, then hold and check the grant."""
    once = access.grant.access == "once"
    token, grant = token_guard(access), grant_guard(access.grant_id, access.client_id, item, exclusive=once)

    async def guard(db: AsyncSession) -> None:
        await token(db)
        await grant(db)

    return guard


def _replayed() -> OAuthError:
    return InvalidDpopProof("DPoP proof jti was already used")


async def _note_refusal(sessions: Sessions, endpoint: str, reason: str, exc: GrantNotActive) -> None:
    """Keep the refusal for the auditors; a failure to do so is logged and does not change the answer."""
    try:
        await record_refusal(sessions, endpoint, reason, str(exc.args[0]))
    except Exception as error:  # noqa: BLE001  the refusal stands whether or not it could be noted
        log.error("could not note a refused request", error_type=type(error).__name__)


async def _note_token_refusal(sessions: Sessions, endpoint: str, exc: OAuthError, authorization: str | None) -> None:
    """Keep a refusal of a token the vault once issued (unknown tokens are noise, not an agency's doing)."""
    scheme, _, token = (authorization or "").partition(" ")
    if exc.error == "use_dpop_nonce" or scheme.lower() != "dpop" or not token:
        return
    try:
        await record_token_refusal(sessions, endpoint, exc.error, token.strip())
    except Exception as error:  # noqa: BLE001  the refusal stands whether or not it could be noted
        log.error("could not note a refused request", error_type=type(error).__name__)


def _insufficient_scope() -> OAuthError:
    return InsufficientScope("the grant does not cover this document")


def _revoked(_exc: GrantNotActive) -> OAuthError:
    return InvalidToken("the grant was revoked, used up or has expired")


class AgencyApi(Controller):
    """``/api/v1/data`` and ``/api/v1/documents``."""

    path = "/api/v1"
    tags = ["agency"]  # noqa: RUF012
    exception_handlers = {OAuthError: resource_error}  # noqa: RUF012  the data API answers as a resource server

    @get(
        "/data",
        summary="The granted attributes (DPoP-bound token); logged, with a receipt",
        responses={**oauth_errors(400, 401, 403), **errors(503)},
        operation_class=operation(dpop=True),
    )
    async def data(  # the services a read needs
        self,
        request: Request[Any, Any, Any],
        oauth: Injected[AuthorizationServer],
        data_reads: Injected[DataReads],
        sessions: Injected[Sessions],
        providers: Injected[Providers],
        binding: Injected[IdentityBinding],
    ) -> Response[DataOut]:
        """Exactly the fields the grant covers; 401 for a bad, revoked, expired or used-up grant or token."""
        authorization = request.headers.get("authorization")
        try:
            token, proof = oauth.presented(
                authorization, request.headers.get("dpop"), request.method, oauth.issuer + request.url.path
            )
            read = await data_reads.read(token, proof)
        except GrantNotActive as exc:
            await _note_refusal(sessions, "data", "grant_not_active", exc)
            raise _revoked(exc) from None
        except (OAuthError, ProofReplayed) as exc:
            raise await _refused(sessions, "data", exc, authorization) from None
        grant = read.grant
        verified = await _verified_by(providers, binding, grant.citizen_id, {v.source for v in read.values.values()})
        body = DataOut(
            attributes={
                k: AttributeRead(v.value, v.source, v.updated_at, verified.get(v.source))
                for k, v in read.values.items()
            },
            grant=GrantInfo(grant.id, grant.service, grant.expires_at),
            receipt=_receipt(read.logged),
        )
        return Response(body, headers={"Cache-Control": "no-store"})

    @get(
        "/documents",
        summary="The granted documents' metadata (nothing decrypted)",
        responses={**oauth_errors(400, 401, 403), **errors(503)},
        operation_class=operation(dpop=True),
    )
    async def documents(
        self,
        request: Request[Any, Any, Any],
        oauth: Injected[AuthorizationServer],
        sessions: Injected[Sessions],
        vault: Injected[CitizenVault],
    ) -> Response[DocumentsOut]:
        """Which granted documents exist, and which kinds are still pending (late submission)."""
        _, grant = await _access(request, oauth, sessions, "documents")
        from vault.consent.grants import effective_status

        if effective_status(grant, datetime.now(grant.expires_at.tzinfo)) != "active":
            await _note_refusal(sessions, "documents", "grant_not_active", GrantNotActive(grant.id))
            raise _revoked(GrantNotActive(grant.id))
        kinds = tuple(msgspec.json.decode(grant.documents))
        docs = [d for d in await vault.list_documents(grant.citizen_id) if d.kind in kinds]
        body = DocumentsOut(
            documents=[DocumentMeta(d.id, d.kind, d.content_type, d.size, d.created_at) for d in docs],
            pending=[k for k in kinds if k not in {d.kind for d in docs}],
            grant=GrantInfo(grant.id, grant.service, grant.expires_at),
        )
        return Response(body, headers={"Cache-Control": "no-store"})

    @get(
        "/documents/{document_id:str}",
        summary="Download a granted document; logged, receipt in headers",
        responses={**oauth_errors(400, 401, 403), **errors(404, 503)},
        operation_class=operation(responses=binary(200, "The document, decrypted", tuple(CONTENT_TYPES)), dpop=True),
    )
    async def document(
        self,
        request: Request[Any, Any, Any],
        document_id: FromPath[str],
        oauth: Injected[AuthorizationServer],
        sessions: Injected[Sessions],
        vault: Injected[CitizenVault],
    ) -> Stream:
        """403 ``insufficient_scope`` for the citizen's document the grant does not cover; 404 for another citizen's."""
        access, grant = await _access(request, oauth, sessions, "document")
        kinds = tuple(msgspec.json.decode(grant.documents))
        kind = await vault.document_kind(grant.citizen_id, document_id)
        if kind is None:  # missing, or another citizen's: the same answer
            raise UnknownRecord(document_id)
        if kind not in kinds:
            await _note_refusal(sessions, "document", "document_not_granted", GrantNotActive(grant.id))
            raise _insufficient_scope()
        try:
            info, _name, chunks, logged = await vault.read_document_logged(
                grant.citizen_id,
                document_id,
                agency_reason(grant),
                guard=_guard(access, f"document:{kind}"),
                kinds=kinds,
            )
        except GrantNotActive as exc:
            await _note_refusal(sessions, "document", "grant_not_active", exc)
            raise _revoked(exc) from None
        except OAuthError as exc:  # the token was revoked meanwhile
            raise await _refused(sessions, "document", exc, request.headers.get("authorization")) from None
        receipt = _receipt(logged)
        return Stream(
            chunks,
            media_type=info.content_type,
            headers={
                "Cache-Control": "no-store",
                "Vault-Receipt-Commitment": receipt.commitment,
                "Vault-Receipt-Promise": base64.b64encode((receipt.promise or "").encode()).decode(),
            },
        )
