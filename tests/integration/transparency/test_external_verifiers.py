"""Proofs served over HTTP, checked by Merkle code this project did not write.

Our log is RFC 9162 (= RFC 6962) over SHA-256, a leaf's data being its 32-byte commitment. Two
independent implementations check what ``/log/*`` serves:

* ``sigstore`` (sigstore-python) verifies Rekor entries: a Merkle inclusion proof against the root of a
  signed checkpoint (a C2SP signed note, as our ``/log/checkpoint``). Its public API verifies whole
  signing bundles only, so we build the log-entry model it verifies from the protobuf-JSON form that
  bundles carry and call ``TransparencyLogEntry._verify`` (what ``Verifier`` calls for a bundle's entry):
  ``verify_merkle_inclusion`` plus ``verify_checkpoint`` (Ed25519 signature over the note, root match).
* ``pymerkle`` (RFC 9162 hashing with its default ``security=True``: 0x00/0x01 prefixes) recomputes
  roots from the served leaves and verifies the served audit paths.

Consistency proofs: neither package verifies an RFC 9162 consistency proof. sigstore has no
consistency verifier. pymerkle's consistency proofs have another shape: where the old tree exactly
fills a left subtree it descends into the right sibling down to a leaf instead of stopping, and it
always sends the starting hash, so an RFC 9162 proof cannot be converted into one (4 -> 8: RFC 9162
sends MTH(D[4:8]); pymerkle wants the hashes of D[4], D[5], MTH(D[6:8]) and MTH(D[0:4])). So
(a) pymerkle proves, from the served leaves, that the signed roots are consistent, and (b) the served
proofs are checked by transparency-dev/merkle's ``VerifyConsistency`` written out below over
sigstore's RFC 6962 chaining helpers; only that short control flow is ours.
"""

from __future__ import annotations

import base64
import hashlib
import json
from itertools import combinations
from typing import TYPE_CHECKING, Any

import pymerkle
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sigstore._internal.merkle import _chain_border_right, _chain_inner, _decomp_inclusion_proof
from sigstore._internal.trust import Keyring
from sigstore.errors import VerificationError
from sigstore.models import TransparencyLogEntry
from sigstore_models.common.v1 import PublicKey
from sigstore_models.rekor.v1 import TransparencyLogEntry as EntryModel

from tests.support.log_harness import sample_record

if TYPE_CHECKING:
    from litestar.testing import AsyncTestClient

    from tests.support.log_harness import LogHarness
    from vault.transparency.records import LogRecord

BATCHES = (1, 4, 11, 16, 5)
"""Appended and integrated one after another: signed checkpoints of sizes 1, 5, 16, 32 and 37."""
SIZES = (1, 5, 16, 32, 37)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def rfc9162_leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def ed25519_keyring(key: Ed25519PublicKey) -> Keyring:
    """A sigstore keyring (as a trusted root's ``tlogs`` yield) holding one Ed25519 key."""
    der = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return Keyring([PublicKey.from_json(json.dumps({"rawBytes": b64(der), "keyDetails": "PKIX_ED25519"}))])


class Served:
    """What a client learns over HTTP: the log key, the checkpoints it saw, the leaves."""

    def __init__(self, client: AsyncTestClient[Any], vkey: str) -> None:
        self.client = client
        self.vkey = vkey
        self.checkpoints: dict[int, tuple[bytes, str]] = {}  # size -> (root, note)
        self.leaves: list[bytes] = []

    def keyring(self) -> Keyring:
        """A sigstore keyring holding the log's Ed25519 key (C2SP vkey ``name+id+base64(0x01||key)``)."""
        raw = base64.b64decode(self.vkey.split("+", 2)[2])
        assert raw[0] == 0x01  # signature type Ed25519
        return ed25519_keyring(Ed25519PublicKey.from_public_bytes(raw[1:]))

    def key_hash(self) -> str:
        """The 4-byte key hash that prefixes each note signature (sigstore matches it against the log ID)."""
        return b64(bytes.fromhex(self.vkey.split("+", 2)[1]))

    async def inclusion(self, index: int, size: int) -> list[str]:
        r = await self.client.get("/log/proof/inclusion", params={"index": index, "tree_size": size})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["leaf_index"], body["tree_size"]) == (index, size)
        return list(body["audit_path"])

    async def consistency(self, first: int, second: int) -> list[bytes]:
        r = await self.client.get("/log/proof/consistency", params={"first": first, "second": second})
        assert r.status_code == 200, r.text
        return [base64.b64decode(h) for h in r.json()["consistency"]]

    def sigstore_entry(self, index: int, size: int, audit_path: list[str], *, leaf: bytes | None = None) -> Any:
        """The entry sigstore verifies, in the protobuf-JSON form of a Sigstore bundle's ``tlogEntries``."""
        root, note = self.checkpoints[size]
        body = {
            "logIndex": str(index),
            "logId": {"keyId": self.key_hash()},
            "kindVersion": {"kind": "buergertresor-access", "version": "0.0.1"},
            "inclusionProof": {
                "logIndex": str(index),
                "rootHash": b64(root),
                "treeSize": str(size),
                "hashes": audit_path,
                "checkpoint": {"envelope": note},
            },
            "canonicalizedBody": b64(self.leaves[index] if leaf is None else leaf),
        }
        return TransparencyLogEntry(EntryModel.from_json(json.dumps(body)))


