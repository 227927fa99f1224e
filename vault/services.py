"""The vault's services, built once after the root-key check and handed to handlers by type.

:func:`build_services` is the one place that constructs them, in dependency order; the app
registers one Litestar dependency per field of :class:`Services` (:mod:`vault.api.services`),
so a handler asks for ``accounts: AccountService`` instead of looking it up.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vault.audit.auditors import Auditors
from vault.audit.queries import AuditQueries
from vault.citizens.accounts import AccountService
from vault.citizens.passkeys import PasskeyService
from vault.citizens.sessions import SessionService
from vault.citizens.throttle import Throttle
from vault.citizens.vault import CitizenVault
from vault.consent.catalogue import Catalogue
from vault.consent.grants import Grants
from vault.consent.nonces import DpopNonces
from vault.consent.reads import DataReads
from vault.consent.server import AuthorizationServer
from vault.crypto.keyring import Keyring
from vault.crypto.passwords import PasswordHasher
from vault.db.engine import forget_erased, read_session_factory
from vault.identity.binding import IdentityBinding
from vault.identity.oidc_client import OidcClient
from vault.identity.providers import Providers
from vault.identity.requests import IdentityRequests
from vault.transparency.log import TransparencyLog

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from vault.bootstrap import Keys
    from vault.config import Settings
    from vault.crypto.signers import ReceiptSigner
    from vault.identity.saml import SamlClient


@dataclass
class SamlHolder:
    """The SAML service provider, built on first use.

    pysaml2 takes half a second to import (its XML schemas), which every ``vault`` command and
    worker start would otherwise pay for nothing.
    """

    providers: Providers
    identity_requests: IdentityRequests
    sessions: async_sessionmaker[AsyncSession]
    issuer: str
    _client: SamlClient | None = field(default=None, init=False)

    @property
    def client(self) -> SamlClient:
        """The client, imported and built the first time it is asked for."""
        if self._client is None:
            from vault.identity.saml import SamlClient

            self._client = SamlClient(self.providers, self.identity_requests, self.sessions, self.issuer)
        return self._client


@dataclass(frozen=True)
class Services:
    """What request handlers and background tasks use; each field is a dependency of the same name."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    log: TransparencyLog
    vault: CitizenVault
    hasher: PasswordHasher
    accounts: AccountService
    session_service: SessionService
    throttle: Throttle
    passkeys: PasskeyService
    catalogue: Catalogue
    receipt_signer: ReceiptSigner
    grants: Grants
    oauth: AuthorizationServer
    data_reads: DataReads
    audit: AuditQueries
    auditors: Auditors
    providers: Providers
    identity_requests: IdentityRequests
    oidc: OidcClient
    binding: IdentityBinding
    saml: SamlHolder


async def build_services(
    settings: Settings,
    keys: Keys,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    *,
    hasher: PasswordHasher | None,
    http_client: Callable[[], httpx.AsyncClient],
) -> Services:
    """Build every service; call once, after :func:`~vault.bootstrap.check_root_key` passed.

    Args:
        settings: The vault's settings.
        keys: The loaded keys.
        engine: The open database engine.
        sessions: Its session factory.
        hasher: A password hasher to use instead of Argon2 with the settings' limits (tests).
        http_client: Makes the HTTP client for identity providers (called per request, so tests may swap it).

    Returns:
        The services, wired to each other.
    """
    keyring = await Keyring.open(engine, keys.root, dpop_nonces=settings.dpop_nonces)
    log = TransparencyLog(
        settings.log_origin, keys.log_signing, keyring.pseudonymizer, settings.data_dir / "log-head.json"
    )
    vault = CitizenVault(
        sessions,
        keys.root,
        log,
        max_document_bytes=settings.max_document_bytes,
        reads=read_session_factory(engine),
        after_delete=functools.partial(forget_erased, engine),
    )
    if hasher is None:
        hasher = PasswordHasher(max_concurrent=settings.password_concurrency)
    assert settings.erasure_journal is not None
    accounts = AccountService(
        vault,
        hasher,
        keyring.login_lookup,
        settings.erasure_journal,
        after_erase=functools.partial(forget_erased, engine),
    )
    session_service = SessionService(sessions)
    throttle = Throttle(sessions, read_session_factory(engine))
    passkeys = PasskeyService(sessions, settings.issuer)
    catalogue = Catalogue(sessions)
    receipt_signer = keys.consent_signing
    grants = Grants(sessions, log, receipt_signer)
    oauth = AuthorizationServer(
        sessions,
        catalogue,
        grants,
        log,
        settings.issuer,
        reads=read_session_factory(engine),
        nonces=DpopNonces(keyring.nonce_mac) if keyring.nonce_mac is not None else None,
    )
    data_reads = DataReads(sessions, vault)
    audit = AuditQueries(read_session_factory(engine), log)
    auditors = Auditors(sessions)
    # Identity providers, the sign-ins started at them, and the accounts bound to them.
    providers = Providers(sessions, keyring.provider_secrets)
    identity_requests = IdentityRequests(sessions)
    issuer = settings.issuer
    oidc = OidcClient(providers, identity_requests, issuer, http_client)
    binding = IdentityBinding(vault, accounts, keyring.subject_hasher)
    return Services(
        settings=settings,
        engine=engine,
        sessions=sessions,
        log=log,
        vault=vault,
        hasher=hasher,
        accounts=accounts,
        session_service=session_service,
        throttle=throttle,
        passkeys=passkeys,
        catalogue=catalogue,
        receipt_signer=receipt_signer,
        grants=grants,
        oauth=oauth,
        data_reads=data_reads,
        audit=audit,
        auditors=auditors,
        providers=providers,
        identity_requests=identity_requests,
        oidc=oidc,
        binding=binding,
        saml=SamlHolder(providers, identity_requests, sessions, issuer),
    )
