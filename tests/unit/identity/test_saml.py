"""SAML rules without a database: request building, the XML gates, the assertion checks, attribute mapping.

Responses come from the test IdP (:class:`examples.eid_provider.saml_idp.SamlIdp`), signed for real by
``xmlsec1``; attack cases tamper with them. Each test names the rule it tries to break.
"""

from __future__ import annotations

import base64
import re
import subprocess
import zlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit
from xml.etree import ElementTree as ET

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from defusedxml import EntitiesForbidden  # type: ignore[import-untyped]
from saml2 import samlp  # type: ignore[import-untyped]

from examples.eid_provider.personas import STORK, persona
from examples.eid_provider.saml_encrypt import AES192_GCM, RSA_1_5, encrypt_assertion_to
from examples.eid_provider.saml_idp import SamlIdp, eidas_address
from vault.crypto.idp import SamlKey, new_saml_key
from vault.identity import saml, saml_checks
from vault.identity import saml_encryption as xenc
from vault.identity.model import IdentityError
from vault.identity.providers import ProviderConfig, ProviderInvalid

if TYPE_CHECKING:
    from collections.abc import Callable

VAULT = "https://vault.example"
IDP = "http://127.0.0.1:8081"
ACS = saml.acs_url(VAULT)
SP = saml.sp_entity_id(VAULT, "p-1")
NS = {"samlp": saml_checks.SAMLP, "saml": saml_checks.SAML, "ds": saml_checks.DS}
ACR_MAP = {STORK["high"]: "high", STORK["substantial"]: "substantial"}


class Setup:
    def __init__(self) -> None:
        self.idp = SamlIdp(IDP)
        self.key_pem, self.cert_pem = new_saml_key(SP)
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
        setup.provider,
        vault_issuer=VAULT,
        key=SamlKey(setup.key_pem),
        request_id="id-abc",
        relay_state="st",
        level="high",
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
        key=SamlKey(setup.key_pem),
        request_id="id-x",
        relay_state="s",
        level="substantial",
    )
    _, root = request_of(url)
    refs = root.findall("samlp:RequestedAuthnContext/saml:AuthnContextClassRef", NS)
    assert [e.text for e in refs] == ["STORK-QAA-Level-3"]


