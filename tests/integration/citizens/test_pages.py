"""The signed-in pages over HTTP: data, documents, history with receipts, settings, erasure; CSRF on every form."""

from __future__ import annotations

import asyncio
import base64
import re
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import text

from tests.support.web import PASSWORD, csrf_header, domain, form_token, register, session_token
from tlog.receipts import Receipt, verify_receipt
from vault.transparency.records import commitment

if TYPE_CHECKING:
    from litestar.testing import AsyncTestClient

    from vault.config import Settings

PAGES = ["/", "/data", "/documents", "/history", "/settings", "/settings/delete"]
PDF = b"%PDF-1.7 Meldebescheinigung " + bytes(1000)


@pytest.mark.parametrize("path", PAGES)
async def test_signed_out_pages_redirect_to_sign_in(web: AsyncTestClient[Any], path: str) -> None:
    r = await web.get(path)
    assert r.status_code == 303
    assert r.headers["location"] == "/login"


async def test_every_page_renders_in_german_and_english(web: AsyncTestClient[Any]) -> None:
    await register(web, "pages@example.de")
    for path in PAGES:
        r = await web.get(path)
        assert r.status_code == 200, path
        assert '<html lang="de">' in r.text
        assert r.headers["cache-control"] == "no-store"
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert "<script>" not in r.text  # no inline script anywhere
    assert "Meine Daten" in (await web.get("/data?lang=en")).text.replace("My data", "Meine Daten")
    english = await web.get("/settings")
    assert '<html lang="en">' in english.text
    assert "Where you are signed in" in english.text


async def _save(web: AsyncTestClient[Any], **fields: str) -> Any:
    return await web.post("/data", data={"csrf_token": await session_token(web), **fields})


async def test_data_form_saves_validates_and_deletes(web: AsyncTestClient[Any]) -> None:
    await register(web, "data@example.de")
    address = {
        "address.street": "Heidestraße",
        "address.house_number": "17",
        "address.postal_code": "51147",
        "address.city": "Köln",
        "address.country": "de",
    }
    r = await _save(web, given_name="Erika", family_name="Mustermann", birth_date="1964-08-12", **address)
    assert r.status_code == 303
    assert r.headers["location"] == "/data?saved=1"
    page = await web.get("/data?saved=1")
    assert "Ihre Änderungen wurden gespeichert." in page.text
    assert "Heidestraße 17, 51147 Köln, DE" in page.text
    assert "von Ihnen eingegeben" in page.text
    api = (await web.get("/api/v1/me/attributes")).json()["attributes"]
    assert api["family_name"]["value"] == "Mustermann"
    assert api["address"]["value"]["country"] == "DE"

    # A bad field: 422 naming it, marked aria-invalid, and nothing of the post is stored.
    r = await _save(web, family_name="Musterfrau", birth_date="1964-13-45")
    assert r.status_code == 422
    assert "Geburtsdatum" in r.text
    assert re.search(r'id="attr-birth_date"[^>]*aria-invalid="true"', r.text)
    assert 'value="Musterfrau"' in r.text  # the input is kept for correction
    api = (await web.get("/api/v1/me/attributes")).json()["attributes"]
    assert api["family_name"]["value"] == "Mustermann"
    assert api["family_name"]["version"] == 1

    # Unchanged values are not written again; changed ones get a new version.
    await _save(web, given_name="Erika", family_name="Gabler")
    api = (await web.get("/api/v1/me/attributes")).json()["attributes"]
    assert (api["given_name"]["version"], api["family_name"]["version"]) == (1, 2)

    r = await web.post("/data/family_name/delete", data={"csrf_token": await session_token(web)})
    assert r.status_code == 303
    assert "family_name" not in (await web.get("/api/v1/me/attributes")).json()["attributes"]
    r = await web.post("/data/family_name/delete", data={"csrf_token": await session_token(web)})
    assert r.status_code == 404