def _record(direct: LogHarness, n: int) -> LogRecord:
    return sample_record(direct.log.pseudonymizer.pseudonym(f"citizen-{n % 3}"))


async def _integrate(direct: LogHarness) -> int:
    """Integrate until a pass finds nothing pending (the app's own integrator may run concurrently)."""
    while (result := await direct.log.integrate(direct.engine)) is None or result.integrated:
        pass
    return result.size


@pytest.fixture
async def served(client: AsyncTestClient[Any], direct: LogHarness) -> Served:
    """A log of 37 entries appended in batches, with the checkpoint a client saw after each batch."""
    out = Served(client, (await client.get("/log/key")).text.strip())
    appended = 0
    for batch in BATCHES:
        async with direct.sessions.begin() as session:
            for _ in range(batch):
                await direct.log.append(session, _record(direct, appended))
                appended += 1
        assert await _integrate(direct) == appended
        note = (await client.get("/log/checkpoint")).text
        lines = note.split("\n")
        size, root = int(lines[1]), base64.b64decode(lines[2])
        assert size == appended
        out.checkpoints[size] = (root, note)
    assert tuple(out.checkpoints) == SIZES
    r = await client.get("/log/leaves", params={"start": 0, "end": appended})
    out.leaves = [base64.b64decode(c) for c in r.json()["leaves"]]
    assert len(out.leaves) == appended
    assert all(len(c) == 32 for c in out.leaves)
    return out


def pymerkle_tree(leaves: list[bytes]) -> pymerkle.InmemoryTree:
    tree = pymerkle.InmemoryTree(algorithm="sha256")  # security (0x00/0x01 prefixes) is on by default
    for data in leaves:
        tree.append_entry(data)
    return tree


def pymerkle_inclusion(index: int, size: int, leaf: bytes, audit_path: list[bytes]) -> pymerkle.InclusionProof:
    """Our audit path as a pymerkle proof: its path is the leaf hash then the same siblings, bottom up.

    pymerkle counts leaves from one. Its ``rule`` (which side each sibling is on) depends on index and
    size only; we take it from a proof pymerkle makes itself for that position.
    """
    rule = pymerkle_tree([b""] * size).prove_inclusion(index + 1, size).rule
    return pymerkle.InclusionProof("sha256", True, size, index + 1, rule, [leaf, *audit_path])


