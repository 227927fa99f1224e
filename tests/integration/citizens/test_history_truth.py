"""The history tells the truth and only the truth (issue 15, item 8).

A refused upload writes no entry and changes nothing; deleting an attribute or a document writes one
entry; every entry about a document names it by id (upload, an agency's read, delete); a grant whose
time is up gets one ``expire`` entry, however many sweeps run.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update

from tests.integration.consent.test_oauth_flow import _agency, _citizen, _code, _token, _upload
from tests.support.agency import TestAgency
from tests.support.catalogue import service_toml
from tests.support.web import BASE_URL, csrf_header, register
from vault.app import create_app
from vault.citizens.errors import UnknownRecord
from vault.citizens.history import history
from vault.citizens.tables import DocumentChunk, StoredDocument
from vault.consent.catalogue import parse_service
from vault.consent.grants import GrantRow
from vault.transparency.tables import LogEntry

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from vault.citizens.history import HistoryItem
    from vault.config import Settings
    from vault.runtime import Runtime

PDF = b"%PDF-1.7\n" + bytes(200)
LIMIT = 4096


async def _parts(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _entries(runtime: Runtime, citizen_id: str) -> list[HistoryItem]:
    items, _ = await history(runtime.engine, runtime.services.log, citizen_id, limit=None)
    return items


@pytest.fixture
async def small_uploads(migrated: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    """A client of a vault that takes documents of up to ``LIMIT`` bytes."""
    migrated.password_concurrency = 2
    migrated.issuer = BASE_URL
    migrated.max_document_bytes = LIMIT
    async with AsyncTestClient(create_app(migrated), base_url=BASE_URL) as client:
        client.follow_redirects = False
        yield client


@pytest.mark.parametrize(
    ("name", "content_type", "content", "status"),
    [
        ("too large", "application/pdf", b"%PDF-" + bytes(LIMIT), 413),
        ("bad type", "text/html", b"<html></html>", 415),
        ("content not of its type", "application/pdf", b"\x89PNG\r\n\x1a\n" + bytes(100), 415),
        ("empty", "application/pdf", b"", 415),
    ],
)
async def test_a_refused_upload_writes_no_entry_and_changes_nothing(
    small_uploads: AsyncTestClient[Any], name: str, content_type: str, content: bytes, status: int
) -> None:
    web = small_uploads
    await register(web, "refused-upload@example.de")
    before = [e["id"] for e in (await web.get("/api/v1/me/history")).json()["entries"]]
    r = await web.post(
        "/api/v1/me/documents",
        files={"file": ("upload.bin", content, content_type)},
        data={"kind": "rental_confirmation"},
        headers=await csrf_header(web),
    )
    assert r.status_code == status, f"{name}: {r.text}"
    after = [e["id"] for e in (await web.get("/api/v1/me/history")).json()["entries"]]
    assert after == before, f"{name} was logged"
    assert (await web.get("/api/v1/me/documents")).json() == {"documents": []}


async def test_deleting_an_attribute_writes_one_delete_entry(runtime: Runtime) -> None:
    cid = await runtime.services.accounts.register("delete-attribute@example.de", "ein sehr gutes Passwort")
    await runtime.services.vault.set_attribute(cid, "given_name", "Erika")
    before = await _entries(runtime, cid)
    await runtime.services.vault.delete_attribute(cid, "given_name")
    with pytest.raises(UnknownRecord):  # nothing left to delete: nothing logged
        await runtime.services.vault.delete_attribute(cid, "given_name")
    new = (await _entries(runtime, cid))[: -len(before)]
    assert [(e.actor, e.action, e.fields, e.document) for e in new] == [("citizen", "delete", ("given_name",), None)]


async def test_a_document_is_named_by_id_when_stored_and_when_deleted(runtime: Runtime) -> None:
    cid = await runtime.services.accounts.register("delete-document@example.de", "ein sehr gutes Passwort")
    before = await _entries(runtime, cid)
    info = await runtime.services.vault.put_document(
        cid, "rental_confirmation", "application/pdf", "a.pdf", _parts(PDF)
    )
    await runtime.services.vault.delete_document(cid, info.id)
    with pytest.raises(UnknownRecord):
        await runtime.services.vault.delete_document(cid, info.id)
    new = (await _entries(runtime, cid))[: -len(before)]
    assert [(e.actor, e.action, e.fields, e.document) for e in reversed(new)] == [
        ("citizen", "write", ("document:rental_confirmation",), info.id),
        ("citizen", "delete", ("document:rental_confirmation",), info.id),
    ]
    async with runtime.sessions() as db:
        assert await db.scalar(select(func.count()).select_from(StoredDocument)) == 0
        assert await db.scalar(select(func.count()).select_from(DocumentChunk)) == 0


async def test_an_agencys_document_read_names_the_document_it_released(
    web: AsyncTestClient[Any], migrated: Settings
) -> None:
    agency = await _agency(migrated, access='access = "ongoing"')
    await _citizen(web, "document-read@example.de")
    code, verifier = await _code(web, agency)
    token = (await _token(web, agency, code, verifier)).json()["access_token"]
    first, second = await _upload(web), await _upload(web)
    path = f"/api/v1/documents/{second}"
    r = await web.get(
        path, headers={"Authorization": f"DPoP {token}", "DPoP": agency.dpop("GET", BASE_URL + path, token)}
    )
    assert r.status_code == 200, r.text
    reads = [e for e in (await web.get("/api/v1/me/history")).json()["entries"] if e["actor"] == agency.client_id]
    reads = [e for e in reads if e["action"] == "read"]
    assert [(e["fields"], e["document"]) for e in reads] == [(["document:rental_confirmation"], second)]
    assert first != second


async def _a_grant_past_its_time_and_a_running_one(
    runtime: Runtime, login: str
) -> tuple[str, TestAgency, Any, Any, datetime]:
    """A citizen with two ongoing grants of one agency: one whose time ran out a second ago, one running."""
    cid = await runtime.services.accounts.register(login, "ein sehr gutes Passwort")
    agency = TestAgency(BASE_URL)
    agency.client_id = await runtime.services.catalogue.add_agency("Amt", [agency.redirect_uri], agency.jwks())
    service = parse_service(service_toml(agency.client_id, access='access = "ongoing"'))
    await runtime.services.catalogue.add_service(service)
    registered = await runtime.services.catalogue.agency(agency.client_id)
    due = await runtime.services.grants.create(cid, registered, service, ("given_name",), ())
    running = await runtime.services.grants.create(cid, registered, service, ("family_name",), ())
    past = datetime.now(UTC) - timedelta(seconds=1)
    async with runtime.sessions.begin() as db:
        await db.execute(update(GrantRow).where(GrantRow.id == due.id).values(expires_at=past))
    return cid, agency, due, running, past


async def test_a_grant_whose_time_is_up_gets_one_expire_entry(runtime: Runtime) -> None:
    cid, agency, due, running, past = await _a_grant_past_its_time_and_a_running_one(runtime, "expiry@example.de")
    before = await _entries(runtime, cid)

    swept = await asyncio.gather(*[runtime.services.grants.expire_due() for _ in range(3)])
    assert sum(swept) == 1
    assert await runtime.services.grants.expire_due() == 0

    new = (await _entries(runtime, cid))[: -len(before)]
    assert [(e.actor, e.action, e.service, e.grant_id) for e in new] == [
        (agency.client_id, "expire", "ummeldung", due.id)
    ]
    statuses = {g.id: (g.status, g.ended_at) for g in await runtime.services.grants.for_citizen(cid)}
    assert statuses[due.id] == ("expired", past)
    assert statuses[running.id] == ("active", None)


async def test_erasure_records_a_grant_whose_time_was_already_up_as_expired_not_revoked(runtime: Runtime) -> None:
    """The sweep had not reached the grant yet: it ended with its time, not with the erasure."""
    cid, _, due, running, past = await _a_grant_past_its_time_and_a_running_one(
        runtime, "expired-then-erased@example.de"
    )

    await runtime.services.accounts.erase(cid)

    async with runtime.sessions() as db:
        rows = {
            g.id: (g.status, g.ended_at) for g in await db.scalars(select(GrantRow).where(GrantRow.citizen_id == cid))
        }
        actions = {
            grant: sorted(
                a for g, a in (await db.execute(select(LogEntry.grant_id, LogEntry.action))).all() if g == grant
            )
            for grant in (due.id, running.id)
        }
    assert rows[due.id] == ("expired", past)
    assert rows[running.id][0] == "revoked"
    assert actions[due.id].count("expire") == 1
    assert "expire" not in actions[running.id]
