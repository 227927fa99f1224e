"""Citizen accounts: register, authenticate, erase.

The login name is never stored in clear: ``login_hash`` (HMAC-SHA-256 under the ``login-lookup``
service secret, of the NFC-normalised, case-folded name) finds the account, and the name itself is
sealed under the citizen's own key for display. Unknown names and wrong passwords cost the same
Argon2 work and raise the same :class:`InvalidCredentials`.
"""

from __future__ import annotations

import asyncio
import json
import os
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from vault.citizens.errors import InvalidCredentials, LoginTaken, UnknownCitizen
from vault.citizens.passkeys import erase_passkeys
from vault.citizens.sessions import SessionRow
from vault.citizens.tables import Citizen, DocumentChunk, StoredAttribute, StoredDocument
from vault.citizens.vault import AccessReason
from vault.consent.grants import end_grants
from vault.crypto.datakeys import create_data_key, destroy_data_key
from vault.identity.tables import IdentityLink
from vault.transparency.records import LogRecord, utc_now_iso

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncSession

    from vault.citizens.vault import CitizenVault
    from vault.crypto.macs import LoginLookup
    from vault.crypto.passwords import PasswordHasher
    from vault.transparency.log import TransparencyLog

MAX_LOGIN_LENGTH = 254


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """What the citizen sees about their account."""

    login_name: str
    created_at: datetime


def normalise_login(login: str) -> str:
    """The form a login name is compared in: NFC, trimmed, case-folded; 3..254 characters, no controls."""
    name = unicodedata.normalize("NFC", login).strip().casefold()
    if not 3 <= len(name) <= MAX_LOGIN_LENGTH or any(unicodedata.category(c) == "Cc" for c in name):
        raise ValueError(f"a login name has 3 to {MAX_LOGIN_LENGTH} characters and no control characters")
    return name


