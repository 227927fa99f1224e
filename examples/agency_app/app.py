"""The Ummeldung form, filled from Bürgertresor with a verified receipt.

"Fill from Bürgertresor" sends the citizen to the vault; after the approval the form comes back
filled, and the read's receipt is verified against the log's pinned key and shown. The app may offer
several of the agency's services (one button each, labelled by the service); the first is the default.

Everything that talks to the vault is :class:`agency_sdk.AsyncAgencyClient`; the rest is a small
Litestar app with a server-side session (an in-memory dict behind an ``HttpOnly``, ``SameSite=Lax``
cookie: fine for an example, not for several processes).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Litestar, Request, get, post
from litestar.datastructures import Cookie
from litestar.response import Redirect, Response

from agency_sdk import (
    AccessEnded,
    AsyncAgencyClient,
    Attribute,
    AuthorizationFailed,
    DataResult,
    Flow,
    ReceiptInvalid,
    SdkError,
    Tokens,
    VerifiedReceipt,
    verify_receipt,
)

COOKIE = "amt_session"
TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"])
)
ADDRESS_PARTS = ("street", "house_number", "postal_code", "city")
FORM_FIELDS = ("given_name", "family_name", "birth_date", "birth_place", "nationality", *ADDRESS_PARTS)
LABELS = {
    "given_name": "Vorname",
    "family_name": "Familienname",
    "birth_name": "Geburtsname",
    "birth_date": "Geburtsdatum",
    "birth_place": "Geburtsort",
    "nationality": "Staatsangehörigkeit",
    "address": "Anschrift",
    "email": "E-Mail-Adresse",
    "phone": "Telefonnummer",
}
LEVELS = {"high": "hoch", "substantial": "substantiell", "basic": "niedrig"}
DEFAULT_TITLE = "Wohnsitz ummelden"


@dataclass
class Session:
    """One visitor's state: the flow in progress, the tokens, what was read and what to say."""

    flow: Flow | None = None
    tokens: Tokens | None = None
    data: DataResult | None = None
    proof: VerifiedReceipt | None = None
    message: str | None = None
    problem: str | None = None


@dataclass(frozen=True)
class Service:
    """A service the app offers: its id in the vault and the label of its button (the id if none)."""

    id: str
    title: str = ""

    @property
    def label(self) -> str:
        """What its button says after "Aus Bürgertresor ausfüllen"."""
        return self.title or self.id


def parse_service(text: str) -> Service:
    """``ID`` or ``ID=Title`` (the ``--service`` option).

    Raises:
        ValueError: The id is empty.
    """
    service_id, _, title = text.partition("=")
    if not service_id.strip():
        raise ValueError(f"not a service: {text!r} (give ID or ID=Title)")
    return Service(service_id.strip(), title.strip())


@dataclass
class Config:
    """Where the vault is, who this agency is, which services it offers (the first is the default), the log key."""

    vault_url: str
    client_id: str
    private_key: Any
    redirect_uri: str
    services: tuple[Service, ...] = (Service("adressabgleich"),)
    log_vkey: str | None = None

    def service(self, service_id: str | None) -> Service | None:
        """The offered service called ``service_id`` (``None``: the first), or ``None`` if not offered."""
        if service_id is None:
            return self.services[0]
        return next((s for s in self.services if s.id == service_id), None)


@dataclass
class AgencyApp:
    """The app's state: the SDK client and the sessions."""

    config: Config
    client: AsyncAgencyClient
    sessions: dict[str, Session] = field(default_factory=dict)

    def session(self, request: Request[Any, Any, Any]) -> tuple[str, Session]:
        """The visitor's session id and session (a new one for a new visitor)."""
        sid = request.cookies.get(COOKIE, "")
        if sid not in self.sessions:
            sid = secrets.token_urlsafe(24)
            self.sessions[sid] = Session()
        return sid, self.sessions[sid]

    async def vkey(self) -> str:
        """The log key to verify receipts with: the configured one, else the one first seen (then kept)."""
        if self.config.log_vkey is None:
            self.config.log_vkey = await self.client.log_key()
        return self.config.log_vkey


