"""The OpenID Connect relying party's network side: discovery, JWKS, PAR, token exchange.

The rules live in :mod:`vault.identity.oidc` (pure); this module only fetches and posts.
Failure semantics: every network failure, timeout, oversized (> 1 MiB) or non-JSON answer, and every
5xx is ``IdentityError("provider_unreachable")``; a 4xx from the token endpoint is
``IdentityError("token_rejected")`` (a replayed or expired code, a wrong verifier). The discovery
document and the JWKS are cached per provider for an hour; an ID token naming an unknown ``kid``
refetches the JWKS at most once per minute per provider, so a flood of forged tokens cannot make the
vault hammer the provider. The ``state`` is spent (:meth:`IdentityRequests.take`) before any other
check, so a failed callback cannot be retried with the same state. A refetched discovery document
whose endpoints differ from the one the operator registered is not used (``provider_unreachable``,
logged): the provider must be registered again.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
import warnings
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import httpx
import structlog
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from vault.crypto.aead import InvalidCiphertext
from vault.identity.model import IdentityError
from vault.identity.oidc import (
    DiscoveryInvalid,
    UnknownKeyId,
    authorization_params,
    changed_endpoints,
    check_callback,
    check_discovery,
    client_assertion,
    discovery_url,
    pkce_pair,
    validate_id_token,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from vault.identity.model import ProvenIdentity, Purpose, StartedRequest
    from vault.identity.oidc import Discovery
    from vault.identity.providers import ProviderConfig, Providers
    from vault.identity.requests import IdentityRequests

log = structlog.get_logger("vault.identity")

#: Answers larger than this are refused.
MAX_RESPONSE_BYTES = 1024 * 1024
#: Whole-request time limit (connect, send, read) in seconds.
TIMEOUT_S = 10.0
#: How long a discovery document or a JWKS is used before it is fetched again.
CACHE_S = 3600.0
#: Minimum time between two JWKS refetches caused by an unknown ``kid``.
REFETCH_S = 60.0


def _with_query(url: str, params: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params, quote_via=quote)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


class OidcClient:
    """Begin and finish sign-ins at OIDC providers.

    ``http_client`` makes a fresh :class:`httpx.AsyncClient` (the app's, with its proxy and CA
    settings; tests pass one on an ASGI or mock transport); it is closed after each operation.
    ``clock`` (monotonic seconds) drives the caches; tests inject it instead of sleeping.
    """

    def __init__(
        self,
        providers: Providers,
        requests: IdentityRequests,
        vault_issuer: str,
        http_client: Callable[[], httpx.AsyncClient],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.providers = providers
        self.requests = requests
        self.redirect_uri = f"{vault_issuer.rstrip('/')}/login/idp/callback"
        self.http_client = http_client
        self.clock = clock
        self._discovery: dict[str, tuple[float, Discovery]] = {}
        self._jwks: dict[str, tuple[float, KeySet]] = {}
        self._last_refetch: dict[str, float] = {}
        self._lock = asyncio.Lock()

    async def begin(
        self,
        provider: ProviderConfig,
        *,
        purpose: Purpose,
        level: str,
        next_path: str,
        citizen_id: str | None,
        browser: str | None,
        session: str | None = None,
        ui_locales: str | None = None,
    ) -> tuple[str, str]:
        """Start a sign-in; returns (URL to send the browser to, value for the ``__Host-vault-idp`` cookie).

        ``session`` is the browser's session token, if any: it ends when the sign-in finishes.
        ``ui_locales`` (OIDC Core §3.1.2.1) asks the provider's pages to speak the vault page's language.

        Uses PAR (RFC 9126) when the provider offers it: the browser then carries only ``client_id``
        and ``request_uri``.
        """
        if provider.kind != "oidc" or provider.disabled:
            raise IdentityError("provider_disabled", "not an enabled OIDC provider")
        discovery = await self.discovery(provider)
        nonce = secrets.token_urlsafe(32)
        verifier, _ = pkce_pair()
        state, cookie = await self.requests.store(
            provider.id,
            purpose=purpose,
            level=level,
            next_path=next_path,
            citizen_id=citizen_id,
            nonce=nonce,
            code_verifier=verifier,
            browser=browser,
            session=session,
        )
        params = authorization_params(
            provider, redirect_uri=self.redirect_uri, state=state, nonce=nonce, code_verifier=verifier, level=level
        )
        if ui_locales in {"de", "en"}:
            params["ui_locales"] = ui_locales
        if discovery.par_endpoint is None:
            return _with_query(discovery.authorization_endpoint, params), cookie
        data, headers = self._client_auth(provider, discovery)
        answer = await self._post(discovery.par_endpoint, {**params, **data}, headers)
        request_uri = answer.get("request_uri") if isinstance(answer, dict) else None
        if not isinstance(request_uri, str) or not request_uri or len(request_uri) > 2000:
            raise IdentityError("provider_unreachable", "PAR answered no request_uri")
        return _with_query(
            discovery.authorization_endpoint, {"client_id": provider.client_id, "request_uri": request_uri}
        ), cookie

    async def finish(self, params: Mapping[str, str], browser: str | None) -> tuple[StartedRequest, ProvenIdentity]:
        """Finish a sign-in from the callback's parameters (``code``, ``state``, ``iss`` or ``error``).

        Raises:
            IdentityError: with one of :data:`vault.identity.model.ERROR_CODES`.
        """
        started = await self.requests.take(params.get("state", ""), browser)
        provider = await self.providers.get(started.provider_id)
        if provider is None or provider.kind != "oidc":
            raise IdentityError("provider_disabled", "provider disabled or removed")
        discovery = await self.discovery(provider)
        # RFC 9207 stays required once the registered document promised it, whatever a refetch says now
        iss_required = discovery.iss_parameter_supported or _promised_iss(provider.metadata_doc)
        code = check_callback(params, issuer=provider.issuer, iss_required=iss_required)
        data, headers = self._client_auth(provider, discovery)
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": started.code_verifier,
            **data,
        }
        tokens = await self._post(discovery.token_endpoint, form, headers, token_endpoint=True)
        id_token = tokens.get("id_token") if isinstance(tokens, dict) else None
        if not isinstance(id_token, str):
            raise IdentityError("invalid_id_token", "the token response has no id_token")
        proven = await self._validate(provider, discovery, id_token, started.nonce)
        return started, proven

    async def discovery(self, provider: ProviderConfig) -> Discovery:
        """The provider's checked discovery document (cached for :data:`CACHE_S`)."""
        cached = self._discovery.get(provider.id)
        if cached is not None and self.clock() - cached[0] < CACHE_S:
            return cached[1]
        doc = await self._get(discovery_url(provider.issuer))
        try:
            discovery = check_discovery(doc, provider.issuer, provider.auth_method)
        except DiscoveryInvalid as exc:
            raise IdentityError("provider_unreachable", f"discovery: {exc.reason}") from None
        changed = changed_endpoints(discovery, provider.metadata_doc)
        if changed:
            fix = f"check the change and run `vault idp update {provider.id}`"
            log.warning("identity provider endpoints changed", provider=provider.id, endpoints=changed, fix=fix)
            raise IdentityError("provider_unreachable", f"discovery: {', '.join(changed)} endpoints changed; {fix}")
        self._discovery[provider.id] = (self.clock(), discovery)
        return discovery

    async def _validate(
        self, provider: ProviderConfig, discovery: Discovery, id_token: str, nonce: str
    ) -> ProvenIdentity:
        jwks = await self._keys(provider, discovery, refetch=False)
        try:
            return _validate_quietly(id_token, jwks, provider, nonce)
        except UnknownKeyId:
            jwks = await self._keys(provider, discovery, refetch=True)
            return _validate_quietly(id_token, jwks, provider, nonce)

    async def _keys(self, provider: ProviderConfig, discovery: Discovery, *, refetch: bool) -> KeySet:
        async with self._lock:
            cached = self._jwks.get(provider.id)
            now = self.clock()
            if refetch:
                last = self._last_refetch.get(provider.id)
                if cached is not None and last is not None and now - last < REFETCH_S:
                    return cached[1]  # refetched a moment ago: the unknown kid stays unknown
                self._last_refetch[provider.id] = now
            elif cached is not None and now - cached[0] < CACHE_S:
                return cached[1]
            doc = await self._get(discovery.jwks_uri)
            try:
                jwks = KeySet.import_key_set(doc)  # type: ignore[arg-type]  # checked by joserfc
            except (JoseError, ValueError, TypeError, KeyError):
                raise IdentityError("provider_unreachable", "JWKS is malformed") from None
            if any(key.is_private for key in jwks.keys):
                raise IdentityError("provider_unreachable", "JWKS contains private keys")
            self._jwks[provider.id] = (now, jwks)
            return jwks

    def _client_auth(self, provider: ProviderConfig, discovery: Discovery) -> tuple[dict[str, str], dict[str, str]]:
        """Form fields and headers that authenticate the vault at the provider."""
        try:
            secret = self.providers.secret(provider)
        except InvalidCiphertext:
            raise IdentityError("provider_disabled", "the provider's secret cannot be opened") from None
        if provider.auth_method == "private_key_jwt":
            try:
                key = self.providers.client_key(provider)
            except ValueError:
                raise IdentityError("provider_disabled", "the provider's key is unusable") from None
            assertion = client_assertion(
                key, client_id=provider.client_id, audience=discovery.issuer, now=datetime.now(UTC)
            )
            return {
                "client_id": provider.client_id,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion,
            }, {}
        if provider.auth_method == "client_secret_post":
            return {"client_id": provider.client_id, "client_secret": secret.decode()}, {}
        basic = f"{quote(provider.client_id, safe='')}:{quote(secret.decode(), safe='')}"
        return {}, {"Authorization": "Basic " + base64.b64encode(basic.encode()).decode()}

    async def _get(self, url: str) -> object:
        return await fetch_json(self.http_client, "GET", url)

    async def _post(
        self, url: str, form: Mapping[str, str], headers: Mapping[str, str], *, token_endpoint: bool = False
    ) -> object:
        return await fetch_json(self.http_client, "POST", url, form, headers, token_endpoint=token_endpoint)


