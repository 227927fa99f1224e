"""What the state machine believes about the vault, and the checks of the real vault against it.

The model is plain data: citizens (their attributes, the test's own copy of their data key and of
their ciphertexts), grants (why they ended, how many reads were served under them, their tokens),
and every decryption served. The checks read the database and the log the way an auditor would: by
opening commitments, recomputing roots and verifying proofs and signatures, never by trusting the
code under test.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import func, select, update

from tests.reliability.stateful_world import SERVICES
from tlog import merkle
from tlog.note import Verifier, open_checkpoint
from tlog.receipts import Receipt, verify_receipt
from vault.citizens.tables import Citizen, StoredAttribute
from vault.consent.grants import GrantRow
from vault.crypto import aead
from vault.crypto.tables import CitizenKey, WrappedSecret
from vault.transparency.records import commitment, decode_record
from vault.transparency.tables import LogEntry

if TYPE_CHECKING:
    from datetime import datetime

    from vault.runtime import Runtime


@dataclass(eq=False)
class CitizenModel:
    """What the citizen has, as far as the model knows; ``dek`` and ``sealed`` are the test's own copies."""

    id: str
    dek: bytes
    attributes: dict[str, Any] = field(default_factory=dict)
    sealed: list[tuple[str, str, bytes]] = field(default_factory=list)  # (row id, name, ciphertext)
    grants: list[GrantModel] = field(default_factory=list)
    erased: bool = False

    def __repr__(self) -> str:
        return f"Citizen({self.id[:8]}{', erased' if self.erased else ''})"


@dataclass(eq=False)
class TokenModel:
    """An access token the agency holds."""

    value: str
    revoked: bool = False


@dataclass(eq=False)
class GrantModel:
    """A grant: ``ended`` is ``None`` while active, else why it ended (revoked, used, expired, erased)."""

    id: str
    citizen: CitizenModel
    service: str
    fields: tuple[str, ...]
    refresh_token: str
    tokens: list[TokenModel]
    ended: str | None = None
    served: int = 0

    @property
    def once(self) -> bool:
        return SERVICES[self.service] == "once"

    def expected_values(self) -> dict[str, Any]:
        return {name: value for name, value in self.citizen.attributes.items() if name in self.fields}

    def __repr__(self) -> str:
        return f"Grant({self.service}, {self.id[:8]}, {self.ended or 'active'})"


@dataclass(eq=False)
class Served:
    """A decryption the vault performed for someone: its log entry's commitment and who it was about."""

    commitment: bytes
    citizen: CitizenModel
    grant: GrantModel | None  # None: the citizen's own view
    proven: bool = False  # its inclusion in a verified checkpoint was checked


@dataclass(frozen=True)
class Before:
    """What a race's actions are judged against: the victim grant's and citizen's state, the wrapped keys."""

    active: bool
    erased: bool
    keys: int


# -- checks ---------------------------------------------------------------------------------------


async def check_entry(
    rt: Runtime, c: bytes, citizen: CitizenModel, actor: str, grant: GrantModel | None, fields: tuple[str, ...]
) -> None:
    """The entry is durable (committed) once the data is out, and its commitment opens to this access."""
    async with rt.engine.connect() as conn:
        row = (await conn.execute(select(LogEntry.salt, LogEntry.record).where(LogEntry.commitment == c))).one()
    assert commitment(bytes(row.salt), bytes(row.record)) == c
    record = decode_record(bytes(row.record))
    assert (record.actor, record.action) == (actor, "view" if grant is None else "read")
    assert record.pseudonym == rt.services.log.pseudonymizer.pseudonym(citizen.id)
    assert record.fields == fields
    if grant is not None:
        assert record.grant_id == grant.id
        assert record.service == grant.service


def check_promise(rt: Runtime, c: bytes, promise: str) -> None:
    """The signed promise a read response carries verifies with the log's public key."""
    receipt = Receipt(commitment=base64.b64encode(c).decode(), promise=promise)
    assert verify_receipt(receipt, rt.services.log.signer.vkey(), rt.services.log.origin).promised_at


