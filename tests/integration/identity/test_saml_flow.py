"""The SAML service provider end to end: register -> begin -> the test IdP (HTTP, in-process) -> finish.

Then every attack on ``finish`` with a database behind it: each is refused with the documented code
and leaves nothing in ``saml_assertions_seen``. Attack responses are genuine ones from the test IdP,
built directly (:meth:`SamlIdp.build_response`) and tampered with.
"""

from __future__ import annotations

import base64
import html
import os
import re
import zlib
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit
from xml.etree import ElementTree as ET

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from litestar import Litestar
from sqlalchemy import func, select

from examples.eid_provider.personas import STORK
from examples.eid_provider.saml_idp import SamlIdp, handlers_for
from vault.config import load_settings
from vault.crypto.idp import ProviderSecrets
from vault.db.engine import create_engine, session_factory
from vault.db.models import Base
from vault.identity.model import IdentityError
from vault.identity.providers import ProviderConfig, Providers
from vault.identity.requests import IdentityRequests
from vault.identity.saml import SamlClient, acs_url, register_saml
from vault.identity.saml_checks import MAX_RESPONSE_CHARS
from vault.identity.tables import SeenAssertion

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

IDP = "http://127.0.0.1:8081"
VAULT = "https://vault.example"
ACS = acs_url(VAULT)
ACR_MAP = {STORK["high"]: "high", STORK["substantial"]: "substantial"}
NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "md": "urn:oasis:names:tc:SAML:2.0:metadata",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}


class World:
    """The vault's SAML side on a fresh database, and the test IdP it signs in through."""

    def __init__(self, sessions: Any, tmp_path: Path) -> None:
        self.sessions = sessions
        self.providers = Providers(sessions, ProviderSecrets(os.urandom(32)))
        self.requests = IdentityRequests(sessions)
        self.client = SamlClient(self.providers, self.requests, sessions, VAULT)
        self.sp_metadata_file = tmp_path / "sp-metadata.xml"
        self.idp = SamlIdp(IDP, [str(self.sp_metadata_file)])  # read lazily, after registration wrote it
        self.browser = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=Litestar(handlers_for(self.idp))),  # type: ignore[arg-type]
            base_url=IDP,
        )
        self.provider: ProviderConfig

    async def register(self) -> ProviderConfig:
        metadata = (await self.browser.get("/saml/metadata")).text
        provider_id = await register_saml(
            self.providers, name="BundID-Test", metadata_xml=metadata, acr_map=ACR_MAP, claims_map=None,
            vault_issuer=VAULT,
        )  # fmt: skip
        provider = await self.providers.get(provider_id)
        assert provider is not None
        self.sp_metadata_file.write_text(self.client.sp_metadata(provider))
        self.provider = provider
        return provider

    async def begin(self, level: str = "high", browser: str | None = None) -> tuple[str, str]:
        return await self.client.begin(
            self.provider, purpose="login", level=level, next_path="/next", citizen_id=None, browser=browser
        )

    async def start(self, level: str = "high") -> tuple[str, str, str]:
        """A begun sign-in: (AuthnRequest ID, RelayState, browser cookie)."""
        url, cookie = await self.begin(level)
        params = dict(parse_qsl(urlsplit(url).query))
        root = ET.fromstring(zlib.decompress(base64.b64decode(params["SAMLRequest"]), -15))
        return root.get("ID") or "", params["RelayState"], cookie

    def respond(self, request_id: str, persona: str = "erika", **kwargs: Any) -> str:
        return self.idp.build_response(self.provider.client_id, request_id, persona, **kwargs)

    async def seen(self) -> int:
        async with self.sessions() as db:
            return int(await db.scalar(select(func.count()).select_from(SeenAssertion)) or 0)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    settings = load_settings({}, data_dir=str(tmp_path / "var"), database_url=f"sqlite+aiosqlite:///{tmp_path}/v.db")
    engine = create_engine(settings)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    w = World(session_factory(engine), tmp_path)
    await w.register()
    try:
        yield w
    finally:
        await w.browser.aclose()
        await engine.dispose()


