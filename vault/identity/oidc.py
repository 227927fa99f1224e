"""OpenID Connect relying party rules, pure: no I/O (the network side is :mod:`vault.identity.oidc_client`).

* :func:`check_discovery` — the provider's discovery document is usable and safe: its ``issuer``
  equals the configured one exactly, every endpoint passes :func:`is_allowed_endpoint`, PKCE S256
  and an allowed signing algorithm are offered, our client auth is supported.
* :func:`is_allowed_endpoint` — where the vault may send requests (no SSRF to loopback, private or
  link-local addresses through a provider's discovery document).
* :func:`changed_endpoints` — a refetched discovery document keeps the endpoints checked at registration.
* :func:`authorization_params` — the authorization request (Core §3.1.2.1, RFC 7636, ``acr_values``).
* :func:`check_callback` — the redirect back (RFC 9207 ``iss``, ``error``, ``code``).
* :func:`validate_id_token` — the ID token (Core §3.1.3.7): signature against the provider's JWKS
  with an algorithm allow-list (never ``none``, never HS* — a JWKS is public, so an HMAC "signed"
  with it proves nothing), ``iss``, ``aud``, ``azp``, ``exp``/``iat`` with bounded skew, ``nonce``,
  ``sub``; the ``acr`` is mapped to a level, and a lower level than asked is returned, not refused.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey

from vault.identity.claims import to_attributes
from vault.identity.model import IdentityError, ProvenIdentity

if TYPE_CHECKING:
    from collections.abc import Mapping

    from vault.crypto.idp import ClientKey
    from vault.identity.providers import ProviderConfig

#: Signature algorithms an ID token may use. Never ``none``, never HS* (symmetric).
ALLOWED_ALGS = ("ES256", "ES384", "PS256", "PS384", "EdDSA", "RS256")
#: Bounded clock skew between the provider and the vault.
SKEW = timedelta(seconds=60)
#: An ID token issued longer ago than this is refused (the sign-in itself takes at most ten minutes).
MAX_AGE = timedelta(minutes=10)
#: A compact ID token longer than this is refused before parsing.
MAX_TOKEN_BYTES = 16 * 1024
LEVELS = ("basic", "substantial", "high")
_KEY_TYPES = {"ES": ("EC",), "PS": ("RSA",), "RS": ("RSA",), "Ed": ("OKP",)}
_LOOPBACK_NAMES = ("localhost",)


class DiscoveryInvalid(ValueError):
    """The discovery document is unusable or unsafe; ``reason`` says why (the CLI shows it for ``issuer``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnknownKeyId(IdentityError):
    """The ID token names a ``kid`` the cached JWKS lacks: the client may refetch the JWKS once."""

    def __init__(self, kid: str) -> None:
        super().__init__("invalid_id_token", f"unknown kid {kid[:64]!r}")
        self.kid = kid


@dataclass(frozen=True, slots=True)
class Discovery:
    """The parts of a provider's discovery document (OIDC Discovery §3, RFC 8414) the vault uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    par_endpoint: str | None
    iss_parameter_supported: bool
    signing_algs: tuple[str, ...]
    client_auth_signing_algs: tuple[str, ...] | None


#: ``host[:port]`` of a URL: a bracketed IPv6 literal or ``[a-z0-9.-]`` (no userinfo, no ``*``, no non-ASCII).
_NETLOC = re.compile(r"(?P<host>\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(?P<port>[0-9]{1,5}))?", re.IGNORECASE)
#: One DNS label: 1-63 of ``[a-z0-9-]``, no hyphen at either end.
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
#: The last label of a DNS name starts with a letter, so ``127.1``, ``2130706433`` or ``0x7f.1`` (which a
#: resolver may read as an IPv4 address) are not names.
_TOP_LABEL = re.compile(r"[a-z][a-z0-9-]*")


def url_host(url: str) -> tuple[str, str] | None:
    """``(scheme, host)`` of an absolute URL whose authority is safe to use, else ``None``.

    The host is a DNS name of ``[a-z0-9-]`` labels (lower case, no trailing dot) or an IP literal
    (IPv6 without brackets); the port, if any, is numeric in 1-65535; there is no userinfo, no
    fragment and no whitespace or control character anywhere in the URL.
    """
    if not isinstance(url, str) or any(c <= " " or c == "\x7f" for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    match = _NETLOC.fullmatch(parts.netloc)
    if parts.scheme not in {"https", "http"} or match is None or parts.fragment or "#" in url:
        return None
    port = match["port"]
    if port is not None and not 1 <= int(port) <= 65535:
        return None
    host = match["host"].lower()
    if host.startswith("["):
        try:
            return parts.scheme, str(ipaddress.IPv6Address(host[1:-1]))
        except ValueError:
            return None
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        return None
    if not _TOP_LABEL.fullmatch(labels[-1]):
        try:
            return parts.scheme, str(ipaddress.IPv4Address(host))  # a dotted-quad literal, exactly
        except ValueError:
            return None
    return parts.scheme, host


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _is_loopback(host: str) -> bool:
    ip = _ip(host)
    return host in _LOOPBACK_NAMES if ip is None else ip.is_loopback


def _is_global(host: str) -> bool:
    """A DNS name that is not ``localhost`` / ``*.localhost``, or a globally routable IP literal."""
    ip = _ip(host)
    if ip is None:
        return host != "localhost" and not host.endswith(".localhost")
    return ip.is_global and not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast or ip.is_unspecified
    )


def is_secure_url(url: str) -> bool:
    """A safe URL (:func:`url_host`) that is https, or http on a loopback host (tests, the demo)."""
    checked = url_host(url)
    if checked is None:
        return False
    scheme, host = checked
    return scheme == "https" or _is_loopback(host)


def is_allowed_endpoint(url: str, issuer: str) -> bool:
    """Whether the vault may call (or send the browser to) ``url``, an endpoint of ``issuer``.

    An issuer served over http on loopback (tests, the demo) may name http or https endpoints on
    loopback. Otherwise an endpoint is https on a DNS name other than ``localhost`` / ``*.localhost``,
    or on a global IP literal (never private, loopback, link-local such as 169.254.169.254, reserved,
    multicast or unspecified). DNS names are not resolved here.
    """
    endpoint, reference = url_host(url), url_host(issuer)
    if endpoint is None:
        return False
    scheme, host = endpoint
    if reference is not None and reference[0] == "http" and _is_loopback(reference[1]) and _is_loopback(host):
        return True
    return scheme == "https" and _is_global(host)


def discovery_url(issuer: str) -> str:
    """Where the issuer's discovery document is (OIDC Discovery §4: a trailing ``/`` is dropped first)."""
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def _endpoint(doc: Mapping[str, Any], name: str, issuer: str, *, required: bool = True) -> str | None:
    value = doc.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise DiscoveryInvalid(f"the discovery document has no {name}")
    if len(value) > 2000 or not is_allowed_endpoint(value, issuer):
        raise DiscoveryInvalid(f"{name} must be an https URL on a public host")
    return value


def _strings(doc: Mapping[str, Any], name: str) -> tuple[str, ...] | None:
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DiscoveryInvalid(f"{name} must be a list of strings")
    return tuple(value)


def check_discovery(doc: object, issuer: str, auth_method: str) -> Discovery:
    """Check a provider's discovery document for ``issuer`` and the vault's client ``auth_method``.

    Raises:
        DiscoveryInvalid: the issuer differs (even by a trailing slash), an endpoint is missing or
            not https, S256 PKCE or an allowed signing algorithm is not offered, or the auth method
            is not supported.
    """
    if not is_secure_url(issuer):
        raise DiscoveryInvalid("must be an https URL (http only on loopback)")
    if not isinstance(doc, dict):
        raise DiscoveryInvalid("the discovery document is not a JSON object")
    if doc.get("issuer") != issuer:
        raise DiscoveryInvalid(f"the discovery document names issuer {str(doc.get('issuer'))[:200]!r}")
    if "S256" not in (_strings(doc, "code_challenge_methods_supported") or ()):
        raise DiscoveryInvalid("the provider does not offer PKCE with S256")
    response_types = _strings(doc, "response_types_supported")
    if response_types is not None and "code" not in response_types:
        raise DiscoveryInvalid("the provider does not offer response_type code")
    signing = tuple(a for a in _strings(doc, "id_token_signing_alg_values_supported") or () if a in ALLOWED_ALGS)
    if not signing:
        raise DiscoveryInvalid(f"the provider signs ID tokens with none of {', '.join(ALLOWED_ALGS)}")
    auth_methods = _strings(doc, "token_endpoint_auth_methods_supported") or ("client_secret_basic",)
    if auth_method not in auth_methods:
        raise DiscoveryInvalid(f"the provider does not support {auth_method} at its token endpoint")
    return Discovery(
        issuer=issuer,
        authorization_endpoint=_endpoint(doc, "authorization_endpoint", issuer) or "",
        token_endpoint=_endpoint(doc, "token_endpoint", issuer) or "",
        jwks_uri=_endpoint(doc, "jwks_uri", issuer) or "",
        par_endpoint=_endpoint(doc, "pushed_authorization_request_endpoint", issuer, required=False),
        iss_parameter_supported=doc.get("authorization_response_iss_parameter_supported") is True,
        signing_algs=signing,
        client_auth_signing_algs=_strings(doc, "token_endpoint_auth_signing_alg_values_supported"),
    )


#: The endpoints of a discovery document that must stay as they were when the operator registered the provider.
PINNED_ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri", "pushed_authorization_request_endpoint")


def changed_endpoints(discovery: Discovery, registered_doc: str) -> list[str]:
    """The :data:`PINNED_ENDPOINTS` in which ``discovery`` differs from the document checked at registration.

    ``registered_doc`` is the provider's stored ``metadata_doc``; one that is not a JSON object
    differs in every endpoint (fail closed). A PAR endpoint that appears or disappears is a change.
    """
    try:
        registered = json.loads(registered_doc)
    except (ValueError, TypeError):
        registered = None
    if not isinstance(registered, dict):
        return list(PINNED_ENDPOINTS)
    current = {
        "authorization_endpoint": discovery.authorization_endpoint,
        "token_endpoint": discovery.token_endpoint,
        "jwks_uri": discovery.jwks_uri,
        "pushed_authorization_request_endpoint": discovery.par_endpoint,
    }
    return [name for name in PINNED_ENDPOINTS if registered.get(name) != current[name]]


def pkce_pair() -> tuple[str, str]:
    """A fresh PKCE ``(code_verifier, S256 code_challenge)`` (RFC 7636 §4.1, §4.2)."""
    verifier = secrets.token_urlsafe(48)
    return verifier, code_challenge(verifier)


def code_challenge(verifier: str) -> str:
    """The S256 challenge of ``verifier``."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def acr_values(acr_map: Mapping[str, str], level: str) -> str | None:
    """Every acr value mapped to ``level`` or higher, space-separated; ``None`` for ``basic``."""
    if level not in LEVELS or level == "basic":
        return None
    wanted = LEVELS.index(level)
    values = [acr for acr, mapped in acr_map.items() if mapped in LEVELS and LEVELS.index(mapped) >= wanted]
    return " ".join(values) or None


def authorization_params(
    provider: ProviderConfig,
    *,
    redirect_uri: str,
    state: str,
    nonce: str,
    code_verifier: str,
    level: str,
) -> dict[str, str]:
    """The authorization request's parameters (Core §3.1.2.1 with PKCE S256 and ``acr_values``)."""
    params = {
        "response_type": "code",
        "client_id": provider.client_id,
        "redirect_uri": redirect_uri,
        "scope": "openid",
        "state": state,
        "nonce": nonce,
        "code_challenge": code_challenge(code_verifier),
        "code_challenge_method": "S256",
    }
    acr = acr_values(provider.acr_map, level)
    if acr:
        params["acr_values"] = acr
    return params


def check_callback(params: Mapping[str, str], *, issuer: str, iss_required: bool) -> str:
    """The authorization ``code`` from the callback's parameters.

    RFC 9207: ``iss`` must equal the issuer when the provider advertises
    ``authorization_response_iss_parameter_supported``, and whenever it is present at all.

    Raises:
        IdentityError: ``wrong_issuer``, ``provider_error`` (an ``error`` answer, e.g. the citizen
            cancelled) or ``invalid_id_token`` (no code).
    """
    iss = params.get("iss")
    if (iss is not None or iss_required) and iss != issuer:
        raise IdentityError("wrong_issuer", "missing iss" if iss is None else "iss differs")
    if "error" in params:
        raise IdentityError("provider_error", str(params["error"])[:100])
    code = params.get("code")
    if not code or len(code) > 2000:
        raise IdentityError("provider_error", "no code in the callback")
    return code


def _b64_json(part: str) -> object:
    padded = part + "=" * (-len(part) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))


