"""What an agency read and a revocation hold inside their transactions (DESIGN.md §2).

A revocation (of a grant, or of a token) holds the grant exclusively; a read holds it shared and
checks its token and grant again once held, so no read is served after a revocation has committed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from vault.consent.errors import InvalidToken
from vault.consent.grants import GrantNotActive, GrantRow, effective_status, fair_grant_lock
from vault.consent.tables import Token

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from vault.consent.resource import Access


async def hold_grant_exclusively(db: AsyncSession, grant_id: str) -> None:
    """Queue fairly for the grant, then take its row ``FOR UPDATE``, as a revoke does (DESIGN.md §2).

    A token revocation holds it so: reads hold the grant shared and read their token again after,
    so none is served with a token once its revocation has committed.
    """
    await fair_grant_lock(db, grant_id, exclusive=True)
    await db.execute(select(GrantRow.id).where(GrantRow.id == grant_id).with_for_update())


def token_guard(access: Access) -> Any:
    """Check the token again in the read's transaction.

    The token was looked up before the transaction (:meth:`~vault.consent.resource.ResourceAccess.resolve`);
    it is read again once the grant's fair lock is held, which a token revocation holds exclusively: a
    revocation that committed meanwhile refuses the read.
    """

    async def guard(db: AsyncSession) -> None:
        await fair_grant_lock(db, access.grant_id, exclusive=False)
        revoked = await db.scalar(select(Token.revoked_at).where(Token.token_hash == access.token_hash))
        if revoked is not None:
            raise InvalidToken("unknown, revoked or expired access token")

    return guard


def grant_guard(grant_id: str, client_id: str, item: str, *, exclusive: bool = False) -> Any:
    """The guard an agency read runs inside its logging transaction (DESIGN.md §2).

    It takes the grant row ``FOR SHARE`` and refuses unless the grant is active: a read after a
    committed revoke cannot pass. A ``once`` grant is changed by the read, so its readers pass
    ``exclusive`` and take the row ``FOR UPDATE`` from the start: two readers that both held it
    ``FOR SHARE`` and then asked for ``FOR UPDATE`` would deadlock. ``item`` is what is read
    (``data`` or ``document:<kind>``); a ``once`` grant delivers each item one time and is
    ``used`` when every granted item has been delivered.
    """

    async def guard(db: AsyncSession) -> None:
        await fair_grant_lock(db, grant_id, exclusive=False)
        query = select(GrantRow).where(GrantRow.id == grant_id, GrantRow.agency == client_id)
        locked = await db.scalar(query.with_for_update(read=not exclusive))
        if locked is None or effective_status(locked, datetime.now(UTC)) != "active":
            raise GrantNotActive(grant_id)
        if locked.access != "once":
            return
        if not exclusive:  # the caller did not know; upgrade (only safe without concurrent readers)
            locked = await db.scalar(query.with_for_update())
            assert locked is not None
        use_once(locked, item, datetime.now(UTC))

    return guard


def use_once(locked: GrantRow, item: str, now: datetime) -> None:
    """Deliver ``item`` under a ``once`` grant held ``FOR UPDATE``: :class:`GrantNotActive` if it was delivered.

    The grant is ``used`` once every granted item (``data``, ``document:<kind>``) has been delivered.
    """
    consumed = set(json.loads(locked.consumed))
    if item in consumed:
        raise GrantNotActive(locked.id)
    consumed.add(item)
    locked.consumed = json.dumps(sorted(consumed))
    wanted = {f"document:{k}" for k in json.loads(locked.documents)}
    if json.loads(locked.fields):
        wanted.add("data")
    if wanted <= consumed:
        locked.status, locked.ended_at = "used", now
