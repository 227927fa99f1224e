"""Keyed hashes under service secrets, each a capability that computes one thing and never shows its key.

* :class:`Pseudonymizer` — a citizen's pseudonym in log records (``log-pseudonym``).
* :class:`LoginLookup` — the lookup hash of a login name (``login-lookup``).
* :class:`NonceMac` — the tag of a DPoP nonce (``dpop-nonce``).
* :class:`SubjectHasher` — an identity provider subject, bound to the provider (``idp-subject``).

All are HMAC-SHA-256 with a fixed label per use; the outputs are the ones stored in existing databases.
"""

from __future__ import annotations

import hashlib
import hmac

MIN_KEY_BYTES = 32


class _Mac:
    """HMAC-SHA-256 under a private key of at least 32 bytes."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"the key must be at least {MIN_KEY_BYTES} bytes")
        self._key = key

    def _digest(self, message: bytes) -> bytes:
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<key>)"


class Pseudonymizer(_Mac):
    """A citizen's pseudonym in log records."""

    __slots__ = ()

    def pseudonym(self, citizen_id: str) -> str:
        """HMAC-SHA-256 of the citizen id under the log's pseudonym key, hex."""
        return self._digest(b"vault-log/pseudonym/v1\x00" + citizen_id.encode()).hex()


class LoginLookup(_Mac):
    """The lookup hash of a (normalised) login name."""

    __slots__ = ()

    def hash(self, login: str) -> bytes:
        """HMAC-SHA-256 of ``login`` (UTF-8) under the ``login-lookup`` secret."""
        return self._digest(login.encode())


class NonceMac(_Mac):
    """The tag of a stateless DPoP nonce."""

    __slots__ = ()

    def tag(self, message: bytes) -> bytes:
        """The first 16 bytes of HMAC-SHA-256 of a fixed label and ``message``."""
        return self._digest(b"vault-dpop-nonce/v1\x00" + message)[:16]


class SubjectHasher(_Mac):
    """An identity provider's subject, bound to the provider, as stored in ``identity_links``."""

    __slots__ = ()

    def hash(self, provider_id: str, subject: str) -> bytes:
        """HMAC-SHA-256 of the provider id and subject under the ``idp-subject`` secret."""
        return self._digest(b"vault-idp-subject/v1\x00" + provider_id.encode() + b"\x00" + subject.encode())
