"""``vault audit monitor``: follows an honest log; a forged checkpoint, a rollback and a split view are caught.

The lying logs are :class:`~tests.support.fake_log.FakeLog` (the monitor is what is tested); the
honest one is a real ``vault serve``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.support.fake_log import ORIGIN, FakeLog
from tests.support.server import serve
from vault.audit.monitor import MonitorResult, monitor
from vault.crypto.signers import NoteSigner

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def log() -> FakeLog:
    return FakeLog(NoteSigner(ORIGIN, Ed25519PrivateKey.generate()), 8)


def _watch(log: FakeLog, state: Path, rounds: int) -> MonitorResult:
    with log.client() as http:
        return monitor(http, state, vkey=log.signer.vkey(), interval=0, rounds=rounds, sleep=lambda _: log.grow(3))


def test_an_honest_growing_log_is_followed(log: FakeLog, tmp_path: Path) -> None:
    result = _watch(log, tmp_path / "state.json", rounds=4)
    assert (result.verified, result.alerts, result.size) == (4, 0, 17)
    assert json.loads((tmp_path / "state.json").read_text())["size"] == 17


def test_a_rollback_is_an_alert(log: FakeLog, tmp_path: Path) -> None:
    _watch(log, tmp_path / "state.json", rounds=1)
    log.shown = log.checkpoint(5)  # signed by the log's key, but smaller than what was seen
    result = _watch(log, tmp_path / "state.json", rounds=1)
    assert result.alerts == 1
    assert "rollback" in result.problem
    assert json.loads((tmp_path / "state.json").read_text())["size"] == 8  # the last good state is kept


def test_a_split_view_is_an_alert(log: FakeLog, tmp_path: Path) -> None:
    other = FakeLog(log.signer, 8, salt=b"what another client is shown")
    _watch(log, tmp_path / "state.json", rounds=1)  # this monitor was shown the first history
    log.shown = other.checkpoint()  # same size, same key, another root
    result = _watch(log, tmp_path / "state.json", rounds=1)
    assert result.alerts == 1
    assert "fork" in result.problem


def test_a_forged_checkpoint_is_an_alert(log: FakeLog, tmp_path: Path) -> None:
    _watch(log, tmp_path / "state.json", rounds=1)
    forger = FakeLog(NoteSigner(ORIGIN, Ed25519PrivateKey.generate()), 20)
    log.shown = forger.checkpoint()
    result = _watch(log, tmp_path / "state.json", rounds=1)
    assert result.alerts == 1
    assert "checkpoint rejected" in result.problem


def test_as_a_daemon_it_alerts_and_keeps_watching(log: FakeLog, tmp_path: Path) -> None:
    _watch(log, tmp_path / "state.json", rounds=1)
    rolled_back = log.checkpoint(5)
    shown = iter([rolled_back, None, None])

    def next_round(_: float) -> None:
        log.grow(3)
        log.shown = next(shown)

    with log.client() as http:
        result = monitor(http, tmp_path / "state.json", vkey=log.signer.vkey(), interval=0, rounds=4,
                         daemon=True, sleep=next_round)  # fmt: skip
    assert (result.rounds, result.alerts, result.verified) == (4, 1, 3)
    assert result.size == 8 + 9  # the honest checkpoints after the lie were verified against the last good one


def test_an_unreachable_log_is_not_an_alert(tmp_path: Path) -> None:
    import httpx

    down = httpx.Client(base_url="https://vault.example", transport=httpx.MockTransport(lambda _: httpx.Response(503)))
    result = monitor(down, tmp_path / "state.json", vkey=None, rounds=1, sleep=lambda _: None)
    assert (result.alerts, result.unreachable) == (0, 1)


def test_the_command_follows_a_real_vault_and_exits_1_on_a_fork(tmp_path: Path) -> None:
    env = {"VAULT_DATA_DIR": str(tmp_path / "var")}
    with serve(tmp_path, env, "--demo") as vault:
        command = [sys.executable, "-m", "vault.cli", "audit", "monitor", "--url", vault.base_url,
                   "--state", str(tmp_path / "m.json"), "--interval", "0.2", "--rounds", "2"]  # fmt: skip
        run_env = {**os.environ, **env}
        ok = subprocess.run(command, env=run_env, capture_output=True, text=True, check=False)
        assert ok.returncode == 0, ok.stderr
        assert "ok: 2 of 2 checks verified" in ok.stdout
        state = json.loads((tmp_path / "m.json").read_text())
        state["root"] = "A" * 43 + "="  # pretend an earlier checkpoint of this size had another root
        (tmp_path / "m.json").write_text(json.dumps(state))
        fork = subprocess.run(command, env=run_env, capture_output=True, text=True, check=False)
        assert fork.returncode == 1
        assert "ALERT" in fork.stderr
