"""Authenticated encryption of citizen data: one small API, one opaque error.

Ciphertext layout (all integers big-endian)::

    version (1) | suite (1) | key version (4) | nonce (12 or 24) | ciphertext + tag (16)

Suites: ``A256GCM`` (AES-256-GCM, 96-bit random nonce; the default, on BSI TR-02102-1's list) and
``XC20P`` (XChaCha20-Poly1305 from libsodium, 192-bit random nonce). The associated data binds the
header and a :class:`Context` — citizen, record, field and schema version — so a ciphertext moved to
another citizen, row or field, or with an edited header, fails to open. Every failure raises
:class:`InvalidCiphertext` and says nothing more, like ``cryptography.fernet.InvalidToken``.
"""

from __future__ import annotations

import enum
import os
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nacl import bindings
from nacl.exceptions import CryptoError

FORMAT_VERSION = 1
KEY_BYTES = 32
TAG_BYTES = 16
_HEAD = struct.Struct(">BBI")


class InvalidCiphertext(Exception):
    """The ciphertext cannot be opened with this key and context (tampered, moved, or wrong key)."""


class Suite(enum.IntEnum):
    """AEAD suites; the value is the suite byte in the header."""

    A256GCM = 1
    XC20P = 2

    @property
    def nonce_bytes(self) -> int:
        """Nonce length of the suite."""
        return 12 if self is Suite.A256GCM else 24


@dataclass(frozen=True, slots=True)
class Context:
    """What a ciphertext belongs to; bound as associated data."""

    citizen: str
    record: str
    field: str
    schema: int = 1

    def encode(self) -> bytes:
        """Unambiguous encoding: length-prefixed parts."""
        parts = [b"vault-aead/v1", self.citizen.encode(), self.record.encode(), self.field.encode()]
        parts.append(str(self.schema).encode())
        return b"".join(struct.pack(">I", len(p)) + p for p in parts)


class Cipher:
    """One data key, ready to seal and open many values (documents: one per chunk).

    Keeps the AES-GCM object for the key and avoids copying bodies, which is what makes chunked
    documents cost about the same as bare AES-GCM (bench/crypto).
    """

    __slots__ = ("_aes", "_key")

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError("key must be 32 bytes")
        self._key = key
        self._aes = AESGCM(key)

    def seal(self, plaintext: bytes, context: Context, *, key_version: int, suite: Suite = Suite.A256GCM) -> bytes:
        """Encrypt ``plaintext`` for ``context`` with a fresh random nonce."""
        return self.seal_with_nonce(
            plaintext, context, key_version=key_version, suite=suite, nonce=os.urandom(suite.nonce_bytes)
        )

    def seal_with_nonce(
        self, plaintext: bytes, context: Context, *, key_version: int, suite: Suite, nonce: bytes
    ) -> bytes:
        """:meth:`seal` with a given nonce: for known-answer tests only. Never reuse a nonce."""
        header = self._header(key_version, suite, nonce)
        aad = header + context.encode()
        if suite is Suite.A256GCM:
            return header + nonce + self._aes.encrypt(nonce, plaintext, aad)
        return header + nonce + bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad, nonce, self._key)

    def seal_large(self, plaintext: bytes, context: Context, *, key_version: int) -> bytearray:
        """A256GCM :meth:`seal` straight into one buffer (no copy of the body): for document chunks."""
        nonce = os.urandom(Suite.A256GCM.nonce_bytes)
        header = self._header(key_version, Suite.A256GCM, nonce)
        start = _HEAD.size + len(nonce)
        out = bytearray(start + len(plaintext) + TAG_BYTES)
        out[: _HEAD.size] = header
        out[_HEAD.size : start] = nonce
        self._aes.encrypt_into(nonce, plaintext, header + context.encode(), memoryview(out)[start:])
        return out

    @staticmethod
    def _header(key_version: int, suite: Suite, nonce: bytes) -> bytes:
        if not 0 <= key_version < 2**32:
            raise ValueError("key version must fit in 32 bits")
        if len(nonce) != suite.nonce_bytes:
            raise ValueError(f"nonce must be {suite.nonce_bytes} bytes")
        return _HEAD.pack(FORMAT_VERSION, suite, key_version)

    def open(self, ciphertext: bytes, context: Context) -> bytes:
        """Decrypt; :class:`InvalidCiphertext` on any failure."""
        _, suite, _ = parse_header(ciphertext)
        start = _HEAD.size + suite.nonce_bytes
        view = memoryview(ciphertext)
        aad = bytes(view[: _HEAD.size]) + context.encode()
        try:
            if suite is Suite.A256GCM:
                return self._aes.decrypt(view[_HEAD.size : start], view[start:], aad)
            return bytes(
                bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
                    bytes(view[start:]), aad, bytes(view[_HEAD.size : start]), self._key
                )
            )
        except (InvalidTag, CryptoError, ValueError):
            raise InvalidCiphertext from None


def seal(key: bytes, plaintext: bytes, context: Context, *, key_version: int, suite: Suite = Suite.A256GCM) -> bytes:
    """Encrypt ``plaintext`` for ``context`` under ``key`` (version ``key_version``)."""
    return Cipher(key).seal(plaintext, context, key_version=key_version, suite=suite)


def seal_with_nonce(
    key: bytes, plaintext: bytes, context: Context, *, key_version: int, suite: Suite, nonce: bytes
) -> bytes:
    """:func:`seal` with a given nonce: for known-answer tests only. Never reuse a nonce."""
    return Cipher(key).seal_with_nonce(plaintext, context, key_version=key_version, suite=suite, nonce=nonce)


def open(key: bytes, ciphertext: bytes, context: Context) -> bytes:
    """Decrypt; :class:`InvalidCiphertext` on any failure (also for a key of the wrong length)."""
    if len(key) != KEY_BYTES:
        raise InvalidCiphertext
    return Cipher(key).open(ciphertext, context)


def parse_header(ciphertext: bytes) -> tuple[int, Suite, int]:
    """``(format version, suite, key version)``; :class:`InvalidCiphertext` if malformed."""
    if len(ciphertext) < _HEAD.size:
        raise InvalidCiphertext
    version, suite_id, key_version = _HEAD.unpack_from(ciphertext)
    if version != FORMAT_VERSION or suite_id not in Suite._value2member_map_:
        raise InvalidCiphertext
    suite = Suite(suite_id)
    if len(ciphertext) < _HEAD.size + suite.nonce_bytes + TAG_BYTES:
        raise InvalidCiphertext
    return version, suite, key_version
