"""Accounts bound to identity provider subjects: sign in, register, link, unlink; the identity level.

One subject of one provider belongs to one account (a unique index over the provider and the
subject's HMAC). An account's identity level is the best level proven through its links, ``basic``
without any; it is stored on the account (``citizens.identity_level``) in the same transaction that
changes the links, and every session reads it at each request, so an unlink lowers them at once.

Values the provider vouched for are stored as attributes with ``source = "idp:<provider id>:<link id>"`` when
an account is created or linked: those the account lacks, and those it holds with the same value (now
confirmed). A value the account holds *differently* is kept as the citizen entered it and reported
(never overwritten: the ID may be someone else's); a weaker confirmation never replaces a stronger
one. Later sign-ins store nothing: a value the citizen edited or deleted stays as the citizen left it
(the confirmed version stays in the attribute history). A mark counts only while the account is
linked to that provider and the provider is enabled (:meth:`IdentityBinding.confirmations`).

An account has at most one link per provider, and registering or linking needs at least
``substantial``: a provider's ``basic`` answer proves no identity. Links of a disabled provider no
longer count: not for the identity level, not as a way to sign in.

Linking and unlinking are log entries (actions ``link`` and ``unlink``, the provider id as
``service``), shown in the citizen's history.
"""

from __future__ import annotations

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
from vault.citizens.vault import CITIZEN_VIEW, AccessReason
from vault.identity.tables import IdentityLink, enabled_links

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from vault.citizens.accounts import AccountService
    from vault.citizens.vault import CitizenVault
    from vault.crypto.macs import SubjectHasher
    from vault.identity.model import ProvenIdentity

SOURCE_PREFIX = "idp:"
#: The least a provider must prove for an account to be created or linked with it.
MIN_PROOF = "substantial"


class NotLinked(Exception):
    """No account is bound to this provider subject (sign in refused; nothing stored)."""


class LinkedElsewhere(Exception):
    """This provider subject is already bound to another account (link refused; nothing stored)."""


class LevelTooLow(Exception):
    """The provider proved less than :data:`MIN_PROOF`: no account is made or linked with it."""


class OtherSubjectLinked(Exception):
    """The account is already linked to another subject (another person's ID) at this provider."""


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


def source_of(provider_id: str, link_id: str) -> str:
    """The ``source`` of values a provider confirmed through one link: ``idp:<provider id>:<link id>``.

    The mark belongs to the link, not to the provider: once that link is gone, another person's ID
    linked later at the same provider vouches for none of them.
    """
    return f"{SOURCE_PREFIX}{provider_id}:{link_id}"


def actor_of(provider_id: str) -> str:
    """The log's actor for values a provider wrote: ``idp:<provider id>``."""
    return SOURCE_PREFIX + provider_id


def provider_of(source: str) -> str | None:
    """The provider id of a source written by :func:`source_of` (or an actor of :func:`actor_of`), else ``None``."""
    if not source.startswith(SOURCE_PREFIX):
        return None
    return source.removeprefix(SOURCE_PREFIX).partition(":")[0] or None


def link_of(source: str) -> str | None:
    """The link id of a source written by :func:`source_of`, else ``None``."""
    if not source.startswith(SOURCE_PREFIX):
        return None
    return source.removeprefix(SOURCE_PREFIX).partition(":")[2] or None


async def refresh_level(db: AsyncSession, citizen_id: str) -> None:
    """Store the account's identity level: the best of its links to enabled providers (``basic`` without)."""
    levels = [
        link.level
        for link in (await db.execute(enabled_links().where(IdentityLink.citizen_id == citizen_id))).scalars()
    ]
    await db.execute(update(Citizen).where(Citizen.id == citizen_id).values(identity_level=best_level(levels)))


async def refresh_levels_of_provider(db: AsyncSession, provider_id: str) -> int:
    """After a provider is disabled (or enabled): recompute the level of every account linked to it."""
    citizens = (
        (await db.execute(select(IdentityLink.citizen_id).where(IdentityLink.provider_id == provider_id).distinct()))
        .scalars()
        .all()
    )
    for citizen_id in citizens:
        await db.execute(select(Citizen.id).where(Citizen.id == citizen_id).with_for_update())
        await refresh_level(db, citizen_id)
    return len(citizens)


def best_level(levels: list[str]) -> str:
    """The best of ``levels``, ``basic`` for none."""
    return max(["basic", *levels], key=rank)


