"""An auditor in a real browser: created with `vault auditor add`, signs in with a password, adds a passkey,
signs in with the passkey, and finds every audit page accessible (axe) in German and English.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

from tests.e2e.helpers import REPO, add_virtual_authenticator, assert_accessible, screenshot
from tests.e2e.test_journey import PASSWORD, register
from tests.integration.audit.test_auditor_pages import AUDIT_PAGES

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import BrowserContext, Page

    from tests.e2e.conftest import VaultServer


def _vault(server: VaultServer, *args: str, stdin: str | None = None) -> str:
    env = {**os.environ, "VAULT_DATA_DIR": str(server.data_dir), "VAULT_ISSUER": server.base_url}
    done = subprocess.run(
        [sys.executable, "-m", "vault.cli", *args], env=env, cwd=REPO, capture_output=True, text=True, input=stdin,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def _sign_in(page: Page, username: str) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.locator("form[action='/login'] button[type=submit]").click()


def test_an_auditor_signs_in_with_a_passkey_and_every_audit_page_is_accessible(
    context: BrowserContext, page: Page, vault_server: VaultServer, tmp_path: Path
) -> None:
    register(page, "audited@example.de")  # a citizen with a grant, so the pages have rows
    subprocess.run(
        [sys.executable, "-m", "tests.e2e.seed_grant", "audited@example.de"],
        env={**os.environ, "VAULT_DATA_DIR": str(vault_server.data_dir), "VAULT_ISSUER": vault_server.base_url},
        check=True, capture_output=True, cwd=REPO,
    )  # fmt: skip
    page.locator("header form.logout button").click()
    page.wait_for_url("**/login")

    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD)
    _vault(vault_server, "auditor", "add", "--username", "pruefung@bfdi.example", "--label", "BfDI",
           "--password-file", str(password_file))  # fmt: skip
    _sign_in(page, "pruefung@bfdi.example")
    page.wait_for_url("**/audit")

    add_virtual_authenticator(context, page)
    page.goto("/settings")
    page.locator("#add-passkey").click()
    page.wait_for_selector("table >> text=/Passkey 1/")
    page.locator("header form.logout button").click()
    page.wait_for_url("**/login")
    page.locator("#passkey-login").click()
    page.wait_for_url("**/audit")

    for lang in ("de", "en"):
        page.goto(f"/audit?lang={lang}")
        for path in AUDIT_PAGES:
            page.goto(path)
            assert page.evaluate("document.documentElement.lang") == lang, path
            assert_accessible(page)
        screenshot(page, f"{lang}-audit-anomalies", tmp_path)
        page.goto("/audit")
        screenshot(page, f"{lang}-audit-overview", tmp_path)
    page.goto("/audit/entries?since=gestern")
    assert page.get_by_role("alert").is_visible()
    assert_accessible(page)
