"""Tile paths are canonical: only ASCII digits, so one tile has exactly one URL (and one cache entry)."""

from __future__ import annotations

import pytest

from tlog.tiles import parse_tile_index


def test_a_canonical_path_parses() -> None:
    assert parse_tile_index(["x001", "x234", "067"]) == (1234067, None)
    assert parse_tile_index(["067.p", "12"]) == (67, 12)


@pytest.mark.parametrize(
    "parts",
    [["\u0660\u0666\u0667"], ["x\u0660\u0660\u0661", "067"], ["067.p", "\u0661\u0662"], ["67"], ["x01", "067"]],
)
def test_other_digits_and_shapes_are_refused(parts: list[str]) -> None:
    with pytest.raises(ValueError, match="tile"):
        parse_tile_index(parts)
