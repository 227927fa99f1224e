"""The load and crash runs of bench/load at CI size (the full runs: `make bench-load`, `make crash`).

No timing is asserted: what is checked is that the runs' own invariants hold — no 5xx, every read a
client received is in the log, every checkpoint seen is consistent with the newest, no acknowledged
write lost, nothing served while the database is down or the log cannot be written — and that the
checks find a fault when there is one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING

from tests.support.postgres import find_bindir

if TYPE_CHECKING:
    from pathlib import Path

BACKENDS = "sqlite,postgresql" if find_bindir() else "sqlite"


def _run(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=600, check=False
    )


def test_mixed_load_holds_its_invariants_and_its_checks_find_injected_faults(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    done = _run("bench.load", "--clients", "3", "--duration", "4", "--backends", BACKENDS, "--inject-faults",
                "--json", str(out))  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr  # exactly because of the injected faults
    for backend, result in json.loads(out.read_text()).items():
        found = sorted(result["problems"])
        assert len(found) == 3, (backend, found)
        assert found[0].startswith("1 of "), found
        assert found[0].endswith("received reads are not in the log"), found
        assert found[1].startswith("a checkpoint a client saw does not verify"), found
        assert "acknowledged ['never written']" in found[2], found
        assert all(o["server_errors"] == 0 and o["unexpected"] == 0 for o in result["ops"].values()), backend
        assert result["ops"]["read"]["ok"] > 0, backend
        assert result["ops"]["read"]["refused"] >= result["ops"]["revoke"]["ok"], backend  # a read after each revoke


def test_crash_runs_lose_nothing_and_fail_closed(tmp_path: Path) -> None:
    out = tmp_path / "crash.json"
    done = _run("bench.load.crash", "--kills", "4", "--clients", "3", "--outage", "2", "--backends", BACKENDS,
                "--json", str(out))  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for backend, result in json.loads(out.read_text()).items():
        assert result["kills"] == 4, backend
        assert result["problems"] == [], backend
        assert result["outages"]["log unwritable"]["unavailable_or_503"] > 0, backend
        assert result["outages"]["log unwritable"]["reads_served"] == 0, backend
