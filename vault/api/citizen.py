"""The citizen's JSON API (DESIGN.md §8): same session cookie as the pages; unsafe methods need ``X-CSRF-Token``.

Every read of the citizen's own data goes through :class:`~vault.citizens.vault.CitizenVault`, so
it is logged like any other access and shows up in ``/api/v1/me/history``.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, MultipartBody, Parameter, PathParameter
from litestar.response import Stream
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: TC002  Litestar reads the annotations

from vault.api.auth import expired_session_cookie
from vault.api.citizen_only import citizen_api
from vault.api.cross_site import same_site_only
from vault.api.limits import FORM_BODY_LIMIT, upload_size
from vault.api.openapi import binary, errors, operation
from vault.api.reauth import require_recent_sign_in
from vault.api.services import Injected  # noqa: TC001  Litestar reads the annotations
from vault.citizens.accounts import AccountService  # noqa: TC001  Litestar reads the annotations
from vault.citizens.errors import UnknownRecord
from vault.citizens.history import CitizenReceipt, HistoryItem, history, receipt
from vault.citizens.sessions import (
    SessionService,
    SignedIn,
)
from vault.citizens.vault import (
    CITIZEN_VIEW,
    CONTENT_TYPES,
    AccessReason,
    CitizenVault,
)
from vault.consent.grants import Grants  # noqa: TC001  Litestar reads the annotations
from vault.services import Services  # noqa: TC001  Litestar reads the annotations
from vault.transparency.log import TransparencyLog  # noqa: TC001  Litestar reads the annotations

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from litestar.datastructures import UploadFile

    from vault.consent.grants import Grant


Me = NamedDependency[SignedIn]
# Log entry ids are 64-bit database integers; a larger one would overflow the query (500) instead of a 400.
# The receipt asks for entries before ``id + 1``, hence one less than the largest.
EntryId = Annotated[int, PathParameter(ge=1, le=2**63 - 2)]
DOWNLOAD = operation(responses=binary(200, "The document, decrypted", tuple(CONTENT_TYPES)))


class AttributeOut(msgspec.Struct):
    """One attribute as the citizen sees it."""

    value: Any
    source: str
    updated_at: datetime
    version: int


class AttributesOut(msgspec.Struct):
    """All current attributes."""

    attributes: dict[str, AttributeOut]


class AttributeIn(msgspec.Struct, forbid_unknown_fields=True):
    """``PUT /api/v1/me/attributes/{name}`` body."""

    value: Any


class DocumentOut(msgspec.Struct):
    """A document's metadata."""

    id: str
    kind: str
    content_type: str
    size: int
    created_at: datetime
    source: str


class DocumentsOut(msgspec.Struct):
    """The citizen's documents."""

    documents: list[DocumentOut]


class HistoryEntry(msgspec.Struct):
    """One log entry about the citizen, with what opens and proves it."""

    id: int
    time: str
    actor: str
    action: str
    fields: list[str]
    service: str | None
    purpose: str | None
    legal_basis: str | None
    grant_id: str | None
    commitment: str
    salt: str
    leaf_index: int | None
    verified: bool
    document: str | None = None


class HistoryOut(msgspec.Struct):
    """A page of history, newest first, with the checkpoint it was verified against."""

    entries: list[HistoryEntry]
    checkpoint: str | None
    next_before: int | None


class GrantOut(msgspec.Struct):
    """A grant as the citizen sees it."""

    id: str
    agency: str
    service: str
    fields: list[str]
    documents: list[str]
    purpose: dict[str, str]
    legal_basis: str
    access: str
    created_at: datetime
    expires_at: datetime
    status: str
    ended_at: datetime | None


class GrantsOut(msgspec.Struct):
    """The citizen's grants, newest first."""

    grants: list[GrantOut]


def grant_out(grant: Grant) -> GrantOut:
    """The API form of a grant."""
    return GrantOut(
        grant.id,
        grant.agency,
        grant.service,
        list(grant.fields),
        list(grant.documents),
        grant.purpose,
        grant.legal_basis,
        grant.access,
        grant.created_at,
        grant.expires_at,
        grant.status,
        grant.ended_at,
    )


class CsrfOut(msgspec.Struct):
    """The session's CSRF token."""

    csrf_token: str


