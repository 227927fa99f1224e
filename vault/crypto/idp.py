"""Secrets of identity providers: sealed under the ``idp-secrets`` service secret, opened only here.

Each provider's secret (a client secret, or the PEM private key the vault signs its client assertions
or SAML AuthnRequests with) is sealed with :mod:`vault.crypto.aead` under the 32-byte ``idp-secrets``
service secret, with the provider id as associated data: a sealed secret copied to another provider's
row does not open. The stored format is ``aead`` key version 1, context
``("identity-provider", <provider id>, "secret")``.
"""

from __future__ import annotations

from vault.crypto import aead

_KEY_VERSION = 1


class ProviderSecrets:
    """Seals and opens identity providers' secrets; the key stays inside."""

    __slots__ = ("_cipher",)

    def __init__(self, key: bytes) -> None:
        if len(key) != aead.KEY_BYTES:
            raise ValueError("the idp-secrets key must be 32 bytes")
        self._cipher = aead.Cipher(key)

    def seal(self, provider_id: str, secret: bytes) -> bytes:
        """``secret`` sealed for the provider ``provider_id``."""
        return self._cipher.seal(secret, _context(provider_id), key_version=_KEY_VERSION)

    def open(self, provider_id: str, sealed: bytes) -> bytes:
        """The secret; :class:`~vault.crypto.aead.InvalidCiphertext` if tampered or another provider's."""
        return self._cipher.open(sealed, _context(provider_id))


def _context(provider_id: str) -> aead.Context:
    return aead.Context("identity-provider", provider_id, "secret")
