"""The whole story across two apps in Chromium: the example agency app (on the SDK) and the vault.

An agency registers the way docs/sdk.md says (``python -m agency_sdk keygen``, ``vault agency add``,
``vault service add``) and runs ``examples/agency_app``. The citizen registers in the vault and adds
data, starts at the agency's form, approves in the vault, comes back to a filled form with a verified
receipt, finds the read in ``/history`` verified, revokes the grant, and the agency's next read fails
with a clear message in the agency app.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import httpx

from tests.e2e.helpers import REPO, assert_accessible, screenshot
from tests.e2e.test_journey import fill_data, register, wait_until_verified
from tests.support.catalogue import service_toml
from tests.support.postgres import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from playwright.sync_api import Page

    from tests.e2e.conftest import VaultServer


def _run(server: VaultServer, *args: str) -> str:
    env = {**os.environ, "VAULT_DATA_DIR": str(server.data_dir), "VAULT_ISSUER": server.base_url}
    done = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    return done.stdout


@contextlib.contextmanager
def agency_app(server: VaultServer, tmp_path: Path) -> Iterator[str]:
    """Register an agency by the book and run the example app for it; yields the app's URL."""
    port = free_port()
    base = f"http://localhost:{port}"
    key, jwks = tmp_path / "agency-key.pem", tmp_path / "agency-jwks.json"
    _run(server, "-m", "agency_sdk", "keygen", "--key", str(key), "--jwks", str(jwks))
    added = _run(server, "-m", "vault.cli", "agency", "add", "--name", "Bürgeramt Musterstadt",
                 "--redirect-uri", f"{base}/callback", "--jwks", str(jwks))  # fmt: skip
    client_id = json.loads(added)["client_id"]
    lines = {"id": 'id = "adressabgleich"', "access": 'access = "ongoing"', "documents": "documents = []"}
    (tmp_path / "service.toml").write_bytes(service_toml(client_id, **lines))
    _run(server, "-m", "vault.cli", "service", "add", str(tmp_path / "service.toml"))
    log = (tmp_path / "agency-app.log").open("w")
    command = [sys.executable, "-m", "examples.agency_app", "--vault", server.base_url, "--client-id", client_id,
               "--key", str(key), "--redirect-uri", f"{base}/callback", "--port", str(port)]  # fmt: skip
    proc = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            assert proc.poll() is None, (tmp_path / "agency-app.log").read_text()
            assert time.monotonic() < deadline, "the agency app did not start"
            time.sleep(0.2)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
        log.close()


def test_fill_from_the_vault_verify_the_receipt_revoke_and_the_agency_is_told(
    page: Page, vault_server: VaultServer, tmp_path: Path
) -> None:
    with agency_app(vault_server, tmp_path) as agency:
        register(page, "erika.amt@example.de")
        page.goto("/data")
        fill_data(page)

        # At the agency: "fill from Bürgertresor" → the vault's consent page → approve → back, filled.
        page.goto(agency)
        assert page.input_value("#given_name") == ""
        page.click("#fill")
        page.wait_for_url(f"{vault_server.base_url}/oauth/authorize**")
        assert "Bürgeramt Musterstadt" in page.locator("main").inner_text()
        page.get_by_role("button", name="Zustimmen").click()
        page.wait_for_url(f"{agency}/")
        assert page.input_value("#given_name") == "Erika"
        assert page.input_value("#family_name") == "Mustermann"
        assert page.input_value("#street") == "Heidestraße"
        assert page.input_value("#city") == "Köln"
        receipt = page.locator("#receipt").inner_text()
        assert "Lesebeleg geprüft" in receipt
        assert "Eintrag" in receipt
        commitment = page.locator("#commitment").inner_text()
        assert_accessible(page)
        screenshot(page, "agency-app-filled", tmp_path)

        # In the vault: the read is in the history, verified.
        page.goto(f"{vault_server.base_url}/history")
        wait_until_verified(page)
        history = page.locator("table").inner_text()
        assert "NICHT bestätigt" not in history
        read_row = page.locator("tr", has_text="gelesen").first
        assert "Bürgeramt Musterstadt" in read_row.inner_text()  # by name, not by client id
        assert "✓ bestätigt" in read_row.inner_text()
        with page.expect_download() as started:
            read_row.get_by_role("link").first.click()
        target = tmp_path / "receipt.json"
        started.value.save_as(target)
        # The citizen's receipt for that row is for the very entry the agency's receipt names.
        assert json.loads(target.read_text())["receipt"]["commitment"] == commitment

        # Reading again works while the grant lasts; after the citizen revokes, the agency is told why.
        page.goto(agency)
        page.click("#refresh")
        assert "erneut" in page.locator("#message").inner_text()
        page.goto(f"{vault_server.base_url}/grants")
        page.locator("form[action$='/revoke'] button").first.click()
        page.wait_for_url("**/grants?revoked=1")
        page.goto(agency)
        page.click("#refresh")
        problem = page.locator("#problem").inner_text()
        assert "widerrufen" in problem
        screenshot(page, "agency-app-revoked", tmp_path)
        assert page.input_value("#given_name") == ""  # the data is gone from the agency's form
        assert page.locator("#fill").is_visible()  # and it can ask again
