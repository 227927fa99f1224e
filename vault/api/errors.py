"""Turn errors into HTTP responses: clear 4xx for bad input, an opaque 500 that is logged once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog
from litestar import MediaType, Response
from litestar.exceptions import HTTPException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError

from vault.api.audit_pages import BadFilter, NotAnAuditor, not_an_auditor
from vault.api.citizen_only import AuditorAccount, to_audit
from vault.api.cross_site import CrossSiteRequest, cross_site_refused
from vault.api.oauth_errors import oauth_error
from vault.api.reauth import reauthentication_required
from vault.api.render import FormExpired, SignInRequired, form_expired, sign_in_redirect
from vault.citizens.attributes import AttributeInvalid
from vault.citizens.errors import DocumentRejected, InvalidCredentials, LoginTaken, UnknownCitizen, UnknownRecord
from vault.citizens.passkeys import PasskeyRejected
from vault.citizens.reauth import ReauthenticationRequired
from vault.consent.catalogue import CatalogueError, UnknownEntry
from vault.consent.errors import OAuthError
from vault.consent.grants import GrantNotActive
from vault.crypto.datakeys import KeyDestroyed
from vault.crypto.kek import RootKeyUnavailable
from vault.transparency.log import BadProofRequest, LogUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable

    from litestar import Request
    from litestar.types import ExceptionHandlersMap

log = structlog.get_logger("vault.errors")


def _http_error(_request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, object]]:
    body: dict[str, object] = {"error": exc.detail, "status": exc.status_code}
    if exc.extra:
        body["extra"] = exc.extra
    return Response(body, status_code=exc.status_code, headers=exc.headers, media_type=MediaType.JSON)


def _internal_error(_request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, object]]:
    log.error("unhandled error", error_type=type(exc).__name__, exc_info=exc)
    return Response(
        {"error": "Internal Server Error", "status": 500},
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
        media_type=MediaType.JSON,
    )


def _bad_request(_request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, object]]:
    return Response({"error": str(exc), "status": 400}, status_code=400, media_type=MediaType.JSON)


def _too_deep(_request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, object]]:
    """Input nested deeper than the interpreter follows (JSON arrays in a body, a JWT header): the client's doing.

    Every parser of untrusted JSON here (msgspec for bodies, ``json`` for JWT headers and
    ``authorization_details``) recurses per level; the body limit keeps that to some 30,000 levels,
    still past the recursion limit. Logged, so a recursion bug of our own would still show.
    """
    log.warning("input nested too deeply", error_type=type(exc).__name__)
    return Response(
        {"error": "the request is nested too deeply", "status": 400}, status_code=400, media_type=MediaType.JSON
    )


def _unavailable(_request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, object]]:
    log.warning("service unavailable", error_type=type(exc).__name__)
    return Response({"error": "temporarily unavailable", "status": 503}, status_code=503, media_type=MediaType.JSON)


def _status(code: int, message: str | None = None) -> Callable[[Request[Any, Any, Any], Exception], Response[Any]]:
    def handle(_request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, object]]:
        body: dict[str, object] = {"error": message or str(exc), "status": code}
        if isinstance(exc, AttributeInvalid | CatalogueError):
            body["field"] = exc.field
        return Response(body, status_code=code, media_type=MediaType.JSON)

    return handle


def _document_rejected(request: Request[Any, Any, Any], exc: DocumentRejected) -> Response[Any]:
    return _status(413 if exc.too_large else 415)(request, exc)


def exception_handlers() -> ExceptionHandlersMap:
    """The app's handler map: domain errors to HTTP statuses.

    Another citizen's ids answer exactly like missing ones (404, same body).
    """
    not_found = _status(404, "not found")
    return {
        HTTPException: _http_error,
        BadProofRequest: _bad_request,
        AttributeInvalid: _status(422),
        UnknownCitizen: not_found,
        UnknownRecord: not_found,
        KeyDestroyed: not_found,
        DocumentRejected: _document_rejected,
        LoginTaken: _status(409, "this login name is taken"),
        InvalidCredentials: _status(401, "wrong login name or password"),
        LogUnavailable: _unavailable,
        # The root key's token does not answer: no data key can be unwrapped, so nothing is served.
        RootKeyUnavailable: _unavailable,
        # The database went away (stopped, restarting, network): fail closed, and say it is temporary.
        OperationalError: _unavailable,
        InterfaceError: _unavailable,
        DisconnectionError: _unavailable,
        OSError: _unavailable,
        TimeoutError: _unavailable,
        PasskeyRejected: _status(400),
        OAuthError: oauth_error,
        GrantNotActive: _status(409, "this grant has already ended"),
        UnknownEntry: not_found,
        CatalogueError: _status(422),
        SignInRequired: sign_in_redirect,
        ReauthenticationRequired: reauthentication_required,
        CrossSiteRequest: cross_site_refused,
        NotAnAuditor: not_an_auditor,
        AuditorAccount: to_audit,
        BadFilter: _bad_request,
        FormExpired: form_expired,
        RecursionError: _too_deep,
        Exception: _internal_error,
    }
