"""SAML rules without a database: request building, the XML gates, the assertion checks, attribute mapping.

Responses come from the test IdP (:class:`examples.eid_provider.saml_idp.SamlIdp`), signed for real by
``xmlsec1``; attack cases tamper with them. Each test names the rule it tries to break.
"""

from __future__ import annotations

import base64
import re
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit
from xml.etree import ElementTree as ET

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from defusedxml import EntitiesForbidden
from saml2 import samlp

from examples.eid_provider.personas import STORK, persona
from examples.eid_provider.saml_idp import SamlIdp, eidas_address
from vault.identity import saml, saml_checks
from vault.identity.model import IdentityError
from vault.identity.providers import ProviderConfig, ProviderInvalid

VAULT = "https://vault.example"
IDP = "http://127.0.0.1:8081"
ACS = saml.acs_url(VAULT)
SP = saml.sp_entity_id(VAULT, "p-1")
NS = {"samlp": saml_checks.SAMLP, "saml": saml_checks.SAML, "ds": saml_checks.DS}
ACR_MAP = {STORK["high"]: "high", STORK["substantial"]: "substantial"}


class Setup:
    def __init__(self) -> None:
        self.idp = SamlIdp(IDP)
        self.key_pem, self.cert_pem = saml.new_signing_key(SP)
        self.idp.add_service_provider(saml.sp_metadata_xml(SP, ACS, self.cert_pem))
        self.provider = ProviderConfig(
            id="p-1", name="Test", kind="saml", issuer=self.idp.entity_id, client_id=SP, auth_method="saml",
            acr_map=ACR_MAP, claims_map=saml_checks.DEFAULT_SAML_ATTRIBUTES, metadata_doc=self.idp.metadata_xml(),
            secret_sealed=b"", created_at=datetime.now(UTC), disabled=False,
        )  # fmt: skip

    def expected(self, request_id: str = "id-req", now: datetime | None = None) -> saml_checks.Expected:
        return saml_checks.Expected(self.idp.entity_id, SP, ACS, request_id, now or datetime.now(UTC))

    def xml(self, request_id: str = "id-req", persona: str = "erika", **kwargs: Any) -> bytes:
        return base64.b64decode(self.idp.build_response(SP, request_id, persona, **kwargs))


@pytest.fixture(scope="module")
def setup() -> Setup:
    return Setup()


def b64(xml: bytes) -> str:
    return base64.b64encode(xml).decode()


def refused(code: str, call: Any, *args: Any) -> IdentityError:
    with pytest.raises(IdentityError) as caught:
        call(*args)
    assert caught.value.code == code, caught.value.detail
    return caught.value


# --- the AuthnRequest -------------------------------------------------------------------------------


def request_of(url: str) -> tuple[dict[str, str], ET.Element]:
    params = dict(parse_qsl(urlsplit(url).query))
    xml = zlib.decompress(base64.b64decode(params["SAMLRequest"]), -15)
    return params, ET.fromstring(xml)


