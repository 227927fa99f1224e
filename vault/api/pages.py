"""Citizen pages: register, sign in, sign out, start page. Server-rendered, no JavaScript.

Form names are the contract of DESIGN.md §8 (``username``, ``password``, ``password_confirm``).
Every form carries a CSRF token: before sign-in a double-submit token (cookie and hidden field),
afterwards the session's token. A new session (new token) is issued on every sign-in.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect

from vault.api import i18n
from vault.api.auth import (
    FORM_CSRF_COOKIE,
    SESSION_COOKIE,
    expired_session_cookie,
    form_csrf_cookie,
    new_form_token,
    runtime_of,
    session_cookie,
)
from vault.citizens.errors import InvalidCredentials, LoginTaken
from vault.citizens.password_rules import MAX_LENGTH, MIN_LENGTH, PasswordProblem, password_problem
from vault.citizens.sessions import csrf_matches
from vault.citizens.throttle import account_key, client_key

if TYPE_CHECKING:
    from vault.runtime import Runtime


def N_(message: str) -> str:
    """Mark ``message`` for the catalogues; it is translated when the page is rendered."""
    return message


PASSWORD_MESSAGES = {
    PasswordProblem.TOO_SHORT: (N_("The password needs at least %(n)s characters."), {"n": MIN_LENGTH}),
    PasswordProblem.TOO_LONG: (N_("The password may have at most %(n)s characters."), {"n": MAX_LENGTH}),
    PasswordProblem.COMMON: (N_("This password is too common. Please choose another one."), {}),
    PasswordProblem.SAME_AS_LOGIN: (N_("The password must not be the login name."), {}),
}
REGISTER, SIGN_IN, OVERVIEW = N_("Create account"), N_("Sign in"), N_("Overview")
EXPIRED = N_("Your form expired, please send it again.")
TEXT_HTML = "text/html; charset=utf-8"

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(["html"]),
    auto_reload=False,
    extensions=["jinja2.ext.i18n"],
)

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


Message = tuple[str, dict[str, Any]] | str | None


def render(
    request: Request[Any, Any, Any],
    template: str,
    title: str,
    status: int = 200,
    cookies: list[Any] | None = None,
    error: Message = None,
    **context: Any,
) -> Response[str]:
    """Render a page in the request's language; ``title`` and ``error`` are msgids (with parameters)."""
    lang, lang_cookie = i18n.choose(request)
    tr = i18n.translations(lang)
    _templates.install_gettext_translations(tr, newstyle=True)  # type: ignore[attr-defined]
    if isinstance(error, tuple):
        error = tr.gettext(error[0]) % error[1]
    elif error is not None:
        error = tr.gettext(error)
    html = _templates.get_template(template).render(lang=lang, title=tr.gettext(title), error=error, **context)
    cookies = [*(cookies or []), *([lang_cookie] if lang_cookie else [])]
    return Response(html, status_code=status, media_type=TEXT_HTML, cookies=cookies)


def _form_page(
    request: Request[Any, Any, Any],
    template: str,
    title: str,
    status: int = 200,
    error: Message = None,
    username: str = "",
) -> Response[str]:
    token = new_form_token()
    return render(
        request, template, title, status, [form_csrf_cookie(token)], error=error, csrf_token=token, username=username
    )


def _form_csrf_ok(request: Request[Any, Any, Any], data: dict[str, str]) -> bool:
    return csrf_matches(request.cookies.get(FORM_CSRF_COOKIE, "") or "\x00", data.get("csrf_token"))


def _ready(request: Request[Any, Any, Any]) -> Runtime:
    runtime = runtime_of(request)
    if runtime.accounts is None or runtime.session_service is None:
        from vault.transparency.log import LogUnavailable

        raise LogUnavailable("vault not ready")
    return runtime


def _throttle_keys(runtime: Runtime, request: Request[Any, Any, Any], username: str) -> tuple[bytes, bytes]:
    """Keys for the account (unknown and malformed names too) and for the client address."""
    assert runtime.accounts is not None
    try:
        lookup = runtime.accounts.login_hash(username)
    except ValueError:
        lookup = b"malformed login name"
    return account_key(lookup), client_key(client_address(request, runtime.settings.trusted_proxies))


def client_address(request: Request[Any, Any, Any], trusted_proxies: str) -> str:
    """The client's address: the socket peer, or behind a trusted proxy the last hop it reports."""
    peer = request.client.host if request.client else "unknown"
    trusted = {p.strip() for p in trusted_proxies.split(",") if p.strip()}
    if peer not in trusted:
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in trusted:
            return hop
    return peer


