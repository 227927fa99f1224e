"""The vault the fuzz tests call: one per module, started once (registration and consent cost real work)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.fuzz.harness import FuzzedVault, start, stop

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzedVault]:
    """The app in-process on a migrated SQLite database, a signed-in citizen and an agency with a grant."""
    vault = start(tmp_path_factory.mktemp("fuzz"))
    try:
        yield vault
    finally:
        stop()
