"""The repository's copy of the known-answer vectors (tests/testdata) is the reference set, byte for byte.

The project's reference set lives beside the checkout (``../shared/testdata``) where the team works; a
stranger's clone has only the copy, and this test has nothing to compare there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

COPY = Path(__file__).resolve().parents[2] / "testdata"
REFERENCE = Path(__file__).resolve().parents[3].parent / "shared" / "testdata"
CARRIED = ("rfc9162", "signed-note.json")


def _files(root: Path) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for name in CARRIED:
        top = root / name
        for path in [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file()):
            found[str(path.relative_to(root))] = path.read_bytes()
    return found


def test_the_copy_carries_every_vector_with_its_licences() -> None:
    copied = _files(COPY)
    assert sum(name.startswith("rfc9162/inclusion/") for name in copied) == 98
    assert sum(name.startswith("rfc9162/consistency/") for name in copied) == 98
    assert "signed-note.json" in copied
    assert (COPY / "LICENSE-Apache-2.0").read_text().count("Apache License") >= 1
    assert "Redistribution and use in source and binary forms" in (COPY / "LICENSE-BSD-3-Clause").read_text()


@pytest.mark.skipif(not REFERENCE.is_dir(), reason=f"no reference set at {REFERENCE} (a stranger's clone)")
def test_the_copy_equals_the_reference_set() -> None:
    assert _files(COPY) == _files(REFERENCE)
