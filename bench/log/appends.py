"""Integrated appends per second: K writers append (one short transaction each time), one integrator loops.

Each writer opens a session transaction, appends ``per_tx`` entries with :meth:`TransparencyLog.append`
and commits, then notes the commit time of those entry ids. One integrator task runs
:meth:`TransparencyLog.integrate` in a loop on its own engine (sleeping 50 ms when nothing was
pending) and notes the time each pass returned (its checkpoint is signed and committed by then) and
the tree size it reached. After ``duration`` seconds the writers stop; the integrator drains the
backlog. Afterwards every entry's ``leaf_index`` is read once: an entry is in the checkpoint of the
first pass whose size exceeds its index, which gives its append→checkpoint latency.

With ``processes`` > 1 the writers run in that many spawned OS processes (K/processes tasks each,
each process with its own engine), while the integrator stays in this process: that shows how far the
append rate is bound by one Python client process. Commit and pass times are ``time.perf_counter()``,
which on Linux is ``CLOCK_MONOTONIC`` and so comparable across processes.
"""

from __future__ import annotations

import asyncio
import bisect
import multiprocessing
import os
import queue
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, text

from bench.log.deployment import deploy, reopen
from bench.log.measure import CpuMeter, StatementTimer, percentile
from tests.support.log_harness import sample_record
from vault.db.engine import create_engine, session_factory
from vault.transparency.tables import LogEntry

if TYPE_CHECKING:
    from bench.log.deployment import Backend, Deployment
    from bench.log.measure import CpuUse
    from vault.transparency.log import TransparencyLog

IDLE_SLEEP_S = 0.05
DRAIN_TIMEOUT_S = 120.0
CLIENT_START_TIMEOUT_S = 120.0
CLIENT_DONE_TIMEOUT_S = 600.0


@dataclass
class AppendResult:
    """One (backend, writers, entries per transaction) run."""

    backend: str
    writers: int
    per_tx: int
    duration_s: float
    processes: int
    committed: int
    committed_per_s: float
    transactions_per_s: float
    integrated_by_end: int
    integrated_per_s: float
    latency_p50_ms: float
    latency_p99_ms: float
    latency_max_ms: float
    not_integrated: int
    drain_s: float
    errors: int
    passes: int
    mean_batch: float
    max_batch: int
    integrate_wall_s: float
    integrate_sql_s: dict[str, float] = field(default_factory=dict)
    integrate_sql_calls: dict[str, int] = field(default_factory=dict)
    cpu_machine_cores: float = 0.0
    cpu_bench_process_cores: float = 0.0
    cpu_server_cores: float = 0.0
    cpu_foreign_cores: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


@dataclass
class BaselineResult:
    """``SELECT 1`` in a session transaction (same round-trip shape as an append) with K tasks."""

    backend: str
    writers: int
    duration_s: float
    per_s: float
    errors: int
    cpu_bench_process_cores: float
    cpu_server_cores: float
    cpu_foreign_cores: float
    processes: int = 1

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


@dataclass
class _Pass:
    done: float
    size: int
    integrated: int
    wall: float


@dataclass
class _Shared:
    deadline: float
    commit_ids: list[int] = field(default_factory=list)
    commit_times: list[float] = field(default_factory=list)
    transactions: int = 0
    errors: int = 0
    passes: list[_Pass] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)


def _pseudonyms(log: TransparencyLog) -> list[str]:
    return [log.pseudonymizer.pseudonym(f"citizen-{i}") for i in range(1024)]


async def _writer(dep: Deployment, shared: _Shared, per_tx: int, pseudonyms: list[str]) -> None:
    sessions = session_factory(dep.engine)
    log = dep.log
    n = 0
    while time.perf_counter() < shared.deadline:
        try:
            async with sessions.begin() as session:
                ids = []
                for _ in range(per_tx):
                    record = sample_record(pseudonyms[n % len(pseudonyms)])
                    n += 1
                    ids.append((await log.append(session, record)).entry_id)
        except Exception as exc:  # noqa: BLE001  count and go on: the run reports errors
            shared.errors += 1
            if shared.errors <= 3:
                print(f"  writer error: {type(exc).__name__}: {exc}"[:300], file=sys.stderr)
            continue
        t = time.perf_counter()
        shared.transactions += 1
        shared.commit_ids.extend(ids)
        shared.commit_times.extend([t] * len(ids))


