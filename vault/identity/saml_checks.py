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
   checked when present; the subject is a persistent NameID for this SP.

Times: every time the IdP sends (IssueInstant of response and assertion, NotBefore, NotOnOrAfter,
AuthnInstant) must be an ``xs:dateTime`` (:func:`parse_instant`); no arithmetic is ever done on an
IdP's time before it is known to lie near the vault's clock (``9999-12-31T23:59:59Z`` or
``0001-01-01T00:00:00Z`` are refused, never an ``OverflowError``). An assertion's IssueInstant lies
within :data:`MAX_RESPONSE_AGE` before now (plus skew), its NotOnOrAfter values at most
:data:`MAX_VALIDITY` (one hour) after that IssueInstant and its NotBefore at most that long before
it; AuthnInstant lies within :data:`MAX_AUTHN_AGE` before now. So a consumed assertion's id is kept
for at most about an hour (:func:`seen_until`, capped at :data:`MAX_SEEN` whatever happens).

Subject: ``NameID`` with Format absent or ``persistent`` (transient, e-mail and any other format are
refused: such a value can change or be reassigned, and it binds an account), ``SPNameQualifier``
absent or this SP's entity id, text of 1 to :data:`MAX_NAME_ID` characters without control or format
characters.

Every refusal is ``IdentityError("invalid_assertion")`` (a non-success status: ``provider_error``).
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
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
NAMEID_PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
#: Longest NameID accepted, in characters (SAML core allows at most 256 for persistent identifiers).
MAX_NAME_ID = 255
#: How old a response's or assertion's IssueInstant may be (the sign-in request itself lives ten minutes).
MAX_RESPONSE_AGE = timedelta(minutes=10)
#: Longest validity accepted: every NotOnOrAfter at most this long after the assertion's IssueInstant.
MAX_VALIDITY = timedelta(hours=1)
#: Longest a consumed assertion's id is kept, whatever the assertion says (never reached after the checks).
MAX_SEEN = timedelta(days=1)
#: How long before now the authentication at the IdP (AuthnInstant) may lie.
MAX_AUTHN_AGE = timedelta(days=1)

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


_DATE_TIME = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,12}))?(Z|[+-]\d{2}:\d{2})?", re.ASCII)


def parse_instant(value: str | None) -> datetime | None:
    """An ``xs:dateTime`` as an aware datetime in UTC (UTC if no zone is given); ``None`` if absent or malformed.

    Only the ``xs:dateTime`` form ``YYYY-MM-DDThh:mm:ss[.fraction][Z|±hh:mm]`` is read (not the other
    forms ``datetime.fromisoformat`` accepts); a time that cannot be brought to UTC (``0001-01-01T00:00:00+05:00``)
    is malformed too. Extreme but representable times (year 1 or 9999) are returned: callers compare
    them, and only do arithmetic on the vault's own clock.
    """
    if not value:
        return None
    match = _DATE_TIME.fullmatch(value.strip())
    if match is None:
        return None
    seconds, fraction, zone = match.groups()
    text = seconds + (f".{fraction[:6]:0<6}" if fraction else "") + ("+00:00" if zone in {None, "Z"} else zone)
    try:
        instant = datetime.fromisoformat(text)
        return instant.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _text(element: Any) -> str:
    return (getattr(element, "text", None) or "").strip()


def _check_issued(value: str | None, expected: Expected, what: str) -> datetime:
    """An IssueInstant, required, within :data:`MAX_RESPONSE_AGE` before now (and ``skew`` after)."""
    issued = parse_instant(value)
    if issued is None or not expected.now - MAX_RESPONSE_AGE <= issued <= expected.now + expected.skew:
        raise _refuse(f"{what}: IssueInstant missing or out of range")
    return issued


