"""The stored log: append in the caller's transaction, integrate in batches, prove from tiles."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import delete, func, select, update

from tlog.merkle import EMPTY_ROOT, MemoryTree, leaf_hash, verify_consistency, verify_inclusion
from tlog.note import open_checkpoint
from vault.transparency.log import BadProofRequest, LogBehind, LoggedAccess
from vault.transparency.tables import LogCheckpoint, LogEntry, LogState, LogTile

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.log_harness import LogHarness


async def test_logged_access_cannot_be_forged() -> None:
    with pytest.raises(TypeError, match=r"TransparencyLog\.append"):
        LoggedAccess(token=object(), entry_id=1, commitment=b"", salt=b"", record=None, promise="")  # type: ignore[arg-type]


async def test_logged_access_is_immutable(harness: LogHarness) -> None:
    async with harness.sessions.begin() as session:
        access = await harness.log.append(session, harness.record("citizen-1"), subject="citizen-1")
    with pytest.raises(AttributeError):
        access.subject = "citizen-2"  # type: ignore[misc]
    assert access.subject == "citizen-1"


async def test_append_is_part_of_the_callers_transaction(harness: LogHarness) -> None:
    async with harness.sessions() as session, session.begin():
        await harness.log.append(session, harness.record())
        await session.rollback()
    async with harness.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(LogEntry)) == 0


async def test_integration_assigns_contiguous_indices_and_signs_checkpoints(harness: LogHarness) -> None:
    first = await harness.log.integrate(harness.engine)
    assert first is not None
    assert (first.integrated, first.size) == (0, 0)
    assert first.checkpoint is not None
    sizes = []
    for batch in (1, 7, 300, 1):
        await harness.append(batch)
        result = await harness.log.integrate(harness.engine)
        assert result is not None
        assert result.integrated == batch
        sizes.append(result.size)
    assert sizes == [1, 8, 308, 309]
    async with harness.engine.connect() as conn:
        indices = (await conn.execute(select(LogEntry.leaf_index).order_by(LogEntry.id))).scalars().all()
        commitments = (await conn.execute(select(LogEntry.commitment).order_by(LogEntry.leaf_index))).scalars().all()
        size, root, note = await harness.log.latest_checkpoint(conn)  # type: ignore[misc]
    assert indices == list(range(309))
    tree = MemoryTree(leaf_hash(c) for c in commitments)
    assert (size, root) == (309, tree.root())
    cp = open_checkpoint(note, harness.verifier, harness.log.origin)
    assert (cp.size, cp.root) == (309, tree.root())


async def test_integration_limits_the_batch_and_continues(harness: LogHarness) -> None:
    await harness.append(50)
    result = await harness.log.integrate(harness.engine, max_batch=20)
    assert result is not None
    assert (result.integrated, result.size) == (20, 20)
    result = await harness.log.integrate(harness.engine, max_batch=100)
    assert result is not None
    assert (result.integrated, result.size) == (50 - 20, 50)


async def test_stored_proofs_match_an_in_memory_tree(harness: LogHarness) -> None:
    for batch in (3, 250, 260, 70000 // 100):
        await harness.append(batch)
        await harness.log.integrate(harness.engine)
    async with harness.engine.connect() as conn:
        commitments = (await conn.execute(select(LogEntry.commitment).order_by(LogEntry.leaf_index))).scalars().all()
        tree = MemoryTree(leaf_hash(c) for c in commitments)
        n = tree.size
        for size in (1, 2, 255, 256, 257, 511, 512, 513, n - 1, n):
            for index in {0, size // 3, size - 1}:
                proof = await harness.log.inclusion_proof(conn, index, size)
                assert proof == tree.inclusion_proof(index, size)
                verify_inclusion(tree.node(0, index), index, size, proof, tree.root(size))
            for first in {0, 1, size // 2, size}:
                proof = await harness.log.consistency_proof(conn, first, size)
                assert proof == tree.consistency_proof(first, size)
                verify_consistency(first, size, tree.root(first), tree.root(size), proof)


@pytest.mark.parametrize(("index", "size"), [(0, 0), (5, 5), (-1, 3), (0, 10**6)])
async def test_impossible_proofs_are_refused(harness: LogHarness, index: int, size: int) -> None:
    await harness.append(5)
    await harness.log.integrate(harness.engine)
    async with harness.engine.connect() as conn:
        with pytest.raises(BadProofRequest):
            await harness.log.inclusion_proof(conn, index, size)


async def test_concurrent_integrators_never_fork_the_log(harness: LogHarness) -> None:
    await harness.log.integrate(harness.engine)
    notes = []
    for _ in range(5):
        await harness.append(40)
        results = await asyncio.gather(*(harness.log.integrate(harness.engine, max_batch=15) for _ in range(4)))
        notes += [r.checkpoint for r in results if r is not None and r.checkpoint]
    while (r := await harness.log.integrate(harness.engine)) is not None and r.integrated:
        pass
    async with harness.engine.connect() as conn:
        indices = (await conn.execute(select(LogEntry.leaf_index).order_by(LogEntry.leaf_index))).scalars().all()
        commitments = (await conn.execute(select(LogEntry.commitment).order_by(LogEntry.leaf_index))).scalars().all()
    assert indices == list(range(200))
    tree = MemoryTree(leaf_hash(c) for c in commitments)
    for note in notes:
        cp = open_checkpoint(note, harness.verifier)
        assert cp.root == tree.root(cp.size)


async def test_integrator_refuses_to_sign_behind_what_it_already_signed(harness: LogHarness, tmp_path: Path) -> None:
    harness.log.head_file = tmp_path / "log-head.json"
    await harness.append(5)
    result = await harness.log.integrate(harness.engine)
    assert result is not None
    assert result.size == 5
    async with harness.engine.begin() as conn:  # a database restored from a backup taken at size 0
        await conn.execute(update(LogState).values(size=0, compact=b"", root=EMPTY_ROOT))
        await conn.execute(delete(LogCheckpoint))
        await conn.execute(delete(LogTile))
        await conn.execute(update(LogEntry).values(leaf_index=None))
    with pytest.raises(LogBehind, match="refusing to sign a diverging history"):
        await harness.log.integrate(harness.engine)
    async with harness.engine.connect() as conn:
        assert await harness.log.latest_checkpoint(conn) is None
