"""DESIGN.md §5 and §8 rules that had no test of their own, each tried against the running app.

What the request may not decide (purpose, legal basis, duration, access mode; documents beyond the
service's), whose services an agency may ask for, the size and lifetime of codes, request URIs and
tokens and that they are stored hashed, a consent approval without its CSRF token, the sign-in
redirect, escaping on the consent page and the protective headers.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest
from sqlalchemy import select

from tests.integration.consent.test_oauth_flow import (
    _agency,
    _authorize_url,
    _citizen,
    _code,
    _push,
    _token,
)
from tests.support.agency import pkce_pair
from tests.support.web import PASSWORD, domain, form_token, register
from vault.consent.catalogue import parse_service
from vault.consent.tables import PushedRequest, Token

if TYPE_CHECKING:
    from litestar.testing import AsyncTestClient

    from vault.config import Settings


def _details(**member: Any) -> str:
    return json.dumps([{"type": "vault_access", "service": "ummeldung", **member}])


@pytest.mark.parametrize(
    "member",
    [
        {"purpose": {"de": "Werbung", "en": "Marketing"}},
        {"legal_basis": "Art. 6 (1) a DSGVO"},
        {"max_duration_days": 3650},
        {"access": "ongoing"},
        {"documents": ["id_card"]},  # the service declares only rental_confirmation
        {"fields": ["tax_id"]},  # not one of the service's fields
    ],
)
async def test_the_request_cannot_widen_or_redefine_the_service(
    web: AsyncTestClient[Any], migrated: Settings, member: dict[str, Any]
) -> None:
    agency = await _agency(migrated)
    verifier, challenge = pkce_pair()
    del verifier
    r = await web.post(
        "/oauth/par", data=agency.par_form(challenge=challenge, authorization_details=_details(**member))
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_authorization_details"


async def test_an_agency_cannot_ask_for_another_agencys_or_a_disabled_service(
    web: AsyncTestClient[Any], migrated: Settings
) -> None:
    first = await _agency(migrated)
    second = await _agency(migrated, id='id = "zweiter_dienst"')
    r = await web.post("/oauth/par", data=first.par_form(service="zweiter_dienst"))
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_authorization_details"
    async with domain(migrated) as runtime:
        await runtime.services.catalogue.disable_service("zweiter_dienst")
    r = await web.post("/oauth/par", data=second.par_form(service="zweiter_dienst"))
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_authorization_details"


async def test_codes_request_uris_and_tokens_are_long_short_lived_and_stored_hashed(
    web: AsyncTestClient[Any], migrated: Settings
) -> None:
    agency = await _agency(migrated)
    await _citizen(web, "entropy@example.de")
    request_uri, _, _ = await _push(web, agency)
    assert len(request_uri.rsplit(":", 1)[1]) >= 22  # >= 128 bits of base64url
    code, verifier = await _code(web, agency)
    assert len(code) >= 22
    issued = datetime.now(UTC)
    r = await _token(web, agency, code, verifier)
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["access_token"]) >= 22
    assert 0 < body["expires_in"] <= 300
    async with domain(migrated) as runtime:
        async with runtime.sessions() as db:
            pushed = (await db.scalars(select(PushedRequest))).all()
            tokens = (await db.scalars(select(Token))).all()
        async with runtime.engine.connect() as conn:
            from sqlalchemy import text

            codes = (await conn.execute(text("SELECT code_hash, expires_at FROM oauth_codes"))).all()
    assert all(p.expires_at - issued < timedelta(seconds=600) for p in pushed)
    assert codes
    for code_hash, expires_at in codes:
        assert bytes(code_hash) != code.encode()
        moment = expires_at if isinstance(expires_at, datetime) else datetime.fromisoformat(str(expires_at))
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        assert moment - issued <= timedelta(seconds=61)
    stored = b"".join(bytes(t.token_hash) for t in tokens) + b"".join(bytes(p.request_uri_hash) for p in pushed)
    for secret in (body["access_token"], body.get("refresh_token", "x" * 30), request_uri.rsplit(":", 1)[1], code):
        assert secret.encode() not in stored
    assert all(len(bytes(t.token_hash)) == 32 for t in tokens)


async def test_a_consent_approval_without_the_csrf_token_changes_nothing(
    web: AsyncTestClient[Any], migrated: Settings
) -> None:
    agency = await _agency(migrated)
    await _citizen(web, "csrf-consent@example.de")
    request_uri, _, _ = await _push(web, agency)
    assert (await web.get(_authorize_url(agency, request_uri))).status_code == 200
    form = {"client_id": agency.client_id, "request_uri": request_uri, "decision": "approve"}
    for token in (None, "", "forged-token"):
        data = form if token is None else {**form, "csrf_token": token}
        r = await web.post("/oauth/authorize", data=data)
        assert r.status_code == 403, r.text
        assert "code=" not in r.headers.get("location", "")
    assert (await web.get("/api/v1/me/grants")).json() == {"grants": []}


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/", "/\\evil.example", "http:evil.example", "javascript:alert(1)"],
)
async def test_sign_in_never_redirects_to_another_site(web: AsyncTestClient[Any], target: str) -> None:
    await register(web, "redirect@example.de")
    web.cookies.clear()
    page = await web.get(f"/login?next={quote(target)}")
    r = await web.post(
        "/login",
        data={"username": "redirect@example.de", "password": PASSWORD, "csrf_token": form_token(page.text),
              "next": target},
    )  # fmt: skip
    assert r.status_code == 303
    assert r.headers["location"] == "/"


async def test_the_consent_page_escapes_what_an_agency_registered(
    web: AsyncTestClient[Any], migrated: Settings
) -> None:
    from tests.support.agency import TestAgency
    from tests.support.catalogue import service_toml
    from tests.support.web import BASE_URL

    agency = TestAgency(BASE_URL)
    async with domain(migrated) as runtime:
        agency.client_id = await runtime.services.catalogue.add_agency(
            '<script>alert("amt")</script>', [agency.redirect_uri], agency.jwks()
        )
        toml = service_toml(
            agency.client_id,
            purpose='purpose = { de = "<img src=x onerror=alert(1)>", en = "<b>x</b>" }',
            legal_basis='legal_basis = "<iframe src=//evil.example>"',
        )
        await runtime.services.catalogue.add_service(parse_service(toml))
    await _citizen(web, "escape@example.de")
    request_uri, _, _ = await _push(web, agency)
    page = await web.get(_authorize_url(agency, request_uri))
    assert page.status_code == 200
    for raw in ('<script>alert("amt")</script>', "<img src=x onerror=alert(1)>", "<iframe src=//evil.example>"):
        assert raw not in page.text
    assert "&lt;script&gt;" in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text


async def test_pages_carry_the_protective_headers(web: AsyncTestClient[Any]) -> None:
    for path in ("/login", "/register"):
        r = await web.get(path)
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert "'unsafe-inline'" not in r.headers["content-security-policy"].split("script-src", 1)[1].split(";")[0]
        assert r.headers["referrer-policy"] == "no-referrer"


async def test_signed_request_objects_and_overlong_state_are_refused(
    web: AsyncTestClient[Any], migrated: Settings
) -> None:
    agency = await _agency(migrated)
    r = await web.post("/oauth/par", data=agency.par_form(request="eyJhbGciOiJub25lIn0.e30."))
    assert r.status_code == 400
    assert r.json()["error"] == "request_not_supported"
    r = await web.post("/oauth/par", data=agency.par_form(state="s" * 501))
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"
    assert (await web.post("/oauth/par", data=agency.par_form(state="s" * 500))).status_code == 201


@pytest.mark.parametrize(("alg", "key"), [("EdDSA", "okp"), ("PS256", "rsa")])
async def test_client_assertions_signed_with_eddsa_and_ps256_are_accepted(
    web: AsyncTestClient[Any], migrated: Settings, alg: str, key: str
) -> None:
    import secrets
    import time

    from joserfc import jwt
    from joserfc.jwk import OKPKey, RSAKey

    from tests.support.agency import ASSERTION_TYPE, TestAgency
    from tests.support.catalogue import service_toml
    from tests.support.web import BASE_URL

    private = OKPKey.generate_key("Ed25519") if key == "okp" else RSAKey.generate_key(2048)
    public = {**private.as_dict(private=False), "kid": "k1", "alg": alg, "use": "sig"}
    agency = TestAgency(BASE_URL)
    async with domain(migrated) as runtime:
        agency.client_id = await runtime.services.catalogue.add_agency("Amt", [agency.redirect_uri], {"keys": [public]})
        await runtime.services.catalogue.add_service(parse_service(service_toml(agency.client_id)))

    def assertion(signer: Any) -> dict[str, str]:
        now = int(time.time())
        claims = {"iss": agency.client_id, "sub": agency.client_id, "aud": BASE_URL, "iat": now, "exp": now + 60,
                  "jti": secrets.token_urlsafe(16)}  # fmt: skip
        token = jwt.encode({"alg": alg, "kid": "k1"}, claims, signer, algorithms=[alg])
        return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": token}

    form = {k: v for k, v in agency.par_form().items() if not k.startswith("client_assertion")}
    assert (await web.post("/oauth/par", data={**form, **assertion(private)})).status_code == 201
    other = OKPKey.generate_key("Ed25519") if key == "okp" else RSAKey.generate_key(2048)
    refused = await web.post("/oauth/par", data={**form, **assertion(other)})
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
