"""Signing keys, each kept as 32 random bytes in a 0600 file: Ed25519 for the log, ES256 for consent receipts.

The keys are loaded here and handed out only inside their signers (the log's :class:`NoteSigner`, a
witness's :class:`Cosigner`, the consent :class:`ReceiptSigner`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from vault.crypto import names
from vault.crypto.keyfiles import KeyFileError, create_key_file, read_key_file
from vault.crypto.signers import Cosigner, NoteSigner, ReceiptSigner

if TYPE_CHECKING:
    from pathlib import Path

    from vault.config import Settings


class SigningKeyError(Exception):
    """The signing key file is missing or malformed."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting


def load_log_signer(path: Path, origin: str, *, create: bool) -> NoteSigner:
    """The log's note signer for ``origin``, its Ed25519 key from ``path`` (``VAULT_LOG_KEY_FILE``).

    The key is generated on first start.
    """
    try:
        seed = create_key_file(path, 32) if create else read_key_file(path, 32)
    except KeyFileError as exc:
        raise SigningKeyError(names.LOG_KEY_FILE, str(exc)) from None
    return NoteSigner(origin, Ed25519PrivateKey.from_private_bytes(seed))


def load_pkcs11_log_signer(settings: Settings) -> NoteSigner:
    """The log's note signer for ``settings.log_origin`` with its Ed25519 key in a token (``VAULT_LOG_KEY_PKCS11``)."""
    from vault.crypto.pkcs11 import LOG_KEY_SETTING, Pkcs11Ed25519Signer, parse_setting, read_pin

    assert settings.log_key_pkcs11 is not None
    assert settings.pkcs11_pin_file is not None
    location = parse_setting(settings.log_key_pkcs11, LOG_KEY_SETTING)
    return NoteSigner(settings.log_origin, Pkcs11Ed25519Signer(location, read_pin(settings.pkcs11_pin_file)))


def load_receipt_signer(path: Path, issuer: str, *, create: bool) -> ReceiptSigner:
    """The consent receipt signer for ``issuer``, its ES256 key from ``path`` (``VAULT_CONSENT_KEY_FILE``).

    ECDSA P-256 rather than Ed25519: it is on BSI TR-02102-1's list and every JOSE library verifies it.
    The file holds 32 random bytes; the private scalar is derived from them into ``[1, n-1]``.
    """
    try:
        seed = create_key_file(path, 32) if create else read_key_file(path, 32)
    except KeyFileError as exc:
        raise SigningKeyError(names.CONSENT_KEY_FILE, str(exc)) from None
    scalar = int.from_bytes(seed, "big") % (P256_ORDER - 1) + 1
    return ReceiptSigner(ec.derive_private_key(scalar, ec.SECP256R1()), issuer)


def load_cosigner_key(path: Path, name: str) -> Cosigner:
    """A witness's cosigner ``name``, its Ed25519 key from ``path`` (32 random bytes, 0600, made on first use)."""
    return Cosigner(name, Ed25519PrivateKey.from_private_bytes(create_key_file(path, 32)))


P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
