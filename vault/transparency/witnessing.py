"""Have the log's checkpoints cosigned by witnesses (C2SP tlog-witness, client side), then publish them.

With ``VAULT_WITNESSES`` set, the integrator stores each new checkpoint *awaiting witnesses*: it is
neither served at ``/log/checkpoint`` nor used for receipts, so a client that requires a quorum never
sees a fresh, not yet witnessed checkpoint as the latest. A :meth:`Witnessing.publish` pass takes the
newest such checkpoint and sends it to every witness at once (``POST <url>/add-checkpoint`` with a
consistency proof from the size that witness last cosigned; a 409 names the witness's size and is
retried once from it). It keeps the cosignatures that verify under each witness's pinned key, stores
them (``log_cosignatures``) and publishes the checkpoint with their lines appended to its note — in
one short transaction. A witness that refuses, is down or does not answer within the timeout is
logged and left out: the checkpoint is published without its cosignature, and the log goes on.

No database connection is held while a witness is asked.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import httpx
import structlog
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from tlog.cosignature import (
    SIZE_MEDIA_TYPE,
    Cosignature,
    CosignatureVerifier,
    format_add_checkpoint,
    parse_size,
    response_cosignatures,
)
from tlog.note import _split
from vault.db.engine import writer
from vault.transparency.tables import LogCheckpoint, LogCosignature

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

    from vault.transparency.log import TransparencyLog

log = structlog.get_logger("vault.transparency.witnessing")


@dataclass(frozen=True, slots=True)
class Witness:
    """A configured witness: its submission prefix and pinned cosignature/v1 key."""

    url: str
    verifier: CosignatureVerifier

    @property
    def identity(self) -> str:
        """``<name>+<hex8 key id>``: how its cosignatures are stored."""
        return f"{self.verifier.name}+{self.verifier.key_id:08x}"


@dataclass(frozen=True, slots=True)
class Published:
    """What one pass published: the checkpoint's size and who cosigned it."""

    size: int
    cosigned_by: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Held:
    size: int
    note: str

    @property
    def text(self) -> str:
        return self.note.partition("\n\n")[0] + "\n"