def test_authn_request_is_signed_and_asks_for_the_level_at_minimum(setup: Setup) -> None:
    url = saml.authn_request_url(
        setup.provider, vault_issuer=VAULT, key_pem=setup.key_pem, request_id="id-abc", relay_state="st", level="high"
    )
    assert url.startswith(f"{IDP}/saml/sso?")
    params, root = request_of(url)
    assert params["RelayState"] == "st"
    assert params["SigAlg"] == "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    signed = urlencode([(k, params[k]) for k in ("SAMLRequest", "RelayState", "SigAlg")]).encode()
    public = x509.load_pem_x509_certificate(setup.cert_pem).public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(base64.b64decode(params["Signature"]), signed, padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(InvalidSignature):
        public.verify(base64.b64decode(params["Signature"]), signed + b"x", padding.PKCS1v15(), hashes.SHA256())
    assert root.get("ID") == "id-abc"
    assert root.get("AssertionConsumerServiceURL") == ACS
    assert root.findtext("saml:Issuer", namespaces=NS) == SP
    context = root.find("samlp:RequestedAuthnContext", NS)
    assert context is not None
    assert context.get("Comparison") == "minimum"
    assert [e.text for e in context.findall("saml:AuthnContextClassRef", NS)] == ["STORK-QAA-Level-4"]
    requested = root.findall("samlp:Extensions/{http://eidas.europa.eu/saml-extensions}RequestedAttributes/*", NS)
    assert {e.get("Name") for e in requested} >= {saml_checks.EIDAS_GIVEN_NAME, saml_checks.EIDAS_ADDRESS}
    assert {e.get("Name") for e in requested} >= {saml_checks.OID_POSTAL_CODE}  # BundID address parts
    policy = root.find("samlp:NameIDPolicy", NS)
    assert policy is not None
    assert policy.get("Format") == "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"


def test_substantial_asks_for_level_3(setup: Setup) -> None:
    url = saml.authn_request_url(
        setup.provider,
        vault_issuer=VAULT,
        key_pem=setup.key_pem,
        request_id="id-x",
        relay_state="s",
        level="substantial",
    )
    _, root = request_of(url)
    refs = root.findall("samlp:RequestedAuthnContext/saml:AuthnContextClassRef", NS)
    assert [e.text for e in refs] == ["STORK-QAA-Level-3"]


def test_the_idp_verifies_the_request_signature(setup: Setup) -> None:
    url = saml.authn_request_url(
        setup.provider, vault_issuer=VAULT, key_pem=setup.key_pem, request_id="id-sig", relay_state="s", level="high"
    )
    params = dict(parse_qsl(urlsplit(url).query))
    info = setup.idp.check_request(params)
    assert (info.request_id, info.sp_entity_id, info.acs_url) == ("id-sig", SP, ACS)
    assert info.class_refs == ("STORK-QAA-Level-4",)
    with pytest.raises(ValueError, match="refused"):
        setup.idp.check_request({**params, "RelayState": "changed"})
    with pytest.raises(ValueError, match="signed"):
        setup.idp.check_request({k: v for k, v in params.items() if k != "Signature"})
    other_key, _ = saml.new_signing_key("other")
    forged = saml.authn_request_url(
        setup.provider, vault_issuer=VAULT, key_pem=other_key, request_id="id-sig", relay_state="s", level="high"
    )
    with pytest.raises(ValueError, match="refused"):
        setup.idp.check_request(dict(parse_qsl(urlsplit(forged).query)))


# --- gate 1: decoding -------------------------------------------------------------------------------


def test_a_genuine_response_passes_every_gate(setup: Setup) -> None:
    xml = setup.xml()
    assert saml_checks.decode_response(b64(xml)) == xml
    facts = saml.verify_response(setup.provider, xml, setup.expected())
    assert facts.class_ref == STORK["high"]
    identity = saml.proven_identity(setup.provider, facts)
    assert identity.level == "high"
    erika = persona("erika")
    assert erika is not None
    assert identity.subject == setup.idp.subject_for(SP, erika)
    assert identity.claims["family_name"] == "Mustermann"
    assert identity.claims["address"] == {
        "street": "Heidestraße", "house_number": "17", "postal_code": "51147", "city": "Köln", "country": "DE",
    }  # fmt: skip


def test_oversized_response_is_refused_before_decoding() -> None:
    too_big = "A" * (saml_checks.MAX_RESPONSE_CHARS + 4)
    error = refused("invalid_assertion", saml_checks.decode_response, too_big)
    assert "oversized" in error.detail


def test_non_base64_is_refused() -> None:
    refused("invalid_assertion", saml_checks.decode_response, "<samlp:Response/>")


@pytest.mark.parametrize(
    "prolog",
    [
        b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>',  # XXE
        b'<!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>',  # entity expansion
        b"<!DOCTYPE samlp:Response>",  # a bare DTD: defusedxml inside pysaml2 would let this one through
        b'<!doctype r SYSTEM "http://attacker.example/x.dtd">',
    ],
)
def test_any_document_type_declaration_is_refused(setup: Setup, prolog: bytes) -> None:
    xml = setup.xml()
    tampered = xml.replace(b"?>", b"?>" + prolog, 1) if xml.startswith(b"<?xml") else prolog + xml
    error = refused("invalid_assertion", saml_checks.decode_response, b64(tampered))
    assert "document type" in error.detail


def test_pysaml2_parses_with_defusedxml(setup: Setup) -> None:
    """pysaml2's own parser refuses entity declarations (defusedxml) but not a bare DOCTYPE: hence gate 1."""
    xml = setup.xml().decode()
    body = xml.split("?>", 1)[1] if xml.startswith("<?xml") else xml
    with pytest.raises(EntitiesForbidden):
        samlp.response_from_string('<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + body)
    assert samlp.response_from_string("<!DOCTYPE r>" + body) is not None


# --- gate 2: structure (signature wrapping) ----------------------------------------------------------


def assertion_span(xml: str) -> tuple[int, int]:
    start = re.search(r"<ns\d:Assertion[ >]", xml)
    assert start is not None
    end = xml.index("</ns1:Assertion>", start.start()) + len("</ns1:Assertion>")
    return start.start(), end


def evil_copy(assertion: str, *, new_id: str | None = "_evil") -> str:
    """The assertion with its signature removed and the subject changed (an attacker's own)."""
    evil = re.sub(r"<ns2:Signature .*?</ns2:Signature>", "", assertion, flags=re.S)
    evil = re.sub(r'(Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"[^>]*>)[^<]+', r"\1attacker", evil)
    if new_id:
        evil = re.sub(r'ID="[^"]+"', f'ID="{new_id}"', evil, count=1)
    return evil


def test_structure_of_a_genuine_response(setup: Setup) -> None:
    xml = setup.xml()
    root = ET.fromstring(xml)
    assertion = root.find("saml:Assertion", NS)
    assert assertion is not None
    assert saml_checks.check_structure(xml) == assertion.get("ID")


def test_wrapping_second_unsigned_assertion_is_refused(setup: Setup) -> None:
    """XSW: an unsigned assertion added beside the signed one inside the signed response."""
    xml = setup.xml().decode()
    start, end = assertion_span(xml)
    tampered = xml[:start] + evil_copy(xml[start:end]) + xml[start:]
    refused("invalid_assertion", saml_checks.check_structure, tampered.encode())
    refused("invalid_assertion", saml.verify_response, setup.provider, tampered.encode(), setup.expected())


def test_wrapping_signed_assertion_moved_away_is_refused(setup: Setup) -> None:
    """XSW: the signed assertion hidden in an extension, an unsigned one with the same ID put in its place."""
    xml = setup.xml().decode()
    start, end = assertion_span(xml)
    original = xml[start:end]
    status_at = xml.index("<ns0:Status>")
    hidden = f"<ns0:Extensions>{original}</ns0:Extensions>"
    tampered = xml[:status_at] + hidden + xml[status_at:start] + evil_copy(original, new_id=None) + xml[end:]
    refused("invalid_assertion", saml_checks.check_structure, tampered.encode())
    refused("invalid_assertion", saml.verify_response, setup.provider, tampered.encode(), setup.expected())


def test_wrapping_signed_assertion_inside_the_evil_one_is_refused(setup: Setup) -> None:
    """XSW: the signed assertion nested inside the attacker's (unsigned, new ID) assertion."""
    xml = setup.xml().decode()
    start, end = assertion_span(xml)
    original = xml[start:end]
    evil = evil_copy(original)
    evil = evil.replace("</ns1:Assertion>", original + "</ns1:Assertion>", 1)
    tampered = xml[:start] + evil + xml[end:]
    refused("invalid_assertion", saml_checks.check_structure, tampered.encode())


def test_unsigned_assertion_in_a_signed_response_is_refused(setup: Setup) -> None:
    xml = setup.xml(sign_response=True, sign_assertion=False)
    error = refused("invalid_assertion", saml_checks.check_structure, xml)
    assert "not signed" in error.detail
    refused("invalid_assertion", saml.verify_response, setup.provider, xml, setup.expected())


def test_a_signature_outside_response_and_assertion_is_refused(setup: Setup) -> None:
    xml = setup.xml().decode()
    signature = re.search(r"<ns2:Signature .*?</ns2:Signature>", xml, flags=re.S)
    assert signature is not None
    status_at = xml.index("<ns0:Status>")
    tampered = xml[:status_at] + f"<ns0:Extensions>{signature.group(0)}</ns0:Extensions>" + xml[status_at:]
    refused("invalid_assertion", saml_checks.check_structure, tampered.encode())


def test_encrypted_assertions_are_not_accepted(setup: Setup) -> None:
    xml = setup.xml().decode()
    _, end = assertion_span(xml)
    tampered = xml[:end] + '<ns1:EncryptedAssertion xmlns:ns1="urn:oasis:names:tc:SAML:2.0:assertion"/>' + xml[end:]
    error = refused("invalid_assertion", saml_checks.check_structure, tampered.encode())
    assert "encrypted" in error.detail


def test_a_failed_status_is_a_provider_error(setup: Setup) -> None:
    xml = base64.b64decode(setup.idp.build_failure(SP, "id-req"))
    refused("provider_error", saml_checks.check_structure, xml)


# --- gate 3: the assertion, after pysaml2 ------------------------------------------------------------


def parsed(xml: bytes) -> Any:
    return samlp.response_from_string(xml.decode())


def check_parsed(xml: bytes, assertion_id: str, expected: saml_checks.Expected) -> saml_checks.AssertionFacts:
    """Gate 3 alone, as if pysaml2 had verified the one assertion."""
    response = parsed(xml)
    return saml_checks.check_assertion(response, response.assertion[0], assertion_id, expected)


def test_times_allow_sixty_seconds_of_skew(setup: Setup) -> None:
    issued = datetime.now(UTC).replace(microsecond=0)
    xml = setup.xml(now=issued)
    assertion_id = saml_checks.check_structure(xml)
    until = issued + timedelta(minutes=5)
    for now, ok in [
        (until + timedelta(seconds=59), True),
        (until + timedelta(seconds=60), False),
        (issued - timedelta(seconds=59), True),  # NotBefore is issued - 5 s
        (issued - timedelta(seconds=66), False),
    ]:
        check = lambda n=now: check_parsed(xml, assertion_id, setup.expected(now=n))  # noqa: E731
        if ok:
            check()
        else:
            refused("invalid_assertion", check)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"audience": "https://other.example/sp"}, "audience"),
        ({"destination": "https://attacker.example/acs"}, "Destination"),
        ({"issuer": "https://other-idp.example"}, "Issuer"),
    ],
)
def test_signed_but_wrong_fields_are_refused(setup: Setup, change: dict[str, str], why: str) -> None:
    xml = setup.xml(**change)
    assertion_id = saml_checks.check_structure(xml)
    error = refused("invalid_assertion", check_parsed, xml, assertion_id, setup.expected())
    assert why in error.detail


