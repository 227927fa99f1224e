"""Run ``vault`` as a real subprocess, as an operator would."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from tests.support.postgres import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def vault_cmd(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``vault ARGS`` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "vault.cli", *args],
        capture_output=True,
        text=True,
        env=_env(env),
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    env.update(extra or {})
    return env


@dataclass
class RunningVault:
    """A ``vault serve`` process and its base URL."""

    process: subprocess.Popen[str]
    base_url: str
    log_path: Path
    port: int = 0

    def url_for(self, host: str) -> str:
        """The base URL under another host name, e.g. ``localhost`` where WebAuthn needs a name, not an IP."""
        return f"http://{host}:{self.port}"

    def log(self) -> str:
        """Everything the process wrote so far."""
        return self.log_path.read_text()

    def kill(self) -> None:
        """SIGKILL the server and its worker processes at once, like a crash of the machine would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


@contextlib.contextmanager
def serve(
    tmp: Path,
    env: dict[str, str],
    *args: str,
    ready_path: str = "/readyz",
    expect_status: int = 200,
    port: int | None = None,
) -> Iterator[RunningVault]:
    """Start ``vault serve`` on ``port`` (a free one if not given); wait until ``ready_path`` answers; SIGTERM it.

    Pass ``port`` (from :func:`free_port`) when the environment must name it, e.g. ``VAULT_ISSUER``.
    """
    port = free_port() if port is None else port
    log_path = tmp / f"serve-{port}.log"
    with log_path.open("w") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vault.cli", "serve", "--port", str(port), *args],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            text=True,
            env=_env(env),
            cwd=tmp,
            start_new_session=True,  # its own process group: no worker outlives the test
        )
    running = RunningVault(proc, f"http://127.0.0.1:{port}", log_path, port)
    try:
        wait_for(running, ready_path, expect_status)
        yield running
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with contextlib.suppress(ProcessLookupError):  # workers orphaned by a killed or crashed parent
            os.killpg(proc.pid, signal.SIGKILL)


def wait_for(running: RunningVault, path: str, status: int, timeout: float = 90) -> None:
    """Poll until ``path`` answers ``status``; fail with the server's log if it dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise AssertionError(f"vault exited with {running.process.returncode}:\n{running.log()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(running.base_url + path, timeout=2).status_code == status:
                return
        time.sleep(0.1)
    raise AssertionError(f"{path} did not answer {status} within {timeout}s:\n{running.log()}")
