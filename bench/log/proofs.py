"""Proof latency on big trees, built by a bulk loader that writes tiles directly.

The loader does what ``integrate`` would do for N entries, without the entries: it draws N random
32-byte commitments, feeds their leaf hashes to :class:`CompactRange` and keeps every node at levels
0, 8, 16, … as tiles of 256 hashes (the last tile of a level may be partial), then writes the tiles
(``COPY`` on PostgreSQL, ``executemany`` on SQLite), the ``log_state`` row and one signed checkpoint.
``log_entries`` stays empty: proofs never read it (only ``leaves()`` does).
"""

from __future__ import annotations

import io
import os
import random
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from bench.log.deployment import deploy
from bench.log.measure import CpuMeter, StatementTimer, percentile
from tlog import merkle
from tlog.merkle import HASH_SIZE, CompactRange
from tlog.note import Checkpoint
from tlog.tiles import TILE_HEIGHT, TILE_WIDTH, node_from_tiles
from vault.crypto.signers import sign_checkpoint
from vault.db.engine import session_factory
from vault.transparency.records import LogRecord, utc_now_iso
from vault.transparency.tables import LogCheckpoint, LogEntry, LogState, LogTile

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.ext.asyncio import AsyncConnection

    from bench.log.deployment import Backend, Deployment

TILE_BYTES = TILE_WIDTH * HASH_SIZE
CHUNK = 1 << 16  # leaves drawn per os.urandom call
COPY_ROWS = 4096  # tile rows per COPY / executemany


@dataclass
class Tree:
    """A built tree: its tile rows, compact range and root."""

    size: int
    rows: list[tuple[int, int, bytes]]
    compact: list[bytes]
    root: bytes
    build_s: float

    def __post_init__(self) -> None:
        self.tiles = {(t, n): data for t, n, data in self.rows}

    def node(self, level: int, index: int) -> bytes:
        """A node hash from the in-memory tiles."""
        return node_from_tiles(level, index, self.tiles)

    def leaf(self, index: int) -> bytes:
        """Leaf hash ``index`` (node (0, index))."""
        data = self.tiles[(0, index >> TILE_HEIGHT)]
        slot = index & (TILE_WIDTH - 1)
        return data[slot * HASH_SIZE : (slot + 1) * HASH_SIZE]


def build_tree(size: int, progress: Callable[[str], None], draw: Callable[[int], bytes] = os.urandom) -> Tree:
    """Draw ``size`` random commitments and compute the tiles of their tree with :class:`CompactRange`.

    ``draw(k)`` returns ``k`` bytes of concatenated commitments (random by default).
    """
    t0 = time.perf_counter()
    tree = CompactRange()
    rows: list[tuple[int, int, bytes]] = []
    buffers: dict[int, bytearray] = {}
    leaf_hash = merkle.leaf_hash

    def keep(level: int, index: int, value: bytes) -> None:
        if level % TILE_HEIGHT == 0:
            t = level // TILE_HEIGHT
            buf = buffers.setdefault(t, bytearray())
            buf += value
            if len(buf) == TILE_BYTES:
                rows.append((t, index >> TILE_HEIGHT, bytes(buf)))
                buf.clear()

    append = tree.append
    done = 0
    next_report = time.perf_counter() + 5
    while done < size:
        n = min(CHUNK, size - done)
        raw = draw(n * HASH_SIZE)
        for i in range(0, n * HASH_SIZE, HASH_SIZE):
            append(leaf_hash(raw[i : i + HASH_SIZE]), keep)
        done += n
        if time.perf_counter() >= next_report:
            next_report += 5
            progress(f"build {size:,}: {done:,} leaves ({100 * done / size:.0f}%), {time.perf_counter() - t0:.0f} s")
    for t, buf in sorted(buffers.items()):
        if buf:
            rows.append((t, (size >> (TILE_HEIGHT * t)) >> TILE_HEIGHT, bytes(buf)))
    built = Tree(size, rows, list(tree.hashes), tree.root(), time.perf_counter() - t0)
    # Cross-check: the root recomputed from the tiles equals the compact range's root.
    if merkle.range_hash(0, size, built.node) != built.root:
        raise AssertionError("tiles do not reproduce the root")
    return built


