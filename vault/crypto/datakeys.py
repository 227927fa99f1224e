"""Per-citizen data keys (DEKs): created, wrapped under the root key, used only against a log entry.

A DEK is 32 random bytes wrapped with AES-256-KWP under the current root key version. It never
leaves this package: :func:`open_cipher` is the one place a DEK is unwrapped, it demands the
:class:`~vault.transparency.log.LoggedAccess` for that citizen (DESIGN.md §2), and it hands out a
:class:`CitizenCipher` that seals and opens that citizen's values, not the key. Erasure destroys the
wrapped DEK (crypto-shredding) and keeps the row as a tombstone.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from vault.crypto import aead
from vault.crypto.kek import RootKeyError
from vault.crypto.tables import CitizenKey, RootKeyVersion
from vault.transparency.log import LoggedAccess

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from vault.crypto.kek import KeyEncryptionKey

DEK_BYTES = 32


class KeyDestroyed(Exception):
    """The citizen's key was destroyed (erased account) or never existed."""


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A DEK as stored: still wrapped, safe to carry around."""

    citizen_id: str
    dek_version: int
    root_version: int
    wrapped: bytes


class CitizenCipher:
    """One citizen's data key, released for one logged access: seals and opens that citizen's values.

    Every ciphertext is bound (:class:`~vault.crypto.aead.Context`) to this citizen, a record and a
    field, and carries the DEK version in its header — the format of :mod:`vault.crypto.aead`.
    """

    __slots__ = ("_cipher", "citizen_id", "version")

    def __init__(self, cipher: aead.Cipher, citizen_id: str, version: int) -> None:
        self._cipher = cipher
        self.citizen_id = citizen_id
        self.version = version

    def _context(self, record: str, field: str) -> aead.Context:
        return aead.Context(self.citizen_id, record, field)

    def seal(self, plaintext: bytes, record: str, field: str) -> bytes:
        """Encrypt ``plaintext`` for ``record``'s ``field`` (A256GCM, fresh nonce)."""
        return self._cipher.seal(plaintext, self._context(record, field), key_version=self.version)

    def seal_large(self, plaintext: bytes, record: str, field: str) -> bytearray:
        """:meth:`seal` into one buffer without copying the body: for document chunks."""
        return self._cipher.seal_large(plaintext, self._context(record, field), key_version=self.version)

    def open(self, ciphertext: bytes, record: str, field: str) -> bytes:
        """Decrypt; :class:`~vault.crypto.aead.InvalidCiphertext` on any failure."""
        return self._cipher.open(ciphertext, self._context(record, field))


async def create_data_key(session: AsyncSession, root: KeyEncryptionKey, citizen_id: str) -> None:
    """Generate and store a new citizen's DEK, wrapped under the current root key.

    Reads the root version's row ``FOR SHARE``: a rotation retiring that version either waits and
    then sees this key, or has already retired it and this refuses (never an orphaned key).
    """
    version = root.version
    retired = await session.scalar(
        select(RootKeyVersion.retired_at).where(RootKeyVersion.version == version).with_for_update(read=True)
    )
    if retired is not None:
        raise RootKeyError(root.setting, f"root key version {version} was retired by a rotation; retry")
    session.add(
        CitizenKey(
            citizen_id=citizen_id,
            dek_version=1,
            root_version=version,
            wrapped=root.wrap(secrets.token_bytes(DEK_BYTES), version=version),
            created_at=datetime.now(UTC),
        )
    )


async def load_wrapped_key(session: AsyncSession, citizen_id: str) -> WrappedKey:
    """The citizen's wrapped DEK; :class:`KeyDestroyed` if erased or unknown."""
    row = (
        await session.execute(
            select(CitizenKey.dek_version, CitizenKey.root_version, CitizenKey.wrapped).where(
                CitizenKey.citizen_id == citizen_id
            )
        )
    ).first()
    if row is None or row.wrapped is None:
        raise KeyDestroyed(citizen_id)
    return WrappedKey(citizen_id, row.dek_version, row.root_version, bytes(row.wrapped))


def open_cipher(root: KeyEncryptionKey, wrapped: WrappedKey, access: LoggedAccess) -> CitizenCipher:
    """Release a citizen's cipher: only against a :class:`LoggedAccess` for that same citizen."""
    if not isinstance(access, LoggedAccess) or access.subject != wrapped.citizen_id:
        raise PermissionError("a data key is released only against a log entry for its citizen")
    dek = root.unwrap(wrapped.wrapped, version=wrapped.root_version)
    return CitizenCipher(aead.Cipher(dek), wrapped.citizen_id, wrapped.dek_version)


async def destroy_data_key(session: AsyncSession, citizen_id: str) -> bool:
    """Crypto-shred: drop the wrapped DEK, keep the row as a tombstone. True if a key was destroyed."""
    result = await session.execute(
        update(CitizenKey)
        .where(CitizenKey.citizen_id == citizen_id, CitizenKey.wrapped.is_not(None))
        .values(wrapped=None, destroyed_at=datetime.now(UTC))
    )
    return bool(getattr(result, "rowcount", 0))
