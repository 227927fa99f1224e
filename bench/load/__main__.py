"""Mixed load against a real vault: agency reads, consents, revokes, citizen sign-ins and edits.

K clients, each a citizen with its own session and the agency's tokens for that citizen's grants,
for a set duration, on SQLite and on PostgreSQL (when ``initdb`` is installed). Reports throughput
and p50/p99 per operation, and the same generator's ``/healthz`` rate as the baseline. Then checks
what must hold (exit status 1 otherwise): no 5xx; every read a client received is in the log;
every checkpoint a client saw is consistent with the newest; no acknowledged write is lost.

    make bench-load                 # or: .venv/bin/python -m bench.load --clients 16 --duration 60
"""

from __future__ import annotations

import argparse
import base64
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.load import checks
from bench.load.report import healthz_rps, run_backends, summary, table
from bench.load.workload import Client, Ledger, run_clients, setup_clients
from tlog.note import Checkpoint
from vault.crypto.signers import NoteSigner, sign_checkpoint

if TYPE_CHECKING:
    from bench.load.deployment import Vault


async def run(vault: Vault, args: argparse.Namespace) -> tuple[dict[str, Any], list[str]]:
    """One backend: baseline, load, checks."""
    agency = vault.register_agency()
    vault.start()
    healthz = await healthz_rps(vault.base, args.clients, min(5.0, args.duration / 2))
    ledger = Ledger()
    http, clients = await setup_clients(vault.base, agency, args.clients, ledger)
    try:
        await run_clients(clients, args.duration)
        if args.inject_faults:
            inject_faults(ledger, clients)
        problems = await checks.check_all(http, clients, ledger)
    finally:
        await http.aclose()
    result = summary(ledger, args.duration, healthz)
    server_errors = sum(o["server_errors"] for o in result["ops"].values())
    if server_errors:
        problems.append(f"{server_errors} responses with 5xx")
    return result, problems


def inject_faults(ledger: Ledger, clients: list[Client]) -> None:
    """Tell the checks about a read, a write and a checkpoint that never happened (they must all be found)."""
    ledger.read_commitments.append(base64.b64encode(secrets.token_bytes(32)).decode())
    ledger.attributes[(clients[0].citizen.name, "given_name")] = {"never written"}
    forger = NoteSigner("localhost/vault-log", Ed25519PrivateKey.generate())
    ledger.checkpoints.add(sign_checkpoint(Checkpoint("localhost/vault-log", 1, bytes(32)), forger))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (K)")
    parser.add_argument("--duration", type=float, default=30, help="seconds of load per backend")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--inject-faults", action="store_true", help="self-test: add a false read, write and checkpoint to the ledger"
    )
    run_backends(parser.parse_args(), "bench-load-", run, table)


if __name__ == "__main__":
    main()
