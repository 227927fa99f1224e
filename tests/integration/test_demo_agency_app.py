"""``make demo``'s pairing: ``vault serve --demo`` and the example agency app with the demo agency's file.

The browser story is ``tests/e2e/test_agency_app.py``; this checks what ``make demo`` relies on without
a browser: the demo seeds the agency (key file) and both services, the app starts from that file, and
"fill from Bürgertresor" pushes a request the vault accepts and sends the citizen to its consent page.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.postgres import free_port
from tests.support.server import serve

REPO = Path(__file__).resolve().parents[2]


def test_the_demo_agency_app_starts_from_the_demo_file_and_reaches_the_consent_page(tmp_path: Path) -> None:
    port, app_port = free_port(), free_port()
    vault_url = f"http://localhost:{port}"
    env = {"VAULT_DATA_DIR": str(tmp_path / "var"), "VAULT_ISSUER": vault_url}
    with serve(tmp_path, env, "--demo", "--host", "127.0.0.1", port=port):
        services = subprocess.run(
            [sys.executable, "-m", "vault.cli", "service", "list"], env={**os.environ, **env},
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert '"adressabgleich"' in services
        assert '"ummeldung"' in services
        log = (tmp_path / "app.log").open("w")
        command = [sys.executable, "-m", "examples.agency_app", "--vault", vault_url,
                   "--agency", str(tmp_path / "var" / "demo-agency.json"), "--port", str(app_port)]  # fmt: skip
        app = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            base = f"http://127.0.0.1:{app_port}"
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                assert app.poll() is None, (tmp_path / "app.log").read_text()
                assert time.monotonic() < deadline, "the agency app did not start"
                time.sleep(0.2)
            assert "Aus Bürgertresor ausfüllen" in httpx.get(base).text
            pushed = httpx.post(f"{base}/fill")
            assert pushed.status_code == 303
            assert pushed.headers["location"].startswith(f"{vault_url}/oauth/authorize?client_id=agency-")
            consent = httpx.get(pushed.headers["location"].replace("localhost", "127.0.0.1"))
            assert consent.status_code in (200, 303)  # the vault knows the request (sign-in comes first)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(app.pid, signal.SIGTERM)
            app.wait(timeout=10)
            log.close()