def test_the_idp_verifies_the_request_signature(setup: Setup) -> None:
    url = saml.authn_request_url(
        setup.provider,
        vault_issuer=VAULT,
        key=SamlKey(setup.key_pem),
        request_id="id-sig",
        relay_state="s",
        level="high",
    )
    params = dict(parse_qsl(urlsplit(url).query))
    info = setup.idp.check_request(params)
    assert (info.request_id, info.sp_entity_id, info.acs_url) == ("id-sig", SP, ACS)
    assert info.class_refs == ("STORK-QAA-Level-4",)
    with pytest.raises(ValueError, match="refused"):
        setup.idp.check_request({**params, "RelayState": "changed"})
    with pytest.raises(ValueError, match="signed"):
        setup.idp.check_request({k: v for k, v in params.items() if k != "Signature"})
    other_key, _ = new_saml_key("other")
    forged = saml.authn_request_url(
        setup.provider, vault_issuer=VAULT, key=SamlKey(other_key), request_id="id-sig", relay_state="s", level="high"
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


def test_two_validly_signed_assertions_are_refused(setup: Setup) -> None:
    """Each assertion verifies on its own; only "exactly one assertion" stops the second from being read."""
    xml = setup.xml().decode()
    other = setup.xml(persona="max").decode()
    start, end = assertion_span(other)
    at = assertion_span(xml)[0]
    tampered = (xml[:at] + other[start:end] + xml[at:]).encode()
    error = refused("invalid_assertion", saml_checks.check_structure, tampered)
    assert "exactly one assertion" in error.detail


def test_an_assertion_not_directly_in_the_response_is_refused(setup: Setup) -> None:
    xml = setup.xml().decode()
    start, end = assertion_span(xml)
    at = xml.index("<ns0:Status>")
    moved = xml[:at] + f"<ns0:Extensions>{xml[start:end]}</ns0:Extensions>" + xml[at:start] + xml[end:]
    error = refused("invalid_assertion", saml_checks.check_structure, moved.encode())
    assert "directly inside" in error.detail


def test_duplicate_ids_are_refused(setup: Setup) -> None:
    xml = setup.xml().decode()
    assertion_id = saml_checks.check_structure(xml.encode())
    at = xml.index("<ns0:Status>")
    tampered = xml[:at] + f'<ns0:Extensions><x:decoy xmlns:x="urn:x" ID="{assertion_id}"/></ns0:Extensions>' + xml[at:]
    error = refused("invalid_assertion", saml_checks.check_structure, tampered.encode())
    assert "duplicate" in error.detail


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
        if ok:
            check_parsed(xml, assertion_id, setup.expected(now=now))
        else:
            refused("invalid_assertion", check_parsed, xml, assertion_id, setup.expected(now=now))


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


def test_response_in_response_to_must_be_the_request(setup: Setup) -> None:
    xml = setup.xml(sign_response=False).decode()
    tampered = re.sub(r'(<ns0:Response [^>]*InResponseTo=")id-req', r"\1id-other", xml).encode()
    assert tampered != xml.encode()
    error = refused(
        "invalid_assertion", check_parsed, tampered, saml_checks.check_structure(tampered), setup.expected()
    )
    assert "InResponseTo" in error.detail


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


# --- times: far off, malformed, too long (attacker review) ------------------------------------------

FIELDS = ("NotBefore", "NotOnOrAfter", "SubjectConfirmationData", "IssueInstant", "AuthnInstant")


def instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def at(**values: str) -> Callable[[Any], None]:
    """An ``edit_assertion`` for the test IdP that sets the named times (before the IdP signs)."""

    def edit(assertion: Any) -> None:
        targets = {
            "NotBefore": (assertion.conditions, "not_before"),
            "NotOnOrAfter": (assertion.conditions, "not_on_or_after"),
            "SubjectConfirmationData": (
                assertion.subject.subject_confirmation[0].subject_confirmation_data,
                "not_on_or_after",
            ),
            "IssueInstant": (assertion, "issue_instant"),
            "AuthnInstant": (assertion.authn_statement[0], "authn_instant"),
        }
        for name, value in values.items():
            setattr(*targets[name], value)

    return edit


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("NotOnOrAfter", "9999-12-31T23:59:59Z"),
        ("NotOnOrAfter", "9999-12-31T23:59:59-14:00"),  # past year 9999 in UTC
        ("NotBefore", "0001-01-01T00:00:00Z"),
        ("NotBefore", "0001-01-01T00:00:00+05:00"),  # before year 1 in UTC
        ("SubjectConfirmationData", "9999-12-31T23:59:59Z"),
        ("SubjectConfirmationData", "20991231T235959Z"),  # ISO 8601 basic form, not xs:dateTime
        ("IssueInstant", "9999-12-31T23:59:59Z"),
        ("IssueInstant", "0001-01-01T00:00:00Z"),
        ("IssueInstant", "soon"),
        ("AuthnInstant", "9999-12-31T23:59:59Z"),
        ("AuthnInstant", "0001-01-01T00:00:00Z"),
        ("AuthnInstant", "2026-W49-3"),
    ],
)
def test_far_off_or_malformed_times_are_refused_not_crashing(setup: Setup, field: str, value: str) -> None:
    """Signed by the IdP; each must be ``invalid_assertion`` (an OverflowError would be a 500)."""
    xml = setup.xml(edit_assertion=at(**{field: value}))
    assert value.encode() in xml
    error = refused("invalid_assertion", check_parsed, xml, saml_checks.check_structure(xml), setup.expected())
    assert field.replace("SubjectConfirmationData", "SubjectConfirmation") in error.detail or (
        field in {"NotBefore", "NotOnOrAfter"} and "Conditions" in error.detail
    )
    refused("invalid_assertion", saml.verify_response, setup.provider, xml, setup.expected())


def test_the_validity_window_is_at_most_an_hour_around_issue_instant(setup: Setup) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    hour, second = saml_checks.MAX_VALIDITY, timedelta(seconds=1)
    for field, value in [
        ("NotOnOrAfter", now + hour + second),
        ("SubjectConfirmationData", now + hour + second),
        ("NotBefore", now - hour - second),
    ]:
        xml = setup.xml(now=now, edit_assertion=at(**{field: instant(value)}))
        error = refused("invalid_assertion", check_parsed, xml, saml_checks.check_structure(xml), setup.expected())
        assert "IssueInstant" in error.detail
    longest = at(
        NotBefore=instant(now - hour), NotOnOrAfter=instant(now + hour), SubjectConfirmationData=instant(now + hour)
    )
    xml = setup.xml(now=now, edit_assertion=longest)
    facts = saml.verify_response(setup.provider, xml, setup.expected(now=now))
    assert facts.not_on_or_after == now + hour


