"""LogMonitor accepts only checkpoints that extend what it has seen, signed by the pinned key. Pure."""

from __future__ import annotations

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agency_sdk import LogMonitor, MonitorState, ReceiptInvalid
from tests.support.fake_log import ORIGIN, FakeLog
from vault.crypto.signers import NoteSigner


@pytest.fixture
def signer() -> NoteSigner:
    return NoteSigner(ORIGIN, Ed25519PrivateKey.generate())


def test_a_growing_log_is_followed_and_the_state_survives_a_restart(signer: NoteSigner) -> None:
    log = FakeLog(signer, 5)
    monitor = LogMonitor(signer.vkey())
    assert monitor.observe(log.checkpoint(), log.consistency).size == 5
    log.grow(12)
    assert monitor.observe(log.checkpoint(), log.consistency).size == 17
    assert monitor.observe(log.checkpoint(), log.consistency).size == 17  # the same checkpoint again is fine
    stored = msgspec.json.encode(monitor.state)
    again = LogMonitor(signer.vkey(), state=msgspec.json.decode(stored, type=MonitorState))
    log.grow(3)
    assert again.observe(log.checkpoint(), log.consistency).size == 20


def test_a_rollback_is_refused(signer: NoteSigner) -> None:
    log = FakeLog(signer, 10)
    monitor = LogMonitor(signer.vkey())
    monitor.observe(log.checkpoint(), log.consistency)
    with pytest.raises(ReceiptInvalid, match="rollback"):
        monitor.observe(log.checkpoint(7), log.consistency)


def test_a_fork_is_refused_at_the_same_size_and_when_it_grows(signer: NoteSigner) -> None:
    honest, other = FakeLog(signer, 10), FakeLog(signer, 10, salt=b"another history")
    monitor = LogMonitor(signer.vkey())
    monitor.observe(honest.checkpoint(), honest.consistency)
    with pytest.raises(ReceiptInvalid, match="fork"):
        monitor.observe(other.checkpoint(), other.consistency)  # same size, another root: a split view
    other.grow(5)
    with pytest.raises(ReceiptInvalid, match="fork"):
        monitor.observe(other.checkpoint(), other.consistency)  # grown from a different tree
    assert monitor.state is not None
    assert monitor.state.size == 10  # nothing refused was accepted


def test_a_checkpoint_signed_by_another_key_or_for_another_log_is_refused(signer: NoteSigner) -> None:
    monitor = LogMonitor(signer.vkey())
    forger = FakeLog(NoteSigner(ORIGIN, Ed25519PrivateKey.generate()), 3)
    with pytest.raises(ReceiptInvalid, match="checkpoint refused"):
        monitor.observe(forger.checkpoint(), forger.consistency)
    elsewhere = NoteSigner("other.example/log", Ed25519PrivateKey.generate())
    with pytest.raises(ReceiptInvalid):
        LogMonitor(signer.vkey()).observe(FakeLog(elsewhere, 3).checkpoint(), forger.consistency)
    with pytest.raises(ReceiptInvalid, match="bad log key"):
        LogMonitor("not a key")


def test_a_wrong_consistency_proof_is_refused(signer: NoteSigner) -> None:
    log = FakeLog(signer, 6)
    monitor = LogMonitor(signer.vkey())
    monitor.observe(log.checkpoint(), log.consistency)
    log.grow(6)
    with pytest.raises(ReceiptInvalid, match="fork"):
        monitor.observe(log.checkpoint(), lambda first, second: [b"\x00" * 32] * 3)
