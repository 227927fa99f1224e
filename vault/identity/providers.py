"""The registry of upstream identity providers (OIDC or SAML) the vault is a relying party of.

Each provider's secret (a client secret, or the PEM private key the vault signs its
``private_key_jwt`` client assertions or SAML AuthnRequests with) is stored sealed by
:class:`vault.crypto.idp.ProviderSecrets` under the ``idp-secrets`` service secret, with the provider id as
associated data: a sealed secret copied to another provider's row does not open. Only
:meth:`Providers.secret` unseals it, and ``vault idp list`` never prints it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update

from vault.citizens.attributes import BUILTIN_ATTRIBUTES
from vault.identity.binding import refresh_levels_of_provider
from vault.identity.tables import IdentityLink, IdentityProvider

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from vault.crypto.idp import ClientKey, ProviderSecrets, SamlKey

#: Assurance levels, lowest first (eIDAS: low/"basic", substantial, high).
LEVELS = ("basic", "substantial", "high")
KINDS = ("oidc", "saml")
AUTH_METHODS = ("private_key_jwt", "client_secret_basic", "client_secret_post", "saml")


def level_rank(level: str) -> int:
    """Position of ``level`` in :data:`LEVELS` (``basic`` is 0); unknown levels rank below ``basic``."""
    return LEVELS.index(level) if level in LEVELS else -1


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """One registered provider, as the relying-party code needs it (the secret still sealed)."""

    id: str
    name: str
    kind: str  # "oidc" | "saml"
    issuer: str
    client_id: str
    auth_method: str
    acr_map: dict[str, str]  # provider acr URI / AuthnContextClassRef -> "basic" | "substantial" | "high"
    claims_map: dict[str, str]  # provider claim / SAML attribute name -> vault attribute name
    metadata_doc: str  # discovery JSON (OIDC) or IdP metadata XML (SAML), as checked at `add`
    secret_sealed: bytes
    created_at: datetime
    disabled: bool


class ProviderInvalid(ValueError):
    """A provider registration was refused; ``field`` names what is wrong (the CLI exits 2)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _pairs(text: str, field: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for item in text.split(","):
        key, eq, value = item.strip().rpartition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key or not value:
            raise ProviderInvalid(field, f"{item.strip()!r} is not KEY=VALUE")
        if len(key) > 500 or any(ord(c) < 0x21 for c in key):
            raise ProviderInvalid(field, f"{key[:40]!r} is not a valid name")
        if key in dict(pairs):
            raise ProviderInvalid(field, f"{key!r} appears twice")
        pairs.append((key, value))
    return pairs


def parse_acr_map(text: str) -> dict[str, str]:
    """Parse ``'URI=high,URI=substantial'`` into ``{URI: level}``.

    Raises:
        ProviderInvalid: (field ``acr-map``) empty, not ``KEY=VALUE``, a duplicate URI, or a level
            other than ``basic``, ``substantial``, ``high``.
    """
    if not text or not text.strip():
        raise ProviderInvalid("acr-map", "must name at least one acr value and its level")
    pairs = _pairs(text, "acr-map")
    for uri, level in pairs:
        if level not in LEVELS:
            raise ProviderInvalid("acr-map", f"{uri!r}: unknown level {level!r} (basic, substantial or high)")
    return dict(pairs)


def parse_claims_map(text: str | None, default: Mapping[str, str]) -> dict[str, str]:
    """Parse ``'claim=attribute,…'``; ``None`` or blank gives a copy of ``default``.

    Raises:
        ProviderInvalid: (field ``claims-map``) not ``KEY=VALUE``, a duplicate claim, or an attribute
            that is not a built-in vault attribute.
    """
    if text is None or not text.strip():
        return dict(default)
    pairs = _pairs(text, "claims-map")
    for claim, attribute in pairs:
        if attribute not in BUILTIN_ATTRIBUTES:
            raise ProviderInvalid("claims-map", f"{claim!r}: {attribute!r} is not a vault attribute")
    return dict(pairs)


def _check_text(field: str, value: str, limit: int) -> None:
    if not value or len(value) > limit or any(ord(c) < 0x20 for c in value):
        raise ProviderInvalid(field, f"must be 1 to {limit} printable characters")


def _config(row: IdentityProvider) -> ProviderConfig:
    return ProviderConfig(
        id=row.id,
        name=row.name,
        kind=row.kind,
        issuer=row.issuer,
        client_id=row.client_id,
        auth_method=row.auth_method,
        acr_map=json.loads(row.acr_map),
        claims_map=json.loads(row.claims_map),
        metadata_doc=row.metadata_doc,
        secret_sealed=bytes(row.secret_sealed),
        created_at=row.created_at,
        disabled=row.disabled_at is not None,
    )


async def _refuse_twin(db: AsyncSession, kind: str, issuer: str, client_id: str, provider_id: str) -> None:
    """Refuse a second enabled provider for the same issuer (OIDC issuer or SAML IdP entity id).

    Subjects are bound per provider, so a twin (even under another client id) would let the same
    person make a second account.
    """
    del client_id  # the issuer alone decides: see above
    query = select(IdentityProvider.id).where(
        IdentityProvider.kind == kind,
        IdentityProvider.issuer == issuer,
        IdentityProvider.disabled_at.is_(None),
        IdentityProvider.id != provider_id,
    )
    twin = await db.scalar(query)
    if twin is not None:
        raise ProviderInvalid("issuer", f"already registered as provider {twin} (vault idp list)")


class Providers:
    """Add, read and disable identity providers; seal and unseal their secrets."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], secrets: ProviderSecrets) -> None:
        self.sessions = sessions
        self._secrets = secrets

    async def add(
        self,
        *,
        name: str,
        kind: str,
        issuer: str,
        client_id: str,
        auth_method: str,
        secret: bytes,
        acr_map: Mapping[str, str],
        claims_map: Mapping[str, str],
        metadata_doc: str,
        provider_id: str | None = None,
    ) -> str:
        """Store a provider (its ``secret`` sealed); returns its id.

        Raises:
            ProviderInvalid: a field is empty, too long or not one of the known values.
        """
        _check_text("name", name, 100)
        _check_text("issuer", issuer, 500)
        _check_text("client-id", client_id, 500)
        if kind not in KINDS:
            raise ProviderInvalid("kind", f"must be one of {', '.join(KINDS)}")
        if auth_method not in AUTH_METHODS:
            raise ProviderInvalid("auth_method", f"must be one of {', '.join(AUTH_METHODS)}")
        if not acr_map or any(level not in LEVELS for level in acr_map.values()):
            raise ProviderInvalid("acr-map", "must map at least one value, each to basic, substantial or high")
        if any(attribute not in BUILTIN_ATTRIBUTES for attribute in claims_map.values()):
            raise ProviderInvalid("claims-map", "every value must be a vault attribute")
        provider_id = provider_id or str(uuid.uuid4())
        _check_text("id", provider_id, 36)
        sealed = self._secrets.seal(provider_id, secret)
        async with self.sessions.begin() as db:
            if await db.get(IdentityProvider, provider_id) is not None:
                raise ProviderInvalid("id", f"a provider {provider_id!r} exists already")
            await _refuse_twin(db, kind, issuer, client_id, provider_id)
            db.add(
                IdentityProvider(
                    id=provider_id,
                    name=name,
                    kind=kind,
                    issuer=issuer,
                    client_id=client_id,
                    auth_method=auth_method,
                    secret_sealed=sealed,
                    acr_map=json.dumps(dict(acr_map)),
                    claims_map=json.dumps(dict(claims_map)),
                    metadata_doc=metadata_doc,
                    created_at=datetime.now(UTC),
                )
            )
        return provider_id

    async def get(self, provider_id: str, *, enabled_only: bool = True) -> ProviderConfig | None:
        """The provider ``provider_id``; ``None`` if unknown (or disabled, unless ``enabled_only`` is false)."""
        if not provider_id or len(provider_id) > 36:
            return None
        async with self.sessions() as db:
            row = await db.get(IdentityProvider, provider_id)
        if row is None or (enabled_only and row.disabled_at is not None):
            return None
        return _config(row)

    async def enabled(self) -> list[ProviderConfig]:
        """The enabled providers, by name (for /login's buttons)."""
        return [p for p in await self.all() if not p.disabled]

    async def all(self) -> list[ProviderConfig]:
        """Every provider, disabled ones too, by name."""
        async with self.sessions() as db:
            rows = (
                await db.scalars(select(IdentityProvider).order_by(IdentityProvider.name, IdentityProvider.id))
            ).all()
        return [_config(row) for row in rows]

    async def update(
        self,
        provider_id: str,
        *,
        auth_method: str | None = None,
        secret: bytes | None = None,
        acr_map: Mapping[str, str] | None = None,
        claims_map: Mapping[str, str] | None = None,
        metadata_doc: str | None = None,
    ) -> bool:
        """Change a provider in place: same id, so every account stays linked. ``False`` if unknown.

        Raises:
            ProviderInvalid: a value is not one of the known ones (as for :meth:`add`).
        """
        if auth_method is not None and auth_method not in AUTH_METHODS:
            raise ProviderInvalid("auth_method", f"must be one of {', '.join(AUTH_METHODS)}")
        if acr_map is not None and (not acr_map or any(level not in LEVELS for level in acr_map.values())):
            raise ProviderInvalid("acr-map", "must map at least one value, each to basic, substantial or high")
        if claims_map is not None and any(attribute not in BUILTIN_ATTRIBUTES for attribute in claims_map.values()):
            raise ProviderInvalid("claims-map", "every value must be a vault attribute")
        async with self.sessions.begin() as db:
            row = await db.get(IdentityProvider, provider_id, with_for_update=True)
            if row is None:
                return False
            if auth_method is not None:
                row.auth_method = auth_method
            if secret is not None:
                row.secret_sealed = self._secrets.seal(provider_id, secret)
            if acr_map is not None:
                row.acr_map = json.dumps(dict(acr_map))
            if claims_map is not None:
                row.claims_map = json.dumps(dict(claims_map))
            if metadata_doc is not None:
                row.metadata_doc = metadata_doc
        return True

    async def enable(self, provider_id: str) -> bool:
        """Enable a disabled provider again; its links count again at once. ``False`` if unknown or enabled.

        Raises:
            ProviderInvalid: another enabled provider has the same issuer (and client id).
        """
        async with self.sessions.begin() as db:
            row = await db.get(IdentityProvider, provider_id)
            if row is None or row.disabled_at is None:
                return False
            await _refuse_twin(db, row.kind, row.issuer, row.client_id, provider_id)
            row.disabled_at = None
            await db.flush()
            await refresh_levels_of_provider(db, provider_id)
        return True

    async def linked_accounts(self) -> dict[str, int]:
        """Provider id → how many accounts are linked to it (what a disable would affect)."""
        async with self.sessions() as db:
            rows = await db.execute(select(IdentityLink.provider_id, func.count()).group_by(IdentityLink.provider_id))
            return {provider_id: int(count) for provider_id, count in rows}

    async def disable(self, provider_id: str) -> bool:
        """Disable a provider: no new sign-ins through it. ``False`` if unknown or already disabled.

        Its links stop counting at once, in the same transaction: the identity level of every account
        linked to it is recomputed from its other links (:mod:`vault.identity.binding`).
        """
        async with self.sessions.begin() as db:
            result = await db.execute(
                update(IdentityProvider)
                .where(IdentityProvider.id == provider_id, IdentityProvider.disabled_at.is_(None))
                .values(disabled_at=datetime.now(UTC))
            )
            if getattr(result, "rowcount", 0):
                await refresh_levels_of_provider(db, provider_id)
        return bool(getattr(result, "rowcount", 0))

    def secret(self, provider: ProviderConfig) -> bytes:
        """The provider's secret, unsealed (raises :class:`vault.crypto.aead.InvalidCiphertext` if tampered)."""
        return self._secrets.open(provider.id, provider.secret_sealed)

    def client_key(self, provider: ProviderConfig) -> ClientKey:
        """The vault's ``private_key_jwt`` key at ``provider`` (``InvalidCiphertext``; ``ValueError`` if unusable)."""
        return self._secrets.client_key(provider.id, provider.secret_sealed)

    def saml_key(self, provider: ProviderConfig) -> SamlKey:
        """The vault's SP key at SAML ``provider`` (``InvalidCiphertext``; ``ValueError`` if malformed)."""
        return self._secrets.saml_key(provider.id, provider.secret_sealed)

    def saml_certificate(self, provider: ProviderConfig) -> bytes:
        """The PEM certificate of the vault's SP key at SAML ``provider``."""
        return self._secrets.saml_certificate(provider.id, provider.secret_sealed)
