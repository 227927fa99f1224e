"""First browser tests: the sign-in and registration pages are accessible, usable by keyboard alone, and passkey-ready.

Run the browser tests with ``.venv/bin/pytest tests/e2e`` (or ``-m e2e``); the screenshots of the
README tour come from ``test_every_page.py`` and ``test_consent.py`` (``VAULT_SCREENSHOTS=1``).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from tests.e2e.helpers import (
    add_virtual_authenticator,
    assert_accessible,
    axe_violations,
    credentials,
)

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import BrowserContext, Page

    from tests.e2e.conftest import VaultServer

PASSWORD = "Lindenbaum-Kastanie-2026"
MAX_TABS = 30
TITLES = {
    "/login": {"de": "Anmelden", "en": "Sign in"},
    "/register": {"de": "Konto anlegen", "en": "Create account"},
}


def html_lang(page: Page) -> str:
    """The page's ``<html lang>``."""
    lang: str = page.evaluate("document.documentElement.lang")
    return lang


def focused(page: Page) -> str:
    """A short name of the focused element: ``#id`` for fields, ``a:text``/``button:text`` otherwise."""
    name: str = page.evaluate(
        """() => {
            const el = document.activeElement;
            if (!el || el === document.body) return "body";
            if (el.id) return "#" + el.id;
            return el.tagName.toLowerCase() + ":" + el.textContent.trim();
        }"""
    )
    return name


@pytest.mark.parametrize("path", ["/login", "/register"])
def test_page_passes_axe_in_german_and_english(page: Page, path: str, tmp_path: Path) -> None:
    """No WCAG 2.1 A/AA violation in German (default), after ``?lang=en``, and on the next page (cookie)."""
    page.goto(path)
    assert html_lang(page) == "de"
    assert page.get_by_role("heading", level=1).inner_text() == TITLES[path]["de"]
    assert_accessible(page)

    page.goto(f"{path}?lang=en")
    assert html_lang(page) == "en"
    assert page.get_by_role("heading", level=1).inner_text() == TITLES[path]["en"]
    assert_accessible(page)

    other = "/register" if path == "/login" else "/login"
    page.goto(other)  # the choice persists in a cookie
    assert html_lang(page) == "en"
    assert page.get_by_role("heading", level=1).inner_text() == TITLES[other]["en"]
    assert_accessible(page)


def test_axe_runs_under_the_pages_csp_and_reports_a_broken_label(page: Page) -> None:
    """The helper must not pass vacuously: a removed label under the real CSP is a ``label`` violation."""
    response = page.goto("/login")
    assert response is not None
    assert "script-src 'self'" in (response.headers.get("content-security-policy") or "")
    page.evaluate("document.querySelector('label[for=username]').remove()")
    violations = axe_violations(page)
    assert [v["id"] for v in violations] == ["label"]
    assert violations[0]["nodes"][0]["target"] == ["#username"]
    with pytest.raises(AssertionError, match=r"label \(critical\).*\n  - #username"):
        assert_accessible(page)


def test_register_and_sign_in_by_keyboard_alone(page: Page, vault_server: VaultServer, tmp_path: Path) -> None:
    """Tab to the form, type, Enter: the new citizen lands signed in on ``/``, in logical focus order throughout."""
    login = f"linde-{uuid.uuid4().hex[:8]}"
    page.goto("/register")
    keys = page.keyboard

    for _ in range(MAX_TABS):  # past whatever the header offers (skip link, home, language, menus)
        keys.press("Tab")
        if focused(page) == "#username":
            break
    else:
        raise AssertionError(f"{MAX_TABS} presses of Tab never reached the login name field")
    order = ["#username"]
    for _ in range(3):
        keys.press("Tab")
        order.append(focused(page))
    assert order == ["#username", "#password", "#password_confirm", "button:Konto anlegen"]
    for _ in range(3):
        keys.press("Shift+Tab")
    assert focused(page) == "#username"

    keys.type(login)
    keys.press("Tab")
    keys.type(PASSWORD)
    keys.press("Tab")
    keys.type(PASSWORD)
    keys.press("Tab")
    assert focused(page) == "button:Konto anlegen"
    with page.expect_navigation():
        keys.press("Enter")

    assert urlsplit(page.url).path == "/", (
        f"still on {page.url}:\n{page.locator('main').inner_text()}\nserver log:\n{vault_server.log()[-3000:]}"
    )
    assert html_lang(page) == "de"
    assert "angemeldet" in page.locator("main").inner_text()
    assert page.get_by_role("button", name="Abmelden").count() >= 1
    assert_accessible(page)


def test_virtual_authenticator_starts_empty(context: BrowserContext, page: Page) -> None:
    """The page sees a user-verifying platform authenticator, and it holds no credential yet."""
    page.goto("/login")  # localhost: a secure context, so WebAuthn is on
    authenticator = add_virtual_authenticator(context, page)
    assert authenticator.authenticator_id
    assert page.evaluate("() => PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable()") is True
    assert credentials(authenticator.cdp, authenticator.authenticator_id) == []
    assert authenticator.credentials() == []
