"""The OIDC relying party end to end: begin -> the test eID provider (examples.eid_provider) -> finish.

The provider runs in-process behind an ASGI transport; a counting transport sees every call the vault
makes to it. The browser's part (following the authorization redirect) is played by a second client.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey

from examples.eid_provider.app import create_app
from examples.eid_provider.clients import Client
from examples.eid_provider.personas import ACR
from vault.config import load_settings
from vault.crypto.aead import InvalidCiphertext
from vault.crypto.idp import ProviderSecrets
from vault.db.engine import create_engine, session_factory
from vault.db.models import Base
from vault.identity.claims import DEFAULT_OIDC_CLAIMS
from vault.identity.model import IdentityError
from vault.identity.oidc_client import MAX_RESPONSE_BYTES, OidcClient
from vault.identity.providers import Providers
from vault.identity.requests import IdentityRequests

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from litestar import Litestar

ISSUER = "http://127.0.0.1:8081"
VAULT = "https://vault.example"
REDIRECT_URI = f"{VAULT}/login/idp/callback"
ACR_MAP = {ACR["high"]: "high", ACR["substantial"]: "substantial"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Counting(httpx.AsyncBaseTransport):
    """Passes requests to the provider app, counting them by path; can edit the discovery document."""

    def __init__(self, app: Litestar) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.calls: list[str] = []
        self.without_par = False
        self.replace: dict[str, httpx.Response] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request.url.path)
        if request.url.path in self.replace:
            return self.replace[request.url.path]
        response = await self.inner.handle_async_request(request)
        if self.without_par and request.url.path == "/.well-known/openid-configuration":
            await response.aread()
            doc = json.loads(response.content)
            doc.pop("pushed_authorization_request_endpoint")
            return httpx.Response(200, json=doc)
        return response

    def count(self, path: str) -> int:
        return self.calls.count(path)


class World:
    """The vault's identity side on a fresh database, and the provider it signs in through."""

    def __init__(self, providers: Providers, requests: IdentityRequests, tmp_path: Path) -> None:
        self.providers = providers
        self.requests = requests
        key = ec.generate_private_key(ec.SECP256R1())
        self.pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        public = ECKey.import_key(self.pem)
        jwk = {**public.as_dict(private=False), "kid": public.thumbprint()}
        self.app = create_app(
            ISSUER,
            [
                Client("vault-jwt", (REDIRECT_URI,), jwks={"keys": [jwk]}),
                Client("vault-secret", (REDIRECT_URI,), client_secret="s3cret-for-the-test"),
            ],
        )
        self.op = self.app.state.provider
        self.op.auto_persona = "erika"
        self.transport = Counting(self.app)
        self.clock = Clock()
        self.client = OidcClient(providers, requests, VAULT, self.http, clock=self.clock)
        self.browser = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=ISSUER)

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.transport)

    def served_discovery(self) -> dict[str, Any]:
        """The discovery document the provider serves now (through the transport's edits)."""
        doc = self.op.discovery()
        if self.transport.without_par:
            doc.pop("pushed_authorization_request_endpoint")
        return doc

    async def add(self, *, client_id: str = "vault-jwt", method: str = "private_key_jwt", secret: bytes = b"") -> Any:
        """Register the provider as `vault idp add` does: with the discovery document it serves now."""
        provider_id = await self.providers.add(
            name="Test-eID", kind="oidc", issuer=ISSUER, client_id=client_id, auth_method=method,
            secret=secret or self.pem, acr_map=ACR_MAP, claims_map=DEFAULT_OIDC_CLAIMS,
            metadata_doc=json.dumps(self.served_discovery()),
        )  # fmt: skip
        provider = await self.providers.get(provider_id)
        assert provider is not None
        return provider

    async def begin(self, provider: Any, *, level: str = "high", browser: str | None = None) -> tuple[str, str]:
        return await self.client.begin(
            provider, purpose="login", level=level, next_path="/", citizen_id=None, browser=browser
        )

    async def at_provider(self, url: str) -> dict[str, str]:
        """The browser goes to the provider and comes back: the callback's query parameters."""
        parts = urlsplit(url)
        answer = await self.browser.get(parts.path + "?" + parts.query)
        assert answer.status_code == 303, answer.text
        back = answer.headers["location"]
        assert back.startswith(REDIRECT_URI + "?")
        return {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}

    async def sign_in(self, provider: Any, **kwargs: Any) -> tuple[dict[str, str], str]:
        url, cookie = await self.begin(provider, **kwargs)
        return await self.at_provider(url), cookie


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    settings = load_settings({}, data_dir=str(tmp_path / "var"), database_url=f"sqlite+aiosqlite:///{tmp_path}/v.db")
    engine = create_engine(settings)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    sessions = session_factory(engine)
    w = World(Providers(sessions, ProviderSecrets(os.urandom(32))), IdentityRequests(sessions), tmp_path)
    try:
        yield w
    finally:
        await w.browser.aclose()
        await engine.dispose()


