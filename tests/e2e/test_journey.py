"""The citizen's whole journey in Chromium: register → data → document → passkey → history → export → delete.

Runs against a real ``vault serve`` (SQLite); the passkey is made and used by Chromium's virtual
authenticator over the DevTools protocol, so the page's own ``passkeys.js`` does the WebAuthn calls.
"""

from __future__ import annotations

import base64
import json
import re
from typing import TYPE_CHECKING, Any, Literal

import httpx
import jsonschema

from tests.e2e.helpers import add_virtual_authenticator, assert_accessible
from tlog.receipts import Receipt, verify_receipt
from vault.transparency.records import commitment

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import BrowserContext, Page

    from tests.e2e.conftest import VaultServer

PASSWORD = "Lindenbaum-Kastanie-2026"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def register(page: Page, username: str, password: str = PASSWORD) -> None:
    """Create an account through the form; the page ends signed in on ``/``."""
    page.goto("/register")
    page.fill("#username", username)
    page.fill("#password", password)
    page.fill("#password_confirm", password)
    page.get_by_role("button", name=re.compile("Konto anlegen|Create account")).click()
    page.wait_for_url("**/")


def fill_data(page: Page) -> None:
    """On ``/data``: Erika Mustermann's name, birth date and address, saved."""
    page.fill("#attr-given_name", "Erika")
    page.fill("#attr-family_name", "Mustermann")
    page.fill("#attr-birth_date", "1964-08-12")
    page.fill("#attr-address-street", "Heidestraße")
    page.fill("#attr-address-house_number", "17")
    page.fill("#attr-address-postal_code", "51147")
    page.fill("#attr-address-city", "Köln")
    page.fill("#attr-address-country", "DE")
    page.get_by_role("button", name="Speichern").click()
    page.wait_for_url("**/data?saved=1")


def wait_until_verified(page: Page, attempts: int = 240) -> None:
    """Reload ``/history`` until no entry is pending (the log integrates every half second; a loaded machine may
    take far longer, so the bound is generous)."""
    for _ in range(attempts):
        page.goto("/history")
        if page.locator("span.pending").count() == 0:
            return
        page.wait_for_timeout(250)
    raise AssertionError("history entries stayed pending")


def download(
    page: Page, link_name: str | re.Pattern[str], tmp_path: Path, role: Literal["link", "button"] = "link"
) -> bytes:
    """Click a download link (or a form's button) and return the downloaded bytes."""
    with page.expect_download() as started:
        page.get_by_role(role, name=link_name).first.click()
    target = tmp_path / started.value.suggested_filename
    started.value.save_as(target)
    return target.read_bytes()


def test_the_whole_journey(context: BrowserContext, page: Page, vault_server: VaultServer, tmp_path: Path) -> None:
    authenticator = add_virtual_authenticator(context, page)
    page.set_viewport_size({"width": 1200, "height": 900})

    register(page, "erika.journey@example.de")
    assert "angemeldet; Vertrauensniveau dieser Anmeldung: Basis." in page.locator("main").inner_text()

    # Data: fill in a few attributes and save.
    page.get_by_role("link", name="Meine Daten").first.click()
    fill_data(page)
    assert "Heidestraße 17, 51147 Köln, DE" in page.locator("table").inner_text()

    # A wrong value is named and marked, nothing is lost.
    page.fill("#attr-tax_id", "12345678901")
    page.get_by_role("button", name="Speichern").click()
    assert page.get_by_role("alert").inner_text().startswith("Bitte prüfen Sie das Feld")
    assert page.get_attribute("#attr-tax_id", "aria-invalid") == "true"
    assert_accessible(page)

    # Documents: upload a PDF and download it again.
    page.get_by_role("link", name="Dokumente").first.click()
    page.select_option("#kind", "registration_certificate")
    page.set_input_files(
        "#file", files=[{"name": "meldebescheinigung.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    page.get_by_role("button", name="Hochladen").click()
    page.wait_for_url("**/documents")
    assert "Meldebescheinigung" in page.locator("table").inner_text()
    assert download(page, re.compile("^Herunterladen"), tmp_path) == PDF

    # A passkey, made by the virtual authenticator through the page's script.
    page.get_by_role("link", name="Einstellungen").first.click()
    page.get_by_role("button", name="Passkey hinzufügen").click()
    page.wait_for_selector("text=Passkey 1")
    assert len(authenticator.credentials()) == 1

    # Sign out, then sign in with the passkey alone. It was added after a password sign-in, so it
    # carries that level (basic), and the overview says a passkey was added.
    page.get_by_role("button", name="Abmelden", exact=True).click()
    page.wait_for_url("**/login")
    page.get_by_role("button", name="Mit Passkey anmelden").click()
    page.wait_for_url(re.compile(r"/$"))
    overview = page.locator("main").inner_text()
    assert "Vertrauensniveau dieser Anmeldung: Basis." in overview
    assert "Ein Passkey wurde am" in overview

    # History: the citizen's own views are there, each verified; a receipt verifies offline.
    wait_until_verified(page)
    history = page.locator("table").inner_text()
    assert "angesehen" in history
    assert "Vornamen" in history
    assert "Dokument: Meldebescheinigung" in history
    assert "NICHT bestätigt" not in history
    receipt = json.loads(download(page, re.compile("^Herunterladen"), tmp_path))
    record, salt = base64.b64decode(receipt["record"]), base64.b64decode(receipt["salt"])
    assert base64.b64encode(commitment(salt, record)).decode() == receipt["receipt"]["commitment"]
    verify_receipt(Receipt(**receipt["receipt"]), receipt["log_key"], receipt["log_origin"])

    # Export: one JSON document that matches the published schema.
    page.get_by_role("link", name="Einstellungen").first.click()
    exported: dict[str, Any] = json.loads(download(page, "Alle meine Daten herunterladen (JSON)", tmp_path, "button"))
    schema = httpx.get(vault_server.base_url + "/schema/export.json").json()
    jsonschema.validate(exported, schema)
    assert exported["attributes"]["given_name"]["value"] == "Erika"
    assert base64.b64decode(exported["documents"][0]["content_base64"]) == PDF
    page.goto("/history")
    assert "exportiert" in page.locator("table").inner_text()

    # Delete: a confirmation step, then the account is gone and no way in works.
    page.goto("/settings")
    page.get_by_role("link", name="Mein Konto löschen …").click()
    page.get_by_role("button", name="Mein Konto endgültig löschen").click()  # not confirmed: the browser refuses
    assert page.url.endswith("/settings/delete")
    page.get_by_label("Mir ist klar").check()
    page.get_by_role("button", name="Mein Konto endgültig löschen").click()
    page.wait_for_url("**/login?erased=1")
    assert "Ihr Konto wurde gelöscht" in page.get_by_role("status").first.inner_text()
    page.goto("/")
    page.wait_for_url("**/login")
    page.fill("#username", "erika.journey@example.de")
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Anmelden", exact=True).click()
    assert "Anmeldename oder Passwort ist falsch." in page.get_by_role("alert").inner_text()
    page.get_by_role("button", name="Mit Passkey anmelden").click()
    page.wait_for_selector("#passkey-status:not(:empty)")
    assert page.url.endswith("/login")
