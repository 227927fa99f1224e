"""A citizen's own log entries: opened, checked against the latest checkpoint, and as receipts.

The log stores each entry's record and salt beside its commitment, so the citizen can be shown
what every entry says and check it: the commitment is recomputed from salt and record, and the leaf
is proven included in the latest signed checkpoint. A receipt bundles all of that for offline
verification with nothing but the log's public key (docs/transparency.md).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from tlog.merkle import ProofError, leaf_hash, verify_inclusion
from tlog.receipts import Receipt
from vault.transparency.records import commitment, decode_record

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

    from vault.transparency.log import TransparencyLog

RECEIPT_FORMAT = "buergertresor-receipt/v1"


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """One log entry about the citizen, opened, with its verification status."""

    id: int
    time: str
    actor: str
    action: str
    fields: tuple[str, ...]
    service: str | None
    purpose: str | None
    legal_basis: str | None
    grant_id: str | None
    commitment: bytes
    salt: bytes
    leaf_index: int | None
    verified: bool
    document: str | None = None


class CitizenReceipt(msgspec.Struct, frozen=True):
    """Everything needed to check one entry offline: the opened record, its salt and the log's receipt."""

    format: str
    log_origin: str
    log_key: str
    entry_id: int
    record: str
    salt: str
    receipt: Receipt


async def _verified(
    conn: AsyncConnection, log: TransparencyLog, row: Any, latest: tuple[int, bytes, str] | None
) -> bool:
    """Whether the entry opens to its commitment and is included in the latest checkpoint."""
    index, stored = row.leaf_index, bytes(row.commitment)
    if commitment(bytes(row.salt), bytes(row.record)) != stored:
        return False
    if latest is None or index is None or index >= latest[0]:
        return False
    proof = await log.inclusion_proof(conn, index, latest[0])
    try:
        verify_inclusion(leaf_hash(stored), index, latest[0], proof, latest[1])
    except ProofError:
        return False
    return True


async def history(
    engine: AsyncEngine, log: TransparencyLog, citizen_id: str, *, limit: int | None = 50, before: int | None = None
) -> tuple[list[HistoryItem], str | None]:
    """The citizen's entries, newest first, and the checkpoint they were verified against.

    An entry not yet integrated (the integrator runs every half second) shows ``verified=False``
    and ``leaf_index=None``.
    """
    key = log.pseudonymizer.pseudonym(citizen_id)
    async with engine.connect() as conn:
        rows = await log.entries_for(conn, key, limit=limit, before_id=before)
        latest = await log.latest_checkpoint(conn)
        items = []
        for row in rows:
            record = decode_record(bytes(row.record))
            items.append(
                HistoryItem(
                    id=row.id,
                    time=record.time,
                    actor=record.actor,
                    action=record.action,
                    fields=tuple(record.fields),
                    service=record.service,
                    purpose=record.purpose,
                    legal_basis=record.legal_basis,
                    grant_id=record.grant_id,
                    commitment=bytes(row.commitment),
                    salt=bytes(row.salt),
                    leaf_index=row.leaf_index,
                    verified=await _verified(conn, log, row, latest),
                    document=record.document,
                )
            )
    return items, (latest[2] if latest else None)


async def receipt(engine: AsyncEngine, log: TransparencyLog, citizen_id: str, entry_id: int) -> CitizenReceipt | None:
    """The receipt for one of the citizen's entries; ``None`` for another citizen's or an unknown id.

    Before the entry is integrated the receipt carries only the log's signed promise; afterwards
    also the inclusion proof and the checkpoint it is proven against.
    """
    key = log.pseudonymizer.pseudonym(citizen_id)
    async with engine.connect() as conn:
        rows = await log.entries_for(conn, key, limit=1, before_id=entry_id + 1)
        if not rows or rows[0].id != entry_id:
            return None
        row = rows[0]
        stored = bytes(row.commitment)
        found = await log.receipt(conn, stored, with_promise=True)
    if found is None:
        found = Receipt(commitment=base64.b64encode(stored).decode(), promise=log.promise(stored, row.created_at))
    return CitizenReceipt(
        format=RECEIPT_FORMAT,
        log_origin=log.origin,
        log_key=log.signer.vkey(),
        entry_id=entry_id,
        record=base64.b64encode(bytes(row.record)).decode(),
        salt=base64.b64encode(bytes(row.salt)).decode(),
        receipt=found,
    )
