"""The test eID provider (examples/eid_provider): discovery, JWKS, PAR, PKCE, client auth, codes, ID tokens.

Every rule the vault's tests lean on is tried here from the breaking side: a replayed code, a wrong
verifier, a foreign redirect URI, a bad or replayed client assertion, a wrong secret.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from examples.eid_provider import forge
from examples.eid_provider.app import create_app
from examples.eid_provider.clients import Client, load_clients, parse_clients
from examples.eid_provider.make_client import main as make_client
from examples.eid_provider.personas import ACR
from examples.eid_provider.protocol import pairwise_subject
from examples.eid_provider.provider import Provider
from tests.support.postgres import free_port

REPO = Path(__file__).resolve().parents[2]
ISSUER = "https://eid.test"
REDIRECT = "https://vault.test/login/idp/callback"
JWT_CLIENT_KEY = ECKey.generate_key("P-256", private=True)
OTHER_KEY = ECKey.generate_key("P-256", private=True)
SECRET = "s3cr3t-with:colon&more"


def _jwks(key: ECKey) -> dict[str, Any]:
    return {"keys": [{**key.as_dict(private=False), "kid": key.thumbprint(), "alg": "ES256"}]}


CLIENTS = [
    Client("vault", (REDIRECT,), jwks=_jwks(JWT_CLIENT_KEY), name="Bürgertresor"),
    Client("secret-client", (REDIRECT,), client_secret=SECRET),
]


def assertion(client_id: str = "vault", key: ECKey = JWT_CLIENT_KEY, **changes: Any) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": ISSUER, "exp": now + 60, "iat": now,
              "jti": secrets.token_urlsafe(16)} | changes  # fmt: skip
    return jwt.encode({"alg": "ES256", "kid": key.thumbprint()}, claims, key)


def jwt_auth(client_id: str = "vault", **changes: Any) -> dict[str, str]:
    return {"client_id": client_id, "client_assertion": assertion(client_id, **changes),
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}  # fmt: skip


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def auth_params(challenge: str, client_id: str = "vault", **changes: str) -> dict[str, str]:
    return {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "scope": "openid",
            "state": "st-1", "nonce": "n-1", "code_challenge": challenge, "code_challenge_method": "S256",
            "acr_values": ACR["high"]} | changes  # fmt: skip


def query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def asgi_client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=ISSUER)


@pytest.fixture
async def eid() -> Any:
    app = create_app(ISSUER, CLIENTS)
    async with asgi_client(app) as client:
        client.provider = app.state.provider  # type: ignore[attr-defined]
        yield client


def provider_of(client: httpx.AsyncClient) -> Provider:
    return client.provider  # type: ignore[attr-defined, no-any-return]


async def choose(eid: httpx.AsyncClient, authorize: dict[str, str], persona: str | None = "erika") -> dict[str, str]:
    """Authorize, open the persona page, choose (or cancel); the redirect's query."""
    started = await eid.get("/authorize", params=authorize)
    assert started.status_code == 303, started.text
    page = await eid.get(started.headers["location"])
    assert page.status_code == 200
    ticket = page.text.split('name="ticket" value="')[1].split('"')[0]
    decision = {"ticket": ticket} | ({"persona": persona} if persona else {"cancel": "1"})
    back = await eid.post("/choose", data=decision)
    assert back.status_code == 303
    assert back.headers["location"].startswith(REDIRECT + "?")
    return query(back.headers["location"])


async def code_via_par(eid: httpx.AsyncClient, challenge: str, persona: str = "erika") -> str:
    pushed = await eid.post("/par", data=auth_params(challenge) | jwt_auth(aud=f"{ISSUER}/par"))
    assert pushed.status_code == 201, pushed.text
    body = pushed.json()
    assert body["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    assert body["expires_in"] > 0
    back = await choose(eid, {"client_id": "vault", "request_uri": body["request_uri"]}, persona)
    assert back["state"] == "st-1"
    assert back["iss"] == ISSUER
    return back["code"]


async def redeem(eid: httpx.AsyncClient, code: str, verifier: str, auth: dict[str, str] | None = None,
                 **changes: str) -> httpx.Response:  # fmt: skip
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier}
    return await eid.post("/token", data=form | (jwt_auth() if auth is None else auth) | changes)


