"""Accounts bound to identity provider subjects: sign in, register, link, unlink; the identity level.

One subject of one provider belongs to one account (a unique index over the provider and the
subject's HMAC). An account's identity level is the best level proven through its links, ``basic``
without any; it is stored on the account (``citizens.identity_level``) in the same transaction that
changes the links, and every session reads it at each request, so an unlink lowers them at once.

Values the provider vouched for are stored as attributes with ``source = "idp:<provider id>"``:
all of them when an account is created or linked, and on later sign-ins those the account lacks
(a value the citizen edited keeps the edit; the confirmed version stays in the attribute history).
Linking and unlinking are log entries (actions ``link`` and ``unlink``, the provider id as
``service``), shown in the citizen's history.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from vault.citizens.errors import UnknownRecord
from vault.citizens.passkeys import Passkey
from vault.citizens.reauth import rank
from vault.citizens.tables import Citizen
from vault.citizens.vault import AccessReason
from vault.identity.tables import IdentityLink

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from vault.citizens.accounts import AccountService
    from vault.citizens.vault import CitizenVault
    from vault.identity.model import ProvenIdentity

SOURCE_PREFIX = "idp:"


class NotLinked(Exception):
    """No account is bound to this provider subject (sign in refused; nothing stored)."""


class LinkedElsewhere(Exception):
    """This provider subject is already bound to another account (link refused; nothing stored)."""


class LastMeansOfSignIn(Exception):
    """Unlinking would leave the account without any way to sign in (no password, no passkey, no other link)."""


@dataclass(frozen=True, slots=True)
class LinkInfo:
    """A link as the settings page shows it."""

    id: str
    provider_id: str
    level: str
    created_at: datetime
    last_used_at: datetime


def source_of(provider_id: str) -> str:
    """The ``source`` of attribute values a provider delivered."""
    return SOURCE_PREFIX + provider_id


def provider_of(source: str) -> str | None:
    """The provider id of a ``source`` written by :func:`source_of`, else ``None``."""
    return source.removeprefix(SOURCE_PREFIX) if source.startswith(SOURCE_PREFIX) else None


def best_level(levels: list[str]) -> str:
    """The best of ``levels``, ``basic`` for none."""
    return max(["basic", *levels], key=rank)


class IdentityBinding:
    """Bind provider subjects to accounts and keep the accounts' identity level."""

    def __init__(self, vault: CitizenVault, accounts: AccountService, subject_key: bytes) -> None:
        self.vault = vault
        self.accounts = accounts
        self.subject_key = subject_key

    def subject_hash(self, provider_id: str, subject: str) -> bytes:
        """HMAC of the subject under the ``idp-subject`` secret, bound to the provider."""
        message = b"vault-idp-subject/v1\x00" + provider_id.encode() + b"\x00" + subject.encode()
        return hmac.new(self.subject_key, message, hashlib.sha256).digest()

    async def owner(self, proven: ProvenIdentity) -> str | None:
        """The account bound to ``proven``'s subject, or ``None``."""
        digest = self.subject_hash(proven.provider_id, proven.subject)
        async with self.vault.reads() as db:
            return await db.scalar(
                select(IdentityLink.citizen_id)
                .join(Citizen, Citizen.id == IdentityLink.citizen_id)
                .where(
                    IdentityLink.provider_id == proven.provider_id,
                    IdentityLink.subject_hash == digest,
                    Citizen.erased_at.is_(None),
                )
            )

    async def sign_in(self, proven: ProvenIdentity) -> str:
        """The account bound to ``proven``; its link's level rises to what was proven now. :class:`NotLinked` else."""
        citizen_id = await self.owner(proven)
        if citizen_id is None:
            raise NotLinked
        digest = self.subject_hash(proven.provider_id, proven.subject)
        async with self.vault.sessions.begin() as db:
            link = await db.scalar(
                select(IdentityLink)
                .where(IdentityLink.provider_id == proven.provider_id, IdentityLink.subject_hash == digest)
                .with_for_update()
            )
            if link is None:  # unlinked in between
                raise NotLinked
            link.last_used_at = datetime.now(UTC)
            if rank(proven.level) > rank(link.level):
                link.level = proven.level
            await self._refresh_level(db, citizen_id)
        missing = {k: v for k, v in proven.claims.items() if k not in await self.vault.attribute_sources(citizen_id)}
        await self._store_claims(citizen_id, proven, missing)
        return citizen_id

    async def register(self, proven: ProvenIdentity) -> str:
        """A new account (no login name, no password) bound to ``proven``, with the values it vouched for.

        :class:`LinkedElsewhere` if the subject already has an account (the caller signs in to it instead).
        """
        if await self.owner(proven) is not None:
            raise LinkedElsewhere
        citizen_id = await self.accounts.register_without_login()
        try:
            await self.link(citizen_id, proven, _new_account=True)
        except LinkedElsewhere:
            await self.accounts.erase(citizen_id)  # a concurrent registration won: leave no empty account
            raise
        return citizen_id

    async def link(self, citizen_id: str, proven: ProvenIdentity, *, _new_account: bool = False) -> None:
        """Bind ``proven``'s subject to the account (log entry ``link``); :class:`LinkedElsewhere` if taken.

        Linking again the subject already bound to this account only refreshes its level and values.
        """
        digest = self.subject_hash(proven.provider_id, proven.subject)
        now = datetime.now(UTC)
        try:
            async with self.vault.sessions.begin() as db:
                await self.vault.require_citizen(db, citizen_id, lock=True)
                link = await db.scalar(
                    select(IdentityLink).where(
                        IdentityLink.provider_id == proven.provider_id, IdentityLink.subject_hash == digest
                    )
                )
                if link is not None and link.citizen_id != citizen_id:
                    raise LinkedElsewhere
                if link is None:
                    db.add(
                        IdentityLink(
                            id=str(uuid.uuid4()),
                            provider_id=proven.provider_id,
                            subject_hash=digest,
                            citizen_id=citizen_id,
                            level=proven.level,
                            created_at=now,
                            last_used_at=now,
                        )
                    )
                    await db.flush()
                    record = self.vault.log_record(
                        citizen_id, AccessReason(actor="citizen", action="link", service=proven.provider_id), ()
                    )
                    await self.vault.log.append(db, record, subject=citizen_id)
                else:
                    link.last_used_at = now
                    link.level = best_level([link.level, proven.level])
                await self._refresh_level(db, citizen_id)
        except IntegrityError:  # the same subject linked concurrently to another account
            raise LinkedElsewhere from None
        await self._store_claims(citizen_id, proven, proven.claims)

    async def unlink(self, citizen_id: str, link_id: str) -> None:
        """Remove one of the account's links (log entry ``unlink``); the identity level drops at once.

        :class:`UnknownRecord` for another account's link, :class:`LastMeansOfSignIn` when the account
        would have no password, passkey or other link left.
        """
        async with self.vault.sessions.begin() as db:
            account = await db.scalar(select(Citizen).where(Citizen.id == citizen_id).with_for_update())
            link = await db.scalar(
                select(IdentityLink).where(IdentityLink.id == link_id, IdentityLink.citizen_id == citizen_id)
            )
            if account is None or link is None:
                raise UnknownRecord(link_id)
            others = await db.scalar(
                select(IdentityLink.id).where(IdentityLink.citizen_id == citizen_id, IdentityLink.id != link_id)
            )
            passkey = await db.scalar(select(Passkey.id).where(Passkey.citizen_id == citizen_id))
            if account.password_hash is None and others is None and passkey is None:
                raise LastMeansOfSignIn
            await db.execute(delete(IdentityLink).where(IdentityLink.id == link_id))
            record = self.vault.log_record(
                citizen_id, AccessReason(actor="citizen", action="unlink", service=link.provider_id), ()
            )
            await self.vault.log.append(db, record, subject=citizen_id)
            await self._refresh_level(db, citizen_id)

    async def links(self, citizen_id: str) -> list[LinkInfo]:
        """The account's links, oldest first."""
        async with self.vault.reads() as db:
            rows = (
                await db.execute(
                    select(IdentityLink).where(IdentityLink.citizen_id == citizen_id).order_by(IdentityLink.created_at)
                )
            ).scalars()
            return [LinkInfo(r.id, r.provider_id, r.level, r.created_at, r.last_used_at) for r in rows]

    async def identity_level(self, citizen_id: str) -> str:
        """The level at which the account's identity was proven."""
        async with self.vault.reads() as db:
            return await db.scalar(select(Citizen.identity_level).where(Citizen.id == citizen_id)) or "basic"

    @staticmethod
    async def _refresh_level(db: AsyncSession, citizen_id: str) -> None:
        query = select(IdentityLink.level).where(IdentityLink.citizen_id == citizen_id)
        levels = list((await db.execute(query)).scalars())
        await db.execute(update(Citizen).where(Citizen.id == citizen_id).values(identity_level=best_level(levels)))

    async def _store_claims(self, citizen_id: str, proven: ProvenIdentity, values: dict[str, object]) -> None:
        if values:
            reason = AccessReason(actor=source_of(proven.provider_id), action="write")
            source = source_of(proven.provider_id)
            await self.vault.set_attributes(citizen_id, dict(values), source=source, reason=reason)
