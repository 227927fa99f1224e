"""The SAML response rules the vault enforces itself, beside pysaml2's (pure: no I/O, time injected).

pysaml2 verifies the XML signatures (through ``xmlsec1``, keys from the IdP's metadata only) and much
of the profile, but leaves gaps a relying party must close: it accepts a response without
``Destination``, an assertion without ``Conditions`` or without an ``AudienceRestriction``, and it
only keeps the first of several assertions it processed. So every response passes three gates:

1. :func:`decode_response` — size before decoding, strict base64, no ``<!DOCTYPE`` / entity at all.
2. :func:`check_structure` — one ``Response`` with exactly one ``Assertion``, a direct child, signed
   by an enveloped signature that references its own ``ID``; IDs unique in the whole document; no
   signature anywhere else; no ``EncryptedAssertion`` left (an encrypted assertion is first
   decrypted by :func:`vault.identity.saml_encryption.plain_response` and then passes these same
   gates as a plain one). This pins the assertion ``xmlsec1`` verified to the one that is read
   (signature wrapping).
3. :func:`check_assertion` — after pysaml2: the assertion read is the one pysaml2 verified (pysaml2
   7.5.5 returns a response *without* checking the assertion's signature when the response's
   IssueInstant is a day off or its Destination is wrong), and Destination, InResponseTo, Issuer,
   IssueInstant, audience, validity window and bearer confirmation, each required, not merely
   checked when present.

Every refusal is ``IdentityError("invalid_assertion")`` (a non-success status: ``provider_error``).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_xml  # type: ignore[import-untyped]
from defusedxml import DefusedXmlException

from vault.identity.model import IdentityError

if TYPE_CHECKING:
    from collections.abc import Mapping

#: Largest ``SAMLResponse`` accepted, in base64 characters (checked before decoding).
MAX_RESPONSE_CHARS = 256 * 1024
#: Clock skew allowed between the IdP and the vault.
SKEW = timedelta(seconds=60)

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"

EIDAS_NATURAL = "http://eidas.europa.eu/attributes/naturalperson/"
#: eIDAS natural-person attributes (eIDAS SAML Attribute Profile).
EIDAS_GIVEN_NAME = EIDAS_NATURAL + "CurrentGivenName"
EIDAS_FAMILY_NAME = EIDAS_NATURAL + "CurrentFamilyName"
EIDAS_BIRTH_DATE = EIDAS_NATURAL + "DateOfBirth"
EIDAS_BIRTH_PLACE = EIDAS_NATURAL + "PlaceOfBirth"
EIDAS_ADDRESS = EIDAS_NATURAL + "CurrentAddress"
EIDAS_BIRTH_NAME = EIDAS_NATURAL + "BirthName"
#: BundID's attribute names (X.500 / PVP OIDs), as several independent BundID integrations use them.
OID_GIVEN_NAME = "urn:oid:2.5.4.42"
OID_SURNAME = "urn:oid:2.5.4.4"
OID_BIRTH_DATE = "urn:oid:1.2.40.0.10.2.1.1.55"
OID_BIRTH_PLACE = "urn:oid:1.3.6.1.5.5.7.9.2"
OID_BIRTH_NAME = "urn:oid:1.2.40.0.10.2.1.1.225566"
OID_POSTAL_ADDRESS = "urn:oid:2.5.4.16"  # street and number; the parts below complete the address
OID_POSTAL_CODE = "urn:oid:2.5.4.17"
OID_LOCALITY = "urn:oid:2.5.4.7"
OID_COUNTRY = "urn:oid:1.2.40.0.10.2.1.1.225599"
BUNDID_ADDRESS_PARTS = (OID_POSTAL_CODE, OID_LOCALITY, OID_COUNTRY)

#: SAML attribute -> vault attribute, used when a SAML provider is registered without a claims map.
DEFAULT_SAML_ATTRIBUTES: dict[str, str] = {
    EIDAS_GIVEN_NAME: "given_name",
    EIDAS_FAMILY_NAME: "family_name",
    EIDAS_BIRTH_DATE: "birth_date",
    EIDAS_BIRTH_PLACE: "birth_place",
    EIDAS_ADDRESS: "address",
    EIDAS_BIRTH_NAME: "birth_name",
    OID_GIVEN_NAME: "given_name",
    OID_SURNAME: "family_name",
    OID_BIRTH_DATE: "birth_date",
    OID_BIRTH_PLACE: "birth_place",
    OID_BIRTH_NAME: "birth_name",
    OID_POSTAL_ADDRESS: "address",
}

_BASE64 = re.compile(r"^[A-Za-z0-9+/\r\n]*={0,2}\s*$")


def _refuse(detail: str) -> IdentityError:
    return IdentityError("invalid_assertion", detail)


def decode_response(saml_response: str) -> bytes:
    """The XML of an HTTP-POST ``SAMLResponse``, refused when oversized, not base64, or carrying a DTD.

    The size is checked on the encoded text before anything is decoded; a document type declaration
    (``<!DOCTYPE``, ``<!ENTITY``) is refused outright, whatever it declares (XXE, entity expansion).
    """
    if not saml_response or len(saml_response) > MAX_RESPONSE_CHARS:
        raise _refuse("missing or oversized SAMLResponse")
    if not _BASE64.match(saml_response):
        raise _refuse("SAMLResponse is not base64")
    try:
        xml = base64.b64decode(saml_response, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise _refuse("SAMLResponse is not base64") from exc
    refuse_dtd(xml)
    return xml


def refuse_dtd(xml: bytes) -> None:
    """Refuse a document type declaration (``<!DOCTYPE``, ``<!ENTITY``) outright, whatever it declares."""
    upper = xml.upper()
    if b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:
        raise _refuse("document type declarations are not accepted")


def parse_xml(xml: bytes) -> Element:
    """``xml`` parsed by defusedxml (no DTD, entities or external references); refused if malformed."""
    try:
        root: Element = safe_xml.fromstring(xml, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise _refuse("malformed XML") from exc
    return root


def _signature_reference(parent: Element) -> str | None:
    """The one Reference URI of ``parent``'s enveloped signature, ``None`` if unsigned; refuses oddities."""
    signatures = parent.findall(f"{{{DS}}}Signature")
    if not signatures:
        return None
    if len(signatures) > 1:
        raise _refuse("more than one signature on one element")
    references = signatures[0].findall(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
    if len(references) != 1:
        raise _refuse("a signature must have exactly one reference")
    return references[0].get("URI")


def check_structure(xml: bytes) -> str:
    """Refuse a response whose shape allows signature wrapping; returns the one assertion's ID.

    Rules: the root is ``samlp:Response``; exactly one ``saml:Assertion`` in the whole document, a
    direct child of the root, carrying an enveloped signature whose single reference is ``#<its
    ID>``; a response signature, if any, references ``#<response ID>``; no ``ds:Signature``
    anywhere else; every ``ID`` attribute value unique; no ``EncryptedAssertion``. A response whose
    status is not Success is ``provider_error`` (it carries no assertion; trusting its status costs nothing).
    """
    root = parse_xml(xml)
    if root.tag != f"{{{SAMLP}}}Response":
        raise _refuse("not a samlp:Response")
    status = root.find(f"{{{SAMLP}}}Status/{{{SAMLP}}}StatusCode")
    if status is None or status.get("Value") != STATUS_SUCCESS:
        raise IdentityError("provider_error", "the IdP answered a non-success status")
    if any(True for _ in root.iter(f"{{{SAML}}}EncryptedAssertion")):
        raise _refuse("an encrypted assertion was not decrypted")
    ids = [element.get("ID") for element in root.iter() if element.get("ID") is not None]
    if len(ids) != len(set(ids)):
        raise _refuse("duplicate ID attributes")
    assertions = list(root.iter(f"{{{SAML}}}Assertion"))
    if len(assertions) != 1 or assertions[0] not in list(root):
        raise _refuse("exactly one assertion, directly inside the response, is accepted")
    assertion = assertions[0]
    assertion_id = assertion.get("ID") or ""
    if not assertion_id or _signature_reference(assertion) != f"#{assertion_id}":
        raise _refuse("the assertion is not signed by an enveloped signature over itself")
    response_reference = _signature_reference(root)
    if response_reference is not None and response_reference != f"#{root.get('ID')}":
        raise _refuse("the response signature does not cover the response")
    signed_parents = {root, assertion}
    parents = {child: parent for parent in root.iter() for child in parent}
    for signature in root.iter(f"{{{DS}}}Signature"):
        if parents.get(signature) not in signed_parents:
            raise _refuse("a signature outside the response and assertion")
    return assertion_id


@dataclass(frozen=True, slots=True)
class Expected:
    """What the one response to one AuthnRequest must say."""

    idp_entity_id: str
    sp_entity_id: str
    acs_url: str
    request_id: str
    now: datetime
    skew: timedelta = SKEW


@dataclass(frozen=True, slots=True)
class AssertionFacts:
    """What a checked assertion says (attribute values as the strings the IdP sent)."""

    assertion_id: str
    subject: str
    class_ref: str
    not_on_or_after: datetime
    authenticated_at: datetime | None
    attributes: dict[str, list[str]] = field(default_factory=dict)


def parse_instant(value: str | None) -> datetime | None:
    """An ``xs:dateTime`` as an aware datetime (UTC if no zone is given); ``None`` if absent or malformed."""
    if not value:
        return None
    try:
        instant = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def _text(element: Any) -> str:
    return (getattr(element, "text", None) or "").strip()


def _check_window(not_before: str | None, not_on_or_after: str | None, expected: Expected, what: str) -> datetime:
    end = parse_instant(not_on_or_after)
    if end is None:
        raise _refuse(f"{what}: NotOnOrAfter missing or malformed")
    if expected.now >= end + expected.skew:
        raise _refuse(f"{what}: expired")
    if not_before is not None:
        start = parse_instant(not_before)
        if start is None or expected.now < start - expected.skew:
            raise _refuse(f"{what}: not yet valid")
    return end


#: How old a response's IssueInstant may be (the sign-in request itself lives ten minutes).
MAX_RESPONSE_AGE = timedelta(minutes=10)


def _check_envelope(response: Any, verified: Any, assertion_id: str, expected: Expected) -> Any:
    status = response.status
    if status is None or status.status_code is None or status.status_code.value != STATUS_SUCCESS:
        raise IdentityError("provider_error", "the IdP answered a non-success status")
    if response.destination != expected.acs_url:
        raise _refuse("Destination is not this vault's ACS")
    if response.in_response_to != expected.request_id:
        raise _refuse("InResponseTo is not the request sent")
    if response.issuer is not None and _text(response.issuer) != expected.idp_entity_id:
        raise _refuse("the response's Issuer is not the IdP")
    issued = parse_instant(response.issue_instant)
    if issued is None or not expected.now - MAX_RESPONSE_AGE <= issued <= expected.now + expected.skew:
        raise _refuse("IssueInstant missing or out of range")
    if len(response.assertion) != 1 or response.encrypted_assertion:
        raise _refuse("exactly one plain assertion is accepted")
    assertion = verified
    if assertion is None or assertion.id != assertion_id or response.assertion[0].id != assertion_id:
        raise _refuse("the assertion read is not the assertion whose signature was verified")
    if assertion.signature is None:
        raise _refuse("the assertion is not signed")
    if assertion.issuer is None or _text(assertion.issuer) != expected.idp_entity_id:
        raise _refuse("the assertion's Issuer is not the IdP")
    return assertion


def _check_conditions(assertion: Any, expected: Expected) -> datetime:
    conditions = assertion.conditions
    if conditions is None:
        raise _refuse("Conditions missing")
    end = _check_window(conditions.not_before, conditions.not_on_or_after, expected, "Conditions")
    restrictions = conditions.audience_restriction
    if not restrictions:
        raise _refuse("AudienceRestriction missing")
    for restriction in restrictions:
        if expected.sp_entity_id not in {_text(audience) for audience in restriction.audience}:
            raise _refuse("this vault is not in the audience")
    return end


def _check_subject(assertion: Any, expected: Expected) -> str:
    subject = assertion.subject
    subject_id = _text(subject.name_id) if subject is not None else ""
    if not subject_id:
        raise _refuse("NameID missing")
    for confirmation in subject.subject_confirmation:
        data = confirmation.subject_confirmation_data
        if confirmation.method != BEARER or data is None:
            continue
        if data.recipient != expected.acs_url or data.in_response_to != expected.request_id:
            continue
        if data.not_before is not None:
            continue
        _check_window(None, data.not_on_or_after, expected, "SubjectConfirmationData")
        return subject_id
    raise _refuse("no bearer SubjectConfirmation for this ACS and request")


def check_assertion(response: Any, verified: Any, assertion_id: str, expected: Expected) -> AssertionFacts:
    """The facts of ``response`` (a pysaml2 ``samlp.Response``) and its one assertion ``verified``.

    Args:
        response: The parsed response.
        verified: The assertion whose signature pysaml2 verified (``AuthnResponse.assertion``; pysaml2
            sets it only after checking the signature, and skips that check without failing when the
            response's IssueInstant is off by a day or its Destination is wrong: hence this argument).
        assertion_id: The ID :func:`check_structure` found signed: the assertion read must be that one.
        expected: IdP, SP, ACS, request ID and the time to check against.

    Raises:
        IdentityError: ``provider_error`` for a non-success status, ``invalid_assertion`` otherwise.
    """
    assertion = _check_envelope(response, verified, assertion_id, expected)
    end = _check_conditions(assertion, expected)
    subject = _check_subject(assertion, expected)
    if not assertion.authn_statement:
        raise _refuse("AuthnStatement missing")
    statement = assertion.authn_statement[0]
    context = statement.authn_context
    class_ref = _text(context.authn_context_class_ref) if context is not None else ""
    attributes: dict[str, list[str]] = {}
    for attribute_statement in assertion.attribute_statement:
        for attribute in attribute_statement.attribute:
            values = [_text(value) for value in attribute.attribute_value]
            attributes.setdefault(attribute.name, []).extend(v for v in values if v)
    return AssertionFacts(assertion_id, subject, class_ref, end, parse_instant(statement.authn_instant), attributes)


def _eidas_address(value: str) -> dict[str, str] | None:
    """The eIDAS ``CurrentAddress`` (base64 of ``eidas:`` address elements) as an OIDC ``address`` object."""
    try:
        fragment = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    wrapped = b'<a xmlns:eidas="' + EIDAS_NATURAL.rstrip("/").encode() + b'">' + fragment + b"</a>"
    if b"<!" in fragment:
        return None
    try:
        root = safe_xml.fromstring(wrapped, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError):
        return None
    parts = {child.tag.rsplit("}", 1)[-1]: (child.text or "").strip() for child in root}
    street = " ".join(p for p in (parts.get("Thoroughfare"), parts.get("LocatorDesignator")) if p)
    return {
        "street_address": street,
        "postal_code": parts.get("PostCode", ""),
        "locality": parts.get("PostName", ""),
        "country": parts.get("AdminunitFirstline", ""),
    }


def to_claims(attributes: Mapping[str, list[str]], claims_map: Mapping[str, str]) -> dict[str, object]:
    """SAML attribute values -> the OIDC-style values :func:`vault.identity.claims.to_attributes` reads.

    Keys stay the SAML attribute names (``claims_map`` maps them); single values are unwrapped; an
    address becomes an OIDC ``address`` object (from eIDAS ``CurrentAddress``, or BundID's street,
    postal code, locality and country attributes).
    """
    claims: dict[str, object] = {}
    for name, attribute in claims_map.items():
        values = attributes.get(name)
        if not values:
            continue
        if attribute != "address":
            claims[name] = values[0]
        elif name == EIDAS_ADDRESS:
            address = _eidas_address(values[0])
            if address is not None:
                claims[name] = address
        else:
            part = {key: (attributes.get(key) or [""])[0] for key in BUNDID_ADDRESS_PARTS}
            claims[name] = {
                "street_address": values[0],
                "postal_code": part[OID_POSTAL_CODE],
                "locality": part[OID_LOCALITY],
                "country": part[OID_COUNTRY],
            }
    return claims