async def test_documents_page_uploads_lists_and_deletes(web: AsyncTestClient[Any]) -> None:
    await register(web, "docs@example.de")
    token = await session_token(web)
    r = await web.post(
        "/documents",
        data={"csrf_token": token, "kind": "registration_certificate"},
        files={"file": ("melde.pdf", PDF, "application/pdf")},
    )
    assert r.status_code == 303, r.text
    page = await web.get("/documents")
    assert "Meldebescheinigung" in page.text
    doc_id = re.search(r'href="/api/v1/me/documents/([0-9a-f-]{36})"', page.text)
    assert doc_id
    assert (await web.get(f"/api/v1/me/documents/{doc_id.group(1)}")).content == PDF

    wrong_type = await web.post(
        "/documents",
        data={"csrf_token": token, "kind": "other"},
        files={"file": ("x.html", b"<html>", "text/html")},
    )
    assert wrong_type.status_code == 415
    assert "PDF-, PNG- und JPEG-Dateien" in wrong_type.text
    disguised = await web.post(
        "/documents",
        data={"csrf_token": token, "kind": "other"},
        files={"file": ("x.pdf", b"<html>", "application/pdf")},
    )
    assert disguised.status_code == 415
    no_kind = await web.post(
        "/documents", data={"csrf_token": token, "kind": "bogus"}, files={"file": ("a.pdf", PDF, "application/pdf")}
    )
    assert no_kind.status_code == 422
    assert len((await web.get("/api/v1/me/documents")).json()["documents"]) == 1

    owner = dict(web.cookies)
    web.cookies.clear()
    await register(web, "thief-docs@example.de")
    r = await web.post(f"/documents/{doc_id.group(1)}/delete", data={"csrf_token": await session_token(web)})
    assert r.status_code == 404
    web.cookies.clear()
    web.cookies.update(owner)
    r = await web.post(f"/documents/{doc_id.group(1)}/delete", data={"csrf_token": await session_token(web)})
    assert r.status_code == 303
    assert (await web.get("/api/v1/me/documents")).json() == {"documents": []}
    assert (await web.get(f"/api/v1/me/documents/{doc_id.group(1)}")).status_code == 404


async def test_too_large_documents_answer_413_on_the_page(web: AsyncTestClient[Any]) -> None:
    web.app.state.runtime.services.vault.max_document_bytes = 10_000
    await register(web, "big@example.de")
    r = await web.post(
        "/documents",
        data={"csrf_token": await session_token(web), "kind": "other"},
        files={"file": ("big.pdf", PDF + bytes(20_000), "application/pdf")},
    )
    assert r.status_code == 413
    assert (await web.get("/api/v1/me/documents")).json() == {"documents": []}


async def _verified_history(web: AsyncTestClient[Any]) -> list[dict[str, Any]]:
    """The history once every entry is integrated and verified (the integrator runs every 0.5 s; a loaded machine may
    take far longer, so the bound is generous)."""
    for _ in range(600):
        entries = (await web.get("/api/v1/me/history")).json()["entries"]
        if entries and all(e["verified"] for e in entries):
            return list(entries)
        await asyncio.sleep(0.1)
    raise AssertionError(f"history not verified: {entries}")


async def test_history_page_shows_own_views_verified_with_receipts(web: AsyncTestClient[Any]) -> None:
    await register(web, "history@example.de")
    await _save(web, given_name="Erika")
    await web.get("/data")  # the citizen's own view is logged too
    entries = await _verified_history(web)
    assert ("citizen", "view", ["given_name"]) in [(e["actor"], e["action"], e["fields"]) for e in entries]
    page = await web.get("/history")
    assert page.text.count("✓ bestätigt") >= len(entries)
    assert "angesehen" in page.text
    assert "Vornamen" in page.text
    english = await web.get("/history?lang=en")  # the shared macros follow the language too
    assert "viewed" in english.text
    assert "Given names" in english.text
    assert "angesehen" not in english.text
    await web.get("/history?lang=de")

    receipt_links = re.findall(r'href="/api/v1/me/history/(\d+)/receipt"', page.text)
    assert len(receipt_links) >= len(entries)
    r = await web.get(f"/api/v1/me/history/{receipt_links[0]}/receipt")
    assert r.status_code == 200
    assert "attachment" in r.headers["content-disposition"]
    body = r.json()
    record, salt = base64.b64decode(body["record"]), base64.b64decode(body["salt"])
    # Offline: the record opens the commitment, and the receipt verifies with the log's key alone.
    assert base64.b64encode(commitment(salt, record)).decode() == body["receipt"]["commitment"]
    verified = verify_receipt(Receipt(**body["receipt"]), body["log_key"], body["log_origin"])
    assert verified.leaf_index is not None
    assert verified.promised_at is not None

    web.cookies.clear()
    await register(web, "snoop@example.de")
    assert (await web.get(f"/api/v1/me/history/{receipt_links[0]}/receipt")).status_code == 404
    assert (await web.get("/api/v1/me/history/999999/receipt")).status_code == 404


