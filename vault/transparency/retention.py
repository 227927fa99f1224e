"""Retention: past its period a log entry keeps only what the tree needs (docs/audit.md).

§ 9 IDNrG keeps the protocol of data transfers for two years and then deletes it; the vault does
the same by default (``VAULT_LOG_RETENTION_DAYS``, 730; 0 keeps everything). Pruning an entry
blanks what it says about a person — the record, the salt that opens its commitment, the
citizen's pseudonym and the grant id — and keeps the commitment at its leaf index, the actor, the
action, the service, the legal basis and the time. The tree, its checkpoints and every proof stay
exactly as they were: a log that deleted leaves could not prove it is append-only.

Only integrated entries are pruned (a pending one has no place in the tree yet).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update

from vault.transparency.tables import LogEntry

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy import ColumnElement
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

PRUNE_BATCH = 1000
PRUNED_PSEUDONYM = "-"
_NO_SALT = bytes(32)


@dataclass(frozen=True, slots=True)
class PruneResult:
    """How many entries were pruned, and the cut-off they were older than."""

    pruned: int
    cutoff: datetime


def cutoff(retention_days: int, now: datetime | None = None) -> datetime | None:
    """Entries created before this moment are past retention; ``None`` when retention is 0 (keep all)."""
    if retention_days < 0:
        raise ValueError("retention_days must be >= 0")
    if retention_days == 0:
        return None
    return (now or datetime.now(UTC)) - timedelta(days=retention_days)


async def due(sessions: async_sessionmaker[AsyncSession], before: datetime) -> int:
    """How many integrated entries older than ``before`` still hold their record."""
    async with sessions() as db:
        count = await db.scalar(select(func.count(LogEntry.id)).where(*_prunable(before)))
    return int(count or 0)


async def prune(
    sessions: async_sessionmaker[AsyncSession],
    before: datetime,
    *,
    batch: int = PRUNE_BATCH,
    progress: Callable[[int], None] | None = None,
) -> PruneResult:
    """Prune every integrated entry created before ``before``, ``batch`` rows per transaction."""
    total = 0
    while True:
        async with sessions.begin() as db:
            ids = list(
                await db.scalars(select(LogEntry.id).where(*_prunable(before)).order_by(LogEntry.id).limit(batch))
            )
            if not ids:
                return PruneResult(total, before)
            await db.execute(
                update(LogEntry)
                .where(LogEntry.id.in_(ids), LogEntry.pruned_at.is_(None))
                .values(
                    record=b"", salt=_NO_SALT, pseudonym=PRUNED_PSEUDONYM, grant_id=None, pruned_at=datetime.now(UTC)
                )
            )
        total += len(ids)
        if progress is not None:
            progress(total)


def _prunable(before: datetime) -> tuple[ColumnElement[bool], ...]:
    return (LogEntry.created_at < before, LogEntry.pruned_at.is_(None), LogEntry.leaf_index.is_not(None))
