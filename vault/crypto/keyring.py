"""The capabilities a running vault builds from its service secrets, opened once after the root key check.

Each service secret is unwrapped here and handed straight to the one object that uses it; no
attribute of :class:`Keyring` or of its capabilities is a key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from vault.crypto.idp import ProviderSecrets
from vault.crypto.macs import LoginLookup, NonceMac, Pseudonymizer, SubjectHasher
from vault.crypto.service_secrets import service_secret

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from vault.crypto.kek import KeyEncryptionKey


@dataclass(frozen=True, slots=True)
class Keyring:
    """One capability per service secret (``nonce_mac`` only with DPoP nonces enabled)."""

    pseudonymizer: Pseudonymizer
    login_lookup: LoginLookup
    provider_secrets: ProviderSecrets
    subject_hasher: SubjectHasher
    nonce_mac: NonceMac | None = None

    @classmethod
    async def open(cls, engine: AsyncEngine, root: KeyEncryptionKey, *, dpop_nonces: bool = False) -> Keyring:
        """Unwrap (on first use: create) the service secrets; call after the root key check passed."""
        pseudonymizer = Pseudonymizer(await service_secret(engine, root, "log-pseudonym"))
        login_lookup = LoginLookup(await service_secret(engine, root, "login-lookup"))
        nonce_mac = NonceMac(await service_secret(engine, root, "dpop-nonce")) if dpop_nonces else None
        provider_secrets = ProviderSecrets(await service_secret(engine, root, "idp-secrets"))
        subject_hasher = SubjectHasher(await service_secret(engine, root, "idp-subject"))
        return cls(pseudonymizer, login_lookup, provider_secrets, subject_hasher, nonce_mac)


async def open_provider_secrets(engine: AsyncEngine, root: KeyEncryptionKey) -> ProviderSecrets:
    """Only the identity providers' secrets (``vault idp`` commands)."""
    return ProviderSecrets(await service_secret(engine, root, "idp-secrets"))
