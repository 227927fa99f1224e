"""Group commit: lone requests are not delayed, concurrent ones share batches, failures stay where they belong."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from vault.db.group_commit import BatchInterrupted, GroupCommit

if TYPE_CHECKING:
    from collections.abc import Sequence


class Recorder:
    """A batch function that records its batches and answers ``n * 10``, or fails odd numbers when asked.

    With ``gated``, every batch waits for ``gate`` (the test opens it), so what arrives during a batch
    does not depend on how fast the machine is.
    """

    def __init__(self, *, fail_odd: bool = False, delay: float = 0.01, gated: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.fail_odd = fail_odd
        self.delay = delay
        self.started = asyncio.Event()
        self.gate = asyncio.Event()
        if not gated:
            self.gate.set()

    async def __call__(self, requests: Sequence[int]) -> list[int | Exception]:
        self.batches.append(list(requests))
        self.started.set()
        await self.gate.wait()
        await asyncio.sleep(self.delay)  # a transaction takes a while; requests arriving meanwhile wait
        return [ValueError(f"odd {n}") if self.fail_odd and n % 2 else n * 10 for n in requests]


async def test_a_lone_request_runs_at_once_in_its_own_batch() -> None:
    recorder = Recorder(delay=0)
    group = GroupCommit(recorder)
    assert await group.submit(1) == 10
    assert await group.submit(2) == 20
    assert recorder.batches == [[1], [2]]


async def test_requests_arriving_during_a_batch_share_the_next_one_in_order() -> None:
    recorder = Recorder(gated=True)
    group = GroupCommit(recorder, max_batch=64)
    first = asyncio.ensure_future(group.submit(0))
    await recorder.started.wait()  # its batch is running now
    queued = [asyncio.ensure_future(group.submit(n)) for n in range(1, 50)]
    await asyncio.sleep(0)  # each has queued its request
    recorder.gate.set()
    answers = await asyncio.gather(*queued)
    assert await first == 0
    assert answers == [n * 10 for n in range(1, 50)]
    assert recorder.batches == [[0], list(range(1, 50))]  # the rest waited for the first and went together
    assert (group.batches, group.requests) == (2, 50)


async def test_batches_are_capped_at_max_batch() -> None:
    recorder = Recorder()
    group = GroupCommit(recorder, max_batch=8)
    await asyncio.gather(*[group.submit(n) for n in range(30)])
    assert max(len(b) for b in recorder.batches) == 8
    assert sorted(n for b in recorder.batches for n in b) == list(range(30))


async def test_a_refused_request_fails_alone() -> None:
    group = GroupCommit(Recorder(fail_odd=True))
    results = await asyncio.gather(*[group.submit(n) for n in range(6)], return_exceptions=True)
    assert [r if isinstance(r, int) else str(r) for r in results] == [0, "odd 1", 20, "odd 3", 40, "odd 5"]


async def test_a_failed_batch_fails_every_request_in_it_and_the_next_batch_still_runs() -> None:
    calls = 0
    started, gate = asyncio.Event(), asyncio.Event()

    async def flaky(requests: Sequence[int]) -> list[int | Exception]:
        nonlocal calls
        calls += 1
        started.set()
        await gate.wait()
        if calls == 2:
            raise ConnectionError("database went away")
        return list(requests)

    group = GroupCommit(flaky)
    first = asyncio.ensure_future(group.submit(0))
    await started.wait()  # the first batch is running; the next four share the second
    queued = [asyncio.ensure_future(group.submit(n)) for n in range(1, 5)]
    await asyncio.sleep(0)
    gate.set()
    results = [await first, *await asyncio.gather(*queued, return_exceptions=True)]
    assert results[0] == 0
    assert all(isinstance(r, ConnectionError) for r in results[1:])
    assert await group.submit(7) == 7  # the group is not stuck


async def test_a_batch_that_answers_the_wrong_number_of_requests_fails_them_all() -> None:
    async def short(requests: Sequence[int]) -> list[int | Exception]:
        return list(requests)[:-1]

    group = GroupCommit(short)
    with pytest.raises(RuntimeError, match="answered 0 of 1"):
        await group.submit(1)


async def test_a_caller_that_goes_away_does_not_disturb_the_others() -> None:
    recorder = Recorder()
    group = GroupCommit(recorder)
    first = asyncio.ensure_future(group.submit(0))
    await asyncio.sleep(0)
    waiting = [asyncio.ensure_future(group.submit(n)) for n in range(1, 4)]
    await asyncio.sleep(0)
    waiting[0].cancel()  # e.g. the client disconnected while its read was queued
    assert await first == 0
    assert await asyncio.gather(*waiting[1:]) == [20, 30]
    assert recorder.batches[1] == [2, 3]  # nobody waits for 1 any more: no work is done for it


async def test_requests_whose_callers_all_went_away_run_no_batch() -> None:
    recorder = Recorder()
    group = GroupCommit(recorder)
    first = asyncio.ensure_future(group.submit(0))
    await asyncio.sleep(0)
    gone = [asyncio.ensure_future(group.submit(n)) for n in (1, 2)]
    await asyncio.sleep(0)
    for caller in gone:
        caller.cancel()  # e.g. a `once` read whose client disconnected: it must not use the grant up for nobody
    assert await first == 0
    assert await group.submit(3) == 30
    assert recorder.batches == [[0], [3]]
    assert (group.batches, group.requests) == (2, 2)


async def test_a_cancelled_batch_fails_its_requests_and_the_waiting_ones_instead_of_leaving_them_pending() -> None:
    started = asyncio.Event()

    async def stuck(requests: Sequence[int]) -> list[int | Exception]:
        started.set()
        await asyncio.Event().wait()  # a transaction that never ends
        return list(requests)

    group = GroupCommit(stuck)
    running = asyncio.ensure_future(group.submit(1))
    await started.wait()
    queued = asyncio.ensure_future(group.submit(2))  # waits for the next batch
    await asyncio.sleep(0)
    drain = group._running
    assert drain is not None
    drain.cancel()  # e.g. the event loop shutting down
    results = await asyncio.wait_for(asyncio.gather(running, queued, return_exceptions=True), timeout=2)
    assert all(isinstance(r, BatchInterrupted) for r in results), results
    assert isinstance(results[0].__cause__, asyncio.CancelledError)
    assert drain.cancelled()  # the cancellation itself is not swallowed


def test_max_batch_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        GroupCommit(Recorder(), max_batch=0)
