"""Checks of the two JWTs an agency sends: its client assertion and its DPoP proofs. Pure: no I/O.

Client assertions (``private_key_jwt``, RFC 7523, FAPI 2.0 §5.3.2): signed with a key from the
agency's registered JWK Set (ES256, EdDSA or PS256 only), ``iss`` = ``sub`` = client id, ``aud``
exactly the issuer as a string (not an array, not the token endpoint), an ``exp`` at most
``MAX_ASSERTION_LIFETIME`` away, an ``iat`` not more than ``CLOCK_SKEW`` in the future, a ``jti``.

DPoP proofs (RFC 9449): ``typ`` ``dpop+jwt``, a public ``jwk`` in the header whose key verifies the
signature, ``htm`` and ``htu`` matching the request, ``iat`` within ``CLOCK_SKEW``, a ``jti``, and
``ath`` when an access token is presented.

Replay of ``jti`` values is the caller's to check (it needs a store): these functions return them.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey

from vault.consent.errors import InvalidClient, InvalidDpopProof

SIGNING_ALGORITHMS = ("ES256", "EdDSA", "PS256")
CLOCK_SKEW = 60
MAX_ASSERTION_LIFETIME = 3600  # Authlib and others default to one hour; the jti store covers it
MAX_JWT_BYTES = 8192


@dataclass(frozen=True, slots=True)
class ClientAssertion:
    """A verified client assertion."""

    client_id: str
    jti: str
    exp: int


@dataclass(frozen=True, slots=True)
class DpopProof:
    """A verified DPoP proof: the key's RFC 7638 thumbprint, the proof's ``jti`` and its ``nonce`` if any."""

    jkt: str
    jti: str
    iat: int
    nonce: str | None = None


def _header(token: str) -> dict[str, Any]:
    if len(token) > MAX_JWT_BYTES or token.count(".") != 2:
        raise ValueError("not a compact JWT")
    return _object(token.split(".", 1)[0])


def _object(segment: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except RecursionError:  # a header nested thousands deep: as malformed as any other
        raise ValueError("header is nested too deeply") from None
    if not isinstance(value, dict):
        raise ValueError("header is not an object")
    return value


def unverified_issuer(token: str) -> str | None:
    """The ``iss`` of a JWT before verification (to find the client whose keys to use), or ``None``."""
    try:
        _header(token)
        body = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    return issuer if isinstance(issuer, str) else None


def verify_client_assertion(token: str, client_id: str, jwks: dict[str, Any], issuer: str, now: int) -> ClientAssertion:
    """Check a ``private_key_jwt`` assertion for ``client_id``; :class:`~vault.consent.errors.InvalidClient` if bad."""

    def refuse(why: str) -> InvalidClient:
        return InvalidClient(f"client assertion refused: {why}")

    try:
        header = _header(token)
    except (ValueError, UnicodeDecodeError):
        raise refuse("not a compact JWT") from None
    if header.get("alg") not in SIGNING_ALGORITHMS:
        raise refuse(f"alg must be one of {', '.join(SIGNING_ALGORITHMS)}")
    try:
        decoded = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=list(SIGNING_ALGORITHMS))  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001  joserfc raises several error types for bad signatures and keys
        raise refuse(f"signature does not verify with the registered keys ({type(exc).__name__})") from None
    claims = decoded.claims
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise refuse("iss and sub must be the client_id")
    aud = claims.get("aud")
    if not isinstance(aud, str) or aud != issuer:
        raise refuse(f"aud must be the issuer {issuer!r} as a single string")
    exp, iat, jti = claims.get("exp"), claims.get("iat"), claims.get("jti")
    if not isinstance(exp, int) or exp <= now:
        raise refuse("expired or no exp")
    if exp - now > MAX_ASSERTION_LIFETIME:
        raise refuse(f"exp more than {MAX_ASSERTION_LIFETIME} s ahead")
    if iat is not None and (not isinstance(iat, int) or iat > now + CLOCK_SKEW):
        raise refuse("iat is in the future")
    if not isinstance(jti, str) or not 16 <= len(jti) <= 200:
        raise refuse("jti must be 16-200 characters")
    return ClientAssertion(client_id, jti, exp)


@lru_cache(maxsize=1024)
def _proof_key(segment: str) -> tuple[dict[str, Any], ECKey | OKPKey | RSAKey, str]:
    """A DPoP header segment's claims, its key and the key's thumbprint.

    An agency sends the same header (``typ``, ``alg``, its ``jwk``) with every proof, so importing the
    key and computing its thumbprint once per header halves the cost of a proof check. Only
    successful imports are cached; the signature is still checked on every proof.
    """
    header = _object(segment)
    key = _public_key(header.get("jwk"))
    return header, key, key.thumbprint()


def _public_key(jwk: object) -> ECKey | OKPKey | RSAKey:
    if not isinstance(jwk, dict) or {"d", "p", "q", "k"} & set(jwk):
        raise ValueError("jwk must be a public key")
    kty = jwk.get("kty")
    if kty == "EC" and jwk.get("crv") == "P-256":
        return ECKey.import_key(jwk)
    if kty == "OKP" and jwk.get("crv") == "Ed25519":
        return OKPKey.import_key(jwk)
    if kty == "RSA":
        key = RSAKey.import_key(jwk)
        if key.raw_value.key_size < 2048:
            raise ValueError("RSA key too small")
        return key
    raise ValueError("unsupported key type")


def normalise_htu(url: str) -> str:
    """A URL as DPoP compares it: scheme and host lower-case, no query, no fragment (RFC 9449 §4.3)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", "", ""))


