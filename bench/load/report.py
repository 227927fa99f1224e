"""Figures of a load run: per operation throughput, p50/p99 and outcomes, and the /healthz baseline."""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from bench.load.deployment import deployment

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from bench.load.deployment import Vault
    from bench.load.workload import Ledger


async def healthz_rps(base: str, clients: int, seconds: float) -> float:
    """Requests per second this generator gets from ``/healthz`` with ``clients`` concurrent clients."""
    done = 0
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=base, limits=httpx.Limits(max_connections=clients)) as http:

        async def loop() -> None:
            nonlocal done
            while time.monotonic() < deadline:
                (await http.get("/healthz")).raise_for_status()
                done += 1

        started = time.monotonic()
        await asyncio.gather(*(loop() for _ in range(clients)))
        return done / (time.monotonic() - started)


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def summary(ledger: Ledger, seconds: float, healthz: float | None) -> dict[str, Any]:
    """Per operation: count, ops/s, p50/p99 ms and outcomes; totals and the ratio to /healthz."""
    ops = {}
    total = 0
    for name, s in ledger.stats.items():
        ops[name] = {
            "ok": s.ok, "per_s": s.ok / seconds, "p50_ms": _pct(s.latencies, 50), "p99_ms": _pct(s.latencies, 99),
            "refused": s.refused, "unavailable": s.unavailable, "server_errors": s.server_errors,
            "unexpected": s.unexpected,
        }  # fmt: skip
        total += s.ok
    return {
        "seconds": seconds,
        "ops": ops,
        "total_per_s": total / seconds,
        "healthz_per_s": healthz,
        "ratio_to_healthz": (total / seconds) / healthz if healthz else None,
        "reads_received": len(ledger.read_commitments),
        "checkpoints_seen": len(ledger.checkpoints),
    }


def table(backend: str, result: dict[str, Any]) -> str:
    """A Markdown table of one run."""
    rows = [f"\n### {backend}: {result['seconds']:.0f} s, {result['total_per_s']:.0f} ops/s"
            + (f" ({result['ratio_to_healthz']:.3f} x /healthz at {result['healthz_per_s']:.0f} req/s)"
               if result.get("ratio_to_healthz") else ""),
            "",
            "| operation | done | per s | p50 ms | p99 ms | refused (expected) | unavailable | 5xx | unexpected |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for name, o in result["ops"].items():
        rows.append(f"| {name} | {o['ok']} | {o['per_s']:.1f} | {o['p50_ms']:.1f} | {o['p99_ms']:.1f} | "
                    f"{o['refused']} | {o['unavailable']} | {o['server_errors']} | {o['unexpected']} |")  # fmt: skip
    return "\n".join(rows)


def run_backends(
    args: Any, prefix: str, run: Callable[[Vault, Any], Awaitable[tuple[dict[str, Any], list[str]]]],
    show: Callable[[str, dict[str, Any]], str],
) -> None:  # fmt: skip
    """Run ``run`` on a fresh deployment per backend in ``args.backends``; print, save JSON, exit 1 on problems."""
    results, failed = {}, False
    with tempfile.TemporaryDirectory(prefix=prefix) as name:
        for backend in args.backends.split(","):
            with deployment(backend, Path(name), getattr(args, "workers", 1)) as vault:
                if vault is None:
                    print(f"{backend}: skipped (initdb/pg_ctl not installed)")
                    continue
                result, problems = asyncio.run(run(vault, args))
            result["problems"] = problems
            results[backend] = result
            print(show(backend, result))
            print("\nchecks: " + ("all hold" if not problems else "FAILED"))
            for problem in problems[:20]:
                print(f"  - {problem}")
            failed = failed or bool(problems)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    sys.exit(1 if failed else 0)
