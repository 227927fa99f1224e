"""Grants: the citizen's consent to one agency's service, and its signed receipt.

A grant is created (by the consent page, when the citizen approves) in one transaction with its
``grant`` log entry, and revoked with the grant row held ``FOR UPDATE`` and a ``revoke`` log entry;
an agency read holds the same row ``FOR SHARE`` (DESIGN.md §2), so no read is served after a
revoke commits. Status is ``active``, ``revoked``, ``used`` or ``expired`` (computed from
``expires_at``, so never reported late; :meth:`Grants.expire_due` then stores it, with the grant's one
``expire`` log entry). A ``once`` grant is ``used`` when the agency has read each
granted item one time: the attributes and every granted document (so a document handed in later
can still be fetched under it).

The receipt is a JWS (ES256, the vault's consent key, verifiable with ``/oauth/jwks``) in the spirit
of ISO/IEC TS 27560: who consented (the citizen's log pseudonym) to whom, for what, on which legal
basis, which data, how long, and the commitment of the log entry that recorded it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from sqlalchemy import ForeignKey, String, Text, select, text, update
from sqlalchemy.orm import Mapped, mapped_column

from vault.citizens.errors import UnknownRecord
from vault.citizens.vault import CitizenVault
from vault.consent.tables import Token
from vault.db.models import Base, UTCDateTime
from vault.transparency.records import LogRecord, utc_now_iso

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from vault.consent.catalogue import Agency, ServiceDefinition
    from vault.crypto.macs import Pseudonymizer
    from vault.crypto.signers import ReceiptSigner
    from vault.transparency.log import TransparencyLog

Status = Literal["active", "revoked", "expired", "used"]
RECEIPT_VERSION = "buergertresor-consent/v1"
EXPIRE_BATCH = 500


async def fair_grant_lock(db: AsyncSession, grant_id: str, *, exclusive: bool) -> None:
    """On PostgreSQL, queue fairly for the grant before its row lock: a revoke never starves.

    Row locks alone let ``FOR SHARE`` readers that keep overlapping starve a waiting ``FOR UPDATE``
    (a new share locker joins the current ones without queueing). Transaction-level advisory locks
    are granted in arrival order, so once a revoke waits, later reads wait behind it. SQLite
    serialises write transactions anyway (``BEGIN IMMEDIATE``).
    """
    await fair_grant_locks(db, {grant_id: exclusive})


async def fair_grant_locks(db: AsyncSession, grants: dict[str, bool]) -> None:
    """:func:`fair_grant_lock` for several grants (id → exclusive), taken in one fixed order (no deadlock)."""
    if db.get_bind().dialect.name != "postgresql":
        return
    keys = sorted((_lock_key(grant_id), exclusive) for grant_id, exclusive in grants.items())
    for key, exclusive in keys:
        function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        await db.execute(text(f"SELECT {function}(:key)"), {"key": key})


def _lock_key(grant_id: str) -> int:
    return int.from_bytes(hashlib.sha256(b"vault-grant\x00" + grant_id.encode()).digest()[:8], "big", signed=True)


class GrantNotActive(Exception):
    """The grant was already revoked, used up or expired (409 for the citizen, 401 for an agency)."""


class GrantRow(Base):
    """One consent. Purpose, legal basis and access mode are copied from the catalogue at approval."""

    __tablename__ = "grants"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    citizen_id: Mapped[str] = mapped_column(String(36), ForeignKey("citizens.id"), index=True)
    agency: Mapped[str] = mapped_column(String(64), ForeignKey("agencies.client_id"), index=True)
    service: Mapped[str] = mapped_column(String(64), ForeignKey("services.id"))
    fields: Mapped[str] = mapped_column(Text)
    documents: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(String(500))
    access: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    receipt: Mapped[str] = mapped_column(Text)
    consumed: Mapped[str] = mapped_column(Text, default="[]")


@dataclass(frozen=True, slots=True)
class Grant:
    """A grant as the citizen and the agency API see it."""

    id: str
    citizen_id: str
    agency: str
    service: str
    fields: tuple[str, ...]
    documents: tuple[str, ...]
    purpose: dict[str, str]
    legal_basis: str
    access: str
    created_at: datetime
    expires_at: datetime
    status: Status
    ended_at: datetime | None


def effective_status(row: GrantRow, now: datetime) -> Status:
    """The stored status, or ``expired`` once an active grant's time is up."""
    if row.status == "active" and row.expires_at <= now:
        return "expired"
    return row.status  # type: ignore[return-value]


