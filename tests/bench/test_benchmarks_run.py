"""The benchmarks run end to end in CI at toy sizes, so they cannot rot between full runs.

No timing is asserted here (figures come from the full runs: `make bench-log`, `make bench-crypto`);
what is checked is that each report is produced and that its own correctness checks passed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING

from tests.support.postgres import find_bindir

if TYPE_CHECKING:
    from pathlib import Path


def _run(module: str, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_bench_log_runs_at_toy_size(tmp_path: Path) -> None:
    backends = "sqlite,postgresql" if find_bindir() else "sqlite"
    out = tmp_path / "log.json"
    result = _run(
        "bench.log",
        "--backends",
        backends,
        "--duration",
        "1",
        "--writers",
        "2",
        "--per-tx",
        "1,10",
        "--processes",
        "1",
        "--backlog-sqlite",
        "2000",
        "--backlog-postgresql",
        "2000",
        "--batches",
        "1000",
        "--sizes",
        "1000,5000",
        "--calls",
        "40",
        "--verify",
        "10",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "# Transparency log benchmark" in result.stdout
    report = json.loads(out.read_text())
    assert report


def test_bench_crypto_runs_quick(tmp_path: Path) -> None:
    out = tmp_path / "crypto.json"
    result = _run("bench.crypto", "--quick", "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Document overhead" in result.stdout
    assert json.loads(out.read_text())


def test_bench_read_runs_at_toy_size(tmp_path: Path) -> None:
    backends = "sqlite,postgresql" if find_bindir() else "sqlite"
    out = tmp_path / "read.json"
    result = _run(
        "bench.read", "--duration", "1", "--connections", "4", "--max-rps", "2500", "--backends", backends,
        "--json", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    for row in json.loads(out.read_text()):
        assert row["reads"]["errors"] == 0  # every read was served: the proofs, tokens and grant all held
        assert row["reads"]["requests"] > 0
        assert row["log_size_after"] > row["reads"]["requests"]  # each read left a log entry
