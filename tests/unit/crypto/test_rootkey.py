"""The software root keys as :class:`KeyEncryptionKey`: the same wraps and check values as before, no key bytes out."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding

from vault.crypto.kek import KeyEncryptionKey, RootKeyError
from vault.crypto.rootkey import EnvRootKey, FileRootKey, parse_versions
from vault.crypto.wrap import UnwrapError

if TYPE_CHECKING:
    from pathlib import Path

K1, K2 = bytes(range(32)), bytes(range(32, 64))
ENV = f"1:{base64.b64encode(K1).decode()},2:{base64.b64encode(K2).decode()}"


def test_both_providers_are_key_encryption_keys(tmp_path: Path) -> None:
    assert isinstance(EnvRootKey(ENV), KeyEncryptionKey)
    assert isinstance(FileRootKey(tmp_path / "root.key", create=True), KeyEncryptionKey)
    assert not hasattr(EnvRootKey(ENV), "key")


def test_the_check_value_is_the_stored_hmac_and_identifies_the_key_only() -> None:
    root = EnvRootKey(ENV)
    stored = hmac.new(K1, b"vault/root-key-check/v1", hashlib.sha256).digest()  # what databases hold
    assert root.check_value(1) == stored
    assert root.check(1, stored)
    assert not root.check(2, stored)
    assert K1 not in root.check_value(1)


def test_wrap_is_aes_kwp_under_the_chosen_version() -> None:
    root = EnvRootKey(ENV)
    assert root.versions() == (1, 2)
    assert root.version == 2
    dek = b"\x07" * 32
    assert aes_key_unwrap_with_padding(K2, root.wrap(dek)) == dek  # default: the current version
    wrapped = root.wrap(dek, version=1)
    assert aes_key_unwrap_with_padding(K1, wrapped) == dek
    assert root.unwrap(wrapped, version=1) == dek
    with pytest.raises(UnwrapError):
        root.unwrap(wrapped, version=2)


def test_a_missing_version_is_a_root_key_error() -> None:
    root = EnvRootKey(ENV)
    for call in (lambda: root.wrap(b"x" * 32, version=3), lambda: root.unwrap(b"x" * 40, version=3)):
        with pytest.raises(RootKeyError, match="version 3 is not available"):
            call()
    with pytest.raises(RootKeyError):
        root.check_value(3)


def test_a_rotated_file_wraps_under_its_new_version(tmp_path: Path) -> None:
    path = tmp_path / "root.key"
    root = FileRootKey(path, create=True)
    wrapped = root.wrap(b"\x01" * 32)
    assert root.add_version() == 2
    assert root.wrap(b"\x01" * 32) != wrapped
    assert root.unwrap(root.wrap(b"\x01" * 32), version=2) == b"\x01" * 32
    root.retire(1)
    assert root.versions() == (2,)
    assert set(parse_versions(path.read_text(), "root.key")) == {2}


def test_a_chain_routes_each_version_to_its_holder_and_refuses_overlaps(tmp_path: Path) -> None:
    from vault.crypto.rootkey import RootKeyChain

    file = FileRootKey.create_at(tmp_path / "root.key", 3)
    chain = RootKeyChain([EnvRootKey(ENV), file])
    assert chain.versions() == (1, 2, 3)
    assert chain.version == 3
    assert chain.setting == file.setting
    assert chain.check_value(1) == EnvRootKey(ENV).check_value(1)
    assert chain.check_value(3) == file.check_value(3)
    assert chain.unwrap(chain.wrap(b"d" * 32), version=3) == b"d" * 32
    assert file.unwrap(chain.wrap(b"d" * 32), version=3) == b"d" * 32
    assert chain.unwrap(EnvRootKey(ENV).wrap(b"e" * 32, version=1), version=1) == b"e" * 32
    with pytest.raises(RootKeyError, match="version 4 is not available"):
        chain.wrap(b"d" * 32, version=4)
    with pytest.raises(RootKeyError, match=r"give the token key another version \(`;version=N`\)"):
        RootKeyChain([EnvRootKey(ENV), FileRootKey.create_at(tmp_path / "other.key", 2)])


def test_a_chain_keeps_the_key_files_last_version(tmp_path: Path) -> None:
    from vault.crypto.rootkey import RootKeyChain

    file = FileRootKey.create_at(tmp_path / "root.key", 1)
    file.add_version(above=5)
    assert file.versions() == (1, 6)
    chain = RootKeyChain([EnvRootKey(ENV.split(",")[1]), file])  # the env key is version 2 here
    chain.retire(1)
    assert file.versions() == (6,)
    chain.retire(6)  # the file's last version: the operator removes the file
    assert FileRootKey(tmp_path / "root.key", create=False).versions() == (6,)
    with pytest.raises(RootKeyError, match="cannot be created"):
        FileRootKey.create_at(tmp_path / "root.key", 7)