async def expect(world: World, code: str, awaitable: Any) -> IdentityError:
    with pytest.raises(IdentityError) as caught:
        await awaitable
    assert caught.value.code == code, caught.value.detail
    assert await world.seen() == 0, "a refused response left a trace"
    return caught.value


def form_fields(page: str) -> tuple[str, dict[str, str]]:
    action = re.search(r'<form method="post" action="([^"]+)"', page)
    assert action is not None
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    return html.unescape(action.group(1)), {k: html.unescape(v) for k, v in fields.items()}


# --- the whole flow -----------------------------------------------------------------------------------


async def test_register_stores_the_idp_and_a_fresh_sp_key(world: World) -> None:
    provider = world.provider
    assert provider.kind == "saml"
    assert provider.issuer == world.idp.entity_id
    assert provider.client_id == f"{VAULT}/login/idp/saml/{provider.id}/metadata"
    secret = world.providers.secret(provider)
    assert b"PRIVATE KEY" in secret
    assert b"PRIVATE KEY" not in provider.secret_sealed  # stored sealed
    metadata = ET.fromstring(world.client.sp_metadata(provider))
    assert metadata.get("entityID") == provider.client_id
    assert b"PRIVATE" not in ET.tostring(metadata)


async def test_sign_in_at_level_high_through_the_idp_pages(world: World) -> None:
    url, cookie = await world.begin("high")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{IDP}/saml/sso"
    params = dict(parse_qsl(parts.query))
    # The AuthnRequest: signed (rsa-sha256 over the query), minimum STORK-QAA-Level-4.
    cert_text = ET.fromstring(world.client.sp_metadata(world.provider)).findtext(".//ds:X509Certificate", namespaces=NS)
    public = x509.load_der_x509_certificate(base64.b64decode(cert_text or "")).public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    signed = urlencode([(k, params[k]) for k in ("SAMLRequest", "RelayState", "SigAlg")]).encode()
    public.verify(base64.b64decode(params["Signature"]), signed, padding.PKCS1v15(), hashes.SHA256())
    request = ET.fromstring(zlib.decompress(base64.b64decode(params["SAMLRequest"]), -15))
    context = request.find("samlp:RequestedAuthnContext", NS)
    assert context is not None
    assert context.get("Comparison") == "minimum"
    assert context.findtext("saml:AuthnContextClassRef", namespaces=NS) == "STORK-QAA-Level-4"

    page = await world.browser.get(f"{parts.path}?{parts.query}")
    assert page.status_code == 200, page.text
    assert "Erika" in page.text
    assert "Abbrechen" in page.text
    action, fields = form_fields(page.text)
    assert action == "sso/choose"
    answer = await world.browser.post("/saml/sso/choose", data={**fields, "persona": "erika"})
    assert answer.status_code == 200, answer.text
    assert "<script" not in answer.text
    assert "Weiter" in answer.text
    acs, posted = form_fields(answer.text)
    assert acs == ACS
    assert posted["RelayState"] == params["RelayState"]

    started, identity = await world.client.finish(posted["SAMLResponse"], posted["RelayState"], cookie)
    assert started.nonce == request.get("ID")
    assert started.next == "/next"
    assert identity.provider_id == world.provider.id
    assert identity.level == "high"
    assert identity.acr == "STORK-QAA-Level-4"
    assert identity.subject
    assert identity.claims["given_name"] == "Erika"
    assert identity.claims["birth_date"] == "1964-08-12"
    assert identity.claims["birth_name"] == "Gabler"
    assert identity.claims["address"] == {
        "street": "Heidestraße", "house_number": "17", "postal_code": "51147", "city": "Köln", "country": "DE",
    }  # fmt: skip
    assert await world.seen() == 1


