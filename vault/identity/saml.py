"""The vault as a SAML 2.0 service provider in the BundID profile (pysaml2 and ``xmlsec1``).

One SP per registered IdP: its entity id is its metadata URL
``{vault_issuer}/login/idp/saml/{provider_id}/metadata``; responses arrive at the one ACS
``{vault_issuer}/login/idp/saml/acs`` (HTTP-POST). The SP's RSA key and self-signed certificate are
made at :func:`register_saml` and stored sealed with the provider (PEM key, then PEM certificate);
the key is used only through :class:`vault.crypto.idp.SamlKey`.

The key never touches the disk: pysaml2 only builds the AuthnRequest XML, and the HTTP-Redirect
signature (``SigAlg`` rsa-sha256 over ``SAMLRequest&RelayState&SigAlg``) is computed in memory by
:meth:`~vault.crypto.idp.SamlKey.sign`. The same key is the SP's encryption key (BundID encrypts assertions): the SP
metadata names the certificate for both uses, and an ``EncryptedAssertion`` is decrypted in memory
(:mod:`vault.identity.saml_encryption`, RSA-OAEP and AES only) before the very checks a plain one gets.
One key for both uses keeps every provider registered before encryption working (its sealed secret
holds exactly one key); PKCS#1 v1.5 decryption, the one use that could turn into a signing oracle, is
refused.

What pysaml2 checks and what is checked here besides is listed in :mod:`vault.identity.saml_checks`.
A consumed assertion's id is kept (SHA-256, with the IdP's entity id) until it expires (at most about
an hour: :func:`vault.identity.saml_checks.seen_until`): a second use is ``IdentityError("replayed")``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import secrets
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from xml.sax.saxutils import quoteattr

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT  # type: ignore[import-untyped]
from saml2.client import Saml2Client  # type: ignore[import-untyped]
from saml2.config import SPConfig  # type: ignore[import-untyped]
from saml2.response import StatusError  # type: ignore[import-untyped]
from saml2.s_utils import UnsupportedBinding, deflate_and_base64_encode  # type: ignore[import-untyped]
from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_PERSISTENT, AuthnContextClassRef  # type: ignore[import-untyped]
from saml2.samlp import RequestedAuthnContext  # type: ignore[import-untyped]
from saml2.xmldsig import SIG_RSA_SHA256  # type: ignore[import-untyped]
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from vault.crypto.idp import new_saml_key
from vault.identity import saml_checks, saml_encryption
from vault.identity.claims import to_attributes
from vault.identity.model import IdentityError, ProvenIdentity
from vault.identity.providers import ProviderInvalid
from vault.identity.tables import SeenAssertion

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from vault.crypto.idp import SamlKey
    from vault.identity.model import Purpose, StartedRequest
    from vault.identity.providers import ProviderConfig, Providers
    from vault.identity.requests import IdentityRequests

# pysaml2 logs whole documents and NameIDs (personal data) at debug, info and error level.
logging.getLogger("saml2").setLevel(logging.CRITICAL)

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
#: eIDAS minimum data set: asked for with ``isRequired="true"``.
REQUIRED_ATTRIBUTES = frozenset(
    {saml_checks.EIDAS_GIVEN_NAME, saml_checks.EIDAS_FAMILY_NAME, saml_checks.EIDAS_BIRTH_DATE}
)


def sp_entity_id(vault_issuer: str, provider_id: str) -> str:
    """The vault's SP entity id for one IdP: the URL its metadata is served at."""
    return f"{vault_issuer.rstrip('/')}/login/idp/saml/{provider_id}/metadata"


def acs_url(vault_issuer: str) -> str:
    """The vault's assertion consumer service (HTTP-POST binding)."""
    return f"{vault_issuer.rstrip('/')}/login/idp/saml/acs"


def certificate_base64(cert_pem: bytes) -> str:
    """The DER certificate in base64, as ``ds:X509Certificate`` carries it."""
    return base64.b64encode(x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)).decode()


