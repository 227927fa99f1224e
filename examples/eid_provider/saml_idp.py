"""The test provider's SAML IdP mode, in the BundID profile (pysaml2 and ``xmlsec1``).

``GET /saml/metadata`` serves the IdP's metadata (its signing certificate, made at start);
``GET /saml/sso`` takes a signed AuthnRequest (HTTP-Redirect binding; the signature is checked
against the SP's metadata) and shows the personas; ``POST /saml/sso/choose`` answers with a page
that posts a signed Response with a signed assertion to the SP's ACS (a visible "Weiter" button, no
JavaScript). The NameID is a persistent pseudonym, pairwise per SP; AuthnContextClassRef is the
persona's BundID level (``STORK-QAA-Level-3/4``); attributes carry eIDAS natural-person names.
As BundID does, the pages *encrypt* the signed assertion to the SP's encryption certificate from its
metadata (:mod:`examples.eid_provider.saml_encrypt`: RSA-OAEP key transport, AES-256-GCM) unless the
IdP is made with ``encrypt_assertions=False``.

:class:`SamlIdp` also builds responses directly (:meth:`SamlIdp.build_response`, plain unless asked
to encrypt) so tests can take a genuine signed response and tamper with it. Its key and certificate
are written, on first use, to a private temporary directory (0700, key 0600) removed with the object:
pysaml2 signs through ``xmlsec1``, which reads files.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import html
import os
import re
import secrets
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape, quoteattr

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from litestar import MediaType, Request, Response, get, post
from saml2 import (  # type: ignore[import-untyped]
    BINDING_HTTP_POST,
    BINDING_HTTP_REDIRECT,
    samlp,
)
from saml2 import saml as s
from saml2.config import IdPConfig  # type: ignore[import-untyped]
from saml2.s_utils import error_status_factory, success_status_factory  # type: ignore[import-untyped]
from saml2.server import Server  # type: ignore[import-untyped]
from saml2.sigver import pre_signature_part  # type: ignore[import-untyped]
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256  # type: ignore[import-untyped]

from examples.eid_provider.personas import PERSONAS, STORK, Persona, persona
from examples.eid_provider.saml_encrypt import encrypt_assertion_to
from vault.crypto.idp import new_saml_key
from vault.identity import saml_checks as names
from vault.identity import saml_encryption as xenc
from vault.identity.saml import certificate_base64

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
ASSERTION_NODE = "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"
RESPONSE_NODE = "urn:oasis:names:tc:SAML:2.0:protocol:Response"
LIFETIME = timedelta(minutes=5)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>\s*")


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _new_id() -> str:
    return "_" + secrets.token_hex(20)


def eidas_address(address: Mapping[str, str]) -> str:
    """An OIDC-style address as eIDAS ``CurrentAddress``: base64 of ``eidas:`` address elements."""
    street, _, number = address.get("street_address", "").rpartition(" ")
    parts = {
        "LocatorDesignator": number,
        "Thoroughfare": street,
        "PostName": address.get("locality", ""),
        "PostCode": address.get("postal_code", ""),
        "AdminunitFirstline": address.get("country", ""),
    }
    xml = "".join(f"<eidas:{tag}>{escape(value)}</eidas:{tag}>" for tag, value in parts.items() if value)
    return base64.b64encode(xml.encode()).decode()


def persona_attributes(person: Persona) -> dict[str, str]:
    """The persona's attributes under eIDAS natural-person names."""
    attributes = {
        names.EIDAS_GIVEN_NAME: person.given_name,
        names.EIDAS_FAMILY_NAME: person.family_name,
        names.EIDAS_BIRTH_DATE: person.birthdate,
        names.EIDAS_BIRTH_PLACE: person.place_of_birth,
    }
    if person.birth_name:
        attributes[names.EIDAS_BIRTH_NAME] = person.birth_name
    if person.address:
        attributes[names.EIDAS_ADDRESS] = eidas_address(person.address)
    return attributes


@dataclass(frozen=True, slots=True)
class AuthnRequestInfo:
    """A checked AuthnRequest: who asks, where to answer, what level."""

    request_id: str
    sp_entity_id: str
    acs_url: str
    class_refs: tuple[str, ...]


