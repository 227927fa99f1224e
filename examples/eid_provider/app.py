"""The test eID provider: a small OpenID Provider standing in for BundID / the eID card.

It serves discovery, JWKS, PAR (RFC 9126), the authorization endpoint (plain parameters or a
``request_uri``; PKCE S256 required), a persona page where a tester picks who signs in, and the token
endpoint (``private_key_jwt`` or a client secret) that hands out an ES256-signed ID token with the
persona's true ``acr``. The SAML IdP mode's routes come from :mod:`examples.eid_provider.saml_idp`.

Test hooks live on ``app.state.provider`` (:class:`~examples.eid_provider.provider.Provider`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Litestar, Request, get, post
from litestar.response import Redirect, Response

from examples.eid_provider.clients import Client
from examples.eid_provider.personas import PERSONAS
from examples.eid_provider.protocol import LEVELS, NotRedirectable, ProviderError
from examples.eid_provider.provider import Provider
from examples.eid_provider.saml_idp import saml_handlers
from examples.eid_provider.texts import TEXTS, language

if TYPE_CHECKING:
    from collections.abc import Sequence

    from examples.eid_provider.provider import Choice, Tamper

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"])
)
NO_STORE = {"Cache-Control": "no-store"}


def _provider(request: Request[Any, Any, Any]) -> Provider:
    return request.app.state.provider  # type: ignore[no-any-return]


def _html(template: str, lang: str, status: int = 200, switch_url: str | None = None, **values: Any) -> Response[str]:
    other = "en" if lang == "de" else "de"
    html = TEMPLATES.get_template(template).render(
        lang=lang, t=TEXTS[lang], other_lang=other, switch_url=switch_url, **values
    )
    return Response(html, status_code=status, media_type="text/html; charset=utf-8", headers=NO_STORE)


def _problem(lang: str, error: ProviderError) -> Response[str]:
    return _html(
        "message.html", lang, 400, heading=TEXTS[lang]["problem"], detail=f"{error.error}: {error.description}"
    )


def _oauth_error(error: ProviderError) -> Response[Any]:
    headers = dict(NO_STORE)
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="eid-provider"'
    return Response({"error": error.error, "error_description": error.description}, status_code=error.status,
                    headers=headers)  # fmt: skip


async def _form(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The request's form fields; a repeated field is refused (RFC 6749 §3.1)."""
    form = await request.form()
    fields: dict[str, str] = {}
    for name, value in form.multi_items():
        if name in fields:
            raise ProviderError("invalid_request", f"{name} is repeated")
        fields[name] = str(value)
    return fields


def _choice_page(choice: Choice, lang: str) -> Response[str]:
    asked = choice.request.asked_level
    lower = {p.key for p in PERSONAS if asked and LEVELS.index(p.level) < LEVELS.index(asked)}
    other = "en" if lang == "de" else "de"
    return _html(
        "choose.html", lang, switch_url="/choose?" + urlencode({"ticket": choice.ticket, "lang": other}),
        ticket=choice.ticket, client_name=choice.client.name or choice.client.client_id, asked=asked,
        acr_values=choice.request.acr_values, personas=PERSONAS, lower=lower,
    )  # fmt: skip


@get("/")
async def index(request: Request[Any, Any, Any]) -> Response[str]:
    """What this is, and where its configuration is."""
    lang = language(request.query_params)
    return _html("message.html", lang, switch_url="/?lang=" + ("en" if lang == "de" else "de"),
                 heading=TEXTS[lang]["provider"], detail=None)  # fmt: skip


@get("/.well-known/openid-configuration")
async def discovery(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """OpenID Provider metadata."""
    return _provider(request).discovery()


@get("/jwks")
async def jwks(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """The public signing keys (media type ``application/jwk-set+json``)."""
    return Response(_provider(request).jwks(), media_type="application/jwk-set+json")


@post("/par", status_code=201)
async def par(request: Request[Any, Any, Any]) -> Response[Any]:
    """Pushed authorization request (RFC 9126): an authenticated client's request, kept 90 s."""
    try:
        pushed = _provider(request).push(await _form(request), request.headers.get("authorization"))
    except ProviderError as exc:
        return _oauth_error(exc)
    return Response(pushed, status_code=201, headers=NO_STORE)


@get("/authorize")
async def authorize(request: Request[Any, Any, Any]) -> Response[Any]:
    """Check the request, then show the persona page (via ``/choose``) or redirect with an error."""
    provider = _provider(request)
    params = dict(request.query_params)
    lang = language(params)
    try:
        choice = provider.begin(params)
    except NotRedirectable as exc:
        return _problem(lang, exc)
    except ProviderError as exc:
        return Redirect(provider.error_redirect(params, exc), status_code=303)
    if "lang" not in params and choice.request.ui_locales:  # a pushed request carries its ui_locales
        lang = language({"ui_locales": choice.request.ui_locales})
    if provider.auto_persona is not None:
        return Redirect(provider.decide(choice.ticket, provider.auto_persona), status_code=303)
    return Redirect("/choose?" + urlencode({"ticket": choice.ticket, "lang": lang}), status_code=303)


@get("/choose")
async def choose_page(request: Request[Any, Any, Any]) -> Response[str]:
    """The persona page for a pending request (may be reloaded, or switched to the other language)."""
    lang = language(request.query_params)
    choice = _provider(request).pending(request.query_params.get("ticket", ""))
    if choice is None:
        return _problem(lang, ProviderError("invalid_request", "this sign-in has expired or was already finished"))
    return _choice_page(choice, lang)


@post("/choose")
async def choose(request: Request[Any, Any, Any]) -> Response[Any]:
    """The persona chosen (a code goes back) or "Abbrechen" (``access_denied`` goes back)."""
    form = dict((await request.form()).items())
    lang = language(form)
    persona = None if "cancel" in form else str(form.get("persona", ""))
    try:
        return Redirect(_provider(request).decide(str(form.get("ticket", "")), persona), status_code=303)
    except ProviderError as exc:
        return _problem(lang, exc)


@post("/token", status_code=200)
async def token(request: Request[Any, Any, Any]) -> Response[Any]:
    """Token endpoint: an authorization code for an ID token (OIDC Core §3.1.3)."""
    try:
        tokens = _provider(request).exchange(await _form(request), request.headers.get("authorization"))
    except ProviderError as exc:
        return _oauth_error(exc)
    return Response(tokens, headers={**NO_STORE, "Pragma": "no-cache"})


@get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness."""
    return {"status": "ok"}


def create_app(
    issuer: str, clients: Sequence[Client], *, saml_service_providers: Sequence[str] = (), tamper: Tamper | None = None
) -> Litestar:
    """The provider at ``issuer`` for ``clients`` (and SAML service providers); ``tamper`` is a test hook."""
    provider = Provider(issuer, clients, tamper=tamper)
    handlers = [index, discovery, jwks, par, authorize, choose_page, choose, token, healthz]
    app = Litestar(
        [*handlers, *saml_handlers(provider.issuer, saml_service_providers)], openapi_config=None, logging_config=None
    )
    app.state.provider = provider
    return app


__all__ = ["Client", "Provider", "create_app"]