def sp_metadata_xml(entity_id: str, acs: str, cert_pem: bytes) -> str:
    """SP metadata: signed AuthnRequests, signed assertions wanted, persistent NameID, ACS by HTTP-POST.

    The one certificate is named for signing and for encryption; the encryption key descriptor lists
    the accepted algorithms (:mod:`vault.identity.saml_encryption`), AES-GCM first.
    """
    key_info = (
        "<ds:KeyInfo><ds:X509Data>"
        f"<ds:X509Certificate>{certificate_base64(cert_pem)}</ds:X509Certificate>"
        "</ds:X509Data></ds:KeyInfo>"
    )
    methods = "".join(
        f'<md:EncryptionMethod Algorithm="{algorithm}"/>'
        for algorithm in (*saml_encryption.CONTENT_ENCRYPTION, *saml_encryption.KEY_TRANSPORT)
    )
    return (
        f'<md:EntityDescriptor xmlns:md="{MD}" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" '
        f"entityID={quoteattr(entity_id)}>"
        '<md:SPSSODescriptor AuthnRequestsSigned="true" WantAssertionsSigned="true" '
        'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        f'<md:KeyDescriptor use="signing">{key_info}</md:KeyDescriptor>'
        f'<md:KeyDescriptor use="encryption">{key_info}{methods}</md:KeyDescriptor>'
        f"<md:NameIDFormat>{NAMEID_FORMAT_PERSISTENT}</md:NameIDFormat>"
        f'<md:AssertionConsumerService Binding="{BINDING_HTTP_POST}" Location={quoteattr(acs)} index="0" '
        'isDefault="true"/>'
        "</md:SPSSODescriptor></md:EntityDescriptor>"
    )


def idp_entity_id(metadata_xml: str) -> str:
    """The entity id of an IdP's metadata, after checking it can serve this SP.

    Raises:
        ProviderInvalid: ``metadata``: not XML, a DTD, no IdP descriptor, no HTTP-Redirect single
            sign-on service, or no signing certificate.
    """
    if "<!" in metadata_xml.replace("<![CDATA[", ""):
        raise ProviderInvalid("metadata", "document type declarations are not accepted")
    try:
        config = _config("urn:x-vault:check", "https://vault.invalid/acs", metadata_xml)
    except Exception as exc:  # pysaml2 raises many kinds for malformed metadata
        raise ProviderInvalid("metadata", "not SAML 2.0 metadata") from exc
    store = config.metadata
    entities = [entity for entity in store.identity_providers()] if store is not None else []
    if len(entities) != 1:
        raise ProviderInvalid("metadata", "must describe exactly one identity provider")
    entity = entities[0]
    try:
        sso = store.single_sign_on_service(entity, BINDING_HTTP_REDIRECT)
    except UnsupportedBinding:
        sso = None
    if not sso:
        raise ProviderInvalid("metadata", "no SingleSignOnService with the HTTP-Redirect binding")
    if not store.certs(entity, "idpsso", "signing"):
        raise ProviderInvalid("metadata", "no signing certificate")
    return str(entity)


def _config(entity_id: str, acs: str, idp_metadata: str) -> SPConfig:
    config = SPConfig()
    config.load(
        {
            "entityid": entity_id,
            "metadata": {"inline": [idp_metadata]},
            "accepted_time_diff": int(saml_checks.SKEW.total_seconds()),
            "allow_unknown_attributes": True,
            "only_use_keys_in_metadata": True,
            "service": {
                "sp": {
                    "endpoints": {"assertion_consumer_service": [(acs, BINDING_HTTP_POST)]},
                    "authn_requests_signed": True,
                    "want_assertions_signed": True,
                    "want_response_signed": False,
                    "allow_unsolicited": False,
                    "name_id_format": NAMEID_FORMAT_PERSISTENT,
                    "name_id_format_allow_create": True,
                }
            },
        }
    )
    return config


def _requested_attributes(claims_map: dict[str, str]) -> list[dict[str, Any]]:
    names = list(claims_map)
    if saml_checks.OID_POSTAL_ADDRESS in claims_map:
        names += [name for name in saml_checks.BUNDID_ADDRESS_PARTS if name not in claims_map]
    return [
        {
            "name": name,
            "name_format": NAME_FORMAT_URI,
            "friendly_name": name.rsplit("/", 1)[-1],
            "required": name in REQUIRED_ATTRIBUTES,
        }
        for name in names
    ]