async def _signed_in_redirect(runtime: Runtime, citizen_id: str) -> Response[Any]:
    assert runtime.session_service is not None
    token, _ = await runtime.session_service.start(citizen_id, "basic")
    return Redirect("/", status_code=303, cookies=[session_cookie(token), form_csrf_cookie("")])


class Pages(Controller):
    """``/``, ``/register``, ``/login``, ``/logout``."""

    include_in_schema = False

    @get("/register")
    async def register_page(self, request: Request[Any, Any, Any]) -> Response[str]:
        """The registration form."""
        return _form_page(request, "register.html", REGISTER)

    @post("/register")
    async def register(self, request: Request[Any, Any, Any], data: Form) -> Response[Any]:
        """Create the account and sign in; errors re-render the form with a message."""
        if not _form_csrf_ok(request, data):
            return _form_page(request, "register.html", REGISTER, 403, EXPIRED)
        username, password = data.get("username", ""), data.get("password", "")
        if password != data.get("password_confirm"):
            return _form_page(request, "register.html", REGISTER, 422, N_("The passwords do not match."), username)
        problem = password_problem(password, username)
        if problem is not None:
            return _form_page(request, "register.html", REGISTER, 422, PASSWORD_MESSAGES[problem], username)
        runtime = _ready(request)
        assert runtime.accounts is not None
        try:
            citizen_id = await runtime.accounts.register(username, password)
        except LoginTaken:
            return _form_page(request, "register.html", REGISTER, 409, N_("This login name is taken."), username)
        except ValueError:
            message = N_("A login name has 3 to 254 characters.")
            return _form_page(request, "register.html", REGISTER, 422, message, username)
        return await _signed_in_redirect(runtime, citizen_id)

    @get("/login")
    async def login_page(self, request: Request[Any, Any, Any]) -> Response[str]:
        """The sign-in form."""
        return _form_page(request, "login.html", SIGN_IN)

    @post("/login")
    async def login(self, request: Request[Any, Any, Any], data: Form) -> Response[Any]:
        """Sign in with a fresh session; wrong name and wrong password answer alike; bursts get 429."""
        if not _form_csrf_ok(request, data):
            return _form_page(request, "login.html", SIGN_IN, 403, EXPIRED)
        runtime = _ready(request)
        assert runtime.accounts is not None
        assert runtime.throttle is not None
        username = data.get("username", "")
        account, client = _throttle_keys(runtime, request, username)
        wait = await runtime.throttle.retry_after(account, client)
        if wait:
            message = (N_("Too many attempts. Please try again in %(seconds)s seconds."), {"seconds": wait})
            page = _form_page(request, "login.html", SIGN_IN, 429, message, username)
            page.headers["Retry-After"] = str(wait)
            return page
        try:
            citizen_id = await runtime.accounts.authenticate(username, data.get("password", ""))
        except (InvalidCredentials, ValueError):
            await runtime.throttle.failed(account, client)
            return _form_page(request, "login.html", SIGN_IN, 401, N_("Wrong login name or password."), username)
        await runtime.throttle.succeeded(account)
        old = request.cookies.get(SESSION_COOKIE)
        if old:
            assert runtime.session_service is not None
            await runtime.session_service.end(old)
        return await _signed_in_redirect(runtime, citizen_id)

    @post("/logout")
    async def logout(self, request: Request[Any, Any, Any], data: Form) -> Response[Any]:
        """End this session (needs the session's CSRF token)."""
        runtime = _ready(request)
        assert runtime.session_service is not None
        token = request.cookies.get(SESSION_COOKIE, "")
        session = await runtime.session_service.resolve(token)
        if session is None or not csrf_matches(session.csrf_token, data.get("csrf_token")):
            return Response("Forbidden", status_code=403, media_type="text/plain")
        await runtime.session_service.end(token)
        return Redirect("/login", status_code=303, cookies=[expired_session_cookie()])

    @get("/")
    async def home(self, request: Request[Any, Any, Any]) -> Response[Any]:
        """Start page when signed in, else the sign-in page."""
        runtime = _ready(request)
        assert runtime.session_service is not None
        session = await runtime.session_service.resolve(request.cookies.get(SESSION_COOKIE, ""))
        if session is None:
            return Redirect("/login", status_code=303)
        return render(request, "home.html", OVERVIEW, assurance=session.assurance, csrf_token=session.csrf_token)