async def load(dep: Deployment, tree: Tree, progress: Callable[[str], None]) -> float:
    """Write ``tree``'s tiles, state and a signed checkpoint into ``dep``'s empty log; seconds taken."""
    t0 = time.perf_counter()
    postgres = dep.engine.dialect.name == "postgresql"
    async with dep.engine.connect() as conn:
        if postgres:
            driver = (await conn.get_raw_connection()).driver_connection
            assert driver is not None
            for i in range(0, len(tree.rows), COPY_ROWS):
                chunk = tree.rows[i : i + COPY_ROWS]
                await driver.copy_records_to_table("log_tiles", records=chunk, columns=["level", "idx", "hashes"])
                _loaded(progress, i + len(chunk), len(tree.rows))
        else:
            for i in range(0, len(tree.rows), COPY_ROWS):
                chunk = tree.rows[i : i + COPY_ROWS]
                await conn.exec_driver_sql("INSERT INTO log_tiles (level, idx, hashes) VALUES (?, ?, ?)", chunk)
                await conn.commit()
                _loaded(progress, i + len(chunk), len(tree.rows))
    now = datetime.now(UTC)
    note = sign_checkpoint(Checkpoint(dep.log.origin, tree.size, tree.root), dep.log.signer)
    async with dep.engine.begin() as conn:
        await conn.execute(
            update(LogState)
            .where(LogState.id == 1)
            .values(size=tree.size, compact=b"".join(tree.compact), root=tree.root, updated_at=now)
        )
        await conn.execute(insert(LogCheckpoint).values(size=tree.size, root=tree.root, note=note, created_at=now))
    async with dep.engine.connect() as conn:
        if postgres:
            # What autovacuum would have done by now: statistics, hint bits, visibility map.
            driver = (await conn.get_raw_connection()).driver_connection
            assert driver is not None
            await driver.execute("VACUUM ANALYZE log_tiles")
        else:
            await conn.exec_driver_sql("ANALYZE")
            await conn.commit()
    return time.perf_counter() - t0


def _loaded(progress: Callable[[str], None], done: int, total: int) -> None:
    if done == total or done % (COPY_ROWS * 4) == 0:
        progress(f"  loaded {done:,}/{total:,} tile rows")


@dataclass
class ProofResult:
    """Latency of one proof kind at one size on one backend."""

    backend: str
    size: int
    kind: str
    calls: int
    p50_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    verified: int
    sql_ms_per_call: dict[str, float] = field(default_factory=dict)
    build_s: float = 0.0
    load_s: float = 0.0
    tile_rows: int = 0
    cpu_foreign_cores: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


async def _time_calls(
    conn: AsyncConnection, calls: list[Any], call: Callable[[AsyncConnection, Any], Any], timer: StatementTimer
) -> tuple[list[float], list[Any]]:
    """Run each call in its own transaction (rolled back outside the timed span), as a request would."""
    timer.reset()
    latencies, proofs = [], []
    for arg in calls:
        t0 = time.perf_counter_ns()
        proof = await call(conn, arg)
        latencies.append((time.perf_counter_ns() - t0) / 1e6)
        await conn.rollback()
        proofs.append(proof)
    return latencies, proofs


