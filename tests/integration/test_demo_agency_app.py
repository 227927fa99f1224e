"""``make demo``'s pairing: ``vault serve --demo`` and the example agency app with the demo agency's file.

The browser story is ``tests/e2e/test_agency_app.py``; this checks what ``make demo`` relies on without
a browser: the demo seeds the agency (key file) and its three services, the app starts from that file
offering two of them, "fill from Bürgertresor" pushes a request the vault accepts and sends the citizen
to its consent page, and the second button asks for "Wohnsitz anmelden" (level high), whose page tells
a password sign-in that it needs level high.
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

from tests.support.browser import LoopbackBrowser
from tests.support.postgres import free_port
from tests.support.server import serve
from vault.demo import DEMO_LOGIN, DEMO_PASSWORD

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
        assert '"wohnsitz-anmelden"' in services
        log = (tmp_path / "app.log").open("w")
        command = [sys.executable, "-m", "examples.agency_app", "--vault", vault_url,
                   "--agency", str(tmp_path / "var" / "demo-agency.json"), "--port", str(app_port),
                   "--service", "adressabgleich", "--service", "wohnsitz-anmelden=Wohnsitz anmelden"]  # fmt: skip
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
            form = httpx.get(base).text
            assert 'id="fill">Aus Bürgertresor ausfüllen: adressabgleich<' in form
            second_button = (
                'value="wohnsitz-anmelden" id="fill-wohnsitz-anmelden">Aus Bürgertresor ausfüllen: Wohnsitz anmelden<'
            )
            assert second_button in form
            pushed = httpx.post(f"{base}/fill")  # no service named: the first
            assert pushed.status_code == 303
            assert pushed.headers["location"].startswith(f"{vault_url}/oauth/authorize?client_id=agency-")
            consent = httpx.get(pushed.headers["location"].replace("localhost", "127.0.0.1"))
            assert consent.status_code in (200, 303)  # the vault knows the request (sign-in comes first)
            assert httpx.post(f"{base}/fill", data={"service": "ummeldung"}).status_code == 400  # not offered here

            # The second button: the vault's page for that request is "Wohnsitz anmelden", which needs level high.
            second = httpx.post(f"{base}/fill", data={"service": "wohnsitz-anmelden"})
            assert second.status_code == 303
            citizen = LoopbackBrowser(f"http://127.0.0.1:{port}")
            token = citizen.form_token("/login")
            signed_in = citizen.request("POST", "/login", data={"username": DEMO_LOGIN, "password": DEMO_PASSWORD,
                                                                "csrf_token": token})  # fmt: skip
            assert signed_in.status_code == 303, signed_in.text
            page = citizen.request("GET", second.headers["location"].removeprefix(vault_url))
            assert page.status_code == 403  # a password sign-in is basic: the step-up page
            assert "„Wohnsitz anmelden“ verlangt das Vertrauensniveau hoch" in page.text
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(app.pid, signal.SIGTERM)
            app.wait(timeout=10)
            log.close()
