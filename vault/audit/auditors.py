"""Auditor accounts, and the refused requests auditors review.

An auditor signs in like a citizen (password, then passkeys added in the settings) with an account
the operator creates with ``vault auditor add``; the ``auditors`` row is what opens the audit pages
to it. The operator can withdraw that access (``vault auditor disable``): the account keeps its
sign-in but the audit pages refuse it from its next request on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update

from vault.audit.activity import AuditorActivityLog
from vault.audit.tables import Auditor, RefusedRequest
from vault.citizens.errors import UnknownCitizen
from vault.consent.grants import GrantRow
from vault.consent.tables import Token, digest

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from vault.citizens.accounts import AccountService

MAX_LABEL = 200
MAX_TOKEN = 200


@dataclass(frozen=True, slots=True)
class AuditorInfo:
    """An auditor as the operator sees it (the login name stays sealed in the account)."""

    account_id: str
    label: str
    created_at: datetime
    disabled_at: datetime | None


def check_label(label: str) -> str:
    """The operator's label for an auditor (who they are, e.g. "BfDI, Referat 24"): 1..200 printable characters."""
    label = label.strip()
    if not 1 <= len(label) <= MAX_LABEL or not label.isprintable():
        raise ValueError(f"a label has 1 to {MAX_LABEL} printable characters")
    return label


class Auditors:
    """Create, list, disable auditors; answer whether an account may audit."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self.activity = AuditorActivityLog(sessions)

    async def add(self, accounts: AccountService, login: str, password: str, label: str) -> str:
        """A new account that may audit; :class:`~vault.citizens.errors.LoginTaken` if the name is in use."""
        label = check_label(label)
        account_id = await accounts.register(login, password)
        async with self.sessions.begin() as db:
            db.add(Auditor(account_id=account_id, label=label, created_at=datetime.now(UTC)))
        return account_id

    async def is_auditor(self, account_id: str) -> bool:
        """Whether the account may see the audit pages now."""
        async with self.sessions() as db:
            found = await db.scalar(
                select(Auditor.account_id).where(Auditor.account_id == account_id, Auditor.disabled_at.is_(None))
            )
        return found is not None

    async def is_auditor_account(self, account_id: str) -> bool:
        """Whether the account was made for auditing (also after its access was withdrawn): it is no citizen."""
        async with self.sessions() as db:
            found = await db.scalar(select(Auditor.account_id).where(Auditor.account_id == account_id))
        return found is not None

    async def list(self) -> list[AuditorInfo]:
        """Every auditor, oldest first."""
        async with self.sessions() as db:
            rows = (await db.execute(select(Auditor).order_by(Auditor.created_at))).scalars().all()
        return [AuditorInfo(r.account_id, r.label, r.created_at, r.disabled_at) for r in rows]

    async def disable(self, account_id: str) -> None:
        """Withdraw an auditor's access; :class:`UnknownCitizen` for an id that is not an auditor."""
        async with self.sessions.begin() as db:
            result = await db.execute(
                update(Auditor)
                .where(Auditor.account_id == account_id, Auditor.disabled_at.is_(None))
                .values(disabled_at=datetime.now(UTC))
            )
            if getattr(result, "rowcount", 0) != 1:
                raise UnknownCitizen(account_id)


async def record_refusal(sessions: async_sessionmaker[AsyncSession], endpoint: str, reason: str, grant_id: str) -> None:
    """Note that an agency's request under ``grant_id`` was refused (agency and service from the grant)."""
    async with sessions.begin() as db:
        grant = await db.scalar(select(GrantRow).where(GrantRow.id == grant_id))
        if grant is not None:
            _add_refusal(db, grant, endpoint, reason)


async def record_token_refusal(
    sessions: async_sessionmaker[AsyncSession], endpoint: str, reason: str, token: str
) -> None:
    """Note a refused request with a token the vault issued (revoked, expired, wrong key…); others are ignored."""
    if len(token) > MAX_TOKEN:
        return
    async with sessions.begin() as db:
        grant = await db.scalar(
            select(GrantRow).join(Token, Token.grant_id == GrantRow.id).where(Token.token_hash == digest(token))
        )
        if grant is not None:
            _add_refusal(db, grant, endpoint, reason)


def _add_refusal(db: AsyncSession, grant: GrantRow, endpoint: str, reason: str) -> None:
    db.add(
        RefusedRequest(
            created_at=datetime.now(UTC),
            client_id=grant.agency,
            endpoint=endpoint,
            reason=reason[:64],
            service=grant.service,
            grant_id=grant.id,
        )
    )


async def prune_refusals(sessions: async_sessionmaker[AsyncSession], before: datetime) -> int:
    """Delete refused requests older than ``before`` (the log's retention applies to them too)."""
    async with sessions.begin() as db:
        result = await db.execute(delete(RefusedRequest).where(RefusedRequest.created_at < before))
    return int(getattr(result, "rowcount", 0) or 0)
