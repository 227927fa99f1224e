"""The provider's state and its steps: keys, pushed requests, pending choices, codes, tokens.

Everything is kept in memory, bounded, and dropped when it expires. Tests reach the instance as
``app.state.provider`` and may set :attr:`Provider.tamper`, :attr:`Provider.token_override`,
:attr:`Provider.auto_persona` and :attr:`Provider.clock`, or call :meth:`Provider.rotate_keys`.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from examples.eid_provider.personas import ACR, persona
from examples.eid_provider.protocol import (
    AuthorizationRequest,
    NotRedirectable,
    ProviderError,
    check_authorization_request,
    check_client_assertion,
    check_client_secret,
    client_credentials,
    id_token_claims,
    pkce_matches,
    with_query,
)
from examples.eid_provider.store import Expiring

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from examples.eid_provider.clients import Client

#: Given an ID token's (header, claims) before signing, returns the (header, claims) to sign.
Tamper: TypeAlias = "Callable[[dict[str, Any], dict[str, Any]], tuple[dict[str, Any], dict[str, Any]]]"

CODE_LIFETIME = 60
PAR_LIFETIME = 90
CHOICE_LIFETIME = 600
TOKEN_LIFETIME = 300
REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
AUTH_FIELDS = ("client_secret", "client_assertion", "client_assertion_type")
CLAIMS = ("sub", "iss", "aud", "azp", "exp", "iat", "auth_time", "nonce", "acr", "amr", "given_name",
          "family_name", "birth_family_name", "birthdate", "place_of_birth", "nationalities", "address")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Choice:
    """A checked authorization request waiting for the person to choose a persona (or cancel)."""

    ticket: str
    request: AuthorizationRequest
    client: Client


@dataclass(frozen=True, slots=True)
class Grant:
    """What an authorization code stands for: the request and the persona chosen, when."""

    request: AuthorizationRequest
    persona: str
    auth_time: int


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One of the provider's signing keys and the algorithm it signs with."""

    key: ECKey | RSAKey
    alg: str

    @property
    def kid(self) -> str:
        """The key id (its RFC 7638 thumbprint)."""
        return str(self.key.kid)


