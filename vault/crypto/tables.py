"""The key tables: root key versions (check values only), citizens' wrapped data keys, wrapped service secrets.

Nothing in them is a key in the clear: a check value identifies a root key version without revealing
it, and every other key is wrapped with AES-256-KWP under a root key version.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, insert
from sqlalchemy.orm import Mapped, mapped_column

from vault.db.models import Base, UTCDateTime

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy.ext.asyncio import AsyncConnection

    from vault.crypto.kek import KeyEncryptionKey


class RootKeyVersion(Base):
    """One row per root key version.

    Stores only the key check value (HMAC-SHA-256 of a fixed label under the key), never the key.
    The service compares it on start and refuses to run under a different key.
    """

    __tablename__ = "root_key_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    check_value: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class WrappedSecret(Base):
    """Service secrets (e.g. the log's pseudonym key), each wrapped with AES-256-KWP under a root key version.

    Never stored unwrapped. A root key rotation re-wraps these rows as it does the citizens' keys.
    """

    __tablename__ = "wrapped_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    root_version: Mapped[int] = mapped_column(Integer)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CitizenKey(Base):
    """One citizen's DEK, wrapped under root key version ``root_version``; ``wrapped`` NULL once erased."""

    __tablename__ = "citizen_keys"

    citizen_id: Mapped[str] = mapped_column(String(36), ForeignKey("citizens.id"), primary_key=True)
    dek_version: Mapped[int] = mapped_column(Integer)
    root_version: Mapped[int] = mapped_column(Integer, index=True)
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    destroyed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


async def record_root_versions(conn: AsyncConnection, root: KeyEncryptionKey, versions: Iterable[int]) -> None:
    """Store the check values of ``versions`` (first start, or a rotation's new version)."""
    for version in versions:
        await conn.execute(
            insert(RootKeyVersion).values(
                version=version, check_value=root.check_value(version), created_at=datetime.now(UTC)
            )
        )
