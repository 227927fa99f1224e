"""Documents: sealed in chunks with bounded memory; type, size, tampering and truncation checked."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import delete, func, select, update

from vault.citizens.errors import DocumentRejected, UnknownRecord
from vault.citizens.tables import DocumentChunk, StoredDocument
from vault.citizens.vault import CHUNK_BYTES, CHUNKS_PER_TRANSACTION, CITIZEN_VIEW
from vault.crypto import aead

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from vault.runtime import Runtime


async def _parts(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def _read(runtime: Runtime, cid: str, doc_id: str) -> bytes:
    _, _, chunks = await runtime.services.vault.read_document(cid, doc_id, CITIZEN_VIEW)
    return b"".join([c async for c in chunks])


async def _citizen(runtime: Runtime, name: str) -> str:
    return await runtime.services.accounts.register(name, "document password")


SIZES = [
    0,
    5,
    CHUNK_BYTES - 1,
    CHUNK_BYTES,
    CHUNK_BYTES + 1,
    3 * CHUNK_BYTES + 17,
    CHUNKS_PER_TRANSACTION * CHUNK_BYTES,
    2 * CHUNKS_PER_TRANSACTION * CHUNK_BYTES,
]


@pytest.mark.parametrize("size", SIZES)
async def test_round_trip_in_odd_parts(runtime: Runtime, size: int) -> None:
    cid = await _citizen(runtime, f"doc-{size}")
    data = (b"%PDF-1.7\n" + os.urandom(size))[: max(size, 5)] if size else b""
    if size == 0:
        with pytest.raises(DocumentRejected):  # an empty file is not a PDF
            await runtime.services.vault.put_document(
                cid, "rental_confirmation", "application/pdf", "x.pdf", _parts(b"", 1)
            )
        return
    info = await runtime.services.vault.put_document(
        cid, "rental_confirmation", "application/pdf", "Mietvertrag.pdf", _parts(data, 7777)
    )
    assert info.size == len(data)
    got_info, name, chunks = await runtime.services.vault.read_document(cid, info.id, CITIZEN_VIEW)
    assert (got_info.kind, name) == ("rental_confirmation", "Mietvertrag.pdf")
    assert b"".join([c async for c in chunks]) == data


async def test_type_and_size_are_checked_and_nothing_is_kept(runtime: Runtime) -> None:
    vault = runtime.services.vault
    cid = await _citizen(runtime, "doc-checks")
    with pytest.raises(DocumentRejected, match="content type"):
        await vault.put_document(cid, "x", "text/html", "a.html", _parts(b"<html>", 10))
    with pytest.raises(DocumentRejected, match="does not match"):
        await vault.put_document(cid, "x", "application/pdf", "a.pdf", _parts(b"\x89PNG\r\n\x1a\n....", 10))
    vault.max_document_bytes = 100_000
    with pytest.raises(DocumentRejected) as info:
        await vault.put_document(cid, "x", "image/png", "a.png", _parts(b"\x89PNG\r\n\x1a\n" + bytes(200_000), 4096))
    assert info.value.too_large
    async with runtime.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(StoredDocument)) == 0
        assert await s.scalar(select(func.count()).select_from(DocumentChunk)) == 0


async def test_tampered_reordered_or_truncated_chunks_fail(runtime: Runtime) -> None:
    cid = await _citizen(runtime, "doc-tamper")
    data = b"%PDF-" + os.urandom(3 * CHUNK_BYTES)
    info = await runtime.services.vault.put_document(cid, "k", "application/pdf", "t.pdf", _parts(data, CHUNK_BYTES))
    async with runtime.sessions.begin() as s:
        first = await s.scalar(select(DocumentChunk.ciphertext).where(DocumentChunk.idx == 0))
        second = await s.scalar(select(DocumentChunk.ciphertext).where(DocumentChunk.idx == 1))
        await s.execute(update(DocumentChunk).where(DocumentChunk.idx == 0).values(ciphertext=second))
        await s.execute(update(DocumentChunk).where(DocumentChunk.idx == 1).values(ciphertext=first))
    with pytest.raises(aead.InvalidCiphertext):
        await _read(runtime, cid, info.id)
    async with runtime.sessions.begin() as s:  # put them back, then drop the final chunk and shorten the count
        await s.execute(update(DocumentChunk).where(DocumentChunk.idx == 0).values(ciphertext=first))
        await s.execute(update(DocumentChunk).where(DocumentChunk.idx == 1).values(ciphertext=second))
    assert await _read(runtime, cid, info.id) == data
    async with runtime.sessions.begin() as s:
        await s.execute(delete(DocumentChunk).where(DocumentChunk.idx == 3))
        await s.execute(update(StoredDocument).values(chunks=3))
    with pytest.raises(aead.InvalidCiphertext):
        await _read(runtime, cid, info.id)


async def test_another_citizens_document_is_unknown(runtime: Runtime) -> None:
    a = await _citizen(runtime, "doc-owner")
    b = await _citizen(runtime, "doc-other")
    info = await runtime.services.vault.put_document(
        a, "k", "image/jpeg", "p.jpg", _parts(b"\xff\xd8\xff" + bytes(10), 5)
    )
    with pytest.raises(UnknownRecord):
        await runtime.services.vault.read_document(b, info.id, CITIZEN_VIEW)
    assert [d.id for d in await runtime.services.vault.list_documents(a)] == [info.id]
    assert await runtime.services.vault.list_documents(b) == []


async def test_a_20_mb_upload_keeps_memory_bounded(runtime: Runtime) -> None:
    cid = await _citizen(runtime, "doc-big")
    total = 20 * 1024 * 1024  # exactly the limit, and an exact multiple of a write group
    block = os.urandom(64 * 1024)
    digest = hashlib.sha256()

    async def stream() -> AsyncIterator[bytes]:
        first = b"%PDF-" + block[5:]
        yield first
        digest.update(first)
        for _ in range(total // len(block) - 1):
            yield block
            digest.update(block)

    tracemalloc.start()
    try:
        info = await runtime.services.vault.put_document(cid, "big", "application/pdf", "big.pdf", stream())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.size == total
    print(f"peak traced memory for a {info.size / 2**20:.1f} MiB upload: {peak / 2**20:.2f} MiB")
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes: memory is not bounded by the chunk size"
    _, _, chunks = await runtime.services.vault.read_document(cid, info.id, CITIZEN_VIEW)
    back = hashlib.sha256()
    async for chunk in chunks:
        back.update(chunk)
    assert back.digest() == digest.digest()
