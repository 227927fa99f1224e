"""Root key (KEK) providers.

The root key wraps every citizen's data key; it never encrypts data itself. A provider hands out the
current key version and its bytes. Implement :class:`RootKeyProvider` for an HSM or KMS: such a
provider would keep the key inside the device and expose ``wrap``/``unwrap`` instead of bytes, which
the per-citizen key code will accept once it exists (see docs/crypto.md).

A wrong key is caught by a key check value stored in the database on first start
(:func:`key_check_value`); the service refuses to start rather than write data under a new key.
"""

from __future__ import annotations

import abc
import hashlib
import hmac
from typing import TYPE_CHECKING

from vault.config import decode_root_key, env_name
from vault.crypto.keyfiles import KeyFileError, create_key_file, read_key_file

if TYPE_CHECKING:
    from pathlib import Path

ROOT_KEY_BYTES = 32
_CHECK_LABEL = b"vault/root-key-check/v1"


class RootKeyError(Exception):
    """The root key is missing, malformed or not the one this database was created with."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting


class RootKeyProvider(abc.ABC):
    """Where the root key comes from."""

    version: int = 1

    @abc.abstractmethod
    def key(self) -> bytes:
        """The current root key (32 bytes)."""

    @property
    @abc.abstractmethod
    def setting(self) -> str:
        """The setting that names this key, for error messages."""


class EnvRootKey(RootKeyProvider):
    """The key given as base64 in ``VAULT_ROOT_KEY`` (wins over the file)."""

    def __init__(self, value: str) -> None:
        self._key = decode_root_key(value, env_name("root_key"))

    def key(self) -> bytes:  # noqa: D102
        return self._key

    @property
    def setting(self) -> str:  # noqa: D102
        return env_name("root_key")


class FileRootKey(RootKeyProvider):
    """The key in a file (default ``<data dir>/root.key``), generated with mode 0600 on first start."""

    def __init__(self, path: Path, *, create: bool) -> None:
        try:
            if create:
                self._key = create_key_file(path, ROOT_KEY_BYTES)
            else:
                self._key = read_key_file(path, ROOT_KEY_BYTES)
        except KeyFileError as exc:
            raise RootKeyError(env_name("root_key_file"), str(exc)) from None

    def key(self) -> bytes:  # noqa: D102
        return self._key

    @property
    def setting(self) -> str:  # noqa: D102
        return env_name("root_key_file")


def key_check_value(key: bytes) -> bytes:
    """A 32-byte value that identifies ``key`` without revealing it (HMAC-SHA-256 of a fixed label)."""
    return hmac.new(key, _CHECK_LABEL, hashlib.sha256).digest()


def matches(key: bytes, stored_check: bytes) -> bool:
    """Whether ``key`` is the key whose check value was stored."""
    return hmac.compare_digest(key_check_value(key), stored_check)
