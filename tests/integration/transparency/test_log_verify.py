"""`vault log verify` against a running `vault serve`: tampering is detected and located."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, func, select, update

from tests.support.server import serve, vault_cmd
from tlog.note import Checkpoint
from vault.crypto.signers import NoteSigner, sign_checkpoint
from vault.transparency.tables import LogCheckpoint, LogEntry

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.log_harness import LogHarness
    from vault.config import Settings


def _env(settings: Settings) -> dict[str, str]:
    return {"VAULT_DATA_DIR": str(settings.data_dir), "VAULT_DATABASE_URL": settings.database_url}


def _wait_for_size(base_url: str, size: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = httpx.get(base_url + "/log/checkpoint")
        if r.status_code == 200 and int(r.text.split("\n")[1]) >= size:
            return
        time.sleep(0.1)
    raise AssertionError(f"log did not reach size {size}")


def _verify(base_url: str, state: Path, *extra: str) -> tuple[int, str]:
    r = vault_cmd("log", "verify", "--url", base_url, "--state", str(state), *extra)
    return r.returncode, r.stdout + r.stderr


async def test_verify_accepts_a_growing_log_and_remembers_it(
    harness: LogHarness, migrated: Settings, tmp_path: Path
) -> None:
    await harness.append(30)
    state = tmp_path / "state.json"
    with serve(tmp_path, _env(migrated)) as vault:
        _wait_for_size(vault.base_url, 30)
        code, out = _verify(vault.base_url, state)
        assert code == 0, out
        assert "trusting key" in out
        assert "ok: checkpoint 30 verified; 30 leaves checked" in out
        await harness.append(300)
        _wait_for_size(vault.base_url, 330)
        code, out = _verify(vault.base_url, state)
        assert code == 0, out
        assert "ok: checkpoint 330 verified, consistent with 30; 330 leaves checked" in out
        assert "trusting key" not in out


async def _tamper_altered_leaf(h: LogHarness) -> None:
    async with h.engine.begin() as conn:
        await conn.execute(update(LogEntry).where(LogEntry.leaf_index == 17).values(commitment=b"\xee" * 32))


async def _tamper_deleted_row(h: LogHarness) -> None:
    async with h.engine.begin() as conn:
        await conn.execute(delete(LogEntry).where(LogEntry.leaf_index == 23))


async def _tamper_truncated_tail(h: LogHarness) -> None:
    async with h.engine.begin() as conn:
        await conn.execute(delete(LogEntry).where(LogEntry.leaf_index >= 37))


async def _tamper_foreign_key(h: LogHarness) -> None:
    async with h.engine.begin() as conn:
        size = await conn.scalar(select(func.max(LogCheckpoint.size)))
        root = await conn.scalar(select(LogCheckpoint.root).where(LogCheckpoint.size == size))
        forged = sign_checkpoint(
            Checkpoint(origin=h.log.origin, size=size + 1, root=root),
            NoteSigner(h.log.origin, Ed25519PrivateKey.generate()),
        )
        await conn.execute(
            LogCheckpoint.__table__.insert().values(size=size + 1, root=root, note=forged, created_at=func.now())
        )


async def _tamper_rollback(h: LogHarness) -> None:
    async with h.engine.begin() as conn:
        await conn.execute(delete(LogCheckpoint).where(LogCheckpoint.size > 20))


TAMPERING = {
    "altered leaf": (_tamper_altered_leaf, "leaves do not match the signed root", 17),
    "deleted row": (_tamper_deleted_row, "leaves do not match the signed root (1 leaves missing)", 23),
    "truncated tail": (_tamper_truncated_tail, "3 leaves missing from index 37", 37),
    "checkpoint by another key": (_tamper_foreign_key, "checkpoint rejected", None),
    "rolled-back checkpoint": (_tamper_rollback, "rollback: checkpoint size 20 is below the verified size 40", None),
}


@pytest.mark.parametrize("kind", list(TAMPERING))
async def test_tampering_is_detected_and_located(
    harness: LogHarness, migrated: Settings, tmp_path: Path, kind: str
) -> None:
    tamper, problem, first_bad = TAMPERING[kind]
    await harness.append(20)
    await harness.log.integrate(harness.engine)
    await harness.append(20)
    state = tmp_path / "state.json"
    with serve(tmp_path, _env(migrated)) as vault:
        _wait_for_size(vault.base_url, 40)
        code, out = _verify(vault.base_url, state)
        assert code == 0, out
        await tamper(harness)
        code, out = _verify(vault.base_url, state)
    assert code == 1, out
    assert problem in out
    if first_bad is not None:
        assert f"first bad index {first_bad}" in out
    assert state.exists()
    assert '"size":40' in state.read_text()  # the state file still holds the last good checkpoint
