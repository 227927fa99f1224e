"""The agency's side of the vault's OAuth and data API, without I/O.

Each operation is a generator that yields the ``httpx.Request`` to send and receives the
``httpx.Response``; :class:`~agency_sdk.client.AgencyClient` drives it with a blocking client,
:class:`~agency_sdk.client.AsyncAgencyClient` with an async one. The protocol is here once:

* PAR with PKCE (S256) and ``authorization_details``, ``private_key_jwt`` on every call to the
  authorization server, DPoP on the token endpoint and every read;
* the callback is checked for ``iss`` (RFC 9207, mix-up defence) before ``state``;
* DPoP nonces (RFC 9449 §8, §9): the latest ``DPoP-Nonce`` the vault sent goes into every proof, and
  a request refused with ``use_dpop_nonce`` is sent once more with the new nonce;
* clock skew: the vault's ``Date`` header sets the offset added to the local clock for ``iat`` and
  ``exp``; a request refused while the offset moved by more than 30 s is sent once more.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import secrets
import time
from collections.abc import Generator
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx
import msgspec

from agency_sdk.errors import (
    AccessEnded,
    AuthorizationFailed,
    ConfigurationError,
    RequestRejected,
    SdkError,
    VaultUnavailable,
)
from agency_sdk.keys import ASSERTION_TYPE, Key, algorithm, client_assertion, dpop_proof, generate_key, load_private_key
from agency_sdk.models import (
    Authorization,
    DataResult,
    Document,
    Documents,
    Flow,
    Metadata,
    Receipt,
    Tokens,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

T = TypeVar("T")
Step = Generator[httpx.Request, httpx.Response, T]

SKEW_RETRY_S = 30
METADATA_PATH = "/.well-known/oauth-authorization-server"


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _ath(token: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _oauth_error(response: httpx.Response) -> tuple[str | None, str]:
    """``(error, description)`` from a JSON error body or a ``WWW-Authenticate: DPoP`` header."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"], str(body.get("error_description") or body.get("detail") or body["error"])
    challenge = response.headers.get("www-authenticate", "")
    if 'error="' in challenge:
        error = challenge.split('error="', 1)[1].split('"', 1)[0]
        described = 'error_description="' in challenge
        return error, challenge.split('error_description="', 1)[1].split('"', 1)[0] if described else error
    return None, response.text[:200] or response.reason_phrase


def _fail(response: httpx.Response, what: str) -> SdkError:
    """The typed error for a refused ``what``."""
    error, description = _oauth_error(response)
    if response.status_code >= 500:
        return VaultUnavailable(f"{what}: the vault answered {response.status_code}", status=response.status_code)
    if response.status_code == 401 and error == "invalid_token":
        return AccessEnded(description, error=error, status=401)
    return RequestRejected(f"{what}: {description}", error=error, status=response.status_code)


