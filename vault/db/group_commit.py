"""Group commit: requests that arrive while a transaction is running share the next one.

A hot write path whose transactions are small pays mostly per transaction (a ``BEGIN``, a few
statements, a durable ``COMMIT``), not per row. :class:`GroupCommit` runs one batch at a time;
whatever arrives meanwhile waits and goes together into the next batch, up to ``max_batch``. A lone
request is never delayed (it starts a batch at once), and under load the batches grow by
themselves. The batch function answers each request on its own — a result, or an exception for that
request only — so one bad request does not fail its neighbours; an exception from the batch itself
(the database is gone) fails every request in it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

In = TypeVar("In")
Out = TypeVar("Out")

DEFAULT_MAX_BATCH = 64


class GroupCommit(Generic[In, Out]):
    """Run ``batch`` over the requests waiting, one batch at a time, per event loop."""

    def __init__(
        self,
        batch: Callable[[Sequence[In]], Awaitable[Sequence[Out | Exception]]],
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._batch = batch
        self._max_batch = max_batch
        self._waiting: deque[tuple[In, asyncio.Future[Out]]] = deque()
        self._running: asyncio.Task[None] | None = None
        self.batches = 0  # counters for tests and metrics
        self.requests = 0

    async def submit(self, request: In) -> Out:
        """The batch function's answer for ``request`` (raised if it is an exception)."""
        future: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._waiting.append((request, future))
        if self._running is None or self._running.done() or self._running.get_loop() is not future.get_loop():
            self._running = asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._waiting:
            taken = [self._waiting.popleft() for _ in range(min(self._max_batch, len(self._waiting)))]
            self.batches += 1
            self.requests += len(taken)
            try:
                answers = await self._batch([request for request, _ in taken])
                if len(answers) != len(taken):
                    raise RuntimeError(f"batch answered {len(answers)} of {len(taken)} requests")
            except Exception as exc:  # noqa: BLE001  the batch failed as a whole: every request in it fails
                for _, future in taken:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), answer in zip(taken, answers, strict=True):
                if future.done():  # the caller went away (client disconnect); the work is done anyway
                    continue
                if isinstance(answer, Exception):
                    future.set_exception(answer)
                else:
                    future.set_result(answer)
