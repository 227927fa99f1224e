"""The signed-in citizen's pages: ``/data``, ``/documents``, ``/history``, ``/settings`` and erasure.

Server-rendered and usable without JavaScript (only adding a passkey needs it). Every form posts
the session's CSRF token (checked by :func:`~vault.api.render.page_session` before a handler
runs); every change answers with a redirect back to the page (post/redirect/get), errors re-render
the page with a message and the status code of the JSON API. The pages call the same domain
services as ``/api/v1/me``, so every decryption here is logged and shows up in ``/history``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: TC002  Litestar reads the annotations

from vault.api import i18n
from vault.api.auth import SESSION_COOKIE, expired_session_cookie
from vault.api.citizen import export_response
from vault.api.citizen_only import citizen_page, is_auditor_account
from vault.api.cross_site import from_another_site
from vault.api.limits import FORM_BODY_LIMIT, upload_size
from vault.api.reauth import is_recent, reauth_url, require_recent_sign_in
from vault.api.render import N_, Form, Message, page_session, render
from vault.api.services import Injected  # noqa: TC001  Litestar reads the annotations
from vault.citizens.accounts import AccountService  # noqa: TC001  Litestar reads the annotations
from vault.citizens.attributes import AttributeInvalid, validate_attribute
from vault.citizens.errors import DocumentRejected
from vault.citizens.history import history
from vault.citizens.passkeys import PasskeyService  # noqa: TC001  Litestar reads the annotations
from vault.citizens.sessions import (
    SessionService,
    SignedIn,
)
from vault.citizens.vault import (
    CITIZEN_VIEW,
    CitizenVault,
)
from vault.config import Settings  # noqa: TC001  Litestar reads the annotations
from vault.consent.catalogue import Catalogue  # noqa: TC001  Litestar reads the annotations
from vault.consent.grants import Grants  # noqa: TC001  Litestar reads the annotations
from vault.identity.binding import IdentityBinding, actor_of, link_of, provider_of
from vault.identity.providers import Providers  # noqa: TC001  Litestar reads the annotations
from vault.services import Services  # noqa: TC001  Litestar reads the annotations
from vault.transparency.log import TransparencyLog  # noqa: TC001  Litestar reads the annotations

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


Page = NamedDependency[SignedIn]
Upload = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]

DATA, DOCUMENTS, HISTORY, SETTINGS = N_("My data"), N_("Documents"), N_("Access history"), N_("Settings")
GRANTS = N_("Consents")
STATUS_LABELS = {"active": N_("active"), "revoked": N_("revoked"), "expired": N_("expired"), "used": N_("used")}
ACCESS_LABELS = {"once": N_("once"), "ongoing": N_("ongoing until it expires")}
DELETE_ACCOUNT = N_("Delete account")

#: The attributes the data page offers, in display order, with their labels (msgids).
ATTRIBUTE_LABELS = {
    "given_name": N_("Given names"),
    "family_name": N_("Family name"),
    "birth_name": N_("Birth name"),
    "birth_date": N_("Date of birth"),
    "birth_place": N_("Place of birth"),
    "nationality": N_("Nationality"),
    "address": N_("Address"),
    "email": N_("E-mail address"),
    "phone": N_("Phone number"),
    "tax_id": N_("Tax ID (Steuer-ID)"),
    "iban": N_("IBAN"),
}
ADDRESS_LABELS = {
    "street": N_("Street"),
    "house_number": N_("House number"),
    "postal_code": N_("Postal code"),
    "city": N_("City"),
    "country": N_("Country"),
}
ATTRIBUTE_HINTS = {
    "birth_date": N_("Format: YYYY-MM-DD, e.g. 1964-08-12"),
    "nationality": N_("Two-letter country code, e.g. DE"),
    "phone": N_("International format, e.g. +49 30 1234567"),
    "tax_id": N_("11 digits"),
    "address.country": N_("Two-letter country code, e.g. DE"),
}
#: Document kinds offered on the upload form (the API accepts any short kind).
DOCUMENT_KINDS = {
    "id_card": N_("Identity card"),
    "passport": N_("Passport"),
    "birth_certificate": N_("Birth certificate"),
    "registration_certificate": N_("Certificate of registration"),
    "rental_confirmation": N_("Landlord's confirmation of residence"),
    "tax_assessment": N_("Tax assessment"),
    "certificate": N_("Certificate"),
    "other": N_("Other document"),
}
ACTION_LABELS = {
    "read": N_("read"),
    "write": N_("changed"),
    "delete": N_("deleted"),
    "grant": N_("access granted"),
    "revoke": N_("access revoked"),
    "export": N_("exported"),
    "erase": N_("erased"),
    "denied": N_("access denied"),
    "view": N_("viewed"),
    "expire": N_("access expired"),
    "register": N_("account created"),
    "link": N_("ID linked"),
    "unlink": N_("ID unlinked"),
}
ASSURANCE_LABELS = {"basic": N_("basic"), "substantial": N_("substantial"), "high": N_("high")}
ACTOR_LABELS = {"citizen": N_("You"), "operator": N_("Operator")}


async def agency_names(catalogue: Catalogue, providers: Providers) -> dict[str, str]:
    """Agency client id → name, so the history says who read, not an opaque id.

    Identity providers are named too: as the writer of confirmed values (``idp:<id>``) and as the
    ``service`` of ``link``/``unlink`` entries (``<id>``).
    """
    names = {agency.client_id: agency.name for agency in await catalogue.agencies()}
    for provider in await providers.all():
        names[actor_of(provider.id)] = names[provider.id] = provider.name
    return names


async def _provenance(
    providers: Providers, binding: IdentityBinding, citizen_id: str, sources: set[str]
) -> dict[str, tuple[str, str]]:
    """Source → (state, provider name) for values an identity provider confirmed.

    ``confirmed`` while the link they came through exists and its provider is enabled, ``withdrawn``
    when the provider was disabled, ``unlinked`` when the link is gone.
    """
    from_providers = {s for s in sources if provider_of(s) is not None}
    if not from_providers:
        return {}
    by_id = {p.id: p for p in await providers.all()}
    confirmed = await binding.confirmations(citizen_id)
    links = {link.id for link in await binding.links(citizen_id)}
    marks = {}
    for source in from_providers:
        provider = by_id.get(provider_of(source) or "")
        link = link_of(source) or ""
        state = "confirmed" if link in confirmed else "withdrawn" if link in links else "unlinked"
        marks[source] = (state, provider.name if provider else "")
    return marks


#: What the history templates need to describe an entry.
HISTORY_LABELS: dict[str, Any] = {
    "actions": ACTION_LABELS,
    "actors": ACTOR_LABELS,
    "labels": {**ATTRIBUTE_LABELS, "login_name": N_("Login name")},
    "kinds": DOCUMENT_KINDS,
}


def _form_values(data: dict[str, str]) -> dict[str, object]:
    """The non-empty attribute inputs of the data form (``address.*`` gathered into one dict)."""
    values: dict[str, object] = {}
    address = {sub: data.get(f"address.{sub}", "").strip() for sub in ADDRESS_LABELS}
    if any(address.values()):
        values["address"] = address
    for name in ATTRIBUTE_LABELS:
        if name != "address" and data.get(name, "").strip():
            values[name] = data[name].strip()
    return values


def confirm_view(request: Request[Any, Any, Any], me: SignedIn, title: str) -> Response[str]:
    """Instead of decrypting for a link on another site: a button that asks again from the vault's own page.

    The button is a plain ``GET`` form to the same address (with its query), so it works without
    JavaScript, and the browser sends it as ``same-origin``. Nothing is decrypted or logged here.
    """
    query = [(k, v) for k, v in request.query_params.items() if isinstance(v, str)]
    return render(
        request, "confirm_view.html", title, me=me, csrf_token=me.csrf_token, action=request.url.path, query=query
    )


async def _documents_page(
    request: Request[Any, Any, Any],
    me: SignedIn,
    vault: CitizenVault,
    settings: Settings,
    status: int = 200,
    error: Message = None,
) -> Response[str]:
    documents = await vault.list_documents(me.citizen_id)
    return render(
        request,
        "documents.html",
        DOCUMENTS,
        status,
        error=error,
        me=me,
        csrf_token=me.csrf_token,
        documents=documents,
        kinds=DOCUMENT_KINDS,
        max_mib=settings.max_document_bytes // (1024 * 1024),
    )


class AccountPages(Controller):
    """The pages behind sign-in."""

    request_max_body_size = FORM_BODY_LIMIT  # the router's is for DocumentUpload*
    include_in_schema = False
    dependencies = {"me": Provide(citizen_page)}  # noqa: RUF012

    # -- data -------------------------------------------------------------------------------

    async def _data_page(
        self,
        request: Request[Any, Any, Any],
        me: SignedIn,
        vault: CitizenVault,
        providers: Providers,
        binding: IdentityBinding,
        status: int = 200,
        error: Message = None,
        invalid: str | None = None,
        entered: dict[str, str] | None = None,
    ) -> Response[str]:
        current = await vault.read_attributes(me.citizen_id, CITIZEN_VIEW)
        marks = await _provenance(providers, binding, me.citizen_id, {a.source for a in current.values()})
        return render(
            request,
            "data.html",
            DATA,
            status,
            error=error,
            me=me,
            csrf_token=me.csrf_token,
            current=current,
            labels=ATTRIBUTE_LABELS,
            address_labels=ADDRESS_LABELS,
            hints=ATTRIBUTE_HINTS,
            invalid=invalid,
            entered=entered or {},
            saved=request.query_params.get("saved") == "1",
            marks=marks,
        )

    @get("/data")
    async def data(
        self,
        request: Request[Any, Any, Any],
        me: Page,
        vault: Injected[CitizenVault],
        providers: Injected[Providers],
        binding: Injected[IdentityBinding],
    ) -> Response[str]:
        """The citizen's attributes with their source (viewing them is logged; not when another site sent us here)."""
        if from_another_site(request):
            return confirm_view(request, me, DATA)
        return await self._data_page(request, me, vault, providers, binding)

    @post("/data")
    async def save_data(
        self,
        request: Request[Any, Any, Any],
        me: Page,
        data: Form,
        vault: Injected[CitizenVault],
        providers: Injected[Providers],
        binding: Injected[IdentityBinding],
    ) -> Response[Any]:
        """Validate every filled-in field first, then store the changed ones; 422 names the first bad field."""
        wanted = _form_values(data)
        try:
            normalised = {name: validate_attribute(name, value) for name, value in wanted.items()}
        except AttributeInvalid as exc:
            field = exc.field.split(".")[-1] if exc.field.startswith("address.") else exc.field
            label = ADDRESS_LABELS.get(field) if exc.field.startswith("address.") else ATTRIBUTE_LABELS.get(field)
            message = (N_("Please check the field “%(field)s”: the value is not valid."), {"field": label or field})
            return await self._data_page(request, me, vault, providers, binding, 422, message, exc.field, data)
        current = await vault.read_attributes(me.citizen_id, CITIZEN_VIEW, tuple(normalised))
        for name, value in normalised.items():
            if name not in current or current[name].value != value:
                await vault.set_attribute(me.citizen_id, name, value)
        return Redirect("/data?saved=1", status_code=303)

    @post("/data/{name:str}/delete")
    async def delete_data(
        self, request: Request[Any, Any, Any], me: Page, name: FromPath[str], vault: Injected[CitizenVault]
    ) -> Response[Any]:
        """Delete an attribute and its earlier versions; 404 if there is none."""
        await vault.delete_attribute(me.citizen_id, name)
        return Redirect("/data", status_code=303)

    # -- documents --------------------------------------------------------------------------

    @get("/documents")
    async def documents(
        self,
        request: Request[Any, Any, Any],
        me: Page,
        vault: Injected[CitizenVault],
        settings: Injected[Settings],
    ) -> Response[str]:
        """The citizen's documents (metadata only: nothing is decrypted to list them)."""
        return await _documents_page(request, me, vault, settings)

    @post("/documents/{document_id:str}/delete")
    async def delete_document(
        self,
        request: Request[Any, Any, Any],
        me: Page,
        document_id: FromPath[str],
        vault: Injected[CitizenVault],
    ) -> Response[Any]:
        """Delete a document; another citizen's id answers 404."""
        await vault.delete_document(me.citizen_id, document_id)
        return Redirect("/documents", status_code=303)

    # -- grants -----------------------------------------------------------------------------

    @get("/grants")
    async def grants(
        self,
        request: Request[Any, Any, Any],
        me: Page,
        grants: Injected[Grants],
        catalogue: Injected[Catalogue],
        vault: Injected[CitizenVault],
    ) -> Response[str]:
        """Active and past consents, each with a one-step revoke and its signed receipt."""
        mine = await grants.for_citizen(me.citizen_id)
        names: dict[str, str] = {}
        titles: dict[str, Any] = {}
        for grant in mine:
            if grant.agency not in names:
                names[grant.agency] = (await catalogue.agency(grant.agency, active=False)).name
            if grant.service not in titles:
                titles[grant.service] = (await catalogue.service(grant.service, active=False)).title
        lang, _ = i18n.choose(request)
        return render(
            request,
            "grants.html",
            GRANTS,
            me=me,
            csrf_token=me.csrf_token,
            active=[g for g in mine if g.status == "active"],
            past=[g for g in mine if g.status != "active"],
            agency_names=names,
            service_titles={k: v.get(lang) for k, v in titles.items()},
            statuses=STATUS_LABELS,
            access_modes=ACCESS_LABELS,
            revoked=request.query_params.get("revoked") == "1",
            present_kinds={d.kind for d in await vault.list_documents(me.citizen_id)},
            **HISTORY_LABELS,
        )

    @post("/grants/{grant_id:str}/revoke")
    async def revoke_grant(
        self, request: Request[Any, Any, Any], me: Page, grant_id: FromPath[str], grants: Injected[Grants]
    ) -> Response[Any]:
        """Revoke at once; 404 for another citizen's grant, 409 if it already ended."""
        await grants.revoke(me.citizen_id, grant_id)
        return Redirect("/grants?revoked=1", status_code=303)

    # -- history ----------------------------------------------------------------------------

    @get("/history")
    async def history(
        self,
        request: Request[Any, Any, Any],
        me: Page,
        engine: Injected[AsyncEngine],
        log: Injected[TransparencyLog],
        catalogue: Injected[Catalogue],
        providers: Injected[Providers],
    ) -> Response[str]:
        """Every log entry about the citizen, newest first, each verified against the latest checkpoint."""
        before_text = request.query_params.get("before", "")
        digits = before_text.isascii() and before_text.isdigit() and len(before_text) <= 18
        before = int(before_text) if digits and int(before_text) > 0 else None
        limit = 50
        entries, checkpoint = await history(engine, log, me.citizen_id, limit=limit, before=before)
        tree_size = int(checkpoint.splitlines()[1]) if checkpoint else 0
        return render(
            request,
            "history.html",
            HISTORY,
            me=me,
            csrf_token=me.csrf_token,
            entries=entries,
            tree_size=tree_size,
            agencies=await agency_names(catalogue, providers),
            **HISTORY_LABELS,
            next_before=entries[-1].id if len(entries) == limit else None,
        )

    # -- settings ---------------------------------------------------------------------------

    @get("/settings", dependencies={"me": Provide(page_session)})  # auditors keep their settings
    async def settings(
        self,
        request: Request[Any, Any, Any],
        me: Page,
        session_service: Injected[SessionService],
        passkeys: Injected[PasskeyService],
        providers: Injected[Providers],
        binding: Injected[IdentityBinding],
    ) -> Response[str]:
        """Passkeys, sessions, export and deleting the account."""
        recent, highest = await is_recent(request, me)
        by_id = {p.id: p for p in await providers.all()}
        links = await binding.links(me.citizen_id)
        linked = {link.provider_id for link in links}
        return render(
            request,
            "settings.html",
            SETTINGS,
            me=me,
            csrf_token=me.csrf_token,
            passkeys=await passkeys.list(me.citizen_id),
            passkeys_available=passkeys.available,
            sessions=await session_service.active(me.citizen_id),
            assurance_labels=ASSURANCE_LABELS,
            ended=request.query_params.get("ended"),
            recent=recent,
            reauth=reauth_url(highest, "/settings"),
            auditor=await is_auditor_account(request, me.citizen_id),
            links=links,
            provider_names={pid: p.name for pid, p in by_id.items()},
            disabled={pid for pid, p in by_id.items() if p.disabled},
            linkable=[p for p in by_id.values() if not p.disabled and p.id not in linked],
            linked_now=request.query_params.get("linked") == "1",
            differs=[
                ATTRIBUTE_LABELS[n] for n in request.query_params.get("differs", "").split(",") if n in ATTRIBUTE_LABELS
            ],
            unlinked_now=request.query_params.get("unlinked") == "1",
        )

    @post("/settings/passkeys/{passkey_id:str}/delete", dependencies={"me": Provide(page_session)})
    async def remove_passkey(
        self,
        request: Request[Any, Any, Any],
        me: Page,
        passkey_id: FromPath[str],
        passkeys: Injected[PasskeyService],
    ) -> Response[Any]:
        """Remove one of the citizen's passkeys (needs a recent sign-in)."""
        await require_recent_sign_in(request, me, "/settings")
        await passkeys.remove(me.citizen_id, passkey_id)
        return Redirect("/settings", status_code=303)

    @post("/settings/sessions/end-others", dependencies={"me": Provide(page_session)})
    async def end_other_sessions(
        self, request: Request[Any, Any, Any], me: Page, session_service: Injected[SessionService]
    ) -> Response[Any]:
        """Sign out everywhere else; this session stays (needs a recent sign-in)."""
        await require_recent_sign_in(request, me, "/settings")
        ended = await session_service.end_all(me.citizen_id, except_token=request.cookies.get(SESSION_COOKIE, ""))
        return Redirect(f"/settings?ended={ended}", status_code=303)

    @post("/settings/export", status_code=200)
    async def export(self, request: Request[Any, Any, Any], me: Page, services: Injected[Services]) -> Response[Any]:
        """All the citizen's data as one JSON download: a form with the CSRF token, so no other site can start it."""
        await require_recent_sign_in(request, me, "/settings")
        return await export_response(services, me.citizen_id)

    @get("/settings/delete")
    async def confirm_delete(self, request: Request[Any, Any, Any], me: Page) -> Response[str]:
        """The confirmation step before erasure (needs a recent sign-in, asked for before the form)."""
        await require_recent_sign_in(request, me)
        return render(request, "delete.html", DELETE_ACCOUNT, me=me, csrf_token=me.csrf_token)

    @post("/settings/delete")
    async def delete_account(
        self,
        request: Request[Any, Any, Any],
        me: Page,
        data: Form,
        accounts: Injected[AccountService],
        session_service: Injected[SessionService],
    ) -> Response[Any]:
        """Crypto-shred the account after the explicit confirmation and a recent sign-in; every session ends."""
        await require_recent_sign_in(request, me, "/settings/delete")
        if data.get("confirm") != "yes":
            message = N_("Please tick the box to confirm that you want to delete your account.")
            return render(request, "delete.html", DELETE_ACCOUNT, 422, error=message, me=me, csrf_token=me.csrf_token)
        await accounts.erase(me.citizen_id)
        await session_service.end_all(me.citizen_id)
        return Redirect("/login?erased=1", status_code=303, cookies=[expired_session_cookie()])


