"""The SDK can require a quorum of named witnesses, and check a receipt's checkpoint against a LogMonitor. Pure."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agency_sdk import ConfigurationError, LogMonitor, Receipt, ReceiptInvalid, verify_receipt
from tests.support.fake_log import ORIGIN, FakeLog
from tlog.merkle import leaf_hash
from tlog.receipts import format_tlog_proof
from vault.crypto.signers import Cosigner, NoteSigner


@pytest.fixture
def log() -> FakeLog:
    return FakeLog(NoteSigner(ORIGIN, Ed25519PrivateKey.generate()), 10)


W1 = Cosigner("witness.example/w1", Ed25519PrivateKey.generate())
W2 = Cosigner("witness.example/w2", Ed25519PrivateKey.generate())


def cosigned(note: str, *witnesses: Cosigner) -> str:
    text = note.partition("\n\n")[0] + "\n"
    return note + "".join(w.signature_line(text, 1_800_000_000) for w in witnesses)


class CommitmentLog(FakeLog):
    """A FakeLog whose leaves are commitments the test knows, so receipts can be made for them."""

    def __init__(self, signer: NoteSigner, size: int, salt: bytes = b"") -> None:
        self.commitments: list[bytes] = []
        super().__init__(signer, 0, salt)
        self.grow(size)

    def grow(self, count: int) -> None:
        for _ in range(count):
            c = hashlib.sha256(self.salt + len(self.commitments).to_bytes(8, "big")).digest()
            self.commitments.append(c)
            self.tree.append(leaf_hash(c))

    def receipt(self, index: int, *witnesses: Cosigner, size: int | None = None) -> Receipt:
        size = self.tree.size if size is None else size
        proof = self.tree.inclusion_proof(index, size)
        note = cosigned(self.checkpoint(size), *witnesses)
        c = self.commitments[index]
        return Receipt(base64.b64encode(c).decode(), None, format_tlog_proof(c, index, proof, note))


def test_a_monitor_requiring_witnesses_accepts_only_cosigned_checkpoints(log: FakeLog) -> None:
    monitor = LogMonitor(log.signer.vkey(), witnesses=[W1.vkey(), W2.vkey()], quorum=1)
    with pytest.raises(ReceiptInvalid, match="not witnessed"):
        monitor.observe(log.checkpoint(), log.consistency)
    assert monitor.state is None
    assert monitor.observe(cosigned(log.checkpoint(), W2), log.consistency).size == 10
    log.grow(3)
    everyone = LogMonitor(log.signer.vkey(), witnesses=[W1.vkey(), W2.vkey()])  # default: all of them
    with pytest.raises(ReceiptInvalid, match="1 of the 2 named witnesses"):
        everyone.observe(cosigned(log.checkpoint(), W1), log.consistency)
    assert everyone.observe(cosigned(log.checkpoint(), W1, W2), log.consistency).size == 13


def test_bad_witness_settings_are_configuration_errors(log: FakeLog) -> None:
    with pytest.raises(ConfigurationError, match="bad witness key"):
        LogMonitor(log.signer.vkey(), witnesses=[log.signer.vkey()])  # a log key (0x01) is no witness key
    with pytest.raises(ConfigurationError, match="quorum of 3"):
        LogMonitor(log.signer.vkey(), witnesses=[W1.vkey(), W2.vkey()], quorum=3)
    with pytest.raises(ConfigurationError):
        verify_receipt(Receipt("x", None, "y"), log.signer.vkey(), quorum=1)


def test_verify_receipt_requires_the_quorum_on_the_proofs_checkpoint() -> None:
    log = CommitmentLog(NoteSigner(ORIGIN, Ed25519PrivateKey.generate()), 12)
    vkey = log.signer.vkey()
    assert verify_receipt(log.receipt(4, W1), vkey, witnesses=[W1.vkey()]).leaf_index == 4
    assert verify_receipt(log.receipt(4, W1), vkey).leaf_index == 4  # without witnesses the cosignature is ignored
    with pytest.raises(ReceiptInvalid, match="not witnessed"):
        verify_receipt(log.receipt(4), vkey, witnesses=[W1.vkey()])
    with pytest.raises(ReceiptInvalid, match="not witnessed"):
        verify_receipt(log.receipt(4, W1), vkey, witnesses=[W1.vkey(), W2.vkey()])
    promise_only = Receipt(log.receipt(4).commitment, "a promise", None)
    with pytest.raises(ReceiptInvalid, match="no inclusion proof"):
        verify_receipt(promise_only, vkey, require_proof=False, witnesses=[W1.vkey()])


def test_a_receipt_from_a_split_view_is_caught_by_the_monitor() -> None:
    signer = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    honest, other = CommitmentLog(signer, 12), CommitmentLog(signer, 12, salt=b"shown to this agency only")
    monitor = LogMonitor(signer.vkey())
    monitor.observe(honest.checkpoint(), honest.consistency)  # what everyone else sees
    forked = other.receipt(3)
    assert verify_receipt(forked, signer.vkey()).leaf_index == 3  # on its own the receipt verifies
    with pytest.raises(ReceiptInvalid, match="fork"):
        verify_receipt(forked, signer.vkey(), monitor=monitor, consistency=other.consistency)
    with pytest.raises(ConfigurationError, match="consistency"):
        verify_receipt(honest.receipt(3), signer.vkey(), monitor=monitor)


def test_the_monitor_confirms_older_and_newer_receipt_checkpoints() -> None:
    log = CommitmentLog(NoteSigner(ORIGIN, Ed25519PrivateKey.generate()), 12)
    monitor = LogMonitor(log.signer.vkey())
    monitor.observe(log.checkpoint(), log.consistency)
    older = log.receipt(2, size=5)  # a receipt kept from before: a prefix of what the monitor saw
    assert verify_receipt(older, log.signer.vkey(), monitor=monitor, consistency=log.consistency).tree_size == 5
    assert monitor.state is not None
    assert monitor.state.size == 12  # an older checkpoint does not move the monitor back
    log.grow(8)
    newer = log.receipt(15)
    assert verify_receipt(newer, log.signer.vkey(), monitor=monitor, consistency=log.consistency).tree_size == 20
    assert monitor.state.size == 20
