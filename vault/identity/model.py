"""What a finished sign-in at an upstream identity provider proves, and how it can fail. Pure types.

Both provider kinds (OIDC: :mod:`vault.identity.oidc`, SAML: :mod:`vault.identity.saml`) end in a
:class:`ProvenIdentity` or raise :class:`IdentityError` with one of :data:`ERROR_CODES`. The HTTP layer
shows a page per code; nothing is stored and no session starts on an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from datetime import datetime

Purpose = Literal["login", "register", "link", "step_up"]
PURPOSES: tuple[Purpose, ...] = ("login", "register", "link", "step_up")

#: Why a sign-in at a provider was refused (the page's message is chosen by the code).
ERROR_CODES = (
    "unknown_state",  # no such sign-in started here, already used, expired, or started in another browser
    "provider_error",  # the provider answered an error (e.g. the citizen cancelled): ``error`` in the callback
    "wrong_issuer",  # RFC 9207 ``iss`` missing or not the provider's issuer
    "provider_unreachable",  # discovery, JWKS, PAR or token endpoint failed or answered garbage
    "token_rejected",  # the token endpoint refused the code (replayed, expired, wrong verifier)
    "client_rejected",  # the provider refused the vault's client credentials: the registration is wrong
    "invalid_id_token",  # signature, iss, aud, azp, exp/iat, nonce, algorithm, or a malformed token
    "invalid_assertion",  # SAML: signature, audience, time, InResponseTo, wrapping, XML attacks
    "replayed",  # SAML assertion already consumed
    "provider_disabled",  # the provider was disabled or removed
)


class IdentityError(Exception):
    """A sign-in at a provider failed; ``code`` is one of :data:`ERROR_CODES`, ``detail`` is for logs only."""

    def __init__(self, code: str, detail: str = "") -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown identity error code {code!r}")
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class ProvenIdentity:
    """What a provider vouched for in one sign-in.

    ``level`` is the provider's ``acr`` (or SAML AuthnContextClassRef) mapped through the provider's
    ``acr_map``; an unmapped value is ``basic``. ``claims`` holds vault attribute names (``given_name``,
    ``family_name``, ``birth_date``, ``birth_place``, ``address``, ``nationality``, ``birth_name``)
    with values already in the vault's canonical form; values that did not validate are left out.
    """

    provider_id: str
    subject: str
    level: str
    acr: str
    claims: dict[str, object] = field(default_factory=dict)
    authenticated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StartedRequest:
    """A sign-in begun at a provider: what the finishing step needs (from ``identity_requests``)."""

    provider_id: str
    purpose: Purpose
    level: str
    next: str
    citizen_id: str | None
    nonce: str
    code_verifier: str
    session_hash: bytes | None = None