class SamlIdp:
    """The test IdP: keys, SP metadata, request checking and response building."""

    def __init__(self, issuer: str, service_providers: Sequence[str] = (), *, encrypt_assertions: bool = True) -> None:
        self.issuer = issuer.rstrip("/")
        self.encrypt_assertions = encrypt_assertions
        self.entity_id = f"{self.issuer}/saml/metadata"
        self.sso_url = f"{self.issuer}/saml/sso"
        self._sources = list(service_providers)
        self._sp_metadata: list[str] | None = None
        self._server: Server | None = None
        self._pairwise_secret = secrets.token_bytes(32)
        self._key_pem, self.cert_pem = new_saml_key(self.entity_id)
        self._files: tuple[str, str] | None = None

    def _key_files(self) -> tuple[str, str]:
        """Key and certificate as files for ``xmlsec1``, in a private directory removed with this object."""
        if self._files is None:
            directory = tempfile.mkdtemp(prefix="eid-saml-")  # mode 0700
            weakref.finalize(self, shutil.rmtree, directory, True)
            key_file, cert_file = os.path.join(directory, "key.pem"), os.path.join(directory, "cert.pem")
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(self._key_pem)
            Path(cert_file).write_bytes(self.cert_pem)
            self._files = (key_file, cert_file)
        return self._files

    def metadata_xml(self) -> str:
        """The IdP's metadata: signing certificate, persistent NameID, SSO by HTTP-Redirect."""
        return (
            f'<md:EntityDescriptor xmlns:md="{MD}" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" '
            f"entityID={quoteattr(self.entity_id)}>"
            '<md:IDPSSODescriptor WantAuthnRequestsSigned="true" '
            'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
            '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data>'
            f"<ds:X509Certificate>{certificate_base64(self.cert_pem)}</ds:X509Certificate>"
            "</ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
            f"<md:NameIDFormat>{s.NAMEID_FORMAT_PERSISTENT}</md:NameIDFormat>"
            f'<md:SingleSignOnService Binding="{BINDING_HTTP_REDIRECT}" Location={quoteattr(self.sso_url)}/>'
            "</md:IDPSSODescriptor></md:EntityDescriptor>"
        )

    def add_service_provider(self, metadata_xml: str) -> None:
        """Trust one more SP (its metadata as XML text)."""
        self._sources.append(metadata_xml)
        self._sp_metadata = None
        self._server = None

    async def load_service_providers(self, http: httpx.AsyncClient | None = None) -> None:
        """Read every SP's metadata once: URLs are fetched (lazily, on first use), paths read, XML taken as is."""
        if self._sp_metadata is not None:
            return
        documents: list[str] = []
        for source in self._sources:
            if source.lstrip().startswith("<"):
                documents.append(source)
            elif source.startswith(("http://", "https://")):
                async with httpx.AsyncClient(timeout=10) if http is None else _borrowed(http) as client:
                    answer = await client.get(source)
                    answer.raise_for_status()
                    documents.append(answer.text)
            else:
                documents.append(await asyncio.to_thread(Path(source).read_text, encoding="utf-8"))
        self._sp_metadata = documents
        self._server = None

    def _sp_documents(self) -> list[str]:
        if self._sp_metadata is None:
            if any(src.startswith(("http://", "https://")) for src in self._sources):
                raise RuntimeError("call load_service_providers() first: an SP's metadata is a URL")
            self._sp_metadata = [
                src if src.lstrip().startswith("<") else Path(src).read_text() for src in self._sources
            ]
        return self._sp_metadata

    def server(self) -> Server:
        """The pysaml2 IdP over the current SP metadata."""
        if self._server is None:
            key_file, cert_file = self._key_files()
            config = IdPConfig()
            config.load(
                {
                    "entityid": self.entity_id,
                    "key_file": key_file,
                    "cert_file": cert_file,
                    "metadata": {"inline": self._sp_documents()},
                    "accepted_time_diff": 60,
                    "service": {
                        "idp": {
                            "endpoints": {"single_sign_on_service": [(self.sso_url, BINDING_HTTP_REDIRECT)]},
                            "want_authn_requests_signed": True,
                            "name_id_format": [s.NAMEID_FORMAT_PERSISTENT],
                        }
                    },
                }
            )
            self._server = Server(config=config)
        return self._server

    def check_request(self, params: Mapping[str, str]) -> AuthnRequestInfo:
        """Check an HTTP-Redirect AuthnRequest: the SP is known, its signature verifies, the ACS is registered.

        Raises:
            ValueError: the request is missing, unsigned, badly signed, or names an unknown SP or ACS.
        """
        if not params.get("SAMLRequest") or not params.get("Signature") or not params.get("SigAlg"):
            raise ValueError("a signed AuthnRequest (SAMLRequest, SigAlg, Signature) is required")
        server = self.server()
        try:
            parsed = server.parse_authn_request(
                params["SAMLRequest"],
                BINDING_HTTP_REDIRECT,
                relay_state=params.get("RelayState"),
                sigalg=params["SigAlg"],
                signature=params["Signature"],
            )
        except Exception as exc:  # pysaml2 raises many kinds for a bad request
            raise ValueError(f"AuthnRequest refused: {type(exc).__name__}") from exc
        if parsed is None:
            raise ValueError("AuthnRequest refused")
        request = parsed.message
        sp = (request.issuer.text or "").strip() if request.issuer is not None else ""
        known = [endpoint["location"] for endpoint in server.metadata.assertion_consumer_service(sp, BINDING_HTTP_POST)]
        acs = request.assertion_consumer_service_url or (known[0] if known else "")
        if acs not in known:
            raise ValueError("the ACS is not in the SP's metadata")
        context = request.requested_authn_context
        refs = tuple(ref.text for ref in context.authn_context_class_ref) if context is not None else ()
        return AuthnRequestInfo(request.id, sp, acs, refs)

    def subject_for(self, sp_entity_id: str, person: Persona) -> str:
        """The persona's persistent pseudonym at this SP (pairwise: differs per SP)."""
        mac = hmac.new(self._pairwise_secret, f"{sp_entity_id}\n{person.key}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def build_response(
        self,
        sp_entity_id: str,
        in_response_to: str,
        persona_key: str,
        *,
        acs_url: str | None = None,
        now: datetime | None = None,
        audience: str | None = None,
        destination: str | None = None,
        issuer: str | None = None,
        class_ref: str | None = None,
        sign_response: bool = True,
        sign_assertion: bool = True,
        encrypt_assertion: bool = False,
        key_transport: str = xenc.RSA_OAEP_MGF1P,
        content_encryption: str = xenc.AES256_GCM,
        edit_assertion: Callable[[Any], None] | None = None,
    ) -> str:
        """A Response (base64) for ``persona_key`` to ``in_response_to``, valid five minutes from ``now``.

        Defaults are what a correct IdP sends; each keyword changes one field for attack tests, and the
        result is still signed with this IdP's key (unless a ``sign_*`` flag is false). ``edit_assertion``
        may change the pysaml2 ``saml.Assertion`` (times, NameID, ...) before it is signed. With
        ``encrypt_assertion`` the (signed) assertion is encrypted to the SP's encryption certificate
        from its metadata, with the algorithms named (BundID's pages always encrypt).
        """
        person = persona(persona_key)
        if person is None:
            raise ValueError(f"unknown persona {persona_key!r}")
        now = now or datetime.now(UTC)
        acs = acs_url or self._acs(sp_entity_id)
        issuer = issuer or self.entity_id
        assertion = self._assertion(
            person, sp_entity_id, in_response_to, acs, now, audience or sp_entity_id, issuer, class_ref
        )
        if edit_assertion is not None:
            edit_assertion(assertion)
        response = samlp.Response(
            id=_new_id(),
            in_response_to=in_response_to,
            version="2.0",
            issue_instant=_instant(now),
            destination=destination or acs,
            issuer=s.Issuer(text=issuer, format=s.NAMEID_FORMAT_ENTITY),
            status=success_status_factory(),
            assertion=None if encrypt_assertion else assertion,
        )
        if not encrypt_assertion:
            return self._sign(response, sign_response=sign_response, sign_assertion=sign_assertion)
        encrypted = encrypt_assertion_to(
            self._signed_assertion(assertion, sign=sign_assertion),
            self.sp_encryption_cert(sp_entity_id),
            key_transport=key_transport,
            content=content_encryption,
        )
        return self._sign(response, sign_response=sign_response, sign_assertion=False, encrypted=encrypted)

    def sp_encryption_cert(self, sp_entity_id: str) -> bytes:
        """The SP's encryption certificate (PEM) from its metadata (a key descriptor for encryption or any use)."""
        certs = self.server().metadata.certs(sp_entity_id, "spsso", "encryption")
        if not certs:
            raise ValueError(f"no encryption certificate for {sp_entity_id!r}")
        der = base64.b64decode("".join(certs[0][1].split()))
        return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)

    def _signed_assertion(self, assertion: Any, *, sign: bool) -> bytes:
        """The assertion as a document of its own (signed unless ``sign`` is false), without XML declaration."""
        sec = self.server().sec
        xml = str(assertion)
        if sign:
            assertion.signature = pre_signature_part(
                assertion.id, sec.my_cert, 1, digest_alg=DIGEST_SHA256, sign_alg=SIG_RSA_SHA256
            )
            xml = sec.sign_statement(str(assertion), ASSERTION_NODE, node_id=assertion.id)
        text = xml.decode() if isinstance(xml, bytes) else xml
        return _XML_DECLARATION.sub("", text, count=1).encode()

    def build_failure(self, sp_entity_id: str, in_response_to: str, *, acs_url: str | None = None) -> str:
        """A signed Response with status Responder/AuthnFailed (the citizen pressed "Abbrechen")."""
        acs = acs_url or self._acs(sp_entity_id)
        response = samlp.Response(
            id=_new_id(),
            in_response_to=in_response_to,
            version="2.0",
            issue_instant=_instant(datetime.now(UTC)),
            destination=acs,
            issuer=s.Issuer(text=self.entity_id, format=s.NAMEID_FORMAT_ENTITY),
            status=error_status_factory((samlp.STATUS_AUTHN_FAILED, "Abgebrochen")),
        )
        return self._sign(response, sign_response=True, sign_assertion=False)

    def _acs(self, sp_entity_id: str) -> str:
        endpoints = self.server().metadata.assertion_consumer_service(sp_entity_id, BINDING_HTTP_POST)
        if not endpoints:
            raise ValueError(f"no HTTP-POST ACS for {sp_entity_id!r}")
        return str(endpoints[0]["location"])

    def _assertion(
        self,
        person: Persona,
        sp_entity_id: str,
        in_response_to: str,
        acs: str,
        now: datetime,
        audience: str,
        issuer: str,
        class_ref: str | None,
    ) -> Any:
        until = _instant(now + LIFETIME)
        attributes = [
            s.Attribute(
                name=name,
                name_format=s.NAME_FORMAT_URI,
                friendly_name=name.rsplit("/", 1)[-1],
                attribute_value=[s.AttributeValue(text=value)],
            )
            for name, value in persona_attributes(person).items()
        ]
        return s.Assertion(
            id=_new_id(),
            version="2.0",
            issue_instant=_instant(now),
            issuer=s.Issuer(text=issuer, format=s.NAMEID_FORMAT_ENTITY),
            subject=s.Subject(
                name_id=s.NameID(
                    format=s.NAMEID_FORMAT_PERSISTENT,
                    sp_name_qualifier=sp_entity_id,
                    text=self.subject_for(sp_entity_id, person),
                ),
                subject_confirmation=[
                    s.SubjectConfirmation(
                        method=s.SCM_BEARER,
                        subject_confirmation_data=s.SubjectConfirmationData(
                            recipient=acs, in_response_to=in_response_to, not_on_or_after=until
                        ),
                    )
                ],
            ),
            conditions=s.Conditions(
                not_before=_instant(now - timedelta(seconds=5)),
                not_on_or_after=until,
                audience_restriction=[s.AudienceRestriction(audience=[s.Audience(text=audience)])],
            ),
            authn_statement=[
                s.AuthnStatement(
                    authn_instant=_instant(now),
                    session_index=_new_id(),
                    authn_context=s.AuthnContext(
                        authn_context_class_ref=s.AuthnContextClassRef(text=class_ref or STORK[person.level])
                    ),
                )
            ],
            attribute_statement=[s.AttributeStatement(attribute=attributes)],
        )

    def _sign(self, response: Any, *, sign_response: bool, sign_assertion: bool, encrypted: str = "") -> str:
        sec = self.server().sec
        if sign_assertion and response.assertion:
            response.assertion.signature = pre_signature_part(
                response.assertion.id, sec.my_cert, 1, digest_alg=DIGEST_SHA256, sign_alg=SIG_RSA_SHA256
            )
        if sign_response:
            response.signature = pre_signature_part(
                response.id, sec.my_cert, 2, digest_alg=DIGEST_SHA256, sign_alg=SIG_RSA_SHA256
            )
        xml = str(response)
        if encrypted:  # the last child of the Response, after Status
            end = xml.rindex("</")
            xml = xml[:end] + encrypted + xml[end:]
        if sign_assertion and response.assertion:
            xml = sec.sign_statement(xml, ASSERTION_NODE, node_id=response.assertion.id)
        if sign_response:
            xml = sec.sign_statement(xml, RESPONSE_NODE, node_id=response.id)
        return base64.b64encode(xml.encode() if isinstance(xml, str) else xml).decode()