def access_token_hash(token: str) -> str:
    """``ath``: base64url of the SHA-256 of the access token."""
    return base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()


def verify_dpop_proof(proof: str, method: str, url: str, now: int, *, access_token: str | None = None) -> DpopProof:
    """Check a DPoP proof for this request; :class:`~vault.consent.errors.InvalidDpopProof` if bad."""

    def refuse(why: str) -> InvalidDpopProof:
        return InvalidDpopProof(f"DPoP proof refused: {why}", refused=why)

    try:
        _header(proof)  # size and shape
        header, key, jkt = _proof_key(proof.split(".", 1)[0])
    except (ValueError, UnicodeDecodeError) as exc:
        raise refuse(str(exc)) from None
    if header.get("typ") != "dpop+jwt":
        raise refuse("typ must be dpop+jwt")
    if header.get("alg") not in SIGNING_ALGORITHMS:
        raise refuse(f"alg must be one of {', '.join(SIGNING_ALGORITHMS)}")
    try:
        claims = jwt.decode(proof, key, algorithms=list(SIGNING_ALGORITHMS)).claims
    except Exception:  # noqa: BLE001  joserfc raises several error types
        raise refuse("signature does not verify") from None
    if claims.get("htm") != method:
        raise refuse("htm does not match the request method")
    htu = claims.get("htu")
    if not isinstance(htu, str) or normalise_htu(htu) != normalise_htu(url):
        raise refuse("htu does not match the request URL")
    iat, jti = claims.get("iat"), claims.get("jti")
    if not isinstance(iat, int) or abs(iat - now) > CLOCK_SKEW:
        raise refuse(f"iat must be within {CLOCK_SKEW} s of now")
    if not isinstance(jti, str) or not 16 <= len(jti) <= 200:
        raise refuse("jti must be 16-200 characters")
    if access_token is not None and claims.get("ath") != access_token_hash(access_token):
        raise refuse("ath does not match the access token")
    nonce = claims.get("nonce")
    if nonce is not None and not isinstance(nonce, str):
        raise refuse("nonce must be a string")
    return DpopProof(jkt, jti, iat, nonce)


__all__ = [
    "ClientAssertion",
    "DpopProof",
    "access_token_hash",
    "normalise_htu",
    "unverified_issuer",
    "verify_client_assertion",
    "verify_dpop_proof",
]