async def _integrator(dep: Deployment, integrator_engine: Any, shared: _Shared) -> None:
    while not shared.stop.is_set():
        t0 = time.perf_counter()
        result = await dep.log.integrate(integrator_engine)
        t1 = time.perf_counter()
        if result is None:
            await asyncio.sleep(IDLE_SLEEP_S)
            continue
        shared.passes.append(_Pass(t1, result.size, result.integrated, t1 - t0))
        if result.integrated == 0:
            await asyncio.sleep(IDLE_SLEEP_S)


async def run_appends(backend: Backend, writers: int, per_tx: int, duration: float, processes: int = 1) -> AppendResult:
    """One timed run on a fresh database; the writers run in ``processes`` OS processes."""
    dep = await deploy(backend, pool_size=min(100, writers + 4))
    integrator_engine = create_engine(dep.settings)
    timer = StatementTimer().attach(integrator_engine)
    pseudonyms = _pseudonyms(dep.log)
    clients = None
    try:
        # Warm both engines' pools (connections, prepared statements) outside the timed window.
        await dep.log.integrate(integrator_engine)
        if processes > 1:
            clients = await Clients.start(dep, processes, writers, "append", per_tx, pseudonyms)
        else:
            await _warm(dep, writers)
        timer.reset()
        meter = CpuMeter(backend.server.datadir if backend.server is not None else None)
        meter.start()
        start = time.perf_counter()
        shared = _Shared(deadline=start + duration)
        integ = asyncio.create_task(_integrator(dep, integrator_engine, shared))
        if clients is not None:
            reports = await clients.run(shared.deadline)
            for report in reports:
                shared.commit_ids += report["commit_ids"]
                shared.commit_times += report["commit_times"]
                shared.transactions += report["transactions"]
                shared.errors += report["errors"]
        else:
            await asyncio.gather(*(_writer(dep, shared, per_tx, pseudonyms) for _ in range(writers)))
        cpu = meter.stop()
        if clients is not None:
            cpu = replace(cpu, self_cores=cpu.self_cores + sum(r["cpu_s"] for r in reports) / cpu.wall_s)
        writers_done = time.perf_counter()
        total = len(shared.commit_ids)
        while time.perf_counter() - writers_done < DRAIN_TIMEOUT_S:
            if shared.passes and shared.passes[-1].size >= total:
                break
            if integ.done():
                integ.result()  # re-raise the integrator's failure
            await asyncio.sleep(0.01)
        drain = time.perf_counter() - writers_done
        shared.stop.set()
        await integ
        async with dep.engine.connect() as conn:
            rows = (
                await conn.execute(select(LogEntry.id, LogEntry.leaf_index).where(LogEntry.leaf_index.is_not(None)))
            ).all()
        index_of = {int(r.id): int(r.leaf_index) for r in rows}
        result = _summarise(shared, index_of, backend.name, writers, per_tx, duration, drain, timer, cpu)
        return replace(result, processes=processes)
    finally:
        if clients is not None:
            clients.close()
        await integrator_engine.dispose()
        await dep.dispose()


async def _warm(dep: Deployment, writers: int) -> None:
    sessions = session_factory(dep.engine)

    async def one() -> None:
        async with sessions.begin() as session:
            await session.execute(text("SELECT 1"))

    await asyncio.gather(*(one() for _ in range(writers)))