def verify(eid: httpx.AsyncClient, id_token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    keys = KeySet.import_key_set(provider_of(eid).jwks())  # type: ignore[arg-type]
    decoded = jwt.decode(id_token, keys, algorithms=["ES256", "PS256"])
    return decoded.header, decoded.claims


async def test_discovery_names_the_endpoints_and_what_is_supported(eid: httpx.AsyncClient) -> None:
    doc = (await eid.get("/.well-known/openid-configuration")).json()
    assert doc["issuer"] == ISSUER
    assert doc["authorization_endpoint"] == f"{ISSUER}/authorize"
    assert doc["token_endpoint"] == f"{ISSUER}/token"
    assert doc["pushed_authorization_request_endpoint"] == f"{ISSUER}/par"
    assert doc["jwks_uri"] == f"{ISSUER}/jwks"
    assert doc["response_types_supported"] == ["code"]
    assert doc["grant_types_supported"] == ["authorization_code"]
    assert doc["subject_types_supported"] == ["pairwise"]
    assert doc["id_token_signing_alg_values_supported"] == ["ES256", "PS256"]
    assert set(doc["token_endpoint_auth_methods_supported"]) == {
        "private_key_jwt", "client_secret_basic", "client_secret_post"}  # fmt: skip
    assert "ES256" in doc["token_endpoint_auth_signing_alg_values_supported"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert set(doc["acr_values_supported"]) == set(ACR.values())
    assert {"acr", "nonce", "given_name", "address", "birthdate"} <= set(doc["claims_supported"])
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert doc["require_pushed_authorization_requests"] is False


async def test_jwks_publishes_the_public_es256_key_with_a_kid(eid: httpx.AsyncClient) -> None:
    answer = await eid.get("/jwks")
    assert answer.headers["content-type"].startswith("application/jwk-set+json")
    (key,) = answer.json()["keys"]
    assert key["kty"] == "EC"
    assert key["alg"] == "ES256"
    assert key["kid"] == provider_of(eid).signing_key.kid
    assert "d" not in key


async def test_par_authorize_choice_and_token_with_private_key_jwt(eid: httpx.AsyncClient) -> None:
    verifier, challenge = pkce()
    code = await code_via_par(eid, challenge)
    answer = await redeem(eid, code, verifier)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["token_type"] == "Bearer"
    assert body["access_token"]
    assert body["expires_in"] > 0
    header, claims = verify(eid, body["id_token"])
    assert header["alg"] == "ES256"
    assert header["kid"] == provider_of(eid).signing_key.kid
    assert claims["iss"] == ISSUER
    assert claims["aud"] == claims["azp"] == "vault"
    assert claims["sub"] == pairwise_subject(ISSUER, "erika", "vault")
    assert claims["nonce"] == "n-1"
    assert claims["exp"] == claims["iat"] + 300
    assert claims["auth_time"] <= claims["iat"]
    assert claims["acr"] == ACR["high"]
    assert claims["amr"] == ["eid"]
    assert (claims["given_name"], claims["family_name"], claims["birth_family_name"]) == (
        "Erika",
        "Mustermann",
        "Gabler",
    )
    assert claims["birthdate"] == "1964-08-12"
    assert claims["place_of_birth"] == {"locality": "Berlin"}
    assert claims["nationalities"] == ["DE"]
    assert claims["address"] == {"street_address": "Heidestraße 17", "postal_code": "51147", "locality": "Köln",
                                 "country": "DE"}  # fmt: skip


async def test_a_persona_below_the_asked_level_still_gets_its_true_acr(eid: httpx.AsyncClient) -> None:
    verifier, challenge = pkce()
    code = await code_via_par(eid, challenge, persona="max")
    _, claims = verify(eid, (await redeem(eid, code, verifier)).json()["id_token"])
    assert claims["acr"] == ACR["substantial"]
    assert claims["amr"] == ["hwk"]
    assert "birth_family_name" not in claims


@pytest.mark.parametrize("basic", [True, False])
async def test_plain_authorize_and_token_with_a_client_secret(eid: httpx.AsyncClient, basic: bool) -> None:
    verifier, challenge = pkce()
    back = await choose(eid, auth_params(challenge, client_id="secret-client"))
    assert back["iss"] == ISSUER
    if basic:
        credentials = base64.b64encode(b"secret-client:" + urlencode({"": SECRET})[1:].encode()).decode()
        form = {"grant_type": "authorization_code", "code": back["code"], "redirect_uri": REDIRECT,
                "code_verifier": verifier}  # fmt: skip
        answer = await eid.post("/token", data=form, headers={"Authorization": f"Basic {credentials}"})
    else:
        answer = await redeem(eid, back["code"], verifier, {"client_id": "secret-client", "client_secret": SECRET})
    assert answer.status_code == 200, answer.text
    _, claims = verify(eid, answer.json()["id_token"])
    assert claims["aud"] == "secret-client"
    assert claims["sub"] == pairwise_subject(ISSUER, "erika", "secret-client")
    assert claims["sub"] != pairwise_subject(ISSUER, "erika", "vault")  # pairwise: differs per client


async def test_a_wrong_client_secret_is_refused_and_burns_no_code(eid: httpx.AsyncClient) -> None:
    verifier, challenge = pkce()
    back = await choose(eid, auth_params(challenge, client_id="secret-client"))
    wrong = await redeem(eid, back["code"], verifier, {"client_id": "secret-client", "client_secret": SECRET + "x"})
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    right = await redeem(eid, back["code"], verifier, {"client_id": "secret-client", "client_secret": SECRET})
    assert right.status_code == 200


async def test_a_secret_client_cannot_switch_to_another_method(eid: httpx.AsyncClient) -> None:
    verifier, challenge = pkce()
    code = await code_via_par(eid, challenge)
    answer = await redeem(eid, code, verifier, {"client_id": "vault", "client_secret": "anything"})
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"


async def test_pkce_a_wrong_verifier_is_invalid_grant(eid: httpx.AsyncClient) -> None:
    verifier, challenge = pkce()
    code = await code_via_par(eid, challenge)
    answer = await redeem(eid, code, pkce()[0])
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"
    assert (await redeem(eid, code, verifier)).json()["error"] == "invalid_grant"  # the code is gone now


@pytest.mark.parametrize("changes", [{"code_challenge_method": "plain"}, {"code_challenge": ""}])
async def test_pkce_is_required_at_authorize(eid: httpx.AsyncClient, changes: dict[str, str]) -> None:
    answer = await eid.get("/authorize", params=auth_params(pkce()[1], **changes))
    assert answer.status_code == 303
    back = query(answer.headers["location"])
    assert back["error"] == "invalid_request"
    assert back["state"] == "st-1"
    assert back["iss"] == ISSUER
    pushed = await eid.post("/par", data=auth_params(pkce()[1], **changes) | jwt_auth())
    assert pushed.status_code == 400
    assert pushed.json()["error"] == "invalid_request"


async def test_a_replayed_code_is_invalid_grant(eid: httpx.AsyncClient) -> None:
    verifier, challenge = pkce()
    code = await code_via_par(eid, challenge)
    assert (await redeem(eid, code, verifier)).status_code == 200
    again = await redeem(eid, code, verifier)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


async def test_a_code_expires_after_60_seconds(eid: httpx.AsyncClient) -> None:
    verifier, challenge = pkce()
    late, in_time = await code_via_par(eid, challenge), await code_via_par(eid, challenge)
    auth = {"client_id": "vault"}
    provider_of(eid).clock = lambda: time.time() + 58
    assert (await redeem(eid, in_time, verifier, auth | jwt_auth(exp=int(time.time()) + 300))).status_code == 200
    provider_of(eid).clock = lambda: time.time() + 61
    answer = await redeem(eid, late, verifier, auth | jwt_auth(exp=int(time.time()) + 300))
    assert answer.json()["error"] == "invalid_grant"


async def test_a_code_is_bound_to_its_client(eid: httpx.AsyncClient) -> None:
    verifier, challenge = pkce()
    code = await code_via_par(eid, challenge)
    answer = await redeem(eid, code, verifier, {"client_id": "secret-client", "client_secret": SECRET})
    assert answer.json()["error"] == "invalid_grant"


async def test_a_wrong_redirect_uri_at_the_token_endpoint_is_invalid_grant(eid: httpx.AsyncClient) -> None:
    verifier, challenge = pkce()
    code = await code_via_par(eid, challenge)
    answer = await redeem(eid, code, verifier, redirect_uri=REDIRECT + "x")
    assert answer.json()["error"] == "invalid_grant"


async def test_an_unregistered_redirect_uri_is_never_redirected_to(eid: httpx.AsyncClient) -> None:
    evil = "https://evil.test/cb"
    answer = await eid.get("/authorize", params=auth_params(pkce()[1], redirect_uri=evil))
    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert "redirect_uri" in answer.text
    pushed = await eid.post("/par", data=auth_params(pkce()[1], redirect_uri=evil) | jwt_auth())
    assert pushed.status_code == 400


@pytest.mark.parametrize(
    ("why", "auth"),
    [
        ("signed by an unknown key", lambda: jwt_auth() | {"client_assertion": assertion(key=OTHER_KEY)}),
        ("aud of someone else", lambda: jwt_auth(aud="https://other.test")),
        ("expired", lambda: jwt_auth(exp=int(time.time()) - 1)),
        ("exp too far ahead", lambda: jwt_auth(exp=int(time.time()) + 7200)),
        ("iss is not the client", lambda: jwt_auth(iss="secret-client")),
        ("sub is not the client", lambda: jwt_auth(sub="someone")),
        ("no jti", lambda: jwt_auth(jti=None)),
        ("wrong assertion type", lambda: jwt_auth() | {"client_assertion_type": "urn:x"}),
        ("unknown client", lambda: jwt_auth("nobody")),
    ],
)
async def test_a_bad_client_assertion_is_invalid_client(eid: httpx.AsyncClient, why: str, auth: Any) -> None:
    verifier, challenge = pkce()
    code = await code_via_par(eid, challenge)
    answer = await redeem(eid, code, verifier, auth())
    assert answer.status_code == 401, why
    assert answer.json()["error"] == "invalid_client"
    assert (await redeem(eid, code, verifier)).status_code == 200  # a refused client burns no code


async def test_a_client_assertion_is_single_use(eid: httpx.AsyncClient) -> None:
    auth = jwt_auth()
    assert (await eid.post("/par", data=auth_params(pkce()[1]) | auth)).status_code == 201
    again = await eid.post("/par", data=auth_params(pkce()[1]) | auth)
    assert again.status_code == 401
    assert "jti" in again.json()["error_description"]


async def test_par_needs_client_authentication(eid: httpx.AsyncClient) -> None:
    answer = await eid.post("/par", data=auth_params(pkce()[1]))
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"


async def test_a_request_uri_is_single_use_and_bound_to_its_client(eid: httpx.AsyncClient) -> None:
    pushed = (await eid.post("/par", data=auth_params(pkce()[1]) | jwt_auth())).json()
    other = await eid.get("/authorize", params={"client_id": "secret-client", "request_uri": pushed["request_uri"]})
    assert other.status_code == 400  # taken by the wrong client: gone
    pushed = (await eid.post("/par", data=auth_params(pkce()[1]) | jwt_auth())).json()
    params = {"client_id": "vault", "request_uri": pushed["request_uri"]}
    assert (await eid.get("/authorize", params=params)).status_code == 303
    assert (await eid.get("/authorize", params=params)).status_code == 400


async def test_cancel_gives_access_denied_with_state_and_iss(eid: httpx.AsyncClient) -> None:
    back = await choose(eid, auth_params(pkce()[1]), persona=None)
    assert back == {"error": "access_denied", "state": "st-1", "iss": ISSUER}


async def test_a_finished_choice_cannot_be_made_again(eid: httpx.AsyncClient) -> None:
    started = await eid.get("/authorize", params=auth_params(pkce()[1]))
    ticket = query(started.headers["location"])["ticket"]
    assert (await eid.post("/choose", data={"ticket": ticket, "persona": "erika"})).status_code == 303
    again = await eid.post("/choose", data={"ticket": ticket, "persona": "erika"})
    assert again.status_code == 400


async def test_the_persona_page_shows_client_level_personas_in_german_and_english(eid: httpx.AsyncClient) -> None:
    started = await eid.get("/authorize", params=auth_params(pkce()[1]))
    page = (await eid.get(started.headers["location"])).text
    assert '<html lang="de">' in page
    assert "<h1>Mit Online-Ausweis anmelden</h1>" in page
    assert "Bürgertresor" in page
    assert "Erika Mustermann — Vertrauensniveau hoch" in page
    assert "Max Mustermann — Vertrauensniveau substanziell (niedriger als verlangt)" in page
    assert "Anna Beispiel — Vertrauensniveau hoch\n" in page
    assert ACR["high"] in page
    assert "Abbrechen" in page
    assert "<legend>" in page
    ticket = query(started.headers["location"])["ticket"]
    english = (await eid.get("/choose", params={"ticket": ticket, "lang": "en"})).text
    assert '<html lang="en">' in english
    assert "Erika Mustermann — level of assurance high" in english
    assert "Cancel" in english


async def test_ui_locales_picks_english(eid: httpx.AsyncClient) -> None:
    started = await eid.get("/authorize", params=auth_params(pkce()[1], ui_locales="en-GB de"))
    assert query(started.headers["location"])["lang"] == "en"


async def test_rotate_keys_keeps_the_old_key_published_and_signs_with_the_new(eid: httpx.AsyncClient) -> None:
    provider = provider_of(eid)
    old = provider.signing_key.kid
    new = provider.rotate_keys()
    assert new != old
    kids = [k["kid"] for k in (await eid.get("/jwks")).json()["keys"]]
    assert kids == [old, new]
    verifier, challenge = pkce()
    body = (await redeem(eid, await code_via_par(eid, challenge), verifier)).json()
    header, _ = verify(eid, body["id_token"])
    assert header["kid"] == new
    assert provider.rotate_keys("PS256") in [k["kid"] for k in (await eid.get("/jwks")).json()["keys"]]
    verifier, challenge = pkce()
    header, _ = verify(eid, (await redeem(eid, await code_via_par(eid, challenge), verifier)).json()["id_token"])
    assert header["alg"] == "PS256"


async def test_tamper_and_token_override_reach_the_handed_out_token(eid: httpx.AsyncClient) -> None:
    provider = provider_of(eid)
    provider.tamper = lambda header, claims: (header, {**claims, "nonce": "other", "aud": "someone"})
    verifier, challenge = pkce()
    _, claims = verify(eid, (await redeem(eid, await code_via_par(eid, challenge), verifier)).json()["id_token"])
    assert (claims["nonce"], claims["aud"]) == ("other", "someone")
    provider.tamper = None
    seen: list[dict[str, Any]] = []

    def override(header: dict[str, Any], claims: dict[str, Any]) -> str:
        seen.append(claims)
        return forge.unsigned()(header, claims)

    provider.token_override = override
    verifier, challenge = pkce()
    token = (await redeem(eid, await code_via_par(eid, challenge), verifier)).json()["id_token"]
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["alg"] == "none"
    assert token.endswith(".")
    assert seen[0]["iss"] == ISSUER


def test_forged_tokens_do_not_verify_against_the_jwks() -> None:
    provider = Provider(ISSUER, CLIENTS)
    keys = KeySet.import_key_set(provider.jwks())  # type: ignore[arg-type]
    claims = {"iss": ISSUER, "sub": "x"}
    header = {"alg": "ES256", "kid": provider.signing_key.kid}
    hs = forge.hs256_with(json.dumps(provider.jwks()).encode())(header, claims)
    other = forge.signed_with(OTHER_KEY, "ES256")(header, claims)
    for token in (hs, other, forge.unsigned()(header, claims)):
        with pytest.raises(Exception):  # noqa: B017  joserfc raises several kinds
            jwt.decode(token, keys, algorithms=["ES256", "PS256"])
    assert jwt.decode(other, KeySet.import_key_set(_jwks(OTHER_KEY))).claims == claims  # type: ignore[arg-type]


async def test_auto_persona_skips_the_page(eid: httpx.AsyncClient) -> None:
    provider_of(eid).auto_persona = "anna"
    verifier, challenge = pkce()
    started = await eid.get("/authorize", params=auth_params(challenge))
    code = query(started.headers["location"])["code"]
    _, claims = verify(eid, (await redeem(eid, code, verifier)).json()["id_token"])
    assert claims["given_name"] == "Anna"


def test_the_clients_file_needs_exactly_one_credential() -> None:
    both = {"client_id": "a", "redirect_uris": [REDIRECT], "jwks": {"keys": []}, "client_secret": "x"}
    with pytest.raises(ValueError, match="exactly one"):
        parse_clients({"clients": [both]})
    with pytest.raises(ValueError, match="exactly one"):
        parse_clients({"clients": [{"client_id": "a", "redirect_uris": [REDIRECT]}]})
    with pytest.raises(ValueError, match="unique"):
        parse_clients({"clients": [{"client_id": "a", "redirect_uris": [REDIRECT], "client_secret": "x"}] * 2})


async def test_make_client_writes_a_key_the_provider_accepts(tmp_path: Path) -> None:
    clients_file, key_file = tmp_path / "clients.json", tmp_path / "client.pem"
    make_client(["--clients", str(clients_file), "--client-id", "vault", "--redirect-uri", REDIRECT,
                 "--key-out", str(key_file)])  # fmt: skip
    make_client(["--clients", str(clients_file), "--client-id", "other", "--secret-out", str(tmp_path / "secret")])
    loaded = load_clients(clients_file)
    assert [c.client_id for c in loaded.clients] == ["vault", "other"]
    key = ECKey.import_key(key_file.read_bytes())
    app = create_app(ISSUER, loaded.clients)
    async with asgi_client(app) as eid:
        auth = jwt_auth() | {"client_assertion": assertion(key=key)}
        assert (await eid.post("/par", data=auth_params(pkce()[1]) | auth)).status_code == 201


def test_the_command_line_serves_discovery(tmp_path: Path) -> None:
    clients_file = tmp_path / "clients.json"
    clients_file.write_text(json.dumps({"clients": [{"client_id": "v", "redirect_uris": [REDIRECT],
                                                     "client_secret": "x"}]}))  # fmt: skip
    port = free_port()
    issuer = f"http://localhost:{port}"
    command = [sys.executable, "-m", "examples.eid_provider", "--issuer", issuer, "--port", str(port),
               "--clients", str(clients_file)]  # fmt: skip
    log = (tmp_path / "provider.log").open("w")
    server = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                answer = httpx.get(f"http://127.0.0.1:{port}/.well-known/openid-configuration", timeout=2)
                break
            assert server.poll() is None, (tmp_path / "provider.log").read_text()
            assert time.monotonic() < deadline, "the provider did not start"
            time.sleep(0.2)
        assert answer.json()["issuer"] == issuer
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()
