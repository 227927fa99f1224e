"""SIGKILL the integrator mid-batch, restart: nothing acknowledged is lost and no checkpoint forks."""

from __future__ import annotations

import base64
import random
import time
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import select

from tests.support.server import serve
from tlog.merkle import MemoryTree, leaf_hash, verify_consistency
from tlog.note import Verifier, open_checkpoint
from vault.transparency.tables import LogCheckpoint, LogEntry

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.log_harness import LogHarness
    from vault.config import Settings

KILLS = 3
BATCH = 5000


async def test_sigkill_during_integration_loses_nothing(
    harness: LogHarness, migrated: Settings, tmp_path: Path
) -> None:
    env = {"VAULT_DATA_DIR": str(migrated.data_dir), "VAULT_DATABASE_URL": migrated.database_url}
    verifier = Verifier.from_vkey(harness.log.signer.vkey())
    acknowledged: list[bytes] = []
    observed: set[str] = set()
    rng = random.Random(20261126)
    for round_ in range(KILLS):
        async with harness.sessions.begin() as session:
            batch = [(await harness.log.append(session, harness.record())).commitment for _ in range(BATCH)]
        acknowledged += batch  # committed: acknowledged to the caller
        with serve(tmp_path, env, ready_path="/healthz") as vault:
            if round_ == 0:  # one checkpoint before any kill, however slow the machine: later ones must extend it
                observed.add(_wait_for_size(vault.base_url, len(acknowledged)))
            else:
                time.sleep(rng.uniform(0.0, 0.6))  # anywhere in the batch
            r = httpx.get(vault.base_url + "/log/checkpoint")
            if r.status_code == 200:
                observed.add(r.text)
            vault.kill()
            vault.process.wait()
    with serve(tmp_path, env) as vault:
        observed.add(_wait_for_size(vault.base_url, len(acknowledged)))
    async with harness.engine.connect() as conn:
        rows = (
            await conn.execute(select(LogEntry.leaf_index, LogEntry.commitment).order_by(LogEntry.leaf_index))
        ).all()
        stored = (await conn.execute(select(LogCheckpoint.note))).scalars().all()
    assert [r.leaf_index for r in rows] == list(range(len(acknowledged)))
    assert {bytes(r.commitment) for r in rows} == set(acknowledged)
    tree = MemoryTree(leaf_hash(bytes(r.commitment)) for r in rows)
    latest = tree.size
    for note in observed | set(stored):
        cp = open_checkpoint(note, verifier, harness.log.origin)
        verify_consistency(cp.size, latest, cp.root, tree.root(), tree.consistency_proof(cp.size))
    assert len(set(stored)) >= 2, "expected several checkpoints across the restarts"
    assert base64.b64encode(tree.root()).decode() in note_of_size(stored, latest)


def _wait_for_size(base_url: str, size: int) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        r = httpx.get(base_url + "/log/checkpoint")
        if r.status_code == 200 and int(r.text.split("\n")[1]) == size:
            return r.text
        time.sleep(0.2)
    raise AssertionError(f"the integrator did not integrate the {size} acknowledged entries")


def note_of_size(notes: list[str], size: int) -> str:
    return next(n for n in notes if n.split("\n")[1] == str(size))