def _header(token: str) -> dict[str, Any]:
    if len(token) > MAX_TOKEN_BYTES:
        raise IdentityError("invalid_id_token", "oversized token")
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        raise IdentityError("invalid_id_token", "not a compact JWS")
    try:
        header = _b64_json(parts[0])
    except (ValueError, UnicodeError):
        raise IdentityError("invalid_id_token", "malformed header") from None
    if not isinstance(header, dict):
        raise IdentityError("invalid_id_token", "malformed header")
    return header


def _key_for(header: Mapping[str, Any], jwks: KeySet) -> ECKey | RSAKey | OKPKey:
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALLOWED_ALGS:
        raise IdentityError("invalid_id_token", f"algorithm {str(alg)[:20]!r} not allowed")
    if "jku" in header or "jwk" in header or "x5u" in header or "crit" in header:
        raise IdentityError("invalid_id_token", "embedded or remote keys are not accepted")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise IdentityError("invalid_id_token", "malformed kid")
    signing = [k for k in jwks.keys if k.get("use", "sig") == "sig"]
    if kid is not None:
        signing = [k for k in signing if k.kid == kid]
        if not signing:
            raise UnknownKeyId(kid)
    candidates = [k for k in signing if k.key_type in _KEY_TYPES[alg[:2]] and k.get("alg", alg) == alg]
    if len(candidates) != 1:
        raise IdentityError("invalid_id_token", "no single key for the token's kid and alg")
    key = candidates[0]
    assert isinstance(key, ECKey | RSAKey | OKPKey)
    return key


