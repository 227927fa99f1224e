"""Figures of a load run: per operation throughput, p50/p99 and outcomes, and the /healthz baseline."""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
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
