"""OAuth and DPoP errors as HTTP answers: the status and headers of each error code, chosen here only.

The authorization server's endpoints (PAR, token, revocation, introspection) answer as RFC 6749 §5.2
says: 400, or 401 for ``invalid_client``. The data API is a resource server: a token or proof error
there is 401 with a ``WWW-Authenticate: DPoP`` challenge (RFC 6750 §3, RFC 9449 §7.1), and
``insufficient_scope`` is 403. A proof refused by its checks is named in the challenge at both.
``use_dpop_nonce`` carries the nonce in ``DPoP-Nonce`` (RFC 9449 §8, §9). Every answer is ``no-store``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Response

from vault.consent.errors import (
    InsufficientScope,
    InteractionRequired,
    InvalidAuthorizationDetails,
    InvalidClient,
    InvalidDpopProof,
    InvalidGrant,
    InvalidRequest,
    InvalidRequestUri,
    InvalidToken,
    OAuthError,
    RequestNotSupported,
    UnsupportedGrantType,
    UnsupportedResponseType,
    UseDpopNonce,
)
from vault.consent.proofs import SIGNING_ALGORITHMS

if TYPE_CHECKING:
    from litestar import Request

#: The status of each error at the authorization server's endpoints.
STATUS: dict[type[OAuthError], int] = {
    InvalidRequest: 400,
    RequestNotSupported: 400,
    UnsupportedResponseType: 400,
    InvalidAuthorizationDetails: 400,
    InvalidClient: 401,
    InvalidRequestUri: 400,
    InteractionRequired: 400,
    UnsupportedGrantType: 400,
    InvalidGrant: 400,
    InvalidDpopProof: 400,
    UseDpopNonce: 400,
    InvalidToken: 401,
    InsufficientScope: 403,
}
#: The status of each error at the data API: a proof it cannot accept is 401 there.
RESOURCE_STATUS: dict[type[OAuthError], int] = {**STATUS, InvalidDpopProof: 401, UseDpopNonce: 401}


def answer(exc: OAuthError, *, resource: bool) -> tuple[int, dict[str, str]]:
    """The status and headers for ``exc``, at the data API (``resource``) or the authorization server."""
    status = (RESOURCE_STATUS if resource else STATUS)[type(exc)]
    headers = {"Cache-Control": "no-store"}
    challenge = _challenge(exc, resource=resource)
    if challenge is not None:
        headers["WWW-Authenticate"] = challenge
    if isinstance(exc, UseDpopNonce):
        headers["DPoP-Nonce"] = exc.nonce
    return status, headers


def _challenge(exc: OAuthError, *, resource: bool) -> str | None:
    """``WWW-Authenticate``: for a proof refused by its checks anywhere, for every error at the data API."""
    if isinstance(exc, InvalidDpopProof) and exc.refused is not None:
        why = exc.refused.replace('"', "'")
        return f'DPoP error="{exc.error}", error_description="{why}", algs="{" ".join(SIGNING_ALGORITHMS)}"'
    if not resource:
        return None
    if isinstance(exc, UseDpopNonce):
        return f'DPoP error="{exc.error}", error_description="{exc.description}"'
    return f'DPoP error="{exc.error}"'


def _response(exc: Exception, *, resource: bool) -> Response[dict[str, str]]:
    assert isinstance(exc, OAuthError)
    status, headers = answer(exc, resource=resource)
    body = {"error": exc.error, "error_description": exc.description}
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def oauth_error(_request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, str]]:
    """Exception handler of the authorization server's endpoints: RFC 6749 §5.2 JSON error."""
    return _response(exc, resource=False)


def resource_error(_request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, str]]:
    """Exception handler of the data API: the JSON error with its ``WWW-Authenticate: DPoP`` challenge."""
    return _response(exc, resource=True)
