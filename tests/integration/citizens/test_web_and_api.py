"""Register, sign in, use the citizen JSON API, sign out — over HTTP, on both databases."""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING, Any

import jsonschema
import pytest

from tests.support.web import PASSWORD, csrf_header, form_token, register

if TYPE_CHECKING:
    from litestar.testing import AsyncTestClient

ADDRESS = {"street": "Heidestraße", "house_number": "17", "postal_code": "51147", "city": "Köln", "country": "DE"}


async def test_register_sign_in_and_cookie_rules(web: AsyncTestClient[Any]) -> None:
    r = await register(web, "erika@example.de")
    assert r.status_code == 303
    assert r.headers["location"] == "/"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("__Host-vault="))
    for flag in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/"):
        assert flag.lower() in cookie.lower()
    assert "domain" not in cookie.lower()
    home = await web.get("/")
    assert home.status_code == 200
    assert "angemeldet" in home.text
    assert home.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in home.headers["content-security-policy"]
    assert home.headers["referrer-policy"] == "no-referrer"


async def test_sign_in_gives_a_new_session_and_wrong_passwords_answer_alike(web: AsyncTestClient[Any]) -> None:
    await register(web, "max@example.de")
    first = web.cookies.get("__Host-vault")
    web.cookies.delete("__Host-vault")
    page = await web.get("/login")
    wrong_user = await web.post(
        "/login", data={"username": "nobody@example.de", "password": PASSWORD, "csrf_token": form_token(page.text)}
    )
    page = await web.get("/login")
    wrong_pass = await web.post(
        "/login", data={"username": "max@example.de", "password": "falsch falsch", "csrf_token": form_token(page.text)}
    )
    assert wrong_user.status_code == wrong_pass.status_code == 401
    assert _error(wrong_user.text) == _error(wrong_pass.text)
    page = await web.get("/login")
    ok = await web.post(
        "/login", data={"username": "MAX@example.de", "password": PASSWORD, "csrf_token": form_token(page.text)}
    )
    assert ok.status_code == 303
    assert web.cookies.get("__Host-vault") not in (None, first)


def _error(html: str) -> str:
    match = re.search(r'<p role="alert" id="error"[^>]*>([^<]+)</p>', html)
    assert match, html
    return match.group(1)


async def test_forms_without_csrf_token_change_nothing(web: AsyncTestClient[Any]) -> None:
    r = await web.post("/register", data={"username": "mallory", "password": PASSWORD, "password_confirm": PASSWORD})
    assert r.status_code == 403
    page = await web.get("/login")
    r = await web.post(
        "/login", data={"username": "mallory", "password": PASSWORD, "csrf_token": form_token(page.text)}
    )
    assert r.status_code == 401  # the account was never created


async def test_register_form_errors(web: AsyncTestClient[Any]) -> None:
    assert (await register(web, "short-pw", "kurz", "kurz")).status_code == 422
    common = await register(web, "common-pw", "password1", "password1")
    assert common.status_code == 422
    assert "verbreitet" in common.text
    assert (await register(web, "mismatch", PASSWORD, PASSWORD + "!")).status_code == 422
    assert (await register(web, "x")).status_code == 422
    assert (await register(web, "taken@example.de")).status_code == 303
    web.cookies.clear()
    assert (await register(web, "Taken@Example.de")).status_code == 409
    long_password = "ä" * 64 + "€" * 64
    web.cookies.clear()
    assert (await register(web, "long@example.de", long_password)).status_code == 303


async def test_api_needs_a_session_and_a_csrf_header(web: AsyncTestClient[Any]) -> None:
    assert (await web.get("/api/v1/me/attributes")).status_code == 401
    await register(web, "api@example.de")
    r = await web.put("/api/v1/me/attributes/family_name", json={"value": "Mustermann"})
    assert r.status_code == 403
    r = await web.put(
        "/api/v1/me/attributes/family_name", json={"value": "Mustermann"}, headers={"X-CSRF-Token": "wrong"}
    )
    assert r.status_code == 403
    assert (await web.get("/api/v1/me/attributes")).json() == {"attributes": {}}


