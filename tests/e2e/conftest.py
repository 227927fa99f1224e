"""Browser tests: Debian's Chromium, driven by Playwright, against a real ``vault serve`` on SQLite.

Needs ``/usr/bin/chromium`` (``apt-get install chromium``) and axe-core in ``tests/e2e/node_modules``
(``make`` runs ``npm ci --prefix tests/e2e``); without either, every test here is skipped with the
reason printed. Playwright's own browser download (``playwright install``) is not used.

Every test under ``tests/e2e`` gets the ``e2e`` marker: ``pytest -m e2e`` runs only these,
``pytest -m 'not e2e'`` leaves them out.

Fixtures: ``vault_server`` (one server for the e2e package, reached as ``http://localhost:<port>`` because a
WebAuthn relying-party id must be a host name, not an IP address), ``browser`` (one Chromium per
run), ``context`` and ``page`` (fresh per test, German locale, ``base_url`` set so ``page.goto("/login")``
works). Tests are plain ``def`` functions: Playwright's sync API must not run inside an event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import sync_playwright

from tests.e2e.helpers import AXE_JS
from tests.support.postgres import free_port
from tests.support.server import RunningVault, serve

if TYPE_CHECKING:
    from collections.abc import Iterator

    from playwright.sync_api import Browser, BrowserContext, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
E2E_DIR = Path(__file__).resolve().parent


def _missing() -> str | None:
    """Why the browser tests cannot run here, or ``None``."""
    lacking = []
    if not CHROMIUM.exists():
        lacking.append(f"{CHROMIUM} (apt-get install chromium)")
    if not AXE_JS.exists():
        lacking.append(
            f"{AXE_JS.relative_to(E2E_DIR.parents[1])} (`make` installs axe-core: npm ci --prefix tests/e2e)"
        )
    return "browser tests need " + " and ".join(lacking) if lacking else None


MISSING = _missing()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this directory ``e2e``, and skip them all (reason printed) when Chromium or axe is missing.

    A ``pytest.skip(allow_module_level=True)`` here would work for ``pytest tests`` but is an error when this
    directory is named on the command line (the conftest is then imported before collection), so the skip is
    a marker. ``tryfirst`` puts the ``e2e`` marker on before ``-m`` deselects.
    """
    for item in items:
        if E2E_DIR not in item.path.parents:
            continue
        item.add_marker(pytest.mark.e2e)
        if MISSING:
            item.add_marker(pytest.mark.skip(reason=MISSING))


@dataclass
class VaultServer:
    """The running server and the URL the browser uses."""

    running: RunningVault
    base_url: str
    data_dir: Path

    def log(self) -> str:
        """What the server wrote so far (for failure messages)."""
        return self.running.log()


@pytest.fixture(scope="package")
def vault_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VaultServer]:
    """One ``vault serve`` on SQLite in a temp data dir, with ``VAULT_ISSUER=http://localhost:<port>``."""
    tmp = tmp_path_factory.mktemp("e2e-vault")
    port = free_port()
    base_url = f"http://localhost:{port}"
    data_dir = tmp / "var"
    env = {"VAULT_DATA_DIR": str(data_dir), "VAULT_ISSUER": base_url}  # no VAULT_DATABASE_URL: SQLite in data_dir
    with serve(tmp, env, "--host", "127.0.0.1", port=port) as running:
        yield VaultServer(running, running.url_for("localhost"), data_dir)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium, shared by the e2e tests.

    Package scope, not session: Playwright's sync API runs an event loop of its own, which must be
    stopped before the suite's asyncio tests run (with session scope every later async test errors).
    """
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


@pytest.fixture
def context(browser: Browser, vault_server: VaultServer) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies) for one test, German, with ``base_url`` the server's localhost URL."""
    ctx = browser.new_context(base_url=vault_server.base_url, locale="de-DE")
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
