"""The docs cite tests and modules by path: every cited test must exist, so a move cannot leave them stale."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([*ROOT.glob("docs/*.md"), ROOT / "README.md"])
NODE_ID = re.compile(r"(tests/[\w/]+\.py)::(\w+)")
SOURCE = re.compile(r"`((?:vault|tests|bench|examples|packages)/[\w/]+\.py)")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_cited_test_exists(doc: Path) -> None:
    missing = []
    for path, name in NODE_ID.findall(doc.read_text(encoding="utf-8")):
        file = ROOT / path
        if not file.is_file() or not re.search(rf"def {name}\b", file.read_text(encoding="utf-8")):
            missing.append(f"{path}::{name}")
    assert not missing, f"{doc.name} cites tests that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_cited_source_file_exists(doc: Path) -> None:
    missing = sorted({p for p in SOURCE.findall(doc.read_text(encoding="utf-8")) if not (ROOT / p).is_file()})
    assert not missing, f"{doc.name} names files that do not exist: {missing}"