async def expect(code: str, awaitable: Any) -> IdentityError:
    with pytest.raises(IdentityError) as refused:
        await awaitable
    assert refused.value.code == code, refused.value
    return refused.value


async def test_sign_in_with_par_and_private_key_jwt(world: World) -> None:
    provider = await world.add()
    url, cookie = await world.begin(provider)
    assert set(parse_qs(urlsplit(url).query)) == {"client_id", "request_uri"}  # PAR: nothing else in the browser
    assert world.transport.count("/par") == 1
    params = await world.at_provider(url)
    started, proven = await world.client.finish(params, cookie)
    assert (started.purpose, started.level, started.next) == ("login", "high", "/")
    assert (proven.provider_id, proven.level, proven.acr) == (provider.id, "high", ACR["high"])
    assert proven.claims["family_name"] == "Mustermann"
    assert proven.claims["address"]["house_number"] == "17"  # type: ignore[index]
    assert proven.subject


async def test_without_par_the_plain_authorization_url_carries_pkce_nonce_and_acr_values(world: World) -> None:
    world.transport.without_par = True
    provider = await world.add()
    url, cookie = await world.begin(provider, level="substantial")
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query["code_challenge_method"] == "S256"
    assert query["acr_values"] == f"{ACR['high']} {ACR['substantial']}"
    assert query["scope"] == "openid"
    assert query["redirect_uri"] == REDIRECT_URI
    assert len(query["nonce"]) >= 32
    assert world.transport.count("/par") == 0
    world.op.auto_persona = "max"  # at substantial: a lower level than "high" would be returned, not refused
    _, proven = await world.client.finish(await world.at_provider(url), cookie)
    assert proven.level == "substantial"


async def test_client_secret_basic(world: World) -> None:
    provider = await world.add(client_id="vault-secret", method="client_secret_basic", secret=b"s3cret-for-the-test")
    params, cookie = await world.sign_in(provider)
    _, proven = await world.client.finish(params, cookie)
    assert proven.level == "high"


async def test_a_wrong_client_secret_is_the_operators_fault_not_the_citizens(world: World) -> None:
    """A 401 / ``invalid_client`` means the vault's registration is wrong: its own code, so the page does not
    blame the citizen and the log warns the operator (the review found it reported as "unreachable")."""
    world.transport.without_par = True  # PAR would refuse the secret already
    provider = await world.add(client_id="vault-secret", method="client_secret_post", secret=b"wrong")
    params, cookie = await world.sign_in(provider)
    await expect("client_rejected", world.client.finish(params, cookie))


async def test_a_wrong_client_secret_is_refused_at_par_as_the_operators_fault(world: World) -> None:
    provider = await world.add(client_id="vault-secret", method="client_secret_post", secret=b"wrong")
    await expect("client_rejected", world.begin(provider))


async def test_state_works_once(world: World) -> None:
    provider = await world.add()
    params, cookie = await world.sign_in(provider)
    await world.client.finish(params, cookie)
    await expect("unknown_state", world.client.finish(params, cookie))


async def test_a_state_from_another_browser_is_refused_and_spent(world: World) -> None:
    provider = await world.add()
    params, cookie = await world.sign_in(provider)
    _, other_cookie = await world.begin(provider)  # the attacker's own browser cookie
    await expect("unknown_state", world.client.finish(params, other_cookie))
    await expect("unknown_state", world.client.finish(params, None))
    await expect("unknown_state", world.client.finish(params, cookie))  # spent by the first attempt


