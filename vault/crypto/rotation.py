"""Root key rotation: add a version, re-wrap every data key and service secret, retire the old one.

Resumable and idempotent: each batch re-wraps in its own transaction, so ``vault keys rotate-root``
can be killed at any moment and run again to finish. Data ciphertexts are never touched — only the
wrapped keys change, each unwrapped under its old version and wrapped under the current one by the
:class:`~vault.crypto.kek.KeyEncryptionKey` (no key bytes are read from it). Order of steps, each safe
to repeat:

1. With a single version in the key file, add a new one (atomic file rewrite). A
   :class:`~vault.crypto.rootkey.RootKeyChain` (a token key beside the key file) brings its new
   version along: the token's, or one ``vault keys rotate-root --to-file`` added to the file.
2. Record the new version's check value in the database (if not yet there).
3. Re-wrap, in batches, every key wrapped under an older version.
4. Mark the older versions retired in the database, then drop them from the key file (a chain keeps
   the file's last version: the operator removes the file once the token key is current).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update

from vault.crypto.rootkey import FileRootKey
from vault.crypto.tables import CitizenKey, RootKeyVersion, WrappedSecret, record_root_versions
from vault.db.engine import writer

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.ext.asyncio import AsyncEngine

    from vault.crypto.kek import KeyEncryptionKey
    from vault.crypto.rootkey import RootKeyChain

BATCH = 500


@dataclass(frozen=True, slots=True)
class RotationResult:
    """What a run did."""

    new_version: int
    rewrapped: int
    retired: tuple[int, ...]


async def pending_count(engine: AsyncEngine, current: int) -> int:
    """Keys still wrapped under a version older than ``current``."""
    async with engine.connect() as conn:
        keys = await conn.scalar(
            select(func.count())
            .select_from(CitizenKey)
            .where(CitizenKey.root_version < current, CitizenKey.wrapped.is_not(None))
        )
        secrets = await conn.scalar(
            select(func.count()).select_from(WrappedSecret).where(WrappedSecret.root_version < current)
        )
    return int(keys or 0) + int(secrets or 0)


async def rotate_root(
    engine: AsyncEngine, root: FileRootKey | RootKeyChain, progress: Callable[[int, int], None] | None = None
) -> RotationResult:
    """Run (or resume) a rotation to completion; ``progress(done, total)`` after each batch."""
    if isinstance(root, FileRootKey) and len(root.versions()) == 1:
        root.add_version()
    current = root.version
    async with writer(engine).begin() as conn:
        known = set((await conn.execute(select(RootKeyVersion.version))).scalars())
        if current not in known:
            await record_root_versions(conn, root, [current])
    total = await pending_count(engine, current)
    done = 0
    old = tuple(sorted(v for v in root.versions() if v != current))
    while True:
        while batch := await _rewrap_batch(engine, root, current):
            done += batch
            if progress is not None:
                progress(done, max(total, done))
        if await _retire(engine, current, old):
            break
        # A running server wrapped a new key under an old version meanwhile: re-wrap that too.
    for version in old:
        root.retire(version)
    return RotationResult(current, done, old)


class _StillInUse(Exception):
    pass


async def _retire(engine: AsyncEngine, current: int, old: tuple[int, ...]) -> bool:
    """Mark ``old`` retired, unless a key still uses one (then roll back and report False).

    The UPDATE locks the version rows first; :func:`~vault.crypto.datakeys.create_data_key` reads
    its version row ``FOR SHARE``, so a key created concurrently is either counted here or sees the
    version retired and refuses.
    """
    try:
        async with writer(engine).begin() as conn:
            await conn.execute(
                update(RootKeyVersion)
                .where(RootKeyVersion.version.in_(old), RootKeyVersion.retired_at.is_(None))
                .values(retired_at=datetime.now(UTC))
            )
            keys = await conn.scalar(
                select(func.count())
                .select_from(CitizenKey)
                .where(CitizenKey.root_version < current, CitizenKey.wrapped.is_not(None))
            )
            secrets = await conn.scalar(
                select(func.count()).select_from(WrappedSecret).where(WrappedSecret.root_version < current)
            )
            if keys or secrets:
                raise _StillInUse
    except _StillInUse:
        return False
    return True


async def _rewrap_batch(engine: AsyncEngine, root: KeyEncryptionKey, current: int) -> int:
    async with writer(engine).begin() as conn:
        rows = (
            await conn.execute(
                select(CitizenKey.citizen_id, CitizenKey.root_version, CitizenKey.wrapped)
                .where(CitizenKey.root_version < current, CitizenKey.wrapped.is_not(None))
                .limit(BATCH)
                .with_for_update()  # an erasure waits for this batch, or is seen by it
            )
        ).all()
        for row in rows:
            dek = root.unwrap(bytes(row.wrapped), version=row.root_version)
            await conn.execute(
                update(CitizenKey)
                .where(
                    CitizenKey.citizen_id == row.citizen_id,
                    CitizenKey.root_version == row.root_version,
                    CitizenKey.wrapped.is_not(None),  # never re-wrap a key destroyed meanwhile
                )
                .values(wrapped=root.wrap(dek, version=current), root_version=current)
            )
        if rows:
            return len(rows)
        secrets = (
            await conn.execute(
                select(WrappedSecret.name, WrappedSecret.root_version, WrappedSecret.wrapped)
                .where(WrappedSecret.root_version < current)
                .with_for_update()
            )
        ).all()
        for row in secrets:
            value = root.unwrap(bytes(row.wrapped), version=row.root_version)
            await conn.execute(
                update(WrappedSecret)
                .where(WrappedSecret.name == row.name)
                .values(wrapped=root.wrap(value, version=current), root_version=current)
            )
        return len(secrets)