def _summarise(
    shared: _Shared,
    index_of: dict[int, int],
    backend: str,
    writers: int,
    per_tx: int,
    duration: float,
    drain: float,
    timer: StatementTimer,
    cpu: CpuUse,
) -> AppendResult:
    passes = [p for p in shared.passes if p.integrated]
    sizes = [p.size for p in passes]
    latencies, missing = [], 0
    for eid, committed_at in zip(shared.commit_ids, shared.commit_times, strict=True):
        leaf = index_of.get(eid)
        k = None if leaf is None else bisect.bisect_right(sizes, leaf)
        if k is None or k >= len(passes):
            missing += 1
            continue
        latencies.append(max(0.0, passes[k].done - committed_at))
    committed_in_window = sum(1 for t in shared.commit_times if t <= shared.deadline)
    in_window = [p.size for p in shared.passes if p.done <= shared.deadline]
    integrated_by_end = max(in_window, default=0)
    batches = [p.integrated for p in passes]
    return AppendResult(
        backend=backend,
        writers=writers,
        per_tx=per_tx,
        duration_s=duration,
        processes=1,
        committed=len(shared.commit_ids),
        committed_per_s=committed_in_window / duration,
        transactions_per_s=shared.transactions / duration,
        integrated_by_end=integrated_by_end,
        integrated_per_s=integrated_by_end / duration,
        latency_p50_ms=1000 * percentile(latencies, 0.5),
        latency_p99_ms=1000 * percentile(latencies, 0.99),
        latency_max_ms=1000 * max(latencies, default=float("nan")),
        not_integrated=missing,
        drain_s=drain,
        errors=shared.errors,
        passes=len(passes),
        mean_batch=sum(batches) / len(batches) if batches else 0.0,
        max_batch=max(batches, default=0),
        integrate_wall_s=sum(p.wall for p in shared.passes),
        integrate_sql_s=dict(timer.totals),
        integrate_sql_calls=dict(timer.counts),
        cpu_machine_cores=cpu.machine_cores,
        cpu_bench_process_cores=cpu.self_cores,
        cpu_server_cores=cpu.server_cores,
        cpu_foreign_cores=cpu.foreign_cores,
    )


async def run_baseline(backend: Backend, writers: int, duration: float, processes: int = 1) -> BaselineResult:
    """``SELECT 1`` round trips, each in its own session transaction, from ``writers`` tasks in ``processes``."""
    dep = await deploy(backend, pool_size=min(100, writers + 4))
    clients = None
    try:
        if processes > 1:
            clients = await Clients.start(dep, processes, writers, "select1", 0, [])
        else:
            await _warm(dep, writers)
        meter = CpuMeter(backend.server.datadir if backend.server is not None else None)
        meter.start()
        deadline = time.perf_counter() + duration
        if clients is not None:
            reports = await clients.run(deadline)
            count, errors = sum(r["count"] for r in reports), sum(r["errors"] for r in reports)
        else:
            count, errors = await _select1(dep, writers, deadline)
        cpu = meter.stop()
        if clients is not None:
            cpu = replace(cpu, self_cores=cpu.self_cores + sum(r["cpu_s"] for r in reports) / cpu.wall_s)
    finally:
        if clients is not None:
            clients.close()
        await dep.dispose()
    return BaselineResult(
        backend.name,
        writers,
        duration,
        count / duration,
        errors,
        cpu.self_cores,
        cpu.server_cores,
        cpu.foreign_cores,
        processes,
    )


async def _select1(dep: Deployment, writers: int, deadline: float) -> tuple[int, int]:
    """``writers`` tasks loop ``SELECT 1`` in a session transaction until ``deadline``; ``(count, errors)``."""
    sessions = session_factory(dep.engine)
    count = errors = 0

    async def loop() -> None:
        nonlocal count, errors
        while time.perf_counter() < deadline:
            try:
                async with sessions.begin() as session:
                    await session.execute(text("SELECT 1"))
            except Exception:  # noqa: BLE001
                errors += 1
                continue
            count += 1

    await asyncio.gather(*(loop() for _ in range(writers)))
    return count, errors


