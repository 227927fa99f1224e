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

from vault.api.account_pages import ASSURANCE_LABELS, HISTORY_LABELS, agency_names
from vault.api.auth import (
    CSRF_HEADER,
    SESSION_COOKIE,
    expired_session_cookie,
    form_csrf_cookie,
    session_cookie,
)
from vault.api.render import N_, Form, form_csrf_ok, form_page, page_session, ready, render
from vault.citizens.errors import InvalidCredentials, LoginTaken
from vault.citizens.history import history
from vault.citizens.passkeys import recently_added
from vault.citizens.password_rules import MAX_LENGTH, MIN_LENGTH, PasswordProblem, password_problem
from vault.citizens.sessions import SignedIn, csrf_matches
from vault.citizens.throttle import (
    ACCOUNT,
    CLIENT,
    Limit,
    account_key,
    address_value,
    challenge_limit,
    client_key,
    register_limit,
)

if TYPE_CHECKING:
    from vault.runtime import Runtime


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
    request: Request[Any, Any, Any], status: int = 200, error: Any = None, username: str = ""
) -> Response[str]:
    runtime = ready(request)
    assert runtime.providers is not None
    assert runtime.passkeys is not None
    reauth = request.query_params.get("reauth")
    notice = ERASED if request.query_params.get("erased") == "1" else REAUTH.get(reauth or "")
    return form_page(
        request,
        "login.html",
        SIGN_IN,
        status,
        error,
        username=username,
        passkeys=runtime.passkeys.available,
        providers=await runtime.providers.enabled(),
        notice=notice,
        next=safe_next(request.query_params.get("next") or None),
    )


async def _register_page(
    request: Request[Any, Any, Any], status: int = 200, error: Any = None, username: str = ""
) -> Response[str]:
    providers = ready(request).providers
    assert providers is not None
    return form_page(
        request, "register.html", REGISTER, status, error, username=username, providers=await providers.enabled()
    )


def _throttle_keys(runtime: Runtime, request: Request[Any, Any, Any], username: str) -> tuple[bytes, bytes]:
    """Keys for the account (unknown and malformed names too) and for the client address."""
    assert runtime.accounts is not None
    try:
        lookup = runtime.accounts.login_hash(username)
    except ValueError:
        lookup = b"malformed login name"
    return account_key(lookup), client_key(client_address(request, runtime.settings.trusted_proxies))


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


async def _over_limit(runtime: Runtime, request: Request[Any, Any, Any], limit: Limit) -> int:
    """Count this request under ``limit`` for its client address: 0 to go ahead, else seconds to wait."""
    if limit.free <= 0:  # the operator turned the limit off
        return 0
    assert runtime.throttle is not None
    address = client_address(request, runtime.settings.trusted_proxies)
    return await runtime.throttle.reserve((limit, limit.key(address_value(address))))


async def _start_session(request: Request[Any, Any, Any], runtime: Runtime, citizen_id: str, assurance: str) -> str:
    """A fresh session (the old one, if any, ends): returns the new token."""
    assert runtime.session_service is not None
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        await runtime.session_service.end(old)
    token, _ = await runtime.session_service.start(citizen_id, assurance)
    return token


async def _signed_in_redirect(
    request: Request[Any, Any, Any], runtime: Runtime, citizen_id: str, target: str = "/"
) -> Response[Any]:
    token = await _start_session(request, runtime, citizen_id, "basic")
    return Redirect(safe_next(target), status_code=303, cookies=[session_cookie(token), form_csrf_cookie("")])


