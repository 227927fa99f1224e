"""What the auditors looked at: every audit page and export an auditor opens, for the other auditors to see.

Auditors watch the vault; this watches the auditors. A row names the auditor's account (shown by
the operator's label for it), the time, the page and its filters. The filters may carry a
pseudonym, never a citizen's name or data. Rows older than the log's retention are deleted with
the refused requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from sqlalchemy import delete, select

from vault.audit.tables import Auditor, AuditorActivity

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

MAX_PATH = 64
#: A recorded value is cut here (the pages refuse filter values over 500 characters anyway).
MAX_VALUE = 500
PAGE_SIZE = 100
#: The query parameters an audit page applies, in the order they are recorded. Nothing else is
#: recorded, and nothing can push these out: a page ignores parameters it does not know.
RECORDED = ("agency", "service", "action", "legal_basis", "pseudonym", "since", "until", "before")


@dataclass(frozen=True, slots=True)
class Activity:
    """One page an auditor opened."""

    id: int
    time: datetime
    auditor: str
    path: str
    query: str


def what(path: str, params: Iterable[tuple[str, str]]) -> tuple[str, str]:
    """``(path, query)`` as recorded: every parameter a page applies, in a fixed order, and nothing else.

    The first value of a repeated parameter counts, as it does for the pages (``MultiDict.get``).
    """
    given: dict[str, str] = {}
    for name, value in params:
        given.setdefault(name, value)
    query = urlencode([(name, given[name][:MAX_VALUE]) for name in RECORDED if given.get(name)])
    return path[:MAX_PATH], query


class AuditorActivityLog:
    """Record and list the auditors' activity."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def record(self, account_id: str, path: str, params: Iterable[tuple[str, str]]) -> None:
        """Note that the auditor ``account_id`` opened ``path`` with ``params``."""
        path, query = what(path, params)
        async with self.sessions.begin() as db:
            db.add(AuditorActivity(created_at=datetime.now(UTC), account_id=account_id, path=path, query=query))

    async def recent(self, *, before_id: int | None = None, limit: int = PAGE_SIZE) -> list[Activity]:
        """The newest activity first (``before_id`` pages further back), each with its auditor's label."""
        query = (
            select(AuditorActivity, Auditor.label)
            .join(Auditor, Auditor.account_id == AuditorActivity.account_id)
            .order_by(AuditorActivity.id.desc())
            .limit(limit)
        )
        if before_id is not None:
            query = query.where(AuditorActivity.id < before_id)
        async with self.sessions() as db:
            rows = (await db.execute(query)).all()
        return [Activity(row.id, row.created_at, label, row.path, row.query) for row, label in rows]

    async def prune(self, before: datetime) -> int:
        """Delete activity older than ``before`` (the log's retention applies to it too)."""
        async with self.sessions.begin() as db:
            result = await db.execute(delete(AuditorActivity).where(AuditorActivity.created_at < before))
        return int(getattr(result, "rowcount", 0) or 0)