class IdentityBinding:
    """Bind provider subjects to accounts and keep the accounts' identity level."""

    def __init__(self, vault: CitizenVault, accounts: AccountService, subjects: SubjectHasher) -> None:
        self.vault = vault
        self.accounts = accounts
        self.subjects = subjects

    def subject_hash(self, provider_id: str, subject: str) -> bytes:
        """HMAC of the subject under the ``idp-subject`` secret, bound to the provider."""
        return self.subjects.hash(provider_id, subject)

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
        """The account bound to ``proven``; its link's level rises to what was proven now. :class:`NotLinked` else.

        Stores no values: what the citizen edited or deleted since linking stays so.
        """
        citizen_id = await self.owner(proven)
        if citizen_id is None:
            raise NotLinked
        digest = self.subject_hash(proven.provider_id, proven.subject)
        async with self.vault.sessions.begin() as db:
            # the account first, as link and unlink lock it: a concurrent unlink cannot slip between
            # reading the links and storing the level
            await db.execute(select(Citizen.id).where(Citizen.id == citizen_id).with_for_update())
            link = await db.scalar(
                select(IdentityLink).where(
                    IdentityLink.provider_id == proven.provider_id, IdentityLink.subject_hash == digest
                )
            )
            if link is None or link.citizen_id != citizen_id:  # unlinked in between
                raise NotLinked
            link.last_used_at = datetime.now(UTC)
            if rank(proven.level) > rank(link.level):
                link.level = proven.level
            await db.flush()
            await refresh_level(db, citizen_id)
        return citizen_id

    async def register(self, proven: ProvenIdentity) -> str:
        """A new account (no login name, no password) bound to ``proven``, with the values it vouched for.

        :class:`LinkedElsewhere` if the subject already has an account (the caller signs in to it instead).
        """
        if rank(proven.level) < rank(MIN_PROOF):
            raise LevelTooLow
        if await self.owner(proven) is not None:
            raise LinkedElsewhere
        citizen_id = await self.accounts.register_without_login()
        try:
            await self.link(citizen_id, proven)  # a new account holds nothing yet: every value is taken over
        except (LinkedElsewhere, OtherSubjectLinked):
            await self.accounts.erase(citizen_id)  # a concurrent registration won: leave no empty account
            raise LinkedElsewhere from None
        return citizen_id

    async def link(self, citizen_id: str, proven: ProvenIdentity) -> list[str]:
        """Bind ``proven``'s subject to the account (log entry ``link``) and store the values it confirmed.

        Returns the names of the values the account already had *differently*: those are kept as the
        citizen entered them, unconfirmed (the page lists them), never overwritten.

        Refused, with nothing stored: :class:`LevelTooLow` below :data:`MIN_PROOF`,
        :class:`LinkedElsewhere` if the subject belongs to another account, :class:`OtherSubjectLinked`
        if the account has another subject at this provider. Linking again the subject already bound
        to this account only refreshes the link's level; no values are rewritten.
        """
        if rank(proven.level) < rank(MIN_PROOF):
            raise LevelTooLow
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
                if link is not None:  # the same ID again: only its level is refreshed
                    link.last_used_at = now
                    link.level = best_level([link.level, proven.level])
                    await db.flush()
                    await refresh_level(db, citizen_id)
                    return []
                other = await db.scalar(
                    select(IdentityLink.id).where(
                        IdentityLink.citizen_id == citizen_id, IdentityLink.provider_id == proven.provider_id
                    )
                )
                if other is not None:
                    raise OtherSubjectLinked
                link_id = str(uuid.uuid4())
                db.add(
                    IdentityLink(
                        id=link_id,
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
                await refresh_level(db, citizen_id)
        except IntegrityError:  # the same subject, or this provider, linked concurrently
            raise LinkedElsewhere from None
        return await self._take_over(citizen_id, proven, link_id)

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
                enabled_links()
                .with_only_columns(IdentityLink.id)
                .where(IdentityLink.citizen_id == citizen_id, IdentityLink.id != link_id)
            )
            passkey = await db.scalar(select(Passkey.id).where(Passkey.citizen_id == citizen_id))
            if account.password_hash is None and others is None and passkey is None:
                raise LastMeansOfSignIn
            await db.execute(delete(IdentityLink).where(IdentityLink.id == link_id))
            record = self.vault.log_record(
                citizen_id, AccessReason(actor="citizen", action="unlink", service=link.provider_id), ()
            )
            await self.vault.log.append(db, record, subject=citizen_id)
            await refresh_level(db, citizen_id)

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

    async def confirmations(self, citizen_id: str) -> dict[str, tuple[str, str]]:
        """Link id → (provider id, level) for the account's links to enabled providers: whose marks count."""
        async with self.vault.reads() as db:
            links = (await db.execute(enabled_links().where(IdentityLink.citizen_id == citizen_id))).scalars()
            return {link.id: (link.provider_id, link.level) for link in links}

    async def _take_over(self, citizen_id: str, proven: ProvenIdentity, link_id: str) -> list[str]:
        """Store the confirmed values the account lacks, or has with the same value; list those it has otherwise.

        A value the account already holds is decrypted to compare (a logged ``view``). An equal value
        already confirmed through a link of a higher level keeps that mark (a weaker confirmation never
        replaces a stronger one).
        """
        source = source_of(proven.provider_id, link_id)
        held = await self.vault.attribute_sources(citizen_id)
        compare = tuple(name for name in proven.claims if name in held)
        current = await self.vault.read_attributes(citizen_id, CITIZEN_VIEW, compare) if compare else {}
        confirmed = await self.confirmations(citizen_id)
        take: dict[str, object] = {}
        differs: list[str] = []
        for name, value in proven.claims.items():
            have = current.get(name)
            if have is None:
                take[name] = value
            elif have.value != value:
                differs.append(name)
            else:
                vouched = confirmed.get(link_of(have.source) or "")
                if vouched is None or rank(vouched[1]) <= rank(proven.level):
                    take[name] = value  # the same value, now confirmed by this ID
        if take:
            reason = AccessReason(actor=actor_of(proven.provider_id), action="write")
            await self.vault.set_attributes(citizen_id, take, source=source, reason=reason)
        return differs