def authn_request_url(
    provider: ProviderConfig, *, vault_issuer: str, key: SamlKey, request_id: str, relay_state: str, level: str
) -> str:
    """The IdP's single sign-on URL with a signed AuthnRequest (HTTP-Redirect binding, rsa-sha256).

    ``RequestedAuthnContext Comparison="minimum"`` names every AuthnContextClassRef the provider's
    ``acr_map`` maps to ``level``; the eIDAS ``RequestedAttributes`` extension names every mapped attribute.
    """
    client = Saml2Client(_config(provider.client_id, acs_url(vault_issuer), provider.metadata_doc))
    sso = client.metadata.single_sign_on_service(provider.issuer, BINDING_HTTP_REDIRECT)
    if not sso:
        raise IdentityError("provider_unreachable", "no HTTP-Redirect single sign-on service")
    destination = sso[0]["location"]
    class_refs = sorted(ref for ref, mapped in provider.acr_map.items() if mapped == level)
    context = (
        RequestedAuthnContext(
            authn_context_class_ref=[AuthnContextClassRef(text=ref) for ref in class_refs], comparison="minimum"
        )
        if class_refs
        else None
    )
    _, request = client.create_authn_request(
        destination,
        binding=BINDING_HTTP_POST,
        message_id=request_id,
        nameid_format=NAMEID_FORMAT_PERSISTENT,
        requested_authn_context=context,
        requested_attributes=_requested_attributes(provider.claims_map),
        sign=False,
    )
    query = urlencode(
        [
            ("SAMLRequest", deflate_and_base64_encode(str(request))),
            ("RelayState", relay_state),
            ("SigAlg", SIG_RSA_SHA256),
        ]
    )
    signature = key.sign(query.encode("ascii"))
    separator = "&" if "?" in destination else "?"
    return f"{destination}{separator}{query}&{urlencode({'Signature': base64.b64encode(signature).decode()})}"


def verify_response(
    provider: ProviderConfig, xml: bytes, expected: saml_checks.Expected, *, key: SamlKey | None = None
) -> saml_checks.AssertionFacts:
    """Check a decoded response: decryption, structure, pysaml2 (signatures through ``xmlsec1``), the vault's rules.

    An ``EncryptedAssertion`` is decrypted with ``key`` (the SP key) first; the plain response
    that results passes exactly the checks a plain response passes.

    Raises:
        IdentityError: ``provider_error`` for a non-success status, ``invalid_assertion`` for anything else.
    """
    xml = saml_encryption.plain_response(xml, key)
    assertion_id = saml_checks.check_structure(xml)
    client = Saml2Client(_config(expected.sp_entity_id, expected.acs_url, provider.metadata_doc))
    try:
        parsed = client.parse_authn_request_response(
            base64.b64encode(xml).decode(), BINDING_HTTP_POST, outstanding={expected.request_id: "/"}
        )
    except StatusError as exc:
        raise IdentityError("provider_error", "the IdP answered a non-success status") from exc
    except Exception as exc:  # pysaml2 refuses with many exception kinds; all mean the same here
        raise IdentityError("invalid_assertion", f"pysaml2: {type(exc).__name__}") from exc
    if parsed is None or parsed.response is None:
        raise IdentityError("invalid_assertion", "pysaml2 returned no response")
    return saml_checks.check_assertion(parsed.response, parsed.assertion, assertion_id, expected)


def proven_identity(provider: ProviderConfig, facts: saml_checks.AssertionFacts) -> ProvenIdentity:
    """What a checked assertion proves, in the vault's terms (level through ``acr_map``, else ``basic``)."""
    claims = saml_checks.to_claims(facts.attributes, provider.claims_map)
    return ProvenIdentity(
        provider_id=provider.id,
        subject=facts.subject,
        level=provider.acr_map.get(facts.class_ref, "basic"),
        acr=facts.class_ref,
        claims=to_attributes(claims, provider.claims_map),
        authenticated_at=facts.authenticated_at,
    )


