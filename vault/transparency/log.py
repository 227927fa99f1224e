"""The transparency log service: append, integrate, prove. Thin I/O around the pure modules.

* :meth:`TransparencyLog.append` inserts one entry in the caller's transaction and returns the
  :class:`LoggedAccess` — the only way to obtain one, and what every decryption requires
  (DESIGN.md §2). The entry is durable when the caller commits.
* :meth:`TransparencyLog.integrate` is run by one integrator at a time (a database lock elects it):
  it assigns contiguous indices to pending entries, extends the stored tiles and signs a checkpoint,
  all in one transaction, so a crash leaves either the old or the new state, never a mix.
* Proofs read O(log n) tile rows in one query.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from tlog import merkle
from tlog.merkle import HASH_SIZE, CompactRange, leaf_hash
from tlog.note import Checkpoint
from tlog.receipts import Receipt, format_tlog_proof, promise_text
from tlog.tiles import TILE_HEIGHT, TILE_WIDTH, node_from_tiles, tiles_for
from vault.crypto.signers import NoteSigner, sign_checkpoint
from vault.db.engine import writer
from vault.transparency.records import SALT_BYTES, LogRecord, canonical, commitment
from vault.transparency.tables import LogCheckpoint, LogEntry, LogState, LogTile

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

    from sqlalchemy import TextClause
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

    from vault.crypto.macs import Pseudonymizer

INTEGRATOR_LOCK_ID = 0x7661756C  # "vaul": pg advisory lock key of the integrator
DEFAULT_BATCH = 20_000

_MINT = object()


class LogUnavailable(Exception):
    """The log cannot take an entry right now; callers must fail closed (nothing decrypted)."""


class LogBehind(Exception):
    """The database holds fewer entries than a checkpoint this deployment already signed."""


def read_head(path: Path | None) -> tuple[int, bytes] | None:
    """The last ``(size, root)`` signed by this deployment, from its head file."""
    if path is None or not path.exists():
        return None
    data = json.loads(path.read_text())
    return int(data["size"]), base64.b64decode(data["root"])


class BadProofRequest(ValueError):
    """A proof or page was asked for outside the tree."""


class LoggedAccess:
    """Evidence that a log entry for this access is in the current transaction.

    Only :meth:`TransparencyLog.append` creates one; decryption functions require it.
    """

    __slots__ = ("commitment", "entry_id", "promise", "record", "salt", "subject")

    commitment: bytes
    entry_id: int
    promise: str
    record: LogRecord
    salt: bytes
    subject: str | None

    def __init__(
        self,
        *,
        token: object,
        entry_id: int,
        commitment: bytes,
        salt: bytes,
        record: LogRecord,
        promise: str,
        subject: str | None = None,
    ) -> None:
        if token is not _MINT:
            raise TypeError("LoggedAccess is created by TransparencyLog.append only")
        set_ = object.__setattr__
        set_(self, "subject", subject)
        set_(self, "entry_id", entry_id)
        set_(self, "commitment", commitment)
        set_(self, "salt", salt)
        set_(self, "record", record)
        set_(self, "promise", promise)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("LoggedAccess is immutable")


@dataclass(frozen=True, slots=True)
class IntegrationResult:
    """What one integrator pass did."""

    integrated: int
    size: int
    checkpoint: str | None


class TransparencyLog:
    """One deployment's log: its origin, signer and pseudonymizer."""

    def __init__(
        self, origin: str, signer: NoteSigner, pseudonymizer: Pseudonymizer, head_file: Path | None = None
    ) -> None:
        self.origin = origin
        self.signer = signer
        self.pseudonymizer = pseudonymizer
        self.head_file = head_file

    # -- append -----------------------------------------------------------------------------

    async def append(self, session: AsyncSession, record: LogRecord, *, subject: str | None = None) -> LoggedAccess:
        """Insert ``record`` in ``session``'s transaction; the caller commits before releasing data.

        ``subject`` is the citizen id the record is about (its pseudonym must match); the returned
        :class:`LoggedAccess` releases that citizen's key and no other.
        """
        (access,) = await self.append_many(session, [(record, subject)])
        return access

    async def append_many(
        self, session: AsyncSession, items: Sequence[tuple[LogRecord, str | None]]
    ) -> list[LoggedAccess]:
        """:meth:`append` for several records in one statement (group commit); in the order given."""
        if not items:
            return []
        now = datetime.now(UTC)
        sealed = []
        for record, subject in items:
            if subject is not None and record.pseudonym != self.pseudonymizer.pseudonym(subject):
                raise ValueError("record pseudonym does not belong to the subject")
            salt = secrets.token_bytes(SALT_BYTES)
            body = canonical(record)
            sealed.append((salt, body, commitment(salt, body)))
        rows = [
            {"commitment": c, "salt": salt, "record": body, "pseudonym": record.pseudonym, "actor": record.actor,
             "action": record.action, "created_at": now, "service": record.service,
             "legal_basis": record.legal_basis, "grant_id": record.grant_id}
            for (salt, body, c), (record, _) in zip(sealed, items, strict=True)
        ]  # fmt: skip
        try:
            connection = await session.connection()  # Core, not the ORM's bulk insert: half the cost per row
            table = LogEntry.__table__
            statement = insert(table).returning(table.c.id, table.c.commitment)  # type: ignore[arg-type]
            result = await connection.execute(statement, rows)
            ids = {bytes(c): entry_id for entry_id, c in result.all()}
        except Exception as exc:
            raise LogUnavailable(f"log append failed: {type(exc).__name__}") from exc
        return [
            LoggedAccess(
                token=_MINT,
                entry_id=ids[c],
                commitment=c,
                salt=salt,
                record=record,
                promise=self.promise(c, now),
                subject=subject,
            )
            for (salt, _, c), (record, subject) in zip(sealed, items, strict=True)
        ]

    def promise(self, commitment_: bytes, appended_at: datetime) -> str:
        """The signed promise for an entry (deterministic: Ed25519 over commitment and append time)."""
        return self.signer.sign(promise_text(self.origin, commitment_, _iso(appended_at)))

    async def receipt(self, conn: AsyncConnection, commitment_: bytes, *, with_promise: bool = False) -> Receipt | None:
        """The receipt for an integrated entry: its inclusion proof in the latest checkpoint.

        ``None`` while the entry is pending or unknown (the two look alike). The signed promise
        carries the append time to the microsecond, so it is only included for callers who may
        see it (``with_promise``: the citizen, or the agency in its read response) — published for
        every commitment it would give a timeline of all accesses.
        """
        row = (
            await conn.execute(
                select(LogEntry.leaf_index, LogEntry.created_at).where(LogEntry.commitment == commitment_).limit(1)
            )
        ).first()
        latest = await self.latest_checkpoint(conn)
        if row is None or row.leaf_index is None or latest is None or row.leaf_index >= latest[0]:
            return None
        proof = await _proof(conn, merkle.inclusion_ranges(row.leaf_index, latest[0]), latest[0])
        tlog_proof = format_tlog_proof(commitment_, row.leaf_index, proof, latest[2])
        promise = self.promise(commitment_, row.created_at) if with_promise else None
        return Receipt(commitment=base64.b64encode(commitment_).decode(), promise=promise, proof=tlog_proof)

    # -- integrate --------------------------------------------------------------------------

    async def integrate(
        self, engine: AsyncEngine, max_batch: int = DEFAULT_BATCH, *, publish: bool = True
    ) -> IntegrationResult | None:
        """One integrator pass; ``None`` when another process holds the integrator lock.

        ``publish=False`` (witnesses configured) stores the new checkpoint awaiting witnesses: it is
        not served, nor used for receipts, until :mod:`vault.transparency.witnessing` publishes it.
        """
        async with writer(engine).begin() as conn:
            if not await _take_integrator_lock(conn):
                return None
            state = (await conn.execute(select(LogState.size, LogState.compact).where(LogState.id == 1))).one()
            size, compact_bytes = int(state.size), bytes(state.compact)
            self._refuse_if_behind(size)
            newest_held = await conn.scalar(
                select(LogCheckpoint.awaiting_witnesses).order_by(LogCheckpoint.size.desc()).limit(1)
            )
            has_checkpoint = newest_held is not None
            pending = (
                await conn.execute(
                    select(LogEntry.id, LogEntry.commitment)
                    .where(LogEntry.leaf_index.is_(None))
                    .order_by(LogEntry.id)
                    .limit(max_batch)
                )
            ).all()
            if not pending and has_checkpoint:
                if publish and newest_held:  # witnesses were configured before, and are not any more
                    held = LogCheckpoint.awaiting_witnesses.is_(True)
                    await conn.execute(update(LogCheckpoint).where(held).values(awaiting_witnesses=False))
                return IntegrationResult(0, size, None)
            tree = CompactRange(size, _split_hashes(compact_bytes))
            new_nodes: dict[int, list[bytes]] = {}

            def keep(level: int, _index: int, value: bytes) -> None:
                if level % TILE_HEIGHT == 0:
                    new_nodes.setdefault(level // TILE_HEIGHT, []).append(value)

            for _, c in pending:
                tree.append(leaf_hash(bytes(c)), keep)
            if pending:
                await _assign_indices(conn, [eid for eid, _ in pending], size)
                await _extend_tiles(conn, size, new_nodes)
            root = tree.root()
            now = datetime.now(UTC)
            await conn.execute(
                update(LogState)
                .where(LogState.id == 1)
                .values(size=tree.size, compact=b"".join(tree.hashes), root=root, updated_at=now)
            )
            note = sign_checkpoint(Checkpoint(origin=self.origin, size=tree.size, root=root), self.signer)
            # A plain insert: the primary key on size refuses a second, different checkpoint of one size.
            await conn.execute(
                insert(LogCheckpoint).values(
                    size=tree.size, root=root, note=note, created_at=now, awaiting_witnesses=not publish
                )
            )
        self._record_head(tree.size, root)
        return IntegrationResult(len(pending), tree.size, note)

    def _refuse_if_behind(self, size: int) -> None:
        """Never sign a tree smaller than one this process already signed (e.g. after a database restore).

        Signing again from an older state would publish two different roots for the same sizes: a
        split view. The operator must restore the missing entries or start a new log (new origin).
        """
        head = read_head(self.head_file)
        if head is not None and size < head[0]:
            raise LogBehind(
                f"the database's log has {size} entries but checkpoint {head[0]} was already signed "
                f"(recorded in {self.head_file}); refusing to sign a diverging history"
            )

    def _record_head(self, size: int, root: bytes) -> None:
        if self.head_file is None:
            return
        tmp = self.head_file.with_name(self.head_file.name + ".tmp")
        tmp.write_text(json.dumps({"size": size, "root": base64.b64encode(root).decode()}))
        tmp.replace(self.head_file)

    # -- read -------------------------------------------------------------------------------

    async def latest_checkpoint(self, conn: AsyncConnection) -> tuple[int, bytes, str] | None:
        """``(size, root, note)`` of the newest published checkpoint (with its witnesses' cosignatures)."""
        row = (
            await conn.execute(
                select(LogCheckpoint.size, LogCheckpoint.root, LogCheckpoint.note)
                .where(LogCheckpoint.awaiting_witnesses.is_(False))
                .order_by(LogCheckpoint.size.desc())
                .limit(1)
            )
        ).first()
        return None if row is None else (int(row.size), bytes(row.root), row.note)

    async def tree_size(self, conn: AsyncConnection) -> int:
        """Size of the newest signed checkpoint (0 before the first)."""
        latest = await self.latest_checkpoint(conn)
        return 0 if latest is None else latest[0]

    async def inclusion_proof(self, conn: AsyncConnection, index: int, size: int) -> list[bytes]:
        """Audit path of leaf ``index`` in the tree of ``size`` (≤ the newest checkpoint's size)."""
        if not 0 <= index < size:
            raise BadProofRequest(f"index must be in [0, {size}), got {index}")
        return await _proof(conn, merkle.inclusion_ranges(index, size), size)

    async def consistency_proof(self, conn: AsyncConnection, first: int, second: int) -> list[bytes]:
        """Proof that the tree of ``first`` is a prefix of the tree of ``second``."""
        if not 0 <= first <= second:
            raise BadProofRequest(f"first must be in [0, {second}], got {first}")
        return await _proof(conn, merkle.consistency_ranges(first, second), second)

    async def leaves(self, conn: AsyncConnection, start: int, end: int) -> list[bytes]:
        """Commitments of leaves ``[start, end)``."""
        size = await self.tree_size(conn)
        if not 0 <= start < end <= size:
            raise BadProofRequest(f"need 0 <= start < end <= {size}, got start={start} end={end}")
        rows = await conn.execute(
            select(LogEntry.commitment)
            .where(LogEntry.leaf_index >= start, LogEntry.leaf_index < end)
            .order_by(LogEntry.leaf_index)
        )
        return [bytes(r[0]) for r in rows]

    async def entries_for(
        self, conn: AsyncConnection, pseudonym_: str, *, limit: int | None = 100, before_id: int | None = None
    ) -> list[Any]:
        """A citizen's entries, newest first: id, leaf index, commitment, salt, record bytes, time."""
        query = select(
            LogEntry.id, LogEntry.leaf_index, LogEntry.commitment, LogEntry.salt, LogEntry.record, LogEntry.created_at
        ).where(LogEntry.pseudonym == pseudonym_)
        if before_id is not None:
            query = query.where(LogEntry.id < before_id)
        return list((await conn.execute(query.order_by(LogEntry.id.desc()).limit(limit))).all())

    async def tile(self, conn: AsyncConnection, level: int, index: int) -> bytes | None:
        """The stored hashes of one tile (full or partial), or ``None``."""
        return await conn.scalar(select(LogTile.hashes).where(LogTile.level == level, LogTile.idx == index))

    async def entry_index(self, conn: AsyncConnection, entry_id: int) -> int | None:
        """The leaf index an entry was given, or ``None`` while pending."""
        return await conn.scalar(select(LogEntry.leaf_index).where(LogEntry.id == entry_id))


async def _take_integrator_lock(conn: AsyncConnection) -> bool:
    """Elect this transaction as the integrator: a PostgreSQL advisory lock, SQLite's write lock."""
    if conn.dialect.name == "postgresql":
        got = await conn.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": INTEGRATOR_LOCK_ID})
        if not got:
            return False
        await conn.execute(select(LogState.id).where(LogState.id == 1).with_for_update())
        return True
    # SQLite: the transaction began IMMEDIATE (vault.db.engine.writer): it holds the single writer lock.
    return True


async def _assign_indices(conn: AsyncConnection, entry_ids: list[int], first_index: int) -> None:
    """Give ``entry_ids`` the leaf indices ``first_index, first_index + 1, …``."""
    if conn.dialect.name == "postgresql":
        # One statement instead of one per entry: unnest the id array with its ordinality.
        await conn.execute(
            text(
                "UPDATE log_entries SET leaf_index = :first + v.ord - 1 "
                "FROM unnest(CAST(:ids AS bigint[])) WITH ORDINALITY AS v(id, ord) WHERE log_entries.id = v.id"
            ),
            {"first": first_index, "ids": entry_ids},
        )
        return
    await conn.execute(
        update(LogEntry).where(LogEntry.id == bindparam("eid")).values(leaf_index=bindparam("li")),
        [{"eid": eid, "li": first_index + i} for i, eid in enumerate(entry_ids)],
        execution_options={"synchronize_session": False},
    )


async def _extend_tiles(conn: AsyncConnection, old_size: int, new_nodes: dict[int, list[bytes]]) -> None:
    """Append the newly completed level-8t nodes to their tiles (partial tiles grow in place)."""
    rows: list[dict[str, Any]] = []
    for t, hashes in new_nodes.items():
        first = old_size >> (TILE_HEIGHT * t)  # index of the first new node at this level
        tile_idx, slot = divmod(first, TILE_WIDTH)
        data = b""
        if slot:
            existing = await conn.scalar(select(LogTile.hashes).where(LogTile.level == t, LogTile.idx == tile_idx))
            data = bytes(existing or b"")
            if len(data) != slot * HASH_SIZE:
                raise RuntimeError(f"tile {t}/{tile_idx} holds {len(data) // HASH_SIZE} hashes, expected {slot}")
        data += b"".join(hashes)
        for offset in range(0, len(data), TILE_WIDTH * HASH_SIZE):
            rows.append({"level": t, "idx": tile_idx, "hashes": data[offset : offset + TILE_WIDTH * HASH_SIZE]})
            tile_idx += 1
    await conn.execute(_upsert_tiles(conn), rows)


def _upsert_tiles(conn: AsyncConnection) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(LogTile)
    return stmt.on_conflict_do_update(index_elements=["level", "idx"], set_={"hashes": stmt.excluded.hashes})


async def _proof(conn: AsyncConnection, ranges: list[tuple[int, int]], size: int) -> list[bytes]:
    """Hashes of ``ranges`` in the tree of ``size``, from one tile query.

    Tiles and the checkpoint are written in the same transaction, so the stored tiles cover exactly
    the latest signed size: the tree of ``size`` exists iff its last leaf is stored. That check
    rides along in the same query instead of a second one for the checkpoint.
    """
    last_leaf = [(0, size - 1)] if size else []
    nodes = [n for a, b in ranges for n in merkle.perfect_nodes(a, b)] + last_leaf
    tiles = await _load_tiles(conn, tiles_for(nodes))
    try:
        if last_leaf:
            node_from_tiles(0, size - 1, tiles)
        return [merkle.range_hash(a, b, lambda lv, ix: node_from_tiles(lv, ix, tiles)) for a, b in ranges]
    except KeyError:
        raise BadProofRequest(f"tree_size {size} is beyond the log's latest checkpoint") from None


async def _load_tiles(conn: AsyncConnection, wanted: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    keys = sorted(wanted)
    if not keys:
        return {}
    params: dict[str, int] = {}
    for i, (level, idx) in enumerate(keys):
        params[f"l{i}"], params[f"i{i}"] = level, idx
    rows = await conn.execute(_tile_query(len(keys)), params)
    return {(int(r[0]), int(r[1])): bytes(r[2]) for r in rows}


@lru_cache(maxsize=64)
def _tile_query(count: int) -> TextClause:
    """``SELECT … WHERE (level, idx) = … OR …`` with ``count`` key pairs, built once per arity.

    An OR of key equalities rather than a row-value IN: SQLite 3.40 scans the table for the latter.
    Plain SQL text, because building the expression with the ORM cost more than the query itself.
    """
    match = " OR ".join(f"(level = :l{i} AND idx = :i{i})" for i in range(count))
    return text(f"SELECT level, idx, hashes FROM log_tiles WHERE {match}")  # noqa: S608  only placeholders


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _split_hashes(data: bytes) -> list[bytes]:
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]
