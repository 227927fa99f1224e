"""The OAuth flow end to end over HTTP: PAR → consent page → code → DPoP-bound token → data read.

And the named negative tests of the consent issue that this part covers, each answering as
RFC 9700 / FAPI 2.0 require.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from tests.support.agency import TestAgency, pkce_pair
from tests.support.catalogue import service_toml
from tests.support.passkeys import add_passkey, citizen_id, new_authenticator, passkey_login, use_session
from tests.support.web import BASE_URL, PASSWORD, csrf_header, domain, form_token, register, session_token
from vault.consent.catalogue import parse_service

if TYPE_CHECKING:
    from litestar.testing import AsyncTestClient

    from vault.config import Settings

PAST = datetime(2020, 1, 1, tzinfo=UTC)
TOKEN_URL = f"{BASE_URL}/oauth/token"
DATA_URL = f"{BASE_URL}/api/v1/data"


async def _agency(settings: Settings, **service_lines: str) -> TestAgency:
    agency = TestAgency(BASE_URL)
    async with domain(settings) as runtime:
        agency.client_id = await runtime.services.catalogue.add_agency(
            "Bürgeramt Köln", [agency.redirect_uri], agency.jwks()
        )
        await runtime.services.catalogue.add_service(parse_service(service_toml(agency.client_id, **service_lines)))
    return agency


async def _citizen(web: AsyncTestClient[Any], name: str) -> None:
    await register(web, name)
    h = await csrf_header(web)
    for attr, value in [("given_name", "Erika"), ("family_name", "Mustermann"), ("birth_date", "1964-08-12"),
                        ("tax_id", "86095742719")]:  # fmt: skip
        assert (await web.put(f"/api/v1/me/attributes/{attr}", json={"value": value}, headers=h)).status_code == 200


async def _push(web: AsyncTestClient[Any], agency: TestAgency, **override: Any) -> tuple[str, str, str]:
    """PAR; returns ``(request_uri, verifier, state)``."""
    verifier, challenge = pkce_pair()
    form = agency.par_form(challenge=challenge, **override)
    r = await web.post("/oauth/par", data=form)
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    return r.json()["request_uri"], verifier, form.get("state", "")


def _authorize_url(agency: TestAgency, request_uri: str) -> str:
    return f"/oauth/authorize?client_id={quote(agency.client_id)}&request_uri={quote(request_uri)}"


async def _approve(web: AsyncTestClient[Any], agency: TestAgency, request_uri: str, decision: str = "approve") -> Any:
    page = await web.get(_authorize_url(agency, request_uri))
    assert page.status_code == 200, page.text
    form = {"client_id": agency.client_id, "request_uri": request_uri, "decision": decision}
    return await web.post("/oauth/authorize", data={**form, "csrf_token": await session_token(web)})


async def _code(web: AsyncTestClient[Any], agency: TestAgency, **par: Any) -> tuple[str, str]:
    request_uri, verifier, state = await _push(web, agency, **par)
    r = await _approve(web, agency, request_uri)
    assert r.status_code == 303, r.text
    location = urlsplit(r.headers["location"])
    query = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}{location.path}" == agency.redirect_uri
    assert query["state"] == [state]
    assert query["iss"] == [BASE_URL]
    return query["code"][0], verifier


async def _token(web: AsyncTestClient[Any], agency: TestAgency, code: str, verifier: str, **override: Any) -> Any:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": agency.redirect_uri,
        "client_id": agency.client_id,
        **agency.auth(),
    }
    headers = {"DPoP": override.pop("dpop", None) or agency.dpop("POST", TOKEN_URL)}
    form.update(override)
    return await web.post("/oauth/token", data={k: v for k, v in form.items() if v is not None}, headers=headers)


async def _read(web: AsyncTestClient[Any], agency: TestAgency, token: str, **dpop: Any) -> Any:
    proof = dpop.pop("proof", None) or agency.dpop("GET", DATA_URL, token, **dpop)
    return await web.get("/api/v1/data", headers={"Authorization": f"DPoP {token}", "DPoP": proof})


async def _flow(
    web: AsyncTestClient[Any], migrated: Settings, name: str, **service_lines: str
) -> tuple[TestAgency, str]:
    agency = await _agency(migrated, **service_lines)
    await _citizen(web, name)
    code, verifier = await _code(web, agency)
    r = await _token(web, agency, code, verifier)
    assert r.status_code == 200, r.text
    return agency, r.json()["access_token"]


async def test_metadata_says_what_fapi_2_requires(web: AsyncTestClient[Any]) -> None:
    meta = (await web.get("/.well-known/oauth-authorization-server")).json()
    assert meta["issuer"] == BASE_URL
    assert meta["require_pushed_authorization_requests"] is True
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert meta["authorization_details_types_supported"] == ["vault_access"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert "ES256" in meta["dpop_signing_alg_values_supported"]
    for name in ("pushed_authorization_request_endpoint", "token_endpoint", "revocation_endpoint",
                 "introspection_endpoint", "jwks_uri", "authorization_endpoint"):  # fmt: skip
        assert meta[name].startswith(BASE_URL)


async def test_the_whole_flow_reads_exactly_the_granted_fields(web: AsyncTestClient[Any], migrated: Settings) -> None:
    agency = await _agency(migrated)
    await _citizen(web, "flow@example.de")
    request_uri, verifier, _ = await _push(
        web,
        agency,
        authorization_details=json.dumps(
            [{"type": "vault_access", "service": "ummeldung", "fields": ["given_name", "family_name"]}]
        ),
    )
    page = await web.get(_authorize_url(agency, request_uri))
    assert "Bürgeramt Köln" in page.text
    assert "Anmeldung der neuen Wohnung" in page.text
    assert "§ 17 Bundesmeldegesetz (BMG)" in page.text
    assert 'name="decision" value="approve"' in page.text
    assert 'name="decision" value="deny"' in page.text
    # the decision redirects to the agency: the consent page's CSP allows that origin for forms, no other
    assert "form-action 'self' https://amt.example;" in page.headers["content-security-policy"]
    r = await _approve(web, agency, request_uri)
    code = parse_qs(urlsplit(r.headers["location"]).query)["code"][0]
    token = await _token(web, agency, code, verifier)
    assert token.status_code == 200, token.text
    body = token.json()
    assert body["token_type"] == "DPoP"
    assert body["expires_in"] <= 300
    assert body["authorization_details"][0]["fields"] == ["given_name", "family_name"]
    read = await _read(web, agency, body["access_token"])
    assert read.status_code == 200, read.text
    data = read.json()
    assert set(data["attributes"]) == {"given_name", "family_name"}  # not birth_date, not tax_id
    assert data["attributes"]["given_name"]["value"] == "Erika"
    assert data["receipt"]["commitment"]
    assert data["receipt"]["promise"]
    history = (await web.get("/api/v1/me/history")).json()["entries"]
    reads = [e for e in history if e["action"] == "read" and e["actor"] == agency.client_id]
    assert len(reads) == 1
    assert reads[0]["commitment"] == data["receipt"]["commitment"]
    assert reads[0]["purpose"] == "Anmeldung der neuen Wohnung"
    assert reads[0]["legal_basis"] == "§ 17 Bundesmeldegesetz (BMG)"


async def test_a_once_grant_is_used_up_by_its_first_read(web: AsyncTestClient[Any], migrated: Settings) -> None:
    agency, token = await _flow(web, migrated, "once@example.de", documents="documents = []")
    assert (await _read(web, agency, token)).status_code == 200
    second = await _read(web, agency, token)
    assert second.status_code == 401
    assert second.json()["error"] == "invalid_token"
    assert 'DPoP error="invalid_token"' in second.headers["www-authenticate"]
    grants = (await web.get("/api/v1/me/grants")).json()["grants"]
    assert grants[0]["status"] == "used"


async def test_revoking_stops_the_next_read(web: AsyncTestClient[Any], migrated: Settings) -> None:
    agency, token = await _flow(web, migrated, "revoked@example.de", access='access = "ongoing"')
    assert (await _read(web, agency, token)).status_code == 200
    grant_id = (await web.get("/api/v1/me/grants")).json()["grants"][0]["id"]
    r = await web.post(f"/api/v1/me/grants/{grant_id}/revoke", headers=await csrf_header(web))
    assert r.status_code == 200
    assert (await _read(web, agency, token)).status_code == 401


async def test_deny_goes_back_with_access_denied_and_is_logged(web: AsyncTestClient[Any], migrated: Settings) -> None:
    agency = await _agency(migrated)
    await _citizen(web, "deny@example.de")
    request_uri, _, state = await _push(web, agency)
    r = await _approve(web, agency, request_uri, decision="deny")
    query = parse_qs(urlsplit(r.headers["location"]).query)
    assert query["error"] == ["access_denied"]
    assert query["state"] == [state]
    assert query["iss"] == [BASE_URL]
    assert "code" not in query
    assert (await web.get("/api/v1/me/grants")).json() == {"grants": []}
    history = (await web.get("/api/v1/me/history")).json()["entries"]
    assert any(e["action"] == "denied" and e["actor"] == agency.client_id for e in history)


async def test_signed_out_citizens_sign_in_first_and_come_back(web: AsyncTestClient[Any], migrated: Settings) -> None:
    agency = await _agency(migrated)
    await _citizen(web, "later@example.de")
    request_uri, _, _ = await _push(web, agency)
    web.cookies.clear()
    r = await web.get(_authorize_url(agency, request_uri))
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=%2Foauth%2Fauthorize")
    login = await web.get(r.headers["location"])
    assert 'name="next" value="/oauth/authorize?client_id=' in login.text


# -- named negative tests -------------------------------------------------------------------------


async def test_authorize_without_par_shows_an_error_page_and_never_redirects(
    web: AsyncTestClient[Any], migrated: Settings
) -> None:
    agency = await _agency(migrated)
    await _citizen(web, "nopar@example.de")
    for url in [
        f"/oauth/authorize?client_id={agency.client_id}&response_type=code&redirect_uri={quote(agency.redirect_uri)}",
        f"/oauth/authorize?client_id={agency.client_id}&request_uri=urn:ietf:params:oauth:request_uri:made-up",
        f"/oauth/authorize?client_id=unknown&request_uri=x&redirect_uri={quote('https://evil.example/cb')}",
    ]:
        r = await web.get(url)
        assert r.status_code == 400, url
        assert "location" not in r.headers
        assert "Diese Anfrage kann nicht bearbeitet werden" in r.text


async def test_par_needs_private_key_jwt(web: AsyncTestClient[Any], migrated: Settings) -> None:
    agency = await _agency(migrated)
    form = agency.par_form(client_assertion=None, client_assertion_type=None)
    r = await web.post("/oauth/par", data=form)
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"
    r = await web.post("/oauth/par", data={**form, "client_secret": "s3cret"})
    assert r.status_code == 401


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"redirect_uri": "https://amt.example/callback/"}, "invalid_request"),
        ({"redirect_uri": "https://AMT.example/callback"}, "invalid_request"),
        ({"redirect_uri": "https://amt.example/callback?x=1"}, "invalid_request"),
        ({"redirect_uri": "http://amt.example/callback"}, "invalid_request"),
        ({"redirect_uri": "https://user@amt.example/callback"}, "invalid_request"),
        ({"authorization_details": None}, "invalid_authorization_details"),
        ({"authorization_details": '[{"type": "vault_access", "service": "nope"}]'}, "invalid_authorization_details"),
        (
            {"authorization_details": '[{"type": "vault_access", "service": "ummeldung", "fields": ["iban"]}]'},
            "invalid_authorization_details",
        ),
        ({"request_uri": "urn:ietf:params:oauth:request_uri:x"}, "invalid_request"),
    ],
)
async def test_bad_pushed_requests_are_refused(
    web: AsyncTestClient[Any], migrated: Settings, override: dict[str, Any], error: str
) -> None:
    agency = await _agency(migrated)
    r = await web.post("/oauth/par", data=agency.par_form(**override))
    assert r.status_code == 400, r.text
    assert r.json()["error"] == error


async def test_another_clients_request_uri_is_refused(web: AsyncTestClient[Any], migrated: Settings) -> None:
    first = await _agency(migrated)
    await _citizen(web, "twoclients@example.de")
    request_uri, _, _ = await _push(web, first)
    second = TestAgency(BASE_URL, redirect_uri="https://other.example/cb")
    async with domain(migrated) as runtime:
        second.client_id = await runtime.services.catalogue.add_agency("Other", [second.redirect_uri], second.jwks())
    r = await web.get(_authorize_url(second, request_uri))
    assert r.status_code == 400
    assert "location" not in r.headers


async def test_a_request_uri_is_single_use(web: AsyncTestClient[Any], migrated: Settings) -> None:
    agency = await _agency(migrated)
    await _citizen(web, "reuse-uri@example.de")
    request_uri, _, _ = await _push(web, agency)
    assert (await _approve(web, agency, request_uri)).status_code == 303
    assert (await web.get(_authorize_url(agency, request_uri))).status_code == 400


async def test_an_expired_request_uri_is_refused(web: AsyncTestClient[Any], migrated: Settings) -> None:
    agency = await _agency(migrated)
    await _citizen(web, "expired-uri@example.de")
    request_uri, _, _ = await _push(web, agency)
    from sqlalchemy import text

    async with domain(migrated) as runtime, runtime.engine.begin() as conn:
        await conn.execute(text("UPDATE oauth_pushed_requests SET expires_at = :t"), {"t": PAST})
    assert (await web.get(_authorize_url(agency, request_uri))).status_code == 400


async def test_a_replayed_code_fails_and_revokes_the_tokens_issued_from_it(
    web: AsyncTestClient[Any], migrated: Settings
) -> None:
    agency = await _agency(migrated, access='access = "ongoing"')
    await _citizen(web, "replay-code@example.de")
    code, verifier = await _code(web, agency)
    first = await _token(web, agency, code, verifier)
    assert first.status_code == 200
    again = await _token(web, agency, code, verifier)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    assert (await _read(web, agency, first.json()["access_token"])).status_code == 401


async def test_twenty_concurrent_code_redemptions_give_one_token_which_is_then_revoked(
    web: AsyncTestClient[Any], migrated: Settings
) -> None:
    agency = await _agency(migrated, access='access = "ongoing"')
    await _citizen(web, "race-code@example.de")
    code, verifier = await _code(web, agency)
    answers = await asyncio.gather(*[_token(web, agency, code, verifier) for _ in range(20)])
    ok = [a for a in answers if a.status_code == 200]
    assert len(ok) == 1
    assert all(a.json()["error"] == "invalid_grant" for a in answers if a.status_code != 200)
    assert (await _read(web, agency, ok[0].json()["access_token"])).status_code == 401


@pytest.mark.parametrize(
    ("override", "status"),
    [
        ({"code_verifier": None}, 400),
        ({"code_verifier": "x" * 43}, 400),
        ({"redirect_uri": "https://amt.example/other"}, 400),
        ({"grant_type": "password"}, 400),
        ({"grant_type": "client_credentials"}, 400),
    ],
)
async def test_bad_token_requests_are_refused(
    web: AsyncTestClient[Any], migrated: Settings, override: dict[str, Any], status: int
) -> None:
    agency = await _agency(migrated)
    await _citizen(web, "badtoken@example.de")
    code, verifier = await _code(web, agency)
    r = await _token(web, agency, code, verifier, **override)
    assert r.status_code == status, r.text


async def test_a_code_is_bound_to_its_client(web: AsyncTestClient[Any], migrated: Settings) -> None:
    agency = await _agency(migrated)
    await _citizen(web, "othercode@example.de")
    code, verifier = await _code(web, agency)
    thief = TestAgency(BASE_URL, redirect_uri=agency.redirect_uri)
    async with domain(migrated) as runtime:
        thief.client_id = await runtime.services.catalogue.add_agency("Thief", [thief.redirect_uri], thief.jwks())
    r = await _token(web, thief, code, verifier)
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"


async def test_an_old_code_is_refused(web: AsyncTestClient[Any], migrated: Settings) -> None:
    agency = await _agency(migrated)
    await _citizen(web, "oldcode@example.de")
    code, verifier = await _code(web, agency)
    from sqlalchemy import text

    async with domain(migrated) as runtime, runtime.engine.begin() as conn:
        await conn.execute(text("UPDATE oauth_codes SET expires_at = :t"), {"t": PAST})
    r = await _token(web, agency, code, verifier)
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "override",
    [
        {"aud": f"{BASE_URL}/oauth/token"},
        {"aud": [BASE_URL]},
        {"exp": None},
        {"exp": 1_000_000_000},
        {"iat": 4_000_000_000},
        {"iss": "someone-else"},
        {"jti": None},
    ],
    ids=["aud-token-endpoint", "aud-array", "no-exp", "expired", "iat-future", "iss", "no-jti"],
)
async def test_bad_client_assertions_are_refused(
    web: AsyncTestClient[Any], migrated: Settings, override: dict[str, Any]
) -> None:
    agency = await _agency(migrated)
    form = {**agency.par_form(), **agency.auth(**override)}
    r = await web.post("/oauth/par", data=form)
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "invalid_client"


async def test_assertions_70_seconds_ahead_or_with_weak_algorithms_are_refused(
    web: AsyncTestClient[Any], migrated: Settings
) -> None:
    import time

    from joserfc import jwt
    from joserfc.jwk import OctKey

    agency = await _agency(migrated)
    ahead = agency.auth(iat=int(time.time()) + 70, exp=int(time.time()) + 120)
    assert (await web.post("/oauth/par", data={**agency.par_form(), **ahead})).status_code == 401
    claims = {"iss": agency.client_id, "sub": agency.client_id, "aud": BASE_URL, "exp": int(time.time()) + 60,
              "jti": "j" * 20}  # fmt: skip
    hs = jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(b"k" * 32), algorithms=["HS256"])
    header, payload = '{"alg":"none"}', json.dumps(claims)
    import base64

    def b64(s: str) -> str:
        return base64.urlsafe_b64encode(s.encode()).rstrip(b"=").decode()

    none = f"{b64(header)}.{b64(payload)}."
    for token in (hs, none):
        form = {**agency.par_form(), "client_assertion": token}
        r = await web.post("/oauth/par", data=form)
        assert r.status_code == 401
        assert r.json()["error"] == "invalid_client"


async def test_a_replayed_client_assertion_is_refused(web: AsyncTestClient[Any], migrated: Settings) -> None:
    agency = await _agency(migrated)
    form = agency.par_form()
    assert (await web.post("/oauth/par", data=form)).status_code == 201
    again = await web.post("/oauth/par", data=form)
    assert again.status_code == 401
    assert "jti" in again.json()["error_description"]


async def test_access_tokens_need_a_fresh_matching_dpop_proof(web: AsyncTestClient[Any], migrated: Settings) -> None:
    agency, token = await _flow(web, migrated, "dpop@example.de", access='access = "ongoing"')
    assert (await web.get("/api/v1/data", headers={"Authorization": f"DPoP {token}"})).status_code == 401
    assert (await web.get("/api/v1/data", headers={"Authorization": f"Bearer {token}"})).status_code == 401
    proof = agency.dpop("GET", DATA_URL, token)
    assert (await _read(web, agency, token, proof=proof)).status_code == 200
    reused = await _read(web, agency, token, proof=proof)
    assert reused.status_code == 401
    assert reused.json()["error"] == "invalid_dpop_proof"
    from joserfc.jwk import ECKey

    for bad in [
        agency.dpop("POST", DATA_URL, token),
        agency.dpop("GET", f"{BASE_URL}/api/v1/documents", token),
        agency.dpop("GET", DATA_URL, token, key=ECKey.generate_key("P-256", private=True)),
        agency.dpop("GET", DATA_URL, "another token"),
        agency.dpop("GET", DATA_URL, token, iat=1_000_000_000),
    ]:
        r = await _read(web, agency, token, proof=bad)
        assert r.status_code == 401, r.text
        assert "www-authenticate" in r.headers
    assert (await _read(web, agency, token)).status_code == 200  # the token itself still works


async def test_the_token_endpoint_needs_dpop(web: AsyncTestClient[Any], migrated: Settings) -> None:
    agency = await _agency(migrated)
    await _citizen(web, "tokendpop@example.de")
    code, verifier = await _code(web, agency)
    form = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
            "redirect_uri": agency.redirect_uri, **agency.auth()}  # fmt: skip
    r = await web.post("/oauth/token", data=form)
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_dpop_proof"


async def test_revocation_and_introspection(web: AsyncTestClient[Any], migrated: Settings) -> None:
    agency, token = await _flow(web, migrated, "introspect@example.de", access='access = "ongoing"')
    info = (await web.post("/oauth/introspect", data={"token": token, **agency.auth()})).json()
    assert info["active"] is True
    assert info["cnf"]["jkt"]
    assert info["authorization_details"][0]["service"] == "ummeldung"
    assert (await web.post("/oauth/introspect", data={"token": token})).status_code == 401
    assert (await web.post("/oauth/revoke", data={"token": token, **agency.auth()})).status_code == 200
    assert (await web.post("/oauth/introspect", data={"token": token, **agency.auth()})).json() == {"active": False}
    assert (await _read(web, agency, token)).status_code == 401


async def test_refresh_tokens_are_bound_to_the_dpop_key(web: AsyncTestClient[Any], migrated: Settings) -> None:
    agency = await _agency(migrated, access='access = "ongoing"')
    await _citizen(web, "refresh@example.de")
    code, verifier = await _code(web, agency)
    refresh = (await _token(web, agency, code, verifier)).json()["refresh_token"]
    form = {"grant_type": "refresh_token", "refresh_token": refresh, **agency.auth()}
    r = await web.post("/oauth/token", data=form, headers={"DPoP": agency.dpop("POST", TOKEN_URL)})
    assert r.status_code == 200, r.text
    assert (await _read(web, agency, r.json()["access_token"])).status_code == 200
    from joserfc.jwk import ECKey

    other = ECKey.generate_key("P-256", private=True)
    form = {"grant_type": "refresh_token", "refresh_token": refresh, **agency.auth()}
    r = await web.post("/oauth/token", data=form, headers={"DPoP": agency.dpop("POST", TOKEN_URL, key=other)})
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"


DOCS_URL = f"{BASE_URL}/api/v1/documents"
PDF = b"%PDF-1.4 Wohnungsgeberbestaetigung " + bytes(500)


async def _agency_get(web: AsyncTestClient[Any], agency: TestAgency, token: str, path: str) -> Any:
    proof = agency.dpop("GET", BASE_URL + path, token)
    return await web.get(path, headers={"Authorization": f"DPoP {token}", "DPoP": proof})


async def _upload(web: AsyncTestClient[Any], kind: str = "rental_confirmation") -> str:
    r = await web.post(
        "/api/v1/me/documents",
        files={"file": ("bestaetigung.pdf", PDF, "application/pdf")},
        data={"kind": kind},
        headers=await csrf_header(web),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_a_late_document_is_pending_then_fetched_under_the_same_grant(
    web: AsyncTestClient[Any], migrated: Settings
) -> None:
    agency = await _agency(migrated)  # once; rental_confirmation required with late_submission
    await _citizen(web, "late@example.de")
    request_uri, verifier, _ = await _push(web, agency)
    page = await web.get(_authorize_url(agency, request_uri))
    assert "Noch nicht eingereicht, Sie können es nach der Zustimmung nachreichen" in page.text
    code = parse_qs(urlsplit((await _approve(web, agency, request_uri)).headers["location"]).query)["code"][0]
    token = (await _token(web, agency, code, verifier)).json()["access_token"]
    listed = (await _agency_get(web, agency, token, "/api/v1/documents")).json()
    assert listed["documents"] == []
    assert listed["pending"] == ["rental_confirmation"]
    assert "noch nicht eingereicht" in (await web.get("/grants")).text
    assert (await _read(web, agency, token)).status_code == 200  # the attributes, once

    doc_id = await _upload(web)
    listed = (await _agency_get(web, agency, token, "/api/v1/documents")).json()
    assert [d["id"] for d in listed["documents"]] == [doc_id]
    assert listed["pending"] == []
    fetched = await _agency_get(web, agency, token, f"/api/v1/documents/{doc_id}")
    assert fetched.status_code == 200
    assert fetched.content == PDF
    assert fetched.headers["vault-receipt-commitment"]
    history = (await web.get("/api/v1/me/history")).json()["entries"]
    assert any(
        e["actor"] == agency.client_id and e["action"] == "read" and e["fields"] == ["document:rental_confirmation"]
        for e in history
    )
    # everything granted was delivered once: the once grant is used up
    assert (await web.get("/api/v1/me/grants")).json()["grants"][0]["status"] == "used"
    again = await _agency_get(web, agency, token, f"/api/v1/documents/{doc_id}")
    assert again.status_code == 401


async def test_a_required_document_that_may_not_come_later_blocks_approval(
    web: AsyncTestClient[Any], migrated: Settings
) -> None:
    agency = await _agency(
        migrated, documents='documents = [{ kind = "rental_confirmation", required = true, late_submission = false }]'
    )
    await _citizen(web, "blocked@example.de")
    request_uri, _, _ = await _push(web, agency)
    page = await web.get(_authorize_url(agency, request_uri))
    assert "Fehlt, wird vor der Zustimmung benötigt" in page.text
    assert 'href="/documents"' in page.text
    form = {"client_id": agency.client_id, "request_uri": request_uri, "decision": "approve"}
    r = await web.post("/oauth/authorize", data={**form, "csrf_token": await session_token(web)})
    assert r.status_code == 422
    assert "Bitte reichen Sie zuerst die erforderlichen Dokumente ein" in r.text
    assert (await web.get("/api/v1/me/grants")).json() == {"grants": []}
    await _upload(web)  # the request is still usable once the document is there
    r = await web.post("/oauth/authorize", data={**form, "csrf_token": await session_token(web)})
    assert r.status_code == 303
    assert "code=" in r.headers["location"]


async def test_another_citizens_document_id_answers_404_and_an_ungranted_one_403(
    web: AsyncTestClient[Any], migrated: Settings
) -> None:
    await register(web, "neighbour@example.de")
    neighbours_doc = await _upload(web)
    web.cookies.clear()
    agency, token = await _flow(web, migrated, "docs404@example.de", access='access = "ongoing"')
    r = await _agency_get(web, agency, token, f"/api/v1/documents/{neighbours_doc}")
    assert r.status_code == 404
    own_id_card = await _upload(web, kind="id_card")  # not granted
    r = await _agency_get(web, agency, token, f"/api/v1/documents/{own_id_card}")
    assert r.status_code == 403
    assert r.json()["error"] == "insufficient_scope"
    assert r.headers["www-authenticate"] == 'DPoP error="insufficient_scope"'
    assert "id_card" not in r.text


async def test_an_expired_grant_answers_401(web: AsyncTestClient[Any], migrated: Settings) -> None:
    agency, token = await _flow(web, migrated, "expiredgrant@example.de", access='access = "ongoing"')
    from sqlalchemy import text

    async with domain(migrated) as runtime, runtime.engine.begin() as conn:
        await conn.execute(text("UPDATE grants SET expires_at = :t"), {"t": PAST})
    assert (await _read(web, agency, token)).status_code == 401


async def test_a_service_asking_for_substantial_needs_a_substantial_session(
    web: AsyncTestClient[Any], migrated: Settings
) -> None:
    agency = await _agency(migrated, min_assurance='min_assurance = "substantial"')
    await _citizen(web, "stepup@example.de")
    request_uri, _, _ = await _push(web, agency)
    page = await web.get(_authorize_url(agency, request_uri))
    assert page.status_code == 403
    assert "verlangt das Vertrauensniveau substanziell; Ihre Anmeldung hat das Niveau Basis" in page.text
    assert "Ihr Konto kann dieses Niveau noch nicht erreichen" in page.text  # no promise that a passkey helps
    form = {"client_id": agency.client_id, "request_uri": request_uri, "decision": "approve"}
    r = await web.post("/oauth/authorize", data={**form, "csrf_token": await session_token(web)})
    assert r.status_code == 400  # a forged approval from a password session is refused too
    assert (await web.get("/api/v1/me/grants")).json() == {"grants": []}
    # The page's way out: the agency learns the citizen declined (no dead end).
    assert 'name="decision" value="deny"' in page.text
    assert "Abbrechen und zurück zur Behörde" in page.text
    r = await web.post("/oauth/authorize", data={**form, "decision": "deny", "csrf_token": form_token(page.text)})
    assert r.status_code == 303
    assert r.headers["location"].startswith(agency.redirect_uri)
    assert "error=access_denied" in r.headers["location"]


async def test_a_passkey_added_from_a_password_session_does_not_step_up(
    web: AsyncTestClient[Any], migrated: Settings
) -> None:
    agency = await _agency(migrated, min_assurance='min_assurance = "substantial"')
    await _citizen(web, "bootstrap@example.de")
    auth = new_authenticator()
    assert (await add_passkey(web, auth)).status_code == 201
    web.cookies.clear()
    assert (await passkey_login(web, auth)).status_code == 200
    request_uri, _, _ = await _push(web, agency)
    page = await web.get(_authorize_url(agency, request_uri))
    assert page.status_code == 403
    assert "Ihre Anmeldung hat das Niveau Basis" in page.text
    form = {"client_id": agency.client_id, "request_uri": request_uri, "decision": "approve"}
    r = await web.post("/oauth/authorize", data={**form, "csrf_token": await session_token(web)})
    assert r.status_code == 400
    assert (await web.get("/api/v1/me/grants")).json() == {"grants": []}


async def test_a_passkey_added_from_a_substantial_session_steps_up(
    web: AsyncTestClient[Any], migrated: Settings
) -> None:
    agency = await _agency(migrated, min_assurance='min_assurance = "substantial"')
    await _citizen(web, "eid-stepup@example.de")
    await use_session(web, migrated, await citizen_id(migrated, "eid-stepup@example.de"), "substantial")
    auth = new_authenticator()
    assert (await add_passkey(web, auth)).json()["assurance"] == "substantial"
    web.cookies.clear()
    page = await web.get("/login")
    data = {"username": "eid-stepup@example.de", "password": PASSWORD, "csrf_token": form_token(page.text)}
    assert (await web.post("/login", data=data)).status_code == 303  # a password session: basic
    request_uri, _, _ = await _push(web, agency)
    page = await web.get(_authorize_url(agency, request_uri))
    assert page.status_code == 403
    assert "Ihr Konto hat einen Passkey dieses Niveaus" in page.text
    assert "/login?next=%2Foauth%2Fauthorize" in page.text
    web.cookies.clear()
    assert (await passkey_login(web, auth)).status_code == 200
    r = await _approve(web, agency, request_uri)
    assert r.status_code == 303, r.text
    assert "code=" in r.headers["location"]


async def test_a_disabled_agency_can_no_longer_read(web: AsyncTestClient[Any], migrated: Settings) -> None:
    agency, token = await _flow(web, migrated, "disabled@example.de", access='access = "ongoing"')
    async with domain(migrated) as runtime:
        await runtime.services.catalogue.disable_agency(agency.client_id)
    r = await _read(web, agency, token)
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_token"
    assert (await web.post("/oauth/par", data=agency.par_form())).status_code == 401
