"""A bounded in-memory store whose entries expire: PAR requests, pending choices, codes, assertion ids."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")


class Expiring(Generic[T]):
    """Entries kept until they expire; at most ``limit`` of them (the oldest are dropped first).

    ``take`` removes what it returns, so a taken entry cannot be taken again (single use).
    """

    def __init__(self, limit: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        self._entries: OrderedDict[str, tuple[float, T]] = OrderedDict()
        self._limit = limit
        self.clock = clock

    def put(self, key: str, value: T, ttl: float) -> None:
        """Keep ``value`` under ``key`` for ``ttl`` seconds."""
        self._drop_expired()
        self._entries[key] = (self.clock() + ttl, value)
        while len(self._entries) > self._limit:
            self._entries.popitem(last=False)

    def take(self, key: str) -> T | None:
        """Remove and return the live entry under ``key``, or ``None``."""
        entry = self._entries.pop(key, None)
        if entry is None or entry[0] <= self.clock():
            return None
        return entry[1]

    def get(self, key: str) -> T | None:
        """The live entry under ``key`` (left in place), or ``None``."""
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self.clock():
            return None
        return entry[1]

    def __contains__(self, key: object) -> bool:
        entry = self._entries.get(key) if isinstance(key, str) else None
        return entry is not None and entry[0] > self.clock()

    def __len__(self) -> int:
        self._drop_expired()
        return len(self._entries)

    def _drop_expired(self) -> None:
        now = self.clock()
        for key in [k for k, (expires, _) in self._entries.items() if expires <= now]:
            del self._entries[key]
