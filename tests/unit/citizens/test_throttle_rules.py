"""The throttle's pure rules: when an attempt is admitted, how long a block lasts, what a success gives back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vault.citizens.throttle import (
    ACCOUNT,
    ACCOUNT_FREE,
    ACCOUNT_MAX_BLOCK,
    CLIENT,
    CLIENT_BLOCK,
    CLIENT_FREE,
    Counter,
    address_value,
    admit,
    after_failure,
    challenge_limit,
    client_key,
    refund,
    register_limit,
)
from vault.config import ConfigError, load_settings

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def test_the_free_th_attempt_is_admitted_and_blocks_the_next() -> None:
    counter = Counter(0, T0)
    for _ in range(ACCOUNT_FREE):
        counter, wait = admit(counter, ACCOUNT, T0)
        assert wait == 0
    assert counter.attempts == ACCOUNT_FREE
    refused, wait = admit(counter, ACCOUNT, T0)
    assert wait == 1
    assert refused == counter  # a refused attempt is not counted


def test_account_blocks_double_up_to_the_cap() -> None:
    counter, now, waits = Counter(ACCOUNT_FREE - 1, T0), T0, []
    for _ in range(12):
        counter, wait = admit(counter, ACCOUNT, now)
        assert wait == 0
        _, wait = admit(counter, ACCOUNT, now)
        waits.append(wait)
        now += timedelta(seconds=wait)
    cap = int(ACCOUNT_MAX_BLOCK.total_seconds())
    assert waits == [min(2**k, cap) for k in range(12)]


def test_client_block_is_fixed_and_a_new_window_starts_afresh() -> None:
    counter, _ = admit(Counter(CLIENT_FREE - 1, T0), CLIENT, T0)
    assert counter.blocked_until == T0 + CLIENT_BLOCK
    later = T0 + CLIENT.window + timedelta(seconds=1)
    fresh, wait = admit(counter, CLIENT, later)
    assert wait == 0
    assert (fresh.attempts, fresh.window_start) == (1, later)


def test_registration_and_challenge_limits_block_until_their_window_ends() -> None:
    for limit in (register_limit(3), challenge_limit(3)):
        counter = Counter(0, T0)
        for second in range(3):
            counter, wait = admit(counter, limit, T0 + timedelta(seconds=second))
            assert wait == 0
        _, wait = admit(counter, limit, T0 + timedelta(seconds=3))
        assert wait == int(limit.window.total_seconds()) - 3
        _, wait = admit(counter, limit, T0 + limit.window + timedelta(seconds=1))
        assert wait == 0


def test_a_failure_starts_the_block_when_its_answer_is_known_and_never_shortens_it() -> None:
    counter, _ = admit(Counter(ACCOUNT_FREE - 1, T0), ACCOUNT, T0)
    assert counter.blocked_until == T0 + timedelta(seconds=1)
    known = T0 + timedelta(seconds=3)  # the password check took three seconds
    assert after_failure(counter, ACCOUNT, known).blocked_until == known + timedelta(seconds=1)
    longer = Counter(counter.attempts, T0, T0 + timedelta(minutes=1))
    assert after_failure(longer, ACCOUNT, known) == longer
    below = Counter(ACCOUNT_FREE - 1, T0)
    assert after_failure(below, ACCOUNT, known) == below


def test_refund_lifts_the_block_only_below_the_limit() -> None:
    blocked, _ = admit(Counter(CLIENT_FREE - 1, T0), CLIENT, T0)
    lifted = refund(blocked, CLIENT)
    assert (lifted.attempts, lifted.blocked_until) == (CLIENT_FREE - 1, None)
    still = refund(Counter(CLIENT_FREE + 1, T0, T0 + CLIENT_BLOCK), CLIENT)
    assert still.blocked_until == T0 + CLIENT_BLOCK
    assert refund(Counter(0, T0), CLIENT).attempts == 0


def test_an_ipv6_client_counts_by_its_64_network() -> None:
    assert address_value("2001:db8:1:2:aaaa::1") == address_value("2001:db8:1:2:ffff::9") == b"2001:db8:1:2::/64"
    assert client_key("2001:db8:1:2::1") != client_key("2001:db8:1:3::1")
    assert address_value("::ffff:198.51.100.7") == address_value("198.51.100.7") == b"198.51.100.7"
    assert address_value("testclient") == b"testclient"


def test_the_limits_are_settings_and_zero_turns_them_off() -> None:
    settings = load_settings({"VAULT_REGISTER_LIMIT": "3", "VAULT_CHALLENGE_LIMIT": "0"})
    assert (settings.register_limit, settings.challenge_limit) == (3, 0)
    assert (load_settings({}).register_limit, load_settings({}).challenge_limit) == (20, 30)
    for name in ("VAULT_REGISTER_LIMIT", "VAULT_CHALLENGE_LIMIT"):
        with pytest.raises(ConfigError) as info:
            load_settings({name: "-1"})
        assert info.value.setting == name