class Clients:
    """Writer processes (``spawn``): each reopens the deployment with its own engine and K/processes tasks.

    Protocol: each child warms its pool and reports ready; :meth:`run` publishes the deadline and
    releases them together, then collects one report per child (commit ids and times, counts, the
    child's own CPU seconds over the window). The children keep their connections open until
    :meth:`close`, so the server backends serving them are still there when the CPU meter stops.
    """

    def __init__(self, procs: list[Any], ready: Any, go: Any, done: Any, deadline: Any, results: Any) -> None:
        self._procs, self._ready, self._go, self._done = procs, ready, go, done
        self._deadline, self._results = deadline, results

    @classmethod
    async def start(
        cls, dep: Deployment, processes: int, writers: int, mode: str, per_tx: int, pseudonyms: list[str]
    ) -> Clients:
        """Spawn ``processes`` clients sharing ``writers`` tasks and wait until all are warm."""
        ctx = multiprocessing.get_context("spawn")
        ready, results, go, done, deadline = ctx.Queue(), ctx.Queue(), ctx.Event(), ctx.Event(), ctx.Value("d", 0.0)
        shares = [writers // processes + (1 if i < writers % processes else 0) for i in range(processes)]
        settings = dep.settings
        procs = [
            ctx.Process(
                target=_client_process,
                args=(
                    str(settings.data_dir),
                    settings.database_url,
                    min(100, share + 4),
                    mode,
                    share,
                    per_tx,
                    pseudonyms,
                    ready,
                    go,
                    done,
                    deadline,
                    results,
                ),
                daemon=True,
            )
            for share in shares
        ]
        clients = cls(procs, ready, go, done, deadline, results)
        for proc in procs:
            proc.start()
        try:
            for _ in procs:
                try:
                    status = await asyncio.to_thread(ready.get, True, CLIENT_START_TIMEOUT_S)
                except queue.Empty:
                    raise RuntimeError("a client process did not start") from None
                if status != "ready":
                    raise RuntimeError(f"client process failed to start: {status}")
        except BaseException:
            clients.close()
            raise
        return clients

    async def run(self, deadline: float) -> list[dict[str, Any]]:
        """Release the clients until ``deadline`` (``time.perf_counter()``) and return their reports."""
        self._deadline.value = deadline
        self._go.set()
        reports = []
        timeout = max(0.0, deadline - time.perf_counter()) + CLIENT_START_TIMEOUT_S
        for _ in self._procs:
            try:
                report = await asyncio.to_thread(self._results.get, True, timeout)
            except queue.Empty:
                raise RuntimeError("a client process did not report") from None
            if "error" in report:
                raise RuntimeError(f"client process failed: {report['error']}")
            reports.append(report)
        return reports

    def close(self) -> None:
        """Let the clients disconnect and exit; join them (killing any that hang)."""
        self._done.set()
        for proc in self._procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join()


def _client_process(
    data_dir: str,
    database_url: str,
    pool_size: int,
    mode: str,
    writers: int,
    per_tx: int,
    pseudonyms: list[str],
    ready: Any,
    go: Any,
    done: Any,
    deadline: Any,
    results: Any,
) -> None:
    """Entry point of a spawned client process."""
    asyncio.run(
        _client_main(
            data_dir, database_url, pool_size, mode, writers, per_tx, pseudonyms, ready, go, done, deadline, results
        )
    )


async def _client_main(
    data_dir: str,
    database_url: str,
    pool_size: int,
    mode: str,
    writers: int,
    per_tx: int,
    pseudonyms: list[str],
    ready: Any,
    go: Any,
    done: Any,
    deadline: Any,
    results: Any,
) -> None:
    started = False
    try:
        dep = await reopen(data_dir, database_url, pool_size)
        try:
            await _warm(dep, writers)
            ready.put("ready")
            started = True
            await asyncio.to_thread(go.wait)
            t0 = os.times()
            shared = _Shared(deadline=deadline.value)
            report: dict[str, Any]
            if mode == "append":
                await asyncio.gather(*(_writer(dep, shared, per_tx, pseudonyms) for _ in range(writers)))
                report = {
                    "commit_ids": shared.commit_ids,
                    "commit_times": shared.commit_times,
                    "transactions": shared.transactions,
                    "errors": shared.errors,
                }
            else:
                count, errors = await _select1(dep, writers, shared.deadline)
                report = {"count": count, "errors": errors}
            t1 = os.times()
            report["cpu_s"] = (t1.user + t1.system) - (t0.user + t0.system)
            results.put(report)
            await asyncio.to_thread(done.wait, CLIENT_DONE_TIMEOUT_S)
        finally:
            await dep.dispose()
    except Exception as exc:  # noqa: BLE001  reported to the parent, which raises
        message = f"{type(exc).__name__}: {exc}"
        if started:
            results.put({"error": message})
        else:
            ready.put(message)
