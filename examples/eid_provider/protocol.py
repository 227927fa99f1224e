"""The provider's protocol rules as pure functions: request checks, client authentication, PKCE, claims.

Nothing here does I/O or keeps state; :mod:`examples.eid_provider.provider` keeps the state (keys,
codes, PAR requests, seen assertion ids) and calls these.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

from joserfc import jwt
from joserfc.jwk import KeySet

from examples.eid_provider.personas import ACR

if TYPE_CHECKING:
    from collections.abc import Mapping

    from examples.eid_provider.clients import Client
    from examples.eid_provider.personas import Persona

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGORITHMS = ("ES256", "PS256", "RS256")
MAX_ASSERTION_LIFETIME = 3600
LEVELS = ("substantial", "high")  # in rising order
LEVEL_OF_ACR = {uri: level for level, uri in ACR.items()}
AMR = {"high": ["eid"], "substantial": ["hwk"]}


class ProviderError(Exception):
    """An OAuth error: ``error`` code, a description, and the HTTP status it answers with."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error, self.description, self.status = error, description, status


class NotRedirectable(ProviderError):
    """An authorization request error that must not go back to the redirect URI (unknown client or URI)."""


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A checked authorization request (from plain parameters or a pushed request)."""

    client_id: str
    redirect_uri: str
    state: str | None
    nonce: str | None
    scope: str
    code_challenge: str
    acr_values: tuple[str, ...]
    ui_locales: str = ""

    @property
    def asked_level(self) -> str | None:
        """The lowest eIDAS level among the requested ``acr_values`` this provider knows, if any."""
        known = [LEVEL_OF_ACR[a] for a in self.acr_values if a in LEVEL_OF_ACR]
        return min(known, key=LEVELS.index) if known else None


def check_client_and_redirect(params: Mapping[str, str], clients: Mapping[str, Client]) -> Client:
    """The client of a request whose ``redirect_uri`` is registered, else :class:`NotRedirectable`."""
    client = clients.get(params.get("client_id", ""))
    if client is None:
        raise NotRedirectable("invalid_client", "unknown client_id")
    if params.get("redirect_uri") not in client.redirect_uris:
        raise NotRedirectable("invalid_request", "redirect_uri is missing or not registered for this client")
    return client


def check_authorization_request(params: Mapping[str, str], clients: Mapping[str, Client]) -> AuthorizationRequest:
    """Check an OIDC code-flow request with PKCE S256 (OIDC Core §3.1.2.1, RFC 7636).

    Raises :class:`NotRedirectable` for an unknown client or redirect URI, :class:`ProviderError` for
    anything else (to be sent to the redirect URI).
    """
    client = check_client_and_redirect(params, clients)
    if "request" in params:
        raise ProviderError("request_not_supported", "request objects are not supported; use PAR")
    if params.get("response_type") != "code":
        raise ProviderError("unsupported_response_type", "response_type must be code")
    scope = params.get("scope", "")
    if "openid" not in scope.split():
        raise ProviderError("invalid_scope", "scope must include openid")
    challenge = params.get("code_challenge", "")
    if params.get("code_challenge_method") != "S256" or not 43 <= len(challenge) <= 128:
        raise ProviderError("invalid_request", "PKCE is required: code_challenge with code_challenge_method S256")
    return AuthorizationRequest(
        client_id=client.client_id,
        redirect_uri=params["redirect_uri"],
        state=params.get("state"),
        nonce=params.get("nonce"),
        scope=scope,
        code_challenge=challenge,
        acr_values=tuple(params.get("acr_values", "").split()),
        ui_locales=params.get("ui_locales", "")[:100],
    )


def pkce_matches(verifier: str, challenge: str) -> bool:
    """Whether ``verifier`` hashes (S256) to ``challenge`` (RFC 7636 §4.6)."""
    if not 43 <= len(verifier) <= 128:
        return False
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii", "replace")).digest()).rstrip(b"=")
    return hmac.compare_digest(digest.decode(), challenge)


def with_query(url: str, params: Mapping[str, str | None]) -> str:
    """``url`` with ``params`` (those not ``None``) added to its query string."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


