"""Citizen pages: register, sign in, sign out, start page. Server-rendered, no JavaScript.

Form names are the contract of DESIGN.md §8 (``username``, ``password``, ``password_confirm``).
Every form carries a CSRF token: before sign-in a double-submit token (cookie and hidden field),
afterwards the session's token. A new session (new token) is issued on every sign-in.
"""

from __future__ import annotations

import functools
import ipaddress
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.exceptions import PermissionDeniedException, TooManyRequestsException
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: TC002  Litestar reads the annotations

from vault.api.account_pages import ASSURANCE_LABELS, HISTORY_LABELS, agency_names
from vault.api.auth import (
    CSRF_HEADER,
    SESSION_COOKIE,
    expired_session_cookie,
    form_csrf_cookie,
    session_cookie,
)
from vault.api.render import N_, Form, form_csrf_ok, form_page, page_session, render
from vault.api.services import Injected  # noqa: TC001  Litestar reads the annotations
from vault.audit.auditors import Auditors  # noqa: TC001  Litestar reads the annotations
from vault.citizens.accounts import AccountService  # noqa: TC001  Litestar reads the annotations
from vault.citizens.errors import InvalidCredentials, LoginTaken
from vault.citizens.history import history
from vault.citizens.passkeys import (
    PasskeyService,
    recently_added,
)
from vault.citizens.password_rules import MAX_LENGTH, MIN_LENGTH, PasswordProblem, password_problem
from vault.citizens.sessions import (
    SessionService,
    SignedIn,
    csrf_matches,
)
from vault.citizens.throttle import (
    ACCOUNT,
    CLIENT,
    Limit,
    Throttle,
    account_key,
    address_value,
    challenge_limit,
    client_key,
    register_limit,
)
from vault.config import Settings  # noqa: TC001  Litestar reads the annotations
from vault.consent.catalogue import Catalogue  # noqa: TC001  Litestar reads the annotations
from vault.identity.providers import Providers  # noqa: TC001  Litestar reads the annotations
from vault.transparency.log import TransparencyLog  # noqa: TC001  Litestar reads the annotations

if TYPE_CHECKING:
    from litestar.connection import ASGIConnection
    from litestar.handlers.base import BaseRouteHandler


PASSWORD_MESSAGES = {
    PasswordProblem.TOO_SHORT: (N_("The password needs at least %(n)s characters."), {"n": MIN_LENGTH}),
    PasswordProblem.TOO_LONG: (N_("The password may have at most %(n)s characters."), {"n": MAX_LENGTH}),
    PasswordProblem.COMMON: (N_("This password is too common. Please choose another one."), {}),
    PasswordProblem.SAME_AS_LOGIN: (N_("The password must not be the login name."), {}),
}
REGISTER, SIGN_IN, OVERVIEW = N_("Create account"), N_("Sign in"), N_("Overview")
EXPIRED = N_("Your form expired, please send it again.")
TOO_MANY_ACCOUNTS = N_("Too many new accounts from your network. Please try again in %(minutes)s minutes.")
Page = NamedDependency[SignedIn]
ERASED = N_("Your account has been deleted. All your data has been destroyed.")
#: What the sign-in page says when a sensitive step sent the citizen to sign in again, by the level needed.
REAUTH = {
    "basic": N_("For this step, please sign in again (with your password or a passkey)."),
    "substantial": N_(
        "For this step, please sign in again with a passkey of assurance level substantial: your account has one,"
        " so a password is not enough."
    ),
    "high": N_("For this step, please sign in again at assurance level high (with your eID)."),
}


def safe_next(value: str | None) -> str:
    """A same-site path to continue to after sign-in (never another host: no open redirect).

    Only printable ASCII without spaces: browsers drop tabs and line breaks from a URL, so ``/<TAB>/evil``
    would become ``//evil`` (another host) once a script navigates to it.
    """
    if (
        not value
        or len(value) > 2000
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or any(not 0x21 <= ord(c) <= 0x7E for c in value)
    ):
        return "/"
    return value


async def _login_page(
    request: Request[Any, Any, Any],
    passkeys: PasskeyService,
    providers: Providers,
    status: int = 200,
    error: Any = None,
    username: str = "",
) -> Response[str]:
    reauth = request.query_params.get("reauth")
    notice = ERASED if request.query_params.get("erased") == "1" else REAUTH.get(reauth or "")
    return form_page(
        request,
        "login.html",
        SIGN_IN,
        status,
        error,
        username=username,
        passkeys=passkeys.available,
        providers=await providers.enabled(),
        notice=notice,
        next=safe_next(request.query_params.get("next") or None),
    )


async def _register_page(
    request: Request[Any, Any, Any], providers: Providers, status: int = 200, error: Any = None, username: str = ""
) -> Response[str]:
    return form_page(
        request, "register.html", REGISTER, status, error, username=username, providers=await providers.enabled()
    )