def test_wrong_in_response_to_is_refused(setup: Setup) -> None:
    xml = setup.xml(request_id="id-someone-elses")
    assertion_id = saml_checks.check_structure(xml)
    refused("invalid_assertion", check_parsed, xml, assertion_id, setup.expected("id-req"))
    refused("invalid_assertion", saml.verify_response, setup.provider, xml, setup.expected("id-req"))


def test_subject_confirmation_must_name_this_acs_and_request(setup: Setup) -> None:
    xml = setup.xml().decode()
    for tampered in (
        xml.replace(f'Recipient="{ACS}"', 'Recipient="https://attacker.example/acs"'),
        re.sub(r'(SubjectConfirmationData[^>]*InResponseTo=")id-req', r"\1id-other", xml),
    ):
        assert tampered != xml
        data = tampered.encode()
        assertion_id = saml_checks.check_structure(data)
        refused("invalid_assertion", check_parsed, data, assertion_id, setup.expected())


def test_missing_conditions_or_audience_are_refused(setup: Setup) -> None:
    """pysaml2 accepts an assertion without Conditions or without AudienceRestriction; the vault does not."""
    xml = setup.xml().decode()
    without_audience = re.sub(r"<ns1:AudienceRestriction>.*?</ns1:AudienceRestriction>", "", xml, flags=re.S)
    without_conditions = re.sub(r"<ns1:Conditions .*?</ns1:Conditions>", "", xml, flags=re.S)
    for tampered, why in ((without_audience, "AudienceRestriction"), (without_conditions, "Conditions")):
        assert tampered != xml
        data = tampered.encode()
        assertion_id = saml_checks.check_structure(data)
        error = refused("invalid_assertion", check_parsed, data, assertion_id, setup.expected())
        assert why in error.detail