async def test_the_idp_refuses_an_unsigned_or_altered_request(world: World) -> None:
    url, _ = await world.begin()
    params = dict(parse_qsl(urlsplit(url).query))
    unsigned = {k: v for k, v in params.items() if k not in ("Signature", "SigAlg")}
    assert (await world.browser.get("/saml/sso", params=unsigned)).status_code == 400
    altered = {**params, "RelayState": "another"}
    assert (await world.browser.get("/saml/sso", params=altered)).status_code == 400


async def test_cancel_at_the_idp_is_a_provider_error(world: World) -> None:
    url, cookie = await world.begin()
    parts = urlsplit(url)
    _, fields = form_fields((await world.browser.get(f"{parts.path}?{parts.query}")).text)
    answer = await world.browser.post("/saml/sso/choose", data={**fields, "persona": ""})
    _, posted = form_fields(answer.text)
    await expect(world, "provider_error", world.client.finish(posted["SAMLResponse"], posted["RelayState"], cookie))


async def test_a_lower_level_is_reported_as_such(world: World) -> None:
    request_id, state, cookie = await world.start("high")
    _, identity = await world.client.finish(world.respond(request_id, "max"), state, cookie)
    assert identity.level == "substantial"
    assert identity.acr == "STORK-QAA-Level-3"


# --- attacks --------------------------------------------------------------------------------------------


def assertion_span(xml: str) -> tuple[int, int]:
    start = re.search(r"<ns1:Assertion[ >]", xml)
    assert start is not None
    return start.start(), xml.index("</ns1:Assertion>") + len("</ns1:Assertion>")


def unsigned_copy(assertion: str, new_id: str | None) -> str:
    evil = re.sub(r"<ns2:Signature .*?</ns2:Signature>", "", assertion, flags=re.S)
    evil = re.sub(r"(nameid-format:persistent\"[^>]*>)[^<]+", r"\1attacker", evil)
    return re.sub(r'ID="[^"]+"', f'ID="{new_id}"', evil, count=1) if new_id else evil


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def plain(response: str) -> str:
    return base64.b64decode(response).decode()


async def test_replay_of_the_same_post_is_refused(world: World) -> None:
    request_id, state, cookie = await world.start()
    response = world.respond(request_id)
    await world.client.finish(response, state, cookie)
    with pytest.raises(IdentityError) as caught:
        await world.client.finish(response, state, cookie)
    assert caught.value.code == "unknown_state"


async def test_an_assertion_is_accepted_once_even_under_a_second_state(world: World) -> None:
    """The assertion-id rule alone: two live requests with the same AuthnRequest ID, one response."""
    states = [
        await world.requests.store(
            world.provider.id, purpose="login", level="high", next_path="/", citizen_id=None, nonce="id-same"
        )
        for _ in range(2)
    ]
    response = world.respond("id-same")
    await world.client.finish(response, *states[0])
    with pytest.raises(IdentityError) as caught:
        await world.client.finish(response, *states[1])
    assert caught.value.code == "replayed"
    assert await world.seen() == 1


async def test_another_browser_is_refused(world: World) -> None:
    request_id, state, _ = await world.start()
    await expect(world, "unknown_state", world.client.finish(world.respond(request_id), state, "another-browser"))


@pytest.mark.parametrize(
    "tamper",
    [
        {"audience": "https://other-sp.example/metadata"},
        {"destination": "https://attacker.example/acs"},
        {"acs_url": "https://attacker.example/acs"},
        {"sign_assertion": False},
        {"issuer": "https://other-idp.example"},
    ],
)
async def test_signed_responses_with_a_wrong_field_are_refused(world: World, tamper: dict[str, Any]) -> None:
    request_id, state, cookie = await world.start()
    await expect(world, "invalid_assertion", world.client.finish(world.respond(request_id, **tamper), state, cookie))