async def check_consent_receipt(rt: Runtime, grant: GrantModel) -> None:
    """The grant's signed receipt names it and its fields, and commits to its ``grant`` log entry."""
    claims = rt.services.receipt_signer.verify(await rt.services.grants.receipt(grant.citizen.id, grant.id))
    assert claims["consent"]["grant_id"] == grant.id
    assert claims["consent"]["fields"] == list(grant.fields)
    logged = base64.b64decode(claims["consent"]["log_commitment"])
    async with rt.engine.connect() as conn:
        assert await conn.scalar(select(LogEntry.action).where(LogEntry.commitment == logged)) == "grant"


class LogAuditor:
    """Verifies the log as an auditor does, remembering the last checkpoint it accepted."""

    def __init__(self) -> None:
        self.checkpoint: tuple[int, bytes] | None = None

    async def verify(self, rt: Runtime, served: list[Served]) -> None:
        """Signature, root from all leaves, consistency with the last one; served accesses' inclusion."""
        log = rt.services.log
        assert log is not None
        vkey = log.signer.vkey()
        async with rt.engine.connect() as conn:
            latest = await log.latest_checkpoint(conn)
            if latest is None:
                assert self.checkpoint is None, "the signed checkpoint went away"
                return
            size, root, note = latest
            if (size, root) == self.checkpoint:
                return  # verified already, and so were the accesses it includes
            checkpoint = open_checkpoint(note, Verifier.from_vkey(vkey), log.origin)
            assert (checkpoint.size, checkpoint.root) == (size, root)
            leaves = await log.leaves(conn, 0, size) if size else []
            assert len(leaves) == size
            assert merkle.root_of(merkle.leaf_hash(leaf) for leaf in leaves) == root, "root is not that of the leaves"
            if self.checkpoint is not None:
                old_size, old_root = self.checkpoint
                assert old_size <= size, "the log shrank"
                proof = await log.consistency_proof(conn, old_size, size)
                merkle.verify_consistency(old_size, size, old_root, root, proof)
            self.checkpoint = (size, root)
            indices = {bytes(c): i for c, i in await conn.execute(select(LogEntry.commitment, LogEntry.leaf_index))}
            for access in served:
                index = indices.get(access.commitment)  # a missing entry is check_reads_accounted's to report
                if access.proven or index is None or index >= size:
                    continue
                receipt = await log.receipt(conn, access.commitment)
                assert receipt is not None, "an integrated entry has no receipt"
                verified = verify_receipt(receipt, vkey, log.origin)
                assert (verified.leaf_index, verified.tree_size) == (index, size)
                access.proven = True  # later checkpoints are consistent with this one (checked above)


async def check_reads_accounted(rt: Runtime, served: list[Served], grants: list[GrantModel]) -> None:
    """Every served access has its entry; per grant, as many ``read`` entries as reads served, all before its end."""
    columns = (LogEntry.id, LogEntry.action, LogEntry.grant_id, LogEntry.pseudonym, LogEntry.commitment)
    async with rt.engine.connect() as conn:
        rows = (await conn.execute(select(*columns))).all()
    logged = {bytes(r.commitment) for r in rows}
    missing = [s for s in served if s.commitment not in logged]
    assert not missing, f"{len(missing)} served accesses have no log entry"
    reads: dict[str, list[int]] = {}
    revoked_at: dict[str, int] = {}
    erased_at: dict[str, int] = {}
    for r in rows:
        if r.action == "read" and r.grant_id is not None:
            reads.setdefault(r.grant_id, []).append(r.id)
        elif r.action == "revoke" and r.grant_id is not None:
            revoked_at[r.grant_id] = r.id
        elif r.action == "erase":
            erased_at[r.pseudonym] = r.id
    for grant in grants:
        mine = reads.get(grant.id, [])
        assert len(mine) == grant.served, f"{grant}: {len(mine)} read entries for {grant.served} served reads"
        ends = [revoked_at.get(grant.id), erased_at.get(rt.services.log.pseudonymizer.pseudonym(grant.citizen.id))]
        for end in (e for e in ends if e is not None):
            assert all(entry < end for entry in mine), f"{grant}: a read was logged after it ended"


