"""Rendering the citizen pages: Jinja templates in the request's language, forms and their CSRF checks.

Messages are English msgids marked with :func:`N_` and translated when the page is rendered, so
the Babel extraction (``babel.cfg``) finds every string in the Python code and the templates.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Request, Response
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect

from vault.api import i18n
from vault.api.auth import FORM_CSRF_COOKIE, SESSION_COOKIE, form_csrf_cookie, new_form_token
from vault.api.idp_csp import csp_for
from vault.api.services import services_of
from vault.citizens.sessions import SignedIn, csrf_matches

if TYPE_CHECKING:
    from litestar.connection import ASGIConnection

TEXT_HTML = "text/html; charset=utf-8"
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
Message = tuple[str, dict[str, Any]] | str | None


def N_(message: str) -> str:
    """Mark ``message`` for the catalogues; it is translated when the page is rendered."""
    return message


EXPIRED = N_("Your form expired, please send it again.")

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(["html"]),
    auto_reload=False,
    extensions=["jinja2.ext.i18n"],
)


class SignInRequired(Exception):
    """A page needs a signed-in citizen; answered with a redirect to ``/login``."""


class FormExpired(Exception):
    """A signed-in form came without the session's CSRF token; answered 403, nothing changed."""


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
    html = _templates.get_template(template).render(
        lang=lang, title=tr.gettext(title), error=error, path=request.url.path, **context
    )
    cookies = [*(cookies or []), *([lang_cookie] if lang_cookie else [])]
    response = Response(html, status_code=status, media_type=TEXT_HTML, cookies=cookies)
    # Identity provider buttons redirect to the provider after the form: the CSP's form-action must allow it.
    offered = [*(context.get("providers") or ()), *(context.get("linkable") or ())]
    offered += [context["register_with"]] if context.get("register_with") else []
    if offered and (csp := csp_for(offered)):
        response.headers["Content-Security-Policy"] = csp
    return response


def form_page(
    request: Request[Any, Any, Any],
    template: str,
    title: str,
    status: int = 200,
    error: Message = None,
    **context: Any,
) -> Response[str]:
    """A pre-sign-in form page with a fresh double-submit CSRF token (cookie and hidden field)."""
    token = new_form_token()
    return render(request, template, title, status, [form_csrf_cookie(token)], error=error, csrf_token=token, **context)


def form_csrf_ok(request: ASGIConnection[Any, Any, Any, Any], given: str | None) -> bool:
    """Whether a pre-sign-in form's token matches its double-submit cookie."""
    return csrf_matches(request.cookies.get(FORM_CSRF_COOKIE, "") or "\x00", given)


async def page_session(request: Request[Any, Any, Any]) -> SignedIn:
    """Dependency for signed-in pages: the live session, else :class:`SignInRequired`.

    Unsafe methods also need the session's CSRF token in the ``csrf_token`` form field, checked
    here before the handler runs, so a cross-site post changes nothing.
    """
    session = await services_of(request).session_service.resolve(request.cookies.get(SESSION_COOKIE, ""))
    if session is None:
        raise SignInRequired
    if request.method not in {"GET", "HEAD"}:
        content_type, _ = request.content_type
        if content_type not in {"multipart/form-data", "application/x-www-form-urlencoded"}:
            raise FormExpired
        form = await request.form()
        if not csrf_matches(session.csrf_token, str(form.get("csrf_token") or "")):
            raise FormExpired
    return session


def sign_in_redirect(_request: Request[Any, Any, Any], _exc: Exception) -> Response[Any]:
    """Exception handler: to the sign-in page."""
    return Redirect("/login", status_code=303)


def form_expired(request: Request[Any, Any, Any], _exc: Exception) -> Response[str]:
    """Exception handler: 403 with a page that says what happened."""
    return render(request, "message.html", N_("Form expired"), 403, error=EXPIRED, back=request.url.path)