async def test_attributes_documents_and_history_over_the_api(web: AsyncTestClient[Any]) -> None:
    await register(web, "hist@example.de")
    h = await csrf_header(web)
    r = await web.put("/api/v1/me/attributes/address", json={"value": ADDRESS}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 1
    r = await web.put("/api/v1/me/attributes/address", json={"value": {**ADDRESS, "postal_code": "511"}}, headers=h)
    assert r.status_code == 422
    assert r.json()["field"] == "address.postal_code"
    r = await web.put("/api/v1/me/attributes/tax_id", json={"value": "86095742719"}, headers=h)
    assert r.status_code == 200
    got = (await web.get("/api/v1/me/attributes")).json()["attributes"]
    assert got["address"]["value"] == ADDRESS
    assert got["address"]["source"] == "self"
    assert (await web.delete("/api/v1/me/attributes/tax_id", headers=h)).status_code == 204
    assert (await web.delete("/api/v1/me/attributes/tax_id", headers=h)).status_code == 404
    pdf = b"%PDF-1.4 Mietbescheinigung " + bytes(300_000)
    r = await web.post(
        "/api/v1/me/documents",
        files={"file": ("miete.pdf", pdf, "application/pdf")},
        data={"kind": "rental_confirmation"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    doc_id = r.json()["id"]
    r = await web.post(
        "/api/v1/me/documents", files={"file": ("x.html", b"<html>", "text/html")}, data={"kind": "x"}, headers=h
    )
    assert r.status_code == 415
    listed = (await web.get("/api/v1/me/documents")).json()["documents"]
    assert [d["id"] for d in listed] == [doc_id]
    download = await web.get(f"/api/v1/me/documents/{doc_id}")
    assert download.status_code == 200
    assert download.content == pdf
    assert "miete.pdf" in download.headers["content-disposition"]
    assert (await web.get("/api/v1/me/documents/00000000-0000-0000-0000-000000000000")).status_code == 404
    runtime = web.app.state.runtime
    history = (await web.get("/api/v1/me/history")).json()
    actions = [(e["actor"], e["action"], e["fields"]) for e in history["entries"]]
    assert ("citizen", "view", ["document:rental_confirmation"]) in actions
    assert ("citizen", "write", ["address"]) in actions
    assert ("citizen", "register", ["login_name"]) in actions
    assert runtime is not None


async def test_another_citizens_document_answers_404(web: AsyncTestClient[Any]) -> None:
    await register(web, "owner@example.de")
    h = await csrf_header(web)
    r = await web.post(
        "/api/v1/me/documents",
        files={"file": ("a.png", b"\x89PNG\r\n\x1a\nxx", "image/png")},
        data={"kind": "photo"},
        headers=h,
    )
    doc_id = r.json()["id"]
    web.cookies.clear()
    await register(web, "other@example.de")
    assert (await web.get(f"/api/v1/me/documents/{doc_id}")).status_code == 404


async def test_logout_and_erase_end_the_session(web: AsyncTestClient[Any]) -> None:
    await register(web, "bye@example.de")
    home = await web.get("/")
    r = await web.post("/logout", data={"csrf_token": form_token(home.text)})
    assert r.status_code == 303
    assert (await web.get("/api/v1/me/attributes")).status_code == 401
    page = await web.get("/login")
    await web.post(
        "/login", data={"username": "bye@example.de", "password": PASSWORD, "csrf_token": form_token(page.text)}
    )
    h = await csrf_header(web)
    assert (await web.delete("/api/v1/me", headers=h)).status_code == 204
    assert (await web.get("/api/v1/me/attributes")).status_code == 401
    page = await web.get("/login")
    again = await web.post(
        "/login", data={"username": "bye@example.de", "password": PASSWORD, "csrf_token": form_token(page.text)}
    )
    assert again.status_code == 401


async def test_export_validates_against_the_published_schema(web: AsyncTestClient[Any]) -> None:
    await register(web, "export@example.de")
    h = await csrf_header(web)
    await web.put("/api/v1/me/attributes/address", json={"value": ADDRESS}, headers=h)
    await web.put("/api/v1/me/attributes/given_name", json={"value": "Erika"}, headers=h)
    pdf = b"%PDF-1.4 export me"
    await web.post(
        "/api/v1/me/documents", files={"file": ("e.pdf", pdf, "application/pdf")}, data={"kind": "id_card"}, headers=h
    )
    schema = (await web.get("/schema/export.json")).json()
    r = await web.get("/api/v1/me/export")
    assert r.status_code == 200
    assert "attachment" in r.headers["content-disposition"]
    export = r.json()
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(export)
    assert export["account"]["login_name"] == "export@example.de"
    assert export["attributes"]["address"]["value"] == ADDRESS
    assert base64.b64decode(export["documents"][0]["content_base64"]) == pdf
    assert {"citizen"} == {e["actor"] for e in export["history"]}
    history = (await web.get("/api/v1/me/history")).json()["entries"]
    assert any(e["action"] == "export" for e in history)
    broken = {**export, "format": "something-else"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


async def test_times_in_the_api_carry_their_utc_offset(web: AsyncTestClient[Any]) -> None:
    await register(web, "tz@example.de")
    h = await csrf_header(web)
    put = (await web.put("/api/v1/me/attributes/given_name", json={"value": "Erika"}, headers=h)).json()
    got = (await web.get("/api/v1/me/attributes")).json()["attributes"]["given_name"]
    for stamp in (put["updated_at"], got["updated_at"]):
        assert stamp.endswith(("Z", "+00:00")), stamp


async def test_german_by_default_english_by_switch_and_the_choice_persists(web: AsyncTestClient[Any]) -> None:
    page = await web.get("/login")
    assert '<html lang="de">' in page.text
    assert "Anmelden" in page.text
    english = await web.get("/login?lang=en")
    assert '<html lang="en">' in english.text
    assert ">Sign in<" in english.text
    assert "Anmeldename" not in english.text
    again = await web.get("/register")
    assert '<html lang="en">' in again.text
    assert "Create account" in again.text
    back = await web.get("/register?lang=de")
    assert "Konto anlegen" in back.text
    assert '<html lang="de">' in (await web.get("/login")).text
    ignored = await web.get("/login?lang=xx")
    assert '<html lang="de">' in ignored.text