def test_the_assertion_read_must_be_the_one_checked(setup: Setup) -> None:
    xml = setup.xml()
    refused("invalid_assertion", check_parsed, xml, "_another", setup.expected())


def test_the_assertion_must_be_the_one_pysaml2_verified(setup: Setup) -> None:
    xml = setup.xml()
    assertion_id = saml_checks.check_structure(xml)
    error = refused("invalid_assertion", saml_checks.check_assertion, parsed(xml), None, assertion_id, setup.expected())
    assert "verified" in error.detail


def test_a_response_issued_far_off_is_refused(setup: Setup) -> None:
    """pysaml2 skips the assertion's signature check (without failing) when IssueInstant is a day off."""
    xml = setup.xml(sign_response=False).decode()
    forged = xml.replace(">Erika<", ">Mallory<")
    forged = re.sub(r'(<ns0:Response [^>]*IssueInstant=")[^"]+', r"\g<1>2030-01-01T00:00:00Z", forged)
    assert forged != xml
    error = refused(
        "invalid_assertion",
        check_parsed,
        forged.encode(),
        saml_checks.check_structure(forged.encode()),
        setup.expected(),
    )
    assert "IssueInstant" in error.detail
    refused("invalid_assertion", saml.verify_response, setup.provider, forged.encode(), setup.expected())


def test_signed_by_another_key_is_refused(setup: Setup) -> None:
    impostor = SamlIdp(IDP)  # same entity id, its own key
    impostor.add_service_provider(saml.sp_metadata_xml(SP, ACS, setup.cert_pem))
    xml = base64.b64decode(impostor.build_response(SP, "id-req", "erika"))
    saml_checks.check_structure(xml)  # well formed ...
    refused("invalid_assertion", saml.verify_response, setup.provider, xml, setup.expected())  # ... wrong key