def _grant(row: GrantRow, now: datetime) -> Grant:
    return Grant(
        id=row.id,
        citizen_id=row.citizen_id,
        agency=row.agency,
        service=row.service,
        fields=tuple(json.loads(row.fields)),
        documents=tuple(json.loads(row.documents)),
        purpose=json.loads(row.purpose),
        legal_basis=row.legal_basis,
        access=row.access,
        created_at=row.created_at,
        expires_at=row.expires_at,
        status=effective_status(row, now),
        ended_at=row.ended_at,
    )


class Grants:
    """Create, list, revoke grants; every change is logged in the same transaction."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], log: TransparencyLog, signer: ReceiptSigner) -> None:
        self.sessions = sessions
        self.log = log
        self.signer = signer

    async def create(
        self,
        citizen_id: str,
        agency: Agency,
        service: ServiceDefinition,
        fields: tuple[str, ...],
        documents: tuple[str, ...],
        *,
        now: datetime | None = None,
    ) -> Grant:
        """Record the citizen's approval: the grant row, its ``grant`` log entry and its receipt."""
        now = now or datetime.now(UTC)
        grant_id = str(uuid.uuid4())
        expires = now + timedelta(days=service.max_duration_days)
        record = LogRecord(
            pseudonym=self.log.pseudonymizer.pseudonym(citizen_id),
            actor=agency.client_id,
            action="grant",
            time=utc_now_iso(),
            service=service.id,
            fields=fields + tuple(f"document:{kind}" for kind in documents),
            purpose=service.purpose.de,
            legal_basis=service.legal_basis,
            grant_id=grant_id,
        )
        async with self.sessions.begin() as db:
            await CitizenVault.require_citizen(db, citizen_id, lock=True)
            access = await self.log.append(db, record, subject=citizen_id)
            claims = {
                "iss": self.signer.issuer,
                "iat": int(now.timestamp()),
                "jti": grant_id,
                "sub": record.pseudonym,
                "consent": {
                    "version": RECEIPT_VERSION,
                    "grant_id": grant_id,
                    "agency": {"id": agency.client_id, "name": agency.name},
                    "service": {"id": service.id, "title": {"de": service.title.de, "en": service.title.en}},
                    "purpose": {"de": service.purpose.de, "en": service.purpose.en},
                    "legal_basis": service.legal_basis,
                    "fields": list(fields),
                    "documents": list(documents),
                    "access": service.access,
                    "created": now.isoformat(),
                    "expires": expires.isoformat(),
                    "log_commitment": base64.b64encode(access.commitment).decode(),
                },
            }
            row = GrantRow(
                id=grant_id,
                citizen_id=citizen_id,
                agency=agency.client_id,
                service=service.id,
                fields=json.dumps(list(fields)),
                documents=json.dumps(list(documents)),
                purpose=json.dumps({"de": service.purpose.de, "en": service.purpose.en}),
                legal_basis=service.legal_basis,
                access=service.access,
                created_at=now,
                expires_at=expires,
                status="active",
                receipt=self.signer.sign(claims),
            )
            db.add(row)
        return _grant(row, now)

    async def for_citizen(self, citizen_id: str, *, now: datetime | None = None) -> list[Grant]:
        """The citizen's grants, newest first."""
        now = now or datetime.now(UTC)
        async with self.sessions() as db:
            rows = (
                (
                    await db.execute(
                        select(GrantRow).where(GrantRow.citizen_id == citizen_id).order_by(GrantRow.created_at.desc())
                    )
                )
                .scalars()
                .all()
            )
        return [_grant(r, now) for r in rows]

    async def receipt(self, citizen_id: str, grant_id: str) -> str:
        """The signed receipt of one of the citizen's grants (:class:`UnknownRecord` for others')."""
        async with self.sessions() as db:
            token = await db.scalar(
                select(GrantRow.receipt).where(GrantRow.id == grant_id, GrantRow.citizen_id == citizen_id)
            )
        if token is None:
            raise UnknownRecord(grant_id)
        return token

    async def revoke(self, citizen_id: str, grant_id: str, *, now: datetime | None = None) -> Grant:
        """End an active grant at once; it takes the row ``FOR UPDATE`` so no read is served afterwards."""
        now = now or datetime.now(UTC)
        async with self.sessions.begin() as db:
            await fair_grant_lock(db, grant_id, exclusive=True)
            row = await db.scalar(
                select(GrantRow).where(GrantRow.id == grant_id, GrantRow.citizen_id == citizen_id).with_for_update()
            )
            if row is None:
                raise UnknownRecord(grant_id)
            if effective_status(row, now) != "active":
                raise GrantNotActive(grant_id)
            row.status, row.ended_at = "revoked", now
            await db.execute(
                update(Token).where(Token.grant_id == grant_id, Token.revoked_at.is_(None)).values(revoked_at=now)
            )
            record = LogRecord(
                pseudonym=self.log.pseudonymizer.pseudonym(citizen_id),
                actor="citizen",
                action="revoke",
                time=utc_now_iso(),
                service=row.service,
                grant_id=grant_id,
            )
            await self.log.append(db, record, subject=citizen_id)
            return _grant(row, now)

    async def expire_due(self, *, now: datetime | None = None, limit: int = EXPIRE_BATCH) -> int:
        """Store ``expired`` for up to ``limit`` active grants whose time is up, each with one ``expire`` entry.

        Locks as a revoke does (fair locks, then the rows ``FOR UPDATE`` in id order), and only rows
        still ``active`` once locked are changed: the entry is written once per grant, whoever else
        sweeps at the same time. Nothing is decrypted. Returns how many grants expired.
        """
        now = now or datetime.now(UTC)
        due = (GrantRow.status == "active", GrantRow.expires_at <= now)
        async with self.sessions.begin() as db:
            ids = list(await db.scalars(select(GrantRow.id).where(*due).order_by(GrantRow.id).limit(limit)))
            if not ids:
                return 0
            await fair_grant_locks(db, dict.fromkeys(ids, True))
            query = select(GrantRow).where(GrantRow.id.in_(ids), *due).order_by(GrantRow.id).with_for_update()
            rows = list(await db.scalars(query.execution_options(populate_existing=True)))
            for row in rows:
                row.status, row.ended_at = "expired", row.expires_at
            records = [(_expire_record(self.log.pseudonymizer, row), row.citizen_id) for row in rows]
            await self.log.append_many(db, records)
        return len(rows)