class AccountService:
    """Accounts over a :class:`CitizenVault` (which holds the keys and the log)."""

    def __init__(
        self,
        vault: CitizenVault,
        hasher: PasswordHasher,
        lookup: LoginLookup,
        erasure_journal: Path,
        *,
        after_erase: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.vault = vault
        self.hasher = hasher
        self.lookup = lookup
        self.erasure_journal = erasure_journal
        self.after_erase = after_erase  # e.g. vault.db.engine.forget_erased: must not raise

    def login_hash(self, login: str) -> bytes:
        """The lookup hash of a login name."""
        return self.lookup.hash(normalise_login(login))

    async def register(self, login: str, password: str) -> str:
        """Create an account with its own data key; :class:`LoginTaken` if the name is in use."""
        lookup = self.login_hash(login)
        password_hash = await self.hasher.hash(password)
        citizen_id = str(uuid.uuid4())
        try:
            async with self.vault.sessions.begin() as session:
                session.add(
                    Citizen(id=citizen_id, login_hash=lookup, password_hash=password_hash, created_at=datetime.now(UTC))
                )
                await session.flush()
                await create_data_key(session, self.vault.root, citizen_id)
        except IntegrityError:
            raise LoginTaken(login) from None
        await self._seal_login(citizen_id, login.strip())
        return citizen_id

    async def register_without_login(self) -> str:
        """Create an account that signs in through an identity provider only (no login name, no password).

        The ``register`` log entry names no field: nothing of the person is stored yet.
        """
        citizen_id = str(uuid.uuid4())
        async with self.vault.sessions.begin() as session:
            session.add(Citizen(id=citizen_id, created_at=datetime.now(UTC)))
            await session.flush()
            await create_data_key(session, self.vault.root, citizen_id)
            await self.vault.log_access(session, citizen_id, AccessReason(actor="citizen", action="register"), ())
        return citizen_id

    async def _seal_login(self, citizen_id: str, login: str) -> None:
        reason = AccessReason(actor="citizen", action="register")
        async with self.vault.sessions.begin() as session:
            access, wrapped = await self.vault.log_access(session, citizen_id, reason, ("login_name",))
        sealed = self.vault.cipher(wrapped, access).seal(login.encode(), citizen_id, "login_name")
        async with self.vault.sessions.begin() as session:
            await session.execute(update(Citizen).where(Citizen.id == citizen_id).values(login_ct=sealed))

    async def authenticate(self, login: str, password: str) -> str:
        """The citizen id for a correct login; rehashes the password when the policy has risen."""
        try:
            lookup = self.login_hash(login)
        except ValueError:
            await self.hasher.dummy_verify(password)
            raise InvalidCredentials from None
        async with self.vault.reads() as session:
            row = (
                await session.execute(
                    select(Citizen.id, Citizen.password_hash).where(
                        Citizen.login_hash == lookup, Citizen.erased_at.is_(None)
                    )
                )
            ).first()
        if row is None or row.password_hash is None:
            await self.hasher.dummy_verify(password)
            raise InvalidCredentials
        result = await self.hasher.verify(row.password_hash, password)
        if not result.ok:
            raise InvalidCredentials
        if result.new_hash is not None:
            async with self.vault.sessions.begin() as session:
                await session.execute(update(Citizen).where(Citizen.id == row.id).values(password_hash=result.new_hash))
        return str(row.id)

    async def account(self, citizen_id: str) -> AccountInfo:
        """Login name (decrypted, logged as a view) and creation time."""
        name = await self.login_name(citizen_id)
        async with self.vault.reads() as session:
            created = await session.scalar(select(Citizen.created_at).where(Citizen.id == citizen_id))
        assert created is not None
        return AccountInfo(name, created)

    async def login_name(self, citizen_id: str) -> str:
        """Decrypt the login name for display (logged like any other view); ``""`` for an account without one."""
        async with self.vault.sessions.begin() as session:
            await self.vault.require_citizen(session, citizen_id)
            sealed = await session.scalar(select(Citizen.login_ct).where(Citizen.id == citizen_id))
            if sealed is None:
                return ""
            access, wrapped = await self.vault.log_access(
                session, citizen_id, AccessReason(actor="citizen", action="view"), ("login_name",)
            )
        return self.vault.cipher(wrapped, access).open(sealed or b"", citizen_id, "login_name").decode()

    async def erase(self, citizen_id: str, actor: str = "citizen") -> None:
        """Crypto-shred the account: journal the intent, destroy the key, drop ciphertexts, keep a tombstone.

        Once committed, ``after_erase`` clears what the database engine still keeps of the old rows
        (SQLite's WAL); it reports, never raises, so the erasure stands either way.
        """
        async with self.vault.reads() as session:
            await self.vault.require_citizen(session, citizen_id)
        self._journal(citizen_id)
        async with self.vault.sessions.begin() as session:
            await erase_in(session, citizen_id, self.vault.log)
            record = LogRecord(
                pseudonym=self.vault.log.pseudonymizer.pseudonym(citizen_id),
                actor=actor,
                action="erase",
                time=utc_now_iso(),
            )
            await self.vault.log.append(session, record)
        if self.after_erase is not None:
            await self.after_erase()

    def _journal(self, citizen_id: str) -> None:
        line = json.dumps({"citizen": citizen_id, "erased_at": utc_now_iso()}) + "\n"
        fd = os.open(self.erasure_journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)


async def erase_in(session: AsyncSession, citizen_id: str, log: TransparencyLog | None = None) -> bool:
    """Destroy one citizen's key and data in ``session``'s transaction; False if already erased.

    Takes the citizen row ``FOR UPDATE`` first: the same lock every write holds, so no write can
    land between the erasure and its commit.
    """
    await session.execute(select(Citizen.id).where(Citizen.id == citizen_id).with_for_update())
    destroyed = await destroy_data_key(session, citizen_id)
    await session.execute(
        update(SessionRow)
        .where(SessionRow.citizen_id == citizen_id, SessionRow.ended_at.is_(None))
        .values(ended_at=datetime.now(UTC))
    )
    doc_ids = select(StoredDocument.id).where(StoredDocument.citizen_id == citizen_id)
    await session.execute(delete(DocumentChunk).where(DocumentChunk.document_id.in_(doc_ids)))
    await session.execute(delete(StoredDocument).where(StoredDocument.citizen_id == citizen_id))
    await session.execute(delete(StoredAttribute).where(StoredAttribute.citizen_id == citizen_id))
    await erase_passkeys(session, citizen_id)
    await session.execute(delete(IdentityLink).where(IdentityLink.citizen_id == citizen_id))
    await end_grants(session, citizen_id, log)
    result = await session.execute(
        update(Citizen)
        .where(Citizen.id == citizen_id)
        .values(login_hash=None, login_ct=None, password_hash=None, identity_level="basic", erased_at=datetime.now(UTC))
    )
    if not getattr(result, "rowcount", 0):
        raise UnknownCitizen(citizen_id)
    return destroyed


async def reapply_erasures(vault: CitizenVault, journal: Path) -> tuple[int, int]:
    """After restoring a backup: erase again every citizen in the journal. ``(re-erased, already erased)``."""
    again = already = 0
    for line in (await asyncio.to_thread(journal.read_text)).splitlines():
        if not line.strip():
            continue
        citizen_id = json.loads(line)["citizen"]
        async with vault.sessions.begin() as session:
            try:
                if await erase_in(session, citizen_id, vault.log):
                    again += 1
                else:
                    already += 1
            except UnknownCitizen:
                already += 1
    return again, already
