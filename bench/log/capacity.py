"""Integrator capacity: how fast :meth:`TransparencyLog.integrate` drains a backlog, without any writers.

A fresh database gets a backlog of pending entries (``leaf_index`` NULL) written directly into
``log_entries``: real records, canonical JSON, 32-byte random salts and their commitments, as
:meth:`TransparencyLog.append` would write them (``COPY`` on PostgreSQL, ``executemany`` on SQLite;
then ``VACUUM ANALYZE`` / ``ANALYZE``, as autovacuum would have by then; none of this is timed).
Then ``integrate(engine, max_batch=B)`` passes run back to back until the backlog is drained; the
rate is entries integrated ÷ the summed wall time of the passes. This is the integrator's own
throughput, apart from the cost of the client-side appends that feed it.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select

from bench.log.deployment import deploy
from bench.log.measure import CpuMeter, StatementTimer, percentile
from tests.support.log_harness import sample_record
from vault.transparency.records import SALT_BYTES, canonical, commitment
from vault.transparency.tables import LogEntry

if TYPE_CHECKING:
    from collections.abc import Callable

    from bench.log.deployment import Backend, Deployment
    from vault.crypto.macs import Pseudonymizer

COLUMNS = ("commitment", "salt", "record", "pseudonym", "actor", "action", "created_at")
CHUNK = 10_000  # rows per COPY / executemany


@dataclass
class CapacityResult:
    """One drain of a backlog with one batch size on one backend."""

    backend: str
    backlog: int
    max_batch: int
    passes: int
    integrated: int
    wall_s: float
    per_s: float
    mean_pass_s: float
    p50_pass_s: float
    max_pass_s: float
    insert_s: float
    sql_s: dict[str, float] = field(default_factory=dict)
    cpu_bench_process_cores: float = 0.0
    cpu_server_cores: float = 0.0
    cpu_foreign_cores: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def backlog_rows(pseudonymizer: Pseudonymizer, n: int) -> list[tuple[bytes, bytes, bytes, str, str, str, datetime]]:
    """``n`` pending entries as ``append`` writes them: salt, canonical record, commitment, index columns."""
    pseudonyms = [pseudonymizer.pseudonym(f"citizen-{i}") for i in range(1024)]
    rows: list[tuple[bytes, bytes, bytes, str, str, str, datetime]] = []
    for i in range(n):
        record = sample_record(pseudonyms[i % len(pseudonyms)])
        salt = secrets.token_bytes(SALT_BYTES)
        body = canonical(record)
        rows.append(
            (commitment(salt, body), salt, body, record.pseudonym, record.actor, record.action, datetime.now(UTC))
        )
    return rows


async def insert_backlog(dep: Deployment, rows: list[tuple[Any, ...]]) -> None:
    """Write ``rows`` into ``log_entries`` with ``leaf_index`` NULL, then refresh planner statistics."""
    async with dep.engine.connect() as conn:
        if dep.engine.dialect.name == "postgresql":
            driver = (await conn.get_raw_connection()).driver_connection
            assert driver is not None
            for i in range(0, len(rows), CHUNK):
                await driver.copy_records_to_table("log_entries", records=rows[i : i + CHUNK], columns=list(COLUMNS))
            await driver.execute("VACUUM ANALYZE log_entries")
        else:
            for i in range(0, len(rows), CHUNK):
                await conn.execute(insert(LogEntry), [dict(zip(COLUMNS, r, strict=True)) for r in rows[i : i + CHUNK]])
                await conn.commit()
            await conn.exec_driver_sql("ANALYZE")
            await conn.commit()


async def run_capacity(
    backend: Backend, rows: list[tuple[Any, ...]], max_batch: int, progress: Callable[[str], None]
) -> CapacityResult:
    """Load ``rows`` as a backlog into a fresh database and time ``integrate`` passes until it is drained."""
    dep = await deploy(backend)
    timer = StatementTimer().attach(dep.engine)
    try:
        await dep.log.integrate(dep.engine)  # the size-0 checkpoint; warms the pool outside the timed span
        t0 = time.perf_counter()
        await insert_backlog(dep, rows)
        insert_s = time.perf_counter() - t0
        progress(f"  {len(rows):,} pending entries written in {insert_s:.1f} s; draining with max_batch={max_batch:,}")
        timer.reset()
        meter = CpuMeter(backend.server.datadir if backend.server is not None else None)
        walls: list[float] = []
        integrated = 0
        meter.start()
        while True:
            t0 = time.perf_counter()
            result = await dep.log.integrate(dep.engine, max_batch=max_batch)
            wall = time.perf_counter() - t0
            if result is None:
                raise RuntimeError("integrator lock unexpectedly held")
            if result.integrated == 0:
                break  # the empty pass that found nothing is not counted
            walls.append(wall)
            integrated += result.integrated
        cpu = meter.stop()
        async with dep.engine.connect() as conn:
            pending = await conn.scalar(select(func.count()).select_from(LogEntry).where(LogEntry.leaf_index.is_(None)))
        if integrated != len(rows) or pending:
            raise AssertionError(f"integrated {integrated:,} of {len(rows):,}; {pending} still pending")
        total = sum(walls)
        return CapacityResult(
            backend=backend.name,
            backlog=len(rows),
            max_batch=max_batch,
            passes=len(walls),
            integrated=integrated,
            wall_s=total,
            per_s=integrated / total,
            mean_pass_s=total / len(walls),
            p50_pass_s=percentile(walls, 0.5),
            max_pass_s=max(walls),
            insert_s=insert_s,
            sql_s=dict(timer.totals),
            cpu_bench_process_cores=cpu.self_cores,
            cpu_server_cores=cpu.server_cores,
            cpu_foreign_cores=cpu.foreign_cores,
        )
    finally:
        await dep.dispose()
