"""Grants as the citizen sees them: list, signed receipt, one-step revoke, history, export, erasure."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import jsonschema
from joserfc import jws
from joserfc.jwk import KeySet
from sqlalchemy import text

from tests.support.catalogue import agency_key, service_toml
from tests.support.web import csrf_header, domain, register, session_token
from vault.consent.catalogue import parse_service

if TYPE_CHECKING:
    from litestar.testing import AsyncTestClient

    from vault.config import Settings


async def _citizen_id(web: AsyncTestClient[Any], settings: Settings) -> str:
    """The signed-in citizen's id (the newest account)."""
    async with domain(settings) as runtime, runtime.engine.connect() as conn:
        return str((await conn.execute(text("SELECT id FROM citizens ORDER BY created_at DESC LIMIT 1"))).scalar())


async def _grant(settings: Settings, citizen_id: str, **service_lines: str) -> str:
    """An agency, its service and the citizen's approval, through the domain services."""
    async with domain(settings) as runtime:
        _, jwks = agency_key()
        agencies = await runtime.services.catalogue.agencies()
        client_id = (
            agencies[0].client_id
            if agencies
            else await runtime.services.catalogue.add_agency("Bürgeramt Köln", ["https://amt.example/cb"], jwks)
        )
        service = parse_service(service_toml(client_id, **service_lines))
        try:
            await runtime.services.catalogue.service(service.id)
        except LookupError:
            await runtime.services.catalogue.add_service(service)
        agency = await runtime.services.catalogue.agency(client_id)
        grant = await runtime.services.grants.create(
            citizen_id, agency, service, ("given_name", "address"), ("rental_confirmation",)
        )
        return grant.id


async def test_grants_are_listed_with_a_receipt_that_verifies_with_the_jwks(
    web: AsyncTestClient[Any], migrated: Settings
) -> None:
    await register(web, "grants@example.de")
    grant_id = await _grant(migrated, await _citizen_id(web, migrated))
    listed = (await web.get("/api/v1/me/grants")).json()["grants"]
    assert len(listed) == 1
    grant = listed[0]
    assert (grant["id"], grant["service"], grant["status"], grant["access"]) == (
        grant_id,
        "ummeldung",
        "active",
        "once",
    )
    assert grant["fields"] == ["given_name", "address"]
    assert grant["legal_basis"] == "§ 17 Bundesmeldegesetz (BMG)"
    expires = datetime.fromisoformat(grant["expires_at"]) - datetime.fromisoformat(grant["created_at"])
    assert expires == timedelta(days=30)

    page = await web.get("/grants")
    assert "Bürgeramt Köln" in page.text
    assert "Wohnsitz ummelden" in page.text
    assert "Anmeldung der neuen Wohnung" in page.text
    assert "Dokument: Wohnungsgeberbestätigung" in page.text
    assert "Register a change of address" in (await web.get("/grants?lang=en")).text
    await web.get("/grants?lang=de")

    receipt = await web.get(f"/api/v1/me/grants/{grant_id}/receipt")
    assert receipt.status_code == 200
    assert "attachment" in receipt.headers["content-disposition"]
    jwks = (await web.get("/oauth/jwks")).json()
    assert jwks["keys"][0]["alg"] == "ES256"
    assert "d" not in jwks["keys"][0]
    verified = jws.deserialize_compact(receipt.text, KeySet.import_key_set(jwks), algorithms=["ES256"])
    assert verified.headers()["typ"] == "consent-receipt+jwt"
    claims = json.loads(verified.payload)
    consent = claims["consent"]
    assert claims["jti"] == grant_id
    assert consent["agency"]["name"] == "Bürgeramt Köln"
    assert consent["purpose"]["de"] == "Anmeldung der neuen Wohnung"
    assert consent["fields"] == ["given_name", "address"]
    history = (await web.get("/api/v1/me/history")).json()["entries"]
    granted = [e for e in history if e["action"] == "grant"]
    assert [e["commitment"] for e in granted] == [consent["log_commitment"]]
    assert granted[0]["grant_id"] == grant_id
    tampered = receipt.text[:-4] + ("AAAA" if not receipt.text.endswith("AAAA") else "BBBB")
    try:
        jws.deserialize_compact(tampered, KeySet.import_key_set(jwks), algorithms=["ES256"])
    except Exception:  # noqa: BLE001  any refusal will do
        pass
    else:
        raise AssertionError("a tampered receipt verified")


