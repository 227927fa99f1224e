"""Ed25519 signing keys (log checkpoints, receipts), kept as a 32-byte seed in a 0600 file."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from vault.config import env_name
from vault.crypto.keyfiles import KeyFileError, create_key_file, read_key_file

if TYPE_CHECKING:
    from pathlib import Path


class SigningKeyError(Exception):
    """The signing key file is missing or malformed."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting


def load_log_signing_key(path: Path, *, create: bool) -> Ed25519PrivateKey:
    """The log's Ed25519 key from ``path`` (``VAULT_LOG_KEY_FILE``), generated on first start."""
    try:
        seed = create_key_file(path, 32) if create else read_key_file(path, 32)
    except KeyFileError as exc:
        raise SigningKeyError(env_name("log_key_file"), str(exc)) from None
    return Ed25519PrivateKey.from_private_bytes(seed)
