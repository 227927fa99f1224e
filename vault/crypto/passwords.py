"""Password hashing: Argon2id, transparent rehash on login, and a cap on concurrent hashing.

OWASP ASVS 5.0 V11.4.2 requires an approved, computationally intensive password hashing function "with
parameter settings configured based on current guidance". That guidance is the OWASP Password Storage Cheat
Sheet (https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html): Argon2id with at
least 19 MiB of memory, 2 iterations and parallelism 1. :data:`DEFAULT_POLICY` is that floor (m=19456 KiB,
t=2, p=1; 32-byte tag, 16-byte salt); operators may raise it. After a successful login
:meth:`PasswordHasher.verify` hands back a fresh hash, for the caller to store, whenever the stored one is
not Argon2id or has any parameter below the policy; stronger stored hashes are kept, never downgraded.

Argon2 is memory-hard, so a burst of logins could exhaust memory: computations run off the event loop on a
private pool of ``max_concurrent`` threads behind an :class:`asyncio.Semaphore`, bounding memory to
``max_concurrent x memory_cost`` even when waiting callers are cancelled (argon2-cffi releases the GIL).

Passwords are NFC-normalised first, so "é" as one code point or as "e" plus a combining accent is the same
password. They are never truncated (Argon2 has no 72-byte limit like bcrypt); empty ones and ones over
:data:`MAX_PASSWORD_LENGTH` characters (a DoS guard) raise :class:`ValueError`.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import partial
from typing import TYPE_CHECKING, TypeVar

import argon2
from argon2.exceptions import VerificationError
from argon2.low_level import ARGON2_VERSION

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")
MAX_PASSWORD_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """Argon2id parameters; ``memory_cost`` is in KiB, lengths in bytes."""

    memory_cost: int = 19_456
    time_cost: int = 2
    parallelism: int = 1
    hash_len: int = 32
    salt_len: int = 16

    def is_met_by(self, params: argon2.Parameters) -> bool:
        """Whether a stored hash's ``params`` are Argon2id and at or above this policy in every parameter."""
        return (
            params.type is argon2.Type.ID
            and params.version >= ARGON2_VERSION
            and params.memory_cost >= self.memory_cost
            and params.time_cost >= self.time_cost
            and params.parallelism >= self.parallelism
            and params.hash_len >= self.hash_len
            and params.salt_len >= self.salt_len
        )


DEFAULT_POLICY = PasswordPolicy()  # the OWASP Password Storage Cheat Sheet minimum for Argon2id


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """Outcome of :meth:`PasswordHasher.verify`; store ``new_hash`` when it is set."""

    ok: bool
    new_hash: str | None = None


def _prepare(password: str) -> str:
    """NFC-normalise ``password`` and enforce the length rules; raise ``ValueError`` if broken."""
    if len(password) <= 4 * MAX_PASSWORD_LENGTH:  # bound the work spent normalising hostile input
        password = unicodedata.normalize("NFC", password)
    if not password:
        raise ValueError("password must not be empty")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"password must be at most {MAX_PASSWORD_LENGTH} characters")
    return password


class PasswordHasher:
    """Async Argon2id hasher running at most ``max_concurrent`` computations at once."""

    def __init__(self, policy: PasswordPolicy = DEFAULT_POLICY, max_concurrent: int = 2) -> None:
        self.policy = policy
        self._argon2 = argon2.PasswordHasher(**asdict(policy), type=argon2.Type.ID)  # field names match
        self._semaphore = asyncio.Semaphore(max_concurrent)
        self._pool = ThreadPoolExecutor(max_workers=max_concurrent, thread_name_prefix="argon2")
        self._lock = threading.Lock()
        self._in_flight = 0
        self._max_in_flight_seen = 0
        # One hash at start-up (synchronous, once) so that dummy_verify costs what a real verify costs.
        self._dummy_hash = self._argon2.hash(secrets.token_urlsafe(32))

    @property
    def in_flight(self) -> int:
        """Argon2 computations running right now."""
        return self._in_flight

    @property
    def max_in_flight_seen(self) -> int:
        """Most Argon2 computations ever seen running at once."""
        return self._max_in_flight_seen

    async def hash(self, password: str) -> str:
        """Hash ``password`` under the policy; raise ``ValueError`` if it is empty or too long."""
        return await self._run(partial(self._argon2.hash, _prepare(password)))

    async def verify(self, stored_hash: str, password: str) -> VerifyResult:
        """Check ``password`` against ``stored_hash``.

        Returns:
            ``VerifyResult(True, new_hash)`` on a match, where ``new_hash`` is a fresh hash under the
            policy if the stored one falls short of it (else ``None``); ``VerifyResult(False, None)``
            for a wrong password or a malformed hash, without saying which.

        Raises:
            ValueError: ``password`` is empty or too long.
        """
        return await self._run(partial(self._verify_sync, stored_hash, _prepare(password)))

    async def dummy_verify(self, password: str) -> None:
        """Spend the work of one verify on a fixed hash, so that "no such user" costs as much as a wrong password."""
        await self._run(partial(self._verify_sync, self._dummy_hash, _prepare(password)))

    def _verify_sync(self, stored_hash: str, password: str) -> VerifyResult:
        try:
            self._argon2.verify(stored_hash, password)
            current = self.policy.is_met_by(argon2.extract_parameters(stored_hash))
        except (VerificationError, ValueError):  # mismatch, malformed or non-ASCII hash
            return VerifyResult(ok=False)
        return VerifyResult(ok=True, new_hash=None if current else self._argon2.hash(password))

    async def _run(self, call: Callable[[], T]) -> T:
        async with self._semaphore:
            return await asyncio.get_running_loop().run_in_executor(self._pool, self._tracked, call)

    def _tracked(self, call: Callable[[], T]) -> T:
        with self._lock:
            self._in_flight += 1
            self._max_in_flight_seen = max(self._max_in_flight_seen, self._in_flight)
        try:
            return call()
        finally:
            with self._lock:
                self._in_flight -= 1
