"""Stateless DPoP nonces: good for the current and the previous window, nothing else."""

from __future__ import annotations

import pytest

from vault.consent.nonces import DpopNonces
from vault.crypto.macs import NonceMac

KEY = NonceMac(bytes(range(32)))


def test_a_nonce_is_good_for_its_window_and_the_next_only() -> None:
    now = [1_000_000.0]
    nonces = DpopNonces(KEY, window_s=300, clock=lambda: now[0])
    nonce = nonces.current()
    assert nonces.valid(nonce)
    now[0] += 300
    assert nonces.valid(nonce)  # the previous window's is still accepted
    assert nonces.current() != nonce
    now[0] += 300
    assert not nonces.valid(nonce)


def test_a_nonce_of_another_deployment_or_a_made_up_one_is_refused() -> None:
    ours = DpopNonces(KEY, clock=lambda: 5_000.0)
    theirs = DpopNonces(NonceMac(bytes(32)), clock=lambda: 5_000.0)
    assert not ours.valid(theirs.current())
    for bad in (None, "", "x" * 65, 42, ours.current()[:-1], ours.current().upper()):
        assert not ours.valid(bad)


def test_a_non_ascii_nonce_is_refused_not_an_error() -> None:
    nonces = DpopNonces(KEY, clock=lambda: 5_000.0)
    good = nonces.current()
    for bad in ("ü", "\u0661" * 8, good[:-1] + "é", "\x00" + good[1:]):
        assert nonces.valid(bad) is False  # compare_digest on a non-ASCII str raised TypeError: an HTTP 500


def test_the_key_must_be_long_enough() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        NonceMac(b"short")
