"""Every citizen page, in German and English, filled with data and in its error states: axe finds nothing.

The same run saves the screenshots of the README tour (``VAULT_SCREENSHOTS=1`` writes them to
``docs/screenshots/``). A second test walks a signed-in flow with the keyboard alone.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from tests.e2e.helpers import REPO, add_virtual_authenticator, assert_accessible, screenshot
from tests.e2e.test_journey import PASSWORD, PDF, register, wait_until_verified

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import BrowserContext, Page

    from tests.e2e.conftest import VaultServer

SIGNED_IN = {
    "overview": "/",
    "data": "/data",
    "documents": "/documents",
    "grants": "/grants",
    "history": "/history",
    "settings": "/settings",
    "delete": "/settings/delete",
}
MAX_TABS = 60


def _fill_account(context: BrowserContext, page: Page, server: VaultServer, login: str) -> None:
    """Some data, a document, a passkey and two grants (one revoked), so every table on every page has rows."""
    token = context.request.get("/api/v1/me/csrf").json()["csrf_token"]
    headers = {"X-CSRF-Token": token}
    for name, value in [("given_name", "Erika"), ("family_name", "Mustermann"), ("birth_date", "1964-08-12")]:
        assert context.request.put(f"/api/v1/me/attributes/{name}", data={"value": value}, headers=headers).ok
    upload = context.request.post(
        "/api/v1/me/documents",
        multipart={"kind": "id_card", "file": {"name": "ausweis.pdf", "mimeType": "application/pdf", "buffer": PDF}},
        headers=headers,
    )
    assert upload.ok, upload.text()
    page.goto("/settings")
    page.locator("#add-passkey").click()
    page.wait_for_selector("table >> text=/Passkey 1/")
    seed = [sys.executable, "-m", "tests.e2e.seed_grant", login]
    env = {**os.environ, "VAULT_DATA_DIR": str(server.data_dir), "VAULT_ISSUER": server.base_url}
    for _ in range(2):
        subprocess.run(seed, env=env, check=True, capture_output=True, cwd=REPO)
    page.goto("/grants")
    page.locator("form[action$='/revoke'] button").first.click()
    page.wait_for_url("**/grants?revoked=1")


@pytest.mark.parametrize("lang", ["de", "en"])
def test_every_page_has_no_axe_violations(
    context: BrowserContext, page: Page, vault_server: VaultServer, lang: str, tmp_path: Path
) -> None:
    add_virtual_authenticator(context, page)
    page.set_viewport_size({"width": 1200, "height": 900})
    page.goto(f"/login?lang={lang}")
    assert page.evaluate("document.documentElement.lang") == lang
    assert_accessible(page)
    screenshot(page, f"{lang}-login", tmp_path)
    page.goto("/register")
    assert_accessible(page)
    screenshot(page, f"{lang}-register", tmp_path)

    register(page, f"a11y-{lang}@example.de")
    _fill_account(context, page, vault_server, f"a11y-{lang}@example.de")
    wait_until_verified(page)
    for name, path in SIGNED_IN.items():
        page.goto(path)
        assert page.evaluate("document.documentElement.lang") == lang, path
        assert_accessible(page)
        screenshot(page, f"{lang}-{name}", tmp_path)

    # Error states: an invalid field, a refused upload, a failed sign-in.
    page.goto("/data")
    page.fill("#attr-birth_date", "12.08.1964")
    page.locator("form[action='/data'] button[type=submit]").click()
    assert page.get_attribute("#attr-birth_date", "aria-invalid") == "true"
    assert_accessible(page)
    screenshot(page, f"{lang}-data-error", tmp_path)
    page.goto("/documents")
    page.set_input_files("#file", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}])
    page.locator("form[action='/documents'] button[type=submit]").click()
    assert page.get_by_role("alert").is_visible()
    assert_accessible(page)
    page.locator("header form.logout button").click()
    page.wait_for_url("**/login")
    page.fill("#username", f"a11y-{lang}@example.de")
    page.fill("#password", "wrong password 123")
    page.locator("form[action='/login'] button[type=submit]").click()
    assert page.get_by_role("alert").is_visible()
    assert_accessible(page)


def _tab_to(page: Page, selector: str) -> None:
    """Press Tab until the focused element matches ``selector`` (fail if it never does)."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{MAX_TABS} presses of Tab never reached {selector} on {page.url}")


def test_data_and_erasure_by_keyboard_alone(page: Page) -> None:
    """Skip link, menu, a form, a confirmation checkbox: every step by Tab, typing, Space and Enter."""
    register(page, "keyboard@example.de")
    keys = page.keyboard
    page.goto("/")
    keys.press("Tab")
    assert page.evaluate("document.activeElement.classList.contains('skip')"), "the first Tab reaches the skip link"
    _tab_to(page, "nav.main a[href='/data']")
    keys.press("Enter")
    page.wait_for_url("**/data")
    _tab_to(page, "#attr-given_name")
    keys.type("Erika")
    _tab_to(page, "#attr-family_name")
    keys.type("Mustermann")
    keys.press("Enter")  # submits the form
    page.wait_for_url("**/data?saved=1")
    assert "Mustermann" in page.locator("table").inner_text()

    _tab_to(page, "nav.main a[href='/settings']")
    keys.press("Enter")
    page.wait_for_url("**/settings")
    _tab_to(page, "a[href='/settings/delete']")
    keys.press("Enter")
    page.wait_for_url("**/settings/delete")
    _tab_to(page, "#confirm")
    keys.press("Space")
    assert page.is_checked("#confirm")
    _tab_to(page, "button.danger")
    keys.press("Enter")
    page.wait_for_url("**/login?erased=1")
    _tab_to(page, "#username")
    keys.type("keyboard@example.de")
    _tab_to(page, "#password")
    keys.type(PASSWORD)
    with page.expect_navigation():
        keys.press("Enter")
    assert re.search(r"/login$", page.url)
    assert page.get_by_role("alert").is_visible()
