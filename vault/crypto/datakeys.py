"""Per-citizen data keys (DEKs): created, wrapped under the root key, released only against a log entry.

A DEK is 32 random bytes wrapped with AES-256-KWP (RFC 5649) under the current root key version.
:func:`unwrap_data_key` is the one place a DEK is unwrapped, and it demands the
:class:`~vault.transparency.log.LoggedAccess` for that citizen (DESIGN.md §2). Erasure destroys the
wrapped DEK (crypto-shredding) and keeps the row as a tombstone.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, select, update
from sqlalchemy.orm import Mapped, mapped_column

from vault.crypto.rootkey import RootKeyError
from vault.crypto.wrap import unwrap, wrap
from vault.db.models import Base, RootKeyVersion, UTCDateTime
from vault.transparency.log import LoggedAccess

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from vault.crypto.rootkey import RootKeyProvider

DEK_BYTES = 32


class CitizenKey(Base):
    """One citizen's DEK, wrapped under root key version ``root_version``; ``wrapped`` NULL once erased."""

    __tablename__ = "citizen_keys"

    citizen_id: Mapped[str] = mapped_column(String(36), ForeignKey("citizens.id"), primary_key=True)
    dek_version: Mapped[int] = mapped_column(Integer)
    root_version: Mapped[int] = mapped_column(Integer, index=True)
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    destroyed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class KeyDestroyed(Exception):
    """The citizen's key was destroyed (erased account) or never existed."""


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A DEK as stored: still wrapped, safe to carry around."""

    citizen_id: str
    dek_version: int
    root_version: int
    wrapped: bytes


@dataclass(frozen=True, slots=True)
class DataKey:
    """An unwrapped DEK and its version (goes into every ciphertext header)."""

    key: bytes
    version: int


async def create_data_key(session: AsyncSession, root: RootKeyProvider, citizen_id: str) -> None:
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
            wrapped=wrap(root.key(version), secrets.token_bytes(DEK_BYTES)),
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


def unwrap_data_key(root: RootKeyProvider, wrapped: WrappedKey, access: LoggedAccess) -> DataKey:
    """Release a citizen's DEK: only against a :class:`LoggedAccess` for that same citizen."""
    if not isinstance(access, LoggedAccess) or access.subject != wrapped.citizen_id:
        raise PermissionError("a data key is released only against a log entry for its citizen")
    return DataKey(unwrap(root.key(wrapped.root_version), wrapped.wrapped), wrapped.dek_version)


async def destroy_data_key(session: AsyncSession, citizen_id: str) -> bool:
    """Crypto-shred: drop the wrapped DEK, keep the row as a tombstone. True if a key was destroyed."""
    result = await session.execute(
        update(CitizenKey)
        .where(CitizenKey.citizen_id == citizen_id, CitizenKey.wrapped.is_not(None))
        .values(wrapped=None, destroyed_at=datetime.now(UTC))
    )
    return bool(getattr(result, "rowcount", 0))
