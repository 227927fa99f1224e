"""A test agency: signs its client assertions and DPoP proofs with joserfc, with knobs to break each claim."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def pkce_pair() -> tuple[str, str]:
    """``(verifier, S256 challenge)``."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def ath(token: str) -> str:
    """The DPoP ``ath`` of an access token."""
    return base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()


@dataclass
class TestAgency:
    """One agency's keys and its view of the vault."""

    __test__ = False  # not a pytest class

    issuer: str
    client_id: str = ""
    redirect_uri: str = "https://amt.example/callback"
    key: ECKey = field(default_factory=lambda: ECKey.generate_key("P-256", private=True))
    dpop_key: ECKey = field(default_factory=lambda: ECKey.generate_key("P-256", private=True))
    kid: str = "agency-key-1"

    def jwks(self) -> dict[str, Any]:
        """The public JWK Set to register."""
        return {"keys": [{**self.key.as_dict(private=False), "kid": self.kid, "alg": "ES256", "use": "sig"}]}

    def assertion(self, **override: Any) -> str:
        """A ``private_key_jwt`` client assertion; ``override`` replaces claims (``None`` removes one)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.issuer,
            "iat": now,
            "exp": now + 60,
            "jti": secrets.token_urlsafe(16),
        }
        header = {"alg": "ES256", "kid": self.kid, **override.pop("header", {})}
        claims.update(override)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(header, claims, self.key, algorithms=[header["alg"]])

    def auth(self, **override: Any) -> dict[str, str]:
        """Client authentication form fields."""
        return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": self.assertion(**override)}

    def dpop(
        self, method: str, url: str, token: str | None = None, *, key: ECKey | None = None, **override: Any
    ) -> str:
        """A DPoP proof for ``method url`` (with ``ath`` for ``token``)."""
        signer = key or self.dpop_key
        claims: dict[str, Any] = {"htm": method, "htu": url, "iat": int(time.time()), "jti": secrets.token_urlsafe(16)}
        if token is not None:
            claims["ath"] = ath(token)
        claims.update(override)
        header = {"alg": "ES256", "typ": "dpop+jwt", "jwk": signer.as_dict(private=False)}
        return jwt.encode(header, claims, signer, algorithms=["ES256"])

    def par_form(self, service: str = "ummeldung", challenge: str | None = None, **override: Any) -> dict[str, str]:
        """PAR form fields (with client authentication); ``override`` replaces or removes (``None``) fields."""
        form: dict[str, Any] = {
            "client_id": self.client_id,
            "response_type": "code",
            "redirect_uri": self.redirect_uri,
            "code_challenge": challenge or pkce_pair()[1],
            "code_challenge_method": "S256",
            "state": "state-" + secrets.token_hex(4),
            "authorization_details": json.dumps([{"type": "vault_access", "service": service}]),
            **self.auth(),
        }
        form.update(override)
        return {k: v for k, v in form.items() if v is not None}