def test_the_assertion_issue_instant_must_be_recent(setup: Setup) -> None:
    """The response's IssueInstant was checked before; the assertion's is now checked as well."""
    now = datetime.now(UTC).replace(microsecond=0)
    for issued in (now - saml_checks.MAX_RESPONSE_AGE - timedelta(seconds=1), now + timedelta(seconds=61)):
        xml = setup.xml(now=now, edit_assertion=at(IssueInstant=instant(issued)))
        error = refused(
            "invalid_assertion", check_parsed, xml, saml_checks.check_structure(xml), setup.expected(now=now)
        )
        assert "Assertion: IssueInstant" in error.detail


def test_authn_instant_must_be_within_a_day_and_not_ahead(setup: Setup) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    for when, ok in [
        (now - timedelta(hours=23), True),
        (now - saml_checks.MAX_AUTHN_AGE - timedelta(seconds=1), False),
        (now + timedelta(seconds=61), False),
    ]:
        xml = setup.xml(now=now, edit_assertion=at(AuthnInstant=instant(when)))
        check = (check_parsed, xml, saml_checks.check_structure(xml), setup.expected(now=now))
        if ok:
            assert check_parsed(*check[1:]).authenticated_at == when
        else:
            assert "AuthnInstant" in refused("invalid_assertion", *check).detail


@pytest.mark.parametrize(
    "value",
    [
        "2026-12-02",
        "20261202T152353Z",
        "2026-W49-3T10:00:00Z",
        "2026-12-02T15:23",
        "2026-12-02 15:23:53Z",
        "2026-12-02T15:23:53+0500",
        "2026-02-30T00:00:00Z",
        "2026-12-02T15:23:53Z trailing",
        "0001-01-01T00:00:00+00:01",
        "9999-12-31T23:59:59-00:01",
        "\uff12\uff10\uff12\uff16-12-02T15:23:53Z",  # fullwidth digits
        "",
        None,
    ],
)
def test_parse_instant_reads_only_xs_date_time(value: str | None) -> None:
    assert saml_checks.parse_instant(value) is None


def test_parse_instant_normalises_to_utc() -> None:
    expected = datetime(2026, 12, 2, 15, 23, 53, tzinfo=UTC)
    for value in (
        "2026-12-02T15:23:53Z",
        "2026-12-02T16:23:53+01:00",
        "2026-12-02T15:23:53",
        " 2026-12-02T15:23:53Z\n",
    ):
        assert saml_checks.parse_instant(value) == expected
    precise = saml_checks.parse_instant("2026-12-02T15:23:53.1234567Z")
    assert precise == expected + timedelta(microseconds=123456)
    assert precise is not None
    assert precise.utcoffset() == timedelta(0)
    assert saml_checks.parse_instant("9999-12-31T23:59:59Z") == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


def test_a_seen_assertion_is_kept_until_it_expires_but_never_past_a_day() -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    assert saml_checks.seen_until(now + timedelta(minutes=5), now) == now + timedelta(minutes=5) + saml_checks.SKEW
    far = datetime.max.replace(tzinfo=UTC)
    assert saml_checks.seen_until(far, now) == now + saml_checks.MAX_SEEN
    assert saml_checks.seen_until(far, datetime.max.replace(tzinfo=UTC) - timedelta(days=2)) < far


# --- the NameID (attacker review) --------------------------------------------------------------------

TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"


def name_id(**values: Any) -> Callable[[Any], None]:
    def edit(assertion: Any) -> None:
        for name, value in values.items():
            setattr(assertion.subject.name_id, name, value)

    return edit


def test_the_test_idp_sends_persistent_name_ids_for_this_sp(setup: Setup) -> None:
    element = ET.fromstring(setup.xml()).find("saml:Assertion/saml:Subject/saml:NameID", NS)
    assert element is not None
    assert element.get("Format") == saml_checks.NAMEID_PERSISTENT
    assert element.get("SPNameQualifier") == SP


