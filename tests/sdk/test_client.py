"""The blocking client against a real vault app: the whole agency journey and every way it can fail."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING

import msgspec
import pytest

from agency_sdk import (
    AccessEnded,
    AgencyClient,
    AuthorizationFailed,
    ConfigurationError,
    DataResult,
    Flow,
    ReceiptInvalid,
    RequestRejected,
    Tokens,
    generate_key,
    verify_receipt,
)
from tests.sdk.conftest import CALLBACK, ISSUER, VALUES

if TYPE_CHECKING:
    from tests.sdk.conftest import Vault


def _client(vault: Vault, **options: object) -> AgencyClient:
    return AgencyClient(ISSUER, vault.client_id, vault.key, redirect_uri=CALLBACK, http=vault.http, **options)  # type: ignore[arg-type]


def _approved(vault: Vault, client: AgencyClient, service: str = "adressabgleich", **options: object) -> Tokens:
    start = client.start_authorization(service, **options)
    callback = vault.citizen.decide(start.url)
    return client.finish_authorization(start.flow, callback)


def test_the_whole_journey_reads_exactly_the_granted_data_with_a_verifiable_receipt(vault: Vault) -> None:
    client = _client(vault)
    start = client.start_authorization("adressabgleich")
    assert start.url.startswith(f"{ISSUER}/oauth/authorize?client_id=")
    flow = msgspec.json.decode(msgspec.json.encode(start.flow), type=Flow)  # the flow survives a session store
    tokens = client.finish_authorization(flow, vault.citizen.decide(start.url))
    assert tokens.service == "adressabgleich"
    assert tokens.refresh_token is not None

    data = client.read_data(tokens)
    assert isinstance(data, DataResult)
    assert set(data.attributes) == {"given_name", "family_name", "birth_date", "address"}
    assert data.attributes["address"].value == VALUES["address"]
    assert isinstance(data.attributes["given_name"].updated_at, datetime)
    assert data.grant.id == tokens.grant_id

    vkey = client.log_key()  # pinned here for the test; an agency pins it out of band
    promised = verify_receipt(data.receipt, vkey, require_proof=False)
    assert promised.promised_at is not None
    proven = verify_receipt(client.fetch_proof(data.receipt), vkey)
    assert proven.leaf_index is not None
    assert proven.tree_size is not None
    assert proven.tree_size > proven.leaf_index


def test_narrower_fields_are_all_that_is_read(vault: Vault) -> None:
    client = _client(vault)
    tokens = _approved(vault, client, fields=["given_name"])
    assert set(client.read_data(tokens).attributes) == {"given_name"}


def test_refresh_gives_a_working_token_and_revoke_ends_the_agencys_tokens(vault: Vault) -> None:
    client = _client(vault)
    tokens = _approved(vault, client)
    fresh = client.refresh(tokens)
    assert fresh.access_token != tokens.access_token
    assert fresh.refresh_token == tokens.refresh_token
    assert client.read_data(fresh).grant.id == tokens.grant_id
    client.revoke(fresh)
    with pytest.raises(AccessEnded):
        client.read_data(fresh)
    with pytest.raises(RequestRejected) as refused:
        client.refresh(fresh)
    assert refused.value.error == "invalid_grant"


def test_a_revoke_by_the_citizen_ends_the_reads(vault: Vault) -> None:
    client = _client(vault)
    tokens = _approved(vault, client)
    client.read_data(tokens)
    vault.citizen.revoke(tokens.grant_id)
    with pytest.raises(AccessEnded) as ended:
        client.read_data(tokens)
    assert ended.value.status == 401
    assert "revoked" in ended.value.description


def test_a_once_grant_is_used_up_by_its_first_read(vault: Vault) -> None:
    client = _client(vault)
    tokens = _approved(vault, client, service="ummeldung", documents=[])
    client.read_data(tokens)
    with pytest.raises(AccessEnded):
        client.read_data(tokens)


def test_documents_handed_in_later_are_listed_pending_then_downloaded_with_a_receipt(vault: Vault) -> None:
    client = _client(vault)
    tokens = _approved(vault, client)
    listed = client.list_documents(tokens)
    assert listed.pending == ["rental_confirmation"]
    assert listed.documents == []
    vault.citizen.upload("rental_confirmation", b"%PDF-1.4\n% Mietbescheinigung\n%%EOF\n")
    listed = client.list_documents(tokens)
    assert listed.pending == []
    document = client.download_document(tokens, listed.documents[0].id)
    assert document.content.startswith(b"%PDF-")
    assert document.content_type == "application/pdf"
    verify_receipt(client.fetch_proof(document.receipt), client.log_key())
    with pytest.raises(RequestRejected) as missing:
        client.download_document(tokens, "00000000-0000-0000-0000-000000000000")
    assert missing.value.status == 404


def test_the_callback_is_checked_for_iss_state_and_the_citizens_no(vault: Vault) -> None:
    client = _client(vault)
    start = client.start_authorization("adressabgleich")
    callback = vault.citizen.decide(start.url)
    forged_iss = callback.replace("iss=https%3A%2F%2Fvault.test", "iss=https%3A%2F%2Fevil.example")
    with pytest.raises(AuthorizationFailed, match="iss"):
        client.finish_authorization(start.flow, forged_iss)
    other_flow = msgspec.structs.replace(start.flow, state="another-state")
    with pytest.raises(AuthorizationFailed, match="state"):
        client.finish_authorization(other_flow, callback)
    client.finish_authorization(start.flow, callback)  # the real one still works once checked
    declined_start = client.start_authorization("adressabgleich")
    with pytest.raises(AuthorizationFailed) as declined:
        client.finish_authorization(declined_start.flow, vault.citizen.decide(declined_start.url, "deny"))
    assert declined.value.declined


def test_a_code_is_exchanged_once(vault: Vault) -> None:
    client = _client(vault)
    start = client.start_authorization("adressabgleich")
    callback = vault.citizen.decide(start.url)
    client.finish_authorization(start.flow, callback)
    with pytest.raises(RequestRejected) as replay:
        client.finish_authorization(start.flow, callback)
    assert replay.value.error == "invalid_grant"


def test_a_wrong_key_or_client_is_refused_clearly(vault: Vault) -> None:
    stranger = AgencyClient(ISSUER, vault.client_id, generate_key(), redirect_uri=CALLBACK, http=vault.http)
    with pytest.raises(RequestRejected) as refused:
        stranger.start_authorization("adressabgleich")
    assert refused.value.error == "invalid_client"
    with pytest.raises(ConfigurationError, match="issuer"):
        AgencyClient("https://other.example", vault.client_id, vault.key, http=vault.http).discover()
    with pytest.raises(ConfigurationError, match="private key"):
        AgencyClient(ISSUER, vault.client_id, "not a key")
    with pytest.raises(ConfigurationError, match="public key"):
        AgencyClient(ISSUER, vault.client_id, vault.key.as_dict(private=False))
    with pytest.raises(ConfigurationError, match="redirect_uri"):
        AgencyClient(ISSUER, vault.client_id, vault.key, http=vault.http).start_authorization("adressabgleich")


def test_a_skewed_clock_is_corrected_from_the_vaults_date_header(vault: Vault) -> None:
    client = _client(vault, clock=lambda: time.time() + 600)  # ten minutes fast: every iat would be refused
    tokens = _approved(vault, client)
    assert client.read_data(tokens).attributes["given_name"].value == "Erika"
    assert -610 < client.protocol.offset < -590


def test_a_tampered_receipt_does_not_verify(vault: Vault) -> None:
    client = _client(vault)
    data = client.read_data(_approved(vault, client))
    proven = client.fetch_proof(data.receipt)
    vkey = client.log_key()
    other = client.fetch_proof(client.read_data(_approved(vault, client)).receipt)
    swapped = msgspec.structs.replace(proven, commitment=other.commitment)
    with pytest.raises(ReceiptInvalid):
        verify_receipt(swapped, vkey)
    with pytest.raises(ReceiptInvalid):
        verify_receipt(data.receipt, vkey)  # no proof yet: not enough by default
    with pytest.raises(ReceiptInvalid):
        verify_receipt(proven, vkey.replace(vkey.split("+")[2][:8], "AAAAAAAA"))
