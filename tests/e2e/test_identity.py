"""Signing in with the online ID card in Chromium: the vault and the test eID provider as real servers (issue 19).

One ``vault serve --demo`` and one test provider (``python -m examples.eid_provider``) for this module, set
up as ``make demo`` does: ``make_client`` writes the vault's key and the provider's clients file, and
``vault idp add`` registers the provider. The browser clicks the real buttons on both sides (the persona
page is the provider's). The high service is the demo's "Wohnsitz anmelden" (``min_assurance = "high"``),
started by the demo agency through the SDK.

The tests share the module's vault, and each provider persona can belong to one account only, so each
persona has one test that links it (Max: the last test; Erika: registration; Anna: link and step-up), and a
test that needs a persona unlinked runs before the one that links it (file order, also under xdist).
Every page of the sign-in is checked in German and English with axe-core.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from agency_sdk import AgencyClient
from tests.e2e.conftest import VaultServer
from tests.e2e.helpers import REPO, assert_accessible, screenshot
from tests.e2e.test_journey import PASSWORD, register
from tests.support.postgres import free_port
from tests.support.server import serve

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from playwright.sync_api import Browser, BrowserContext, Page

PROVIDER_NAME = "Test-eID"
ACR_MAP = "http://eidas.europa.eu/LoA/high=high,http://eidas.europa.eu/LoA/substantial=substantial"
HIGH_SERVICE = "wohnsitz-anmelden"
OUTCOME_URL = re.compile(r".*/login/idp/callback\?.*")  # an outcome page is the vault's answer to the callback


@dataclass
class EidSetup:
    """The vault, the provider registered with it, and the demo agency that asks for the high service."""

    vault: VaultServer
    provider_url: str
    provider_id: str
    agency: AgencyClient

    def high_service_url(self) -> str:
        """A fresh authorization request for "Wohnsitz anmelden" (level high): the vault's page to open."""
        return self.agency.start_authorization(HIGH_SERVICE).url


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"{url} did not answer:\n{log.read_text()}"
        time.sleep(0.1)


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, *args], env={**os.environ, **env}, capture_output=True, text=True,
                          cwd=REPO, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


@contextlib.contextmanager
def _provider(issuer: str, port: int, clients: Path, log: Path) -> Iterator[None]:
    command = [sys.executable, "-m", "examples.eid_provider", "--issuer", issuer, "--port", str(port),
               "--clients", str(clients)]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_until_up(f"{issuer}/healthz", process, log)
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def eid(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EidSetup]:
    """``vault serve --demo`` and the test provider, the provider registered with the vault as in ``make demo``."""
    tmp = tmp_path_factory.mktemp("e2e-eid")
    vault_port, provider_port = free_port(), free_port()
    vault_url, provider_url = f"http://localhost:{vault_port}", f"http://localhost:{provider_port}"
    data_dir = tmp / "var"
    env = {"VAULT_DATA_DIR": str(data_dir), "VAULT_ISSUER": vault_url}
    key, clients = tmp / "eid-client-key.pem", tmp / "eid-clients.json"
    _cli(env, "-m", "examples.eid_provider.make_client", "--clients", str(clients), "--client-id", "buergertresor",
         "--redirect-uri", f"{vault_url}/login/idp/callback", "--key-out", str(key))  # fmt: skip
    with (
        _provider(provider_url, provider_port, clients, tmp / "provider.log"),
        serve(tmp, env, "--demo", "--host", "127.0.0.1", port=vault_port) as running,
    ):
        added = _cli(env, "-m", "vault.cli", "idp", "add", "--name", PROVIDER_NAME, "--issuer", provider_url,
                     "--client-id", "buergertresor", "--private-key", str(key), "--acr-map", ACR_MAP)  # fmt: skip
        demo_agency = json.loads((data_dir / "demo-agency.json").read_text())
        agency = AgencyClient(vault_url, demo_agency["client_id"], demo_agency["private_jwk"],
                              redirect_uri=demo_agency["redirect_uri"])  # fmt: skip
        yield EidSetup(VaultServer(running, vault_url, data_dir), provider_url, json.loads(added)["id"], agency)