@pytest.mark.parametrize(
    ("values", "why"),
    [
        ({"format": TRANSIENT}, "Format"),
        ({"format": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"}, "Format"),
        ({"format": "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"}, "Format"),
        ({"format": saml_checks.NAMEID_PERSISTENT + " "}, "Format"),
        ({"sp_name_qualifier": "https://other-sp.example/metadata"}, "SPNameQualifier"),
        ({"sp_name_qualifier": ""}, "SPNameQualifier"),
        ({"text": "x" * 256}, "too long"),
        ({"text": "abc\x7fdef"}, "control"),
        ({"text": "abc\tdef"}, "control"),
        ({"text": "abc\u202edef"}, "control"),  # right-to-left override
        ({"text": "abc\u200bdef"}, "control"),  # zero-width space
        ({"text": " \n "}, "missing"),
    ],
)
def test_only_a_persistent_name_id_for_this_sp_binds(setup: Setup, values: dict[str, str], why: str) -> None:
    xml = setup.xml(edit_assertion=name_id(**values))
    error = refused("invalid_assertion", check_parsed, xml, saml_checks.check_structure(xml), setup.expected())
    assert why in error.detail
    refused("invalid_assertion", saml.verify_response, setup.provider, xml, setup.expected())


def test_a_name_id_without_format_or_qualifier_and_of_255_characters_binds(setup: Setup) -> None:
    subject = "Ä" + "x" * 254
    xml = setup.xml(edit_assertion=name_id(format=None, sp_name_qualifier=None, text=subject))
    assert b"Format=" not in xml.split(b"<ns1:NameID", 1)[1].split(b">", 1)[0]
    assert saml.verify_response(setup.provider, xml, setup.expected()).subject == subject


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


# --- encrypted assertions (BundID) ---------------------------------------------------------------------

ENCRYPTED = re.compile(rb"<saml:EncryptedAssertion .*?</saml:EncryptedAssertion>", re.S)
KEY_TRANSPORTS = [xenc.RSA_OAEP_MGF1P, xenc.RSA_OAEP]
CONTENTS = [xenc.AES128_GCM, xenc.AES256_GCM, xenc.AES128_CBC, xenc.AES256_CBC]


def encrypted(setup: Setup, **kwargs: Any) -> bytes:
    return setup.xml(encrypt_assertion=True, **kwargs)


def verify(setup: Setup, xml: bytes, key_pem: bytes | None = None) -> saml_checks.AssertionFacts:
    return saml.verify_response(setup.provider, xml, setup.expected(), key=SamlKey(key_pem or setup.key_pem))


def sp_key(setup: Setup) -> SamlKey:
    return SamlKey(setup.key_pem)


def plaintext_of(setup: Setup, xml: bytes) -> bytes:
    """The genuine (signed) assertion inside an encrypted response, as the IdP encrypted it."""
    element = ET.fromstring(xml).find("saml:EncryptedAssertion", NS)
    assert element is not None
    return xenc.decrypt_assertion(element, sp_key(setup))


def with_encrypted(xml: bytes, encrypted_assertion: str) -> bytes:
    """``xml`` with its EncryptedAssertion replaced (the response signature then no longer matches: dropped anyway)."""
    assert len(ENCRYPTED.findall(xml)) == 1
    return ENCRYPTED.sub(lambda _: encrypted_assertion.encode(), xml)


@pytest.mark.parametrize("key_transport", KEY_TRANSPORTS)
@pytest.mark.parametrize("content", CONTENTS)
def test_an_encrypted_assertion_passes_every_gate(setup: Setup, key_transport: str, content: str) -> None:
    xml = encrypted(setup, key_transport=key_transport, content_encryption=content)
    assert b"EncryptedAssertion" in xml
    assert b"Mustermann" not in xml  # the attributes travel encrypted
    assert ET.fromstring(xml).find("saml:Assertion", NS) is None
    facts = verify(setup, xml)
    identity = saml.proven_identity(setup.provider, facts)
    assert (identity.level, identity.claims["family_name"]) == ("high", "Mustermann")


def test_the_decrypted_response_is_the_plain_response(setup: Setup) -> None:
    """The assertion's bytes are kept exactly (its signature still verifies); the response signature is dropped."""
    xml = encrypted(setup)
    plain = xenc.plain_response(xml, sp_key(setup))
    assert plaintext_of(setup, xml) in plain
    assert b"EncryptedAssertion" not in plain
    root = ET.fromstring(plain)
    assert root.find("ds:Signature", NS) is None
    assert root.find("saml:Assertion/ds:Signature", NS) is not None
    assert saml_checks.check_structure(plain) == root.find("saml:Assertion", NS).get("ID")  # type: ignore[union-attr]
    plain_xml = setup.xml()
    assert xenc.plain_response(plain_xml, sp_key(setup)) is plain_xml  # nothing encrypted: unchanged


def test_the_word_encryptedassertion_in_a_plain_response_is_no_element(setup: Setup) -> None:
    xml = setup.xml(audience=SP, issuer=None).replace(b">Erika<", b">EncryptedAssertion<")
    assert xenc.plain_response(xml, None) is xml


def test_encrypted_and_unsigned_is_refused(setup: Setup) -> None:
    """Decryption proves nothing about the sender (anyone can encrypt to the SP's public certificate)."""
    xml = encrypted(setup, sign_assertion=False)
    error = refused("invalid_assertion", verify, setup, xml)
    assert "not signed" in error.detail


def test_encrypted_and_signed_by_another_key_is_refused(setup: Setup) -> None:
    impostor = SamlIdp(IDP)  # same entity id, its own signing key, encrypting to the real SP certificate
    impostor.add_service_provider(saml.sp_metadata_xml(SP, ACS, setup.cert_pem))
    xml = base64.b64decode(impostor.build_response(SP, "id-req", "erika", encrypt_assertion=True))
    assert plaintext_of(setup, xml)  # decrypts fine ...
    refused("invalid_assertion", verify, setup, xml)  # ... but the signature is not the IdP's


def test_encrypted_to_another_key_is_refused(setup: Setup) -> None:
    xml = encrypted(setup)
    other_key, _ = new_saml_key("another SP")
    error = refused("invalid_assertion", verify, setup, xml, other_key)
    assert "cannot be decrypted" in error.detail
    error = refused("invalid_assertion", saml.verify_response, setup.provider, xml, setup.expected())
    assert "no SP key" in error.detail


def test_encrypted_and_plain_assertion_together_are_refused(setup: Setup) -> None:
    """Both genuine and signed by the IdP: which one would be read? Neither."""
    found = ENCRYPTED.search(encrypted(setup, persona="max"))
    assert found is not None
    plain = setup.xml(sign_response=False)
    both = plain.replace(b"</ns0:Response>", found.group(0) + b"</ns0:Response>", 1)
    assert both != plain
    error = refused("invalid_assertion", verify, setup, both)
    assert "plain assertion beside" in error.detail


def test_two_encrypted_assertions_are_refused(setup: Setup) -> None:
    xml = encrypted(setup)
    other = ENCRYPTED.search(encrypted(setup, persona="max"))
    assert other is not None
    doubled = xml.replace(b"<saml:EncryptedAssertion ", other.group(0) + b"<saml:EncryptedAssertion ", 1)
    error = refused("invalid_assertion", verify, setup, doubled)
    assert "exactly one encrypted assertion" in error.detail


def test_an_encrypted_assertion_not_directly_in_the_response_is_refused(setup: Setup) -> None:
    xml = encrypted(setup, sign_response=False)
    found = ENCRYPTED.search(xml)
    assert found is not None
    moved = xml.replace(found.group(0), b"").replace(
        b"<ns0:Status>", b"<ns0:Extensions>" + found.group(0) + b"</ns0:Extensions><ns0:Status>", 1
    )
    error = refused("invalid_assertion", verify, setup, moved)
    assert "directly inside" in error.detail


@pytest.mark.parametrize(
    "prolog",
    [
        b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
        b"<!DOCTYPE saml:Assertion>",
        b'<!doctype r SYSTEM "http://attacker.example/x.dtd">',
    ],
)
def test_a_dtd_inside_the_decrypted_assertion_is_refused(setup: Setup, prolog: bytes) -> None:
    """The outer gate cannot see inside the ciphertext: the decrypted text gets the same DTD rule."""
    xml = encrypted(setup)
    inner = prolog + plaintext_of(setup, xml).replace(b">Erika<", b">&x;<" if b"ENTITY" in prolog else b">Erika<")
    tampered = with_encrypted(xml, encrypt_assertion_to(inner, setup.cert_pem))
    assert b"DOCTYPE" not in tampered.upper()  # invisible before decryption
    error = refused("invalid_assertion", verify, setup, tampered)
    assert "document type" in error.detail


def test_decrypted_text_that_is_not_one_assertion_is_refused(setup: Setup) -> None:
    xml = encrypted(setup)
    genuine = plaintext_of(setup, xml)
    for inner in (genuine + genuine, b"<x:Other xmlns:x='urn:x'/>", genuine[:-5]):
        refused("invalid_assertion", verify, setup, with_encrypted(xml, encrypt_assertion_to(inner, setup.cert_pem)))


@pytest.mark.parametrize(
    "build",
    [
        {"key_transport": RSA_1_5},  # PKCS#1 v1.5: Bleichenbacher's oracle
        {"content_encryption": AES192_GCM},  # well formed, not on the list
    ],
)
def test_genuine_encryption_with_an_algorithm_off_the_list_is_refused(setup: Setup, build: dict[str, str]) -> None:
    xml = encrypted(setup, **build)
    error = refused("invalid_assertion", verify, setup, xml)
    assert "not accepted" in error.detail


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (xenc.AES256_GCM, "http://www.w3.org/2001/04/xmlenc#tripledes-cbc"),
        (xenc.AES256_GCM, ""),
        (xenc.RSA_OAEP_MGF1P, "http://www.w3.org/2001/04/xmlenc#kw-aes256"),
        (
            f'Algorithm="{xenc.RSA_OAEP_MGF1P}">',
            f'Algorithm="{xenc.RSA_OAEP_MGF1P}"><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#md5"/>',
        ),
        (
            f'Algorithm="{xenc.RSA_OAEP_MGF1P}">',
            f'Algorithm="{xenc.RSA_OAEP_MGF1P}"><xenc11:MGF xmlns:xenc11="{xenc.XENC11}" '
            f'Algorithm="{xenc.XENC11}mgf1sha256"/>',
        ),  # rsa-oaep-mgf1p fixes MGF1 with SHA-1
    ],
)
def test_an_algorithm_off_the_list_is_refused(setup: Setup, old: str, new: str) -> None:
    xml = encrypted(setup, sign_response=False)  # as the IdP wrote it (xmlsec1 would re-serialize it)
    tampered = xml.replace(old.encode(), new.encode(), 1)
    assert tampered != xml
    error = refused("invalid_assertion", verify, setup, tampered)
    assert "not accepted" in error.detail


