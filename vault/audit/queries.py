"""What an auditor may ask of the vault: log records, refusals, checkpoints and anomalies.

Every answer is pseudonymous. A record names the citizen only by the log's pseudonym (an HMAC of
the account id), and lists attribute *names*, never values; nothing here reads the citizens' login
names, attributes or documents, nor any key. The queries only read, so an auditor cannot change
the log or the grants.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, get_args

import msgspec
from sqlalchemy import Interval, and_, func, literal, or_, select

from tlog import merkle
from tlog.note import NoteError, Verifier, open_checkpoint
from vault.audit.anomalies import DailyCount, RateAnomaly, rate_anomalies
from vault.audit.tables import RefusedRequest
from vault.consent.catalogue import AgencyRow, ServiceDefinition, ServiceRow
from vault.consent.grants import GrantRow
from vault.transparency.records import Action, decode_record
from vault.transparency.tables import LogCheckpoint, LogEntry

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
    from sqlalchemy.sql import Select

    from vault.transparency.log import TransparencyLog

PAGE_SIZE = 100
COUNT_CAP = 10_000
MAX_EXPORT = 50_000
# A read is checked against its grant a few milliseconds before its log entry is stamped, in the same
# transaction; an expiry or use-up inside that gap is not a read outside the window.
WINDOW_SLACK = timedelta(seconds=2)
RATE_WINDOW_DAYS = 28


class EntryFilter(msgspec.Struct, frozen=True, kw_only=True):
    """Which log records to show; ``None`` means any. ``until`` is exclusive."""

    agency: str | None = None
    service: str | None = None
    action: str | None = None
    legal_basis: str | None = None
    pseudonym: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class AuditEntry(msgspec.Struct, frozen=True):
    """A log record as an auditor sees it: pseudonymous, with what opens its commitment."""

    id: int
    leaf_index: int | None
    time: datetime
    pseudonym: str
    actor: str
    action: str
    service: str | None
    fields: list[str]
    purpose: str | None
    legal_basis: str | None
    grant_id: str | None
    commitment: str
    salt: str
    record: str


class Refusal(msgspec.Struct, frozen=True):
    """A refused request by a known agency."""

    id: int
    time: datetime
    agency: str
    endpoint: str
    reason: str
    service: str | None
    grant_id: str | None


class CheckpointStatus(msgspec.Struct, frozen=True):
    """A stored checkpoint, and whether it checks out against the log's key and newest tree."""

    size: int
    root: str
    time: datetime
    signature_ok: bool
    consistent_with_latest: bool
    cosignatures: int = 0
    published: bool = True
    problem: str | None = None


class ReadCount(msgspec.Struct, frozen=True):
    """Reads by one agency under one service on one (UTC) day."""

    day: date
    agency: str
    service: str | None
    reads: int


class WindowViolation(msgspec.Struct, frozen=True):
    """A read logged outside the window of the grant it names."""

    entry: AuditEntry
    grant_created_at: datetime
    grant_expires_at: datetime
    grant_ended_at: datetime | None
    grant_status: str


class UnusedService(msgspec.Struct, frozen=True):
    """A registered service no read was ever logged for."""

    service: str
    agency: str
    registered_at: datetime
    grants: int


@dataclass(frozen=True, slots=True)
class Anomalies:
    """The anomaly views."""

    outside_window: list[WindowViolation]
    rate: list[RateAnomaly]
    unused_services: list[UnusedService]


def _entry(row: Any) -> AuditEntry:
    record = decode_record(bytes(row.record))
    return AuditEntry(
        id=int(row.id),
        leaf_index=row.leaf_index,
        time=row.created_at,
        pseudonym=row.pseudonym,
        actor=row.actor,
        action=row.action,
        service=record.service,
        fields=list(record.fields),
        purpose=record.purpose,
        legal_basis=record.legal_basis,
        grant_id=record.grant_id,
        commitment=base64.b64encode(bytes(row.commitment)).decode(),
        salt=base64.b64encode(bytes(row.salt)).decode(),
        record=bytes(row.record).decode(),
    )


def _entry_columns() -> Select[*tuple[Any, ...]]:
    return select(
        LogEntry.id,
        LogEntry.leaf_index,
        LogEntry.created_at,
        LogEntry.pseudonym,
        LogEntry.actor,
        LogEntry.action,
        LogEntry.commitment,
        LogEntry.salt,
        LogEntry.record,
    )


def _filtered(query: Select[*tuple[Any, ...]], where: EntryFilter) -> Select[*tuple[Any, ...]]:
    # Past retention a record is gone (vault.transparency.retention): only its commitment is left.
    conditions: list[ColumnElement[bool]] = [LogEntry.pruned_at.is_(None)]
    if where.agency is not None:
        conditions.append(LogEntry.actor == where.agency)
    if where.service is not None:
        conditions.append(LogEntry.service == where.service)
    if where.action is not None:
        conditions.append(LogEntry.action == where.action)
    if where.legal_basis is not None:
        conditions.append(LogEntry.legal_basis == where.legal_basis)
    if where.pseudonym is not None:
        conditions.append(LogEntry.pseudonym == where.pseudonym)
    if where.since is not None:
        conditions.append(LogEntry.created_at >= where.since)
    if where.until is not None:
        conditions.append(LogEntry.created_at < where.until)
    return query.where(*conditions)