def _entry(item: HistoryItem) -> HistoryEntry:
    return HistoryEntry(
        id=item.id,
        time=item.time,
        actor=item.actor,
        action=item.action,
        fields=list(item.fields),
        service=item.service,
        purpose=item.purpose,
        legal_basis=item.legal_basis,
        grant_id=item.grant_id,
        commitment=base64.b64encode(item.commitment).decode(),
        salt=base64.b64encode(item.salt).decode(),
        leaf_index=item.leaf_index,
        verified=item.verified,
        document=item.document,
    )


async def _history(
    engine: AsyncEngine, log: TransparencyLog, citizen_id: str, *, limit: int | None, before: int | None
) -> tuple[list[HistoryEntry], str | None]:
    items, checkpoint = await history(engine, log, citizen_id, limit=limit, before=before)
    return [_entry(item) for item in items], checkpoint


async def export_response(services: Services, citizen_id: str) -> Response[dict[str, Any]]:
    """Everything about the citizen as one JSON download, logged as an ``export`` of every attribute and document.

    It reads from nearly every service (vault, accounts, identity links, grants, the log), hence all of them.
    """
    reason = AccessReason(actor="citizen", action="export")
    attributes = await services.vault.read_attributes(citizen_id, reason)
    documents = []
    for doc in await services.vault.list_documents(citizen_id):
        info, name, chunks = await services.vault.read_document(citizen_id, doc.id, reason)
        content = b"".join([c async for c in chunks])
        documents.append(
            {
                "id": info.id,
                "kind": info.kind,
                "content_type": info.content_type,
                "size": info.size,
                "created_at": info.created_at,
                "source": info.source,
                "filename": name,
                "content_base64": base64.b64encode(content).decode(),
            }
        )
    account = await services.accounts.account(citizen_id)
    names = {p.id: p.name for p in await services.providers.all()}
    links = [
        {"provider_id": link.provider_id, "provider": names.get(link.provider_id, link.provider_id),
         "level": link.level, "linked_at": link.created_at, "last_used_at": link.last_used_at}
        for link in await services.binding.links(citizen_id)
    ]  # fmt: skip
    identity_level = await services.binding.identity_level(citizen_id)
    history, _ = await _history(services.engine, services.log, citizen_id, limit=None, before=None)
    body = {
        "format": "buergertresor-export/v1",
        "exported_at": datetime.now(UTC),
        "account": {
            "login_name": account.login_name,
            "created_at": account.created_at,
            "identity_level": identity_level,
            "identity_links": links,
        },
        "attributes": {k: AttributeOut(v.value, v.source, v.updated_at, v.version) for k, v in attributes.items()},
        "documents": documents,
        "grants": [grant_out(g) for g in await services.grants.for_citizen(citizen_id)],
        "history": history,
    }
    return Response(body, headers={"Content-Disposition": 'attachment; filename="buergertresor-export.json"'})