def _check_window(
    not_before: str | None, not_on_or_after: str | None, issued: datetime, expected: Expected, what: str
) -> datetime:
    """The NotOnOrAfter of a window that holds now (with skew) and lies within :data:`MAX_VALIDITY` of ``issued``.

    Only the vault's clock and ``issued`` (already checked to be near it) enter any arithmetic: the
    IdP's times are only compared, so none can overflow.
    """
    end = parse_instant(not_on_or_after)
    if end is None:
        raise _refuse(f"{what}: NotOnOrAfter missing or malformed")
    if expected.now - expected.skew >= end:
        raise _refuse(f"{what}: expired")
    if end > issued + MAX_VALIDITY:
        raise _refuse(f"{what}: valid for longer than {MAX_VALIDITY} after IssueInstant")
    if not_before is not None:
        start = parse_instant(not_before)
        if start is None or start < issued - MAX_VALIDITY:
            raise _refuse(f"{what}: NotBefore malformed or more than {MAX_VALIDITY} before IssueInstant")
        if expected.now + expected.skew < start:
            raise _refuse(f"{what}: not yet valid")
    return end


def seen_until(not_on_or_after: datetime, now: datetime, skew: timedelta = SKEW) -> datetime:
    """How long a consumed assertion's id is kept: until it expires (plus skew), at most :data:`MAX_SEEN` from now.

    After :func:`check_assertion` the expiry lies at most about an hour ahead, so the cap never cuts a
    usable assertion short; it only bounds the row (and the arithmetic) if it ever did not.
    """
    return min(not_on_or_after, now + MAX_SEEN - skew) + skew


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
    _check_issued(response.issue_instant, expected, "Response")
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


def _check_conditions(assertion: Any, issued: datetime, expected: Expected) -> datetime:
    conditions = assertion.conditions
    if conditions is None:
        raise _refuse("Conditions missing")
    end = _check_window(conditions.not_before, conditions.not_on_or_after, issued, expected, "Conditions")
    restrictions = conditions.audience_restriction
    if not restrictions:
        raise _refuse("AudienceRestriction missing")
    for restriction in restrictions:
        if expected.sp_entity_id not in {_text(audience) for audience in restriction.audience}:
            raise _refuse("this vault is not in the audience")
    return end


def _check_name_id(name_id: Any, expected: Expected) -> str:
    """The NameID's text, if it is a persistent identifier for this SP (see the module docstring)."""
    subject_id = _text(name_id)
    if not subject_id:
        raise _refuse("NameID missing")
    if name_id.format is not None and name_id.format != NAMEID_PERSISTENT:
        raise _refuse("NameID Format is not persistent")
    if name_id.sp_name_qualifier is not None and name_id.sp_name_qualifier != expected.sp_entity_id:
        raise _refuse("NameID SPNameQualifier is not this SP")
    if len(subject_id) > MAX_NAME_ID:
        raise _refuse("NameID too long")
    if any(unicodedata.category(char) in {"Cc", "Cf"} for char in subject_id):
        raise _refuse("NameID has control characters")
    return subject_id


def _check_subject(assertion: Any, issued: datetime, expected: Expected) -> str:
    subject = assertion.subject
    if subject is None or subject.name_id is None:
        raise _refuse("NameID missing")
    subject_id = _check_name_id(subject.name_id, expected)
    for confirmation in subject.subject_confirmation:
        data = confirmation.subject_confirmation_data
        if confirmation.method != BEARER or data is None:
            continue
        if data.recipient != expected.acs_url or data.in_response_to != expected.request_id:
            continue
        if data.not_before is not None:
            continue
        _check_window(None, data.not_on_or_after, issued, expected, "SubjectConfirmationData")
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
    issued = _check_issued(assertion.issue_instant, expected, "Assertion")
    end = _check_conditions(assertion, issued, expected)
    subject = _check_subject(assertion, issued, expected)
    if not assertion.authn_statement:
        raise _refuse("AuthnStatement missing")
    statement = assertion.authn_statement[0]
    authenticated_at = parse_instant(statement.authn_instant)
    earliest, latest = expected.now - MAX_AUTHN_AGE, expected.now + expected.skew
    if authenticated_at is None or not earliest <= authenticated_at <= latest:
        raise _refuse("AuthnInstant missing or out of range")
    context = statement.authn_context
    class_ref = _text(context.authn_context_class_ref) if context is not None else ""
    attributes: dict[str, list[str]] = {}
    for attribute_statement in assertion.attribute_statement:
        for attribute in attribute_statement.attribute:
            values = [_text(value) for value in attribute.attribute_value]
            attributes.setdefault(attribute.name, []).extend(v for v in values if v)
    return AssertionFacts(assertion_id, subject, class_ref, end, authenticated_at, attributes)


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
