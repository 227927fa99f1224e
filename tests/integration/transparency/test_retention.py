"""Retention on both databases: past the period a record is blanked, the tree and its proofs are not."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select, update

from tests.support.server import vault_cmd
from tlog import merkle
from vault.audit.auditors import prune_refusals
from vault.audit.queries import EntryFilter
from vault.audit.tables import RefusedRequest
from vault.citizens.history import history
from vault.transparency import retention
from vault.transparency.tables import LogEntry

if TYPE_CHECKING:
    from vault.config import Settings
    from vault.runtime import Runtime

THREE_YEARS = timedelta(days=3 * 365)


async def _entries(runtime: Runtime) -> list[LogEntry]:
    async with runtime.sessions() as db:
        return list((await db.scalars(select(LogEntry).order_by(LogEntry.id))).all())


async def test_pruning_blanks_old_records_and_keeps_every_proof(runtime: Runtime) -> None:
    citizen = await runtime.services.accounts.register("alt@example.de", "ein sehr gutes Passwort")
    await runtime.services.vault.set_attribute(citizen, "given_name", "Erika")
    await runtime.services.log.integrate(runtime.engine)
    async with runtime.sessions.begin() as db:
        await db.execute(update(LogEntry).values(created_at=datetime.now(UTC) - THREE_YEARS))
        db.add(RefusedRequest(created_at=datetime.now(UTC) - THREE_YEARS, client_id="amt", endpoint="data",
                              reason="invalid_token"))  # fmt: skip
        db.add(RefusedRequest(created_at=datetime.now(UTC), client_id="amt", endpoint="data", reason="invalid_token"))
    await runtime.services.vault.set_attribute(citizen, "family_name", "Mustermann")  # a fresh entry, pending
    old_count = len(await _entries(runtime)) - 1
    async with runtime.engine.connect() as conn:
        before = await runtime.services.log.latest_checkpoint(conn)
        assert before is not None
        old_leaves = await runtime.services.log.leaves(conn, 0, before[0])

    cutoff = retention.cutoff(730)
    assert cutoff is not None
    assert await retention.due(runtime.sessions, cutoff) == old_count
    seen: list[int] = []
    result = await retention.prune(runtime.sessions, cutoff, batch=1, progress=seen.append)
    assert result.pruned == old_count == seen[-1]
    assert await prune_refusals(runtime.sessions, cutoff) == 1
    assert (await retention.prune(runtime.sessions, cutoff)).pruned == 0  # idempotent

    entries = await _entries(runtime)
    for entry in entries[:old_count]:
        assert (entry.record, entry.pseudonym, entry.grant_id) == (b"", retention.PRUNED_PSEUDONYM, None)
        assert entry.salt == bytes(32)
        assert entry.pruned_at is not None
        assert entry.leaf_index is not None
        assert entry.action in {"register", "write"}
    assert entries[-1].pruned_at is None
    assert entries[-1].record

    await runtime.services.log.integrate(runtime.engine)
    async with runtime.engine.connect() as conn:
        after = await runtime.services.log.latest_checkpoint(conn)
        assert after is not None
        assert await runtime.services.log.leaves(conn, 0, before[0]) == old_leaves
        all_leaves = await runtime.services.log.leaves(conn, 0, after[0])
        proof = await runtime.services.log.consistency_proof(conn, before[0], after[0])
    assert merkle.root_of(merkle.leaf_hash(c) for c in all_leaves) == after[1]
    merkle.verify_consistency(before[0], after[0], before[1], after[1], proof)

    mine, _ = await history(runtime.engine, runtime.services.log, citizen)
    assert [e.fields for e in mine] == [("family_name",)]
    audited = await runtime.services.audit.entries(EntryFilter())
    assert [e.fields for e in audited] == [["family_name"]]
    assert [c.signature_ok and c.consistent_with_latest for c in await runtime.services.audit.checkpoints()] == [
        True,
        True,
    ]


def test_retention_zero_keeps_everything() -> None:
    assert retention.cutoff(0) is None
    with pytest.raises(ValueError, match=">= 0"):
        retention.cutoff(-1)


def test_the_prune_command_counts_then_prunes(migrated: Settings) -> None:
    env = {"VAULT_DATA_DIR": str(migrated.data_dir), "VAULT_DATABASE_URL": migrated.database_url}
    dry = vault_cmd("log", "prune", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["would_prune"] == 0
    done = vault_cmd("log", "prune", "--retention-days", "1", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["pruned"] == 0
    kept = vault_cmd("log", "prune", env={**env, "VAULT_LOG_RETENTION_DAYS": "0"})
    assert json.loads(kept.stdout)["before"] is None
