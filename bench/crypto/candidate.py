"""A sketch, not vault code: the same A256GCM ciphertext format as :mod:`vault.crypto.aead`, built without copies.

Used only to show where the per-chunk overhead of ``aead.seal``/``aead.open`` goes: this variant reuses
one ``AESGCM`` object per key, encrypts straight into a buffer that already holds header and nonce
(``AESGCM.encrypt_into``), and opens through ``memoryview`` slices instead of copying the body. Its
output opens with ``aead.open`` and it opens ``aead.seal``'s output (checked before timing).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from vault.crypto import aead

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_HEAD = aead._HEAD
_NONCE = aead.Suite.A256GCM.nonce_bytes
_START = _HEAD.size + _NONCE


def seal(aes: AESGCM, plaintext: bytes, context: aead.Context, key_version: int) -> bytearray:
    """``aead.seal(..., suite=A256GCM)`` into one preallocated buffer."""
    header = _HEAD.pack(aead.FORMAT_VERSION, aead.Suite.A256GCM, key_version)
    nonce = os.urandom(_NONCE)
    out = bytearray(_START + len(plaintext) + aead.TAG_BYTES)
    out[: _HEAD.size] = header
    out[_HEAD.size : _START] = nonce
    aes.encrypt_into(nonce, plaintext, header + context.encode(), memoryview(out)[_START:])
    return out


def open_(aes: AESGCM, ciphertext: bytes, context: aead.Context) -> bytes:
    """``aead.open`` for A256GCM without copying the body out of ``ciphertext``."""
    view = memoryview(ciphertext)
    return aes.decrypt(view[_HEAD.size : _START], view[_START:], bytes(view[: _HEAD.size]) + context.encode())
