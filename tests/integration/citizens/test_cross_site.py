"""No cross-site trigger of decryption (issue 15 item 5), on both databases.

The session cookie is ``SameSite=Lax``: a link on another site arrives signed in. Every operation
that decrypts or writes log entries refuses a request the browser marks as started by another site
(``Sec-Fetch-Site: cross-site`` or ``same-site``; without that header a foreign ``Origin`` or
``Referer``): the JSON API with 403 ``cross_site_request``, ``/data`` with a page that asks first.
Each refusal is checked to write no log entry and to show no decrypted value; the same request
from the vault's own pages (``same-origin``) works; a page (not the API) may also be typed in (``none``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import func, select

from tests.support.web import BASE_URL, csrf_header, domain, register, session_token
from vault.transparency.tables import LogEntry

if TYPE_CHECKING:
    from litestar.testing import AsyncTestClient

    from vault.config import Settings

SECRET = "Hieronymus"
PDF = b"%PDF-1.4 " + SECRET.encode()
FOREIGN: tuple[dict[str, str], ...] = (
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "https://agency.example"},
    {"Referer": "https://agency.example/apply"},
)
# The JSON API is never opened from outside the vault's pages: a link in a mail (``none``) is refused too.
FOREIGN_TO_THE_API = (*FOREIGN, {"Sec-Fetch-Site": "none"})
OWN: tuple[dict[str, str], ...] = (
    {"Sec-Fetch-Site": "same-origin"},
    {"Origin": BASE_URL},
    {},
)


async def log_entries(settings: Settings) -> int:
    async with domain(settings) as runtime, runtime.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(LogEntry)) or 0)


async def _citizen(web: AsyncTestClient[Any]) -> str:
    """A signed-in citizen with an attribute and a document; returns the document's id."""
    assert (await register(web, "linked@example.de")).status_code == 303
    h = await csrf_header(web)
    assert (await web.put("/api/v1/me/attributes/given_name", json={"value": SECRET}, headers=h)).status_code == 200
    files = {"file": ("secret.pdf", PDF, "application/pdf")}
    upload = await web.post("/api/v1/me/documents", files=files, data={"kind": "id_card"}, headers=h)
    assert upload.status_code == 201, upload.text
    return str(upload.json()["id"])


def _decrypting_gets(document_id: str) -> tuple[str, ...]:
    return ("/api/v1/me/attributes", f"/api/v1/me/documents/{document_id}", "/api/v1/me/export")


async def test_the_api_refuses_another_sites_request_before_decrypting(
    web: AsyncTestClient[Any], migrated: Settings
) -> None:
    paths = _decrypting_gets(await _citizen(web))
    before = await log_entries(migrated)
    for path in paths:
        for headers in FOREIGN_TO_THE_API:
            r = await web.get(path, headers=headers)
            assert r.status_code == 403, (path, headers, r.text)
            assert r.json()["error"] == "cross_site_request"
            assert "another website" in r.json()["error_description"]
            assert SECRET not in r.text
    assert await log_entries(migrated) == before
    for path in paths:
        for headers in OWN:
            r = await web.get(path, headers=headers)
            assert r.status_code == 200, (path, headers, r.text)
            assert SECRET.encode() in r.content or SECRET in r.text
    assert await log_entries(migrated) >= before + len(paths) * len(OWN)  # the export logs one entry per item


async def test_the_api_refuses_another_sites_changes_even_with_the_token(
    web: AsyncTestClient[Any], migrated: Settings
) -> None:
    """Unsafe methods need ``X-CSRF-Token`` already; from another site they are refused even with it."""
    document_id = await _citizen(web)
    h = await csrf_header(web)
    before = await log_entries(migrated)
    cross = {**h, "Sec-Fetch-Site": "cross-site"}
    assert (await web.put("/api/v1/me/attributes/family_name", json={"value": "X"}, headers=cross)).status_code == 403
    assert (await web.delete("/api/v1/me/attributes/given_name", headers=cross)).status_code == 403
    assert (await web.delete(f"/api/v1/me/documents/{document_id}", headers=cross)).status_code == 403
    files = {"file": ("x.pdf", PDF, "application/pdf")}
    r = await web.post("/api/v1/me/documents", files=files, data={"kind": "other"}, headers=cross)
    assert r.status_code == 403
    assert (await web.delete("/api/v1/me", headers=cross)).status_code == 403
    assert await log_entries(migrated) == before
    attributes = (await web.get("/api/v1/me/attributes", headers={"Sec-Fetch-Site": "same-origin"})).json()
    assert set(attributes["attributes"]) == {"given_name"}
    assert len((await web.get("/api/v1/me/documents")).json()["documents"]) == 1


async def test_a_link_from_another_site_to_the_data_page_asks_first(
    web: AsyncTestClient[Any], migrated: Settings
) -> None:
    await _citizen(web)
    before = await log_entries(migrated)
    for headers in FOREIGN:
        page = await web.get("/data?lang=en", headers={**headers, "Sec-Fetch-Mode": "navigate"})
        assert page.status_code == 200, page.text
        assert SECRET not in page.text
        assert "Show my data" in page.text
        form = re.search(r'<form method="get" action="/data">(.*?)</form>', page.text, re.S)
        assert form, page.text
        assert '<input type="hidden" name="lang" value="en">' in form.group(1)
    assert await log_entries(migrated) == before
    # The button sends the same address again, now from the vault's own page.
    shown = await web.get("/data?lang=en", headers={"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate"})
    assert SECRET in shown.text
    assert "Show my data" not in shown.text
    assert await log_entries(migrated) == before + 1


@pytest.mark.parametrize("headers", [{}, {"Sec-Fetch-Site": "same-origin"}])
async def test_the_settings_page_exports_with_a_form_and_its_token(
    web: AsyncTestClient[Any], migrated: Settings, headers: dict[str, str]
) -> None:
    await _citizen(web)
    settings = await web.get("/settings")
    assert 'action="/settings/export"' in settings.text
    assert 'href="/api/v1/me/export"' not in settings.text
    before = await log_entries(migrated)
    refused = await web.post("/settings/export", data={}, headers=headers)
    assert refused.status_code == 403
    assert SECRET not in refused.text
    assert await log_entries(migrated) == before
    token = await session_token(web)
    r = await web.post("/settings/export", data={"csrf_token": token}, headers=headers)
    assert r.status_code == 200, r.text
    assert "attachment" in r.headers["content-disposition"]
    assert r.json()["attributes"]["given_name"]["value"] == SECRET
    assert await log_entries(migrated) > before


async def test_every_citizen_api_operation_refuses_another_sites_request(web: AsyncTestClient[Any]) -> None:
    """Walks the OpenAPI document: each /api/v1/me operation answers 403 cross_site_request to a foreign request."""
    document_id = await _citizen(web)
    h = await csrf_header(web)
    schema = (await web.get("/schema/openapi.json")).json()
    tried = []
    for path, operations in schema["paths"].items():
        if not path.startswith("/api/v1/me"):
            continue
        concrete = re.sub(r"\{[^}]+\}", document_id, path.replace("{entry_id}", "1"))
        for method in operations:
            if method not in {"get", "post", "put", "delete"}:
                continue
            r = await web.request(method.upper(), concrete, headers={**h, "Sec-Fetch-Site": "cross-site"})
            assert r.status_code == 403, (method, path, r.text)
            assert r.json()["error"] == "cross_site_request", (method, path)
            tried.append((method, path))
    assert ("get", "/api/v1/me/passkeys") in tried
    assert len(tried) >= 10