class SamlClient:
    """Start and finish sign-ins at SAML identity providers."""

    def __init__(
        self,
        providers: Providers,
        requests: IdentityRequests,
        sessions: async_sessionmaker[AsyncSession],
        vault_issuer: str,
    ) -> None:
        self.providers = providers
        self.requests = requests
        self.sessions = sessions
        self.vault_issuer = vault_issuer.rstrip("/")

    async def begin(
        self,
        provider: ProviderConfig,
        *,
        purpose: Purpose,
        level: str,
        next_path: str,
        citizen_id: str | None,
        browser: str | None,
        session: str | None = None,
    ) -> tuple[str, str]:
        """Store the request and return ``(URL to send the browser to, value for the __Host-vault-idp cookie)``.

        The AuthnRequest ID is stored as the request's ``nonce``; ``RelayState`` is the stored state;
        ``session`` is the browser's session token (ended when the sign-in finishes).
        """
        key = self.providers.saml_key(provider)
        request_id = "id-" + secrets.token_hex(20)
        state, cookie = await self.requests.store(
            provider.id,
            purpose=purpose,
            level=level,
            next_path=next_path,
            citizen_id=citizen_id,
            nonce=request_id,
            browser=browser,
            session=session,
        )
        url = await asyncio.to_thread(
            authn_request_url,
            provider,
            vault_issuer=self.vault_issuer,
            key=key,
            request_id=request_id,
            relay_state=state,
            level=level,
        )
        return url, cookie

    async def finish(
        self, saml_response: str, relay_state: str, browser: str | None, *, now: datetime | None = None
    ) -> tuple[StartedRequest, ProvenIdentity]:
        """Check the IdP's HTTP-POST response to a request this browser started; consume its assertion.

        An encrypted assertion is decrypted with the provider's SP key (unsealed for this call only,
        kept in memory) and then checked exactly as a plain one.

        Raises:
            IdentityError: ``unknown_state``, ``provider_disabled``, ``provider_error``,
                ``invalid_assertion`` or ``replayed``; nothing is stored then.
        """
        started = await self.requests.take(relay_state, browser)
        provider = await self.providers.get(started.provider_id)
        if provider is None:
            raise IdentityError("provider_disabled", "provider disabled or removed")
        if provider.kind != "saml":
            raise IdentityError("invalid_assertion", "not a SAML provider")
        key = self.providers.saml_key(provider)
        xml = saml_checks.decode_response(saml_response)
        expected = saml_checks.Expected(
            idp_entity_id=provider.issuer,
            sp_entity_id=provider.client_id,
            acs_url=acs_url(self.vault_issuer),
            request_id=started.nonce,
            now=now or datetime.now(UTC),
        )
        facts = await asyncio.to_thread(verify_response, provider, xml, expected, key=key)
        await self._consume(provider.issuer, facts, expected)
        return started, proven_identity(provider, facts)

    async def _consume(self, issuer: str, facts: saml_checks.AssertionFacts, expected: saml_checks.Expected) -> None:
        """Record the assertion id until it expires; ``replayed`` if it was recorded already."""
        digest = hashlib.sha256(f"{issuer}\n{facts.assertion_id}".encode()).digest()
        try:
            async with self.sessions.begin() as db:
                await db.execute(delete(SeenAssertion).where(SeenAssertion.expires_at < expected.now))
                expires_at = saml_checks.seen_until(facts.not_on_or_after, expected.now, expected.skew)
                db.add(SeenAssertion(id_hash=digest, expires_at=expires_at))
        except IntegrityError as exc:
            raise IdentityError("replayed", "assertion already consumed") from exc

    def sp_metadata(self, provider: ProviderConfig) -> str:
        """The vault's SP metadata for ``provider`` (served at its entity id)."""
        return sp_metadata_xml(
            provider.client_id, acs_url(self.vault_issuer), self.providers.saml_certificate(provider)
        )


async def register_saml(
    providers: Providers,
    *,
    name: str,
    metadata_xml: str,
    acr_map: dict[str, str],
    claims_map: dict[str, str] | None,
    vault_issuer: str,
) -> str:
    """Register a SAML IdP from its metadata: a new SP key and certificate are made and stored sealed.

    Returns:
        The provider id (part of the SP entity id, :func:`sp_entity_id`).

    Raises:
        ProviderInvalid: the metadata, maps or name are unusable; nothing is stored.
    """
    entity_id = await asyncio.to_thread(idp_entity_id, metadata_xml)
    provider_id = str(uuid.uuid4())
    sp_id = sp_entity_id(vault_issuer, provider_id)
    key_pem, cert_pem = await asyncio.to_thread(new_saml_key, sp_id)
    return await providers.add(
        name=name,
        kind="saml",
        issuer=entity_id,
        client_id=sp_id,
        auth_method="saml",
        secret=key_pem + cert_pem,
        acr_map=acr_map,
        claims_map=saml_checks.DEFAULT_SAML_ATTRIBUTES if claims_map is None else claims_map,
        metadata_doc=metadata_xml,
        provider_id=provider_id,
    )