async def test_expired_response_is_refused(world: World) -> None:
    from datetime import UTC, datetime, timedelta

    request_id, state, cookie = await world.start()
    old = world.respond(request_id, now=datetime.now(UTC) - timedelta(minutes=7))
    await expect(world, "invalid_assertion", world.client.finish(old, state, cookie))


async def test_wrong_in_response_to_is_refused(world: World) -> None:
    _, state, cookie = await world.start()
    other_id, _, _ = await world.start()
    await expect(world, "invalid_assertion", world.client.finish(world.respond(other_id), state, cookie))


async def test_response_signed_by_another_key_is_refused(world: World) -> None:
    request_id, state, cookie = await world.start()
    impostor = SamlIdp(IDP, [world.client.sp_metadata(world.provider)])
    forged = impostor.build_response(world.provider.client_id, request_id, "erika")
    await expect(world, "invalid_assertion", world.client.finish(forged, state, cookie))


async def test_wrapping_second_unsigned_assertion_is_refused(world: World) -> None:
    request_id, state, cookie = await world.start()
    xml = plain(world.respond(request_id))
    start, end = assertion_span(xml)
    tampered = xml[:start] + unsigned_copy(xml[start:end], "_evil") + xml[start:]
    await expect(world, "invalid_assertion", world.client.finish(b64(tampered), state, cookie))


async def test_wrapping_signed_assertion_moved_is_refused(world: World) -> None:
    request_id, state, cookie = await world.start()
    xml = plain(world.respond(request_id))
    start, end = assertion_span(xml)
    original = xml[start:end]
    at = xml.index("<ns0:Status>")
    tampered = (
        xml[:at] + f"<ns0:Extensions>{original}</ns0:Extensions>" + xml[at:start] + unsigned_copy(original, None)
        + xml[end:]
    )  # fmt: skip
    await expect(world, "invalid_assertion", world.client.finish(b64(tampered), state, cookie))


async def test_xxe_is_refused(world: World) -> None:
    request_id, state, cookie = await world.start()
    xml = plain(world.respond(request_id))
    body = xml.split("?>", 1)[1] if xml.startswith("<?xml") else xml
    tampered = '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + body.replace("Erika", "&x;", 1)
    await expect(world, "invalid_assertion", world.client.finish(b64(tampered), state, cookie))


async def test_oversized_response_is_refused(world: World) -> None:
    _, state, cookie = await world.start()
    await expect(world, "invalid_assertion", world.client.finish("A" * (MAX_RESPONSE_CHARS + 4), state, cookie))


async def test_disabled_provider_is_refused(world: World) -> None:
    request_id, state, cookie = await world.start()
    assert await world.providers.disable(world.provider.id)
    await expect(world, "provider_disabled", world.client.finish(world.respond(request_id), state, cookie))


async def test_forged_assertion_behind_a_far_off_issue_instant_is_refused(world: World) -> None:
    """pysaml2 alone accepts this: it skips the assertion's signature check when IssueInstant is a day off."""
    request_id, state, cookie = await world.start()
    xml = plain(world.respond(request_id, "max", sign_response=False))
    forged = xml.replace("STORK-QAA-Level-3", "STORK-QAA-Level-4").replace(">Max<", ">Mallory<")
    forged = re.sub(r'(<ns0:Response [^>]*IssueInstant=")[^"]+', r"\g<1>2030-01-01T00:00:00Z", forged)
    assert forged != xml
    await expect(world, "invalid_assertion", world.client.finish(b64(forged), state, cookie))


# --- times and the NameID (attacker review) ---------------------------------------------------------


def edit_assertion(times: dict[str, str] | None = None, **name_id: Any) -> Any:
    """An ``edit_assertion`` for the test IdP: Conditions/SubjectConfirmationData times, NameID fields."""

    def edit(assertion: Any) -> None:
        for name, value in (times or {}).items():
            target = (
                assertion.subject.subject_confirmation[0].subject_confirmation_data
                if name == "confirmation_not_on_or_after"
                else assertion.conditions
            )
            setattr(target, name.removeprefix("confirmation_"), value)
        for name, value in name_id.items():
            setattr(assertion.subject.name_id, name, value)

    return edit