class _borrowed:
    """Use a caller's ``httpx.AsyncClient`` in ``async with`` without closing it."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def __aenter__(self) -> httpx.AsyncClient:
        return self.client

    async def __aexit__(self, *exc: object) -> None:
        return None


_PAGE = """<!doctype html>
<html lang="de"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>{title}</h1>{body}</main></body></html>"""


def _persona_page(params: Mapping[str, str]) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(params[name])}">'
        for name in ("SAMLRequest", "RelayState", "SigAlg", "Signature")
        if name in params
    )
    buttons = "".join(
        f'<li><button type="submit" name="persona" value="{p.key}">{html.escape(p.given_name)} '
        f"{html.escape(p.family_name)} (Vertrauensniveau {'hoch' if p.level == 'high' else 'substanziell'})"
        "</button></li>"
        for p in PERSONAS
    )
    body = (
        "<p>Test-Identitätsanbieter (SAML, BundID-Profil). Als wen möchten Sie sich ausweisen?</p>"
        f'<form method="post" action="sso/choose">{hidden}<ul>{buttons}</ul>'
        '<button type="submit" name="persona" value="">Abbrechen</button></form>'
    )
    return _PAGE.format(title="Mit Online-Ausweis anmelden", body=body)


def _post_page(acs: str, saml_response: str, relay_state: str | None) -> str:
    relay = f'<input type="hidden" name="RelayState" value="{html.escape(relay_state)}">' if relay_state else ""
    body = (
        f'<form method="post" action="{html.escape(acs)}">'
        f'<input type="hidden" name="SAMLResponse" value="{saml_response}">{relay}'
        "<p>Ihre Angaben werden an den Dienst übermittelt.</p>"
        '<button type="submit">Weiter</button></form>'
    )
    return _PAGE.format(title="Weiter zum Dienst", body=body)


def _html(content: str, status_code: int = 200) -> Response[str]:
    return Response(
        content,
        status_code=status_code,
        media_type=MediaType.HTML,
        headers={"Cache-Control": "no-store", "Content-Security-Policy": "default-src 'none'; form-action *"},
    )


def saml_handlers(issuer: str, service_providers: Sequence[str], *, encrypt_assertions: bool = True) -> list[Any]:
    """Route handlers of the SAML IdP mode at ``issuer`` for the given SP metadata (URLs, paths or XML).

    The assertions they send are encrypted to each SP's encryption certificate, as BundID's are,
    unless ``encrypt_assertions`` is false.
    """
    return handlers_for(SamlIdp(issuer, service_providers, encrypt_assertions=encrypt_assertions))


def handlers_for(idp: SamlIdp) -> list[Any]:
    """Route handlers serving ``idp`` (tests keep the object to build responses directly too)."""

    @get("/saml/metadata", sync_to_thread=False)
    def saml_metadata() -> Response[str]:
        return Response(idp.metadata_xml(), media_type="application/samlmetadata+xml")

    @get("/saml/sso")
    async def saml_sso(request: Request[Any, Any, Any]) -> Response[str]:
        params = dict(request.query_params)
        await idp.load_service_providers()
        try:
            idp.check_request(params)
        except ValueError as exc:
            return _html(_PAGE.format(title="Anfrage abgelehnt", body=f"<p>{html.escape(str(exc))}</p>"), 400)
        return _html(_persona_page(params))

    @post("/saml/sso/choose", status_code=200)
    async def saml_choose(request: Request[Any, Any, Any]) -> Response[str]:
        form = await request.form()
        params = {key: str(form[key]) for key in ("SAMLRequest", "RelayState", "SigAlg", "Signature") if key in form}
        await idp.load_service_providers()
        try:
            info = idp.check_request(params)
        except ValueError as exc:
            return _html(_PAGE.format(title="Anfrage abgelehnt", body=f"<p>{html.escape(str(exc))}</p>"), 400)
        choice = str(form.get("persona") or "")
        if persona(choice) is None:
            answer = idp.build_failure(info.sp_entity_id, info.request_id, acs_url=info.acs_url)
        else:
            answer = idp.build_response(
                info.sp_entity_id,
                info.request_id,
                choice,
                acs_url=info.acs_url,
                encrypt_assertion=idp.encrypt_assertions,
            )
        return _html(_post_page(info.acs_url, answer, params.get("RelayState")))

    return [saml_metadata, saml_sso, saml_choose]
