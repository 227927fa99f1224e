"""Tile arithmetic (C2SP tlog-tiles shape): pure functions, no I/O.

Stored hashes are the tree's nodes at levels 0, 8, 16, …: tile ``(t, n)`` holds up to 256 hashes of
level ``8t``, with indices ``256n … 256n+255``. A node at level ``8t + r`` is the root of ``2^r``
consecutive hashes inside one tile, so any proof needs one tile row per tile level it touches:
O(log n) rows, read in one query.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vault.transparency.merkle import HASH_SIZE, node_hash

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


def perfect_root(hashes: bytes, count: int) -> bytes:
    """Root of ``count`` (a power of two) consecutive 32-byte hashes."""
    level = [hashes[i * HASH_SIZE : (i + 1) * HASH_SIZE] for i in range(count)]
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def node_from_tiles(level: int, index: int, tiles: Mapping[tuple[int, int], bytes]) -> bytes:
    """Hash of node ``(level, index)`` from loaded tile rows; ``KeyError`` if it is not stored yet."""
    t, n, first, count = tile_of(level, index)
    data = tiles[(t, n)]
    chunk = data[first * HASH_SIZE : (first + count) * HASH_SIZE]
    if len(chunk) != count * HASH_SIZE:
        raise KeyError((level, index))
    return chunk if count == 1 else perfect_root(chunk, count)


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
    if len(parts) >= 2 and parts[-2].endswith(".p"):
        width = int(parts[-1])
        parts = [*parts[:-2], parts[-2][:-2]]
        if not 1 <= width < TILE_WIDTH:
            raise ValueError("partial tile width must be 1..255")
    *prefix, last = parts
    if any(not (p.startswith("x") and len(p) == 4 and p[1:].isdigit()) for p in prefix):
        raise ValueError("bad tile index")
    if not (len(last) == 3 and last.isdigit()):
        raise ValueError("bad tile index")
    return int("".join(p[1:] for p in prefix) + last), width
