"""RFC 9162 Merkle tree over SHA-256: hashing, roots, proofs and their verification. Pure: no I/O.

Proof *generation* is split in two so that storage stays out of this module: ``inclusion_ranges``
and ``consistency_ranges`` say which subtree hashes ``MTH(D[a:b])`` a proof consists of, and
``range_hash`` computes one such hash from perfect-subtree node hashes fetched by a callback
(an in-memory tree in tests, stored tiles in production). Verification follows RFC 9162 §2.1.3.2
and the consistency algorithm of transparency-dev/merkle, and rejects every hash that is not
32 bytes long.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof, hash or tree size does not verify or is malformed."""


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(size: int) -> int:
    """The largest power of two strictly smaller than ``size`` (``size`` > 1)."""
    return 1 << ((size - 1).bit_length() - 1)


class CompactRange:
    """The right border of a tree ``[0, size)``: one perfect-subtree hash per set bit of ``size``.

    Appending is amortised O(1) hashes; the root is O(log n). This is how the integrator extends the
    tree without reading it back.
    """

    __slots__ = ("hashes", "size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != size.bit_count():
            raise ProofError(f"a compact range of size {size} has {size.bit_count()} hashes, got {len(hashes)}")
        self.size = size
        self.hashes = list(hashes)

    def append(self, leaf: bytes, on_node: Callable[[int, int, bytes], None] | None = None) -> None:
        """Add a leaf hash; ``on_node(level, index, hash)`` sees every perfect node completed."""
        index, level, value = self.size, 0, leaf
        if on_node is not None:
            on_node(0, index, value)
        while (index >> level) & 1:
            value = node_hash(self.hashes.pop(), value)
            level += 1
            if on_node is not None:
                on_node(level, index >> level, value)
        self.hashes.append(value)
        self.size += 1

    def root(self) -> bytes:
        """The tree hash of ``[0, size)``."""
        if not self.hashes:
            return EMPTY_ROOT
        value = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            value = node_hash(left, value)
        return value


def root_of(leaf_hashes: Iterable[bytes]) -> bytes:
    """The tree hash of a sequence of leaf hashes."""
    tree = CompactRange()
    for h in leaf_hashes:
        tree.append(h)
    return tree.root()


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The ranges ``[a, b)`` whose hashes form the audit path of leaf ``index``, leaf side first."""
    if not 0 <= index < size:
        raise ProofError(f"index {index} is not in a tree of size {size}")
    lo, hi, path = 0, size, []
    while hi - lo > 1:
        k = split_point(hi - lo)
        if index < lo + k:
            path.append((lo + k, hi))
            hi = lo + k
        else:
            path.append((lo, lo + k))
            lo += k
    path.reverse()
    return path


def consistency_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    """The ranges whose hashes prove the tree of ``size1`` is a prefix of the tree of ``size2``."""
    if not 0 <= size1 <= size2:
        raise ProofError(f"no consistency proof from size {size1} to size {size2}")
    if size1 in (0, size2):
        return []
    lo, hi, m, complete, path = 0, size2, size1, True, []
    while m != hi - lo:
        k = split_point(hi - lo)
        if m <= k:
            path.append((lo + k, hi))
            hi = lo + k
        else:
            path.append((lo, lo + k))
            lo += k
            m -= k
            complete = False
    if not complete:
        path.append((lo, hi))
    path.reverse()
    return path


def perfect_nodes(start: int, end: int) -> list[tuple[int, int]]:
    """The perfect subtrees ``(level, index)`` that make up ``[start, end)``, left to right.

    ``[start, end)`` must be a subtree of the RFC 9162 shape (as every proof range is): ``start``
    aligned to the largest power of two not above ``end - start``.
    """
    nodes = []
    while start < end:
        level = min((end - start).bit_length() - 1, (start & -start).bit_length() - 1 if start else 64)
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def range_hash(start: int, end: int, node: Callable[[int, int], bytes]) -> bytes:
    """``MTH(D[start:end])`` from perfect-subtree hashes ``node(level, index)``."""
    hashes = [node(level, index) for level, index in perfect_nodes(start, end)]
    value = hashes[-1]
    for left in reversed(hashes[:-1]):
        value = node_hash(left, value)
    return value


def inclusion_proof(index: int, size: int, node: Callable[[int, int], bytes]) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of ``size``."""
    return [range_hash(a, b, node) for a, b in inclusion_ranges(index, size)]


def consistency_proof(size1: int, size2: int, node: Callable[[int, int], bytes]) -> list[bytes]:
    """The consistency proof between the trees of ``size1`` and ``size2``."""
    return [range_hash(a, b, node) for a, b in consistency_ranges(size1, size2)]


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        length = len(value) if isinstance(value, bytes | bytearray) else type(value).__name__
        raise ProofError(f"{what} must be {HASH_SIZE} bytes, got {length}")


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Raise :class:`ProofError` unless ``proof`` shows leaf hash ``leaf`` at ``index`` under ``root``."""
    _check_hash(leaf, "leaf hash")
    _check_hash(root, "root hash")
    for i, p in enumerate(proof):
        _check_hash(p, f"proof[{i}]")
    if not 0 <= index < size:
        raise ProofError(f"index {index} is not in a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    if r != root:
        raise ProofError("inclusion proof does not lead to the root")


def _trivially_consistent(size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]) -> bool:
    """Handle the edge cases (equal sizes, empty first tree); raise if they are violated."""
    if not 0 <= size1 <= size2:
        raise ProofError(f"size {size1} cannot precede size {size2}")
    if size1 == size2:
        if proof:
            raise ProofError("equal sizes need an empty proof")
        if root1 != root2:
            raise ProofError("equal sizes but different roots")
        return True
    if size1 == 0:
        if proof:
            raise ProofError("a proof from the empty tree must be empty")
        return True
    if not proof:
        raise ProofError("empty consistency proof")
    return False


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]) -> None:
    """Raise :class:`ProofError` unless ``proof`` shows tree ``(size1, root1)`` is a prefix of ``(size2, root2)``."""
    _check_hash(root1, "first root")
    _check_hash(root2, "second root")
    for i, p in enumerate(proof):
        _check_hash(p, f"proof[{i}]")
    if _trivially_consistent(size1, size2, root1, root2, proof):
        return
    inner = ((size1 - 1) ^ (size2 - 1)).bit_length()
    border = ((size1 - 1) >> inner).bit_count()
    shift = (size1 & -size1).bit_length() - 1
    inner -= shift
    if size1 == 1 << shift:
        seed, rest = root1, list(proof)
    else:
        seed, rest = proof[0], list(proof[1:])
    if len(rest) != inner + border:
        raise ProofError(
            f"consistency proof has {len(proof)} hashes, expected {len(proof) - len(rest) + inner + border}"
        )
    mask = (size1 - 1) >> shift
    h1, h2 = seed, seed
    for i, p in enumerate(rest[:inner]):
        if (mask >> i) & 1:
            h1 = node_hash(p, h1)
            h2 = node_hash(p, h2)
        else:
            h2 = node_hash(h2, p)
    for p in rest[inner:]:
        h1 = node_hash(p, h1)
        h2 = node_hash(p, h2)
    if h1 != root1:
        raise ProofError("consistency proof does not lead to the first root")
    if h2 != root2:
        raise ProofError("consistency proof does not lead to the second root")


class MemoryTree:
    """A whole tree in memory (tests, the offline verifier, small tools): every level kept."""

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self.levels: list[list[bytes]] = [[]]
        self._range = CompactRange()
        for h in leaf_hashes:
            self.append(h)

    @property
    def size(self) -> int:
        """Number of leaves."""
        return self._range.size

    def append(self, leaf: bytes) -> None:
        """Add a leaf hash."""
        self._range.append(leaf, self._store)

    def _store(self, level: int, index: int, value: bytes) -> None:
        while len(self.levels) <= level:
            self.levels.append([])
        assert len(self.levels[level]) == index
        self.levels[level].append(value)

    def node(self, level: int, index: int) -> bytes:
        """Hash of the perfect subtree at ``level`` covering leaves ``[index·2^level, (index+1)·2^level)``."""
        return self.levels[level][index]

    def root(self, size: int | None = None) -> bytes:
        """Root of the first ``size`` leaves (default: all)."""
        size = self.size if size is None else size
        return EMPTY_ROOT if size == 0 else range_hash(0, size, self.node)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Audit path for ``index`` in the tree of ``size`` (default: current)."""
        return inclusion_proof(index, self.size if size is None else size, self.node)

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """Consistency proof from ``size1`` to ``size2`` (default: current)."""
        return consistency_proof(size1, self.size if size2 is None else size2, self.node)
