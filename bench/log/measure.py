"""Measuring helpers: percentiles, CPU use of the machine and of this process, SQL statement timers."""

from __future__ import annotations

import math
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncEngine


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in [0, 1]) of ``values``; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _machine_jiffies() -> tuple[int, int]:
    """``(busy, total)`` clock ticks of all CPUs since boot, from ``/proc/stat``."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])
    return total - idle, total


def _process_ticks(pid: int) -> int:
    """utime + stime of one process in clock ticks (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def server_pids(datadir: Path) -> list[int]:
    """The postmaster of the server in ``datadir`` and all its children (backends, WAL writer, ...)."""
    try:
        postmaster = int((datadir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return []
    pids = [postmaster]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            ppid = next((line.split()[1] for line in status.splitlines() if line.startswith("PPid:")), "0")
            if int(ppid) == postmaster:
                pids.append(int(entry.name))
    return pids


@dataclass
class CpuUse:
    """CPU used during an interval, in cores (2.0 = both cores of a 2-core machine busy)."""

    wall_s: float
    machine_cores: float
    self_cores: float
    server_cores: float

    @property
    def foreign_cores(self) -> float:
        """Cores used by everything else on the machine (other people's jobs), not by this benchmark."""
        return max(0.0, self.machine_cores - self.self_cores - self.server_cores)


class CpuMeter:
    """Measure machine, own-process and database-server CPU between ``start()`` and ``stop()``."""

    def __init__(self, datadir: Path | None = None) -> None:
        self._datadir = datadir
        self._t0 = 0.0
        self._proc0 = 0.0
        self._jiffies0 = (0, 0)
        self._server0: dict[int, int] = {}

    def _server_ticks(self) -> dict[int, int]:
        if self._datadir is None:
            return {}
        return {pid: _process_ticks(pid) for pid in server_pids(self._datadir)}

    def start(self) -> None:
        """Begin the interval."""
        self._server0 = self._server_ticks()
        self._t0 = time.perf_counter()
        times = os.times()
        self._proc0 = times.user + times.system
        self._jiffies0 = _machine_jiffies()

    def stop(self) -> CpuUse:
        """End the interval and return what was used."""
        wall = time.perf_counter() - self._t0
        times = os.times()
        busy, total = _machine_jiffies()
        server1 = self._server_ticks()
        d_busy, d_total = busy - self._jiffies0[0], total - self._jiffies0[1]
        ncpu = os.cpu_count() or 1
        machine = ncpu * d_busy / d_total if d_total else 0.0
        hz = os.sysconf("SC_CLK_TCK")
        server = sum(t - self._server0.get(pid, 0) for pid, t in server1.items()) / hz
        if not wall:
            return CpuUse(wall, machine, 0.0, 0.0)
        return CpuUse(wall, machine, (times.user + times.system - self._proc0) / wall, server / wall)


def classify(statement: str) -> str:
    """A short label for a statement issued by :mod:`vault.transparency.log`."""
    s = " ".join(statement.lower().split())
    rules = (
        ("pg_try_advisory", "lock: advisory"),
        ("for update", "lock: log_state for update"),
        ("update log_state set id=", "lock: sqlite write lock"),
        ("from log_checkpoints order by", "read latest checkpoint"),
        ("from log_checkpoints", "checkpoint exists"),
        ("from log_state", "read state"),
        ("from log_entries", "select pending"),
        ("update log_entries", "assign leaf_index"),
        ("from log_tiles", "read tiles"),
        ("insert into log_tiles", "upsert tiles"),
        ("update log_state", "update state"),
        ("insert into log_checkpoints", "upsert checkpoint"),
    )
    for needle, label in rules:
        if needle in s:
            return label
    return s[:40]


@dataclass
class StatementTimer:
    """Wall time per statement class on one engine (cursor execute to result, including awaiting I/O)."""

    totals: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def attach(self, engine: AsyncEngine) -> StatementTimer:
        """Start timing every statement ``engine`` runs."""
        event.listen(engine.sync_engine, "before_cursor_execute", self._before)
        event.listen(engine.sync_engine, "after_cursor_execute", self._after)
        return self

    def reset(self) -> None:
        """Forget what was timed so far."""
        self.totals.clear()
        self.counts.clear()

    def _before(self, conn: Any, _cursor: Any, _statement: str, _params: Any, _context: Any, _many: bool) -> None:
        conn.info["bench_t0"] = time.perf_counter()

    def _after(self, conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool) -> None:
        t0 = conn.info.pop("bench_t0", None)
        if t0 is not None:
            label = classify(statement)
            self.totals[label] += time.perf_counter() - t0
            self.counts[label] += 1
