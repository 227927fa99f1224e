"""Sign-in through an upstream identity provider (the online ID card through BundID or an eID server).

``POST /login/idp/{id}`` starts a sign-in for one of four purposes:

* ``login``: sign in to the account bound to the eID (none bound: a page offers to create one);
* ``register``: create an account from the eID (already bound: sign in to that account);
* ``link``: bind the eID to the signed-in account (needs a recent sign-in; an eID bound to another
  account is refused);
* ``step_up``: raise the signed-in account's session for a service that needs a higher level; the
  eID must be the one bound to this account, and a lower level than asked does not raise the session.

The provider sends the browser back to ``GET /login/idp/callback`` (OIDC) or ``POST
/login/idp/saml/acs`` (SAML). Any fault shows a page naming what went wrong; no session starts and
nothing is stored. A new session carries the provider's level as its means of sign-in; its
effective level is capped by the account's identity level (:mod:`vault.citizens.reauth`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import structlog
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotFoundException
from litestar.params import FromPath  # noqa: TC002  Litestar reads the annotations at runtime
from litestar.response import Redirect

from vault.api import i18n
from vault.api.account_pages import ASSURANCE_LABELS
from vault.api.auth import SESSION_COOKIE, form_csrf_cookie, session_cookie
from vault.api.pages import over_limit, safe_next, start_session
from vault.api.reauth import require_recent_sign_in
from vault.api.render import N_, Form, form_csrf_ok, form_page, page_session
from vault.api.services import Injected  # noqa: TC001  Litestar reads the annotations
from vault.citizens.reauth import rank
from vault.citizens.sessions import SessionService, SignedIn, csrf_matches
from vault.citizens.throttle import Throttle, challenge_limit, register_limit
from vault.config import Settings  # noqa: TC001  Litestar reads the annotations
from vault.identity.binding import (
    MIN_PROOF,
    IdentityBinding,
    LastMeansOfSignIn,
    LevelTooLow,
    LinkedElsewhere,
    NotLinked,
    OtherSubjectLinked,
)
from vault.identity.model import PURPOSES, IdentityError
from vault.identity.oidc_client import OidcClient  # noqa: TC001  Litestar reads the annotations
from vault.identity.providers import Providers  # noqa: TC001  Litestar reads the annotations
from vault.identity.requests import BROWSER_COOKIE
from vault.services import SamlHolder  # noqa: TC001  Litestar reads the annotations

if TYPE_CHECKING:
    from vault.identity.model import ProvenIdentity, StartedRequest
    from vault.identity.providers import ProviderConfig

log = structlog.get_logger("vault.identity")
#: Levels a sign-in may ask a provider for: ``basic`` proves no identity, so it is never asked for.
ASKABLE = frozenset({"substantial", "high"})
Page = NamedDependency[SignedIn]

FAILED = N_("Signing in with your ID did not work")
NOT_LINKED_TITLE = N_("No account is linked to this ID yet")
ELSEWHERE_TITLE = N_("This ID belongs to another account")
TOO_LOW_TITLE = N_("The assurance level is too low")
TOO_MANY_STARTS = N_("Too many sign-in attempts from your network. Please try again in %(seconds)s seconds.")
TOO_MANY = N_("Too many new accounts from your network. Please try again in %(minutes)s minutes.")

#: What the page says for each :data:`vault.identity.model.ERROR_CODES`, and the status it answers.
ERRORS: dict[str, tuple[str, int]] = {
    "unknown_state": (
        N_(
            "This sign-in is unknown, was already used, took longer than ten minutes or was started in another"
            " browser. Please start again."
        ),
        400,
    ),
    "provider_error": (N_("The identity provider did not confirm your identity (for example, you cancelled)."), 400),
    "wrong_issuer": (N_("The answer did not come from the identity provider it was sent to."), 400),
    "provider_unreachable": (
        N_("The identity provider cannot be reached or gave an answer the vault cannot use. Please try again later."),
        502,
    ),
    "client_rejected": (
        N_(
            "The identity provider does not accept this vault's registration at the moment. This is not your"
            " fault: the operator must fix it, and the problem was logged for them. Please try again later or sign"
            " in another way."
        ),
        502,
    ),
    "token_rejected": (
        N_("The identity provider refused to confirm this sign-in (it may have been used already)."),
        400,
    ),
    "invalid_id_token": (N_("The identity provider's confirmation failed the vault's checks."), 400),
    "invalid_assertion": (N_("The identity provider's confirmation failed the vault's checks."), 400),
    "replayed": (N_("This confirmation was already used. Please start again."), 400),
    "provider_disabled": (N_("This identity provider is no longer offered."), 400),
}


def browser_cookie(value: str) -> Cookie:
    """The cookie that binds a started sign-in to this browser (sent back on the provider's cross-site POST)."""
    return Cookie(key=BROWSER_COOKIE, value=value, path="/", secure=True, httponly=True, samesite="none", max_age=600)


def _client(oidc: OidcClient, saml: SamlHolder, provider: ProviderConfig) -> Any:
    return oidc if provider.kind == "oidc" else saml.client


def _login_url(next_path: str) -> str:
    """The sign-in page, continuing to ``next_path`` afterwards."""
    return "/login" if next_path == "/" else f"/login?next={quote(next_path, safe='')}"


def _label(request: Request[Any, Any, Any], level: str) -> str:
    """A level's name in the page's language."""
    return i18n.translations(i18n.choose(request)[0]).gettext(ASSURANCE_LABELS.get(level, level))


def _outcome(
    request: Request[Any, Any, Any], title: str, status: int, *paragraphs: Any, **context: Any
) -> Response[str]:
    # The result of a callback cannot be shown twice (its state is spent): the language switch goes on
    # to where the page's "Back" goes, not to the callback again.
    return form_page(
        request, "idp_outcome.html", title, status, paragraphs=paragraphs, lang_target=context.get("back"), **context
    )


class IdentityPages(Controller):
    """``/login/idp/*``: start a sign-in at a provider, and come back from it."""

    include_in_schema = False

    @post("/login/idp/{provider_id:str}")
    async def start(
        self,
        request: Request[Any, Any, Any],
        provider_id: FromPath[str],
        data: Form,
        settings: Injected[Settings],
        throttle: Injected[Throttle],
        providers: Injected[Providers],
        session_service: Injected[SessionService],
        oidc: Injected[OidcClient],
        saml: Injected[SamlHolder],
    ) -> Response[Any]:
        """Check the form, remember the sign-in, send the browser to the provider."""
        me = await session_service.resolve(request.cookies.get(SESSION_COOKIE, ""))
        token = data.get("csrf_token")
        if not (form_csrf_ok(request, token) or (me is not None and csrf_matches(me.csrf_token, token))):
            return _outcome(request, FAILED, 403, N_("Your form expired, please send it again."), back="/login")
        purpose = data.get("purpose", "login")
        level = data.get("level", "high")
        if purpose not in PURPOSES or level not in ASKABLE:
            return _outcome(request, FAILED, 400, N_("This sign-in request is not valid."), back="/login")
        provider = await providers.get(provider_id)
        if provider is None:
            raise NotFoundException("no such identity provider")
        next_path = safe_next(data.get("next") or "/")
        citizen_id = None
        if purpose in {"link", "step_up"}:
            if me is None:
                return Redirect(_login_url(next_path), status_code=303)
            if purpose == "link":
                await require_recent_sign_in(request, me, next_path if next_path != "/" else "/settings")
            citizen_id = me.citizen_id
        # Each start stores a row before anyone signed in: counted like passkey challenges (and
        # new accounts like registrations), per client address.
        wait = await over_limit(throttle, settings, request, challenge_limit(settings.challenge_limit))
        if wait:
            page = _outcome(request, FAILED, 429, (TOO_MANY_STARTS, {"seconds": wait}), back="/login")
            page.headers["Retry-After"] = str(wait)
            return page
        if purpose == "register":
            wait = await over_limit(throttle, settings, request, register_limit(settings.register_limit))
            if wait:
                page = _outcome(request, FAILED, 429, (TOO_MANY, {"minutes": -(-wait // 60)}), back="/register")
                page.headers["Retry-After"] = str(wait)
                return page
        extra = {"ui_locales": i18n.choose(request)[0]} if provider.kind == "oidc" else {}
        try:
            url, browser = await _client(oidc, saml, provider).begin(
                provider,
                purpose=purpose,
                level=level,
                next_path=next_path,
                citizen_id=citizen_id,
                browser=request.cookies.get(BROWSER_COOKIE),
                session=request.cookies.get(SESSION_COOKIE) if me is not None else None,
                **extra,
            )
        except IdentityError as exc:
            return self._failed(request, exc)
        return Redirect(url, status_code=303, cookies=[browser_cookie(browser)])

    @get("/login/idp/callback")
    async def oidc_callback(
        self,
        request: Request[Any, Any, Any],
        oidc: Injected[OidcClient],
        providers: Injected[Providers],
        binding: Injected[IdentityBinding],
        session_service: Injected[SessionService],
    ) -> Response[Any]:
        """The OIDC provider's answer (``code``, ``state``, ``iss``; or ``error``)."""
        params = {k: v for k, v in request.query_params.items() if isinstance(v, str)}
        try:
            started, proven = await oidc.finish(params, request.cookies.get(BROWSER_COOKIE))
        except IdentityError as exc:
            return self._failed(request, exc)
        return await self._complete(request, started, proven, providers, binding, session_service)

    @post("/login/idp/saml/acs")
    async def saml_acs(
        self,
        request: Request[Any, Any, Any],
        data: Form,
        saml: Injected[SamlHolder],
        providers: Injected[Providers],
        binding: Injected[IdentityBinding],
        session_service: Injected[SessionService],
    ) -> Response[Any]:
        """The SAML IdP's answer (HTTP-POST binding: ``SAMLResponse`` and ``RelayState``)."""
        try:
            started, proven = await saml.client.finish(
                data.get("SAMLResponse", ""), data.get("RelayState", ""), request.cookies.get(BROWSER_COOKIE)
            )
        except IdentityError as exc:
            return self._failed(request, exc)
        return await self._complete(request, started, proven, providers, binding, session_service)

    @get("/login/idp/saml/{provider_id:str}/metadata", media_type="application/samlmetadata+xml")
    async def saml_metadata(
        self,
        request: Request[Any, Any, Any],
        provider_id: FromPath[str],
        providers: Injected[Providers],
        saml: Injected[SamlHolder],
    ) -> Response[str]:
        """The vault's SP metadata for one SAML provider (its entity id is this URL)."""
        provider = await providers.get(provider_id)
        if provider is None or provider.kind != "saml":
            raise NotFoundException("no such SAML identity provider")
        return Response(saml.client.sp_metadata(provider), media_type="application/samlmetadata+xml")

    @post("/settings/identity/{link_id:str}/unlink", dependencies={"me": Provide(page_session)})
    async def unlink(
        self,
        request: Request[Any, Any, Any],
        me: Page,
        link_id: FromPath[str],
        binding: Injected[IdentityBinding],
    ) -> Response[Any]:
        """Remove a link; 404 for another account's link, 409 for the account's last way to sign in.

        Needs a recent sign-in at the account's highest level: else a stolen password could unlink the
        eID and link the thief's own.
        """
        await require_recent_sign_in(request, me, "/settings")
        try:
            await binding.unlink(me.citizen_id, link_id)
        except LastMeansOfSignIn:
            message = N_(
                "This ID is the only way to sign in to your account (it has no password and no passkey), so it"
                " cannot be unlinked. Add a passkey first, or delete the account."
            )
            return _outcome(request, N_("The link was kept"), 409, message, back="/settings")
        return Redirect("/settings?unlinked=1", status_code=303)

    # -- after the provider -----------------------------------------------------------------

    @staticmethod
    def _too_low(request: Request[Any, Any, Any], provider: str, got: str, needed: str, back: str) -> Response[str]:
        message = N_(
            "%(provider)s confirmed your ID at assurance level %(got)s, but level %(needed)s is needed, so your"
            " sign-in stays as it was and nothing was linked. Use an ID that reaches level %(needed)s (the online"
            " ID card with its PIN), or go back."
        )
        levels = {"provider": provider, "got": _label(request, got), "needed": _label(request, needed)}
        return _outcome(request, TOO_LOW_TITLE, 403, (message, levels), back=back)

    def _failed(self, request: Request[Any, Any, Any], exc: IdentityError) -> Response[str]:
        # the operator's side (a wrong registration, an unreachable provider) is a warning; a citizen's
        # cancel or a forged answer is information
        level = log.warning if exc.code in {"client_rejected", "provider_unreachable"} else log.info
        level("identity provider sign-in refused", code=exc.code, detail=exc.detail)
        message, status = ERRORS[exc.code]
        return _outcome(request, FAILED, status, message, back="/login")

    async def _complete(  # the identity services travel along: each ending needs them
        self,
        request: Request[Any, Any, Any],
        started: StartedRequest,
        proven: ProvenIdentity,
        providers: Providers,
        binding: IdentityBinding,
        session_service: SessionService,
    ) -> Response[Any]:
        provider = await providers.get(proven.provider_id)
        if provider is None:
            return self._failed(request, IdentityError("provider_disabled"))
        if started.purpose in {"register", "link"} and rank(proven.level) < rank(MIN_PROOF):
            back = "/register" if started.purpose == "register" else "/settings"
            return self._too_low(request, provider.name, proven.level, MIN_PROOF, back)
        finish = {"register": self._register, "login": self._login, "link": self._link, "step_up": self._step_up}
        return await finish[started.purpose](request, started, proven, provider, binding, session_service)

    async def _register(
        self,
        request: Request[Any, Any, Any],
        started: StartedRequest,
        proven: ProvenIdentity,
        provider: ProviderConfig,
        binding: IdentityBinding,
        session_service: SessionService,
    ) -> Response[Any]:
        try:
            citizen_id = await binding.register(proven)
        except LinkedElsewhere:
            citizen_id = await binding.sign_in(proven)  # the eID has an account already: sign in to it
        except LevelTooLow:
            return self._too_low(request, provider.name, proven.level, MIN_PROOF, "/register")
        return await self._signed_in(request, session_service, citizen_id, proven, started)

    async def _login(
        self,
        request: Request[Any, Any, Any],
        started: StartedRequest,
        proven: ProvenIdentity,
        provider: ProviderConfig,
        binding: IdentityBinding,
        session_service: SessionService,
    ) -> Response[Any]:
        try:
            citizen_id = await binding.sign_in(proven)
        except NotLinked:
            message = N_(
                "Your ID was confirmed by %(provider)s, but no account of this vault is linked to it. Create an"
                " account with your ID, or sign in to your existing account and link your ID."
            )
            existing = _login_url(started.next if started.next != "/" else "/settings")
            return _outcome(
                request, NOT_LINKED_TITLE, 409, message, provider=provider.name, register_with=provider,
                next=started.next, existing=existing, back=_login_url(started.next),
            )  # fmt: skip
        return await self._signed_in(request, session_service, citizen_id, proven, started)

    async def _link(
        self,
        request: Request[Any, Any, Any],
        started: StartedRequest,
        proven: ProvenIdentity,
        provider: ProviderConfig,
        binding: IdentityBinding,
        session_service: SessionService,
    ) -> Response[Any]:
        if started.citizen_id is None:
            raise RuntimeError("a link was started without an account")
        back = started.next if started.next != "/" else "/settings"
        try:
            differs = await binding.link(started.citizen_id, proven)
        except LevelTooLow:
            return self._too_low(request, provider.name, proven.level, MIN_PROOF, back)
        except OtherSubjectLinked:
            message = N_(
                "Your account is already linked to another ID at this identity provider. Unlink it under Settings"
                " first; nothing was changed."
            )
            return _outcome(request, ELSEWHERE_TITLE, 409, message, back=back)
        except LinkedElsewhere:
            message = N_(
                "This ID is already linked to another account of this vault. An ID can belong to one account only;"
                " nothing was changed. To use the account it belongs to, sign in with this ID."
            )
            return _outcome(request, ELSEWHERE_TITLE, 409, message, back=back)
        target = started.next
        if target == "/":
            target = "/settings?linked=1" + (f"&differs={','.join(differs)}" if differs else "")
        return await self._signed_in(request, session_service, started.citizen_id, proven, started, target)

    async def _step_up(
        self,
        request: Request[Any, Any, Any],
        started: StartedRequest,
        proven: ProvenIdentity,
        provider: ProviderConfig,
        binding: IdentityBinding,
        session_service: SessionService,
    ) -> Response[Any]:
        owner = await binding.owner(proven)
        if owner != started.citizen_id:
            message = (
                N_("This ID is linked to another account, so it cannot raise this sign-in; nothing was changed.")
                if owner
                else N_("Your ID is not linked to this account yet. Link it first; nothing was changed.")
            )
            title = ELSEWHERE_TITLE if owner else NOT_LINKED_TITLE
            return _outcome(request, title, 409, message, back=started.next)
        if rank(proven.level) < rank(started.level):
            await binding.sign_in(proven)  # the link is still used; the session is not raised
            return self._too_low(request, provider.name, proven.level, started.level, started.next)
        citizen_id = await binding.sign_in(proven)
        return await self._signed_in(request, session_service, citizen_id, proven, started)

    async def _signed_in(
        self,
        request: Request[Any, Any, Any],
        session_service: SessionService,
        citizen_id: str,
        proven: ProvenIdentity,
        started: StartedRequest,
        target: str | None = None,
    ) -> Response[Any]:
        """A fresh session at the level the provider proved; back to where the citizen was going.

        The session the browser had when it left ends too: a SAML IdP's cross-site POST does not carry
        the (SameSite=Lax) session cookie, so it is found by the hash stored with the started sign-in.
        """
        if started.session_hash is not None:
            await session_service.end_hash(started.session_hash)
        token = await start_session(request, session_service, citizen_id, proven.level)
        target = target or started.next
        return Redirect(
            safe_next(target),
            status_code=303,
            cookies=[session_cookie(token), form_csrf_cookie("")],  # the browser cookie stays: other tabs may use it
        )