def test_tampered_ciphertext_is_refused(setup: Setup) -> None:
    for content in (xenc.AES256_GCM, xenc.AES256_CBC):
        xml = encrypted(setup, content_encryption=content)
        values = re.findall(rb"<xenc:CipherValue>([^<]+)</xenc:CipherValue>", xml)
        blob = bytearray(base64.b64decode(values[-1]))
        blob[40] ^= 1
        tampered = xml.replace(values[-1], base64.b64encode(bytes(blob)), 1)
        refused("invalid_assertion", verify, setup, tampered)


def test_a_cipher_reference_is_refused(setup: Setup) -> None:
    xml = encrypted(setup)
    tampered = re.sub(
        rb"(</ds:KeyInfo><xenc:CipherData>)<xenc:CipherValue>[^<]+</xenc:CipherValue>",
        rb'\1<xenc:CipherReference URI="http://attacker.example/c"/>',
        xml,
    )
    assert tampered != xml
    error = refused("invalid_assertion", verify, setup, tampered)
    assert "CipherValue" in error.detail


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"audience": "https://other.example/sp"}, "audience"),
        ({"destination": "https://attacker.example/acs"}, "Destination"),
        ({"issuer": "https://other-idp.example"}, "Issuer"),
        ({"request_id": "id-someone-elses"}, "InResponseTo"),
        ({"age": timedelta(minutes=7)}, "expired"),  # issued 7 minutes before the test runs, not before collection
    ],
)
def test_encrypted_but_wrong_fields_are_refused(setup: Setup, change: dict[str, Any], why: str) -> None:
    """After decryption the assertion gets every check a plain one gets (pysaml2's or the vault's)."""
    if "age" in change:
        change = {"now": datetime.now(UTC) - change["age"]}
    refused("invalid_assertion", verify, setup, encrypted(setup, **change))
    plain = xenc.plain_response(encrypted(setup, **change), sp_key(setup))
    assert "EncryptedAssertion" not in plain.decode()
    error = refused("invalid_assertion", check_parsed, plain, saml_checks.check_structure(plain), setup.expected())
    assert why in error.detail  # gate 3 alone refuses it too, for the reason named