def client_credentials(form: Mapping[str, str], authorization: str | None) -> tuple[str, str, str]:
    """``(method, client_id, credential)`` a token or PAR request presents (RFC 6749 §2.3, RFC 7523 §2.2)."""
    methods = []
    if authorization and authorization.lower().startswith("basic "):
        try:
            user, _, password = base64.b64decode(authorization[6:], validate=True).decode().partition(":")
        except ValueError:
            raise ProviderError("invalid_client", "malformed Basic credentials", 401) from None
        methods.append(("client_secret_basic", unquote_plus(user), unquote_plus(password)))
    if "client_secret" in form:
        methods.append(("client_secret_post", form.get("client_id", ""), form["client_secret"]))
    if "client_assertion" in form:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise ProviderError("invalid_client", "client_assertion_type must be jwt-bearer", 401)
        methods.append(("private_key_jwt", form.get("client_id", ""), form["client_assertion"]))
    if len(methods) != 1:
        raise ProviderError("invalid_client", "use exactly one client authentication method", 401)
    method, client_id, credential = methods[0]
    if method == "private_key_jwt" and not client_id:
        client_id = _unverified_issuer(credential)
    return method, client_id, credential


def _unverified_issuer(token: str) -> str:
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, UnicodeDecodeError):
        return ""
    return str(claims.get("iss", "")) if isinstance(claims, dict) else ""


def check_client_secret(client: Client, secret: str) -> None:
    """Compare a presented secret with the client's in constant time."""
    expected = (client.client_secret or "").encode()
    if client.client_secret is None or not hmac.compare_digest(expected, secret.encode()):
        raise ProviderError("invalid_client", "client authentication failed", 401)


def check_client_assertion(client: Client, token: str, audiences: tuple[str, ...], now: int) -> tuple[str, int]:
    """Check a ``private_key_jwt`` assertion (RFC 7523 §3); return its ``(jti, exp)`` for the replay check.

    The signature must verify with the client's JWKS under an allowed algorithm; ``iss`` and ``sub``
    are the client id; ``aud`` names the issuer, token endpoint or PAR endpoint (RFC 9126 §2);
    ``exp`` is in the future but not more than an hour ahead.
    """

    def refuse(why: str) -> ProviderError:
        return ProviderError("invalid_client", f"client assertion refused: {why}", 401)

    if client.jwks is None:
        raise refuse("this client has no registered keys")
    try:
        decoded = jwt.decode(token, KeySet.import_key_set(client.jwks), algorithms=list(ASSERTION_ALGORITHMS))  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001  joserfc raises several error types for bad tokens and keys
        raise refuse(f"signature does not verify with the registered keys ({type(exc).__name__})") from None
    claims = decoded.claims
    if claims.get("iss") != client.client_id or claims.get("sub") != client.client_id:
        raise refuse("iss and sub must be the client_id")
    aud = claims.get("aud")
    if not any(a in audiences for a in (aud if isinstance(aud, list) else [aud])):
        raise refuse("aud must name this provider's issuer or endpoint")
    exp, jti = claims.get("exp"), claims.get("jti")
    if not isinstance(exp, int) or exp <= now:
        raise refuse("expired or no exp")
    if exp - now > MAX_ASSERTION_LIFETIME:
        raise refuse("exp is more than an hour ahead")
    if not isinstance(jti, str) or not jti:
        raise refuse("no jti")
    return jti, exp


def pairwise_subject(issuer: str, persona_key: str, client_id: str) -> str:
    """The persona's subject for ``client_id``: stable across restarts, different per client (OIDC Core §8.1)."""
    mac = hmac.new(f"eid-provider-pairwise:{issuer}".encode(), f"{persona_key}\0{client_id}".encode(), "sha256")
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def identity_claims(persona: Persona) -> dict[str, Any]:
    """What the eID card says about the persona, as OIDC claims."""
    claims: dict[str, Any] = {
        "given_name": persona.given_name,
        "family_name": persona.family_name,
        "birthdate": persona.birthdate,
        "place_of_birth": {"locality": persona.place_of_birth},
        "nationalities": [persona.nationality],
        "address": dict(persona.address),
    }
    if persona.birth_name:
        claims["birth_family_name"] = persona.birth_name
    return claims


def id_token_claims(
    issuer: str, client_id: str, persona: Persona, *, nonce: str | None, auth_time: int, now: int
) -> dict[str, Any]:
    """The ID token's claims (OIDC Core §2): the persona's true ``acr``, whatever was asked."""
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": pairwise_subject(issuer, persona.key, client_id),
        "aud": client_id,
        "azp": client_id,
        "iat": now,
        "exp": now + 300,
        "auth_time": auth_time,
        "acr": ACR[persona.level],
        "amr": AMR[persona.level],
        **identity_claims(persona),
    }
    if nonce is not None:
        claims["nonce"] = nonce
    return claims
