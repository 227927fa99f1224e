"""Writes serialise per citizen and never land after an erasure."""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import func, select

from vault.citizens.errors import UnknownCitizen
from vault.citizens.tables import DocumentChunk, StoredAttribute, StoredDocument
from vault.citizens.vault import CHUNK_BYTES, CHUNKS_PER_TRANSACTION, CITIZEN_VIEW

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from vault.runtime import Runtime


async def test_concurrent_writes_of_one_attribute_all_land_as_versions(runtime: Runtime) -> None:
    cid = await runtime.services.accounts.register("concurrent", "concurrent password")
    names = [f"Name-{i}" for i in range(12)]
    results = await asyncio.gather(*(runtime.services.vault.set_attribute(cid, "family_name", n) for n in names))
    assert sorted(r.version for r in results) == list(range(1, 13))
    async with runtime.sessions() as s:
        current = (
            (
                await s.execute(
                    select(StoredAttribute.version).where(StoredAttribute.citizen_id == cid, StoredAttribute.current)
                )
            )
            .scalars()
            .all()
        )
    assert len(current) == 1
    latest = max(results, key=lambda r: r.version)
    assert (await runtime.services.vault.read_attributes(cid, CITIZEN_VIEW))["family_name"].value == latest.value


async def test_an_upload_interrupted_by_erasure_leaves_nothing(runtime: Runtime) -> None:
    cid = await runtime.services.accounts.register("erased-midway", "erase midway password")
    halfway = asyncio.Event()
    proceed = asyncio.Event()

    async def stream() -> AsyncIterator[bytes]:
        yield b"%PDF-" + os.urandom(CHUNKS_PER_TRANSACTION * CHUNK_BYTES + 10)  # one write group stored
        halfway.set()
        await proceed.wait()
        yield os.urandom(CHUNKS_PER_TRANSACTION * CHUNK_BYTES)

    upload = asyncio.create_task(runtime.services.vault.put_document(cid, "k", "application/pdf", "x.pdf", stream()))
    await halfway.wait()
    await runtime.services.accounts.erase(cid)
    proceed.set()
    with pytest.raises(UnknownCitizen):
        await upload
    async with runtime.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(StoredDocument)) == 0
        assert await s.scalar(select(func.count()).select_from(DocumentChunk)) == 0
