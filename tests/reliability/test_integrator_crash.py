"""SIGKILL the integrator mid-batch, restart: nothing acknowledged is lost and no checkpoint forks."""

from __future__ import annotations

import base64
import random
import time
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import select

from tests.support.server import serve
from vault.transparency.merkle import MemoryTree, leaf_hash, verify_consistency
from vault.transparency.note import Verifier, open_checkpoint
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
    for _ in range(KILLS):
        async with harness.sessions.begin() as session:
            batch = [(await harness.log.append(session, harness.record())).commitment for _ in range(BATCH)]
        acknowledged += batch  # committed: acknowledged to the caller
        with serve(tmp_path, env, ready_path="/healthz") as vault:
            time.sleep(rng.uniform(0.0, 0.6))
            r = httpx.get(vault.base_url + "/log/checkpoint")
            if r.status_code == 200:
                observed.add(r.text)
            vault.kill()
            vault.process.wait()
    with serve(tmp_path, env) as vault:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            r = httpx.get(vault.base_url + "/log/checkpoint")
            if r.status_code == 200 and int(r.text.split("\n")[1]) == len(acknowledged):
                observed.add(r.text)
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the restarted integrator did not integrate every acknowledged entry")
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


def note_of_size(notes: list[str], size: int) -> str:
    return next(n for n in notes if n.split("\n")[1] == str(size))
