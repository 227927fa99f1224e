"""Key files on disk: created once with mode 0600, read back strictly.

A key file holds one line of base64. Creation is atomic (write to a temporary file, ``fsync``,
``link``) so a crash never leaves a half-written key, and two processes starting at once agree on one
key: the loser of the ``link`` race reads the winner's file.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import stat
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


class KeyFileError(Exception):
    """A key file is missing, unreadable, too open or malformed."""


def read_key_file(path: Path, length: int | None) -> bytes:
    """Read a base64 key of exactly ``length`` bytes; refuse group/world-readable files.

    With ``length=None`` only the file's existence and permissions are checked (the caller parses).
    """
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise KeyFileError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"{path} cannot be read: {exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"{path} is readable by others (mode {stat.S_IMODE(mode):o}); chmod 600 it")
    if length is None:
        return b""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError(f"{path} is not base64") from None
    if len(key) != length:
        raise KeyFileError(f"{path} holds {len(key)} bytes, expected {length}")
    return key


def create_key_file(path: Path, length: int) -> bytes:
    """Create ``path`` with a fresh random key unless it exists; return the key in the file."""
    if path.exists():
        return read_key_file(path, length)
    key = secrets.token_bytes(length)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise KeyFileError(f"{path} cannot be created: {exc.strerror}") from None
    try:
        os.write(fd, base64.b64encode(key) + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return read_key_file(path, length)
    finally:
        tmp.unlink()
    _fsync_dir(path.parent)
    return key


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