async def test_revoke_is_one_step_logged_and_final(web: AsyncTestClient[Any], migrated: Settings) -> None:
    await register(web, "revoke@example.de")
    grant_id = await _grant(migrated, await _citizen_id(web, migrated))
    page = await web.get("/grants")
    assert f'action="/grants/{grant_id}/revoke"' in page.text
    r = await web.post(f"/grants/{grant_id}/revoke", data={"csrf_token": "forged"})
    assert r.status_code == 403
    assert (await web.get("/api/v1/me/grants")).json()["grants"][0]["status"] == "active"
    r = await web.post(f"/grants/{grant_id}/revoke", data={"csrf_token": await session_token(web)})
    assert r.status_code == 303
    assert r.headers["location"] == "/grants?revoked=1"
    assert "Die Einwilligung wurde widerrufen" in (await web.get("/grants?revoked=1")).text
    grant = (await web.get("/api/v1/me/grants")).json()["grants"][0]
    assert grant["status"] == "revoked"
    assert grant["ended_at"] is not None
    again = await web.post(f"/api/v1/me/grants/{grant_id}/revoke", headers=await csrf_header(web))
    assert again.status_code == 409
    history = (await web.get("/api/v1/me/history")).json()["entries"]
    assert [(e["action"], e["grant_id"]) for e in history if e["action"] in ("grant", "revoke")] == [
        ("revoke", grant_id),
        ("grant", grant_id),
    ]


async def test_another_citizens_grant_cannot_be_seen_or_revoked(web: AsyncTestClient[Any], migrated: Settings) -> None:
    await register(web, "owner-grant@example.de")
    grant_id = await _grant(migrated, await _citizen_id(web, migrated))
    owner = dict(web.cookies)
    web.cookies.clear()
    await register(web, "other-grant@example.de")
    h = await csrf_header(web)
    assert (await web.get("/api/v1/me/grants")).json() == {"grants": []}
    assert (await web.post(f"/api/v1/me/grants/{grant_id}/revoke", headers=h)).status_code == 404
    assert (await web.get(f"/api/v1/me/grants/{grant_id}/receipt")).status_code == 404
    r = await web.post(f"/grants/{grant_id}/revoke", data={"csrf_token": await session_token(web)})
    assert r.status_code == 404
    web.cookies.clear()
    web.cookies.update(owner)
    assert (await web.get("/api/v1/me/grants")).json()["grants"][0]["status"] == "active"


async def test_expired_grants_show_as_past(web: AsyncTestClient[Any], migrated: Settings) -> None:
    await register(web, "expired@example.de")
    grant_id = await _grant(migrated, await _citizen_id(web, migrated))
    async with domain(migrated) as runtime, runtime.engine.begin() as conn:
        past = datetime.now(UTC) - timedelta(minutes=1)
        await conn.execute(text("UPDATE grants SET expires_at = :t WHERE id = :i"), {"t": past, "i": grant_id})
    assert (await web.get("/api/v1/me/grants")).json()["grants"][0]["status"] == "expired"
    page = await web.get("/grants")
    assert "Sie haben keine aktiven Einwilligungen." in page.text
    assert "abgelaufen" in page.text
    assert not re.search(r'action="/grants/[^"]+/revoke"', page.text)
    r = await web.post(f"/api/v1/me/grants/{grant_id}/revoke", headers=await csrf_header(web))
    assert r.status_code == 409


async def test_export_carries_the_grants_and_erasure_revokes_them(
    web: AsyncTestClient[Any], migrated: Settings
) -> None:
    await register(web, "export-grants@example.de")
    citizen_id = await _citizen_id(web, migrated)
    grant_id = await _grant(migrated, citizen_id)
    exported = (await web.get("/api/v1/me/export")).json()
    jsonschema.validate(exported, (await web.get("/schema/export.json")).json())
    assert [g["id"] for g in exported["grants"]] == [grant_id]
    assert (await web.delete("/api/v1/me", headers=await csrf_header(web))).status_code == 204
    async with domain(migrated) as runtime:
        assert [g.status for g in await runtime.services.grants.for_citizen(citizen_id)] == ["revoked"]