def _expire_record(pseudonymizer: Pseudonymizer, row: GrantRow) -> LogRecord:
    """The ``expire`` entry of a grant: the agency's access under it ended with its time."""
    return LogRecord(
        pseudonym=pseudonymizer.pseudonym(row.citizen_id),
        actor=row.agency,
        action="expire",
        time=utc_now_iso(),
        service=row.service,
        grant_id=row.id,
    )


async def end_grants(db: AsyncSession, citizen_id: str, log: TransparencyLog | None = None) -> None:
    """End every active grant of the citizen (part of the account's erasure).

    A grant whose time was already up (the expiry sweep had not reached it) is stored ``expired`` at
    its own end, with its ``expire`` entry when ``log`` is given; the others are revoked now.
    Locks as a revoke does, for each grant: the fair lock first (all of them, in the one fixed
    order), then the rows ``FOR UPDATE`` in id order. A bare ``UPDATE`` would lock the rows in scan
    order without queueing, and deadlock with a read batch that holds two of the citizen's grants.
    No grant can be added meanwhile: the erasure holds the citizen row, which creating a grant needs.
    """
    active = (GrantRow.citizen_id == citizen_id, GrantRow.status == "active")
    ids = list(await db.scalars(select(GrantRow.id).where(*active)))
    if not ids:
        return
    await fair_grant_locks(db, dict.fromkeys(ids, True))
    query = select(GrantRow).where(*active).order_by(GrantRow.id).with_for_update()
    now = datetime.now(UTC)
    expired: list[GrantRow] = []
    for row in await db.scalars(query.execution_options(populate_existing=True)):
        if row.expires_at <= now:
            row.status, row.ended_at = "expired", row.expires_at
            expired.append(row)
        else:
            row.status, row.ended_at = "revoked", now
    if log is not None and expired:
        await log.append_many(db, [(_expire_record(log.pseudonymizer, row), row.citizen_id) for row in expired])
