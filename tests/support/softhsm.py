"""A SoftHSM2 token store in a temp dir for PKCS#11 tests.

SoftHSM reads ``SOFTHSM2_CONF`` (and sees the tokens in its token dir) when the module is initialised,
and python-pkcs11 loads a module once per process: so one session-scoped store per process (per xdist
worker), with every token created before the first test loads the module. Tests keep apart by key label.
Skips, with the reason printed, only where ``softhsm2-util`` or the module is not installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from vault.crypto.pkcs11 import Pkcs11Location

if TYPE_CHECKING:
    from collections.abc import Iterator

MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")
PIN = "4711-user"
SO_PIN = "0815-officer"
#: ``vault``: the tokens most tests use; ``locked``: only the wrong-PIN test logs in to it.
TOKENS = ("vault", "locked")


@dataclass(frozen=True)
class SoftHsm:
    """A token store: its dir, the module, and the user PIN of every token in it."""

    module: str
    tokendir: Path
    pin: str

    def location(self, *, token: str = "vault", key: str | None = None, version: int = 1) -> Pkcs11Location:
        """A location on ``token``; a fresh random key label unless ``key`` is given."""
        return Pkcs11Location(self.module, token, key or f"key-{uuid.uuid4().hex[:12]}", version)


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsm]:
    """A SoftHSM2 store with the :data:`TOKENS`, ``SOFTHSM2_CONF`` pointing at it for the whole session."""
    util = shutil.which("softhsm2-util")
    if util is None or not MODULE.exists():
        pytest.skip(f"SoftHSM2 not installed (softhsm2-util: {util}, {MODULE} exists: {MODULE.exists()})")
    root = tmp_path_factory.mktemp("softhsm")
    tokendir = root / "tokens"
    tokendir.mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokendir}\nobjectstore.backend = file\nlog.level = ERROR\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOFTHSM2_CONF", str(conf))
        for label in TOKENS:
            subprocess.run(
                [util, "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", SO_PIN],
                check=True,
                capture_output=True,
                env=os.environ,
            )
        yield SoftHsm(str(MODULE), tokendir, PIN)