class Pages(Controller):
    """``/``, ``/register``, ``/login`` (password or passkey), ``/logout``."""

    include_in_schema = False
    dependencies = {"me": Provide(page_session)}  # noqa: RUF012

    @get("/register")
    async def register_page(self, request: Request[Any, Any, Any]) -> Response[str]:
        """The registration form."""
        return await _register_page(request)

    @post("/register")
    async def register(self, request: Request[Any, Any, Any], data: Form) -> Response[Any]:
        """Create the account and sign in; errors re-render the form with a message."""
        if not form_csrf_ok(request, data.get("csrf_token")):
            return await _register_page(request, 403, EXPIRED)
        username, password = data.get("username", ""), data.get("password", "")
        if password != data.get("password_confirm"):
            return await _register_page(request, 422, N_("The passwords do not match."), username)
        problem = password_problem(password, username)
        if problem is not None:
            return await _register_page(request, 422, PASSWORD_MESSAGES[problem], username)
        runtime = ready(request)
        assert runtime.accounts is not None
        wait = await _over_limit(runtime, request, register_limit(runtime.settings.register_limit))
        if wait:
            page = await _register_page(request, 429, (TOO_MANY_ACCOUNTS, {"minutes": -(-wait // 60)}), username)
            page.headers["Retry-After"] = str(wait)
            return page
        try:
            citizen_id = await runtime.accounts.register(username, password)
        except LoginTaken:
            return await _register_page(request, 409, N_("This login name is taken."), username)
        except ValueError:
            message = N_("A login name has 3 to 254 characters.")
            return await _register_page(request, 422, message, username)
        return await _signed_in_redirect(request, runtime, citizen_id)

    @get("/login")
    async def login_page(self, request: Request[Any, Any, Any]) -> Response[str]:
        """The sign-in form."""
        return await _login_page(request)

    @post("/login")
    async def login(self, request: Request[Any, Any, Any], data: Form) -> Response[Any]:
        """Sign in with a fresh session; wrong name and wrong password answer alike; bursts get 429."""
        if not form_csrf_ok(request, data.get("csrf_token")):
            return await _login_page(request, 403, EXPIRED)
        runtime = ready(request)
        assert runtime.accounts is not None
        assert runtime.throttle is not None
        username = data.get("username", "")
        account, client = _throttle_keys(runtime, request, username)
        wait = await runtime.throttle.reserve((ACCOUNT, account), (CLIENT, client))
        if wait:
            message = (N_("Too many attempts. Please try again in %(seconds)s seconds."), {"seconds": wait})
            page = await _login_page(request, 429, message, username)
            page.headers["Retry-After"] = str(wait)
            return page
        try:
            citizen_id = await runtime.accounts.authenticate(username, data.get("password", ""))
        except (InvalidCredentials, ValueError):
            await runtime.throttle.failed((ACCOUNT, account), (CLIENT, client))
            return await _login_page(request, 401, N_("Wrong login name or password."), username)
        await runtime.throttle.succeeded(account, client)
        return await _signed_in_redirect(request, runtime, citizen_id, data.get("next", "/"))

    @post("/logout")
    async def logout(self, request: Request[Any, Any, Any], data: Form) -> Response[Any]:
        """End this session (needs the session's CSRF token)."""
        runtime = ready(request)
        assert runtime.session_service is not None
        token = request.cookies.get(SESSION_COOKIE, "")
        session = await runtime.session_service.resolve(token)
        if session is None or not csrf_matches(session.csrf_token, data.get("csrf_token")):
            return Response("Forbidden", status_code=403, media_type="text/plain")
        await runtime.session_service.end(token)
        return Redirect("/login", status_code=303, cookies=[expired_session_cookie()])

    @post("/login/passkey/options", status_code=200)
    async def passkey_options(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """WebAuthn options for signing in with any passkey of this site (needs the form's CSRF token)."""
        if not form_csrf_ok(request, request.headers.get(CSRF_HEADER)):
            raise PermissionDeniedException("missing or wrong X-CSRF-Token")
        runtime = ready(request)
        assert runtime.passkeys is not None
        wait = await _over_limit(runtime, request, challenge_limit(runtime.settings.challenge_limit))
        if wait:
            message = "too many sign-in attempts from this address"
            raise TooManyRequestsException(message, headers={"Retry-After": str(wait)})
        return Response((await runtime.passkeys.authentication_options()).encode(), media_type="application/json")

    @post("/login/passkey", status_code=200)
    async def passkey_login(self, request: Request[Any, Any, Any]) -> Response[dict[str, str]]:
        """Verify the assertion (user verification required); the session gets the passkey's stored level."""
        if not form_csrf_ok(request, request.headers.get(CSRF_HEADER)):
            raise PermissionDeniedException("missing or wrong X-CSRF-Token")
        runtime = ready(request)
        assert runtime.passkeys is not None
        body = await request.body()
        signed = await runtime.passkeys.authenticate(body.decode("utf-8", "replace"))
        token = await _start_session(request, runtime, signed.citizen_id, signed.assurance)
        target = safe_next(request.query_params.get("next"))
        return Response({"redirect": target}, cookies=[session_cookie(token), form_csrf_cookie("")])

    @get("/")
    async def home(self, request: Request[Any, Any, Any], me: Page) -> Response[Any]:
        """The overview: what is where, the latest accesses, and a notice for a recently added passkey."""
        runtime = ready(request)
        assert runtime.log is not None
        assert runtime.auditors is not None
        assert runtime.passkeys is not None
        if await runtime.auditors.is_auditor_account(me.citizen_id):
            return Redirect("/audit", status_code=303)
        recent, _ = await history(runtime.engine, runtime.log, me.citizen_id, limit=5)
        agencies = await agency_names(runtime)
        added = recently_added(await runtime.passkeys.list(me.citizen_id), datetime.now(UTC))
        return render(
            request, "home.html", OVERVIEW, me=me, csrf_token=me.csrf_token, recent=recent, agencies=agencies,
            passkeys_added=added, assurance_labels=ASSURANCE_LABELS, **HISTORY_LABELS,
        )  # fmt: skip
