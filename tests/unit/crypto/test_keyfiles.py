from __future__ import annotations

import base64
import os
import stat
from typing import TYPE_CHECKING

import pytest

from vault.crypto.keyfiles import KeyFileError, create_key_file, read_key_file

if TYPE_CHECKING:
    from pathlib import Path


def test_created_key_file_is_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "root.key"
    key = create_key_file(path, 32)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert create_key_file(path, 32) == key
    assert read_key_file(path, 32) == key
    assert [p.name for p in tmp_path.iterdir()] == ["root.key"]


def test_missing_file_is_an_error_when_not_creating(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="does not exist"):
        read_key_file(tmp_path / "absent.key", 32)


def test_group_readable_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "root.key"
    create_key_file(path, 32)
    os.chmod(path, 0o640)
    with pytest.raises(KeyFileError, match="readable by others"):
        read_key_file(path, 32)


@pytest.mark.parametrize("content", [b"not base64 at all\n", base64.b64encode(b"x" * 31), b"\xff\xfe", b""])
def test_malformed_file_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "root.key"
    path.write_bytes(content)
    os.chmod(path, 0o600)
    with pytest.raises(KeyFileError):
        read_key_file(path, 32)
