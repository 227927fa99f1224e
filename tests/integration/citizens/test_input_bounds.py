"""What fuzzing found at the API's edges (tests/fuzz), kept: ids past 64 bits, oversized and deeply nested bodies.

Each answered 500 or took hundreds of MiB before; each is a 4xx now, on both databases.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from tests.support.agency import TestAgency
from tests.support.catalogue import service_toml
from tests.support.web import BASE_URL, csrf_header, domain, register, session_token
from vault.api.limits import FORM_BODY_LIMIT
from vault.consent.catalogue import parse_service

if TYPE_CHECKING:
    from litestar.testing import AsyncTestClient

    from vault.config import Settings

BIG = "x" * (FORM_BODY_LIMIT + 1)
PDF = b"%PDF-1.4\n" + b"0" * (FORM_BODY_LIMIT * 4) + b"\n%%EOF\n"


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


async def test_log_entry_ids_past_64_bits_are_a_400_not_a_500(web: AsyncTestClient[Any]) -> None:
    await register(web, "bounds@example.de")
    assert (await web.get(f"/api/v1/me/history?before={2**64}")).status_code == 400
    assert (await web.get(f"/api/v1/me/history?before={2**63 - 1}")).status_code == 200
    assert (await web.get(f"/api/v1/me/history/{2**64}/receipt")).status_code == 400
    assert (await web.get(f"/api/v1/me/history/{2**63 - 2}/receipt")).status_code == 404
    assert (await web.get("/api/v1/me/history/0/receipt")).status_code == 400


async def test_forms_and_json_past_the_small_limit_are_refused(web: AsyncTestClient[Any]) -> None:
    await register(web, "big@example.de")
    h = await csrf_header(web)
    token = await session_token(web)
    calls = [
        web.put("/api/v1/me/attributes/given_name", json={"value": BIG}, headers=h),
        web.post("/api/v1/me/passkeys", content=BIG, headers=h),
        web.post("/oauth/par", data={"state": BIG}),
        web.post("/oauth/token", data={"code": BIG}),
        web.post("/oauth/revoke", data={"token": BIG}),
        web.post("/oauth/introspect", data={"token": BIG}),
        web.post("/oauth/authorize", data={"decision": BIG, "csrf_token": token}),
        web.post("/login", data={"username": BIG}),
        web.post("/register", data={"username": BIG}),
        web.post("/data", data={"given_name": BIG, "csrf_token": token}),
        web.post("/settings/sessions/end-others", data={"x": BIG, "csrf_token": token}),
    ]
    for call in calls:
        r = await call
        assert r.status_code == 413, (r.request.url, r.text)


async def test_documents_still_take_more_than_the_form_limit(web: AsyncTestClient[Any]) -> None:
    await register(web, "docs@example.de")
    h = await csrf_header(web)
    files = {"file": ("miete.pdf", PDF, "application/pdf")}
    r = await web.post("/api/v1/me/documents", data={"kind": "rental_confirmation"}, files=files, headers=h)
    assert r.status_code == 201, r.text
    data = {"kind": "rental_confirmation", "csrf_token": await session_token(web)}
    r = await web.post("/documents", data=data, files=files)
    assert r.status_code == 303, r.text
    assert len((await web.get("/api/v1/me/documents")).json()["documents"]) == 2


async def test_json_nested_past_the_recursion_limit_is_a_400(web: AsyncTestClient[Any]) -> None:
    await register(web, "deep@example.de")
    h = {**(await csrf_header(web)), "Content-Type": "application/json"}
    body = '{"value": ' + nested(30_000) + "}"
    assert len(body) < FORM_BODY_LIMIT
    r = await web.put("/api/v1/me/attributes/given_name", content=body, headers=h)
    assert r.status_code == 400, r.text


async def test_authorization_details_nested_past_the_recursion_limit_is_a_400(
    web: AsyncTestClient[Any], migrated: Settings
) -> None:
    agency = TestAgency(BASE_URL)
    async with domain(migrated) as runtime:
        agency.client_id = await runtime.services.catalogue.add_agency("Amt", [agency.redirect_uri], agency.jwks())
        await runtime.services.catalogue.add_service(parse_service(service_toml(agency.client_id)))
    assert (await web.post("/oauth/par", data=agency.par_form())).status_code == 201
    r = await web.post("/oauth/par", data=agency.par_form(authorization_details=nested(10_000)))
    assert r.status_code == 400, r.text
    assert json.loads(r.text)
