"""The project's ruff configuration makes key handling outside vault/crypto an error (TID251)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[3]
RUFF = Path(sys.executable).parent / "ruff"

SOURCE = '''"""Key handling."""

import hashlib
import hmac
from hmac import new

import nacl.bindings
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.keywrap import aes_key_wrap


def handle(key: bytes) -> object:
    """Every way of holding a key that vault/crypto keeps to itself."""
    Ed25519PublicKey.from_public_bytes(key)  # verification stays allowed
    hmac.compare_digest(key, key)
    ec.generate_private_key(ec.SECP256R1())
    rsa.generate_private_key(public_exponent=65537, key_size=2048)
    serialization.load_pem_private_key(key, password=None)
    return hmac.new(key, b"", hashlib.sha256), new(key), Ed25519PrivateKey, aes_key_wrap, nacl.bindings
'''
BANNED_LINES = {5, 7, 10, 11, 18, 19, 20, 21}


def _banned(tmp_path: Path, package: str) -> dict[int, str]:
    shutil.copy(PROJECT / "pyproject.toml", tmp_path / "pyproject.toml")
    module = tmp_path / "vault" / package / "keys.py"
    module.parent.mkdir(parents=True)
    module.write_text(SOURCE)
    result = subprocess.run(
        [str(RUFF), "check", "--no-cache", "--output-format", "json", "--exit-zero", str(module)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(result.stdout)
    return {f["location"]["row"]: f["message"] for f in found if f["code"] == "TID251"}


def test_key_handling_outside_vault_crypto_is_an_error(tmp_path: Path) -> None:
    banned = _banned(tmp_path, "citizens")
    assert set(banned) == BANNED_LINES
    assert all("key material lives in vault/crypto" in message for message in banned.values())


def test_the_same_code_inside_vault_crypto_passes(tmp_path: Path) -> None:
    assert _banned(tmp_path, "crypto") == {}