def _claims(token: str, jwks: KeySet) -> dict[str, Any]:
    header = _header(token)
    key = _key_for(header, jwks)
    try:
        signed = jws.deserialize_compact(token, key, algorithms=[str(header["alg"])])
        claims = json.loads(signed.payload)
    except (JoseError, ValueError, UnicodeError):
        raise IdentityError("invalid_id_token", "bad signature or payload") from None
    if not isinstance(claims, dict):
        raise IdentityError("invalid_id_token", "payload is not an object")
    return claims


def _time(claims: Mapping[str, Any], name: str) -> datetime:
    value = claims.get(name)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise IdentityError("invalid_id_token", f"{name} missing")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise IdentityError("invalid_id_token", f"{name} out of range") from None


def _check_audience(claims: Mapping[str, Any], client_id: str) -> None:
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or client_id not in audiences:
        raise IdentityError("invalid_id_token", "aud does not contain the client id")
    azp = claims.get("azp")
    if azp is None and len(audiences) > 1:
        raise IdentityError("invalid_id_token", "azp missing with several audiences")
    if azp is not None and azp != client_id:
        raise IdentityError("invalid_id_token", "azp is not the client id")


def _check_times(claims: Mapping[str, Any], now: datetime) -> None:
    if _time(claims, "exp") <= now - SKEW:
        raise IdentityError("invalid_id_token", "expired")
    iat = _time(claims, "iat")
    if iat > now + SKEW:
        raise IdentityError("invalid_id_token", "issued in the future")
    if iat < now - MAX_AGE:
        raise IdentityError("invalid_id_token", "issued too long ago")


