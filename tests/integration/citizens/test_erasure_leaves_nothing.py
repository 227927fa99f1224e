"""After ``DELETE /api/v1/me`` nothing of the erased citizen's key or ciphertexts can be recovered.

SQLite: no file in the data dir (database, ``-wal``, ``-shm``, anything) holds the wrapped key or a
ciphertext any more. PostgreSQL: after the operator procedure of docs/operations.md ("What erasure
leaves behind, and how to close it") the table files hold neither; the WAL may — and there the
wrapped key is useless, because the root key version it was wrapped under is destroyed.
"""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from tests.support.server import vault_cmd
from tests.support.web import csrf_header, domain, register
from vault.citizens.tables import Citizen, DocumentChunk, StoredAttribute, StoredDocument
from vault.crypto.rootkey import parse_versions
from vault.crypto.tables import CitizenKey
from vault.crypto.wrap import UnwrapError, unwrap

if TYPE_CHECKING:
    from litestar.testing import AsyncTestClient

    from tests.support.postgres import PostgresServer
    from vault.config import Settings

FAMILY_NAME = "Schreddermann-Quastenflosser"
DOCUMENT = b"%PDF-1.4 " + b"LOESCHMICH-VOLLSTAENDIG " * 400  # ~10 KiB: overflow pages / TOAST, not one cell
CITIZEN_TABLES = "citizen_keys, citizens, attributes, documents, document_chunks"


def windows(blob: bytes, width: int = 24) -> list[bytes]:
    """Slices from the start, middle and end: a partly overwritten ciphertext is still found."""
    if len(blob) <= width:
        return [blob]
    middle = (len(blob) - width) // 2
    return [blob[:width], blob[middle : middle + width], blob[-width:]]


class Secrets:
    """The erased citizen's wrapped key and ciphertexts, as they were stored."""

    def __init__(self, wrapped: bytes, root_version: int, ciphertexts: list[bytes]) -> None:
        self.wrapped = wrapped
        self.root_version = root_version
        self.needles = {"wrapped DEK": [wrapped]}
        for i, blob in enumerate(ciphertexts):
            self.needles[f"ciphertext {i}"] = windows(blob)

    def found_in(self, blob: bytes) -> list[str]:
        return [name for name, parts in self.needles.items() if any(part in blob for part in parts)]