def _throttle_keys(
    accounts: AccountService, settings: Settings, request: Request[Any, Any, Any], username: str
) -> tuple[bytes, bytes]:
    """Keys for the account (unknown and malformed names too) and for the client address."""
    try:
        lookup = accounts.login_hash(username)
    except ValueError:
        lookup = b"malformed login name"
    return account_key(lookup), client_key(client_address(request, settings.trusted_proxies))


def client_address(request: Request[Any, Any, Any], trusted_proxies: str) -> str:
    """The client's address: the socket peer, or behind a trusted proxy the last hop it reports.

    ``trusted_proxies`` lists addresses or networks (CIDR). Hops are read as IP addresses (a port,
    brackets or a zone id dropped), so one client cannot count as many by spelling its address
    differently; a hop that is no address at all is not believed: the proxy's own address counts.
    """
    peer = request.client.host if request.client else "unknown"
    trusted = proxy_networks(trusted_proxies)
    peer_ip = hop_address(peer)
    if peer_ip is None or not any(peer_ip in net for net in trusted):
        return peer
    hops = [h for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        ip = hop_address(hop)
        if ip is None:
            return peer
        if not any(ip in net for net in trusted):
            return str(ip)
    return peer


@functools.lru_cache(maxsize=4)
def proxy_networks(trusted_proxies: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``VAULT_TRUSTED_PROXIES`` as networks (a bare address is a /32 or /128); checked at start-up, parsed once."""
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in trusted_proxies.split(",") if p.strip())


def hop_address(hop: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address in an ``X-Forwarded-For`` hop (``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80``, ``fe80::1%eth0``)."""
    text = hop.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        ip = ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


async def over_limit(throttle: Throttle, settings: Settings, request: Request[Any, Any, Any], limit: Limit) -> int:
    """Count this request under ``limit`` for its client address: 0 to go ahead, else seconds to wait."""
    if limit.free <= 0:  # the operator turned the limit off
        return 0
    address = client_address(request, settings.trusted_proxies)
    return await throttle.reserve((limit, limit.key(address_value(address))))


async def start_session(
    request: Request[Any, Any, Any], session_service: SessionService, citizen_id: str, assurance: str
) -> str:
    """A fresh session (the old one, if any, ends): returns the new token."""
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        await session_service.end(old)
    token, _ = await session_service.start(citizen_id, assurance)
    return token


async def _signed_in_redirect(
    request: Request[Any, Any, Any], session_service: SessionService, citizen_id: str, target: str = "/"
) -> Response[Any]:
    token = await start_session(request, session_service, citizen_id, "basic")
    return Redirect(safe_next(target), status_code=303, cookies=[session_cookie(token), form_csrf_cookie("")])


def form_csrf_header(connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler) -> None:
    """Litestar guard: the pre-sign-in form's token in ``X-CSRF-Token`` (403 before anything else runs)."""
    if not form_csrf_ok(connection, connection.headers.get(CSRF_HEADER)):
        raise PermissionDeniedException("missing or wrong X-CSRF-Token")


class Pages(Controller):
    """``/``, ``/register``, ``/login`` (password or passkey), ``/logout``."""

    include_in_schema = False
    dependencies = {"me": Provide(page_session)}  # noqa: RUF012

    @get("/register")
    async def register_page(self, request: Request[Any, Any, Any], providers: Injected[Providers]) -> Response[str]:
        """The registration form."""
        return await _register_page(request, providers)

    @post("/register")
    async def register(
        self,
        request: Request[Any, Any, Any],
        data: Form,
        settings: Injected[Settings],
        accounts: Injected[AccountService],
        throttle: Injected[Throttle],
        providers: Injected[Providers],
        session_service: Injected[SessionService],
    ) -> Response[Any]:
        """Create the account and sign in; errors re-render the form with a message."""
        if not form_csrf_ok(request, data.get("csrf_token")):
            return await _register_page(request, providers, 403, EXPIRED)
        username, password = data.get("username", ""), data.get("password", "")
        if password != data.get("password_confirm"):
            return await _register_page(request, providers, 422, N_("The passwords do not match."), username)
        problem = password_problem(password, username)
        if problem is not None:
            return await _register_page(request, providers, 422, PASSWORD_MESSAGES[problem], username)
        wait = await over_limit(throttle, settings, request, register_limit(settings.register_limit))
        if wait:
            page = await _register_page(
                request, providers, 429, (TOO_MANY_ACCOUNTS, {"minutes": -(-wait // 60)}), username
            )
            page.headers["Retry-After"] = str(wait)
            return page
        try:
            citizen_id = await accounts.register(username, password)
        except LoginTaken:
            return await _register_page(request, providers, 409, N_("This login name is taken."), username)
        except ValueError:
            message = N_("A login name has 3 to 254 characters.")
            return await _register_page(request, providers, 422, message, username)
        return await _signed_in_redirect(request, session_service, citizen_id)

    @get("/login")
    async def login_page(
        self,
        request: Request[Any, Any, Any],
        passkeys: Injected[PasskeyService],
        providers: Injected[Providers],
    ) -> Response[str]:
        """The sign-in form."""
        return await _login_page(request, passkeys, providers)

    @post("/login")
    async def login(
        self,
        request: Request[Any, Any, Any],
        data: Form,
        settings: Injected[Settings],
        accounts: Injected[AccountService],
        throttle: Injected[Throttle],
        passkeys: Injected[PasskeyService],
        providers: Injected[Providers],
        session_service: Injected[SessionService],
    ) -> Response[Any]:
        """Sign in with a fresh session; wrong name and wrong password answer alike; bursts get 429."""
        if not form_csrf_ok(request, data.get("csrf_token")):
            return await _login_page(request, passkeys, providers, 403, EXPIRED)
        username = data.get("username", "")
        account, client = _throttle_keys(accounts, settings, request, username)
        wait = await throttle.reserve((ACCOUNT, account), (CLIENT, client))
        if wait:
            message = (N_("Too many attempts. Please try again in %(seconds)s seconds."), {"seconds": wait})
            page = await _login_page(request, passkeys, providers, 429, message, username)
            page.headers["Retry-After"] = str(wait)
            return page
        try:
            citizen_id = await accounts.authenticate(username, data.get("password", ""))
        except (InvalidCredentials, ValueError):
            await throttle.failed((ACCOUNT, account), (CLIENT, client))
            return await _login_page(request, passkeys, providers, 401, N_("Wrong login name or password."), username)
        await throttle.succeeded(account, client)
        return await _signed_in_redirect(request, session_service, citizen_id, data.get("next", "/"))

    @post("/logout")
    async def logout(
        self, request: Request[Any, Any, Any], data: Form, session_service: Injected[SessionService]
    ) -> Response[Any]:
        """End this session (needs the session's CSRF token)."""
        token = request.cookies.get(SESSION_COOKIE, "")
        session = await session_service.resolve(token)
        if session is None or not csrf_matches(session.csrf_token, data.get("csrf_token")):
            return Response("Forbidden", status_code=403, media_type="text/plain")
        await session_service.end(token)
        return Redirect("/login", status_code=303, cookies=[expired_session_cookie()])

    @post("/login/passkey/options", status_code=200, guards=[form_csrf_header])
    async def passkey_options(
        self,
        request: Request[Any, Any, Any],
        settings: Injected[Settings],
        throttle: Injected[Throttle],
        passkeys: Injected[PasskeyService],
    ) -> Response[bytes]:
        """WebAuthn options for signing in with any passkey of this site (needs the form's CSRF token)."""
        wait = await over_limit(throttle, settings, request, challenge_limit(settings.challenge_limit))
        if wait:
            message = "too many sign-in attempts from this address"
            raise TooManyRequestsException(message, headers={"Retry-After": str(wait)})
        return Response((await passkeys.authentication_options()).encode(), media_type="application/json")

    @post("/login/passkey", status_code=200, guards=[form_csrf_header])
    async def passkey_login(
        self,
        request: Request[Any, Any, Any],
        passkeys: Injected[PasskeyService],
        session_service: Injected[SessionService],
    ) -> Response[dict[str, str]]:
        """Verify the assertion (user verification required); the session gets the passkey's stored level."""
        body = await request.body()
        signed = await passkeys.authenticate(body.decode("utf-8", "replace"))
        token = await start_session(request, session_service, signed.citizen_id, signed.assurance)
        target = safe_next(request.query_params.get("next"))
        return Response({"redirect": target}, cookies=[session_cookie(token), form_csrf_cookie("")])

    @get("/")
    async def home(
        self,
        request: Request[Any, Any, Any],
        me: Page,
        engine: Injected[AsyncEngine],
        log: Injected[TransparencyLog],
        auditors: Injected[Auditors],
        passkeys: Injected[PasskeyService],
        catalogue: Injected[Catalogue],
        providers: Injected[Providers],
    ) -> Response[Any]:
        """The overview: what is where, the latest accesses, and a notice for a recently added passkey."""
        if await auditors.is_auditor_account(me.citizen_id):
            return Redirect("/audit", status_code=303)
        recent, _ = await history(engine, log, me.citizen_id, limit=5)
        agencies = await agency_names(catalogue, providers)
        added = recently_added(await passkeys.list(me.citizen_id), datetime.now(UTC))
        return render(
            request, "home.html", OVERVIEW, me=me, csrf_token=me.csrf_token, recent=recent, agencies=agencies,
            passkeys_added=added, assurance_labels=ASSURANCE_LABELS, **HISTORY_LABELS,
        )  # fmt: skip