class CitizenApi(Controller):
    """``/api/v1/me/*``."""

    path = "/api/v1/me"
    request_max_body_size = FORM_BODY_LIMIT  # the router's is for DocumentUpload*
    tags = ["citizen"]  # noqa: RUF012
    dependencies = {"me": Provide(citizen_api)}  # noqa: RUF012
    guards = [same_site_only]  # noqa: RUF012

    @get("/csrf", summary="The session's CSRF token", cache=False, responses=errors(401, 403))
    async def csrf(self, me: Me) -> CsrfOut:
        """Send it as ``X-CSRF-Token`` with every unsafe request."""
        return CsrfOut(me.csrf_token)

    @get("/attributes", summary="Your attributes (logged as your own view)", responses=errors(401, 403, 503))
    async def attributes(self, request: Request[Any, Any, Any], me: Me, vault: Injected[CitizenVault]) -> AttributesOut:
        """Decrypt and return the current attributes."""
        got = await vault.read_attributes(me.citizen_id, CITIZEN_VIEW)
        return AttributesOut({k: AttributeOut(v.value, v.source, v.updated_at, v.version) for k, v in got.items()})

    @put(
        "/attributes/{name:str}",
        summary="Set an attribute (422 names the invalid field)",
        responses=errors(400, 401, 403, 413, 422, 503),
    )
    async def set_attribute(
        self,
        request: Request[Any, Any, Any],
        me: Me,
        name: FromPath[str],
        data: JSONBody[AttributeIn],
        vault: Injected[CitizenVault],
    ) -> AttributeOut:
        """Validate, seal and store a new version."""
        stored = await vault.set_attribute(me.citizen_id, name, data.value)
        return AttributeOut(stored.value, stored.source, stored.updated_at, stored.version)

    @delete(
        "/attributes/{name:str}",
        summary="Delete an attribute and its versions",
        status_code=HTTP_204_NO_CONTENT,
        responses=errors(400, 401, 403, 404, 503),
    )
    async def delete_attribute(
        self, request: Request[Any, Any, Any], me: Me, name: FromPath[str], vault: Injected[CitizenVault]
    ) -> None:
        """404 if there is none."""
        await vault.delete_attribute(me.citizen_id, name)

    @get("/documents", summary="Your documents (metadata only)", responses=errors(401, 403, 503))
    async def documents(self, request: Request[Any, Any, Any], me: Me, vault: Injected[CitizenVault]) -> DocumentsOut:
        """List without decrypting anything."""
        docs = await vault.list_documents(me.citizen_id)
        return DocumentsOut([DocumentOut(d.id, d.kind, d.content_type, d.size, d.created_at, d.source) for d in docs])

    @get(
        "/documents/{document_id:str}",
        summary="Download a document (logged as your own view)",
        responses=errors(400, 401, 403, 404, 503),
        operation_class=DOWNLOAD,
    )
    async def download(
        self, request: Request[Any, Any, Any], me: Me, document_id: FromPath[str], vault: Injected[CitizenVault]
    ) -> Stream:
        """Decrypted chunk by chunk; another citizen's id answers 404."""
        info, name, chunks = await vault.read_document(me.citizen_id, document_id, CITIZEN_VIEW)
        safe = "".join(c for c in name if c.isalnum() or c in "._- ")[:100] or "document"
        return Stream(
            chunks,
            media_type=info.content_type,
            headers={"Content-Disposition": f'attachment; filename="{safe}"', "Cache-Control": "no-store"},
        )

    @delete(
        "/documents/{document_id:str}",
        summary="Delete a document and its content",
        status_code=HTTP_204_NO_CONTENT,
        responses=errors(400, 401, 403, 404, 503),
    )
    async def delete_document(
        self, request: Request[Any, Any, Any], me: Me, document_id: FromPath[str], vault: Injected[CitizenVault]
    ) -> None:
        """Another citizen's id answers 404."""
        await vault.delete_document(me.citizen_id, document_id)

    @get(
        "/history",
        summary="Every log entry about you, verified against the latest checkpoint",
        responses=errors(400, 401, 403, 503),
    )
    async def history(
        self,
        request: Request[Any, Any, Any],
        me: Me,
        engine: Injected[AsyncEngine],
        log: Injected[TransparencyLog],
        before: Annotated[int | None, Parameter(ge=1, le=2**63 - 1, required=False)] = None,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    ) -> HistoryOut:
        """Newest first; ``next_before`` pages further back."""
        entries, checkpoint = await _history(engine, log, me.citizen_id, limit=limit, before=before)
        next_before = entries[-1].id if len(entries) == limit else None
        return HistoryOut(entries, checkpoint, next_before)

    @get(
        "/history/{entry_id:int}/receipt",
        summary="Receipt for one of your log entries, to verify offline",
        responses=errors(400, 401, 403, 404, 503),
    )
    async def receipt(
        self,
        request: Request[Any, Any, Any],
        me: Me,
        entry_id: EntryId,
        engine: Injected[AsyncEngine],
        log: Injected[TransparencyLog],
    ) -> Response[CitizenReceipt]:
        """Record, salt, signed promise and (once integrated) inclusion proof; 404 for others' entries."""
        found = await receipt(engine, log, me.citizen_id, entry_id)
        if found is None:
            raise UnknownRecord(str(entry_id))
        return Response(found, headers={"Content-Disposition": f'attachment; filename="receipt-{entry_id}.json"'})

    @get("/grants", summary="Your grants: active and past", responses=errors(401, 403, 503))
    async def grants(self, request: Request[Any, Any, Any], me: Me, grants: Injected[Grants]) -> GrantsOut:
        """Status is ``active``, ``revoked``, ``used`` or ``expired``."""
        return GrantsOut([grant_out(g) for g in await grants.for_citizen(me.citizen_id)])

    @post(
        "/grants/{grant_id:str}/revoke",
        summary="Revoke a grant (takes effect at once)",
        status_code=200,
        responses=errors(400, 401, 403, 404, 409, 503),
    )
    async def revoke(
        self, request: Request[Any, Any, Any], me: Me, grant_id: FromPath[str], grants: Injected[Grants]
    ) -> GrantOut:
        """404 for another citizen's grant, 409 if it already ended."""
        return grant_out(await grants.revoke(me.citizen_id, grant_id))

    @get(
        "/grants/{grant_id:str}/receipt",
        summary="The signed consent receipt (JWS, keys at /oauth/jwks)",
        media_type="application/jose",
        responses=errors(400, 401, 403, 404, 503),
    )
    async def grant_receipt(
        self, request: Request[Any, Any, Any], me: Me, grant_id: FromPath[str], grants: Injected[Grants]
    ) -> Response[str]:
        """A compact JWS (ES256), downloadable."""
        token = await grants.receipt(me.citizen_id, grant_id)
        return Response(
            token,
            media_type="application/jose",
            headers={"Content-Disposition": f'attachment; filename="consent-{grant_id[:8]}.jws"'},
        )

    @get(
        "/export",
        summary="Everything about you as one JSON document (schema: /schema/export.json)",
        responses=errors(401, 403, 503),
    )
    async def export(
        self, request: Request[Any, Any, Any], me: Me, services: Injected[Services]
    ) -> Response[dict[str, Any]]:
        """GDPR Art. 20. Logged as an ``export`` of every attribute and document.

        The settings page posts to ``/settings/export`` instead (a form with the CSRF token).
        Needs a recent sign-in (403 ``reauthentication_required`` otherwise).
        """
        await require_recent_sign_in(request, me)
        return await export_response(services, me.citizen_id)

    @delete(
        "/",
        summary="Erase your account (crypto-shredding)",
        status_code=HTTP_204_NO_CONTENT,
        response_cookies=[expired_session_cookie()],
        responses=errors(401, 403, 503),
    )
    async def erase(
        self,
        request: Request[Any, Any, Any],
        me: Me,
        accounts: Injected[AccountService],
        session_service: Injected[SessionService],
    ) -> None:
        """The key is destroyed, every session ends, signing in again fails. Needs a recent sign-in."""
        await require_recent_sign_in(request, me)
        await accounts.erase(me.citizen_id)
        await session_service.end_all(me.citizen_id)