def test_tampered_signed_content_is_refused(setup: Setup) -> None:
    xml = setup.xml().replace(b"Mustermann", b"Musterfrau")
    refused("invalid_assertion", saml.verify_response, setup.provider, xml, setup.expected())


def test_unmapped_class_ref_is_basic(setup: Setup) -> None:
    xml = setup.xml(class_ref="urn:example:unknown")
    facts = saml.verify_response(setup.provider, xml, setup.expected())
    assert saml.proven_identity(setup.provider, facts).level == "basic"
    lower = saml.verify_response(setup.provider, setup.xml(persona="max"), setup.expected())
    assert saml.proven_identity(setup.provider, lower).level == "substantial"


# --- attributes -------------------------------------------------------------------------------------


def test_eidas_address_round_trip() -> None:
    value = eidas_address(
        {"street_address": "Lange Reihe 12", "postal_code": "20099", "locality": "Hamburg", "country": "DE"}
    )
    claims = saml_checks.to_claims({saml_checks.EIDAS_ADDRESS: [value]}, {saml_checks.EIDAS_ADDRESS: "address"})
    assert claims[saml_checks.EIDAS_ADDRESS] == {
        "street_address": "Lange Reihe 12", "postal_code": "20099", "locality": "Hamburg", "country": "DE",
    }  # fmt: skip


def test_eidas_address_with_a_dtd_is_dropped() -> None:
    fragment = b'<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><eidas:PostName>&x;</eidas:PostName>'
    claims = saml_checks.to_claims(
        {saml_checks.EIDAS_ADDRESS: [base64.b64encode(fragment).decode()]}, {saml_checks.EIDAS_ADDRESS: "address"}
    )
    assert claims == {}


def test_bundid_address_parts_are_joined() -> None:
    attributes = {
        saml_checks.OID_POSTAL_ADDRESS: ["Heidestraße 17"],
        saml_checks.OID_POSTAL_CODE: ["51147"],
        saml_checks.OID_LOCALITY: ["Köln"],
        saml_checks.OID_COUNTRY: ["DE"],
        saml_checks.OID_GIVEN_NAME: ["Erika"],
    }
    claims = saml_checks.to_claims(attributes, saml_checks.DEFAULT_SAML_ATTRIBUTES)
    assert claims[saml_checks.OID_GIVEN_NAME] == "Erika"
    assert claims[saml_checks.OID_POSTAL_ADDRESS] == {
        "street_address": "Heidestraße 17", "postal_code": "51147", "locality": "Köln", "country": "DE",
    }  # fmt: skip


# --- metadata -----------------------------------------------------------------------------------------


def test_idp_metadata_is_checked(setup: Setup) -> None:
    good = setup.idp.metadata_xml()
    assert saml.idp_entity_id(good) == setup.idp.entity_id
    no_redirect = good.replace("HTTP-Redirect", "HTTP-POST")
    no_key = re.sub(r"<md:KeyDescriptor.*?</md:KeyDescriptor>", "", good)
    for bad in (
        '<!DOCTYPE x [<!ENTITY e "x">]>' + good,
        no_redirect,
        no_key,
        "not xml",
        saml.sp_metadata_xml(SP, ACS, setup.cert_pem),
    ):
        with pytest.raises(ProviderInvalid) as caught:
            saml.idp_entity_id(bad)
        assert caught.value.field == "metadata"


def test_sp_metadata_names_entity_acs_and_certificate(setup: Setup) -> None:
    root = ET.fromstring(saml.sp_metadata_xml(SP, ACS, setup.cert_pem))
    md = "{urn:oasis:names:tc:SAML:2.0:metadata}"
    assert root.get("entityID") == SP
    descriptor = root.find(f"{md}SPSSODescriptor")
    assert descriptor is not None
    assert descriptor.get("AuthnRequestsSigned") == "true"
    assert descriptor.get("WantAssertionsSigned") == "true"
    acs = descriptor.find(f"{md}AssertionConsumerService")
    assert acs is not None
    assert acs.get("Location") == ACS
    assert saml.certificate_base64(setup.cert_pem) in ET.tostring(root).decode()


def test_pairwise_subjects_differ_per_sp(setup: Setup) -> None:
    erika = persona("erika")
    assert erika is not None
    assert setup.idp.subject_for(SP, erika) != setup.idp.subject_for(SP + "x", erika)
    assert setup.idp.subject_for(SP, erika) == setup.idp.subject_for(SP, erika)
