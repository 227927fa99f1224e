"""A stolen database file, its WAL, PostgreSQL's data directory or a pg_dump holds no login name, attribute value
or document."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from vault.citizens.vault import CITIZEN_VIEW

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import pytest

    from tests.support.postgres import PostgresServer
    from vault.runtime import Runtime

LOGIN = "xaver.quellenstein-4711@example.de"
VALUES = {
    "family_name": "Quellenstein-Xylophon",
    "given_name": "Xaverius",
    "birth_place": "Zwiebelhausen-am-Teich",
    "tax_id": "86095742719",
    "iban": "DE89370400440532013000",
    "address": {
        "street": "Zauberflötenweg",
        "house_number": "4711",
        "postal_code": "10115",
        "city": "Quappenstadt",
        "country": "DE",
    },
}
DOCUMENT = b"%PDF-1.4 GEHEIMNIS-MIETBESCHEINIGUNG-QUELLENSTEIN"
FILENAME = "Mietbescheinigung-Quellenstein.pdf"


def markers() -> list[bytes]:
    out = [LOGIN.encode(), LOGIN.casefold().encode(), DOCUMENT[9:], FILENAME.encode()]
    for value in VALUES.values():
        parts = value.values() if isinstance(value, dict) else [value]
        out += [str(p).encode() for p in parts if len(str(p)) >= 5]
    return out


async def _store_everything(runtime: Runtime) -> None:
    cid = await runtime.services.accounts.register(LOGIN, "at-rest password")
    for name, value in VALUES.items():
        await runtime.services.vault.set_attribute(cid, name, value)

    async def content() -> AsyncIterator[bytes]:
        yield DOCUMENT

    await runtime.services.vault.put_document(cid, "rental_confirmation", "application/pdf", FILENAME, content())
    assert (await runtime.services.vault.read_attributes(cid, CITIZEN_VIEW))["family_name"].value == VALUES[
        "family_name"
    ]
    await runtime.services.log.integrate(runtime.engine)


def _assert_clean(blob: bytes, where: str) -> None:
    assert blob, f"{where} is empty"
    for marker in markers():
        for form in {marker, marker.decode().encode("utf-16-le")}:
            assert form not in blob, f"{marker!r} found in clear in {where}"


def _assert_rows_visible(blob: bytes, where: str) -> None:
    """Control: metadata kept in clear on purpose (a document kind) is found, so the scan does see the rows."""
    assert b"rental_confirmation" in blob, f"{where} does not contain the rows written"


async def test_database_files_and_dumps_hold_no_plaintext(runtime: Runtime, request: pytest.FixtureRequest) -> None:
    await _store_everything(runtime)
    if runtime.settings.is_sqlite:
        db = Path(runtime.settings.database_url.split("///", 1)[1])
        wal = db.with_name(db.name + "-wal")
        assert wal.exists(), "expected a WAL file (journal_mode=WAL)"
        for path in (db, wal):
            _assert_clean(path.read_bytes(), path.name)
        _assert_rows_visible(db.read_bytes() + wal.read_bytes(), "vault.db + WAL")
        await runtime.close()  # checkpoint the WAL into the main file and look again
        _assert_clean(db.read_bytes(), db.name + " after checkpoint")
        _assert_rows_visible(db.read_bytes(), "vault.db after checkpoint")
    else:
        server: PostgresServer = request.getfixturevalue("pg_server")
        database = runtime.settings.database_url.rsplit("/", 1)[1]
        dump = server.pg_dump(database)
        _assert_clean(dump, "pg_dump")
        _assert_rows_visible(dump, "pg_dump")
        # The server's own files too: table and index pages after a checkpoint, and the WAL.
        server.psql(database, "CHECKPOINT")
        seen_rows = False
        for path in sorted(p for p in server.datadir.rglob("*") if p.is_file() and p.name != "postmaster.pid"):
            try:
                blob = path.read_bytes()
            except FileNotFoundError:  # a file the server removed meanwhile (e.g. pg_internal.init)
                continue
            for marker in markers():
                assert marker not in blob, f"{marker!r} found in clear in {path.relative_to(server.datadir)}"
            seen_rows = seen_rows or b"rental_confirmation" in blob
        assert seen_rows, "the data files and WAL do not contain the rows written"
