"""Tile arithmetic (C2SP tlog-tiles shape): pure functions, no I/O.

Stored hashes are the tree's nodes at levels 0, 8, 16, …: tile ``(t, n)`` holds up to 256 hashes of
level ``8t``, with indices ``256n … 256n+255``. A node at level ``8t + r`` is the root of ``2^r``
consecutive hashes inside one tile, so any proof needs one tile row per tile level it touches:
O(log n) rows, read in one query.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from tlog.merkle import HASH_SIZE, node_hash

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT


def tile_of(level: int, index: int) -> tuple[int, int, int, int]:
    """For node ``(level, index)``: ``(tile level, tile index, first slot, slot count)``."""
    t, r = divmod(level, TILE_HEIGHT)
    first = index << r
    return t, first >> TILE_HEIGHT, first & (TILE_WIDTH - 1), 1 << r


def tiles_for(nodes: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    """The tile rows ``(tile level, tile index)`` holding the given nodes."""
    return {tile_of(level, index)[:2] for level, index in nodes}


@lru_cache(maxsize=512)
def tile_levels(data: bytes) -> tuple[tuple[bytes, ...], ...]:
    """Every complete node inside a tile: ``levels[r][j]`` is the root of hashes ``[j·2^r, (j+1)·2^r)``.

    Pure and keyed by content, so it is cached: full tiles never change, and the upper tiles are
    shared by every proof (at most 512 tiles, about 12 MiB).
    """
    level = tuple(data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE))
    levels = [level]
    while len(level) > 1:
        level = tuple(node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2))
        levels.append(level)
    return tuple(levels)


def node_from_tiles(level: int, index: int, tiles: Mapping[tuple[int, int], bytes]) -> bytes:
    """Hash of node ``(level, index)`` from loaded tile rows; ``KeyError`` if it is not stored yet."""
    t, n, first, count = tile_of(level, index)
    levels = tile_levels(tiles[(t, n)])
    r = count.bit_length() - 1
    if r >= len(levels) or (first >> r) >= len(levels[r]):
        raise KeyError((level, index))
    return levels[r][first >> r]


def tile_path(level: int, index: int, width: int) -> str:
    """The tlog-tiles URL path of a tile: ``tile/<L>/<N>[.p/<W>]`` with N in 3-digit groups."""
    digits = f"{index:d}"
    pad = (-len(digits)) % 3
    digits = "0" * pad + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    path = "/".join([f"x{g}" for g in groups[:-1]] + [groups[-1]])
    suffix = f".p/{width}" if width < TILE_WIDTH else ""
    return f"tile/{level}/{path}{suffix}"


def parse_tile_index(parts: list[str]) -> tuple[int, int | None]:
    """Parse the ``N`` path segments of a tile URL (``x001/x234/067[.p/W]``) into ``(index, width)``."""
    width: int | None = None
    if len(parts) > 8:
        raise ValueError("bad tile index")
    if len(parts) >= 2 and parts[-2].endswith(".p"):
        if not (parts[-1].isascii() and parts[-1].isdigit()) or len(parts[-1]) > 3:
            raise ValueError("partial tile width must be 1..255")
        width = int(parts[-1])
        parts = [*parts[:-2], parts[-2][:-2]]
        if not 1 <= width < TILE_WIDTH:
            raise ValueError("partial tile width must be 1..255")
    *prefix, last = parts
    if any(not (p.startswith("x") and len(p) == 4 and p[1:].isascii() and p[1:].isdigit()) for p in prefix):
        raise ValueError("bad tile index")
    if not (len(last) == 3 and last.isascii() and last.isdigit()):
        raise ValueError("bad tile index")
    index = int("".join(p[1:] for p in prefix) + last)
    if index >= 1 << 56:
        raise ValueError("tile index out of range")
    return index, width
