"""``vault audit monitor``: keep verifying a vault's log checkpoints, and raise the alarm when it lies.

Each round fetches the latest checkpoint, checks its signature under the pinned key and its
consistency with the last checkpoint accepted (kept in a state file, written atomically), exactly as
``vault log verify --skip-leaves`` does once. What counts as the log misbehaving — a checkpoint not
signed by the pinned key or for another origin, a smaller tree than one already seen (rollback), a
different root for a size already seen or a tree that does not extend it (fork, split view) — ends
the run with a non-zero status, or, with ``daemon``, is logged as an ``ALERT`` at error level while the
monitor goes on watching against the last good state. A log that cannot be reached (network, 5xx) is
a warning, never an alert: it proves nothing either way. With named ``witnesses``, a checkpoint not
cosigned by ``quorum`` of them (default: all) is refused like a bad signature: an alert.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from vault.transparency.verifier import load_state, save_state, verify_log

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    import httpx

log = structlog.get_logger("vault.audit.monitor")


@dataclass
class MonitorResult:
    """What a monitoring run saw."""

    rounds: int = 0
    verified: int = 0
    alerts: int = 0
    unreachable: int = 0
    size: int | None = None
    problem: str | None = None


def monitor(
    http: httpx.Client,
    state_file: Path,
    *,
    vkey: str | None = None,
    origin: str | None = None,
    witnesses: Sequence[str] = (),
    quorum: int | None = None,
    interval: float = 30.0,
    rounds: int | None = None,
    daemon: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> MonitorResult:
    """Watch the log behind ``http`` for ``rounds`` rounds (forever if ``None``); see the module docstring."""
    result = MonitorResult()
    while rounds is None or result.rounds < rounds:
        if result.rounds:
            sleep(interval)
        result.rounds += 1
        report, state = verify_log(
            http,
            load_state(state_file),
            vkey=vkey,
            origin=origin,
            check_leaves=False,
            witnesses=witnesses,
            quorum=quorum,
        )
        for note in report.notes:
            log.info("log monitor", note=note)
        if report.ok:
            assert state is not None
            save_state(state_file, state)
            result.verified += 1
            result.size = report.size
            log.info(
                "checkpoint verified", size=report.size, previous=report.previous_size, witnessed_by=report.witnessed_by
            )
            continue
        result.problem = report.problem
        if report.unreachable:
            result.unreachable += 1
            log.warning("log unreachable", problem=report.problem)
            if not daemon:
                return result
            continue
        result.alerts += 1
        log.error("ALERT: the log misbehaves", problem=report.problem, verified_size=report.previous_size)
        if not daemon:
            return result
    return result