def _day(column: Any, dialect: str) -> Any:
    """The UTC calendar day of a timestamp column, as SQL."""
    if dialect == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)


def _after(later: Any, earlier: Any, slack: timedelta) -> Any:
    """``later > earlier + slack`` in SQL (PostgreSQL: interval arithmetic)."""
    return later > earlier + literal(slack, type_=Interval())


def _after_sqlite(later: Any, earlier: Any, slack: timedelta) -> Any:
    """``later > earlier + slack`` in SQLite, which stores timestamps as text: compare Julian days."""
    return func.julianday(later) > func.julianday(earlier) + slack.total_seconds() / 86400


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


class AuditQueries:
    """Read-only queries over the log, the grants, the catalogue and the refusals."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], log: TransparencyLog) -> None:
        self.sessions = sessions
        self.log = log
        self.verifier = Verifier.from_vkey(log.signer.vkey())

    async def entries(
        self, where: EntryFilter, *, limit: int = PAGE_SIZE, before_id: int | None = None
    ) -> list[AuditEntry]:
        """Matching records, newest first; page with ``before_id`` (the last id of the previous page)."""
        query = _filtered(_entry_columns(), where)
        if before_id is not None:
            query = query.where(LogEntry.id < before_id)
        async with self.sessions() as db:
            rows = (await db.execute(query.order_by(LogEntry.id.desc()).limit(limit))).all()
        return [_entry(r) for r in rows]

    async def count(self, where: EntryFilter, *, cap: int | None = None) -> int:
        """How many records match; with ``cap``, counting stops there (a full count of a huge log is slow)."""
        matching = _filtered(select(LogEntry.id), where)
        if cap is not None:
            matching = matching.limit(cap + 1)
        async with self.sessions() as db:
            return int(await db.scalar(select(func.count()).select_from(matching.subquery())) or 0)

    async def choices(self) -> dict[str, list[str]]:
        """The values the filters offer: from the catalogue and the log's fixed vocabulary, not a log scan."""
        async with self.sessions() as db:
            agencies = list(await db.scalars(select(AgencyRow.client_id).order_by(AgencyRow.name)))
            definitions = list(await db.scalars(select(ServiceRow.definition).order_by(ServiceRow.id)))
        services = [msgspec.json.decode(d, type=ServiceDefinition) for d in definitions]
        return {
            "agency": [*agencies, "citizen", "operator"],
            "service": [s.id for s in services],
            "action": sorted(get_args(Action)),
            "legal_basis": sorted({s.legal_basis for s in services}),
        }

    async def agency_names(self) -> dict[str, str]:
        """Client id → the agency's registered name."""
        async with self.sessions() as db:
            return {r.client_id: r.name for r in await db.execute(select(AgencyRow.client_id, AgencyRow.name))}

    async def reads_per_day(self, since: datetime, until: datetime) -> list[ReadCount]:
        """Agency reads per UTC day, agency and service in ``[since, until)``."""
        async with self.sessions() as db:
            day = _day(LogEntry.created_at, db.get_bind().dialect.name)
            rows = await db.execute(
                select(day.label("day"), LogEntry.actor, LogEntry.service, func.count(LogEntry.id))
                .where(LogEntry.action == "read", LogEntry.created_at >= since, LogEntry.created_at < until)
                .group_by(day, LogEntry.actor, LogEntry.service)
                .order_by(day, LogEntry.actor, LogEntry.service)
            )
            return [ReadCount(_as_date(d), actor, service, int(n)) for d, actor, service, n in rows]

    async def refusals(
        self, *, agency: str | None = None, since: datetime | None = None, until: datetime | None = None,
        limit: int = PAGE_SIZE, before_id: int | None = None,
    ) -> list[Refusal]:  # fmt: skip
        """Refused agency requests, newest first."""
        query = select(RefusedRequest)
        if agency is not None:
            query = query.where(RefusedRequest.client_id == agency)
        if since is not None:
            query = query.where(RefusedRequest.created_at >= since)
        if until is not None:
            query = query.where(RefusedRequest.created_at < until)
        if before_id is not None:
            query = query.where(RefusedRequest.id < before_id)
        async with self.sessions() as db:
            rows = (await db.execute(query.order_by(RefusedRequest.id.desc()).limit(limit))).scalars().all()
        return [Refusal(r.id, r.created_at, r.client_id, r.endpoint, r.reason, r.service, r.grant_id) for r in rows]

    async def checkpoints(self, *, limit: int = PAGE_SIZE, below_size: int | None = None) -> list[CheckpointStatus]:
        """Stored checkpoints, newest first, each checked: its signature, and consistency with the newest.

        The consistency proof is computed from the stored tree and verified against both signed
        roots, so a checkpoint whose root the stored tree no longer reproduces shows as inconsistent.
        """
        async with self.sessions() as db:
            latest = (
                await db.execute(select(LogCheckpoint.size, LogCheckpoint.root).order_by(LogCheckpoint.size.desc()))
            ).first()
            query = select(LogCheckpoint).order_by(LogCheckpoint.size.desc()).limit(limit)
            if below_size is not None:
                query = query.where(LogCheckpoint.size < below_size)
            rows = (await db.execute(query)).scalars().all()
            conn = await db.connection()
            out = []
            for row in rows:
                out.append(await self._check_checkpoint(conn, row, latest))
        return out

    async def _check_checkpoint(self, conn: Any, row: LogCheckpoint, latest: Any) -> CheckpointStatus:
        problem = None
        signature_ok = consistent = False
        try:
            cp = open_checkpoint(row.note, self.verifier, self.log.origin)
            signature_ok = cp.size == row.size and cp.root == bytes(row.root)
            if not signature_ok:
                problem = "the signed note does not match the stored size and root"
        except NoteError as exc:
            problem = f"signature: {exc}"
        try:
            latest_size, latest_root = int(latest.size), bytes(latest.root)
            proof = await self.log.consistency_proof(conn, row.size, latest_size)
            merkle.verify_consistency(row.size, latest_size, bytes(row.root), latest_root, proof)
            consistent = True
        except ValueError as exc:
            problem = problem or f"consistency: {exc}"
        return CheckpointStatus(
            size=row.size,
            root=base64.b64encode(bytes(row.root)).decode(),
            time=row.created_at,
            signature_ok=signature_ok,
            consistent_with_latest=consistent,
            cosignatures=max(0, row.note.count("\n\u2014 ") - 1),  # signature lines beyond the log's own
            published=not row.awaiting_witnesses,
            problem=problem,
        )

    async def anomalies(self, *, now: datetime | None = None) -> Anomalies:
        """Reads outside their grant's window, agencies reading far above their usual rate, unused services."""
        now = now or datetime.now(UTC)
        return Anomalies(
            outside_window=await self.reads_outside_window(),
            rate=await self.rate_anomalies(now),
            unused_services=await self.unused_services(),
        )

    async def reads_outside_window(self, *, limit: int = PAGE_SIZE) -> list[WindowViolation]:
        """Reads logged before their grant existed, after it was revoked, or after it expired or was used up."""
        async with self.sessions() as db:
            after = _after if db.get_bind().dialect.name == "postgresql" else _after_sqlite
            outside = or_(
                LogEntry.created_at < GrantRow.created_at,
                after(LogEntry.created_at, GrantRow.expires_at, WINDOW_SLACK),
                and_(GrantRow.status == "revoked", LogEntry.created_at > GrantRow.ended_at),
                and_(GrantRow.status != "revoked", after(LogEntry.created_at, GrantRow.ended_at, WINDOW_SLACK)),
            )
            query = (
                _entry_columns()
                .add_columns(
                    GrantRow.created_at.label("g_created"), GrantRow.expires_at, GrantRow.ended_at, GrantRow.status
                )
                .join(GrantRow, GrantRow.id == LogEntry.grant_id)
                .where(LogEntry.action == "read", outside)
                .order_by(LogEntry.id.desc())
                .limit(limit)
            )
            rows = (await db.execute(query)).all()
        return [WindowViolation(_entry(r), r.g_created, r.expires_at, r.ended_at, r.status) for r in rows]

    async def rate_anomalies(self, now: datetime) -> list[RateAnomaly]:
        """Days on which an agency read far more than its usual daily rate (see :func:`rate_anomalies`)."""
        today = now.astimezone(UTC).date()
        first = today - timedelta(days=RATE_WINDOW_DAYS - 1)
        since = datetime(first.year, first.month, first.day, tzinfo=UTC)
        counts = await self.reads_per_day(since, now + timedelta(seconds=1))
        daily: dict[tuple[str, date], int] = {}
        for c in counts:
            daily[(c.agency, c.day)] = daily.get((c.agency, c.day), 0) + c.reads
        return rate_anomalies([DailyCount(a, d, n) for (a, d), n in daily.items()], first, today)

    async def unused_services(self) -> list[UnusedService]:
        """Services (not disabled) with no read in the log."""
        used = select(LogEntry.id).where(LogEntry.action == "read", LogEntry.service == ServiceRow.id).exists()
        grants = select(func.count(GrantRow.id)).where(GrantRow.service == ServiceRow.id).scalar_subquery()
        async with self.sessions() as db:
            rows = await db.execute(
                select(ServiceRow.id, ServiceRow.agency, ServiceRow.created_at, grants)
                .where(ServiceRow.disabled_at.is_(None), ~used)
                .order_by(ServiceRow.id)
            )
            return [UnusedService(s, a, created, int(n)) for s, a, created, n in rows]

    async def export(self, where: EntryFilter) -> list[AuditEntry]:
        """Every matching record (oldest first), at most ``MAX_EXPORT``."""
        query = _filtered(_entry_columns(), where).order_by(LogEntry.id).limit(MAX_EXPORT)
        async with self.sessions() as db:
            rows = (await db.execute(query)).all()
        return [_entry(r) for r in rows]
