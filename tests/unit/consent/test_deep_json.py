"""JSON nested thousands deep in a JOSE header, a JWT body or authorization_details is a clean OAuth error."""

from __future__ import annotations

import base64

import pytest

from vault.api.oauth_errors import answer
from vault.consent.checks import parse_authorization_details
from vault.consent.errors import OAuthError
from vault.consent.proofs import unverified_issuer, verify_client_assertion, verify_dpop_proof

DEEP = "[" * 5000 + "]" * 5000


def _segment(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def test_a_deep_dpop_header_is_an_invalid_proof() -> None:
    proof = f"{_segment(DEEP)}.e30.eA"
    with pytest.raises(OAuthError) as refused:
        verify_dpop_proof(proof, "GET", "https://vault.test/api/v1/data", 0, access_token="t")
    assert (refused.value.error, answer(refused.value, resource=True)[0]) == ("invalid_dpop_proof", 401)


def test_a_deep_client_assertion_is_an_invalid_client() -> None:
    with pytest.raises(OAuthError) as refused:
        verify_client_assertion(f"{_segment(DEEP)}.e30.eA", "c", {"keys": []}, "https://vault.test", 0)
    assert refused.value.error == "invalid_client"
    assert unverified_issuer(f"{_segment('{}')}.{_segment(DEEP)}.eA") is None


def test_deep_authorization_details_are_invalid() -> None:
    with pytest.raises(OAuthError) as refused:
        parse_authorization_details(DEEP)
    assert refused.value.error == "invalid_authorization_details"
