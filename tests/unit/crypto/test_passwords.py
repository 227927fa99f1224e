from __future__ import annotations

import asyncio

import argon2
import pytest

from vault.crypto.passwords import (
    DEFAULT_POLICY,
    MAX_PASSWORD_LENGTH,
    PasswordHasher,
    PasswordPolicy,
    VerifyResult,
)

TINY = PasswordPolicy(memory_cost=1024, time_cost=1)
STRONGER = PasswordPolicy(memory_cost=2048, time_cost=2)


@pytest.fixture
def hasher() -> PasswordHasher:
    return PasswordHasher(TINY)


async def test_round_trip(hasher: PasswordHasher) -> None:
    stored = await hasher.hash("correct horse battery staple")
    assert stored.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert await hasher.verify(stored, "correct horse battery staple") == VerifyResult(True, None)
    assert await hasher.hash("correct horse battery staple") != stored  # fresh salt each time
    assert hasher.in_flight == 0


async def test_wrong_password(hasher: PasswordHasher) -> None:
    stored = await hasher.hash("right")
    assert await hasher.verify(stored, "wrong") == VerifyResult(False, None)


@pytest.mark.parametrize(
    "stored",
    ["", "not a hash", "$argon2id$junk", "$argon2id$v=19$m=1024,t=1,p=1$xx$yy", "$argon2id$v=19$ü", "$2b$12$abc"],
)
async def test_malformed_hash_is_a_plain_failure(hasher: PasswordHasher, stored: str) -> None:
    assert await hasher.verify(stored, "anything") == VerifyResult(False, None)


async def test_long_passwords_are_not_truncated(hasher: PasswordHasher) -> None:
    first, second = "a" * 99 + "b", "a" * 99 + "c"
    stored = await hasher.hash(first)
    assert (await hasher.verify(stored, first)).ok
    assert not (await hasher.verify(stored, second)).ok


async def test_rehash_when_policy_rises() -> None:
    weak, strong = PasswordHasher(TINY), PasswordHasher(STRONGER)
    stored = await weak.hash("pw")

    result = await strong.verify(stored, "pw")
    assert result.ok
    assert result.new_hash is not None
    params = argon2.extract_parameters(result.new_hash)
    assert (params.type, params.memory_cost, params.time_cost) == (argon2.Type.ID, 2048, 2)
    assert await strong.verify(result.new_hash, "pw") == VerifyResult(True, None)

    assert await weak.verify(stored, "pw") == VerifyResult(True, None)  # same policy: nothing to do
    assert await weak.verify(result.new_hash, "pw") == VerifyResult(True, None)  # stronger: never downgraded
    assert await strong.verify(stored, "wrong") == VerifyResult(False, None)  # no rehash without a match


async def test_non_argon2id_hash_is_rehashed(hasher: PasswordHasher) -> None:
    stored = argon2.PasswordHasher(memory_cost=1024, time_cost=1, parallelism=1, type=argon2.Type.I).hash("pw")
    result = await hasher.verify(stored, "pw")
    assert result.ok
    assert result.new_hash is not None
    assert argon2.extract_parameters(result.new_hash).type is argon2.Type.ID


async def test_burst_never_exceeds_the_cap() -> None:
    hasher = PasswordHasher(PasswordPolicy(memory_cost=4096, time_cost=2), max_concurrent=2)
    stored = await hasher.hash("pw")
    results = await asyncio.gather(*(hasher.verify(stored, "pw") for _ in range(30)))
    assert all(r == VerifyResult(True, None) for r in results)
    assert hasher.max_in_flight_seen == 2  # never more than the cap, and the two slots did overlap
    assert hasher.in_flight == 0


async def test_cancelled_callers_do_not_lift_the_cap() -> None:
    hasher = PasswordHasher(PasswordPolicy(memory_cost=4096, time_cost=2), max_concurrent=1)
    stored = await hasher.hash("pw")
    tasks = [asyncio.create_task(hasher.verify(stored, "pw")) for _ in range(6)]
    while hasher.in_flight == 0 and not tasks[-1].done():  # wait until a computation runs in its thread
        await asyncio.sleep(0.001)
    for task in tasks[:3]:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(r == VerifyResult(True, None) for r in results[3:])
    assert hasher.max_in_flight_seen == 1


async def test_dummy_verify(hasher: PasswordHasher) -> None:
    assert hasher.max_in_flight_seen == 0
    await hasher.dummy_verify("whatever")
    assert hasher.max_in_flight_seen == 1  # it did run an Argon2 verify, through the same cap
    with pytest.raises(ValueError, match="empty"):
        await hasher.dummy_verify("")


async def test_length_limits(hasher: PasswordHasher) -> None:
    stored = await hasher.hash("x" * MAX_PASSWORD_LENGTH)
    assert (await hasher.verify(stored, "x" * MAX_PASSWORD_LENGTH)).ok
    with pytest.raises(ValueError, match="empty"):
        await hasher.hash("")
    with pytest.raises(ValueError, match=f"at most {MAX_PASSWORD_LENGTH} characters"):
        await hasher.hash("x" * (MAX_PASSWORD_LENGTH + 1))
    with pytest.raises(ValueError, match="at most"):
        await hasher.verify(stored, "x" * (MAX_PASSWORD_LENGTH + 1))
    with pytest.raises(ValueError, match="at most"):
        await hasher.hash("x" * 1_000_000)


async def test_nfc_equivalence(hasher: PasswordHasher) -> None:
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    assert composed != decomposed
    assert (await hasher.verify(await hasher.hash(composed), decomposed)).ok
    assert (await hasher.verify(await hasher.hash(decomposed), composed)).ok
    # 600 decomposed "é" are 1200 code points but only 600 after NFC, so they are within the limit
    assert (await hasher.verify(await hasher.hash("\u00e9" * 600), "e\u0301" * 600)).ok


async def test_default_policy_meets_owasp_minimum() -> None:
    hasher = PasswordHasher()
    assert hasher.policy == DEFAULT_POLICY
    stored = await hasher.hash("pw")
    params = argon2.extract_parameters(stored)
    assert params.type is argon2.Type.ID
    assert params.memory_cost >= 19 * 1024  # 19 MiB
    assert params.time_cost >= 2
    assert params.parallelism >= 1
    assert params.hash_len >= 32
    assert params.salt_len >= 16
    assert await hasher.verify(stored, "pw") == VerifyResult(True, None)