class Provider:
    """The test eID provider at ``issuer`` for ``clients``."""

    def __init__(
        self,
        issuer: str,
        clients: Sequence[Client],
        *,
        tamper: Tamper | None = None,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.clients = {c.client_id: c for c in clients}
        #: Test hook: rewrites an ID token's (header, claims) before it is signed with the current key.
        self.tamper = tamper
        #: Test hook: given (header, claims), returns the whole compact token to hand out instead.
        self.token_override: Callable[[dict[str, Any], dict[str, Any]], str] | None = None
        #: Test shortcut: a persona key chosen at once, without the persona page.
        self.auto_persona: str | None = None
        self.clock: Callable[[], float] = time.time
        self.keys: list[SigningKey] = []
        self.rotate_keys()
        self.pushed: Expiring[AuthorizationRequest] = Expiring(clock=self._now)
        self.choices: Expiring[AuthorizationRequest] = Expiring(clock=self._now)
        self.codes: Expiring[Grant] = Expiring(clock=self._now)
        self.seen_assertions: Expiring[bool] = Expiring(limit=100_000, clock=self._now)

    def _now(self) -> float:
        return self.clock()

    @property
    def endpoints(self) -> dict[str, str]:
        """The endpoint URLs, by discovery name."""
        return {
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "pushed_authorization_request_endpoint": f"{self.issuer}/par",
            "jwks_uri": f"{self.issuer}/jwks",
        }

    def discovery(self) -> dict[str, Any]:
        """The OpenID Provider metadata (OIDC Discovery §3, RFC 9126 §5, RFC 9207 §3)."""
        return {
            "issuer": self.issuer,
            **self.endpoints,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["ES256", "PS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic", "client_secret_post"],
            "token_endpoint_auth_signing_alg_values_supported": ["ES256", "PS256", "RS256"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid"],
            "acr_values_supported": list(ACR.values()),
            "claims_supported": list(CLAIMS),
            "ui_locales_supported": ["de", "en"],
            "authorization_response_iss_parameter_supported": True,
            "require_pushed_authorization_requests": False,
            "request_parameter_supported": False,
        }

    def jwks(self) -> dict[str, Any]:
        """The public signing keys, old ones included (a rotation keeps them published)."""
        return {"keys": [{**k.key.as_dict(private=False), "alg": k.alg, "use": "sig"} for k in self.keys]}

    @property
    def signing_key(self) -> SigningKey:
        """The key ID tokens are signed with now (the newest)."""
        return self.keys[-1]

    def rotate_keys(self, alg: str = "ES256") -> str:
        """Add a new signing key (``ES256`` or ``PS256``), sign with it from now on; return its ``kid``."""
        if alg == "ES256":
            key: ECKey | RSAKey = ECKey.generate_key("P-256", private=True)
        elif alg == "PS256":
            key = RSAKey.generate_key(2048, private=True)
        else:
            raise ValueError(f"unsupported signing algorithm {alg!r}")
        key.ensure_kid()
        self.keys.append(SigningKey(key, alg))
        return self.signing_key.kid

    def authenticate(self, form: Mapping[str, str], authorization: str | None) -> Client:
        """The client a token or PAR request authenticates as, else ``invalid_client``.

        An assertion's ``jti`` is accepted once (kept until its ``exp``).
        """
        method, client_id, credential = client_credentials(form, authorization)
        client = self.clients.get(client_id)
        if client is None or method not in client.auth_methods:
            raise ProviderError("invalid_client", "client authentication failed", 401)
        if form.get("client_id", client_id) != client_id:
            raise ProviderError("invalid_client", "client_id does not match the authenticated client", 401)
        if method != "private_key_jwt":
            check_client_secret(client, credential)
            return client
        now = int(self.clock())
        audiences = (
            self.issuer,
            self.endpoints["token_endpoint"],
            self.endpoints["pushed_authorization_request_endpoint"],
        )
        jti, exp = check_client_assertion(client, credential, audiences, now)
        seen = f"{client_id}\0{jti}"
        if seen in self.seen_assertions:
            raise ProviderError("invalid_client", "client assertion refused: jti already used", 401)
        self.seen_assertions.put(seen, True, exp - now + 1)
        return client

    def push(self, form: Mapping[str, str], authorization: str | None) -> dict[str, Any]:
        """Accept a pushed authorization request (RFC 9126 §2): ``{"request_uri", "expires_in"}``."""
        client = self.authenticate(form, authorization)
        if "request_uri" in form:
            raise ProviderError("invalid_request", "request_uri is not allowed in a pushed request")
        params = {k: v for k, v in form.items() if k not in AUTH_FIELDS} | {"client_id": client.client_id}
        try:
            request = check_authorization_request(params, self.clients)
        except NotRedirectable as exc:
            raise ProviderError(exc.error, exc.description) from None
        request_uri = REQUEST_URI_PREFIX + secrets.token_urlsafe(32)
        self.pushed.put(request_uri, request, PAR_LIFETIME)
        return {"request_uri": request_uri, "expires_in": PAR_LIFETIME}

    def begin(self, params: Mapping[str, str]) -> Choice:
        """Check an authorization request (plain or by ``request_uri``) and keep it for the choice.

        Raises :class:`NotRedirectable` (show a page) or :class:`ProviderError` (use :meth:`error_redirect`).
        A ``request_uri`` is used once.
        """
        if "request_uri" in params:
            request = self.pushed.take(params["request_uri"])
            if request is None or request.client_id != params.get("client_id"):
                raise NotRedirectable("invalid_request_uri", "request_uri is unknown, expired or already used")
        else:
            request = check_authorization_request(params, self.clients)
        ticket = secrets.token_urlsafe(24)
        self.choices.put(ticket, request, CHOICE_LIFETIME)
        return Choice(ticket, request, self.clients[request.client_id])

    def pending(self, ticket: str) -> Choice | None:
        """The request waiting under ``ticket`` (not consumed), or ``None``."""
        request = self.choices.get(ticket)
        return None if request is None else Choice(ticket, request, self.clients[request.client_id])

    def error_redirect(self, params: Mapping[str, str], error: ProviderError) -> str:
        """Where to send the browser for a redirectable authorization error (RFC 6749 §4.1.2.1)."""
        return with_query(
            params["redirect_uri"],
            {"error": error.error, "error_description": error.description, "state": params.get("state"),
             "iss": self.issuer},
        )  # fmt: skip

    def decide(self, ticket: str, persona_key: str | None) -> str:
        """The redirect after the choice: a code for ``persona_key``, or ``access_denied`` for ``None``."""
        request = self.choices.take(ticket)
        if request is None:
            raise NotRedirectable("invalid_request", "this sign-in has expired or was already finished")
        back = {"state": request.state, "iss": self.issuer}
        if persona_key is None:
            return with_query(request.redirect_uri, {"error": "access_denied", **back})
        chosen = persona(persona_key)
        if chosen is None:
            raise NotRedirectable("invalid_request", "unknown persona")
        code = secrets.token_urlsafe(32)
        self.codes.put(code, Grant(request, chosen.key, int(self.clock())), CODE_LIFETIME)
        return with_query(request.redirect_uri, {"code": code, **back})

    def exchange(self, form: Mapping[str, str], authorization: str | None) -> dict[str, Any]:
        """The token response for an authorization code (OIDC Core §3.1.3).

        The code is taken before any check, so a code presented wrongly once is gone.
        """
        client = self.authenticate(form, authorization)
        if form.get("grant_type") != "authorization_code":
            raise ProviderError("unsupported_grant_type", "grant_type must be authorization_code")
        grant = self.codes.take(form.get("code", ""))
        if grant is None:
            raise ProviderError("invalid_grant", "code is unknown, expired or already used")
        if grant.request.client_id != client.client_id:
            raise ProviderError("invalid_grant", "code was issued to another client")
        if form.get("redirect_uri") != grant.request.redirect_uri:
            raise ProviderError("invalid_grant", "redirect_uri differs from the authorization request")
        if not pkce_matches(form.get("code_verifier", ""), grant.request.code_challenge):
            raise ProviderError("invalid_grant", "code_verifier does not match the code_challenge")
        chosen = persona(grant.persona)
        assert chosen is not None
        claims = id_token_claims(
            self.issuer, client.client_id, chosen, nonce=grant.request.nonce, auth_time=grant.auth_time,
            now=int(self.clock()),
        )  # fmt: skip
        return {
            "access_token": secrets.token_urlsafe(32),
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "id_token": self.sign_id_token(claims),
        }

    def sign_id_token(self, claims: dict[str, Any]) -> str:
        """``claims`` as a JWS with the current key, after :attr:`tamper` and unless :attr:`token_override`."""
        key = self.signing_key
        header: dict[str, Any] = {"alg": key.alg, "kid": key.kid, "typ": "JWT"}
        if self.tamper is not None:
            header, claims = self.tamper(header, claims)
        if self.token_override is not None:
            return self.token_override(header, claims)
        return jwt.encode(header, claims, key.key, algorithms=[str(header["alg"])])


__all__ = ["Choice", "Grant", "Provider", "SigningKey", "Tamper"]
