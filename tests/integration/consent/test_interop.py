"""Interoperability: a generic OAuth client this project did not write (Authlib's httpx client) does
PAR and the token exchange with ``private_key_jwt`` against a real ``vault serve``.

Authlib has no DPoP support of its own, so the test passes the DPoP header to ``fetch_token``; the
client assertion, PKCE challenge and token request are Authlib's.
"""

from __future__ import annotations

import json
import warnings
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx

from tests.support.agency import TestAgency
from tests.support.browser import LoopbackBrowser
from tests.support.catalogue import service_toml
from tests.support.postgres import free_port
from tests.support.server import serve, vault_cmd

if TYPE_CHECKING:
    from pathlib import Path

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Authlib 1.9 warns that its httpx module moves to httpx2
    from authlib.common.security import generate_token
    from authlib.integrations.httpx_client import AsyncOAuth2Client
    from authlib.oauth2.rfc7523 import PrivateKeyJWT
    from authlib.oauth2.rfc7636 import create_s256_code_challenge


def _approve(base: str, authorize: str) -> str:
    """A citizen registers, opens the consent page and approves; returns the redirect location."""
    browser = LoopbackBrowser(base)
    browser.register("interop@example.de", "ein sehr gutes Passwort")
    consent = browser.request("GET", authorize)
    assert consent.status_code == 200, consent.text
    csrf = browser.api_csrf()
    query = parse_qs(urlsplit(authorize).query)
    decision = {"client_id": query["client_id"][0], "request_uri": query["request_uri"][0], "decision": "approve"}
    answer = browser.request("POST", "/oauth/authorize", data={**decision, "csrf_token": csrf})
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


async def test_authlib_does_par_and_the_token_exchange(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {"VAULT_DATA_DIR": str(tmp_path / "var"), "VAULT_DATABASE_URL": database_url, "VAULT_ISSUER": issuer}
    assert vault_cmd("db", "upgrade", env=env).returncode == 0
    agency = TestAgency(issuer)
    (tmp_path / "jwks.json").write_text(json.dumps(agency.jwks()))
    added = vault_cmd(
        "agency", "add", "--name", "Amt", "--redirect-uri", agency.redirect_uri, "--jwks", str(tmp_path / "jwks.json"),
        env=env,
    )  # fmt: skip
    client_id = json.loads(added.stdout)["client_id"]
    (tmp_path / "service.toml").write_bytes(service_toml(client_id))
    assert vault_cmd("service", "add", str(tmp_path / "service.toml"), env=env).returncode == 0

    with serve(tmp_path, env, port=port):
        client = AsyncOAuth2Client(
            client_id=client_id, client_secret=agency.key, token_endpoint_auth_method="private_key_jwt"
        )
        # aud must be the issuer itself (FAPI 2.0), not the endpoint URL Authlib would use by default
        client.register_client_auth_method(
            PrivateKeyJWT(token_endpoint=issuer, alg="ES256", headers={"kid": agency.kid})
        )
        async with client:
            verifier = generate_token(48)
            form = {
                "client_id": client_id,
                "response_type": "code",
                "redirect_uri": agency.redirect_uri,
                "code_challenge": create_s256_code_challenge(verifier),
                "code_challenge_method": "S256",
                "state": "interop",
                "authorization_details": json.dumps([{"type": "vault_access", "service": "ummeldung"}]),
            }
            # Authlib signs the PAR body with the same client authentication it uses at the token endpoint.
            url, headers, body = client.client_auth("private_key_jwt").prepare(
                "POST", f"{issuer}/oauth/par", {"Content-Type": "application/x-www-form-urlencoded"}, urlencode(form)
            )
            par = await client.request("POST", url, withhold_token=True, content=body, headers=headers)
            assert par.status_code == 201, par.text
            request_uri = par.json()["request_uri"]
            location = _approve(
                issuer, f"/oauth/authorize?client_id={quote(client_id)}&request_uri={quote(request_uri)}"
            )
            code = parse_qs(urlsplit(location).query)["code"][0]
            token = await client.fetch_token(
                f"{issuer}/oauth/token",
                grant_type="authorization_code",
                code=code,
                code_verifier=verifier,
                redirect_uri=agency.redirect_uri,
                headers={"DPoP": agency.dpop("POST", f"{issuer}/oauth/token")},
            )
        assert token["token_type"] == "DPoP"
        access = token["access_token"]
        read = httpx.get(
            f"{issuer}/api/v1/data",
            headers={"Authorization": f"DPoP {access}", "DPoP": agency.dpop("GET", f"{issuer}/api/v1/data", access)},
        )
        assert read.status_code == 200, read.text