def _promised_iss(registered_doc: str) -> bool:
    """Whether the discovery document stored at registration advertised RFC 9207 ``iss`` in responses."""
    try:
        doc = json.loads(registered_doc)
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("authorization_response_iss_parameter_supported") is True


async def fetch_json(
    http_client: Callable[[], httpx.AsyncClient],
    method: str,
    url: str,
    form: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    *,
    token_endpoint: bool = False,
) -> object:
    """``method url`` and its JSON answer, size- and time-limited, redirects not followed.

    Raises:
        IdentityError: ``provider_unreachable`` for a network failure, timeout, non-2xx, oversized
            or non-JSON answer; ``client_rejected`` for a 401 or ``invalid_client`` (the operator's client
            id, key or secret is wrong); ``token_rejected`` for another 4xx when ``token_endpoint`` is set.
    """
    try:
        async with asyncio.timeout(TIMEOUT_S), http_client() as client:
            request = client.build_request(
                method, url, data=form, headers={"Accept": "application/json", **(headers or {})}, timeout=TIMEOUT_S
            )
            response = await client.send(request, stream=True, follow_redirects=False)
            try:
                body = await _read_limited(response)
            finally:
                await response.aclose()
    except (httpx.HTTPError, TimeoutError, OSError) as exc:
        raise IdentityError("provider_unreachable", f"{method} {url}: {type(exc).__name__}") from None
    if 400 <= response.status_code < 500:
        error = _oauth_error(body)
        # the vault's own registration is wrong: only where it presents its credentials (PAR, token)
        if method == "POST" and (response.status_code == 401 or error == "invalid_client"):
            raise IdentityError("client_rejected", f"{method} {url}: status {response.status_code}, error {error}")
        if token_endpoint:
            raise IdentityError("token_rejected", f"token endpoint answered {response.status_code}, error {error}")
    if not 200 <= response.status_code < 300:
        raise IdentityError("provider_unreachable", f"{method} {url}: status {response.status_code}")
    try:
        return json.loads(body)
    except (ValueError, UnicodeError):
        raise IdentityError("provider_unreachable", f"{method} {url}: not JSON") from None


def _oauth_error(body: bytes) -> str | None:
    """The ``error`` code of an OAuth error answer (RFC 6749 §5.2), if it has one of sane length."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    error = doc.get("error") if isinstance(doc, dict) else None
    return error if isinstance(error, str) and len(error) <= 100 else None


async def _read_limited(response: httpx.Response) -> bytes:
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > MAX_RESPONSE_BYTES:
            raise IdentityError("provider_unreachable", "answer too large")
    return bytes(body)


def _validate_quietly(id_token: str, jwks: KeySet, provider: ProviderConfig, nonce: str) -> ProvenIdentity:
    """:func:`validate_id_token` without joserfc's deprecation warning for ``EdDSA`` (RFC 9864)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return validate_id_token(id_token, jwks, provider, nonce=nonce)