class Witnessing:
    """Sends checkpoints awaiting witnesses to the witnesses and publishes them."""

    def __init__(
        self,
        log: TransparencyLog,
        witnesses: Sequence[tuple[str, str]],
        *,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.log = log
        self.witnesses = [Witness(url, CosignatureVerifier.from_vkey(vkey)) for url, vkey in witnesses]
        self.timeout = timeout
        self.http = httpx.AsyncClient(timeout=timeout, transport=transport, headers={"User-Agent": "vault-log"})

    async def aclose(self) -> None:
        """Close the HTTP connections to the witnesses."""
        await self.http.aclose()

    async def publish(self, engine: AsyncEngine) -> Published | None:
        """Witness and publish the newest checkpoint awaiting witnesses; ``None`` if there is none."""
        async with engine.connect() as conn:
            held = await _newest_held(conn)
            if held is None:
                return None
            old = await _cosigned_sizes(conn, [w.identity for w in self.witnesses], held.size)
            proofs = {size: await self.log.consistency_proof(conn, size, held.size) for size in {0, *old.values()}}
        sizes = [old.get(w.identity, 0) for w in self.witnesses]
        answers = await asyncio.gather(
            *(self._ask(engine, w, held, size, proofs[size]) for w, size in zip(self.witnesses, sizes, strict=True))
        )
        cosigned = [(w, c) for w, c in zip(self.witnesses, answers, strict=True) if c is not None]
        await _publish(engine, held, cosigned)
        names = tuple(w.verifier.name for w, _ in cosigned)
        log.info("checkpoint published", size=held.size, cosigned_by=len(names), witnesses=len(self.witnesses))
        return Published(held.size, names)

    async def _ask(
        self, engine: AsyncEngine, witness: Witness, held: _Held, old: int, proof: list[bytes]
    ) -> Cosignature | None:
        """The witness's cosignature of ``held``, or ``None`` (logged) when it cannot be had."""
        try:
            async with asyncio.timeout(self.timeout):
                answer = await self._post(witness, old, proof, held.note)
                if answer.status_code == 409 and answer.headers.get("content-type", "").startswith(SIZE_MEDIA_TYPE):
                    size = parse_size(answer.text)
                    if size > held.size:
                        log.warning("witness has a larger tree than this checkpoint", witness=witness.identity,
                                    witness_size=size, size=held.size)  # fmt: skip
                        return None
                    async with engine.connect() as conn:
                        proof = await self.log.consistency_proof(conn, size, held.size)
                    answer = await self._post(witness, size, proof, held.note)
                if answer.status_code != 200:
                    log.warning("witness refused the checkpoint", witness=witness.identity, size=held.size,
                                status=answer.status_code, reason=answer.text[:200].strip())  # fmt: skip
                    return None
                found = response_cosignatures(answer.text, held.text, witness.verifier)
        except TimeoutError:
            log.warning("witness did not answer in time", witness=witness.identity, timeout=self.timeout)
            return None
        except Exception as exc:  # noqa: BLE001  one witness's failure never stops the log
            log.warning("witness unavailable", witness=witness.identity, error_type=type(exc).__name__, error=str(exc))
            return None
        if not found:
            log.warning("witness answered without a cosignature by its key", witness=witness.identity)
            return None
        return max(found, key=lambda c: c.timestamp)

    async def _post(self, witness: Witness, old: int, proof: list[bytes], note: str) -> httpx.Response:
        return await self.http.post(
            witness.url + "/add-checkpoint",
            content=format_add_checkpoint(old, proof, note),
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )


async def _newest_held(conn: AsyncConnection) -> _Held | None:
    row = (
        await conn.execute(
            select(LogCheckpoint.size, LogCheckpoint.note)
            .where(LogCheckpoint.awaiting_witnesses.is_(True))
            .order_by(LogCheckpoint.size.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else _Held(int(row.size), row.note)


async def _cosigned_sizes(conn: AsyncConnection, identities: list[str], at_most: int) -> dict[str, int]:
    """The largest size (≤ ``at_most``) each witness has cosigned, as far as this log knows."""
    rows = await conn.execute(
        select(LogCosignature.witness, func.max(LogCosignature.size))
        .where(LogCosignature.witness.in_(identities), LogCosignature.size <= at_most)
        .group_by(LogCosignature.witness)
    )
    return {str(witness): int(size) for witness, size in rows}


async def _publish(engine: AsyncEngine, held: _Held, cosigned: list[tuple[Witness, Cosignature]]) -> None:
    """Store the cosignatures, append every stored one to the note, and publish the checkpoint."""
    now = datetime.now(UTC)
    async with writer(engine).begin() as conn:
        if cosigned:
            rows = [
                {"witness": w.identity, "size": held.size, "timestamp": c.timestamp, "line": c.line, "created_at": now}
                for w, c in cosigned
            ]
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            stmt = dialect.insert(LogCosignature)
            excluded = stmt.excluded
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["witness", "size"],
                    set_={"timestamp": excluded.timestamp, "line": excluded.line, "created_at": excluded.created_at},
                ),
                rows,
            )
        stored = (
            await conn.execute(
                select(LogCosignature.witness, LogCosignature.line)
                .where(LogCosignature.size == held.size)
                .order_by(LogCosignature.witness)
            )
        ).all()
        note = await conn.scalar(select(LogCheckpoint.note).where(LogCheckpoint.size == held.size))
        if note is None:
            return  # deleted meanwhile (an operator's repair): nothing to publish
        await conn.execute(
            update(LogCheckpoint)
            .where(LogCheckpoint.size == held.size)
            .values(note=with_cosignatures(note, [(str(w), str(line)) for w, line in stored]), awaiting_witnesses=False)
        )
        await conn.execute(  # older ones still held are superseded: never served, no need to ask for them
            update(LogCheckpoint)
            .where(LogCheckpoint.size < held.size, LogCheckpoint.awaiting_witnesses.is_(True))
            .values(awaiting_witnesses=False)
        )


def with_cosignatures(note: str, cosignatures: Sequence[tuple[str, str]]) -> str:
    """``note`` with the ``(witness identity, line)`` cosignatures appended, replacing older lines of theirs."""
    text, sigs = _split(note)
    replaced = {identity for identity, _ in cosignatures}
    kept = [line for name, key_id, _, line in sigs if f"{name}+{key_id:08x}" not in replaced]
    return text + "\n" + "".join(line + "\n" for line in [*kept, *(line for _, line in cosignatures)])
