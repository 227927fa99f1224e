"""The form-action of pages with identity provider buttons: 'self' plus only the providers' own origins."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from vault.api.idp_csp import csp_for, redirect_origins
from vault.api.security import CSP
from vault.identity.providers import ProviderConfig

SAML_METADATA = """<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example/saml">
<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://sso.bund.example/sso"/>
</md:IDPSSODescriptor></md:EntityDescriptor>"""


def _provider(kind: str, issuer: str, metadata_doc: str) -> ProviderConfig:
    return ProviderConfig(
        id="p1",
        name="Test-eID",
        kind=kind,
        issuer=issuer,
        client_id="vault",
        auth_method="private_key_jwt",
        acr_map={},
        claims_map={},
        metadata_doc=metadata_doc,
        secret_sealed=b"",
        created_at=datetime.now(UTC),
        disabled=False,
    )


def test_oidc_allows_the_issuer_and_the_authorization_endpoint_origins() -> None:
    doc = json.dumps({"issuer": "https://eid.example", "authorization_endpoint": "https://login.eid.example:8443/auth"})
    provider = _provider("oidc", "https://eid.example", doc)
    assert redirect_origins(provider) == {"https://eid.example", "https://login.eid.example:8443"}
    csp = csp_for([provider])
    assert csp is not None
    assert "form-action 'self' https://eid.example https://login.eid.example:8443;" in csp
    assert csp.replace(" https://eid.example https://login.eid.example:8443", "") == CSP  # nothing else changes


def test_saml_allows_the_single_sign_on_location() -> None:
    provider = _provider("saml", "https://idp.example/saml", SAML_METADATA)
    assert redirect_origins(provider) == {"https://idp.example", "https://sso.bund.example"}


def test_no_provider_no_change_and_a_value_that_could_break_out_of_the_directive_is_dropped() -> None:
    assert csp_for([]) is None
    doc = json.dumps({"authorization_endpoint": "https://evil.example;script-src *"})
    provider = _provider("oidc", "javascript:alert(1)", doc)
    assert redirect_origins(provider) == set()
    assert csp_for([provider]) is None
