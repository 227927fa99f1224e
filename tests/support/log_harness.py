"""A transparency log driven directly from a test's own engine and event loop."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tlog.note import Verifier
from vault.bootstrap import prepare
from vault.crypto.macs import Pseudonymizer
from vault.crypto.service_secrets import service_secret
from vault.db.engine import create_engine, session_factory
from vault.transparency.log import TransparencyLog
from vault.transparency.records import LogRecord, utc_now_iso

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from sqlalchemy.ext.asyncio import AsyncEngine

    from vault.config import Settings


def sample_record(pseudonym_: str, action: str = "read") -> LogRecord:
    """A typical agency read record (tests and benchmarks)."""
    return LogRecord(
        pseudonym=pseudonym_,
        actor="agency-ummeldung",
        action=action,  # type: ignore[arg-type]
        time=utc_now_iso(),
        service="ummeldung",
        fields=("given_name", "address"),
        purpose="Registering your new home",
        legal_basis="§ 17 BMG",
        grant_id="grant-1",
    )


class LogHarness:
    def __init__(self, engine: AsyncEngine, log: TransparencyLog) -> None:
        self.engine = engine
        self.log = log
        self.sessions = session_factory(engine)
        self.verifier = Verifier.from_vkey(log.signer.vkey())

    def record(self, citizen: str = "citizen-1", action: str = "read") -> LogRecord:
        return sample_record(self.log.pseudonymizer.pseudonym(citizen), action)

    async def append(self, n: int, **kw: str) -> list[int]:
        ids = []
        async with self.sessions.begin() as session:
            for _ in range(n):
                ids.append((await self.log.append(session, self.record(**kw))).entry_id)
        return ids


@pytest.fixture
async def harness(migrated: Settings) -> AsyncIterator[LogHarness]:
    keys = prepare(migrated)
    engine = create_engine(migrated)
    pseudonymizer = Pseudonymizer(await service_secret(engine, keys.root, "log-pseudonym"))
    log = TransparencyLog(migrated.log_origin, keys.log_signing, pseudonymizer)
    try:
        yield LogHarness(engine, log)
    finally:
        await engine.dispose()


@pytest.fixture
async def direct(client: Any, migrated: Settings) -> AsyncIterator[LogHarness]:
    """The running app's log, driven from the test's own event loop and engine.

    The test client serves the app on another event loop (anyio portal); asyncpg connections cannot
    cross loops, so tests append and integrate through their own engine on the same database.
    """
    runtime = client.app.state.runtime
    engine = create_engine(migrated)
    log = TransparencyLog(runtime.services.log.origin, runtime.services.log.signer, runtime.services.log.pseudonymizer)
    try:
        yield LogHarness(engine, log)
    finally:
        await engine.dispose()
