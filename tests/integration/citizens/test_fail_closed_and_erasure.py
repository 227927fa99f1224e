"""No key release without a log entry; erasure by crypto-shredding, re-applied after a restore."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import insert, select, text, update

from tests.support.server import vault_cmd
from tlog.merkle import MemoryTree, leaf_hash, verify_inclusion
from vault.citizens.errors import InvalidCredentials, UnknownCitizen
from vault.citizens.tables import Citizen, StoredAttribute
from vault.citizens.vault import CITIZEN_VIEW
from vault.crypto import aead, datakeys, wrap
from vault.crypto.tables import CitizenKey
from vault.transparency.log import LogUnavailable
from vault.transparency.tables import LogEntry

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from vault.config import Settings
    from vault.runtime import Runtime


async def _pdf() -> AsyncIterator[bytes]:
    yield b"%PDF-1.4 Mietbescheinigung"


async def _break_the_log(runtime: Runtime) -> None:
    async with runtime.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            await conn.execute(
                text(
                    "CREATE TRIGGER log_down BEFORE INSERT ON log_entries BEGIN SELECT RAISE(ABORT, 'log is down'); END"
                )
            )
        else:
            await conn.execute(
                text(
                    "CREATE FUNCTION log_down() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'log is down'; END $$"
                )
            )
            await conn.execute(
                text("CREATE TRIGGER log_down BEFORE INSERT ON log_entries FOR EACH ROW EXECUTE FUNCTION log_down()")
            )


async def test_when_the_log_fails_every_read_fails_closed(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    vault, accounts = runtime.services.vault, runtime.services.accounts
    cid = await accounts.register("fail-closed", "fail closed password")
    await vault.set_attribute(cid, "family_name", "Geheim")
    doc = await vault.put_document(cid, "k", "application/pdf", "a.pdf", _pdf())
    calls: dict[str, int] = {"unwrap": 0, "open": 0}
    real_unwrap, real_open = wrap.unwrap, aead.Cipher.open

    def counting_unwrap(*args: Any) -> bytes:
        calls["unwrap"] += 1
        return real_unwrap(*args)

    def counting_open(self: aead.Cipher, *args: Any) -> bytes:
        calls["open"] += 1
        return real_open(self, *args)

    monkeypatch.setattr(wrap, "unwrap", counting_unwrap)
    monkeypatch.setattr(aead.Cipher, "open", counting_open)
    # Control: with the log working, the spies do see keys unwrapped and data decrypted.
    await vault.read_attributes(cid, CITIZEN_VIEW)
    _, _, chunks = await vault.read_document(cid, doc.id, CITIZEN_VIEW)
    assert [c async for c in chunks]
    assert calls["unwrap"] >= 2
    assert calls["open"] >= 2
    calls.update(unwrap=0, open=0)
    await _break_the_log(runtime)
    reads = [
        lambda: vault.read_attributes(cid, CITIZEN_VIEW),
        lambda: vault.read_attributes(cid, CITIZEN_VIEW, names=("family_name",)),
        lambda: vault.read_document(cid, doc.id, CITIZEN_VIEW),
        lambda: vault.set_attribute(cid, "given_name", "Erika"),
        lambda: vault.put_document(cid, "k", "application/pdf", "b.pdf", _pdf()),
        lambda: accounts.login_name(cid),
    ]
    for read in reads:
        with pytest.raises(LogUnavailable):
            await read()
    assert calls == {"unwrap": 0, "open": 0}, "a key was unwrapped or data decrypted without a log entry"


async def test_a_logged_access_releases_only_its_own_citizens_key(runtime: Runtime) -> None:
    a = await runtime.services.accounts.register("key-a", "password a")
    b = await runtime.services.accounts.register("key-b", "password b")
    async with runtime.sessions.begin() as s:
        access_a, _ = await runtime.services.vault.log_access(s, a, CITIZEN_VIEW, ())
        wrapped_b = await datakeys.load_wrapped_key(s, b)
    with pytest.raises(PermissionError):
        runtime.services.vault.cipher(wrapped_b, access_a)


async def test_erasure_shreds_the_key_keeps_a_tombstone_and_the_log_verifies(
    runtime: Runtime, migrated: Settings
) -> None:
    accounts, vault = runtime.services.accounts, runtime.services.vault
    cid = await accounts.register("to-be-erased", "erase password")
    await vault.set_attribute(cid, "family_name", "Vergessen")
    await vault.read_attributes(cid, CITIZEN_VIEW)
    await accounts.erase(cid)
    with pytest.raises(UnknownCitizen):
        await vault.read_attributes(cid, CITIZEN_VIEW)
    with pytest.raises(InvalidCredentials):
        await accounts.authenticate("to-be-erased", "erase password")
    async with runtime.sessions() as s:
        key = (await s.execute(select(CitizenKey).where(CitizenKey.citizen_id == cid))).scalar_one()
        citizen = (await s.execute(select(Citizen).where(Citizen.id == cid))).scalar_one()
        attrs = (await s.execute(select(StoredAttribute).where(StoredAttribute.citizen_id == cid))).all()
    assert key.wrapped is None
    assert key.destroyed_at is not None
    assert citizen.erased_at is not None
    assert citizen.login_hash is None
    assert citizen.login_ct is None
    assert attrs == []
    assert runtime.settings.erasure_journal is not None
    assert json.loads(runtime.settings.erasure_journal.read_text().splitlines()[-1])["citizen"] == cid
    await runtime.services.log.integrate(runtime.engine)
    async with runtime.engine.connect() as conn:
        commitments = (await conn.execute(select(LogEntry.commitment).order_by(LogEntry.leaf_index))).scalars().all()
        size, root, _ = await runtime.services.log.latest_checkpoint(conn)  # type: ignore[misc]
        tree = MemoryTree(leaf_hash(c) for c in commitments)
        assert tree.root() == root
        for index in range(size):
            proof = await runtime.services.log.inclusion_proof(conn, index, size)
            verify_inclusion(leaf_hash(commitments[index]), index, size, proof, root)
    assert len(commitments) >= 4  # register, write, view, erase


async def test_reapply_erasures_after_a_backup_restore(runtime: Runtime, migrated: Settings) -> None:
    cid = await runtime.services.accounts.register("restored", "restore password")
    keep = await runtime.services.accounts.register("unaffected", "other password")
    await runtime.services.vault.set_attribute(cid, "family_name", "Backup")
    async with runtime.sessions() as s:  # "the backup"
        citizen_row = dict((await s.execute(select(Citizen.__table__).where(Citizen.id == cid))).mappings().one())
        key_row = dict(
            (await s.execute(select(CitizenKey.__table__).where(CitizenKey.citizen_id == cid))).mappings().one()
        )
        attr_rows = [
            dict(r)
            for r in (
                await s.execute(select(StoredAttribute.__table__).where(StoredAttribute.citizen_id == cid))
            ).mappings()
        ]
    await runtime.services.accounts.erase(cid)
    async with runtime.sessions.begin() as s:  # "restore the backup"
        await s.execute(update(Citizen).where(Citizen.id == cid).values(**citizen_row))
        await s.execute(update(CitizenKey).where(CitizenKey.citizen_id == cid).values(**key_row))
        await s.execute(insert(StoredAttribute), attr_rows)
    assert (await runtime.services.vault.read_attributes(cid, CITIZEN_VIEW))["family_name"].value == "Backup"
    env = {"VAULT_DATA_DIR": str(migrated.data_dir), "VAULT_DATABASE_URL": migrated.database_url}
    result = vault_cmd("citizens", "reapply-erasures", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"erased_again": 1, "already_erased": 0}
    with pytest.raises(UnknownCitizen):
        await runtime.services.vault.read_attributes(cid, CITIZEN_VIEW)
    assert await runtime.services.vault.read_attributes(keep, CITIZEN_VIEW) == {}
    again = vault_cmd("citizens", "reapply-erasures", env=env)
    assert json.loads(again.stdout) == {"erased_again": 0, "already_erased": 1}