class Protocol:
    """One agency's conversation with one vault: keys, discovered endpoints, nonce, clock offset."""

    def __init__(
        self,
        issuer: str,
        client_id: str,
        private_key: Key | str | bytes | dict[str, Any] | Path,
        *,
        redirect_uri: str | None = None,
        dpop_key: Key | str | bytes | dict[str, Any] | Path | None = None,
        kid: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not issuer.startswith(("https://", "http://")):
            raise ConfigurationError(f"issuer must be an http(s) URL, not {issuer!r}")
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.key = private_key if isinstance(private_key, Key) else load_private_key(private_key)
        algorithm(self.key)  # refuse an unusable key now, not at the first request
        self.kid = kid
        if dpop_key is None:
            dpop_key = generate_key()  # tokens are bound to it: pass your own to keep them across restarts
        self.dpop_key = dpop_key if isinstance(dpop_key, Key) else load_private_key(dpop_key)
        self.redirect_uri = redirect_uri
        self.clock = clock
        self.offset = 0.0  # the vault's clock minus ours, from its Date headers
        self.nonce: str | None = None
        self.metadata: Metadata | None = None

    def now(self) -> int:
        """The vault's time as far as we know it."""
        return int(self.clock() + self.offset)

    # -- plumbing ------------------------------------------------------------------------------

    def _observe(self, response: httpx.Response) -> None:
        if nonce := response.headers.get("dpop-nonce"):
            self.nonce = nonce
        if date := response.headers.get("date"):
            with contextlib.suppress(TypeError, ValueError):
                self.offset = parsedate_to_datetime(date).timestamp() - self.clock()

    def _call(
        self,
        method: str,
        url: str,
        *,
        form: Callable[[], dict[str, str]] | None = None,
        dpop: bool = False,
        token: str | None = None,
        params: dict[str, str] | None = None,
    ) -> Step[httpx.Response]:
        """Send one request; resend once for a new DPoP nonce or a corrected clock."""
        response: httpx.Response | None = None
        for attempt in (1, 2):
            offset = self.offset
            headers = {"Accept": "application/json"}
            if dpop:
                headers["DPoP"] = dpop_proof(
                    self.dpop_key, method, url, self.now(), ath=_ath(token) if token else None, nonce=self.nonce
                )
            if token:
                headers["Authorization"] = f"DPoP {token}"
            response = yield httpx.Request(method, url, data=form() if form else None, headers=headers, params=params)
            self._observe(response)
            if attempt == 2 or response.status_code not in (400, 401):
                break
            error, _ = _oauth_error(response)
            if not (dpop and error == "use_dpop_nonce") and abs(self.offset - offset) <= SKEW_RETRY_S:
                break
        assert response is not None
        return response

    def _client_auth(self, **fields: str) -> Callable[[], dict[str, str]]:
        """The form with a fresh client assertion each time it is sent."""

        def form() -> dict[str, str]:
            assertion = client_assertion(self.key, self.client_id, self.issuer, self.now(), self.kid)
            return {**fields, "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion}

        return form

    def _json(self, response: httpx.Response, what: str, type_: type[T], status: int = 200) -> T:
        if response.status_code != status:
            raise _fail(response, what)
        try:
            return msgspec.json.decode(response.content, type=type_)
        except msgspec.ValidationError as exc:
            raise RequestRejected(f"{what}: unexpected answer ({exc})", status=response.status_code) from None

    # -- discovery -----------------------------------------------------------------------------

    def discover(self) -> Step[Metadata]:
        """The vault's endpoints from its metadata; its ``issuer`` must be the one configured."""
        if self.metadata is None:
            response = yield from self._call("GET", self.issuer + METADATA_PATH)
            metadata = self._json(response, "metadata", Metadata)
            if metadata.issuer != self.issuer:
                raise ConfigurationError(f"the vault says its issuer is {metadata.issuer!r}, not {self.issuer!r}")
            self.metadata = metadata
        return self.metadata

    # -- authorization ---------------------------------------------------------------------------

    def start(
        self,
        service: str,
        *,
        fields: list[str] | None = None,
        documents: list[str] | None = None,
        state: str | None = None,
        redirect_uri: str | None = None,
    ) -> Step[Authorization]:
        """Push the request (PAR): the URL to send the citizen to, and the flow to keep for the callback."""
        metadata = yield from self.discover()
        redirect = redirect_uri or self.redirect_uri
        if not redirect:
            raise ConfigurationError("a redirect_uri is needed (one registered for this agency)")
        verifier, challenge = _pkce()
        state = state or secrets.token_urlsafe(24)
        details: dict[str, Any] = {"type": "vault_access", "service": service}
        if fields is not None:
            details["fields"] = list(fields)
        if documents is not None:
            details["documents"] = list(documents)
        form = self._client_auth(
            client_id=self.client_id,
            response_type="code",
            redirect_uri=redirect,
            code_challenge=challenge,
            code_challenge_method="S256",
            state=state,
            authorization_details=json.dumps([details]),
        )
        response = yield from self._call("POST", metadata.pushed_authorization_request_endpoint, form=form)
        if response.status_code != 201:
            raise _fail(response, "pushed authorization request")
        request_uri = response.json()["request_uri"]
        query = urlencode({"client_id": self.client_id, "request_uri": request_uri}, quote_via=quote)
        flow = Flow(state, verifier, redirect, service, self.now())
        return Authorization(f"{metadata.authorization_endpoint}?{query}", flow)

    def finish(self, flow: Flow, callback: str | Mapping[str, str]) -> Step[Tokens]:
        """Check the callback (``iss``, then ``state``, then ``error``) and exchange the code for tokens."""
        if isinstance(callback, str):
            params = {k: v[0] for k, v in parse_qs(urlsplit(callback).query, keep_blank_values=True).items()}
        else:
            params = dict(callback)
        if params.get("iss") != self.issuer:
            raise AuthorizationFailed(
                "the callback's iss is not this vault (mix-up or forged)", error="invalid_request"
            )
        state = params.get("state") or ""  # compared as bytes: compare_digest raises TypeError on non-ASCII str
        if not state or not secrets.compare_digest(_utf8(state), _utf8(flow.state)):
            raise AuthorizationFailed("the callback's state does not belong to this flow", error="invalid_request")
        if "error" in params:
            raise AuthorizationFailed(params.get("error_description") or params["error"], error=params["error"])
        if not params.get("code"):
            raise AuthorizationFailed("the callback has no code", error="invalid_request")
        metadata = yield from self.discover()
        form = self._client_auth(
            grant_type="authorization_code",
            code=params["code"],
            code_verifier=flow.code_verifier,
            redirect_uri=flow.redirect_uri,
        )
        response = yield from self._call("POST", metadata.token_endpoint, form=form, dpop=True)
        return self._tokens(response, "token request")

    def refresh(self, tokens: Tokens) -> Step[Tokens]:
        """A new access token for the same grant."""
        if tokens.refresh_token is None:
            raise ConfigurationError("these tokens have no refresh token")
        metadata = yield from self.discover()
        form = self._client_auth(grant_type="refresh_token", refresh_token=tokens.refresh_token)
        response = yield from self._call("POST", metadata.token_endpoint, form=form, dpop=True)
        fresh = self._tokens(response, "refresh")
        return msgspec.structs.replace(fresh, refresh_token=fresh.refresh_token or tokens.refresh_token)

    def revoke(self, tokens: Tokens) -> Step[None]:
        """Revoke the refresh and the access token (RFC 7009); the grant itself is the citizen's."""
        metadata = yield from self.discover()
        for token in (tokens.refresh_token, tokens.access_token):
            if token is not None:
                form = self._client_auth(token=token)
                response = yield from self._call("POST", metadata.revocation_endpoint, form=form)
                if response.status_code != 200:
                    raise _fail(response, "revocation")

    def _tokens(self, response: httpx.Response, what: str) -> Tokens:
        if response.status_code != 200:
            raise _fail(response, what)
        body = response.json()
        details = (body.get("authorization_details") or [{}])[0]
        return Tokens(
            access_token=body["access_token"],
            expires_at=self.now() + int(body.get("expires_in", 0)),
            grant_id=body.get("grant_id", ""),
            service=details.get("service", ""),
            fields=tuple(details.get("fields", ())),
            documents=tuple(details.get("documents", ())),
            refresh_token=body.get("refresh_token"),
        )

    # -- reads ---------------------------------------------------------------------------------

    def read_data(self, tokens: Tokens) -> Step[DataResult]:
        """The granted attributes and the read's receipt."""
        response = yield from self._call("GET", f"{self.issuer}/api/v1/data", dpop=True, token=tokens.access_token)
        return self._json(response, "data read", DataResult)

    def list_documents(self, tokens: Tokens) -> Step[Documents]:
        """The granted documents there are, and the kinds still pending."""
        url = f"{self.issuer}/api/v1/documents"
        response = yield from self._call("GET", url, dpop=True, token=tokens.access_token)
        return self._json(response, "document list", Documents)

    def download_document(self, tokens: Tokens, document_id: str) -> Step[Document]:
        """One granted document's content and the read's receipt."""
        url = f"{self.issuer}/api/v1/documents/{quote(document_id, safe='')}"
        response = yield from self._call("GET", url, dpop=True, token=tokens.access_token)
        if response.status_code != 200:
            raise _fail(response, "document download")
        promise = response.headers.get("vault-receipt-promise")
        receipt = Receipt(
            commitment=response.headers["vault-receipt-commitment"],
            promise=base64.b64decode(promise).decode() if promise else None,
        )
        return Document(response.content, response.headers.get("content-type", ""), receipt)

    # -- the log ---------------------------------------------------------------------------------

    def proof_for(self, receipt: Receipt) -> Step[Receipt | None]:
        """The receipt with its inclusion proof once the entry is integrated (``None`` before)."""
        url = f"{self.issuer}/log/receipt"
        response = yield from self._call("GET", url, params={"commitment": receipt.commitment})
        if response.status_code == 404:
            return None
        proven = self._json(response, "receipt", Receipt)
        if proven.commitment != receipt.commitment:
            raise RequestRejected("the vault answered with another commitment's proof")
        return msgspec.structs.replace(proven, promise=receipt.promise)

    def text(self, path: str) -> Step[str]:
        """A public log document (``/log/checkpoint``, ``/log/key``)."""
        response = yield from self._call("GET", self.issuer + path)
        if response.status_code != 200:
            raise _fail(response, path)
        return response.text

    def consistency(self, first: int, second: int) -> Step[list[bytes]]:
        """The consistency proof between two tree sizes."""
        url = f"{self.issuer}/log/proof/consistency"
        response = yield from self._call("GET", url, params={"first": str(first), "second": str(second)})
        if response.status_code != 200:
            raise _fail(response, "consistency proof")
        return [base64.b64decode(h) for h in response.json()["consistency"]]