async def bench_proofs(
    backend: Backend, tree: Tree, calls: int, verify: int, seed: int, progress: Callable[[str], None]
) -> list[ProofResult]:
    """Load ``tree`` into a fresh database and time inclusion and consistency proofs at its size."""
    dep = await deploy(backend)
    timer = StatementTimer().attach(dep.engine)
    try:
        load_s = await load(dep, tree, progress)
        progress(f"  loaded {tree.size:,} on {backend.name} in {load_s:.1f} s; timing proofs")
        rng = random.Random(seed)
        size, log = tree.size, dep.log
        indices = [rng.randrange(size) for _ in range(calls)]
        firsts = [rng.randrange(1, size) for _ in range(calls)]
        results = []
        meter = CpuMeter(backend.server.datadir if backend.server is not None else None)
        async with dep.engine.connect() as conn:
            for kind, args, call in (
                ("inclusion", indices, lambda c, i: log.inclusion_proof(c, i, size)),
                ("consistency", firsts, lambda c, m: log.consistency_proof(c, m, size)),
            ):
                await _time_calls(conn, args[: max(50, calls // 20)], call, timer)  # warm-up, not counted
                meter.start()
                latencies, proofs = await _time_calls(conn, args, call, timer)
                cpu = meter.stop()
                sql = {k: 1000 * v / len(args) for k, v in timer.totals.items()}
                verified = _verify(tree, kind, args[:verify], proofs[:verify])
                results.append(
                    ProofResult(
                        backend=backend.name,
                        size=size,
                        kind=kind,
                        calls=len(latencies),
                        p50_ms=percentile(latencies, 0.5),
                        p99_ms=percentile(latencies, 0.99),
                        mean_ms=sum(latencies) / len(latencies),
                        max_ms=max(latencies),
                        verified=verified,
                        sql_ms_per_call=sql,
                        build_s=tree.build_s,
                        load_s=load_s,
                        tile_rows=len(tree.rows),
                        cpu_foreign_cores=cpu.foreign_cores,
                    )
                )
                progress(f"  {kind}: p50 {results[-1].p50_ms:.2f} ms, p99 {results[-1].p99_ms:.2f} ms")
        return results
    finally:
        await dep.dispose()


def _verify(tree: Tree, kind: str, args: list[int], proofs: list[list[bytes]]) -> int:
    """Check proofs against the tree's root; raises :class:`merkle.ProofError` on the first bad one."""
    for arg, proof in zip(args, proofs, strict=True):
        if kind == "inclusion":
            merkle.verify_inclusion(tree.leaf(arg), arg, tree.size, proof, tree.root)
        else:
            # The old root, recomputed from the in-memory tiles (the loader's own data, not the database's).
            old_root = merkle.range_hash(0, arg, tree.node)
            merkle.verify_consistency(arg, tree.size, old_root, tree.root, proof)
    return len(args)


async def check_loader(backend: Backend) -> str:
    """Append and integrate a few thousand real entries in uneven passes; the loader must rebuild the same tiles."""
    dep = await deploy(backend)
    try:
        sessions = session_factory(dep.engine)
        pseudonymizer = dep.log.pseudonymizer
        for batch in (1, 300, 255, 256, 2000, 17, 3000):
            async with sessions.begin() as session:
                for i in range(batch):
                    record = LogRecord(
                        pseudonym=pseudonymizer.pseudonym(f"c{i}"), actor="bench", action="read", time=utc_now_iso()
                    )
                    await dep.log.append(session, record)
            while True:  # passes of at most 700 entries, so tiles grow across uneven boundaries
                result = await dep.log.integrate(dep.engine, max_batch=700)
                if result is None or result.integrated < 700:
                    break
        async with dep.engine.connect() as conn:
            commitments = b"".join(
                bytes(c) for c in await conn.scalars(select(LogEntry.commitment).order_by(LogEntry.leaf_index))
            )
            stored = {(int(r.level), int(r.idx)): bytes(r.hashes) for r in await conn.execute(select(LogTile))}
            latest = await dep.log.latest_checkpoint(conn)
        size = len(commitments) // HASH_SIZE
        tree = build_tree(size, lambda _: None, io.BytesIO(commitments).read)
        if tree.tiles != stored or latest is None or latest[:2] != (size, tree.root):
            raise AssertionError(f"bulk loader disagrees with integrate() on {backend.name}")
        return f"{backend.name}: {size:,} appended entries, {len(stored)} tile rows and root identical"
    finally:
        await dep.dispose()
