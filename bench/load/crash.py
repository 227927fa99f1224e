"""Crash runs: the mixed load while the vault is SIGKILLed and restarted, the database stopped, the log jammed.

Per backend, three phases under load, then the checks of :mod:`bench.load.checks`:

1. **kills** — SIGKILL the server (all its processes) at random moments, ``--kills`` times, and
   start it again each time. Afterwards every read a client received is in the log, every
   checkpoint ever seen is consistent with the newest, and every acknowledged write is readable.
2. **database stopped** (PostgreSQL) — ``pg_ctl stop -m immediate`` during a burst, then start it:
   while it is down the vault answers 503, never 500 and never data; afterwards it serves again.
3. **log unwritable** — a trigger makes every insert into the log fail: reads and edits answer 503
   and no read is served (nothing is decrypted without its entry); drop the trigger and they work.

    make crash                      # or: .venv/bin/python -m bench.load.crash --kills 20 --clients 8
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.load import checks
from bench.load.report import run_backends, summary, table
from bench.load.workload import Client, Ledger, run_clients, setup_clients

if TYPE_CHECKING:
    from bench.load.deployment import Vault

SQLITE_JAM = "CREATE TRIGGER jam_log BEFORE INSERT ON log_entries BEGIN SELECT RAISE(ABORT, 'log unwritable'); END"
PG_JAM = (
    "CREATE FUNCTION jam_log() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'log unwritable'; END $$;"
    " CREATE TRIGGER jam_log BEFORE INSERT ON log_entries FOR EACH ROW EXECUTE FUNCTION jam_log();"
)
PG_UNJAM = "DROP TRIGGER jam_log ON log_entries; DROP FUNCTION jam_log();"


async def _in_thread(function: Any, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, function, *args)


async def kill_phase(vault: Vault, clients: list[Client], kills: int, rng: random.Random) -> float:
    """Load while the server is killed ``kills`` times at random moments; returns the seconds it took."""
    started = time.monotonic()
    stop = asyncio.Event()

    async def killer() -> None:
        for _ in range(kills):
            await asyncio.sleep(rng.uniform(0.3, 2.0))
            await _in_thread(vault.kill)
            await asyncio.sleep(rng.uniform(0.0, 0.5))
            await _in_thread(vault.start)
        stop.set()

    async def work(client: Client) -> None:
        while not stop.is_set():
            await client.step()

    await asyncio.gather(killer(), *(work(c) for c in clients))
    return time.monotonic() - started


def _window(ledger: Ledger) -> tuple[int, int, int]:
    """(reads served, edits acknowledged, server errors other than 503) so far."""
    stats = ledger.stats
    return stats["read"].ok, stats["edit"].ok, sum(s.server_errors for s in stats.values())


async def outage_phase(
    clients: list[Client], ledger: Ledger, start: Any, end: Any, seconds: float, figures: dict[str, int]
) -> list[str]:
    """Load through an outage made by ``start()`` and ended by ``end()``: nothing served, no 500.

    ``figures`` gets the requests refused with 503 or unanswered during the outage, and what was served.
    """
    await run_clients(clients, 1.0)
    await _in_thread(start)
    await run_clients(clients, 0.3)  # answers already on their way when it began do not count
    reads, edits, errors = _window(ledger)
    unavailable = sum(x.unavailable for x in ledger.stats.values())
    await run_clients(clients, seconds)
    after = _window(ledger)
    figures["unavailable_or_503"] = sum(x.unavailable for x in ledger.stats.values()) - unavailable
    figures["reads_served"], figures["edits_acknowledged"] = after[0] - reads, after[1] - edits
    await _in_thread(end)
    problems = []
    if after[0] != reads:
        problems.append(f"{after[0] - reads} reads were served during the outage")
    if after[1] != edits:
        problems.append(f"{after[1] - edits} edits were acknowledged during the outage")
    if after[2] != errors:
        problems.append(f"{after[2] - errors} answers were 5xx other than 503 during the outage")
    before_recovery = ledger.stats["read"].ok
    await run_clients(clients, 3.0)
    if ledger.stats["read"].ok == before_recovery:
        problems.append("no read was served after the outage ended")
    return problems


def _jam_sqlite(vault: Vault, statement: str) -> None:
    with sqlite3.connect(vault.data_dir / "vault.db") as db:
        db.execute(statement)


def _database(vault: Vault) -> str:
    assert vault.database_url is not None
    return vault.database_url.rsplit("/", 1)[1]


async def run(vault: Vault, args: argparse.Namespace) -> tuple[dict[str, Any], list[str]]:
    agency = vault.register_agency()
    vault.start()
    ledger = Ledger()
    rng = random.Random(args.seed)
    http, clients = await setup_clients(vault.base, agency, args.clients, ledger)
    problems: list[str] = []
    try:
        started = time.monotonic()
        await kill_phase(vault, clients, args.kills, rng)
        outages: dict[str, dict[str, int]] = {"database stopped": {}, "log unwritable": {}}
        if vault.postgres is not None:
            pg = vault.postgres
            found = await outage_phase(
                clients, ledger, lambda: pg.stop("immediate"), pg.start, args.outage, outages["database stopped"]
            )
            problems += [f"database stopped: {p}" for p in found]
        if vault.postgres is not None:
            pg, name = vault.postgres, _database(vault)
            jam, unjam = (lambda: pg.psql(name, PG_JAM)), (lambda: pg.psql(name, PG_UNJAM))
        else:
            jam = lambda: _jam_sqlite(vault, SQLITE_JAM)  # noqa: E731
            unjam = lambda: _jam_sqlite(vault, "DROP TRIGGER jam_log")  # noqa: E731
        problems += [f"log unwritable: {p}" for p in await outage_phase(
            clients, ledger, jam, unjam, args.outage, outages["log unwritable"])]  # fmt: skip
        problems += await checks.check_all(http, clients, ledger)
    finally:
        await http.aclose()
    result = summary(ledger, time.monotonic() - started, None)
    result["kills"] = vault.kills
    result["outages"] = outages
    return result, problems


def _show(backend: str, result: dict[str, Any]) -> str:
    lines = [table(f"{backend}, {result['kills']} kills, then the outages", result)]
    for outage, figures in result["outages"].items():
        if figures:
            lines.append(
                f"\n{outage}: {figures['unavailable_or_503']} requests refused with 503 or unanswered, "
                f"{figures['reads_served']} reads served, {figures['edits_acknowledged']} edits acknowledged"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs per backend")
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--outage", type=float, default=3.0, help="seconds each outage lasts")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--json", type=Path)
    run_backends(parser.parse_args(), "bench-crash-", run, _show)


if __name__ == "__main__":
    main()
