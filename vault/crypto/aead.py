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


def seal(key: bytes, plaintext: bytes, context: Context, *, key_version: int, suite: Suite = Suite.A256GCM) -> bytes:
    """Encrypt ``plaintext`` for ``context`` under ``key`` (version ``key_version``)."""
    return seal_with_nonce(
        key, plaintext, context, key_version=key_version, suite=suite, nonce=os.urandom(suite.nonce_bytes)
    )


def seal_with_nonce(
    key: bytes, plaintext: bytes, context: Context, *, key_version: int, suite: Suite, nonce: bytes
) -> bytes:
    """:func:`seal` with a given nonce: for known-answer tests only. Never reuse a nonce."""
    if len(key) != KEY_BYTES:
        raise ValueError("key must be 32 bytes")
    if not 0 <= key_version < 2**32:
        raise ValueError("key version must fit in 32 bits")
    if len(nonce) != suite.nonce_bytes:
        raise ValueError(f"nonce must be {suite.nonce_bytes} bytes")
    header = _HEAD.pack(FORMAT_VERSION, suite, key_version)
    aad = header + context.encode()
    if suite is Suite.A256GCM:
        body = AESGCM(key).encrypt(nonce, plaintext, aad)
    else:
        body = bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad, nonce, key)
    return header + nonce + body


def open(key: bytes, ciphertext: bytes, context: Context) -> bytes:
    """Decrypt; :class:`InvalidCiphertext` on any failure."""
    _, suite, _ = parse_header(ciphertext)
    start = _HEAD.size + suite.nonce_bytes
    header, nonce, body = ciphertext[: _HEAD.size], ciphertext[_HEAD.size : start], ciphertext[start:]
    if len(body) < TAG_BYTES or len(key) != KEY_BYTES:
        raise InvalidCiphertext
    aad = header + context.encode()
    try:
        if suite is Suite.A256GCM:
            return AESGCM(key).decrypt(nonce, body, aad)
        return bytes(bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(body, aad, nonce, key))
    except (InvalidTag, CryptoError, ValueError):
        raise InvalidCiphertext from None


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
