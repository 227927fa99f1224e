"""First start and every start: data dir, key files, and the root key check against the database.

These are the checks :mod:`vault.config` cannot do without touching the disk or the database. Each
failure names the setting responsible so ``vault`` can print one line and exit with status 2.
"""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from vault.config import ConfigError, env_name
from vault.crypto.kek import RootKeyError
from vault.crypto.rootkey import EnvRootKey, FileRootKey, RootKeyChain
from vault.crypto.signing import load_log_signer, load_receipt_signer
from vault.crypto.tables import CitizenKey, RootKeyVersion, WrappedSecret, record_root_versions
from vault.db.engine import writer

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from vault.config import Settings
    from vault.crypto.kek import KeyEncryptionKey
    from vault.crypto.signers import NoteSigner, ReceiptSigner


class SchemaNotReady(Exception):
    """The database has no vault schema yet (run ``vault db upgrade``)."""


@dataclass(frozen=True, slots=True)
class Keys:
    """The keys a running vault holds, each as a capability: the root key and two signers."""

    root: KeyEncryptionKey
    log_signing: NoteSigner
    consent_signing: ReceiptSigner


def prepare_data_dir(settings: Settings) -> None:
    """Create the data dir with mode 0700 if missing and prove it is writable."""
    path = settings.data_dir
    setting = env_name("data_dir")
    try:
        if not path.exists():
            path.mkdir(mode=0o700, parents=True)
            os.chmod(path, 0o700)
        if not path.is_dir():
            raise ConfigError(setting, f"{path} is not a directory")
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except PermissionError:
        raise ConfigError(setting, f"{path} is not writable") from None
    except OSError as exc:
        raise ConfigError(setting, f"{path}: {exc.strerror or exc}") from None
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        os.chmod(path, 0o700)


def load_keys(settings: Settings, *, create: bool = True) -> Keys:
    """Load (on first start: create) the root key and the signing keys."""
    assert settings.log_key_file is not None
    assert settings.consent_key_file is not None
    if settings.log_key_pkcs11 is not None:
        from vault.crypto.signing import load_pkcs11_log_signer

        log_signing = load_pkcs11_log_signer(settings)
    else:
        log_signing = load_log_signer(settings.log_key_file, settings.log_origin, create=create)
    return Keys(
        root=load_root_key(settings, create=create),
        log_signing=log_signing,
        consent_signing=load_receipt_signer(settings.consent_key_file, settings.issuer, create=create),
    )


def load_root_key(settings: Settings, *, create: bool = True) -> KeyEncryptionKey:
    """The root key: ``VAULT_ROOT_KEY``, else the key file (created on first start), else or beside them a token.

    With ``VAULT_ROOT_KEY_PKCS11`` the token key is one version; ``VAULT_ROOT_KEY`` or an existing key
    file (never created then) add theirs, in a :class:`RootKeyChain`, while a rotation moves between them.
    """
    software: KeyEncryptionKey | None = None
    assert settings.root_key_file is not None
    if settings.root_key is not None:
        software = EnvRootKey(settings.root_key)
    elif settings.root_key_pkcs11 is None or settings.root_key_file.exists():
        software = FileRootKey(settings.root_key_file, create=create and settings.root_key_pkcs11 is None)
    if settings.root_key_pkcs11 is None:
        assert software is not None
        return software
    from vault.crypto.pkcs11 import Pkcs11RootKey, parse_setting, read_pin

    assert settings.pkcs11_pin_file is not None
    token = Pkcs11RootKey(parse_setting(settings.root_key_pkcs11), read_pin(settings.pkcs11_pin_file), wait=True)
    return token if software is None else RootKeyChain([token, software])


def prepare(settings: Settings) -> Keys:
    """Everything a start needs before the database: the data dir and the keys."""
    prepare_data_dir(settings)
    return load_keys(settings)


async def check_root_key(engine: AsyncEngine, root: KeyEncryptionKey) -> None:
    """Record check values on first start; refuse a different key, or a missing version, afterwards.

    Every version the provider holds must be known to the database with a matching check value,
    and every version the database still uses (not retired) must be in the provider. A version new
    to the database is only accepted on the very first start; rotations record theirs themselves.
    """
    try:
        async with writer(engine).begin() as conn:
            rows = (
                await conn.execute(
                    select(RootKeyVersion.version, RootKeyVersion.check_value, RootKeyVersion.retired_at)
                )
            ).all()
            if not rows:
                await record_root_versions(conn, root, root.versions())
                return
    except (OperationalError, ProgrammingError) as exc:
        if _is_missing_table(exc):
            raise SchemaNotReady("the database has no vault schema; run `vault db upgrade`") from None
        raise
    stored = {r.version: r for r in rows}
    for version in root.versions():
        row = stored.get(version)
        if row is None:
            raise RootKeyError(
                root.setting,
                f"root key version {version} is unknown to this database; "
                "finish the rotation with `vault keys rotate-root`",
            )
        if not root.check(version, bytes(row.check_value)):
            hint = ""
            if root.created:
                hint = " (the key file was missing and a new key was generated: restore the original from backup)"
            raise RootKeyError(root.setting, "is not the root key this database was created with" + hint)
    for version, row in stored.items():
        if row.retired_at is None and version not in root.versions():
            raise RootKeyError(root.setting, f"root key version {version} is still in use but missing")
    await _check_versions_in_use(engine, root)


async def _check_versions_in_use(engine: AsyncEngine, root: KeyEncryptionKey) -> None:
    """Refuse to start if any stored key is wrapped under a version the provider does not hold."""
    async with engine.connect() as conn:
        used = set(
            (
                await conn.execute(select(CitizenKey.root_version).where(CitizenKey.wrapped.is_not(None)).distinct())
            ).scalars()
        )
        used |= set((await conn.execute(select(WrappedSecret.root_version).distinct())).scalars())
    missing = sorted(used - set(root.versions()))
    if missing:
        raise RootKeyError(root.setting, f"keys are wrapped under root key version(s) {missing}, which it lacks")


def _is_missing_table(exc: DBAPIError) -> bool:
    text = str(exc.orig).lower()
    return "no such table" in text or "does not exist" in text