def test_encrypted_forgery_behind_a_far_off_issue_instant_is_refused(setup: Setup) -> None:
    """The pysaml2 gap (no assertion signature check when IssueInstant is a day off) stays closed."""
    xml = encrypted(setup, persona="max", sign_response=False)
    forged_inner = plaintext_of(setup, xml).replace(b"STORK-QAA-Level-3", b"STORK-QAA-Level-4")
    forged = with_encrypted(xml, encrypt_assertion_to(forged_inner, setup.cert_pem))
    forged = re.sub(rb'(<ns0:Response [^>]*IssueInstant=")[^"]+', rb"\g<1>2030-01-01T00:00:00Z", forged)
    refused("invalid_assertion", verify, setup, forged)


def test_sp_metadata_offers_the_certificate_for_encryption(setup: Setup) -> None:
    """One key for both uses: every provider registered before encryption keeps its sealed secret."""
    root = ET.fromstring(saml.sp_metadata_xml(SP, ACS, setup.cert_pem))
    md = "{urn:oasis:names:tc:SAML:2.0:metadata}"
    keys = {k.get("use"): k for k in root.iter(f"{md}KeyDescriptor")}
    assert set(keys) == {"signing", "encryption"}
    cert = saml.certificate_base64(setup.cert_pem)
    assert keys["encryption"].findtext(".//ds:X509Certificate", namespaces=NS) == cert
    assert keys["signing"].findtext(".//ds:X509Certificate", namespaces=NS) == cert
    methods = [m.get("Algorithm") for m in keys["encryption"].findall(f"{md}EncryptionMethod")]
    assert methods[0] == xenc.AES256_GCM
    assert set(methods) == set(xenc.CONTENT_ENCRYPTION) | set(xenc.KEY_TRANSPORT)
    assert setup.idp.sp_encryption_cert(SP) == setup.cert_pem  # the IdP finds it there


