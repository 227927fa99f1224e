"""docs/sdk.md runs: its shell blocks register an agency, its Python blocks integrate it, against ``vault serve``.

The blocks are taken from the page as written; the only substitution is the ``<client_id>`` the page
tells the operator to fill in. A citizen (a loopback browser over HTTP) registers, approves on the
vault's consent page and later revokes; the page's functions do the agency's side.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import msgspec

from agency_sdk import DataResult, Tokens
from tests.support.browser import LoopbackBrowser
from tests.support.postgres import free_port
from tests.support.server import serve

if TYPE_CHECKING:
    import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "sdk.md"
PASSWORD = "Lindenbaum-Kastanie-2026"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.DOTALL | re.MULTILINE)


def blocks(language: str) -> list[str]:
    """The page's code blocks in ``language``, in order."""
    return [body for lang, body in BLOCK.findall(DOC.read_text()) if lang == language]


def _approve(citizen: LoopbackBrowser, url: str, decision: str = "approve") -> str:
    target = urlsplit(url)
    page = citizen.request("GET", f"{target.path}?{target.query}")
    assert page.status_code == 200, page.text
    query = httpx.QueryParams(target.query)
    form = {"client_id": query["client_id"], "request_uri": query["request_uri"], "decision": decision,
            "csrf_token": citizen.api_csrf()}  # fmt: skip
    answer = citizen.request("POST", "/oauth/authorize", data=form)
    assert answer.status_code in (302, 303), answer.text
    return str(answer.headers["location"])


def test_every_block_of_docs_sdk_runs_against_a_real_vault(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"VAULT_DATA_DIR": str(tmp_path / "var"), "VAULT_ISSUER": base}
    monkeypatch.chdir(tmp_path)
    shell_env = {**os.environ, **env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    with serve(tmp_path, env, "--host", "127.0.0.1", port=port):
        # Register the agency exactly as the page says.
        keygen, agency_add, service_add = blocks("sh")
        for command in (keygen, agency_add):
            done = subprocess.run(["bash", "-euc", command], env=shell_env, capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
        client_id = json.loads(done.stdout)["client_id"]
        (tmp_path / "ummeldung.toml").write_text(blocks("toml")[0].replace("<client_id>", client_id))
        done = subprocess.run(["bash", "-euc", service_add], env=shell_env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr

        citizen = LoopbackBrowser(base)
        citizen.register("erika.docs@example.de", PASSWORD)
        csrf = {"X-CSRF-Token": citizen.api_csrf()}
        for name, value in {"given_name": "Erika", "family_name": "Mustermann", "birth_date": "1964-08-12"}.items():
            stored = citizen.request("PUT", f"/api/v1/me/attributes/{name}", json={"value": value}, headers=csrf)
            assert stored.is_success, stored.text

        monkeypatch.setenv("VAULT_URL", base)
        monkeypatch.setenv("AGENCY_CLIENT_ID", client_id)
        monkeypatch.setenv("VAULT_LOG_KEY", httpx.get(f"{base}/log/key").text.strip())
        integration, again, confirmed, watching = blocks("python")
        assert len(integration.strip().splitlines()) < 40, "the page promises an integration in under 40 lines"
        page: dict[str, Any] = {}
        exec(integration, page)  # the page's own code is what is tested

        session: dict[str, Any] = {}
        filled = page["callback"](session, _approve(citizen, page["start"](session)))
        assert filled == {"given_name": "Erika", "family_name": "Mustermann", "birth_date": "1964-08-12"}
        declined = page["callback"](session, _approve(citizen, page["start"](session), "deny"))
        assert declined == {"declined": True}

        exec(again, page)
        assert page["read_again"](session)["given_name"] == "Erika"
        exec(confirmed, page)
        read = page["client"].read_data(msgspec.json.decode(session["tokens"], type=Tokens))
        assert page["confirmed"](read) == {}  # values the citizen typed in carry no mark
        by = {"provider": "Test-eID", "issuer": "https://eid.test", "kind": "oidc"}
        at = "2026-05-01T10:00:00Z"
        attributes = {
            "given_name": {
                "value": "Erika",
                "source": "idp:p1",
                "updated_at": at,
                "verified_by": {**by, "level": "high"},
            },
            "birth_place": {"value": "Berlin", "source": "idp:p1", "updated_at": at, "verified_by": by},
            "email": {"value": "e@example.de", "source": "self", "updated_at": at},
        }
        grant = {"id": "g", "service": "ummeldung", "expires_at": at}
        wire = {"attributes": attributes, "grant": grant, "receipt": {"commitment": "c"}}
        marks = page["confirmed"](msgspec.json.decode(msgspec.json.encode(wire), type=DataResult))
        assert marks == {
            "given_name": "bestätigt durch Test-eID (Niveau hoch)",
            "birth_place": "bestätigt durch Test-eID",
        }
        page["end"](session)  # the agency's tokens are revoked
        assert "tokens" not in session
        page["callback"](session, _approve(citizen, page["start"](session)))
        grant_id = json.loads(session["tokens"])["grant_id"]
        revoked = citizen.request("POST", f"/api/v1/me/grants/{grant_id}/revoke", headers=csrf)
        assert revoked.is_success, revoked.text
        assert page["read_again"](session) is None  # AccessEnded: the page's code asks the citizen again
        assert "tokens" not in session

        exec(watching, page)
        assert page["checkpoint"].size > 0