@pytest.fixture
def context(browser: Browser, eid: EidSetup) -> Iterator[BrowserContext]:
    """A fresh browser profile on this module's vault (overrides the package's, which would start another)."""
    ctx = browser.new_context(base_url=eid.vault.base_url, locale="de-DE")
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A tab in ``context``."""
    tab = context.new_page()
    try:
        yield tab
    finally:
        tab.close()


def _language(page: Page, path: str, lang: str) -> None:
    """Open ``path`` in ``lang`` (the vault keeps the choice in a cookie for the pages that follow)."""
    response = page.goto(f"{path}?lang={lang}")
    assert response is not None
    assert page.locator("html").get_attribute("lang") == lang


def _press(page: Page, name: str) -> None:
    """Click the vault's button ``name``; the browser ends on the provider's persona page."""
    page.get_by_role("button", name=name).click()
    try:
        page.wait_for_url(re.compile(r".*/choose\?ticket=.*"), timeout=15000)
    except PlaywrightTimeout:  # e.g. the page's CSP form-action blocked the redirect to the provider
        raise AssertionError(f"still on {page.url}:\n{page.locator('main').inner_text()}") from None


def _choose(page: Page, eid: EidSetup, persona: str, then: str | re.Pattern[str]) -> int:
    """On the provider's persona page: sign in as ``persona`` (or ``cancel``); wait for the vault's ``then``.

    Returns:
        The status of the vault's answer to the provider's redirect (its callback).
    """
    assert page.url.startswith(eid.provider_url + "/choose")
    with page.expect_response(lambda r: "/login/idp/callback?" in r.url) as callback:
        page.click(f"#{'cancel' if persona == 'cancel' else 'persona-' + persona}")
    page.wait_for_url(then)
    return callback.value.status


def _outcome(page: Page, status: int, expected: int, heading: str) -> None:
    """The vault's outcome page after the provider: its status, its heading, axe-clean."""
    assert status == expected
    assert page.locator("h1").inner_text() == heading
    assert_accessible(page)


def test_sign_in_pages_offer_the_id_card_and_say_what_went_wrong(page: Page, eid: EidSetup, tmp_path: Path) -> None:
    for lang, sign_in, create in (
        ("de", "Mit Online-Ausweis anmelden (Test-eID)", "Konto mit Online-Ausweis anlegen (Test-eID)"),
        ("en", "Sign in with your online ID card (Test-eID)", "Create an account with your online ID card (Test-eID)"),
    ):
        _language(page, "/login", lang)
        assert page.get_by_role("button", name=sign_in).is_visible()
        assert_accessible(page)
        _language(page, "/register", lang)
        assert page.get_by_role("button", name=create).is_visible()
        assert_accessible(page)

    # The buttons redirect to the provider after the form: the page's CSP allows exactly that origin besides 'self'.
    login = page.goto("/login")
    assert login is not None
    assert f"form-action 'self' {eid.provider_url};" in login.headers["content-security-policy"]

    # The provider's persona page, in both languages; cancelling there is a clear failure at the vault.
    _language(page, "/login", "de")
    _press(page, "Mit Online-Ausweis anmelden (Test-eID)")
    assert "Erika Mustermann — Vertrauensniveau hoch" in page.locator("#persona-erika").inner_text()
    assert_accessible(page)
    screenshot(page, "eid-provider-choose", tmp_path)
    page.get_by_role("link", name="English").click()
    page.wait_for_url(re.compile(r".*lang=en.*"))
    assert "Max Mustermann — level of assurance substantial" in page.locator("#persona-max").inner_text()
    assert_accessible(page)
    status = _choose(page, eid, "cancel", OUTCOME_URL)
    _outcome(page, status, 400, "Die Anmeldung mit Ihrem Ausweis hat nicht geklappt")
    assert "nicht bestätigt" in page.locator("main").inner_text()
    _language(page, "/login", "en")
    _press(page, "Sign in with your online ID card (Test-eID)")
    status = _choose(page, eid, "cancel", OUTCOME_URL)
    _outcome(page, status, 400, "Signing in with your ID did not work")

    # An ID no account is linked to: no session, and the way on is offered (nothing is created by signing in).
    for lang, sign_in, heading in (
        ("de", "Mit Online-Ausweis anmelden (Test-eID)", "Mit diesem Ausweis ist noch kein Konto verknüpft"),
        ("en", "Sign in with your online ID card (Test-eID)", "No account is linked to this ID yet"),
    ):
        _language(page, "/login", lang)
        _press(page, sign_in)
        status = _choose(page, eid, "max", OUTCOME_URL)
        _outcome(page, status, 409, heading)
        assert (
            page.get_by_role("button", name=re.compile(r"(Konto mit Ihrem Ausweis anlegen|Create an account)")).count()
            == 1
        )
        screenshot(page, f"eid-not-linked-{lang}", tmp_path)
    assert page.request.get("/api/v1/me/attributes").status == 401


def test_register_with_the_id_card_then_another_account_cannot_take_it(
    browser: Browser, page: Page, eid: EidSetup, tmp_path: Path
) -> None:
    page.goto("/register")
    _press(page, "Konto mit Online-Ausweis anlegen (Test-eID)")
    assert _choose(page, eid, "erika", f"{eid.vault.base_url}/") == 303
    page.goto("/data")
    assert page.locator("#attr-family_name").input_value() == "Mustermann"
    assert "bestätigt durch Test-eID" in page.locator("main").inner_text()
    assert_accessible(page)
    page.goto("/settings")
    eid_section = page.locator("section[aria-labelledby='eid-heading']")
    assert "Die Identität Ihres Kontos ist auf dem Niveau hoch nachgewiesen" in eid_section.inner_text()
    assert "Test-eID" in eid_section.locator("table").inner_text()
    screenshot(page, "eid-settings-linked", tmp_path)

    # Erika's ID is this account's: a password account that tries to link it is refused, in both languages.
    other = browser.new_context(base_url=eid.vault.base_url, locale="de-DE")
    try:
        tab = other.new_page()
        register(tab, "zweites.konto@example.de")
        for lang, link, heading in (
            ("de", "Online-Ausweis verknüpfen (Test-eID)", "Dieser Ausweis gehört zu einem anderen Konto"),
            ("en", "Link your ID (Test-eID)", "This ID belongs to another account"),
        ):
            _language(tab, "/settings", lang)
            _press(tab, link)
            status = _choose(tab, eid, "erika", OUTCOME_URL)
            _outcome(tab, status, 409, heading)
        _language(tab, "/settings", "de")
        assert (
            "noch nicht nachgewiesen (Niveau Basis)"
            in tab.locator("section[aria-labelledby='eid-heading']").inner_text()
        )
        assert tab.get_by_role("button", name="Online-Ausweis verknüpfen (Test-eID)").is_visible()  # still unlinked
    finally:
        other.close()