async def test_a_replayed_code_is_token_rejected(world: World) -> None:
    world.transport.without_par = True  # a plain request shows the state the replay goes with
    provider = await world.add()
    params, cookie = await world.sign_in(provider)
    await world.client.finish(params, cookie)
    url, cookie2 = await world.begin(provider, browser=cookie)
    state = parse_qs(urlsplit(url).query)["state"][0]
    replay = {**params, "state": state}
    await expect("token_rejected", world.client.finish(replay, cookie2))


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"iss": "https://evil.example"}, "wrong_issuer"),
        ({"iss": None}, "wrong_issuer"),  # the provider advertises RFC 9207: iss is required
        ({"code": None}, "provider_error"),
    ],
)
async def test_callback_faults(world: World, change: dict[str, str | None], code: str) -> None:
    provider = await world.add()
    params, cookie = await world.sign_in(provider)
    changed = {k: v for k, v in {**params, **change}.items() if v is not None}
    await expect(code, world.client.finish(changed, cookie))
    await expect("unknown_state", world.client.finish(params, cookie))  # the state is spent anyway


async def test_cancel_at_the_provider(world: World) -> None:
    provider = await world.add()
    url, cookie = await world.begin(provider)
    world.op.auto_persona = None
    parts = urlsplit(url)
    choose = await world.browser.get(parts.path + "?" + parts.query)
    ticket = parse_qs(urlsplit(choose.headers["location"]).query)["ticket"][0]
    back = await world.browser.post("/choose", data={"ticket": ticket, "cancel": "1"})
    params = {k: v[0] for k, v in parse_qs(urlsplit(back.headers["location"]).query).items()}
    await expect("provider_error", world.client.finish(params, cookie))


async def test_a_bad_id_token_through_the_whole_flow(world: World) -> None:
    provider = await world.add()
    world.op.tamper = lambda header, claims: (header, {**claims, "nonce": "not-ours"})
    params, cookie = await world.sign_in(provider)
    await expect("invalid_id_token", world.client.finish(params, cookie))


async def test_key_rotation_refetches_the_jwks_once_and_a_flood_of_unknown_kids_does_not(world: World) -> None:
    provider = await world.add()
    params, cookie = await world.sign_in(provider)
    await world.client.finish(params, cookie)
    assert world.transport.count("/jwks") == 1
    params, cookie = await world.sign_in(provider)
    await world.client.finish(params, cookie)
    assert world.transport.count("/jwks") == 1  # cached

    world.op.rotate_keys()
    params, cookie = await world.sign_in(provider)
    await world.client.finish(params, cookie)  # the new kid: fetched once
    assert world.transport.count("/jwks") == 2

    world.op.tamper = lambda header, claims: ({**header, "kid": "unknown"}, claims)
    for _ in range(5):
        params, cookie = await world.sign_in(provider)
        await expect("invalid_id_token", world.client.finish(params, cookie))
    assert world.transport.count("/jwks") == 2  # within 60 s of the last refetch: none more
    world.clock.now += 61
    params, cookie = await world.sign_in(provider)
    await expect("invalid_id_token", world.client.finish(params, cookie))
    assert world.transport.count("/jwks") == 3


async def test_discovery_is_cached_for_an_hour(world: World) -> None:
    provider = await world.add()
    for _ in range(3):
        await world.begin(provider)
    assert world.transport.count("/.well-known/openid-configuration") == 1
    world.clock.now += 3601
    await world.begin(provider)
    assert world.transport.count("/.well-known/openid-configuration") == 2


CHANGED_ENDPOINTS = [
    ("token_endpoint", "https://attacker.example/token"),
    ("jwks_uri", f"{ISSUER}/other-jwks"),
    ("authorization_endpoint", "https://phish.example/authorize"),
    ("pushed_authorization_request_endpoint", None),  # PAR dropped: a downgrade is a change too
    ("pushed_authorization_request_endpoint", f"{ISSUER}/par2"),
]


