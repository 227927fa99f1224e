"""The root key as a capability: a key-encryption key (KEK) that wraps and unwraps, and never hands out its bytes.

Every provider — the key file, ``VAULT_ROOT_KEY``, a PKCS#11 token — implements
:class:`KeyEncryptionKey`. A provider holds one or more numbered versions; the highest is current
(new wraps use it), older ones exist only while ``vault keys rotate-root`` re-wraps what they
protect. Wrapping is AES-256-KWP (RFC 5649) wherever it runs: in this process for software keys, in
the token for an HSM (``CKM_AES_KEY_WRAP_PAD``), so a wrapped key moves between providers unchanged.

A check value per version (stored in the database on first use) proves that a provider holds the key
a database was created with, without revealing it.
"""

from __future__ import annotations

import abc
import hmac


class RootKeyError(Exception):
    """The root key is missing, malformed or not the one this database was created with."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting


class RootKeyUnavailable(Exception):
    """The device that holds the root key does not answer now (a token unplugged, a KMS down): try later (503)."""


class KeyEncryptionKey(abc.ABC):
    """A versioned root key that wraps data keys and service secrets; no method returns the key itself."""

    #: True when the provider generated a new key on this start (a missing key file): a hint for errors.
    created: bool = False

    @property
    @abc.abstractmethod
    def setting(self) -> str:
        """The setting that names this key, for error messages."""

    @abc.abstractmethod
    def versions(self) -> tuple[int, ...]:
        """The version numbers this provider holds, ascending."""

    @property
    def version(self) -> int:
        """The current (highest) version."""
        return max(self.versions())

    @abc.abstractmethod
    def wrap(self, key: bytes, *, version: int | None = None) -> bytes:
        """``key`` wrapped with AES-256-KWP under ``version`` (default: current).

        Raises :class:`RootKeyError` for a version this provider lacks, :class:`RootKeyUnavailable`
        when the device does not answer.
        """

    @abc.abstractmethod
    def unwrap(self, wrapped: bytes, *, version: int) -> bytes:
        """The key inside ``wrapped``; :class:`~vault.crypto.wrap.UnwrapError` when it is not ours or was altered."""

    @abc.abstractmethod
    def check_value(self, version: int) -> bytes:
        """A value that identifies the key of ``version`` without revealing it."""

    def check(self, version: int, stored: bytes) -> bool:
        """Whether ``version`` is the key whose check value was stored."""
        return hmac.compare_digest(self.check_value(version), stored)