def validate_id_token(
    token: str,
    jwks: KeySet,
    provider: ProviderConfig,
    *,
    nonce: str,
    now: datetime | None = None,
) -> ProvenIdentity:
    """Validate an ID token (Core §3.1.3.7) and say what it proves.

    Raises:
        UnknownKeyId: the token's ``kid`` is not in ``jwks`` (the caller may refetch once).
        IdentityError: ``invalid_id_token`` for every other fault.
    """
    now = now or datetime.now(UTC)
    claims = _claims(token, jwks)
    if claims.get("iss") != provider.issuer:
        raise IdentityError("invalid_id_token", "iss differs")
    _check_audience(claims, provider.client_id)
    _check_times(claims, now)
    if not nonce or claims.get("nonce") != nonce:
        raise IdentityError("invalid_id_token", "nonce differs")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not 1 <= len(sub) <= 255:
        raise IdentityError("invalid_id_token", "sub missing")
    acr = claims.get("acr")
    acr = acr if isinstance(acr, str) else ""
    auth_time = claims.get("auth_time")
    authenticated_at = _time(claims, "auth_time") if auth_time is not None else None
    return ProvenIdentity(
        provider_id=provider.id,
        subject=sub,
        level=provider.acr_map.get(acr, "basic") if acr else "basic",
        acr=acr,
        claims=to_attributes(claims, provider.claims_map),
        authenticated_at=authenticated_at,
    )


def client_assertion(key: ClientKey, *, client_id: str, audience: str, now: datetime) -> str:
    """A ``private_key_jwt`` client assertion (RFC 7523 §3): ``aud`` the issuer, random ``jti``, 60 s."""
    issued = int(now.timestamp())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": secrets.token_urlsafe(24),
        "iat": issued,
        "exp": issued + 60,
    }
    return key.sign_jwt(claims)
