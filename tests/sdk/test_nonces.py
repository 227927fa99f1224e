"""With ``VAULT_DPOP_NONCES`` on, the vault refuses proofs without its nonce, and the SDK follows it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from agency_sdk import AgencyClient
from agency_sdk.keys import ASSERTION_TYPE, client_assertion, dpop_proof
from tests.sdk.conftest import CALLBACK, ISSUER

if TYPE_CHECKING:
    from tests.sdk.conftest import Vault

NONCES = pytest.mark.parametrize("vault", [{"dpop_nonces": True}], indirect=True)


@NONCES
def test_the_vault_hands_out_a_nonce_and_refuses_proofs_without_it(vault: Vault) -> None:
    client = AgencyClient(ISSUER, vault.client_id, vault.key, redirect_uri=CALLBACK, http=vault.http)
    start = client.start_authorization("adressabgleich")
    tokens = client.finish_authorization(start.flow, vault.citizen.decide(start.url))  # after one use_dpop_nonce
    nonce = client.protocol.nonce
    assert nonce is not None

    url = f"{ISSUER}/api/v1/data"
    bare = dpop_proof(client.protocol.dpop_key, "GET", url, client.protocol.now(), ath=_ath(tokens.access_token))
    refused = vault.http.get(url, headers={"Authorization": f"DPoP {tokens.access_token}", "DPoP": bare})
    assert refused.status_code == 401
    assert 'error="use_dpop_nonce"' in refused.headers["www-authenticate"]
    assert refused.headers["dpop-nonce"] == nonce

    stale = dpop_proof(client.protocol.dpop_key, "GET", url, client.protocol.now(), ath=_ath(tokens.access_token),
                       nonce="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")  # fmt: skip
    bearer = f"DPoP {tokens.access_token}"
    assert vault.http.get(url, headers={"Authorization": bearer, "DPoP": stale}).status_code == 401

    good = dpop_proof(client.protocol.dpop_key, "GET", url, client.protocol.now(), ath=_ath(tokens.access_token),
                      nonce=nonce)  # fmt: skip
    assert vault.http.get(url, headers={"Authorization": bearer, "DPoP": good}).status_code == 200


@NONCES
def test_the_sdk_retries_with_the_nonce_on_the_token_endpoint_and_on_reads(vault: Vault) -> None:
    client = AgencyClient(ISSUER, vault.client_id, vault.key, redirect_uri=CALLBACK, http=vault.http)
    seen: list[int] = []
    vault.http.event_hooks["response"].append(lambda response: seen.append(response.status_code))
    start = client.start_authorization("adressabgleich")
    tokens = client.finish_authorization(start.flow, vault.citizen.decide(start.url))
    assert 400 in seen  # the first token request was refused with use_dpop_nonce, the retry worked
    client.protocol.nonce = None  # forget it: the read learns it again from the 401
    seen.clear()
    assert client.read_data(tokens).attributes["given_name"].value == "Erika"
    assert seen == [401, 200]


@NONCES
def test_a_non_ascii_nonce_is_answered_with_use_dpop_nonce_not_a_server_error(vault: Vault) -> None:
    client = AgencyClient(ISSUER, vault.client_id, vault.key, redirect_uri=CALLBACK, http=vault.http)
    start = client.start_authorization("adressabgleich")
    tokens = client.finish_authorization(start.flow, vault.citizen.decide(start.url))
    assert tokens.refresh_token is not None
    key, now = client.protocol.dpop_key, client.protocol.now()

    url = f"{ISSUER}/api/v1/data"
    proof = dpop_proof(key, "GET", url, now, ath=_ath(tokens.access_token), nonce="Nönce-ü" * 4)
    refused = vault.http.get(url, headers={"Authorization": f"DPoP {tokens.access_token}", "DPoP": proof})
    assert refused.status_code == 401
    assert 'error="use_dpop_nonce"' in refused.headers["www-authenticate"]
    assert refused.headers["dpop-nonce"]

    assert client.protocol.metadata is not None
    token_url = client.protocol.metadata.token_endpoint
    form = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_assertion(vault.key, vault.client_id, ISSUER, now)}  # fmt: skip
    proof = dpop_proof(key, "POST", token_url, now, nonce="\u0661" * 32)
    answer = vault.http.post(token_url, data=form, headers={"DPoP": proof})
    assert answer.status_code == 400
    assert answer.json()["error"] == "use_dpop_nonce"


def _ath(token: str) -> str:
    from vault.consent.proofs import access_token_hash

    return access_token_hash(token)