# --- interoperability with xmlsec1 (an independent XML Encryption implementation) ------------------------


def test_xmlsec1_decrypts_what_the_test_idp_encrypts(setup: Setup, tmp_path: Any) -> None:
    """xmlsec1 1.2 has rsa-oaep-mgf1p but not xmlenc11#rsa-oaep, so only the former is cross-checked."""
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(setup.key_pem)
    inner = b'<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a"/>'
    for content in CONTENTS:
        (tmp_path / "enc.xml").write_text(encrypt_assertion_to(inner, setup.cert_pem, content=content))
        out = subprocess.run(
            ["/usr/bin/xmlsec1", "--decrypt", "--privkey-pem", str(key_file), str(tmp_path / "enc.xml")],
            capture_output=True,
            check=True,
        )
        assert inner in out.stdout


TEMPLATE = (
    f'<xenc:EncryptedData xmlns:xenc="{xenc.XENC}" Type="{xenc.ELEMENT_TYPE}">'
    '<xenc:EncryptionMethod Algorithm="{content}"/>'
    f'<ds:KeyInfo xmlns:ds="{saml_checks.DS}"><xenc:EncryptedKey>'
    f'<xenc:EncryptionMethod Algorithm="{xenc.RSA_OAEP_MGF1P}"/>'
    "<xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo>"
    "<xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedData>"
)


@pytest.mark.parametrize("content", CONTENTS)
def test_the_vault_decrypts_what_xmlsec1_encrypts(setup: Setup, tmp_path: Any, content: str) -> None:
    cert_file = tmp_path / "cert.pem"
    cert_file.write_bytes(setup.cert_pem)
    inner = (
        b'<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a">'
        b"<saml:Issuer>x</saml:Issuer></saml:Assertion>"
    )
    (tmp_path / "data.xml").write_bytes(
        b'<saml:EncryptedAssertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">' + inner
        + b"</saml:EncryptedAssertion>"
    )  # fmt: skip
    (tmp_path / "template.xml").write_text(TEMPLATE.replace("{content}", content))
    size = "aes-256" if "256" in content else "aes-128"
    out = subprocess.run(
        [
            "/usr/bin/xmlsec1", "--encrypt", "--pubkey-cert-pem", str(cert_file), "--session-key", size,
            "--xml-data", str(tmp_path / "data.xml"), "--node-name", f"{saml_checks.SAML}:Assertion",
            str(tmp_path / "template.xml"),
        ],
        capture_output=True,
        check=True,
    )  # fmt: skip
    assert inner not in out.stdout
    assert xenc.decrypt_assertion(ET.fromstring(out.stdout), sp_key(setup)) == inner
