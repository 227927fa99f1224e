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
from typing import Any

import httpx
import msgspec
from litestar.testing import TestClient

from agency_sdk import DataResult, Tokens, generate_key
from examples.agency_app.app import Config, Service, create_app
from tests.support.browser import LoopbackBrowser
from tests.support.postgres import free_port
from tests.support.server import serve
from vault.demo import DEMO_LOGIN, DEMO_PASSWORD

REPO = Path(__file__).resolve().parents[2]
ADDRESS = {"street": "Heidestraße", "house_number": "17", "postal_code": "51147", "city": "Köln", "country": "DE"}


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


def _read(attributes: dict[str, Any], service: str, fields: tuple[str, ...]) -> tuple[DataResult, Tokens]:
    """A read as the vault sends it (``GET /api/v1/data``'s JSON), decoded by the SDK, and its tokens."""
    wire = {"attributes": attributes, "grant": {"id": "g1", "service": service, "expires_at": "2026-06-01T00:00:00Z"},
            "receipt": {"commitment": "c" * 64}}  # fmt: skip
    tokens = Tokens("at", 2_000_000_000, "g1", service, fields, (), "rt")
    return msgspec.json.decode(msgspec.json.encode(wire), type=DataResult), tokens


def _form(service: str, attributes: dict[str, Any], fields: tuple[str, ...]) -> str:
    """The agency app's form (in-process) for a session that has read ``attributes`` under ``service``."""
    services = (
        Service("adressabgleich", "Ummeldung mit Adressabgleich"),
        Service("wohnsitz-anmelden", "Wohnsitz anmelden"),
    )
    config = Config("https://vault.test", "agency-1", generate_key(), "https://amt.test/callback", services)
    app = create_app(config)
    with TestClient(app) as http:
        http.get("/")  # a session
        sid = http.cookies["amt_session"]
        session = app.state.agency.sessions[sid]
        session.data, session.tokens = _read(attributes, service, fields)
        page = http.get("/")
        assert page.status_code == 200
        return page.text


def test_the_form_marks_confirmed_values_and_not_self_entered_ones() -> None:
    confirmed = {"provider": "Test-eID", "issuer": "https://eid.test", "kind": "oidc", "level": "high"}
    at = "2026-05-01T10:00:00Z"
    attributes = {
        "given_name": {"value": "Erika", "source": "idp:p1", "updated_at": at, "verified_by": confirmed},
        "family_name": {"value": "Mustermann", "source": "self", "updated_at": at},
        "birth_place": {"value": "Berlin", "source": "idp:p1", "updated_at": at, "verified_by": confirmed},
        "nationality": {"value": "DE", "source": "idp:p1", "updated_at": at, "verified_by": confirmed},
        "address": {"value": ADDRESS, "source": "self", "updated_at": at},
        "email": {"value": "erika@example.de", "source": "self", "updated_at": at},
        "birth_name": {"value": "Gabler", "source": "idp:p1", "updated_at": at, "verified_by": confirmed},
    }
    fields = ("given_name", "family_name", "birth_place", "nationality", "address", "email", "birth_name")
    html = _form("wohnsitz-anmelden", attributes, fields)
    # The title follows the service read under.
    assert '<h1 id="title">Wohnsitz anmelden</h1>' in html
    assert "<title>Wohnsitz anmelden \N{EN DASH} Bürgeramt Musterstadt</title>" in html
    # A confirmed value: its field says so in words, and the input points to that text.
    mark = "bestätigt durch Test-eID (Niveau hoch)"
    assert f'<span class="verified" id="verified-given_name"><span aria-hidden="true">✓</span> {mark}</span>' in html
    described = 'aria-describedby="verified-given_name">'
    assert f'id="given_name" name="given_name" value="Erika" autocomplete="given-name" {described}' in html
    assert 'id="birth_place" name="birth_place" value="Berlin" aria-describedby="verified-birth_place">' in html
    assert 'id="verified-nationality"' in html
    # A self-entered value has no mark, nor the address (self-entered) as a whole.
    assert 'id="family_name" name="family_name" value="Mustermann" autocomplete="family-name">' in html
    assert 'id="verified-family_name"' not in html
    assert 'id="verified-address"' not in html
    assert 'value="Heidestraße"' in html
    assert html.count("bestätigt durch") == 4  # given_name, birth_place, nationality, and birth_name in the list
    # What the form has no field for is listed, with the mark where confirmed.
    assert '<li id="unshown-email">E-Mail-Adresse: erika@example.de</li>' in html
    assert 'id="unshown-birth_name">Geburtsname: Gabler <span class="verified">' in html


def test_a_mark_without_level_from_an_older_vault_and_the_default_title() -> None:
    older = {"provider": "Test-eID", "issuer": "https://eid.test", "kind": "saml"}  # no level
    at = "2026-05-01T10:00:00Z"
    attributes = {"address": {"value": ADDRESS, "source": "idp:p1", "updated_at": at, "verified_by": older}}
    html = _form("adressabgleich", attributes, ("address", "email"))  # email granted but not read (none stored)
    assert '<h1 id="title">Ummeldung mit Adressabgleich</h1>' in html
    assert '<span aria-hidden="true">✓</span> bestätigt durch Test-eID</span>' in html
    assert "Niveau" not in html
    assert '<fieldset aria-describedby="verified-address">' in html
    assert '<li id="unshown-email">E-Mail-Adresse</li>' in html
