"""Transparency log benchmark: integrated appends/s, append→checkpoint latency, integrator capacity, proofs.

    .venv/bin/python -m bench.log [--quick] [--out results.json]

Runs on SQLite (temp files) and on a throwaway PostgreSQL server started with durable commits
(``tests.support.postgres.postgres_server(bindir, durable=True)``: ``fsync``, ``synchronous_commit``
and ``full_page_writes`` on), and prints a Markdown report on stdout; progress goes to stderr.
Appends are compared with a ``SELECT 1`` baseline measured on the same server in the same run; on
PostgreSQL they are also run with the writers in 2 client processes. See :mod:`bench.log.appends`,
:mod:`bench.log.capacity` and :mod:`bench.log.proofs` for method.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import secrets
import shlex
import sqlite3
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from bench.log.appends import run_appends, run_baseline
from bench.log.capacity import backlog_rows, run_capacity
from bench.log.deployment import Backend
from bench.log.proofs import bench_proofs, build_tree, check_loader
from bench.log.report import render
from tests.support.postgres import find_bindir, postgres_server
from vault.crypto.macs import Pseudonymizer

if TYPE_CHECKING:
    from tests.support.postgres import PostgresServer

PG_SETTINGS = (
    "fsync",
    "synchronous_commit",
    "full_page_writes",
    "wal_sync_method",
    "shared_buffers",
    "max_connections",
    "wal_level",
)


def progress(message: str) -> None:
    """Progress lines go to stderr so the report on stdout stays clean."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _ints(value: str) -> list[int]:
    return [int(float(v)) for v in value.split(",") if v]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.log", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s runs, proofs at 10^5 and 10^6 only")
    parser.add_argument("--duration", type=float, help="seconds per append run (default 10, --quick 3)")
    parser.add_argument("--writers", type=_ints, default=[8, 32], help="concurrent writers, comma-separated")
    parser.add_argument("--per-tx", type=_ints, default=[1, 10], help="entries per append transaction")
    parser.add_argument(
        "--processes", type=_ints, default=[1, 2], help="client processes for the writers (PostgreSQL; SQLite: 1)"
    )
    parser.add_argument("--backlog-postgresql", type=int, help="capacity backlog (default 200000, --quick 50000)")
    parser.add_argument("--backlog-sqlite", type=int, help="capacity backlog (default 100000, --quick 20000)")
    parser.add_argument("--batches", type=_ints, default=[5000, 20000], help="integrate() max_batch for the capacity")
    parser.add_argument("--sizes", type=_ints, help="proof tree sizes (default 1e5,1e6,1e7; --quick 1e5,1e6)")
    parser.add_argument("--sqlite-max-size", type=int, default=10**7, help="largest proof tree to load into SQLite")
    parser.add_argument("--calls", type=int, default=2000, help="proof calls per kind and size")
    parser.add_argument("--verify", type=int, default=500, help="proofs verified per kind and size")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--skip-appends", action="store_true")
    parser.add_argument("--skip-capacity", action="store_true")
    parser.add_argument("--skip-proofs", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if args.duration is None:
        args.duration = 3.0 if args.quick else 10.0
    if args.sizes is None:
        args.sizes = [10**5, 10**6] if args.quick else [10**5, 10**6, 10**7]
    if args.backlog_postgresql is None:
        args.backlog_postgresql = 50_000 if args.quick else 200_000
    if args.backlog_sqlite is None:
        args.backlog_sqlite = 20_000 if args.quick else 100_000
    return args


async def _pg_environment(server: PostgresServer) -> dict[str, str]:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(server.url("postgres"))
    try:
        async with engine.connect() as conn:
            ver = await conn.scalar(text("SELECT version()"))
            rows = (
                await conn.execute(
                    text("SELECT name, setting, unit FROM pg_settings WHERE name = ANY(:n)"), {"n": list(PG_SETTINGS)}
                )
            ).all()
    finally:
        await engine.dispose()
    settings = ", ".join(f"{r.name}={r.setting}{r.unit or ''}" for r in sorted(rows))
    return {"PostgreSQL": str(ver), "PostgreSQL settings": settings}


def _environment() -> dict[str, str]:
    cpu = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    mem = "?"
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        mem = f"{int(f.readline().split()[1]) / 2**20:.1f} GiB"
    return {
        "CPUs": str(os.cpu_count()),
        "CPU model": cpu,
        "Memory": mem,
        "OS": platform.platform(),
        "Python": f"{platform.python_implementation()} {platform.python_version()} (asyncio default event loop)",
        "Packages": ", ".join(f"{p} {version(p)}" for p in ("sqlalchemy", "asyncpg", "aiosqlite", "cryptography")),
        "SQLite": f"{sqlite3.sqlite_version} (WAL, synchronous=FULL, as vault.db.engine configures it)",
    }


async def run_appends_all(args: argparse.Namespace, backends: list[Backend], data: dict[str, Any]) -> None:
    for backend in backends:
        for processes in args.processes if backend.name == "postgresql" else [1]:
            for writers in args.writers:
                where = f"{backend.name}, K={writers}, {processes} client process{'es' if processes > 1 else ''}"
                progress(f"baseline SELECT 1: {where}")
                base = await run_baseline(backend, writers, args.duration, processes)
                data["baselines"].append(base.as_dict())
                progress(f"  {base.per_s:,.0f}/s")
                for per_tx in args.per_tx:
                    progress(f"appends: {where}, {per_tx}/tx, {args.duration:g} s")
                    result = await run_appends(backend, writers, per_tx, args.duration, processes)
                    data["appends"].append(result.as_dict())
                    progress(
                        f"  committed {result.committed_per_s:,.0f}/s, integrated {result.integrated_per_s:,.0f}/s, "
                        f"p50 {result.latency_p50_ms:,.0f} ms, p99 {result.latency_p99_ms:,.0f} ms, "
                        f"drain {result.drain_s:.1f} s, errors {result.errors}"
                    )


async def run_capacity_all(args: argparse.Namespace, backends: list[Backend], data: dict[str, Any]) -> None:
    sizes = {b.name: args.backlog_postgresql if b.name == "postgresql" else args.backlog_sqlite for b in backends}
    if not sizes:
        return
    t0 = time.perf_counter()
    rows = backlog_rows(Pseudonymizer(secrets.token_bytes(32)), max(sizes.values()))
    progress(f"integrator capacity: {len(rows):,} pending entries generated in {time.perf_counter() - t0:.1f} s")
    for backend in backends:
        for batch in args.batches:
            progress(f"integrator capacity: {backend.name}, backlog {sizes[backend.name]:,}, max_batch {batch:,}")
            result = await run_capacity(backend, rows[: sizes[backend.name]], batch, progress)
            data["capacity"].append(result.as_dict())
            mean_ms = 1000 * result.mean_pass_s
            progress(f"  {result.per_s:,.0f} entries/s, {result.passes} passes, mean pass {mean_ms:,.0f} ms")
    del rows
    gc.collect()


async def run(args: argparse.Namespace, backends: list[Backend], data: dict[str, Any]) -> None:
    if not args.skip_appends:
        await run_appends_all(args, backends, data)
    if not args.skip_capacity:
        await run_capacity_all(args, backends, data)
    if not args.skip_proofs:
        for backend in backends:
            data["notes"].append("Bulk loader check: " + await check_loader(backend))
            progress(data["notes"][-1])
        for size in args.sizes:
            progress(f"building a tree of {size:,} leaves")
            tree = build_tree(size, progress)
            progress(f"  built in {tree.build_s:.1f} s ({len(tree.rows):,} tile rows)")
            for backend in backends:
                if backend.name == "sqlite" and size > args.sqlite_max_size:
                    data["notes"].append(f"SQLite proof run at N = {size:,} skipped (--sqlite-max-size).")
                    continue
                progress(f"proofs: {backend.name}, N={size:,}")
                results = await bench_proofs(backend, tree, args.calls, args.verify, args.seed, progress)
                data["proofs"] += [r.as_dict() for r in results]
            del tree
            gc.collect()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = [b for b in args.backends.split(",") if b]
    data: dict[str, Any] = {
        "command": shlex.join(sys.orig_argv),
        "environment": _environment(),
        "notes": [],
        "baselines": [],
        "appends": [],
        "capacity": [],
        "proofs": [],
    }
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vault-bench-")))
        backends = []
        if "sqlite" in names:
            backends.append(Backend("sqlite", tmp))
        if "postgresql" in names:
            bindir = find_bindir()
            if bindir is None:
                data["notes"].append("PostgreSQL skipped: no initdb/pg_ctl found (set VAULT_TEST_PG_BINDIR).")
            else:
                server = stack.enter_context(postgres_server(bindir, durable=True))
                data["environment"].update(asyncio.run(_pg_environment(server)))
                data["notes"].append(
                    "PostgreSQL: a throwaway server (`tests.support.postgres.postgres_server(bindir, durable=True)`: "
                    "initdb in /tmp, same disk as the SQLite files) with durable commits: fsync, synchronous_commit "
                    "and full_page_writes on (see PostgreSQL settings above), max_connections=200, everything else "
                    f"default. Client and server share the {os.cpu_count()} cores."
                )
                backends.append(Backend("postgresql", tmp, server))
        asyncio.run(run(args, backends, data))
    data["environment"]["Total run time"] = f"{time.perf_counter() - started:.0f} s"
    report = render(data)
    print(report)
    if args.out is not None:
        args.out.write_text(json.dumps({**data, "report": report}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
