"""The agency's keys: the registered signing key (client assertions) and a DPoP key.

Keys are joserfc JWKs; a private key is accepted as a JWK (dict, JSON text) or PEM. ES256 (P-256),
EdDSA (Ed25519) and PS256 (RSA ≥ 2048 bits) are what the vault accepts.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey, RSAKey

from agency_sdk.errors import ConfigurationError

Key = ECKey | OKPKey | RSAKey
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def load_private_key(source: str | bytes | dict[str, Any] | Path) -> Key:
    """A private key from a JWK (dict or JSON), PEM text, or a file holding either."""
    if isinstance(source, Path):
        source = source.read_bytes()
    try:
        if isinstance(source, dict) or (isinstance(source, (str, bytes)) and source.strip()[:1] in ("{", b"{")):
            data = source if isinstance(source, dict) else json.loads(source)
            data = data.get("private_jwk", data)  # a demo-agency.json file holds it under this name
            key: Key = _class(data.get("kty")).import_key(data)
        else:
            key = _import_pem(source if isinstance(source, bytes) else source.encode())
    except ConfigurationError:
        raise
    except Exception as exc:  # noqa: BLE001  joserfc and cryptography raise many kinds
        raise ConfigurationError(f"cannot read the private key ({type(exc).__name__})") from None
    if not key.is_private:
        raise ConfigurationError("the key is a public key; the agency needs its private key")
    return key


def _class(kty: object) -> type[Key]:
    classes: dict[object, type[Key]] = {"EC": ECKey, "OKP": OKPKey, "RSA": RSAKey}
    if kty not in classes:
        raise ConfigurationError(f"unsupported key type {kty!r}: use EC P-256, OKP Ed25519 or RSA")
    return classes[kty]


def _import_pem(pem: bytes) -> Key:
    for cls in (ECKey, OKPKey, RSAKey):
        try:
            return cls.import_key(pem)
        except Exception:  # noqa: BLE001,S112  try the next key type
            continue
    raise ConfigurationError("not a PEM private key of a supported type")


def algorithm(key: Key) -> str:
    """The JWS algorithm the vault expects for ``key``."""
    if isinstance(key, ECKey):
        if key.curve_name != "P-256":
            raise ConfigurationError("EC keys must be on P-256 (ES256)")
        return "ES256"
    if isinstance(key, OKPKey):
        if key.curve_name != "Ed25519":
            raise ConfigurationError("OKP keys must be Ed25519 (EdDSA)")
        return "EdDSA"
    if key.raw_value.key_size < 2048:
        raise ConfigurationError("RSA keys must have at least 2048 bits")
    return "PS256"


def public_jwks(key: Key, kid: str | None = None) -> dict[str, Any]:
    """The JWK Set to register with ``vault agency add --jwks``."""
    public = key.as_dict(private=False)
    return {"keys": [{**public, "kid": kid or key.thumbprint(), "alg": algorithm(key), "use": "sig"}]}


def client_assertion(key: Key, client_id: str, issuer: str, now: int, kid: str | None = None) -> str:
    """A ``private_key_jwt`` assertion (RFC 7523) for the vault: ``aud`` is the issuer, valid 60 s."""
    claims = {"iss": client_id, "sub": client_id, "aud": issuer, "iat": now, "exp": now + 60,
              "jti": secrets.token_urlsafe(24)}  # fmt: skip
    header = {"alg": algorithm(key), "kid": kid or key.kid or key.thumbprint()}
    return jwt.encode(header, claims, key, algorithms=[header["alg"]])


def dpop_proof(key: Key, method: str, url: str, now: int, *, ath: str | None = None, nonce: str | None = None) -> str:
    """A DPoP proof (RFC 9449) for one request."""
    claims: dict[str, Any] = {"htm": method, "htu": url, "iat": now, "jti": secrets.token_urlsafe(24)}
    if ath is not None:
        claims["ath"] = ath
    if nonce is not None:
        claims["nonce"] = nonce
    alg = algorithm(key)
    header = {"alg": alg, "typ": "dpop+jwt", "jwk": key.as_dict(private=False)}
    return jwt.encode(header, claims, key, algorithms=[alg])


def generate_key() -> ECKey:
    """A new ES256 (P-256) private key."""
    return ECKey.generate_key("P-256", private=True)
