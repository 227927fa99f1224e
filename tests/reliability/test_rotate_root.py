"""`vault keys rotate-root` killed with SIGKILL mid-run, then run again: every key re-wrapped, data untouched."""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, insert, select

from tests.support.runtime import open_runtime
from tests.support.server import _env, vault_cmd
from vault.bootstrap import check_root_key, prepare
from vault.citizens.tables import Citizen, StoredAttribute
from vault.citizens.vault import CITIZEN_VIEW
from vault.crypto.rootkey import FileRootKey
from vault.crypto.tables import CitizenKey, RootKeyVersion, WrappedSecret
from vault.db.engine import create_engine

if TYPE_CHECKING:
    from vault.config import Settings

EXTRA_KEYS = 6000


async def _count_at(settings: Settings, version: int) -> int:
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            return int(
                await conn.scalar(
                    select(func.count()).select_from(CitizenKey).where(CitizenKey.root_version == version)
                )
                or 0
            )
    finally:
        await engine.dispose()


async def test_rotation_survives_sigkill_and_finishes_on_rerun(migrated: Settings) -> None:
    runtime = await open_runtime(migrated)
    people = [await runtime.services.accounts.register(f"rotating-{i}", "rotation password") for i in range(3)]
    for i, cid in enumerate(people):
        await runtime.services.vault.set_attribute(cid, "family_name", f"Rotationsfest-{i}")
    root = runtime.keys.root
    now = datetime.now(UTC)
    ids = [str(uuid.uuid4()) for _ in range(EXTRA_KEYS)]
    async with runtime.sessions.begin() as s:
        await s.execute(insert(Citizen), [{"id": i, "created_at": now} for i in ids])
        await s.execute(
            insert(CitizenKey),
            [
                {
                    "citizen_id": i,
                    "dek_version": 1,
                    "root_version": 1,
                    "created_at": now,
                    "wrapped": root.wrap(secrets.token_bytes(32)),
                }
                for i in ids
            ],
        )
    async with runtime.sessions() as s:
        deks_before = {
            r.citizen_id: root.unwrap(r.wrapped, version=1) for r in (await s.execute(select(CitizenKey))).scalars()
        }
        cts_before = dict((await s.execute(select(StoredAttribute.id, StoredAttribute.ciphertext))).all())
    await runtime.close()

    env = _env({"VAULT_DATA_DIR": str(migrated.data_dir), "VAULT_DATABASE_URL": migrated.database_url})
    killed_mid_run = False
    for _ in range(5):
        proc = subprocess.Popen(
            [sys.executable, "-m", "vault.cli", "keys", "rotate-root"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if await _count_at(migrated, 2) > 0:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.01)
        proc.wait()
        if proc.returncode == -signal.SIGKILL:
            left = await _count_at(migrated, 1)
            killed_mid_run = killed_mid_run or 0 < left < EXTRA_KEYS + len(people)
            if killed_mid_run:
                break
    assert killed_mid_run, "could not kill the rotation in the middle of its work"

    result = vault_cmd("keys", "rotate-root", env={k: v for k, v in env.items() if k.startswith("VAULT_")})
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["current_version"] == 2
    assert summary["retired"] == [1]

    root_after = FileRootKey(migrated.root_key_file, create=False)  # type: ignore[arg-type]
    assert sorted(root_after.versions()) == [2]
    engine = create_engine(migrated)
    try:
        await check_root_key(engine, root_after)
        async with engine.connect() as conn:
            keys = (
                await conn.execute(select(CitizenKey.citizen_id, CitizenKey.root_version, CitizenKey.wrapped))
            ).all()
            retired = (await conn.execute(select(RootKeyVersion.version, RootKeyVersion.retired_at))).all()
            secret_versions = set((await conn.execute(select(WrappedSecret.root_version))).scalars())
            cts_after = dict((await conn.execute(select(StoredAttribute.id, StoredAttribute.ciphertext))).all())
    finally:
        await engine.dispose()
    assert {k.root_version for k in keys} == {2}
    assert {k.citizen_id: root_after.unwrap(k.wrapped, version=2) for k in keys} == deks_before
    assert {v for v, at in retired if at is not None} == {1}
    assert secret_versions == {2}
    assert cts_after == cts_before, "a root rotation must not touch data ciphertexts"

    runtime = await open_runtime(migrated)
    try:
        assert isinstance(prepare(migrated).root, FileRootKey)
        for i, cid in enumerate(people):
            assert (await runtime.services.vault.read_attributes(cid, CITIZEN_VIEW))[
                "family_name"
            ].value == f"Rotationsfest-{i}"
    finally:
        await runtime.close()


async def test_rotation_beside_a_running_server_orphans_no_key(migrated: Settings) -> None:
    """A serving process keeps creating citizens while another process rotates the root key."""
    from vault.crypto.rotation import rotate_root

    runtime = await open_runtime(migrated)
    accounts, vault = runtime.services.accounts, runtime.services.vault
    created: list[str] = []

    async def serve_traffic() -> None:
        for i in range(40):
            cid = await accounts.register(f"during-rotation-{i}", "rotation traffic")
            await vault.set_attribute(cid, "given_name", f"Name{i}")
            created.append(cid)
            await asyncio.sleep(0)

    rotator_root = FileRootKey(migrated.root_key_file, create=False)  # type: ignore[arg-type]
    engine = create_engine(migrated)
    try:
        _, result = await asyncio.gather(serve_traffic(), rotate_root(engine, rotator_root))
        assert result.retired == (1,)
        await check_root_key(engine, FileRootKey(migrated.root_key_file, create=False))  # type: ignore[arg-type]
        async with engine.connect() as conn:
            versions = set(
                (await conn.execute(select(CitizenKey.root_version).where(CitizenKey.wrapped.is_not(None)))).scalars()
            )
        assert versions == {2}
        for i, cid in enumerate(created):  # the running process reads keys wrapped under the new version
            assert (await vault.read_attributes(cid, CITIZEN_VIEW))["given_name"].value == f"Name{i}"
        assert sorted(runtime.keys.root.versions()) == [2]
    finally:
        await engine.dispose()
        await runtime.close()
