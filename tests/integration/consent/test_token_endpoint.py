"""The token endpoint asks for a DPoP nonce before it spends the client assertion."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.integration.consent.test_data_reads import _reader
from vault.consent.errors import OAuthError, UseDpopNonce
from vault.consent.nonces import DpopNonces
from vault.crypto.macs import NonceMac

if TYPE_CHECKING:
    from vault.runtime import Runtime


async def test_a_client_told_use_dpop_nonce_may_send_the_same_assertion_again(runtime: Runtime) -> None:
    reader = await _reader(runtime, "erika@example.de")
    oauth = runtime.services.oauth
    agency = await runtime.services.catalogue.agency(reader.agency.client_id)
    issued = await oauth.issue(
        agency, reader.grant_id, reader.agency.dpop_key.thumbprint(), code_hash=None, refresh=True
    )
    oauth.tokens.nonces = DpopNonces(NonceMac(bytes(range(32))))  # as with VAULT_DPOP_NONCES=1
    url = f"{oauth.issuer}/oauth/token"
    form = {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"], **reader.agency.auth()}

    with pytest.raises(OAuthError) as told:
        await oauth.token(form, reader.agency.dpop("POST", url), url)
    assert told.value.error == "use_dpop_nonce"
    assert isinstance(told.value, UseDpopNonce)
    nonce = told.value.nonce

    answer = await oauth.token(form, reader.agency.dpop("POST", url, nonce=nonce), url)  # the same assertion
    assert answer["access_token"]
    with pytest.raises(OAuthError) as replayed:  # spent once a request got through: a replay is still refused
        await oauth.token(form, reader.agency.dpop("POST", url, nonce=nonce), url)
    assert replayed.value.error == "invalid_client"


async def test_a_proof_refused_for_its_time_does_not_spend_the_assertion_either(runtime: Runtime) -> None:
    reader = await _reader(runtime, "erika@example.de")
    agency = await runtime.services.catalogue.agency(reader.agency.client_id)
    issued = await runtime.services.oauth.issue(
        agency, reader.grant_id, reader.agency.dpop_key.thumbprint(), code_hash=None, refresh=True
    )
    url = f"{runtime.services.oauth.issuer}/oauth/token"
    form = {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"], **reader.agency.auth()}
    stale = reader.agency.dpop("POST", url, iat=0)  # the client's clock is off; it corrects it and retries
    with pytest.raises(OAuthError) as refused:
        await runtime.services.oauth.token(form, stale, url)
    assert refused.value.error == "invalid_dpop_proof"
    assert (await runtime.services.oauth.token(form, reader.agency.dpop("POST", url), url))["access_token"]