def sigstore_verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes, proof: list[bytes]) -> None:
    """transparency-dev/merkle ``VerifyConsistency`` over sigstore's RFC 6962 chaining helpers."""
    if size1 == size2 or size1 == 0:
        if proof or (size1 == size2 and root1 != root2):
            raise VerificationError("trivial consistency proof does not hold")
        return
    inner, border = _decomp_inclusion_proof(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1
    inner -= shift
    start = 0 if size1 == 1 << shift else 1  # a power-of-two old tree is its own seed
    if len(proof) != start + inner + border:
        raise VerificationError(f"consistency proof has {len(proof)} hashes, expected {start + inner + border}")
    seed, rest = (root1 if start == 0 else proof[0]), proof[start:]
    mask = (size1 - 1) >> shift
    left_of_old = [h for i, h in enumerate(rest[:inner]) if (mask >> i) & 1]
    if _chain_border_right(seed, left_of_old + rest[inner:]) != root1:
        raise VerificationError("consistency proof does not lead to the first root")
    if _chain_border_right(_chain_inner(seed, rest[:inner], mask), rest[inner:]) != root2:
        raise VerificationError("consistency proof does not lead to the second root")


async def test_sigstore_verifies_every_served_inclusion_proof_against_signed_checkpoints(served: Served) -> None:
    keyring = served.keyring()
    for size in SIZES:
        for index in range(size):
            entry = served.sigstore_entry(index, size, await served.inclusion(index, size))
            entry._verify(keyring)  # Merkle inclusion, then the checkpoint's signature and root


async def test_pymerkle_recomputes_the_signed_roots_from_the_served_leaves(served: Served) -> None:
    tree = pymerkle_tree(served.leaves)
    assert tree.get_leaf(1) == rfc9162_leaf_hash(served.leaves[0])  # RFC 9162 leaf hashing, not raw data
    for size, (root, _) in served.checkpoints.items():
        assert tree.get_root(size) == root
        assert pymerkle_tree(served.leaves[:size]).get_root() == root


async def test_pymerkle_verifies_served_inclusion_proofs_for_many_tree_sizes(served: Served) -> None:
    tree = pymerkle_tree(served.leaves)
    for size in (1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 36, 37):
        root = served.checkpoints[size][0] if size in served.checkpoints else tree.get_root(size)
        for index in sorted({0, 1, size // 2, size - 2, size - 1} & set(range(size))):
            path = [base64.b64decode(h) for h in await served.inclusion(index, size)]
            leaf = rfc9162_leaf_hash(served.leaves[index])
            pymerkle.verify_inclusion(
                leaf, root, pymerkle_inclusion(index, size, leaf, path), index=index + 1, size=size, algorithm="sha256"
            )
            assert path == tree.prove_inclusion(index + 1, size).path[1:]  # pymerkle's own audit path


async def test_served_consistency_proofs_between_signed_checkpoints(served: Served) -> None:
    tree = pymerkle_tree(served.leaves)
    for first, second in combinations(SIZES, 2):
        (root1, _), (root2, _) = served.checkpoints[first], served.checkpoints[second]
        sigstore_verify_consistency(first, second, root1, root2, await served.consistency(first, second))
        pymerkle.verify_consistency(
            root1, root2, tree.prove_consistency(first, second), prior_size=first, later_size=second, algorithm="sha256"
        )
    for first in (0, 37):
        sigstore_verify_consistency(
            first, 37, tree.get_root(first), tree.get_root(), await served.consistency(first, 37)
        )


def _flip(h: str) -> str:
    raw = bytearray(base64.b64decode(h))
    raw[7] ^= 0x01
    return b64(bytes(raw))


async def test_external_verifiers_reject_tampered_inclusion_proofs(served: Served) -> None:
    keyring = served.keyring()
    index, size = 21, 37
    good = await served.inclusion(index, size)
    served.sigstore_entry(index, size, good)._verify(keyring)
    assert len(good) == 6
    tampered = {
        "flipped bit": [*good[:2], _flip(good[2]), *good[3:]],
        "swapped siblings": [good[1], good[0], *good[2:]],
        "dropped sibling": good[:-1],
        "extra sibling": [*good, good[-1]],
    }
    leaf = rfc9162_leaf_hash(served.leaves[index])
    for path in tampered.values():
        with pytest.raises(VerificationError, match="inclusion proof"):
            served.sigstore_entry(index, size, path)._verify(keyring)
        decoded = [base64.b64decode(h) for h in path]
        with pytest.raises(pymerkle.InvalidProof):
            pymerkle.verify_inclusion(leaf, served.checkpoints[size][0], pymerkle_inclusion(index, size, leaf, decoded))
    # The right path for another leaf, another position, or the right path and leaf under another root.
    with pytest.raises(VerificationError, match="inclusion proof"):
        served.sigstore_entry(index, size, good, leaf=served.leaves[index + 1])._verify(keyring)
    with pytest.raises(VerificationError, match="inclusion proof"):
        served.sigstore_entry(index + 1, size, good, leaf=served.leaves[index])._verify(keyring)
    proof = pymerkle_inclusion(index, size, leaf, [base64.b64decode(h) for h in good])
    pymerkle.verify_inclusion(leaf, served.checkpoints[size][0], proof)
    with pytest.raises(pymerkle.InvalidProof):
        pymerkle.verify_inclusion(leaf, served.checkpoints[32][0], proof)


async def test_sigstore_rejects_a_forged_checkpoint(served: Served) -> None:
    keyring = served.keyring()
    index, size = 3, 16
    path = await served.inclusion(index, size)
    root, note = served.checkpoints[size]
    lines = note.split("\n")
    forged = "\n".join([lines[0], "17", *lines[2:]])  # claims another size under the same signature
    served.checkpoints[size] = (root, forged)
    with pytest.raises(VerificationError, match="invalid signature"):
        served.sigstore_entry(index, size, path)._verify(keyring)
    served.checkpoints[size] = (root, note)
    served.sigstore_entry(index, size, path)._verify(keyring)
    stranger = ed25519_keyring(Ed25519PrivateKey.generate().public_key())
    with pytest.raises(VerificationError, match="invalid signature"):
        served.sigstore_entry(index, size, path)._verify(stranger)


async def test_tampered_consistency_proofs_are_rejected(served: Served) -> None:
    root5, root37 = served.checkpoints[5][0], served.checkpoints[37][0]
    good = await served.consistency(5, 37)
    sigstore_verify_consistency(5, 37, root5, root37, good)
    flipped = [*good[:1], bytes([good[1][0] ^ 1]) + good[1][1:], *good[2:]]
    for proof in (flipped, good[:-1], [*good, good[-1]], good[1:]):
        with pytest.raises(VerificationError, match="consistency proof"):
            sigstore_verify_consistency(5, 37, root5, root37, proof)
    with pytest.raises(VerificationError, match="consistency proof"):
        sigstore_verify_consistency(5, 37, served.checkpoints[16][0], root37, good)
    with pytest.raises(VerificationError, match="consistency proof"):
        sigstore_verify_consistency(16, 37, served.checkpoints[16][0], root37, good)
