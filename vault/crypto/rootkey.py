"""Root key (KEK) providers, versioned.

The root key wraps every citizen's data key and the service secrets; it never encrypts data
itself. A provider holds one or more versions; the highest is current (new wraps use it), older ones
exist only while ``vault keys rotate-root`` re-wraps what they protect.

* :class:`FileRootKey` — ``<data dir>/root.key`` (``VAULT_ROOT_KEY_FILE``), mode 0600, created on
  first start. One line per version, ``<version>:<base64 of 32 bytes>``; a lone base64 line is
  version 1. The only provider that can rotate itself.
* :class:`EnvRootKey` — ``VAULT_ROOT_KEY``: base64, or ``<v>:<b64>,<v>:<b64>`` for several versions.
* :class:`~vault.crypto.pkcs11.Pkcs11RootKey` — ``VAULT_ROOT_KEY_PKCS11``: one version in a PKCS#11
  token; ``wrap``/``unwrap`` run inside the device.
* :class:`RootKeyChain` — a token key beside the file's or ``VAULT_ROOT_KEY``'s versions, while a
  rotation moves from one to the other: each version is routed to the provider that holds it.

Both keep their key bytes private: callers wrap, unwrap and check, never read a key. A wrong key is
caught by the check value stored per version in the database on first use (HMAC-SHA-256 of a fixed
label under the key); the service refuses to start rather than write under a different key.
"""

from __future__ import annotations

import abc
import base64
import binascii
import hashlib
import hmac
import os
import secrets
import time
from typing import TYPE_CHECKING

from vault.crypto import names
from vault.crypto import wrap as kwp
from vault.crypto.kek import KeyEncryptionKey, RootKeyError
from vault.crypto.keyfiles import KeyFileError, create_key_file, read_key_file

if TYPE_CHECKING:
    from pathlib import Path

ROOT_KEY_BYTES = 32
_CHECK_LABEL = b"vault/root-key-check/v1"


class _SoftwareKey(KeyEncryptionKey):
    """A root key held in this process's memory: AES-256-KWP and the check value computed here."""

    @abc.abstractmethod
    def _keys(self) -> dict[int, bytes]:
        """Every version's key (private: never handed out)."""

    def versions(self) -> tuple[int, ...]:
        return tuple(sorted(self._keys()))

    def _key(self, version: int) -> bytes:
        keys = self._keys()
        if version not in keys:
            raise RootKeyError(self.setting, f"root key version {version} is not available")
        return keys[version]

    def wrap(self, key: bytes, *, version: int | None = None) -> bytes:
        return kwp.wrap(self._key(self.version if version is None else version), key)

    def unwrap(self, wrapped: bytes, *, version: int) -> bytes:
        return kwp.unwrap(self._key(version), wrapped)

    def check_value(self, version: int) -> bytes:
        """HMAC-SHA-256 of a fixed label under the key of ``version`` (the values databases store)."""
        return hmac.new(self._key(version), _CHECK_LABEL, hashlib.sha256).digest()


def parse_versions(text: str, setting: str) -> dict[int, bytes]:
    """Parse ``<v>:<b64>`` items (lines or commas); a lone base64 item is version 1."""
    items = [item.strip() for item in text.replace(",", "\n").splitlines() if item.strip()]
    if not items:
        raise RootKeyError(setting, "is empty")
    out: dict[int, bytes] = {}
    for item in items:
        number, sep, encoded = item.rpartition(":")
        if not sep:
            number, encoded = "1", item
        if not (number.isascii() and number.isdigit() and len(number) <= 10) or not 0 < int(number) < 2**31:
            raise RootKeyError(setting, f"bad version {number!r}")
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise RootKeyError(setting, "is not valid base64") from None
        if len(key) != ROOT_KEY_BYTES:
            raise RootKeyError(setting, f"must be {ROOT_KEY_BYTES} bytes (base64), got {len(key)}")
        if int(number) in out:
            raise RootKeyError(setting, f"version {number} appears twice")
        out[int(number)] = key
    return out


def format_versions(versions: dict[int, bytes]) -> str:
    """The key file text for ``versions``."""
    return "".join(f"{v}:{base64.b64encode(k).decode()}\n" for v, k in sorted(versions.items()))


class EnvRootKey(_SoftwareKey):
    """The key(s) given in ``VAULT_ROOT_KEY`` (wins over the file)."""

    def __init__(self, value: str) -> None:
        self._versions = parse_versions(value, names.ROOT_KEY)

    def _keys(self) -> dict[int, bytes]:
        return self._versions

    @property
    def setting(self) -> str:  # noqa: D102
        return names.ROOT_KEY


RACY_NS = 2_000_000_000  # coarser than any file system's timestamps (FAT: 2 s)