class DocumentUploadApi(Controller):
    """``POST /api/v1/me/documents``: the one API call with a document-sized body (the app's limit is for JSON)."""

    path = "/api/v1/me"
    tags = ["citizen"]  # noqa: RUF012
    dependencies = {"me": Provide(citizen_api)}  # noqa: RUF012
    guards = [same_site_only]  # noqa: RUF012

    @post(
        "/documents",
        summary="Upload a document (multipart: kind, file)",
        status_code=HTTP_201_CREATED,
        responses=errors(400, 401, 403, 413, 415, 422, 503),
    )
    async def upload(
        self,
        request: Request[Any, Any, Any],
        me: Me,
        data: MultipartBody[dict[str, Any]],
        vault: Injected[CitizenVault],
    ) -> DocumentOut:
        """Sealed chunk by chunk; 413 when too large, 415 for a type that is not accepted."""
        upload: UploadFile | None = data.get("file")
        kind = data.get("kind")
        if upload is None or not hasattr(upload, "read") or not isinstance(kind, str) or not 0 < len(kind) <= 64:
            from vault.citizens.attributes import AttributeInvalid

            raise AttributeInvalid(
                "file" if upload is None else "kind", "a file and a kind (1-64 characters) are required"
            )

        async def content() -> AsyncIterator[bytes]:
            while part := await upload.read(256 * 1024):
                yield part

        info = await vault.put_document(
            me.citizen_id, kind, upload.content_type, upload.filename or "document", content(), size=upload_size(upload)
        )
        return DocumentOut(info.id, info.kind, info.content_type, info.size, info.created_at, info.source)
