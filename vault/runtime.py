"""The running vault's resources: settings, keys, database engine, the services; readiness; background jobs.

One :class:`Runtime` per process, created by :func:`vault.app.create_app` and opened and closed with
the app's lifespan. Readiness means: the root key matched its check value (then the services are
built, once) and the database answers now.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import httpx
import structlog

from vault.audit.auditors import prune_refusals
from vault.bootstrap import SchemaNotReady, check_root_key
from vault.config import parse_witnesses
from vault.consent.grants import EXPIRE_BATCH
from vault.crypto.kek import RootKeyError
from vault.db.engine import create_engine, ping, session_factory
from vault.purge import purge_expired
from vault.services import build_services
from vault.transparency import retention
from vault.transparency.log import DEFAULT_BATCH, LogUnavailable
from vault.transparency.witnessing import Witnessing

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from vault.bootstrap import Keys
    from vault.config import Settings
    from vault.crypto.passwords import PasswordHasher
    from vault.services import Services

log = structlog.get_logger("vault.runtime")

READY_CHECK_TIMEOUT_S = 2.0
START_CHECK_TIMEOUT_S = 30.0
INTEGRATION_INTERVAL_S = 0.5
RETENTION_INTERVAL_S = 24 * 3600
PURGE_INTERVAL_S = 3600
EXPIRY_INTERVAL_S = 60
#: Calls to identity providers (discovery, JWKS, PAR, token): none may hold a sign-in longer.
PROVIDER_TIMEOUT_S = 10.0


def provider_http_client() -> httpx.AsyncClient:
    """An HTTP client for calls to identity providers (no redirects followed, bounded time)."""
    return httpx.AsyncClient(timeout=PROVIDER_TIMEOUT_S, follow_redirects=False)


class Runtime:
    """Opens the engine, runs the start checks, builds the :class:`~vault.services.Services` once; runs the jobs."""

    def __init__(self, settings: Settings, keys: Keys) -> None:
        self.settings = settings
        self.keys = keys
        self._engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None
        self._services: Services | None = None
        #: Replaces Argon2 when set before :meth:`open` (tests).
        self.hasher: PasswordHasher | None = None
        #: Makes the HTTP client for identity providers (tests put an in-process provider here).
        self.http_client: Callable[[], httpx.AsyncClient] = provider_http_client
        self._starting: asyncio.Task[None] | None = None
        self._integrator: asyncio.Task[None] | None = None
        self._retention: asyncio.Task[None] | None = None
        self._purging: asyncio.Task[None] | None = None
        self._expiry: asyncio.Task[None] | None = None

    @property
    def engine(self) -> AsyncEngine:
        """The database engine (only between :meth:`open` and :meth:`close`)."""
        if self._engine is None:
            raise RuntimeError("runtime is not open")
        return self._engine

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        """Session factory for the engine."""
        if self._sessions is None:
            raise RuntimeError("runtime is not open")
        return self._sessions

    @property
    def started(self) -> bool:
        """Whether the start checks passed and the services are built."""
        return self._services is not None

    @property
    def services(self) -> Services:
        """The services; :class:`~vault.transparency.log.LogUnavailable` (503) until the start checks passed."""
        if self._services is None:
            raise LogUnavailable("vault not ready")
        return self._services

    async def open(self, *, integrate: bool = True) -> None:
        """Create the engine and try the start checks; a wrong root key stops the start.

        With ``integrate``, a database not reachable yet is tried again in the background until the
        checks pass, and the background jobs (log integration, purge, expiry, retention) run.
        """
        self._engine = create_engine(self.settings)
        self._sessions = session_factory(self._engine)
        await self._start()
        if integrate:
            if not self.started:
                self._starting = asyncio.create_task(self._start_when_reachable(), name="start-checks")
            if self.settings.log_integrator:
                self._integrator = asyncio.create_task(self._integrate_forever(), name="log-integrator")
                self._purging = asyncio.create_task(self._every(PURGE_INTERVAL_S, self._purge, "purge"), name="purge")
                self._expiry = asyncio.create_task(
                    self._every(EXPIRY_INTERVAL_S, self._expire, "grant expiry"), name="grant-expiry"
                )
                if self.settings.log_retention_days:
                    self._retention = asyncio.create_task(
                        self._every(RETENTION_INTERVAL_S, self._retain, "retention"), name="log-retention"
                    )
        log.info("vault started", ready=self.started)

    async def close(self) -> None:
        """Stop the background tasks and dispose of the engine's connections."""
        for task in (self._starting, self._purging, self._retention, self._expiry):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._integrator is not None:
            self._integrator.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._integrator
        if self._engine is not None:
            await self._engine.dispose()
        log.info("vault stopped")

    async def ready(self) -> bool:
        """Whether the services are built and the database answers now (reports only, builds nothing)."""
        if not self.started:
            return False
        try:
            async with asyncio.timeout(READY_CHECK_TIMEOUT_S):
                await ping(self.engine)
        except Exception as exc:  # noqa: BLE001  a driver or network error means "not ready", never a crash
            log.warning("not ready", reason=type(exc).__name__)
            return False
        return True

    async def _start(self) -> None:
        """The start checks: the database answers, the root key matches; then build the services once.

        Raises:
            RootKeyError: The root key is not the one the database was created with.
        """
        try:
            async with asyncio.timeout(READY_CHECK_TIMEOUT_S):
                await ping(self.engine)
            # A database that answers gets longer for the checks and the build (a few writes on first
            # start, a token's unwraps): a loaded host must not leave a process that never starts.
            async with asyncio.timeout(START_CHECK_TIMEOUT_S):
                await check_root_key(self.engine, self.keys.root)
                self._services = await build_services(
                    self.settings,
                    self.keys,
                    self.engine,
                    self.sessions,
                    hasher=self.hasher,
                    http_client=lambda: self.http_client(),
                )
        except RootKeyError:
            raise
        except SchemaNotReady as exc:
            log.warning("not ready", reason=str(exc))
        except Exception as exc:  # noqa: BLE001  a driver or network error means "not ready", never a crash
            log.warning("not ready", reason=type(exc).__name__)

    async def _start_when_reachable(self) -> None:
        """Try the start checks every ``INTEGRATION_INTERVAL_S`` until they pass (a database that comes up later)."""
        while not self.started:
            await asyncio.sleep(INTEGRATION_INTERVAL_S)
            try:
                await self._start()
            except RootKeyError as exc:
                log.error("start checks failed", error_type=type(exc).__name__, exc_info=exc)

    async def _every(self, seconds: float, job: Callable[[], Awaitable[None]], what: str) -> None:
        """Run ``job`` now and then every ``seconds`` (every minute until the start-up checks passed).

        A failure is logged and the next round tries again; only cancellation ends the loop.
        """
        while True:
            try:
                if self.started:
                    await job()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error(f"{what} failed", error_type=type(exc).__name__, exc_info=exc)
            await asyncio.sleep(seconds if self.started else 60)

    async def _retain(self) -> None:
        """Apply the log's retention period (docs/audit.md)."""
        before = retention.cutoff(self.settings.log_retention_days)
        assert before is not None
        result = await retention.prune(self.sessions, before)
        refusals = await prune_refusals(self.sessions, before)
        looked = await self.services.auditors.activity.prune(before)
        if result.pruned or refusals or looked:
            log.info("retention applied", pruned=result.pruned, refusals_deleted=refusals, activity_deleted=looked)

    async def _purge(self) -> None:
        """Delete expired rows (:mod:`vault.purge`)."""
        deleted = await purge_expired(self.sessions)
        if any(deleted.values()):
            log.info("expired rows deleted", **deleted)

    async def _expire(self) -> None:
        """Store the expiry of grants whose time is up, with their ``expire`` entries (a backlog batch after batch)."""
        while await self.services.grants.expire_due() >= EXPIRE_BATCH:
            continue

    async def _integrate_forever(self) -> None:
        """Integrate pending log entries every ``INTEGRATION_INTERVAL_S`` (at once while a backlog lasts).

        With witnesses configured (``VAULT_WITNESSES``) each new checkpoint waits for them; one
        witnessing pass at a time runs beside the loop, so a slow or dead witness never slows
        integration — it only delays publication, by at most ``VAULT_WITNESS_TIMEOUT``.
        """
        witnesses = parse_witnesses(self.settings.witnesses)
        witnessing: Witnessing | None = None
        witness_pass: asyncio.Task[None] | None = None

        async def witness_once(witnessing: Witnessing) -> None:
            try:
                await witnessing.publish(self.engine)
            except Exception as exc:
                log.error("log witnessing failed", error_type=type(exc).__name__, exc_info=exc)

        try:
            while True:
                busy = False
                try:
                    if self._services is not None:
                        result = await self._services.log.integrate(self.engine, publish=not witnesses)
                        busy = result is not None and result.integrated >= DEFAULT_BATCH
                        if witnesses and (witness_pass is None or witness_pass.done()):
                            witnessing = witnessing or Witnessing(
                                self._services.log, witnesses, timeout=self.settings.witness_timeout
                            )
                            witness_pass = asyncio.create_task(witness_once(witnessing), name="log-witnessing")
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.error("log integration failed", error_type=type(exc).__name__, exc_info=exc)
                if not busy:
                    await asyncio.sleep(INTEGRATION_INTERVAL_S)
        finally:
            if witness_pass is not None:
                witness_pass.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await witness_pass
            if witnessing is not None:
                await witnessing.aclose()