class FileRootKey(_SoftwareKey):
    """The key file, generated with mode 0600 on first start; can add and retire versions."""

    def __init__(self, path: Path, *, create: bool) -> None:
        self.path = path
        self.created = False
        try:
            if create and not path.exists():
                create_key_file(path, ROOT_KEY_BYTES)
                self.created = True
        except KeyFileError as exc:
            raise RootKeyError(self.setting, str(exc)) from None
        # (inode, mtime, size) when the file was last read; trusted only once the file is older than the
        # file system's timestamp resolution could hide (a rotation within the same tick, same size: "racy git")
        self._stamp: tuple[int, int, int] | None = None
        self._read_at_ns = 0
        self._versions: dict[int, bytes] = {}
        self._reload()

    def _keys(self) -> dict[int, bytes]:
        """The versions in the file, re-read when the file changed (a rotation in another process)."""
        self._reload()
        return self._versions

    def _reload(self) -> None:
        try:
            st = self.path.stat()
            settled = self._read_at_ns - st.st_mtime_ns > RACY_NS
            if settled and self._stamp == (st.st_ino, st.st_mtime_ns, st.st_size):
                return
            read_at = time.time_ns()
            read_key_file(self.path, None)
            self._versions = parse_versions(self.path.read_text(encoding="ascii"), self.setting)
            self._stamp, self._read_at_ns = (st.st_ino, st.st_mtime_ns, st.st_size), read_at
        except (KeyFileError, OSError) as exc:
            raise RootKeyError(self.setting, str(exc)) from None

    @property
    def setting(self) -> str:  # noqa: D102
        return names.ROOT_KEY_FILE

    @classmethod
    def create_at(cls, path: Path, version: int) -> FileRootKey:
        """A new key file holding one fresh key as ``version`` (mode 0600); refuses an existing file."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise RootKeyError(names.ROOT_KEY_FILE, f"{path} cannot be created: {exc.strerror}") from None
        try:
            os.write(fd, format_versions({version: secrets.token_bytes(ROOT_KEY_BYTES)}).encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        root = cls(path, create=False)
        root.created = True
        return root

    def add_version(self, *, above: int = 0) -> int:
        """Generate a new current version (higher than ``above`` too) and write it to the file (atomically)."""
        new = max(self.version, above) + 1
        self._write({**self._versions, new: secrets.token_bytes(ROOT_KEY_BYTES)})
        return new

    def retire(self, version: int) -> None:
        """Remove ``version`` from the file (only once nothing is wrapped under it)."""
        if version == self.version:
            raise RootKeyError(self.setting, "cannot retire the current version")
        self._write({v: k for v, k in self._versions.items() if v != version})

    def _write(self, versions: dict[int, bytes]) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.new")
        tmp.unlink(missing_ok=True)  # a stale temp file must not lend us its mode
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, format_versions(versions).encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self._versions = versions
        st = self.path.stat()
        self._stamp, self._read_at_ns = (st.st_ino, st.st_mtime_ns, st.st_size), time.time_ns()


class RootKeyChain(KeyEncryptionKey):
    """Several providers as one root key: each version is wrapped and unwrapped by the provider that holds it.

    A token key beside the key file (or ``VAULT_ROOT_KEY``) during a rotation between them; the
    highest version is current, whichever provider holds it. Two providers claiming the same version
    are refused: the token key's ``;version=N`` must differ.
    """

    def __init__(self, providers: list[KeyEncryptionKey]) -> None:
        self.providers = providers
        self._holders: dict[int, KeyEncryptionKey] = {}
        for provider in providers:
            for version in provider.versions():
                if version in self._holders:
                    other = self._holders[version].setting
                    raise RootKeyError(
                        provider.setting,
                        f"root key version {version} is also in {other}: "
                        "give the token key another version (`;version=N`)",
                    )
                self._holders[version] = provider
        self.created = any(provider.created for provider in providers)

    @property
    def setting(self) -> str:
        """The setting of the provider that holds the current version."""
        return self._holder(self.version).setting

    def versions(self) -> tuple[int, ...]:
        """Every provider's versions, ascending."""
        return tuple(sorted(self._holders))

    def _holder(self, version: int) -> KeyEncryptionKey:
        holder = self._holders.get(version)
        if holder is None:
            current = self._holders[max(self._holders)]
            raise RootKeyError(current.setting, f"root key version {version} is not available")
        return holder

    def wrap(self, key: bytes, *, version: int | None = None) -> bytes:  # noqa: D102
        chosen = self.version if version is None else version
        return self._holder(chosen).wrap(key, version=chosen)

    def unwrap(self, wrapped: bytes, *, version: int) -> bytes:  # noqa: D102
        return self._holder(version).unwrap(wrapped, version=version)

    def check_value(self, version: int) -> bytes:
        """The check value the provider holding ``version`` computes."""
        return self._holder(version).check_value(version)

    def retire(self, version: int) -> None:
        """Drop ``version`` from the key file, unless it is the file's last (then the file can go)."""
        holder = self._holder(version)
        if isinstance(holder, FileRootKey) and holder.versions() != (version,):
            holder.retire(version)
