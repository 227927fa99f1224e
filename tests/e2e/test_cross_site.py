"""A link on another site cannot make the vault decrypt (issue 15 item 5), in a real Chromium.

The vault runs at ``http://localhost:<port>``; the "other site" is a tiny page served from
``http://127.0.0.1:<other port>``, a different site to the browser, which therefore sends
``Sec-Fetch-Site: cross-site`` and (the cookie being ``SameSite=Lax``) the session cookie with a
link's top-level navigation. Its link to the export must produce no export and no log entry; its
link to ``/data`` gets a page that asks first, whose plain form button (no JavaScript) then shows the data.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.helpers import assert_accessible
from tests.e2e.test_journey import register
from tests.support.postgres import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

    from playwright.sync_api import BrowserContext, Page

    from tests.e2e.conftest import VaultServer

SECRET = "Hieronymus"


def _other_site(vault_url: str) -> type[BaseHTTPRequestHandler]:
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Another site</title></head><body><main>'
        f'<p><a id="export" href="{vault_url}/api/v1/me/export">Your vault export</a></p>'
        f'<p><a id="data" href="{vault_url}/data">Your data in the vault</a></p>'
        "</main></body></html>"
    ).encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *_args: Any) -> None:
            pass

    return Page


@pytest.fixture
def other_site(vault_server: VaultServer) -> Iterator[str]:
    """The URL of a page on another site (127.0.0.1, not localhost) that links into the vault."""
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _other_site(vault_server.base_url))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def _entries(context: BrowserContext) -> int:
    """How many log entries the citizen has (the history API: it decrypts nothing and logs nothing)."""
    r = context.request.get("/api/v1/me/history?limit=200")
    assert r.ok, r.text()
    return len(r.json()["entries"])


def test_a_link_on_another_site_neither_exports_nor_shows_data_without_asking(
    context: BrowserContext, page: Page, other_site: str
) -> None:
    register(page, "linked.e2e@example.de")
    token = context.request.get("/api/v1/me/csrf").json()["csrf_token"]
    put = context.request.put(
        "/api/v1/me/attributes/given_name", data={"value": SECRET}, headers={"X-CSRF-Token": token}
    )
    assert put.ok, put.text()
    before = _entries(context)

    page.goto(other_site)
    page.locator("#export").click()
    page.wait_for_url("**/api/v1/me/export", timeout=15_000)  # a download would leave the page where it was
    assert "cross_site_request" in page.content()
    assert SECRET not in page.content()
    assert _entries(context) == before

    page.goto(other_site)
    page.locator("#data").click()
    page.wait_for_url("**/data")
    button = page.get_by_role("button", name="Meine Daten anzeigen")
    assert button.is_visible()
    assert SECRET not in page.locator("main").inner_text()
    assert_accessible(page)
    assert _entries(context) == before

    button.click()  # a plain GET form: the browser sends it as same-origin
    page.wait_for_url("**/data?")
    assert page.locator("#attr-given_name").input_value() == SECRET
    assert _entries(context) == before + 1
