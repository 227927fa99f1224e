"""Auditor accounts and pages, on both databases: who gets in, what they see, and what they never see.

The story: a citizen with personal data grants an agency access; the agency reads twice; the
citizen revokes; the agency tries again and is refused; another consent is denied. An auditor then
goes through every audit page and export. Every response an auditor gets is searched for the
citizen's login name, account id and attribute values: none may appear.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select

from tests.integration.consent.test_oauth_flow import _approve, _flow, _push, _read
from tests.support.web import PASSWORD, domain, form_token, register, session_token
from vault.citizens.tables import Citizen
from vault.transparency.records import COMMITMENT_PREFIX

if TYPE_CHECKING:
    from litestar.testing import AsyncTestClient

    from vault.config import Settings

CITIZEN = "erika.mustermann@example.de"
SECRETS = ("erika", "mustermann", "1964-08-12", "86095742719")
AUDITOR = "pruefer@bfdi.example"
AUDIT_PAGES = (
    "/audit",
    "/audit/entries",
    "/audit/refusals",
    "/audit/checkpoints",
    "/audit/anomalies",
    "/audit/activity",
)


async def _sign_in(web: AsyncTestClient[Any], username: str) -> None:
    if "__Host-vault-session" in web.cookies:
        await web.post("/logout", data={"csrf_token": await session_token(web)})
        web.cookies.clear()
    page = await web.get("/login")
    r = await web.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": form_token(page.text)})
    assert r.status_code == 303, r.text


async def _story(web: AsyncTestClient[Any], migrated: Settings) -> dict[str, Any]:
    """The citizen's side: data, a grant, two reads, a revoke, a refused read, a denied consent."""
    agency, token = await _flow(web, migrated, CITIZEN, access='access = "ongoing"')
    for _ in range(2):
        assert (await _read(web, agency, token)).status_code == 200
    grants = (await web.get("/api/v1/me/grants")).json()["grants"]
    grant_id = grants[0]["id"]
    revoke = await web.post(f"/api/v1/me/grants/{grant_id}/revoke", headers={"X-CSRF-Token": await session_token(web)})
    assert revoke.status_code == 200, revoke.text
    assert (await _read(web, agency, token)).status_code == 401
    request_uri, _, _ = await _push(web, agency)
    assert (await _approve(web, agency, request_uri, decision="deny")).status_code == 303
    async with domain(migrated) as runtime:
        async with runtime.sessions() as db:
            citizen_id = await db.scalar(
                select(Citizen.id).where(Citizen.login_hash == runtime.services.accounts.login_hash(CITIZEN))
            )
        auditor_id = await runtime.services.auditors.add(
            runtime.services.accounts, AUDITOR, PASSWORD, "BfDI, Referat 24"
        )
        await runtime.services.log.integrate(runtime.engine)
    assert citizen_id
    return {"agency": agency, "grant_id": grant_id, "auditor_id": auditor_id, "citizen_id": citizen_id}


class Seen:
    """Every response the auditor got."""

    def __init__(self, web: AsyncTestClient[Any]) -> None:
        self.web = web
        self.bodies: list[str] = []

    async def get(self, path: str, status: int = 200) -> Any:
        r = await self.web.get(path)
        assert r.status_code == status, (path, r.status_code, r.text[:500])
        self.bodies.append(r.text + json.dumps(dict(r.headers)))
        return r


@pytest.fixture
async def story(web: AsyncTestClient[Any], migrated: Settings) -> dict[str, Any]:
    return await _story(web, migrated)


async def test_a_citizen_is_refused_and_nobody_signed_in_is_sent_to_sign_in(
    web: AsyncTestClient[Any], story: dict[str, Any]
) -> None:
    assert (await web.get("/history?before=" + "9" * 5000)).status_code == 200  # not int()'s ValueError
    for path in (*AUDIT_PAGES, "/audit/entries.csv", "/audit/entries.json"):
        r = await web.get(path)  # still the citizen's session
        assert r.status_code == 403, path
    web.cookies.clear()
    for path in AUDIT_PAGES:
        r = await web.get(path)
        assert r.status_code == 303
        assert r.headers["location"] == "/login"