def _sign_in_with_password(page: Page, username: str) -> None:
    page.context.clear_cookies()
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Anmelden", exact=True).click()
    page.wait_for_url(re.compile(r"^http://localhost:\d+/$"))


def test_a_password_account_links_the_id_card_then_steps_up_for_a_high_service(
    page: Page, eid: EidSetup, tmp_path: Path
) -> None:
    register(page, "anna.beispiel@example.de")
    for lang in ("en", "de"):  # the settings' eID section, unlinked
        _language(page, "/settings", lang)
        assert_accessible(page)
    _press(page, "Online-Ausweis verknüpfen (Test-eID)")
    assert _choose(page, eid, "anna", re.compile(r".*/settings\?linked=1$")) == 303
    section = page.locator("section[aria-labelledby='eid-heading']").inner_text()
    assert "Ihr Ausweis ist jetzt mit diesem Konto verknüpft" in section
    assert "auf dem Niveau hoch nachgewiesen" in section
    assert_accessible(page)
    _language(page, "/settings", "en")
    assert "identity is proven at level high" in page.locator("section[aria-labelledby='eid-heading']").inner_text()
    assert_accessible(page)
    _language(page, "/history", "de")
    assert "Ausweis verknüpft" in page.locator("main").inner_text()
    history = page.request.get("/history")  # a page without provider buttons keeps the strict policy
    assert history.url.endswith("/history")
    assert "form-action 'self';" in history.headers["content-security-policy"]

    # A password sign-in is basic: "Wohnsitz anmelden" (high) shows the step-up page with the eID button.
    _sign_in_with_password(page, "anna.beispiel@example.de")
    here = eid.high_service_url()
    for lang, button in (
        ("en", "Sign in with your online ID card (Test-eID)"),
        ("de", "Mit Online-Ausweis anmelden (Test-eID)"),
    ):
        page.goto(f"{eid.vault.base_url}/data?lang={lang}")
        refused = page.goto(here)
        assert refused is not None
        assert refused.status == 403
        assert page.get_by_role("button", name=button).is_visible()
        assert_accessible(page)
    screenshot(page, "eid-step-up", tmp_path)
    _press(page, "Mit Online-Ausweis anmelden (Test-eID)")
    assert "hoch" in page.locator("#asked").inner_text()  # the vault asked the provider for level high
    assert _choose(page, eid, "anna", re.compile(r".*/oauth/authorize\?.*")) == 303
    assert "Wohnsitz anmelden" in page.locator("main").inner_text()
    assert page.get_by_role("button", name="Zustimmen").is_visible()
    assert_accessible(page)


def test_a_lower_level_from_the_provider_does_not_raise_the_sign_in(page: Page, eid: EidSetup) -> None:
    register(page, "max.mustermann@example.de")
    here = eid.high_service_url()
    page.goto(here)
    # Not linked yet: the step-up page offers to link the ID; Max is at substantial, the provider says so.
    _press(page, "Online-Ausweis verknüpfen (Test-eID)")
    assert "niedriger als verlangt" in page.locator("#persona-max").inner_text()
    assert _choose(page, eid, "max", re.compile(r".*/oauth/authorize\?.*")) == 303
    for lang, button, heading, says in (
        ("de", "Mit Online-Ausweis anmelden (Test-eID)", "Das Vertrauensniveau reicht nicht aus", "substanziell"),
        ("en", "Sign in with your online ID card (Test-eID)", "The assurance level is too low", "substantial"),
    ):
        page.goto(f"{eid.vault.base_url}/data?lang={lang}")
        refused = page.goto(here)  # linked at substantial: still refused, now with the step-up button
        assert refused is not None
        assert refused.status == 403
        _press(page, button)
        status = _choose(page, eid, "max", OUTCOME_URL)
        _outcome(page, status, 403, heading)
        assert says in page.locator("main").inner_text()
        again = page.goto(here)
        assert again is not None
        assert again.status == 403  # the consent page is still refused
        assert page.get_by_role("button", name=re.compile("Zustimmen|Approve")).count() == 0
