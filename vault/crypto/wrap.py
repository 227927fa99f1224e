"""Key wrapping with AES-256-KWP (RFC 5649) under the root key. One opaque error for every failure."""

from __future__ import annotations

from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap_with_padding,
    aes_key_wrap_with_padding,
)


class UnwrapError(Exception):
    """A wrapped key could not be unwrapped (wrong root key or tampered data)."""


def wrap(kek: bytes, key: bytes) -> bytes:
    """Wrap ``key`` under the 32-byte ``kek``."""
    return aes_key_wrap_with_padding(kek, key)


def unwrap(kek: bytes, wrapped: bytes) -> bytes:
    """Unwrap; :class:`UnwrapError` on any failure."""
    try:
        return aes_key_unwrap_with_padding(kek, wrapped)
    except (InvalidUnwrap, ValueError):
        raise UnwrapError("cannot unwrap key") from None
