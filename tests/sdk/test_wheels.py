"""The SDK installs on its own: its wheel and tlog's, in an empty venv, run an agency's journey against a vault.

Builds both wheels, installs them (dependencies from the package index) into a venv without system
site packages, checks none of the server's libraries came along, and runs ``wheel_journey.py`` with
that venv's python against ``vault serve --demo``: PAR, the citizen's approval (driven here, without a
browser), token, read, receipt with inclusion proof, ``LogMonitor``. Anything the SDK imports beyond
its declared dependencies fails the journey.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.browser import LoopbackBrowser
from tests.support.postgres import free_port
from tests.support.server import serve
from vault.demo import DEMO_LOGIN, DEMO_PASSWORD

REPO = Path(__file__).resolve().parents[2]
LOCAL_ARTEFACTS = ("build", "dist", "*.egg-info", "__pycache__")
SERVER_ONLY = {"buergertresor", "litestar", "sqlalchemy", "asyncpg", "aiosqlite", "alembic", "granian", "authlib"}


def _run(*command: str | Path, cwd: Path | None = None) -> str:
    started = time.monotonic()
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, cwd=cwd, check=False)
    print(f"[{time.monotonic() - started:5.1f} s] {' '.join(str(c) for c in command[:4])} …")
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _venv_with_wheels(tmp_path: Path) -> Path:
    wheels, sources = tmp_path / "wheels", tmp_path / "src"
    for name in ("tlog", "agency"):  # built from a copy: no build/ or egg-info left in the checkout
        shutil.copytree(REPO / "packages" / name, sources / name, ignore=shutil.ignore_patterns(*LOCAL_ARTEFACTS))
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", sources / "tlog", sources / "agency", "-w", wheels)
    built = sorted(p.name for p in wheels.glob("*.whl"))
    assert [n.split("-")[0] for n in built] == ["buergertresor_agency", "buergertresor_tlog"], built
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    _run(python, "-m", "pip", "install", "-q", "--disable-pip-version-check", *sorted(wheels.glob("*.whl")))
    listed = json.loads(_run(python, "-m", "pip", "list", "--format", "json"))
    installed = {p["name"].lower().replace("_", "-") for p in listed}
    assert {"buergertresor-tlog", "buergertresor-agency", "httpx", "joserfc", "cryptography", "msgspec"} <= installed
    assert not installed & SERVER_ONLY, installed
    probe = (
        "import importlib.util as u; print([m for m in ('vault', 'litestar', 'sqlalchemy', 'asyncpg') "
        "if u.find_spec(m)])"
    )
    assert _run(python, "-c", probe, cwd=tmp_path).strip() == "[]"
    return python


def _approve(base: str, authorize_url: str) -> str:
    """Sign in as the demo citizen and approve on the consent page; the callback URL the vault redirects to."""
    citizen = LoopbackBrowser(base)
    login = {"username": DEMO_LOGIN, "password": DEMO_PASSWORD, "csrf_token": citizen.form_token("/login")}
    assert citizen.request("POST", "/login", data=login).status_code == 303
    target = httpx.URL(authorize_url)
    page = citizen.request("GET", f"{target.path}?{target.query.decode()}")
    assert page.status_code == 200, page.text
    token = citizen.form_token(f"{target.path}?{target.query.decode()}")
    form = {"client_id": target.params["client_id"], "request_uri": target.params["request_uri"],
            "decision": "approve", "csrf_token": token}  # fmt: skip
    answer = citizen.request("POST", "/oauth/authorize", data=form)
    assert answer.status_code in (302, 303), answer.text
    return str(answer.headers["location"])


def test_the_sdk_wheel_runs_an_agency_journey_in_an_empty_venv(tmp_path: Path) -> None:
    python = _venv_with_wheels(tmp_path)
    port = free_port()
    vault_url = f"http://localhost:{port}"
    env = {"VAULT_DATA_DIR": str(tmp_path / "var"), "VAULT_ISSUER": vault_url}
    with serve(tmp_path, env, "--demo", "--host", "127.0.0.1", port=port) as running:
        journey = subprocess.Popen(
            [python, REPO / "tests" / "sdk" / "wheel_journey.py", vault_url, tmp_path / "var" / "demo-agency.json",
             "adressabgleich"],
            cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert journey.stdin is not None
        assert journey.stdout is not None
        try:
            first = journey.stdout.readline()
            assert first.startswith("AUTHORIZE "), first + journey.stdout.read()
            callback = _approve(running.base_url, first.removeprefix("AUTHORIZE ").strip())
            journey.stdin.write(f"CALLBACK {callback}\n")
            journey.stdin.flush()
            out = journey.stdout.read()
            print(first + out)
            assert journey.wait(timeout=60) == 0, out
        finally:
            if journey.poll() is None:
                journey.kill()
                journey.wait()
    assert "receipt verified" in out
    assert "log monitor: checkpoint" in out
    assert out.rstrip().endswith("OK")
