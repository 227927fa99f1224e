"""Bad ID tokens for tests of a relying party, to use as ``provider.token_override``.

Each returns a function ``(header, claims) -> compact token``. For wrong claims (``iss``, ``aud``,
``azp``, ``exp``, ``iat``, ``nonce``) or a foreign ``kid``, a ``tamper`` hook is enough; these cover
what a tamper hook cannot: other keys and other algorithms.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import TYPE_CHECKING, Any

from joserfc import jwt

if TYPE_CHECKING:
    from collections.abc import Callable

    from joserfc.jwk import ECKey, OKPKey, RSAKey


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segments(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"


def unsigned() -> Callable[[dict[str, Any], dict[str, Any]], str]:
    """Tokens with ``alg`` ``none`` and an empty signature."""
    return lambda header, claims: _segments({**header, "alg": "none"}, claims) + "."


def hs256_with(secret: bytes) -> Callable[[dict[str, Any], dict[str, Any]], str]:
    """Tokens MACed with HS256 under ``secret`` (e.g. the provider's JWKS or a public key's bytes)."""

    def forge(header: dict[str, Any], claims: dict[str, Any]) -> str:
        signing_input = _segments({**header, "alg": "HS256"}, claims)
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(mac)}"

    return forge


def signed_with(key: ECKey | RSAKey | OKPKey, alg: str) -> Callable[[dict[str, Any], dict[str, Any]], str]:
    """Tokens signed with ``key`` (e.g. one the provider does not publish) under ``alg``."""

    def forge(header: dict[str, Any], claims: dict[str, Any]) -> str:
        header = {**header, "alg": alg, "kid": key.kid or key.thumbprint()}
        return jwt.encode(header, claims, key, algorithms=[alg])

    return forge