def _form_values(data: DataResult | None) -> dict[str, str]:
    if data is None:
        return dict.fromkeys(FORM_FIELDS, "")
    values = {name: str(a.value) for name, a in data.attributes.items() if isinstance(a.value, str)}
    address = data.attributes.get("address")
    if address is not None and isinstance(address.value, dict):
        values.update({k: str(v) for k, v in address.value.items()})
    return {name: values.get(name, "") for name in FORM_FIELDS}


def _attribute_of(form_field: str) -> str:
    """The vault attribute a form field is filled from (the address parts from ``address``)."""
    return "address" if form_field in ADDRESS_PARTS else form_field


def confirmation(attribute: Attribute) -> str | None:
    """The mark for a value an eID identity provider confirmed, e.g. "bestätigt durch Test-eID (Niveau hoch)".

    ``None`` for a value the citizen entered themselves. Without a level (older vaults) the mark names
    only the provider.
    """
    by = attribute.verified_by
    if by is None:
        return None
    if by.level is None:
        return f"bestätigt durch {by.provider}"
    return f"bestätigt durch {by.provider} (Niveau {LEVELS.get(by.level, by.level)})"


def confirmations(data: DataResult | None) -> dict[str, str]:
    """Attribute name -> its confirmation mark, for the confirmed values of a read."""
    if data is None:
        return {}
    return {name: mark for name, a in data.attributes.items() if (mark := confirmation(a)) is not None}


def unshown_fields(data: DataResult | None, tokens: Tokens | None) -> list[str]:
    """The granted attributes (read or only granted) that the form has no field for, in a stable order."""
    shown = {_attribute_of(f) for f in FORM_FIELDS}
    granted = set(tokens.fields if tokens is not None else ()) | set(data.attributes if data is not None else ())
    return sorted(granted - shown)


