"""The consent page in Chromium: an agency pushes a request, the citizen reads it and approves; axe on every step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from tests.e2e.helpers import REPO, assert_accessible, screenshot
from tests.e2e.test_journey import register
from tests.support.agency import TestAgency, pkce_pair
from tests.support.catalogue import service_toml

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import Page, Route

    from tests.e2e.conftest import VaultServer


def _vault(server: VaultServer, *args: str) -> str:
    env = {**os.environ, "VAULT_DATA_DIR": str(server.data_dir), "VAULT_ISSUER": server.base_url}
    done = subprocess.run([sys.executable, "-m", "vault.cli", *args], env=env, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _agency(server: VaultServer, tmp_path: Path, service_id: str, **lines: str) -> TestAgency:
    agency = TestAgency(server.base_url, redirect_uri="https://amt.example/callback")
    (tmp_path / "jwks.json").write_text(json.dumps(agency.jwks()))
    added = _vault(server, "agency", "add", "--name", "Bürgeramt Köln", "--redirect-uri", agency.redirect_uri,
                   "--jwks", str(tmp_path / "jwks.json"))  # fmt: skip
    agency.client_id = json.loads(added)["client_id"]
    (tmp_path / "service.toml").write_bytes(service_toml(agency.client_id, id=f'id = "{service_id}"', **lines))
    _vault(server, "service", "add", str(tmp_path / "service.toml"))
    return agency


def _push(server: VaultServer, agency: TestAgency, service_id: str) -> tuple[str, str]:
    verifier, challenge = pkce_pair()
    details = json.dumps([{"type": "vault_access", "service": service_id}])
    form = agency.par_form(challenge=challenge, authorization_details=details, state="s-1")
    r = httpx.post(f"{server.base_url}/oauth/par", data=form)
    assert r.status_code == 201, r.text
    url = f"/oauth/authorize?client_id={quote(agency.client_id)}&request_uri={quote(r.json()['request_uri'])}"
    return url, verifier


@pytest.mark.parametrize("lang", ["de", "en"])
def test_consent_page_is_clear_accessible_and_approves(
    page: Page, vault_server: VaultServer, tmp_path: Path, lang: str
) -> None:
    service_id = f"ummeldung-{lang}"
    agency = _agency(vault_server, tmp_path, service_id)
    page.set_viewport_size({"width": 1200, "height": 900})
    page.goto(f"/login?lang={lang}")
    register(page, f"consent-{lang}@example.de")
    authorize, _ = _push(vault_server, agency, service_id)
    page.goto(authorize)
    main = page.locator("main").inner_text()
    for text in ("Bürgeramt Köln", "§ 17 Bundesmeldegesetz (BMG)"):
        assert text in main
    assert ("Anmeldung der neuen Wohnung" if lang == "de" else "Registering your new home") in main
    assert_accessible(page)
    screenshot(page, f"{lang}-consent", tmp_path)

    landed: list[str] = []

    def agency_site(route: Route) -> None:
        landed.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<!doctype html><title>Amt</title><p>ok</p>")

    page.route("https://amt.example/**", agency_site)
    page.get_by_role("button", name="Zustimmen" if lang == "de" else "Approve").click()
    page.wait_for_url("https://amt.example/**")
    query = parse_qs(urlsplit(landed[0]).query)
    assert query["state"] == ["s-1"]
    assert query["iss"] == [vault_server.base_url]
    assert query["code"][0]


def test_error_and_step_up_pages_are_accessible(page: Page, vault_server: VaultServer, tmp_path: Path) -> None:
    agency = _agency(vault_server, tmp_path, "strenger-dienst", min_assurance='min_assurance = "substantial"')
    register(page, "stepup-e2e@example.de")
    page.goto(f"/oauth/authorize?client_id={agency.client_id}&request_uri=urn:ietf:params:oauth:request_uri:nope")
    assert page.url.startswith(vault_server.base_url)  # never redirected to the agency
    assert_accessible(page)
    authorize, _ = _push(vault_server, agency, "strenger-dienst")
    page.goto(authorize)
    assert "Passkey" in page.locator("main").inner_text()
    assert_accessible(page)