async def _upload(web: AsyncTestClient[Any], headers: dict[str, str]) -> Any:
    r = await web.post(
        "/api/v1/me/documents",
        files={"file": ("loeschen.pdf", DOCUMENT, "application/pdf")},
        data={"kind": "id_card"},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return r


async def _store_and_capture(web: AsyncTestClient[Any], settings: Settings) -> Secrets:
    await register(web, "schredder@example.de")
    h = await csrf_header(web)
    r = await web.put("/api/v1/me/attributes/family_name", json={"value": FAMILY_NAME}, headers=h)
    assert r.status_code == 200, r.text
    r = await _upload(web, h)
    async with domain(settings) as runtime, runtime.sessions() as s:
        citizen = await s.scalar(select(Citizen).where(Citizen.erased_at.is_(None)))
        assert citizen is not None
        assert citizen.login_ct
        key = await s.scalar(select(CitizenKey).where(CitizenKey.citizen_id == citizen.id))
        assert key is not None
        assert key.wrapped
        attributes = list(await s.scalars(select(StoredAttribute.ciphertext)))
        names = list(await s.scalars(select(StoredDocument.name_ct)))
        chunks = list(await s.scalars(select(DocumentChunk.ciphertext)))
    assert attributes
    assert names
    assert chunks
    assert sum(len(c) for c in chunks) > len(DOCUMENT)
    return Secrets(bytes(key.wrapped), key.root_version, [citizen.login_ct, *attributes, *names, *chunks])


def _files(top: Path) -> list[Path]:
    return sorted(p for p in top.rglob("*") if p.is_file())


def _scan(top: Path, secrets: Secrets, skip: Path | None = None) -> dict[str, list[str]]:
    """``{file: [what was found]}`` over every file under ``top`` (except under ``skip``)."""
    out: dict[str, list[str]] = {}
    for path in _files(top):
        if skip is not None and path.is_relative_to(skip):
            continue
        try:
            blob = path.read_bytes()
        except FileNotFoundError:  # removed meanwhile (a recycled WAL segment, pg_internal.init)
            continue
        if found := secrets.found_in(blob):
            out[str(path.relative_to(top))] = found
    return out


async def test_erasure_leaves_no_wrapped_key_or_ciphertext_in_the_database_files(
    web: AsyncTestClient[Any], migrated: Settings, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    secrets = await _store_and_capture(web, migrated)
    if migrated.is_sqlite:
        db = Path(migrated.database_url.split("///", 1)[1])
        assert db.is_relative_to(tmp_path)
        before = _scan(tmp_path, secrets)
        assert any("wrapped DEK" in found for found in before.values()), "control: the scan must see the key"
        assert (await web.delete("/api/v1/me", headers=await csrf_header(web))).status_code == 204
        # The app is still running, its connections open: this is what a copy of the disk holds now.
        assert _scan(tmp_path, secrets) == {}
    else:
        server: PostgresServer = request.getfixturevalue("pg_server")
        database = migrated.database_url.rsplit("/", 1)[1]
        assert (await web.delete("/api/v1/me", headers=await csrf_header(web))).status_code == 204
        server.psql(database, "CHECKPOINT")
        # Until VACUUM the dead tuples are still in the table files: the scan does see them.
        assert _scan(server.datadir, secrets, skip=server.datadir / "pg_wal"), "control: dead tuples not seen"
        # The operator procedure (docs/operations.md): rewrite the citizen tables, checkpoint.
        server.psql(database, f"VACUUM (FULL) {CITIZEN_TABLES}")
        server.psql(database, "CHECKPOINT")
        assert _scan(server.datadir, secrets, skip=server.datadir / "pg_wal") == {}
        # The WAL keeps the bytes until its segments are overwritten; what it holds must be useless.
        assert migrated.root_key_file is not None
        old_key = parse_versions(migrated.root_key_file.read_text(), "root.key")[secrets.root_version]
        assert len(unwrap(old_key, secrets.wrapped)) == 32, "control: the captured key is a live wrapped DEK"
        env = {"VAULT_DATA_DIR": str(migrated.data_dir), "VAULT_DATABASE_URL": migrated.database_url}
        rotated = vault_cmd("keys", "rotate-root", env=env)
        assert rotated.returncode == 0, rotated.stderr
        held = parse_versions(migrated.root_key_file.read_text(), "root.key")
        assert secrets.root_version not in held
        for key in held.values():
            with pytest.raises(UnwrapError):
                unwrap(key, secrets.wrapped)
        # And the old root key version is gone from every file of the vault's data dir.
        for path in _files(migrated.data_dir):
            blob = path.read_bytes()
            assert old_key not in blob, path
            assert base64.b64encode(old_key) not in blob, path


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # SQLite's WAL; PostgreSQL: above
async def test_an_old_reader_delays_the_cleanup_but_never_fails_the_erasure(
    web: AsyncTestClient[Any], migrated: Settings, tmp_path: Path
) -> None:
    secrets = await _store_and_capture(web, migrated)
    db = Path(migrated.database_url.split("///", 1)[1])
    reader = sqlite3.connect(db, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM citizens").fetchone()  # holds the snapshot before the erasure
        with capture_logs() as logs:
            r = await web.delete("/api/v1/me", headers=await csrf_header(web))
        assert r.status_code == 204
        assert [e for e in logs if e["event"].startswith("erasure: WAL not truncated")], logs
        assert "wrapped DEK" in _scan(tmp_path, secrets).get(db.name + "-wal", []), "the reader still sees it"
        reader.execute("COMMIT")
    finally:
        reader.close()
    # The next erasure's checkpoint completes the first one's.
    web.cookies.clear()
    await register(web, "naechste@example.de")
    assert (await web.delete("/api/v1/me", headers=await csrf_header(web))).status_code == 204
    assert _scan(tmp_path, secrets) == {}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # SQLite's WAL
async def test_a_deleted_document_or_value_leaves_no_ciphertext_in_the_database_files(
    web: AsyncTestClient[Any], migrated: Settings, tmp_path: Path
) -> None:
    """The citizen's key stays live after deleting one document or value: its ciphertext must not outlive it."""
    await register(web, "aufraeumen@example.de")
    h = await csrf_header(web)
    assert (await web.put("/api/v1/me/attributes/family_name", json={"value": FAMILY_NAME}, headers=h)).is_success
    r = await _upload(web, h)
    document_id = r.json()["id"]
    async with domain(migrated) as runtime, runtime.sessions() as s:
        stored = [
            *await s.scalars(select(StoredAttribute.ciphertext)),
            *await s.scalars(select(StoredDocument.name_ct)),
        ]
        stored += list(await s.scalars(select(DocumentChunk.ciphertext)))
    deleted = Secrets(b"-" * 40, 0, stored)  # no key to look for: it stays
    del deleted.needles["wrapped DEK"]
    assert len(_scan(tmp_path, deleted)) > 0, "control: the scan must see the ciphertexts"
    assert (await web.delete(f"/api/v1/me/documents/{document_id}", headers=h)).status_code == 204
    assert (await web.delete("/api/v1/me/attributes/family_name", headers=h)).status_code == 204
    assert _scan(tmp_path, deleted) == {}
