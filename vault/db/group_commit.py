"""Group commit: requests that arrive while a transaction is running share the next one.

A hot write path whose transactions are small pays mostly per transaction (a ``BEGIN``, a few
statements, a durable ``COMMIT``), not per row. :class:`GroupCommit` runs one batch at a time;
whatever arrives meanwhile waits and goes together into the next batch, up to ``max_batch``. A lone
request is never delayed (it starts a batch at once), and under load the batches grow by
themselves. The batch function answers each request on its own — a result, or an exception for that
request only — so one bad request does not fail its neighbours; an exception from the batch itself
(the database is gone) fails every request in it, and a cancelled batch fails its requests and the
waiting ones with :class:`BatchInterrupted` instead of leaving them waiting. A request whose caller
went away while it waited is dropped before its batch runs.
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
            taken = self._take()
            if not taken:
                continue
            self.batches += 1
            self.requests += len(taken)
            try:
                answers = await self._batch([request for request, _ in taken])
                if len(answers) != len(taken):
                    raise RuntimeError(f"batch answered {len(answers)} of {len(taken)} requests")
            except Exception as exc:  # noqa: BLE001  the batch failed as a whole: every request in it fails
                _fail(taken, exc)
                continue
            except BaseException as exc:  # cancelled (shutdown): no caller may wait for ever
                interrupted = BatchInterrupted(f"the batch was interrupted ({type(exc).__name__})")
                interrupted.__cause__ = exc
                _fail([*taken, *self._waiting], interrupted)
                self._waiting.clear()
                raise
            for (_, future), answer in zip(taken, answers, strict=True):
                if future.done():  # the caller went away (client disconnect) during the batch: too late to skip
                    continue
                if isinstance(answer, Exception):
                    future.set_exception(answer)
                else:
                    future.set_result(answer)

    def _take(self) -> list[tuple[In, asyncio.Future[Out]]]:
        """The next batch: up to ``max_batch`` waiting requests whose callers still wait for them.

        A request whose caller has gone (its future cancelled) is dropped here, before any work is done
        for it: a read nobody receives must not use up a ``once`` grant or leave a log entry.
        """
        taken: list[tuple[In, asyncio.Future[Out]]] = []
        while self._waiting and len(taken) < self._max_batch:
            request, future = self._waiting.popleft()
            if not future.done():
                taken.append((request, future))
        return taken


class BatchInterrupted(RuntimeError):
    """The batch a request was in (or waited for) was cancelled before it answered."""


def _fail(requests: Sequence[tuple[object, asyncio.Future[Out]]], exc: BaseException) -> None:
    for _, future in requests:
        if not future.done():
            future.set_exception(exc)
