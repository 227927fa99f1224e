"""Service secrets: 32 random bytes each, stored wrapped under the root key, created on first use.

Only this package unwraps them, to build the capabilities of :mod:`vault.crypto.keyring`.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import insert, select

from vault.crypto.kek import RootKeyError
from vault.crypto.tables import WrappedSecret
from vault.crypto.wrap import UnwrapError
from vault.db.engine import writer

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from vault.crypto.kek import KeyEncryptionKey

SECRET_BYTES = 32


async def service_secret(engine: AsyncEngine, root: KeyEncryptionKey, name: str) -> bytes:
    """The service secret ``name``, wrapped under the current root key version when first created."""
    async with writer(engine).begin() as conn:
        row = (
            await conn.execute(
                select(WrappedSecret.root_version, WrappedSecret.wrapped).where(WrappedSecret.name == name)
            )
        ).first()
        if row is None:
            secret = secrets.token_bytes(SECRET_BYTES)
            version = root.version
            await conn.execute(
                insert(WrappedSecret).values(
                    name=name,
                    root_version=version,
                    wrapped=root.wrap(secret, version=version),
                    created_at=datetime.now(UTC),
                )
            )
            return secret
    try:
        return root.unwrap(bytes(row.wrapped), version=row.root_version)
    except UnwrapError:
        raise RootKeyError(root.setting, f"cannot unwrap secret {name!r}") from None