class DocumentUploadPage(Controller):
    """``POST /documents``: the one page that takes a document-sized body (the app's limit is for forms)."""

    include_in_schema = False
    dependencies = {"me": Provide(citizen_page)}  # noqa: RUF012

    @post("/documents")
    async def upload(
        self,
        request: Request[Any, Any, Any],
        me: Page,
        data: Upload,
        settings: Injected[Settings],
        vault: Injected[CitizenVault],
    ) -> Response[Any]:
        """Upload a PDF, PNG or JPEG; 413 when too large, 415 for another type."""
        upload, kind = data.get("file"), data.get("kind")
        if kind not in DOCUMENT_KINDS or upload is None or not hasattr(upload, "read") or not upload.filename:
            return await _documents_page(request, me, vault, settings, 422, N_("Please choose a file and its kind."))

        async def content() -> AsyncIterator[bytes]:
            while part := await upload.read(256 * 1024):
                yield part

        try:
            await vault.put_document(
                me.citizen_id, kind, upload.content_type, upload.filename, content(), size=upload_size(upload)
            )
        except DocumentRejected as exc:
            if exc.too_large:
                message: Message = (
                    N_("The file is too large: at most %(n)s MiB."),
                    {"n": settings.max_document_bytes // (1024 * 1024)},
                )
                return await _documents_page(request, me, vault, settings, 413, message)
            return await _documents_page(
                request, me, vault, settings, 415, N_("Only PDF, PNG and JPEG files are accepted.")
            )
        return Redirect("/documents", status_code=303)
