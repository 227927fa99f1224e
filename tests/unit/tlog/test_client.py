"""The one sans-I/O log client: a new checkpoint replaces the trusted one only if it extends it."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tlog.client import (
    CosignatureInvalid,
    Fork,
    Inconsistent,
    LogStateTracker,
    NotWitnessed,
    Rollback,
    SignatureInvalid,
    TrustedState,
)
from tlog.cosignature import CosignatureVerifier
from tlog.merkle import MemoryTree, leaf_hash
from tlog.note import Checkpoint, Verifier, note_text, with_signature
from vault.crypto.signers import Cosigner, NoteSigner, sign_checkpoint

ORIGIN = "example.com/log"
LOG = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
TREE = MemoryTree(leaf_hash(i.to_bytes(4, "big")) for i in range(40))
W1 = Cosigner("witness.example/w1", Ed25519PrivateKey.generate())
W2 = Cosigner("witness.example/w2", Ed25519PrivateKey.generate())


def note(size: int, signer: NoteSigner = LOG, tree: MemoryTree = TREE) -> str:
    return sign_checkpoint(Checkpoint(signer.name, size, tree.root(size)), signer)


def cosigned(signed: str, *witnesses: Cosigner) -> str:
    for w in witnesses:
        signed = with_signature(signed, w.name, w.key_id, w.signature_line(note_text(signed), 1700000000))
    return signed


def tracker(*witnesses: Cosigner, quorum: int | None = None) -> LogStateTracker:
    verifiers = [CosignatureVerifier.from_vkey(w.vkey()) for w in witnesses]
    return LogStateTracker(Verifier.from_vkey(LOG.vkey()), origin=ORIGIN, witnesses=verifiers, quorum=quorum)


def step(t: LogStateTracker, trusted: TrustedState | None, signed: str, tree: MemoryTree = TREE) -> TrustedState:
    checkpoint = t.open(signed).checkpoint
    span = t.proof_span(trusted, checkpoint)
    return t.advance(trusted, checkpoint, signed, tree.consistency_proof(*span) if span else [])


def test_a_growing_log_is_followed_from_nothing() -> None:
    t = tracker()
    state = step(t, None, note(0))
    assert t.proof_span(state, t.open(note(5)).checkpoint) is None  # every tree extends the empty one
    for size in (5, 5, 17, 40):
        state = step(t, state, note(size))
        assert (state.size, state.root, state.checkpoint) == (size, TREE.root(size), note(size))
    assert t.proof_span(TrustedState(17, TREE.root(17), ""), t.open(note(40)).checkpoint) == (17, 40)


def test_rollback_fork_and_a_bad_proof_are_refused() -> None:
    t = tracker()
    trusted = step(t, None, note(20))
    with pytest.raises(Rollback, match="rollback: checkpoint size 10 is below the verified size 20"):
        step(t, trusted, note(10))
    other = MemoryTree(leaf_hash(b"x" + i.to_bytes(4, "big")) for i in range(40))
    with pytest.raises(Fork, match="fork: two different roots for size 20"):
        step(t, trusted, note(20, tree=other))
    with pytest.raises(Inconsistent, match="checkpoint 30 is not consistent with verified 20"):
        step(t, trusted, note(30, tree=other), tree=other)
    checkpoint = t.open(note(30)).checkpoint
    with pytest.raises(Inconsistent):
        t.advance(trusted, checkpoint, note(30), TREE.consistency_proof(19, 30))  # a proof for other sizes


def test_a_checkpoint_not_signed_by_the_pinned_key_or_for_another_origin_is_refused() -> None:
    with pytest.raises(SignatureInvalid, match="no valid signature"):
        tracker().open(note(3, NoteSigner(ORIGIN, Ed25519PrivateKey.generate())))
    elsewhere = NoteSigner("other.example/log", Ed25519PrivateKey.generate())
    t = LogStateTracker(Verifier.from_vkey(elsewhere.vkey()), origin=ORIGIN)
    with pytest.raises(SignatureInvalid, match="origin"):
        t.open(note(3, elsewhere))
    with pytest.raises(SignatureInvalid):
        tracker().open("not a note")


def test_witnesses_must_make_the_quorum() -> None:
    both = cosigned(note(8), W1, W2)
    assert [c.name for c in tracker(W1, W2).open(both).cosignatures] == [W1.name, W2.name]
    assert tracker().open(both).cosignatures == ()
    with pytest.raises(NotWitnessed, match="1 of the 2 named witnesses"):
        tracker(W1, W2).open(cosigned(note(8), W1))
    assert tracker(W1, W2, quorum=1).open(cosigned(note(8), W2)).checkpoint.size == 8
    signed = cosigned(note(8), W1)
    line = signed.splitlines()[-1]
    prefix, b64 = line.rsplit(" ", 1)
    raw = bytearray(base64.b64decode(b64))
    raw[-1] ^= 1  # the witness's Ed25519 signature, one bit off
    with pytest.raises(CosignatureInvalid, match="invalid cosignature"):
        tracker(W1).open(signed.replace(line, f"{prefix} {base64.b64encode(raw).decode()}"))


def test_an_older_checkpoint_must_be_a_prefix_of_the_trusted_one() -> None:
    t = tracker()
    trusted = step(t, None, note(30))
    t.check_prefix(trusted, t.open(note(12)).checkpoint, TREE.consistency_proof(12, 30))
    t.check_prefix(trusted, t.open(note(0)).checkpoint, [])
    other = MemoryTree(leaf_hash(b"y" + i.to_bytes(4, "big")) for i in range(40))
    with pytest.raises(Inconsistent, match="checkpoint 12 is not a prefix of 30"):
        t.check_prefix(trusted, t.open(note(12, tree=other)).checkpoint, other.consistency_proof(12, 30))
    with pytest.raises(Rollback):
        t.check_prefix(trusted, t.open(note(31)).checkpoint, [])