async def test_the_auditor_sees_every_page_pseudonymously(web: AsyncTestClient[Any], story: dict[str, Any]) -> None:
    await _sign_in(web, AUDITOR)
    seen = Seen(web)
    home = await seen.get("/", 303)
    assert home.headers["location"] == "/audit"
    overview = await seen.get("/audit")
    assert "<svg" in overview.text
    assert "Bürgeramt Köln" in overview.text
    assert 'aria-current="page"' in overview.text

    entries = await seen.get("/audit/entries")
    for action in ("read", "revoke", "grant", "denied"):
        assert f'<option value="{action}"' in entries.text
    reads = await seen.get("/audit/entries?action=read")
    assert "2 " in reads.text  # "2 matching entries" / "2 passende Einträge"
    pseudonyms = set(_pseudonyms(reads.text))
    assert len(pseudonyms) == 1
    (pseudonym,) = pseudonyms
    mine = await seen.get(f"/audit/entries?pseudonym={pseudonym}")
    assert mine.text.count("<tr>") > 3  # register, writes, grant, reads, revoke ...
    await seen.get("/audit/entries?since=2020-01-01&until=2099-12-31&agency=" + story["agency"].client_id)

    exported = await seen.get("/audit/entries.csv?action=read")
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == 2
    assert {r["agency_name"] for r in rows} == {"Bürgeramt Köln"}
    assert {r["pseudonym"] for r in rows} == {pseudonym}

    document = (await seen.get("/audit/entries.json")).json()
    assert document["count"] == len(document["entries"]) > 5
    for entry in document["entries"]:  # the auditor can open every commitment
        opened = hashlib.sha256(COMMITMENT_PREFIX + base64.b64decode(entry["salt"]) + entry["record"].encode()).digest()
        assert base64.b64encode(opened).decode() == entry["commitment"]
        assert entry["leaf_index"] is not None

    refusals = await seen.get("/audit/refusals")
    assert story["grant_id"] in refusals.text
    assert "Bürgeramt Köln" in refusals.text
    checkpoints = await seen.get("/audit/checkpoints")
    assert "NOT consistent" not in checkpoints.text
    assert "nicht konsistent" not in checkpoints.text.lower()
    await seen.get("/audit/anomalies")
    await seen.get("/audit/activity")
    await seen.get("/audit/entries?before=" + "9" * 5000)
    await seen.get("/audit/checkpoints?before=\u0661\u0662")
    await seen.get("/audit/entries?lang=en")
    await seen.get("/audit/entries?since=yesterday", 400)
    bad = await web.get("/audit/entries.csv?until=31.12.2026")
    assert bad.status_code == 400

    everything = "\n".join(seen.bodies).lower()
    for secret in (*SECRETS, CITIZEN, story["citizen_id"]):
        assert secret not in everything, secret


async def test_a_disabled_auditor_is_refused(
    web: AsyncTestClient[Any], migrated: Settings, story: dict[str, Any]
) -> None:
    await _sign_in(web, AUDITOR)
    assert (await web.get("/audit")).status_code == 200
    async with domain(migrated) as runtime:
        await runtime.services.auditors.disable(story["auditor_id"])
    assert (await web.get("/audit")).status_code == 403
    assert (await web.get("/audit/entries.json")).status_code == 403


async def test_a_citizen_with_the_same_pages_cannot_become_an_auditor_by_registering(
    web: AsyncTestClient[Any], story: dict[str, Any]
) -> None:
    web.cookies.clear()
    assert (await register(web, "another@example.de")).status_code == 303
    assert (await web.get("/audit")).status_code == 403


def _pseudonyms(html: str) -> list[str]:
    import re

    return re.findall(r'title="([0-9a-f]{64})"', html)