@pytest.mark.parametrize(("name", "value"), CHANGED_ENDPOINTS, ids=[f"{n}={v}" for n, v in CHANGED_ENDPOINTS])
async def test_a_discovery_document_that_moves_an_endpoint_after_registration_is_not_used(
    world: World, name: str, value: str | None
) -> None:
    provider = await world.add()
    params, cookie = await world.sign_in(provider)  # begun with the registered endpoints
    moved = {k: v for k, v in {**world.op.discovery(), name: value}.items() if v is not None}
    world.transport.replace["/.well-known/openid-configuration"] = httpx.Response(200, json=moved)
    world.clock.now += 3601  # the hourly refetch
    calls = len(world.transport.calls)
    refused = await expect("provider_unreachable", world.client.finish(params, cookie))
    assert "vault idp update" in refused.detail
    assert name in refused.detail
    assert world.transport.calls[calls:] == ["/.well-known/openid-configuration"]  # no code sent anywhere
    await expect("provider_unreachable", world.begin(provider))  # not cached: refused every time


async def test_a_provider_stored_without_its_discovery_document_is_not_used(world: World) -> None:
    provider = replace(await world.add(), metadata_doc="{}")
    refused = await expect("provider_unreachable", world.begin(provider))
    assert "vault idp update" in refused.detail


async def test_an_unreachable_provider(world: World, tmp_path: Path) -> None:
    provider = await world.add()

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    world.client.http_client = lambda: httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    await expect("provider_unreachable", world.begin(provider))


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, content=b"not json"),
        httpx.Response(500, json={}),
        httpx.Response(302, headers={"location": "https://elsewhere.example/"}),
        httpx.Response(200, content=b"[" + b" " * MAX_RESPONSE_BYTES + b"]"),
    ],
    ids=["garbage", "5xx", "redirect", "oversized"],
)
async def test_garbage_from_the_provider_is_unreachable(world: World, answer: httpx.Response) -> None:
    provider = await world.add()
    world.transport.replace["/token"] = answer
    params, cookie = await world.sign_in(provider)
    await expect("provider_unreachable", world.client.finish(params, cookie))


async def test_a_discovery_document_for_another_issuer_is_unreachable(world: World) -> None:
    provider = await world.add()
    world.transport.replace["/.well-known/openid-configuration"] = httpx.Response(
        200, json={**world.op.discovery(), "issuer": "https://evil.example"}
    )
    await expect("provider_unreachable", world.begin(provider))


async def test_a_disabled_provider(world: World) -> None:
    provider = await world.add()
    params, cookie = await world.sign_in(provider)
    assert await world.providers.disable(provider.id)
    assert not await world.providers.disable(provider.id)
    await expect("provider_disabled", world.client.finish(params, cookie))
    assert await world.providers.get(provider.id) is None
    assert await world.providers.enabled() == []
    disabled = await world.providers.get(provider.id, enabled_only=False)
    assert disabled is not None
    assert disabled.disabled
    await expect("provider_disabled", world.begin(disabled))


async def test_the_secret_is_sealed_and_bound_to_its_provider(world: World) -> None:
    a = await world.add()
    await world.providers.disable(a.id)  # one enabled provider per issuer
    b = await world.add(client_id="vault-secret", method="client_secret_basic", secret=b"s3cret-for-the-test")
    assert world.providers.secret(a) == world.pem
    assert world.pem not in a.secret_sealed
    assert b"s3cret" not in b.secret_sealed
    with pytest.raises(InvalidCiphertext):
        world.providers.secret(replace(a, secret_sealed=b.secret_sealed))
    other = Providers(world.providers.sessions, ProviderSecrets(os.urandom(32)))
    with pytest.raises(InvalidCiphertext):
        other.secret(a)


@pytest.mark.parametrize(
    "jwks",
    [
        {"keys": [ECKey.generate_key("P-256").as_dict(private=True)]},  # a JWKS must never carry private keys
        {"keys": "none"},
        ["not", "a", "set"],
    ],
    ids=["private key", "keys not a list", "not an object"],
)
async def test_a_bad_jwks_is_unreachable(world: World, jwks: object) -> None:
    provider = await world.add()
    world.transport.replace["/jwks"] = httpx.Response(200, json=jwks)
    params, cookie = await world.sign_in(provider)
    await expect("provider_unreachable", world.client.finish(params, cookie))
