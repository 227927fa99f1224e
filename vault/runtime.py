"""The running vault's resources: settings, keys, database engine; readiness.

One :class:`Runtime` per process, created by :func:`vault.app.create_app` and opened and closed with
the app's lifespan. Readiness means: the database answers and the root key matched its check value.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from typing import TYPE_CHECKING

import httpx
import structlog

from vault.audit.auditors import Auditors, prune_refusals
from vault.audit.queries import AuditQueries
from vault.bootstrap import SchemaNotReady, check_root_key
from vault.citizens.accounts import AccountService
from vault.citizens.passkeys import PasskeyService
from vault.citizens.sessions import SessionService
from vault.citizens.throttle import Throttle
from vault.citizens.vault import CitizenVault
from vault.config import parse_witnesses
from vault.consent.catalogue import Catalogue
from vault.consent.grants import EXPIRE_BATCH, Grants
from vault.consent.nonces import DpopNonces
from vault.consent.reads import DataReads
from vault.consent.server import AuthorizationServer
from vault.crypto.kek import RootKeyError
from vault.crypto.keyring import Keyring
from vault.crypto.passwords import PasswordHasher
from vault.db.engine import create_engine, forget_erased, ping, read_session_factory, session_factory
from vault.identity.binding import IdentityBinding
from vault.identity.oidc_client import OidcClient
from vault.identity.providers import Providers
from vault.identity.requests import IdentityRequests
from vault.purge import purge_expired
from vault.transparency import retention
from vault.transparency.log import DEFAULT_BATCH, TransparencyLog
from vault.transparency.witnessing import Witnessing

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from vault.bootstrap import Keys
    from vault.config import Settings
    from vault.identity.saml import SamlClient

log = structlog.get_logger("vault.runtime")

READY_CHECK_TIMEOUT_S = 2.0
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
    """Holds what request handlers and background tasks share."""

    def __init__(self, settings: Settings, keys: Keys) -> None:
        self.settings = settings
        self.keys = keys
        self._engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None
        self.keys_checked = False
        self.log: TransparencyLog | None = None
        self.vault: CitizenVault | None = None
        self.accounts: AccountService | None = None
        self.hasher: PasswordHasher | None = None
        self.session_service: SessionService | None = None
        self.throttle: Throttle | None = None
        self.passkeys: PasskeyService | None = None
        self.catalogue: Catalogue | None = None
        self.grants: Grants | None = None
        self.oauth: AuthorizationServer | None = None
        self.data_reads: DataReads | None = None
        self.audit: AuditQueries | None = None
        self.auditors: Auditors | None = None
        self.providers: Providers | None = None
        self.identity_requests: IdentityRequests | None = None
        self.oidc: OidcClient | None = None
        self._saml: SamlClient | None = None
        self.binding: IdentityBinding | None = None
        #: Makes the HTTP client for identity providers (tests put an in-process provider here).
        self.http_client: Callable[[], httpx.AsyncClient] = provider_http_client
        self.receipt_signer = keys.consent_signing
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

    async def open(self, *, integrate: bool = True) -> None:
        """Create the engine and try the start-up checks once; a wrong root key stops the start."""
        self._engine = create_engine(self.settings)
        self._sessions = session_factory(self._engine)
        await self.ready()
        if integrate and self.settings.log_integrator:
            self._integrator = asyncio.create_task(self._integrate_forever(), name="log-integrator")
            self._purging = asyncio.create_task(self._every(PURGE_INTERVAL_S, self._purge, "purge"), name="purge")
            self._expiry = asyncio.create_task(
                self._every(EXPIRY_INTERVAL_S, self._expire, "grant expiry"), name="grant-expiry"
            )
            if self.settings.log_retention_days:
                self._retention = asyncio.create_task(
                    self._every(RETENTION_INTERVAL_S, self._retain, "retention"), name="log-retention"
                )
        log.info("vault started", ready=self.keys_checked)

    async def close(self) -> None:
        """Stop the background tasks and dispose of the engine's connections."""
        for task in (self._purging, self._retention, self._expiry):
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
        """Whether the database answers now and the root key has been checked against it."""
        try:
            async with asyncio.timeout(READY_CHECK_TIMEOUT_S):
                await ping(self.engine)
                if not self.keys_checked:
                    await check_root_key(self.engine, self.keys.root)
                    keyring = await Keyring.open(self.engine, self.keys.root, dpop_nonces=self.settings.dpop_nonces)
                    self.log = TransparencyLog(
                        self.settings.log_origin,
                        self.keys.log_signing,
                        keyring.pseudonymizer,
                        self.settings.data_dir / "log-head.json",
                    )
                    self.vault = CitizenVault(
                        self.sessions,
                        self.keys.root,
                        self.log,
                        max_document_bytes=self.settings.max_document_bytes,
                        reads=read_session_factory(self.engine),
                        after_delete=functools.partial(forget_erased, self.engine),
                    )
                    if self.hasher is None:
                        self.hasher = PasswordHasher(max_concurrent=self.settings.password_concurrency)
                    assert self.settings.erasure_journal is not None
                    self.accounts = AccountService(
                        self.vault,
                        self.hasher,
                        keyring.login_lookup,
                        self.settings.erasure_journal,
                        after_erase=functools.partial(forget_erased, self.engine),
                    )
                    self.session_service = SessionService(self.sessions)
                    self.throttle = Throttle(self.sessions, read_session_factory(self.engine))
                    self.passkeys = PasskeyService(self.sessions, self.settings.issuer)
                    self.catalogue = Catalogue(self.sessions)
                    self.grants = Grants(self.sessions, self.log, self.receipt_signer)
                    self.oauth = AuthorizationServer(
                        self.sessions,
                        self.catalogue,
                        self.grants,
                        self.log,
                        self.settings.issuer,
                        reads=read_session_factory(self.engine),
                        nonces=DpopNonces(keyring.nonce_mac) if keyring.nonce_mac is not None else None,
                    )
                    self.data_reads = DataReads(self.sessions, self.vault)
                    self.audit = AuditQueries(read_session_factory(self.engine), self.log)
                    self.auditors = Auditors(self.sessions)
                    await self._open_identity(keyring)
                    self.keys_checked = True
        except RootKeyError:
            raise
        except SchemaNotReady as exc:
            log.warning("not ready", reason=str(exc))
            return False
        except Exception as exc:  # noqa: BLE001  a driver or network error means "not ready", never a crash
            log.warning("not ready", reason=type(exc).__name__)
            return False
        return True

    async def _open_identity(self, keyring: Keyring) -> None:
        """Identity providers, the sign-ins started at them, and the accounts bound to them."""
        assert self.vault is not None
        assert self.accounts is not None
        self.providers = Providers(self.sessions, keyring.provider_secrets)
        self.identity_requests = IdentityRequests(self.sessions)
        issuer = self.settings.issuer
        self.oidc = OidcClient(self.providers, self.identity_requests, issuer, lambda: self.http_client())
        self.binding = IdentityBinding(self.vault, self.accounts, keyring.subject_hasher)

    @property
    def saml(self) -> SamlClient | None:
        """The SAML service provider, built on first use.

        pysaml2 takes half a second to import (its XML schemas), which every ``vault`` command and
        worker start would otherwise pay for nothing.
        """
        if self._saml is None and self.providers is not None and self.identity_requests is not None:
            from vault.identity.saml import SamlClient

            self._saml = SamlClient(self.providers, self.identity_requests, self.sessions, self.settings.issuer)
        return self._saml

    async def _every(self, seconds: float, job: Callable[[], Awaitable[None]], what: str) -> None:
        """Run ``job`` now and then every ``seconds`` (every minute until the start-up checks passed).

        A failure is logged and the next round tries again; only cancellation ends the loop.
        """
        while True:
            try:
                if self.keys_checked:
                    await job()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error(f"{what} failed", error_type=type(exc).__name__, exc_info=exc)
            await asyncio.sleep(seconds if self.keys_checked else 60)

    async def _retain(self) -> None:
        """Apply the log's retention period (docs/audit.md)."""
        before = retention.cutoff(self.settings.log_retention_days)
        assert before is not None
        assert self.auditors is not None
        result = await retention.prune(self.sessions, before)
        refusals = await prune_refusals(self.sessions, before)
        looked = await self.auditors.activity.prune(before)
        if result.pruned or refusals or looked:
            log.info("retention applied", pruned=result.pruned, refusals_deleted=refusals, activity_deleted=looked)

    async def _purge(self) -> None:
        """Delete expired rows (:mod:`vault.purge`)."""
        deleted = await purge_expired(self.sessions)
        if any(deleted.values()):
            log.info("expired rows deleted", **deleted)

    async def _expire(self) -> None:
        """Store the expiry of grants whose time is up, with their ``expire`` entries (a backlog batch after batch)."""
        if self.grants is not None:
            while await self.grants.expire_due() >= EXPIRE_BATCH:
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
                    if self.log is None:
                        await self.ready()
                    else:
                        result = await self.log.integrate(self.engine, publish=not witnesses)
                        busy = result is not None and result.integrated >= DEFAULT_BATCH
                        if witnesses and (witness_pass is None or witness_pass.done()):
                            witnessing = witnessing or Witnessing(
                                self.log, witnesses, timeout=self.settings.witness_timeout
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