@pytest.mark.parametrize("encrypt", [False, True])
@pytest.mark.parametrize(
    "times",
    [
        {"not_on_or_after": "9999-12-31T23:59:59Z"},
        {"not_on_or_after": "9999-12-31T23:59:59Z", "confirmation_not_on_or_after": "9999-12-31T23:59:59Z"},
        {"not_before": "0001-01-01T00:00:00Z"},
        {"confirmation_not_on_or_after": "9999-12-31T23:59:59Z"},
    ],
)
async def test_far_off_times_are_refused_and_leave_no_row(world: World, times: dict[str, str], encrypt: bool) -> None:
    """An OverflowError here was a 500 at the ACS; a year-9999 assertion must not be kept forever either."""
    request_id, state, cookie = await world.start()
    response = world.respond(request_id, edit_assertion=edit_assertion(times), encrypt_assertion=encrypt)
    await expect(world, "invalid_assertion", world.client.finish(response, state, cookie))


@pytest.mark.parametrize(
    "name_id",
    [
        {"format": "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"},
        {"format": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress", "text": "erika@example.org"},
        {"sp_name_qualifier": "https://other-sp.example/metadata"},
        {"text": "erika\u202e"},
    ],
)
async def test_a_name_id_that_is_no_persistent_id_for_this_sp_is_refused(world: World, name_id: dict[str, str]) -> None:
    request_id, state, cookie = await world.start()
    response = world.respond(request_id, edit_assertion=edit_assertion(**name_id))
    await expect(world, "invalid_assertion", world.client.finish(response, state, cookie))


async def test_a_consumed_assertion_is_kept_until_it_expires_and_no_longer(world: World) -> None:
    from datetime import UTC, datetime, timedelta

    request_id, state, cookie = await world.start()
    before = datetime.now(UTC)
    await world.client.finish(world.respond(request_id), state, cookie)
    async with world.sessions() as db:
        rows = list(await db.scalars(select(SeenAssertion)))
    assert len(rows) == 1
    expires = rows[0].expires_at
    expires = expires if expires.tzinfo else expires.replace(tzinfo=UTC)
    # the test IdP's assertions live five minutes; the row lives until then plus the allowed skew
    assert before + timedelta(minutes=5) < expires <= datetime.now(UTC) + timedelta(minutes=5, seconds=61)


# --- encrypted assertions (BundID) ---------------------------------------------------------------------

ENCRYPTED = re.compile(r"<saml:EncryptedAssertion .*?</saml:EncryptedAssertion>", re.S)


async def through_the_pages(world: World, cookie_url: tuple[str, str]) -> dict[str, str]:
    url, _ = cookie_url
    parts = urlsplit(url)
    _, fields = form_fields((await world.browser.get(f"{parts.path}?{parts.query}")).text)
    answer = await world.browser.post("/saml/sso/choose", data={**fields, "persona": "erika"})
    assert answer.status_code == 200, answer.text
    return form_fields(answer.text)[1]


async def test_the_pages_encrypt_the_assertion_and_the_vault_decrypts_it(world: World) -> None:
    """BundID's profile: the assertion travels encrypted to the SP certificate named in the SP metadata."""
    metadata = ET.fromstring(world.client.sp_metadata(world.provider))
    uses = [k.get("use") for k in metadata.iter("{urn:oasis:names:tc:SAML:2.0:metadata}KeyDescriptor")]
    assert uses == ["signing", "encryption"]
    begun = await world.begin("high")
    posted = await through_the_pages(world, begun)
    xml = plain(posted["SAMLResponse"])
    assert "EncryptedAssertion" in xml
    assert "Erika" not in xml
    assert ET.fromstring(xml).find("saml:Assertion", NS) is None
    _, identity = await world.client.finish(posted["SAMLResponse"], posted["RelayState"], begun[1])
    assert (identity.level, identity.claims["given_name"]) == ("high", "Erika")
    assert await world.seen() == 1


async def test_the_pages_can_still_send_plain_assertions(world: World) -> None:
    world.idp.encrypt_assertions = False
    begun = await world.begin("high")
    posted = await through_the_pages(world, begun)
    assert "EncryptedAssertion" not in plain(posted["SAMLResponse"])
    _, identity = await world.client.finish(posted["SAMLResponse"], posted["RelayState"], begun[1])
    assert identity.claims["given_name"] == "Erika"


async def test_an_encrypted_assertion_is_accepted_once(world: World) -> None:
    states = [
        await world.requests.store(
            world.provider.id, purpose="login", level="high", next_path="/", citizen_id=None, nonce="id-same"
        )
        for _ in range(2)
    ]
    response = world.respond("id-same", encrypt_assertion=True)
    await world.client.finish(response, *states[0])
    with pytest.raises(IdentityError) as caught:
        await world.client.finish(response, *states[1])
    assert caught.value.code == "replayed"


async def test_encrypted_but_unsigned_is_refused(world: World) -> None:
    request_id, state, cookie = await world.start()
    response = world.respond(request_id, encrypt_assertion=True, sign_assertion=False)
    error = await expect(world, "invalid_assertion", world.client.finish(response, state, cookie))
    assert "not signed" in error.detail


async def test_encrypted_to_another_key_is_refused(world: World) -> None:
    """The IdP encrypts to a certificate that is not this SP's (e.g. another SP's metadata)."""
    from vault.crypto.idp import new_saml_key
    from vault.identity.saml import sp_metadata_xml

    request_id, state, cookie = await world.start()
    _, other_cert = new_saml_key("another SP")
    world.idp.add_service_provider(sp_metadata_xml(world.provider.client_id, ACS, other_cert))
    world.idp._sources = world.idp._sources[-1:]  # only the SP metadata with the other certificate
    response = world.respond(request_id, encrypt_assertion=True)
    error = await expect(world, "invalid_assertion", world.client.finish(response, state, cookie))
    assert "cannot be decrypted" in error.detail


async def test_plain_and_encrypted_assertion_together_are_refused(world: World) -> None:
    request_id, state, cookie = await world.start()
    encrypted = ENCRYPTED.search(plain(world.respond(request_id, "max", encrypt_assertion=True)))
    assert encrypted is not None
    both = plain(world.respond(request_id, sign_response=False)).replace(
        "</ns0:Response>", encrypted.group(0) + "</ns0:Response>", 1
    )
    error = await expect(world, "invalid_assertion", world.client.finish(b64(both), state, cookie))
    assert "plain assertion beside" in error.detail


async def test_a_dtd_inside_the_encrypted_assertion_is_refused(world: World) -> None:
    from examples.eid_provider.saml_encrypt import encrypt_assertion_to
    from vault.identity.saml_encryption import decrypt_assertion

    request_id, state, cookie = await world.start()
    xml = plain(world.respond(request_id, encrypt_assertion=True))
    key, cert_pem = world.providers.saml_key(world.provider), world.providers.saml_certificate(world.provider)
    element = ET.fromstring(xml).find("saml:EncryptedAssertion", NS)
    assert element is not None
    inner = b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + decrypt_assertion(element, key).replace(
        b">Erika<", b">&x;<"
    )
    tampered = ENCRYPTED.sub(lambda _: encrypt_assertion_to(inner, cert_pem), xml)
    assert "DOCTYPE" not in tampered
    error = await expect(world, "invalid_assertion", world.client.finish(b64(tampered), state, cookie))
    assert "document type" in error.detail
