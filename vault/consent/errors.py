"""The OAuth and DPoP errors of the authorization server and the data API: one class per error code.

Each carries its RFC 6749/9126/9396/9449/6750 ``error`` code and a description for the client, and
nothing about HTTP: the status and the headers of each (``WWW-Authenticate``, ``DPoP-Nonce``) are
chosen in :mod:`vault.api.oauth_errors`, which knows whether the token endpoint or the data API answers.
"""

from __future__ import annotations

from typing import ClassVar

USE_DPOP_NONCE = "a DPoP nonce is required: sign the proof again with the one in the DPoP-Nonce header"


class OAuthError(Exception):
    """An OAuth error: ``error`` is the code of the subclass, ``description`` the ``error_description``."""

    error: ClassVar[str]

    def __init__(self, description: str) -> None:
        super().__init__(f"{self.error}: {description}")
        self.description = description


class InvalidRequest(OAuthError):
    """A parameter is missing, repeated or malformed (RFC 6749 §5.2)."""

    error = "invalid_request"


class RequestNotSupported(OAuthError):
    """A signed request object was pushed (OpenID Connect Core §6.3); the parameters are pushed instead."""

    error = "request_not_supported"


class UnsupportedResponseType(OAuthError):
    """A ``response_type`` other than ``code``."""

    error = "unsupported_response_type"


class InvalidAuthorizationDetails(OAuthError):
    """``authorization_details`` is malformed or asks for more than the service offers (RFC 9396 §5)."""

    error = "invalid_authorization_details"


class InvalidClient(OAuthError):
    """The client is unknown or disabled, or its ``private_key_jwt`` assertion is refused."""

    error = "invalid_client"


class InvalidRequestUri(OAuthError):
    """The ``request_uri`` is unknown, another client's, used or expired (RFC 9126 §4)."""

    error = "invalid_request_uri"


class InteractionRequired(OAuthError):
    """The citizen must sign in again at a higher assurance level first."""

    error = "interaction_required"


class UnsupportedGrantType(OAuthError):
    """A ``grant_type`` other than ``authorization_code`` and ``refresh_token``."""

    error = "unsupported_grant_type"


class InvalidGrant(OAuthError):
    """The code or refresh token is unknown, used, expired, revoked, or does not match (PKCE, redirect, key)."""

    error = "invalid_grant"


class InvalidDpopProof(OAuthError):
    """The DPoP proof is missing, refused by its checks, replayed, or signed by another key (RFC 9449).

    ``refused`` is why :func:`~vault.consent.proofs.verify_dpop_proof` refused the proof (the error
    answer names it in ``WWW-Authenticate``); ``None`` for a proof missing, replayed or of another key.
    """

    error = "invalid_dpop_proof"

    def __init__(self, description: str, *, refused: str | None = None) -> None:
        super().__init__(description)
        self.refused = refused


class UseDpopNonce(OAuthError):
    """The proof lacks the vault's current nonce (RFC 9449 §8, §9): ``nonce`` is the one to sign with."""

    error = "use_dpop_nonce"

    def __init__(self, nonce: str) -> None:
        super().__init__(USE_DPOP_NONCE)
        self.nonce = nonce


class InvalidToken(OAuthError):
    """The access token is unknown, revoked or expired, its grant ended, or its agency is disabled (RFC 6750)."""

    error = "invalid_token"


class InsufficientScope(OAuthError):
    """The grant does not cover what the token is used for (RFC 6750 §3.1)."""

    error = "insufficient_scope"


__all__ = [
    "InsufficientScope",
    "InteractionRequired",
    "InvalidAuthorizationDetails",
    "InvalidClient",
    "InvalidDpopProof",
    "InvalidGrant",
    "InvalidRequest",
    "InvalidRequestUri",
    "InvalidToken",
    "OAuthError",
    "RequestNotSupported",
    "UnsupportedGrantType",
    "UnsupportedResponseType",
    "UseDpopNonce",
]