def _display(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(str(v) for v in value.values() if v)
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _title(app: AgencyApp, session: Session) -> str:
    """The page's title: the label of the service read under (else of the first offered), if it has a title."""
    service = app.config.service(session.tokens.service if session.tokens is not None else None)
    return service.title if service is not None and service.title else DEFAULT_TITLE


def _page(app: AgencyApp, sid: str, session: Session, status: int = 200) -> Response[str]:
    data = session.data
    unshown = [
        (
            name,
            LABELS.get(name, name),
            _display(data.attributes[name].value) if data and name in data.attributes else "",
        )
        for name in unshown_fields(data, session.tokens)
    ]
    html = TEMPLATES.get_template("form.html").render(
        title=_title(app, session),
        values=_form_values(data),
        marks=confirmations(data),
        unshown=unshown,
        session=session,
        vault_url=app.config.vault_url,
        services=app.config.services,
    )
    session.message = session.problem = None  # shown once
    cookie = Cookie(key=COOKIE, value=sid, httponly=True, samesite="lax", path="/")
    return Response(html, status_code=status, media_type="text/html; charset=utf-8", cookies=[cookie])


async def _read(app: AgencyApp, session: Session) -> None:
    """Read the granted data, then fetch and verify the receipt's inclusion proof."""
    assert session.tokens is not None
    if session.tokens.expired(app.client.protocol.now()) and session.tokens.refresh_token:
        session.tokens = await app.client.refresh(session.tokens)
    session.data = await app.client.read_data(session.tokens)
    proven = await app.client.fetch_proof(session.data.receipt)
    session.proof = verify_receipt(proven, await app.vkey())


def _state(request: Request[Any, Any, Any]) -> AgencyApp:
    return request.app.state.agency  # type: ignore[no-any-return]


@get("/")
async def form(request: Request[Any, Any, Any]) -> Response[str]:
    """The form, empty or filled."""
    sid, session = _state(request).session(request)
    return _page(_state(request), sid, session)


@post("/fill")
async def fill(request: Request[Any, Any, Any]) -> Response[Any]:
    """Push the request for the chosen service (form field ``service``, default the first); send the citizen there."""
    state = _state(request)
    sid, session = state.session(request)
    chosen = (await request.form()).get("service")
    service = state.config.service(chosen if isinstance(chosen, str) else None)
    if service is None:
        session.problem = "Diesen Dienst bietet das Bürgeramt hier nicht an."
        return _page(state, sid, session, 400)
    try:
        start = await state.client.start_authorization(service.id)
    except SdkError as exc:
        session.problem = f"Bürgertresor ist gerade nicht erreichbar oder lehnt die Anfrage ab: {exc.description}"
        return _page(state, sid, session, 502)
    session.flow = start.flow
    redirect = Redirect(start.url, status_code=303)
    redirect.set_cookie(COOKIE, sid, httponly=True, samesite="lax", path="/")
    return redirect


@get("/callback")
async def callback(request: Request[Any, Any, Any]) -> Response[Any]:
    """Back from the vault: finish the flow, read, verify the receipt."""
    state = _state(request)
    sid, session = state.session(request)
    if session.flow is None:
        session.problem = "Diese Rückkehr aus Bürgertresor gehört zu keinem begonnenen Abruf."
        return _page(state, sid, session, 400)
    flow, session.flow = session.flow, None
    try:
        session.tokens = await state.client.finish_authorization(flow, str(request.url))
        await _read(state, session)
        session.message = "Ihre Daten wurden aus Bürgertresor übernommen. Bitte prüfen Sie sie."
    except AuthorizationFailed as exc:
        session.problem = (
            "Sie haben den Abruf in Bürgertresor abgelehnt. Sie können das Formular selbst ausfüllen."
            if exc.declined
            else f"Der Abruf konnte nicht abgeschlossen werden: {exc.description}"
        )
    except ReceiptInvalid as exc:
        session.data, session.proof = None, None
        session.problem = f"Der Lesebeleg ließ sich nicht prüfen; die Daten werden nicht verwendet ({exc})."
    except SdkError as exc:
        session.problem = f"Bürgertresor hat den Abruf nicht beantwortet: {exc.description}"
    return Redirect("/", status_code=303)


@post("/refresh")
async def refresh(request: Request[Any, Any, Any]) -> Response[Any]:
    """Read again under the same grant; say clearly when the grant has ended."""
    state = _state(request)
    _, session = state.session(request)
    if session.tokens is None:
        session.problem = "Es besteht keine Freigabe. Bitte füllen Sie das Formular aus Bürgertresor aus."
        return Redirect("/", status_code=303)
    try:
        await _read(state, session)
        session.message = "Die Daten wurden erneut aus Bürgertresor abgerufen."
    except AccessEnded:
        session.tokens, session.data, session.proof = None, None, None
        session.problem = (
            "Bürgertresor gibt die Daten nicht mehr heraus: Die Freigabe wurde widerrufen, ist abgelaufen "
            "oder aufgebraucht. Bitte geben Sie die Daten erneut frei oder füllen Sie das Formular selbst aus."
        )
    except SdkError as exc:
        session.problem = f"Bürgertresor hat den Abruf nicht beantwortet: {exc.description}"
    return Redirect("/", status_code=303)


@get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness."""
    return {"status": "ok"}


def create_app(config: Config, client: AsyncAgencyClient | None = None) -> Litestar:
    """The agency app for ``config`` (``client`` may be given, e.g. with its own HTTP client)."""
    client = client or AsyncAgencyClient(
        config.vault_url, config.client_id, config.private_key, redirect_uri=config.redirect_uri
    )
    app = Litestar([form, fill, callback, refresh, healthz], openapi_config=None, logging_config=None)
    app.state.agency = AgencyApp(config, client)
    return app
