"""The form-action of pages with identity provider buttons: 'self' plus only the providers' own origins."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from vault.api.idp_csp import csp_for, redirect_origins
from vault.api.security import CSP
from vault.crypto.idp import SamlKey, new_saml_key
from vault.identity.providers import ProviderConfig
from vault.identity.saml import authn_request_url

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


def test_oidc_allows_only_the_authorization_endpoint_origin() -> None:
    doc = json.dumps({"issuer": "https://eid.example", "authorization_endpoint": "https://login.eid.example:8443/auth"})
    provider = _provider("oidc", "https://eid.example", doc)
    assert redirect_origins(provider) == {"https://login.eid.example:8443"}  # not the issuer: never visited
    csp = csp_for([provider])
    assert csp is not None
    assert "form-action 'self' https://login.eid.example:8443;" in csp
    assert csp.replace(" https://login.eid.example:8443", "") == CSP  # nothing else changes


def test_saml_allows_only_the_http_redirect_single_sign_on_location() -> None:
    provider = _provider("saml", "https://idp.example/saml", SAML_METADATA)
    assert redirect_origins(provider) == {"https://sso.bund.example"}  # not the entity id


def test_loopback_http_for_tests_and_the_demo() -> None:
    doc = json.dumps({"authorization_endpoint": "http://127.0.0.1:8081/authorize"})
    assert redirect_origins(_provider("oidc", "http://127.0.0.1:8081", doc)) == {"http://127.0.0.1:8081"}


def _saml(*services: tuple[str, str], entity_id: str = "https://idp.example/saml") -> str:
    body = "".join(
        f'<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:{binding}" Location="{location}"/>'
        for binding, location in services
    )
    return (
        f'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity_id}">'
        f'<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{body}'
        "</md:IDPSSODescriptor></md:EntityDescriptor>"
    )


def test_saml_locations_of_other_bindings_are_not_allowed() -> None:
    metadata = _saml(
        ("SOAP", "https://soap.example/sso"),
        ("HTTP-POST", "https://post.example/sso"),
        ("HTTP-Redirect", "https://redirect.example/sso"),
        ("HTTP-Redirect", "https://second.example/sso"),  # the vault uses the first
    )
    assert redirect_origins(_provider("saml", "https://idp.example/saml", metadata)) == {"https://redirect.example"}


def test_saml_of_another_entity_or_malformed_adds_nothing() -> None:
    other = _saml(("HTTP-Redirect", "https://redirect.example/sso"), entity_id="https://other.example")
    assert redirect_origins(_provider("saml", "https://idp.example/saml", other)) == set()
    doctype = '<!DOCTYPE x [<!ENTITY e "https://evil.example">]>' + _saml(("HTTP-Redirect", "&e;/sso"))
    assert redirect_origins(_provider("saml", "https://idp.example/saml", doctype)) == set()
    assert redirect_origins(_provider("saml", "https://idp.example/saml", "<not xml")) == set()


BAD_LOCATIONS = [
    "https://*",
    "https://*.example/sso",
    "*",
    "https://例え.jp/sso",
    "https://sso.example;script-src */x",
    "https://sso.example%3Bscript-src/x",
    "https://sso.example 'unsafe-inline'/x",
    "https://sso.example'/x",
    'https://sso.example"/x',
    "https://sso.example,evil.example/x",
    "https://user@sso.example/x",
    "https://sso.example:port/x",
    "https://sso.example\\@evil.example/x",
    "javascript:alert(1)",
    "data:text/html,hi",
    "http://sso.example/x",  # http only on loopback
]


@pytest.mark.parametrize("location", BAD_LOCATIONS)
def test_a_saml_location_that_could_widen_or_break_the_directive_adds_nothing(location: str) -> None:
    metadata = _saml(("HTTP-Redirect", location.replace("&", "&amp;").replace('"', "&quot;")))
    provider = _provider("saml", "https://idp.example/saml", metadata)
    assert redirect_origins(provider) == set()
    assert csp_for([provider]) is None


@pytest.mark.parametrize("location", BAD_LOCATIONS)
def test_an_oidc_authorization_endpoint_that_could_widen_or_break_the_directive_adds_nothing(location: str) -> None:
    provider = _provider("oidc", "https://eid.example", json.dumps({"authorization_endpoint": location}))
    assert redirect_origins(provider) == set()
    assert csp_for([provider]) is None


def test_an_oidc_authorization_endpoint_on_a_private_address_adds_nothing() -> None:
    doc = json.dumps({"authorization_endpoint": "https://169.254.169.254/auth"})
    assert redirect_origins(_provider("oidc", "https://eid.example", doc)) == set()


def test_several_providers_and_the_unsafe_one_is_left_out() -> None:
    good = _provider("oidc", "https://eid.example", json.dumps({"authorization_endpoint": "https://eid.example/a"}))
    bad = _provider("saml", "https://idp.example/saml", _saml(("HTTP-Redirect", "https://*")))
    saml = _provider("saml", "https://idp.example/saml", SAML_METADATA)
    csp = csp_for([good, bad, saml])
    assert csp is not None
    assert "form-action 'self' https://eid.example https://sso.bund.example;" in csp


def test_no_provider_no_change_and_a_value_that_could_break_out_of_the_directive_is_dropped() -> None:
    assert csp_for([]) is None
    doc = json.dumps({"authorization_endpoint": "https://evil.example;script-src *"})
    provider = _provider("oidc", "javascript:alert(1)", doc)
    assert redirect_origins(provider) == set()
    assert csp_for([provider]) is None


def test_the_location_is_the_one_the_vault_sends_the_authn_request_to() -> None:
    metadata = _saml(
        ("HTTP-POST", "https://post.example/sso"),
        ("HTTP-Redirect", "https://redirect.example/sso"),
        ("HTTP-Redirect", "https://second.example/sso"),
    )
    provider = _provider("saml", "https://idp.example/saml", metadata)
    key_pem, _ = new_saml_key("vault")
    url = authn_request_url(
        provider,
        vault_issuer="https://vault.example",
        key=SamlKey(key_pem),
        request_id="id-1",
        relay_state="s",
        level="high",
    )
    assert url.startswith("https://redirect.example/sso?")
    assert redirect_origins(provider) == {"https://redirect.example"}