async def check_shredded(rt: Runtime, erased: list[CitizenModel]) -> None:
    """No key, ciphertext or login of an erased citizen is left, and no remaining key opens their data."""
    root = rt.keys.root
    ids = [c.id for c in erased]
    async with rt.engine.connect() as conn:
        keys = (await conn.execute(select(CitizenKey.citizen_id, CitizenKey.root_version, CitizenKey.wrapped))).all()
        secrets_ = (await conn.execute(select(WrappedSecret.root_version, WrappedSecret.wrapped))).all()
        left = await conn.scalar(select(func.count()).where(StoredAttribute.citizen_id.in_(ids)))
        logins = (await conn.execute(select(Citizen.login_hash, Citizen.login_ct).where(Citizen.id.in_(ids)))).all()
    assert not left, "an erased citizen's attribute ciphertexts are still stored"
    assert all(r.login_hash is None and r.login_ct is None for r in logins), "an erased citizen's login is stored"
    tombstones = {r.citizen_id for r in keys if r.wrapped is None}
    assert set(ids) <= tombstones, "an erased citizen's wrapped key is still stored"
    remaining = [root.unwrap(bytes(r.wrapped), version=r.root_version) for r in keys if r.wrapped is not None]
    remaining += [root.unwrap(bytes(r.wrapped), version=r.root_version) for r in secrets_]
    for citizen in erased:
        assert citizen.dek not in remaining, "an erased citizen's data key can still be unwrapped"
        for row_id, name, sealed in citizen.sealed:
            for key in remaining:
                with pytest.raises(aead.InvalidCiphertext):
                    aead.open(key, sealed, aead.Context(citizen.id, row_id, name))


# -- database look-ups the model needs --------------------------------------------------------------


async def wrapped_key(rt: Runtime, citizen_id: str) -> tuple[int, bytes] | None:
    """``(root version, wrapped key)`` of the citizen, ``None`` once destroyed."""
    query = select(CitizenKey.root_version, CitizenKey.wrapped).where(CitizenKey.citizen_id == citizen_id)
    async with rt.engine.connect() as conn:
        row = (await conn.execute(query)).one()
    return None if row.wrapped is None else (int(row.root_version), bytes(row.wrapped))


async def login_ciphertext(rt: Runtime, citizen_id: str) -> bytes:
    """The login name, sealed under the citizen's key (record id: the citizen id)."""
    async with rt.engine.connect() as conn:
        sealed = await conn.scalar(select(Citizen.login_ct).where(Citizen.id == citizen_id))
    assert sealed is not None
    return bytes(sealed)


async def current_ciphertext(rt: Runtime, citizen_id: str, name: str) -> tuple[str, bytes]:
    """``(row id, ciphertext)`` of the current version of one attribute."""
    where = (StoredAttribute.citizen_id == citizen_id, StoredAttribute.name == name, StoredAttribute.current)
    async with rt.engine.connect() as conn:
        row = (await conn.execute(select(StoredAttribute.id, StoredAttribute.ciphertext).where(*where))).one()
    return str(row.id), bytes(row.ciphertext)


async def wrapped_keys(rt: Runtime) -> int:
    """How many keys a rotation re-wraps: the live data keys and the service secrets."""
    async with rt.engine.connect() as conn:
        keys = await conn.scalar(select(func.count()).where(CitizenKey.wrapped.is_not(None)))
        secrets_ = await conn.scalar(select(func.count()).select_from(WrappedSecret))
    return int(keys or 0) + int(secrets_ or 0)


async def set_expiry(rt: Runtime, grant_id: str, when: datetime) -> None:
    """The test's one shortcut: move a grant's end (the read path takes no injected time)."""
    async with rt.sessions.begin() as db:
        await db.execute(update(GrantRow).where(GrantRow.id == grant_id).values(expires_at=when))
