"""A running vault sees a rotation done by another process, even when the file's time and size stay the same."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from vault.crypto.rootkey import FileRootKey

if TYPE_CHECKING:
    from pathlib import Path


def test_a_rotation_in_another_process_is_seen_despite_an_unchanged_mtime_and_size(tmp_path: Path) -> None:
    path = tmp_path / "root.key"
    server = FileRootKey(path, create=True)
    operator = FileRootKey(path, create=False)
    operator.add_version()
    operator.retire(1)
    assert sorted(server.versions()) == [2]
    before = path.stat()
    operator.add_version()  # {2} -> {2, 3}
    operator.retire(2)  # {3}: the same size as {2}
    assert path.stat().st_size == before.st_size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # a file system with coarse timestamps
    assert sorted(server.versions()) == [3]