async def test_history_page_marks_a_tampered_entry_as_not_verified(
    web: AsyncTestClient[Any], migrated: Settings
) -> None:
    await register(web, "tampered@example.de")
    await _save(web, given_name="Erika")
    entries = await _verified_history(web)
    async with domain(migrated) as runtime, runtime.engine.begin() as conn:
        # Someone with database access rewrites what an entry says (a different purpose).
        row = (await conn.execute(text("SELECT record FROM log_entries WHERE id = :i"), {"i": entries[0]["id"]})).one()
        forged = bytes(row[0]).replace(b'"purpose":null', b'"purpose":"harmless"')
        assert forged != bytes(row[0])
        await conn.execute(
            text("UPDATE log_entries SET record = :r WHERE id = :i"), {"r": forged, "i": entries[0]["id"]}
        )
    page = await web.get("/history")
    assert "✗ NICHT bestätigt" in page.text


async def test_sessions_list_and_sign_out_elsewhere(web: AsyncTestClient[Any]) -> None:
    await register(web, "sessions@example.de")
    first = dict(web.cookies)
    web.cookies.clear()
    page = await web.get("/login")
    r = await web.post(
        "/login",
        data={"username": "sessions@example.de", "password": PASSWORD, "csrf_token": form_token(page.text)},
    )
    assert r.status_code == 303
    second = dict(web.cookies)
    settings = await web.get("/settings")
    assert settings.text.count("Angemeldet") >= 1
    assert "(diese Sitzung)" in settings.text
    assert len(re.findall(r"<tr><th scope=\"row\">[0-9a-f]{8}", settings.text)) == 2
    r = await web.post("/settings/sessions/end-others", data={"csrf_token": await session_token(web)})
    assert r.headers["location"] == "/settings?ended=1"
    assert (await web.get("/settings")).status_code == 200  # this session lives on
    web.cookies.clear()
    web.cookies.update(first)
    assert (await web.get("/settings")).status_code == 303  # the other one ended
    web.cookies.update(second)


async def test_delete_account_needs_confirmation_then_shreds(web: AsyncTestClient[Any]) -> None:
    await register(web, "shred@example.de")
    await _save(web, given_name="Erika")
    confirm = await web.get("/settings/delete")
    assert 'name="confirm"' in confirm.text
    r = await web.post("/settings/delete", data={"csrf_token": form_token(confirm.text)})
    assert r.status_code == 422
    assert (await web.get("/api/v1/me/attributes")).status_code == 200  # nothing happened
    r = await web.post("/settings/delete", data={"csrf_token": form_token(confirm.text), "confirm": "yes"})
    assert r.status_code == 303
    assert r.headers["location"] == "/login?erased=1"
    assert any(c.startswith("__Host-vault=") and "Max-Age=0" in c for c in r.headers.get_list("set-cookie"))
    assert "Ihr Konto wurde gelöscht" in (await web.get("/login?erased=1")).text
    page = await web.get("/login")
    r = await web.post(
        "/login", data={"username": "shred@example.de", "password": PASSWORD, "csrf_token": form_token(page.text)}
    )
    assert r.status_code == 401


FORMS = [
    ("/data", {"given_name": "Mallory"}),
    ("/data/given_name/delete", {}),
    ("/settings/sessions/end-others", {}),
    ("/settings/delete", {"confirm": "yes"}),
    ("/logout", {}),
]


@pytest.mark.parametrize(("path", "fields"), FORMS, ids=[p for p, _ in FORMS])
async def test_cross_site_posts_without_the_token_are_403_and_change_nothing(
    web: AsyncTestClient[Any], path: str, fields: dict[str, str]
) -> None:
    await register(web, "victim@example.de")
    await _save(web, given_name="Erika")
    before = (await web.get("/api/v1/me/attributes")).json()["attributes"]
    for token in (None, "forged", await session_token(web) + "x"):
        data = {**fields, **({"csrf_token": token} if token else {})}
        r = await web.post(path, data=data)
        assert r.status_code == 403, (path, token, r.status_code)
    r = await web.post("/data", content=b'{"given_name": "Mallory"}', headers={"content-type": "application/json"})
    assert r.status_code == 403
    after = (await web.get("/api/v1/me/attributes")).json()["attributes"]
    assert after["given_name"]["value"] == before["given_name"]["value"] == "Erika"
    assert (await web.get("/settings")).status_code == 200  # still signed in


async def test_cross_site_upload_without_the_token_is_403(web: AsyncTestClient[Any]) -> None:
    await register(web, "victim-docs@example.de")
    r = await web.post("/documents", data={"kind": "other"}, files={"file": ("a.pdf", PDF, "application/pdf")})
    assert r.status_code == 403
    assert (await web.get("/api/v1/me/documents", headers=await csrf_header(web))).json() == {"documents": []}
