"""Passkeys over HTTP with a software authenticator: the happy path and every way to break it."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.passkeys import add_passkey, citizen_id, login_options, passkey_login, use_session
from tests.support.soft_authenticator import UP, SoftAuthenticator
from tests.support.web import BASE_URL, csrf_header, form_token, register
from vault.citizens.passkeys import relying_party

if TYPE_CHECKING:
    from litestar.testing import AsyncTestClient

    from vault.config import Settings


async def _citizen_with_passkey(web: AsyncTestClient[Any], name: str) -> SoftAuthenticator:
    await register(web, name)
    auth = SoftAuthenticator(BASE_URL)
    r = await add_passkey(web, auth)
    assert r.status_code == 201, r.text
    return auth


async def test_a_passkey_added_after_a_password_sign_in_signs_in_at_basic(web: AsyncTestClient[Any]) -> None:
    auth = await _citizen_with_passkey(web, "passkey@example.de")
    h = await csrf_header(web)
    options = (await web.post("/api/v1/me/passkeys/options", headers=h)).json()
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["rp"]["id"] == "testserver.local"
    assert [c["id"] for c in options["excludeCredentials"]] == [json.loads(auth.create(options))["id"]]
    web.cookies.clear()
    r = await passkey_login(web, auth)
    assert r.status_code == 200, r.text
    assert r.json() == {"redirect": "/"}
    home = await web.get("/")
    assert "Vertrauensniveau dieser Anmeldung: Basis." in home.text  # not substantial: a password enrolled it
    settings = await web.get("/settings")
    assert re.search(r"<td>Basis</td>", settings.text)
    assert "<td>substanziell</td>" not in settings.text
    listed = (await web.get("/api/v1/me/passkeys")).json()["passkeys"]
    assert len(listed) == 1
    assert listed[0]["assurance"] == "basic"
    assert listed[0]["last_used_at"] is not None


async def test_a_passkey_added_from_a_substantial_session_signs_in_at_substantial(
    web: AsyncTestClient[Any], migrated: Settings
) -> None:
    await register(web, "strong@example.de")
    await use_session(web, migrated, await citizen_id(migrated, "strong@example.de"), "substantial")
    auth = SoftAuthenticator(BASE_URL)
    r = await add_passkey(web, auth)
    assert r.status_code == 201, r.text
    assert r.json()["assurance"] == "substantial"
    web.cookies.clear()
    assert (await passkey_login(web, auth)).status_code == 200
    assert "Vertrauensniveau dieser Anmeldung: substanziell." in (await web.get("/")).text
    settings = await web.get("/settings")
    assert re.search(r"<td>substanziell</td>", settings.text)  # the passkey and the session list show the level


async def test_a_passkey_is_never_above_substantial(web: AsyncTestClient[Any], migrated: Settings) -> None:
    await register(web, "eid@example.de")
    await use_session(web, migrated, await citizen_id(migrated, "eid@example.de"), "high")
    r = await add_passkey(web, SoftAuthenticator(BASE_URL))
    assert r.status_code == 201, r.text
    assert r.json()["assurance"] == "substantial"


async def test_a_replayed_assertion_is_refused(web: AsyncTestClient[Any]) -> None:
    auth = await _citizen_with_passkey(web, "replay@example.de")
    web.cookies.clear()
    options, h = await login_options(web)
    assertion = auth.get(options)
    assert (await web.post("/login/passkey", content=assertion, headers=h)).status_code == 200
    web.cookies.clear()
    _, h = await login_options(web)
    again = await web.post("/login/passkey", content=assertion, headers=h)
    assert again.status_code == 400
    assert "challenge" in again.json()["error"]


async def test_a_replayed_registration_is_refused(web: AsyncTestClient[Any]) -> None:
    await register(web, "regreplay@example.de")
    auth = SoftAuthenticator(BASE_URL)
    h = await csrf_header(web)
    options = (await web.post("/api/v1/me/passkeys/options", headers=h)).json()
    response = auth.create(options)
    assert (await web.post("/api/v1/me/passkeys", content=response, headers=h)).status_code == 201
    assert (await web.post("/api/v1/me/passkeys", content=response, headers=h)).status_code == 400
    assert len((await web.get("/api/v1/me/passkeys")).json()["passkeys"]) == 1


@pytest.mark.parametrize(
    "tamper",
    [
        {"origin": "https://evil.example"},
        {"flags": UP},  # no user verification
        {"rp_id": "evil.example"},
        {"count": 0},  # the counter went backwards (it was 1 after the first sign-in)
    ],
    ids=["origin", "no-uv", "rp-id", "counter"],
)
async def test_tampered_assertions_are_refused(web: AsyncTestClient[Any], tamper: dict[str, Any]) -> None:
    auth = await _citizen_with_passkey(web, "tamper@example.de")
    web.cookies.clear()
    assert (await passkey_login(web, auth)).status_code == 200
    web.cookies.clear()
    r = await passkey_login(web, auth, **tamper)
    assert r.status_code == 400, r.text
    assert "__Host-vault" not in web.cookies


async def test_a_signature_by_another_key_is_refused(web: AsyncTestClient[Any]) -> None:
    auth = await _citizen_with_passkey(web, "forger@example.de")
    forger = SoftAuthenticator(BASE_URL, credential_id=auth.credential_id, user_handle=auth.user_handle)
    web.cookies.clear()
    assert (await passkey_login(web, forger)).status_code == 400


@pytest.mark.parametrize("tamper", [{"origin": "https://evil.example"}, {"flags": UP}], ids=["origin", "no-uv"])
async def test_tampered_registrations_are_refused(web: AsyncTestClient[Any], tamper: dict[str, Any]) -> None:
    await register(web, "badreg@example.de")
    r = await add_passkey(web, SoftAuthenticator(BASE_URL), **tamper)
    assert r.status_code == 400
    assert (await web.get("/api/v1/me/passkeys")).json() == {"passkeys": []}


async def test_a_registration_challenge_is_bound_to_its_citizen(web: AsyncTestClient[Any]) -> None:
    await register(web, "alice@example.de")
    h = await csrf_header(web)
    alice_options = (await web.post("/api/v1/me/passkeys/options", headers=h)).json()
    web.cookies.clear()
    await register(web, "mallory@example.de")
    r = await web.post(
        "/api/v1/me/passkeys", content=SoftAuthenticator(BASE_URL).create(alice_options), headers=await csrf_header(web)
    )
    assert r.status_code == 400


async def test_passkey_endpoints_need_their_csrf_token(web: AsyncTestClient[Any]) -> None:
    auth = await _citizen_with_passkey(web, "csrf-pk@example.de")
    assert (await web.post("/api/v1/me/passkeys/options")).status_code == 403
    web.cookies.clear()
    assert (await web.post("/login/passkey/options")).status_code == 403
    options, _ = await login_options(web)
    r = await web.post("/login/passkey", content=auth.get(options), headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403


async def test_malformed_credentials_answer_400(web: AsyncTestClient[Any]) -> None:
    await register(web, "garbage@example.de")
    h = await csrf_header(web)
    for body in [b"", b"{", b"[]", b'{"rawId": "x"}']:
        assert (await web.post("/api/v1/me/passkeys", content=body, headers=h)).status_code == 400
    # past the body limit for JSON (vault.api.limits): refused before it is read
    assert (await web.post("/api/v1/me/passkeys", content=b"x" * 70_000, headers=h)).status_code == 413


async def test_removing_a_passkey_stops_it_and_another_citizens_id_is_404(web: AsyncTestClient[Any]) -> None:
    auth = await _citizen_with_passkey(web, "remove@example.de")
    passkey_id = (await web.get("/api/v1/me/passkeys")).json()["passkeys"][0]["id"]
    owner_cookies = dict(web.cookies)
    web.cookies.clear()
    await register(web, "thief@example.de")
    h = await csrf_header(web)
    assert (await web.delete(f"/api/v1/me/passkeys/{passkey_id}", headers=h)).status_code == 404
    settings = await web.get("/settings")
    r = await web.post(f"/settings/passkeys/{passkey_id}/delete", data={"csrf_token": form_token(settings.text)})
    assert r.status_code == 404
    web.cookies.clear()
    assert (await passkey_login(web, auth)).status_code == 200  # still there
    web.cookies.clear()
    web.cookies.update(owner_cookies)
    settings = await web.get("/settings")
    r = await web.post(f"/settings/passkeys/{passkey_id}/delete", data={"csrf_token": form_token(settings.text)})
    assert r.status_code == 303
    web.cookies.clear()
    assert (await passkey_login(web, auth)).status_code == 400


async def test_an_erased_account_cannot_sign_in_with_its_passkey(web: AsyncTestClient[Any]) -> None:
    auth = await _citizen_with_passkey(web, "gone@example.de")
    assert (await web.delete("/api/v1/me", headers=await csrf_header(web))).status_code == 204
    web.cookies.clear()
    assert (await passkey_login(web, auth)).status_code == 400


def test_no_passkeys_on_an_ip_address_issuer() -> None:
    assert relying_party("http://127.0.0.1:8000") == ("127.0.0.1", "http://127.0.0.1:8000", False)
    assert relying_party("http://[::1]:8000")[2] is False
    assert relying_party("http://localhost:8000") == ("localhost", "http://localhost:8000", True)
    assert relying_party("https://vault.example.de") == ("vault.example.de", "https://vault.example.de", True)
