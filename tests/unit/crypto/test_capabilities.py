"""The capabilities of vault/crypto: the same outputs as the stored formats, no key bytes in reach."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from types import SimpleNamespace
from typing import Any

import pytest

from vault.crypto import aead
from vault.crypto.datakeys import CitizenCipher, WrappedKey, open_cipher
from vault.crypto.idp import ProviderSecrets
from vault.crypto.keyring import Keyring
from vault.crypto.macs import LoginLookup, NonceMac, Pseudonymizer, SubjectHasher
from vault.crypto.rootkey import EnvRootKey
from vault.transparency.log import _MINT, LoggedAccess
from vault.transparency.records import LogRecord

KEY = bytes(range(32))
ROOT = EnvRootKey(base64.b64encode(bytes(range(100, 132))).decode())


def _mac(message: bytes) -> bytes:
    return hmac.new(KEY, message, hashlib.sha256).digest()


def _access(subject: str) -> LoggedAccess:
    record = LogRecord(pseudonym="0" * 64, actor="citizen", action="view", time="2026-01-01T00:00:00Z")
    return LoggedAccess(
        token=_MINT, entry_id=1, commitment=b"c" * 32, salt=b"s" * 16, record=record, promise="p", subject=subject
    )


def _wrapped(citizen_id: str, dek: bytes) -> WrappedKey:
    return WrappedKey(citizen_id, 1, ROOT.version, ROOT.wrap(dek))


def test_the_keyed_hashes_give_the_stored_values() -> None:
    assert Pseudonymizer(KEY).pseudonym("c-1") == _mac(b"vault-log/pseudonym/v1\x00c-1").hex()
    assert LoginLookup(KEY).hash("erika") == _mac(b"erika")
    assert NonceMac(KEY).tag(b"\x00" * 8) == _mac(b"vault-dpop-nonce/v1\x00" + b"\x00" * 8)[:16]
    assert SubjectHasher(KEY).hash("idp", "sub") == _mac(b"vault-idp-subject/v1\x00idp\x00sub")
    with pytest.raises(ValueError, match="32 bytes"):
        Pseudonymizer(b"short")


def test_the_cipher_seals_in_the_aead_format_of_its_citizen() -> None:
    dek = os.urandom(32)
    cipher = open_cipher(ROOT, _wrapped("c-1", dek), _access("c-1"))
    sealed = cipher.seal(b"Erika", "row-1", "given_name")
    assert aead.open(dek, sealed, aead.Context("c-1", "row-1", "given_name")) == b"Erika"
    assert aead.parse_header(sealed)[2] == 1  # the DEK version
    assert cipher.open(aead.seal(dek, b"x", aead.Context("c-1", "d", "chunk"), key_version=1), "d", "chunk") == b"x"
    assert cipher.open(bytes(cipher.seal_large(b"body", "d", "chunk:0")), "d", "chunk:0") == b"body"
    with pytest.raises(aead.InvalidCiphertext):
        cipher.open(sealed, "row-1", "family_name")


def test_the_cipher_opens_only_with_a_logged_access_for_its_citizen() -> None:
    wrapped = _wrapped("c-1", os.urandom(32))
    with pytest.raises(PermissionError):
        open_cipher(ROOT, wrapped, _access("c-2"))
    forged: Any = SimpleNamespace(subject="c-1")
    with pytest.raises(PermissionError):
        open_cipher(ROOT, wrapped, forged)
    with pytest.raises(TypeError):
        LoggedAccess(token=object(), entry_id=1, commitment=b"", salt=b"", record=None, promise="")  # type: ignore[arg-type]


def test_provider_secrets_open_only_for_their_provider() -> None:
    secrets = ProviderSecrets(KEY)
    sealed = secrets.seal("p-1", b"client secret")
    assert secrets.open("p-1", sealed) == b"client secret"
    assert aead.open(KEY, sealed, aead.Context("identity-provider", "p-1", "secret")) == b"client secret"
    with pytest.raises(aead.InvalidCiphertext):
        secrets.open("p-2", sealed)


def _public_values(obj: object) -> list[tuple[str, object]]:
    return [(name, getattr(obj, name)) for name in dir(obj) if not name.startswith("_")]


def test_no_public_attribute_of_a_capability_is_a_key() -> None:
    cipher: CitizenCipher = open_cipher(ROOT, _wrapped("c-1", os.urandom(32)), _access("c-1"))
    keyring = Keyring(Pseudonymizer(KEY), LoginLookup(KEY), ProviderSecrets(KEY), SubjectHasher(KEY), NonceMac(KEY))
    objects: list[object] = [ROOT, cipher, keyring, *(value for _, value in _public_values(keyring))]
    for obj in objects:
        for name, value in _public_values(obj):
            assert not (isinstance(value, bytes | bytearray) and len(value) == 32), f"{type(obj).__name__}.{name}"
            assert value is not KEY
    assert "<key>" in repr(Pseudonymizer(KEY))
    assert KEY.hex() not in repr(keyring)
