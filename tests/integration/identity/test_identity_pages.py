"""Sign-in, registration, linking and step-up through an eID provider, over the vault's pages (issue 19).

The provider is the real test provider (examples/eid_provider) in-process: the vault's calls to it
go through an ASGI transport, and the "browser" follows the provider's redirects with a second
client. ``auto_persona`` picks the persona without its page (the page is driven in tests/e2e).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import jsonschema
import pytest
from joserfc.jwk import ECKey
from sqlalchemy import func, select

from examples.eid_provider.app import Client, create_app
from tests.support.agency import TestAgency, pkce_pair
from tests.support.catalogue import service_toml
from tests.support.web import BASE_URL, PASSWORD, domain, form_token, register, session_token
from vault.citizens.tables import Citizen
from vault.consent.catalogue import parse_service
from vault.identity.claims import DEFAULT_OIDC_CLAIMS
from vault.identity.requests import BROWSER_COOKIE

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.testing import AsyncTestClient

    from vault.config import Settings

ISSUER = "https://eid.test"
ACR_MAP = {"http://eidas.europa.eu/LoA/high": "high", "http://eidas.europa.eu/LoA/substantial": "substantial"}


@dataclass
class Eid:
    """The test provider, registered with the vault."""

    app: Litestar
    provider_id: str

    def browser(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=ISSUER)

    def choose(self, persona: str) -> None:
        self.app.state.provider.auto_persona = persona


@pytest.fixture
async def eid(web: AsyncTestClient[Any], migrated: Settings) -> Eid:
    key = ECKey.generate_key("P-256", private=True)
    public = {**key.as_dict(private=False), "kid": key.thumbprint(), "alg": "ES256", "use": "sig"}
    app = create_app(ISSUER, [Client("vault", (BASE_URL + "/login/idp/callback",), jwks={"keys": [public]})])
    app.state.provider.auto_persona = "erika"

    def client() -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app))

    web.app.state.runtime.http_client = client
    async with client() as c:
        discovery = (await c.get(ISSUER + "/.well-known/openid-configuration")).text
    async with domain(migrated) as runtime:
        provider_id = await runtime.services.providers.add(
            name="Test-eID",
            kind="oidc",
            issuer=ISSUER,
            client_id="vault",
            auth_method="private_key_jwt",
            secret=key.as_pem(private=True),
            acr_map=ACR_MAP,
            claims_map=dict(DEFAULT_OIDC_CLAIMS),
            metadata_doc=discovery,
        )
    return Eid(app, provider_id)


async def _start(web: AsyncTestClient[Any], eid: Eid, purpose: str, **fields: str) -> Any:
    """Press a provider button: on /login (signed out) or with the session's token (signed in)."""
    if purpose in {"link", "step_up"}:
        token = await session_token(web)
    else:
        token = form_token((await web.get("/login")).text)
    data = {"csrf_token": token, "purpose": purpose, **fields}
    return await web.post(f"/login/idp/{eid.provider_id}", data=data)


async def _at_provider(eid: Eid, started: Any) -> str:
    """Follow the vault's redirect to the provider; the provider's redirect back (path and query at the vault)."""
    assert started.status_code == 303, started.text
    assert started.headers["location"].startswith(ISSUER)
    async with eid.browser() as browser:
        answer = await browser.get(started.headers["location"])
    assert answer.status_code == 303, answer.text
    back = answer.headers["location"]
    assert back.startswith(BASE_URL + "/login/idp/callback?")
    return back.removeprefix(BASE_URL)


async def _through(web: AsyncTestClient[Any], eid: Eid, purpose: str, **fields: str) -> Any:
    return await web.get(await _at_provider(eid, await _start(web, eid, purpose, **fields)))


async def _accounts(settings: Settings) -> int:
    async with domain(settings) as runtime, runtime.sessions() as db:
        return int(await db.scalar(select(func.count()).select_from(Citizen)) or 0)


async def _level(web: AsyncTestClient[Any]) -> str:
    settings = await web.get("/settings")
    assert settings.status_code == 200, settings.text
    return settings.text


async def test_the_login_and_register_pages_offer_the_provider(web: AsyncTestClient[Any], eid: Eid) -> None:
    login = await web.get("/login")
    assert f'action="/login/idp/{eid.provider_id}"' in login.text
    assert "Mit Online-Ausweis anmelden (Test-eID)" in login.text
    register_page = await web.get("/register?lang=en")
    assert "Create an account with your online ID card (Test-eID)" in register_page.text


async def test_register_through_the_provider_signs_in_at_high_with_confirmed_values(
    web: AsyncTestClient[Any], eid: Eid
) -> None:
    done = await _through(web, eid, "register")
    assert done.status_code == 303, done.text
    me = await web.get("/api/v1/me/attributes")
    attributes = me.json()["attributes"]
    assert attributes["family_name"]["value"] == "Mustermann"
    assert attributes["address"]["value"]["street"] == "Heidestraße"
    assert {a["source"].rpartition(":")[0] for a in attributes.values()} == {f"idp:{eid.provider_id}"}
    data = await web.get("/data")
    assert "bestätigt durch Test-eID" in data.text
    settings = await web.get("/settings")
    assert "Die Identität Ihres Kontos ist auf dem Niveau hoch nachgewiesen" in settings.text
    history = await web.get("/history")
    assert "Ausweis verknüpft" in history.text
    assert "Test-eID" in history.text
    export = (await web.get("/api/v1/me/export")).json()
    assert export["account"]["login_name"] == ""  # an account made from the eID has none
    assert export["account"]["identity_level"] == "high"
    assert [(link["provider"], link["level"]) for link in export["account"]["identity_links"]] == [("Test-eID", "high")]
    schema = (await web.get("/schema/export.json")).json()
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(export)


async def test_signing_in_with_an_unlinked_id_creates_nothing(
    web: AsyncTestClient[Any], eid: Eid, migrated: Settings
) -> None:
    before = await _accounts(migrated)
    page = await _through(web, eid, "login")
    assert page.status_code == 409
    assert "Mit diesem Ausweis ist noch kein Konto verknüpft" in page.text
    assert f'action="/login/idp/{eid.provider_id}"' in page.text  # the way on: create an account with it
    assert await _accounts(migrated) == before
    assert (await web.get("/api/v1/me/attributes")).status_code == 401


async def test_link_to_a_password_account_then_sign_in_with_the_id(web: AsyncTestClient[Any], eid: Eid) -> None:
    await register(web, "erika@example.de")
    linked = await _through(web, eid, "link")
    assert linked.status_code == 303
    assert linked.headers["location"] == "/settings?linked=1"
    settings = await web.get("/settings?linked=1")
    assert "Ihr Ausweis ist jetzt mit diesem Konto verknüpft" in settings.text
    web.cookies.clear()
    signed_in = await _through(web, eid, "login")
    assert signed_in.status_code == 303
    assert (await web.get("/api/v1/me/attributes")).status_code == 200


async def test_an_id_linked_to_one_account_is_refused_for_another(web: AsyncTestClient[Any], eid: Eid) -> None:
    await register(web, "first@example.de")
    assert (await _through(web, eid, "link")).status_code == 303
    web.cookies.clear()
    await register(web, "second@example.de")
    refused = await _through(web, eid, "link")
    assert refused.status_code == 409
    assert "schon mit einem anderen Konto" in refused.text
    assert "Online-Ausweis verknüpfen (Test-eID)" in (await web.get("/settings")).text  # still unlinked


async def test_a_callback_works_once_and_only_in_the_browser_that_started_it(
    web: AsyncTestClient[Any], eid: Eid, migrated: Settings
) -> None:
    back = await _at_provider(eid, await _start(web, eid, "register"))
    browser_cookie = web.cookies.get(BROWSER_COOKIE)
    web.cookies.clear()
    elsewhere = await web.get(back)  # another browser (no cookie): refused, and the state is spent
    assert elsewhere.status_code == 400
    assert "in einem anderen Browser" in elsewhere.text
    web.cookies.set(BROWSER_COOKIE, browser_cookie or "", domain=urlsplit(BASE_URL).hostname)
    again = await web.get(back)
    assert again.status_code == 400
    assert await _accounts(migrated) == 0


async def test_a_forged_id_token_starts_no_session(web: AsyncTestClient[Any], eid: Eid, migrated: Settings) -> None:
    def wrong_nonce(header: dict[str, Any], claims: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        return header, {**claims, "nonce": "someone-elses"}

    eid.app.state.provider.tamper = wrong_nonce
    page = await _through(web, eid, "register")
    assert page.status_code == 400
    assert "Prüfungen" in page.text
    assert await _accounts(migrated) == 0
    assert (await web.get("/api/v1/me/attributes")).status_code == 401


async def test_unlink_needs_a_recent_sign_in_and_lowers_the_level_at_once(
    web: AsyncTestClient[Any], eid: Eid, migrated: Settings
) -> None:
    from tests.support.passkeys import OLD, citizen_id, use_session

    await register(web, "unlink@example.de")
    assert (await _through(web, eid, "link")).status_code == 303
    settings = await web.get("/settings")
    assert "auf dem Niveau hoch nachgewiesen" in settings.text
    link_id = re.search(r'action="/settings/identity/([^"]+)/unlink"', settings.text)
    assert link_id
    # a password session an hour old cannot unlink (a stolen password must not undo the eID)
    await use_session(web, migrated, await citizen_id(migrated, "unlink@example.de"), "basic", age=OLD)
    stale = await web.post(
        f"/settings/identity/{link_id.group(1)}/unlink", data={"csrf_token": await session_token(web)}
    )
    assert stale.status_code == 303
    assert stale.headers["location"].startswith("/login?reauth=high")
    assert "auf dem Niveau hoch nachgewiesen" in (await web.get("/settings")).text
    # a fresh eID sign-in can
    web.cookies.clear()
    assert (await _through(web, eid, "login")).status_code == 303
    gone = await web.post(
        f"/settings/identity/{link_id.group(1)}/unlink", data={"csrf_token": await session_token(web)}
    )
    assert gone.headers["location"] == "/settings?unlinked=1"
    after = await web.get("/settings")
    assert "noch nicht nachgewiesen (Niveau Basis)" in after.text
    assert (
        "Ausweis-Verknüpfung entfernt" in (await web.get("/history")).text
        or "ID unlinked" in (await web.get("/history?lang=en")).text
    )


async def _high_service(migrated: Settings) -> TestAgency:
    agency = TestAgency(BASE_URL)
    async with domain(migrated) as runtime:
        agency.client_id = await runtime.services.catalogue.add_agency(
            "Bürgeramt Köln", [agency.redirect_uri], agency.jwks()
        )
        toml = service_toml(agency.client_id, min_assurance='min_assurance = "high"')
        toml = toml.replace(
            b'documents = [{ kind = "rental_confirmation", required = true, late_submission = true }]', b""
        )
        await runtime.services.catalogue.add_service(parse_service(toml))
    return agency


async def test_step_up_for_a_high_service_and_a_lower_acr_does_not_raise(
    web: AsyncTestClient[Any], eid: Eid, migrated: Settings
) -> None:
    agency = await _high_service(migrated)
    await register(web, "stepup@example.de")
    eid.choose("max")  # a persona at substantial
    assert (await _through(web, eid, "link")).status_code == 303
    _, challenge = pkce_pair()
    par = await web.post("/oauth/par", data=agency.par_form(challenge=challenge))
    assert par.status_code == 201, par.text
    here = f"/oauth/authorize?client_id={quote(agency.client_id)}&request_uri={quote(par.json()['request_uri'])}"
    page = await web.get(here)
    assert page.status_code == 403
    assert "Mit Online-Ausweis anmelden (Test-eID)" in page.text
    assert 'name="purpose" value="step_up"' in page.text
    low = await _through(web, eid, "step_up", level="high", next=here)
    assert low.status_code == 403
    assert "nur auf dem Vertrauensniveau substanziell" in low.text
    assert (await web.get(here)).status_code == 403  # not raised
    # Erika is another person: her eID is not this account's
    eid.choose("erika")
    other = await _through(web, eid, "step_up", level="high", next=here)
    assert other.status_code == 409
    assert (await web.get(here)).status_code == 403


async def test_step_up_with_the_linked_high_id_reaches_the_consent_page(
    web: AsyncTestClient[Any], eid: Eid, migrated: Settings
) -> None:
    agency = await _high_service(migrated)
    await register(web, "high@example.de")
    assert (await _through(web, eid, "link")).status_code == 303
    web.cookies.clear()
    await web.post("/login", data={"username": "high@example.de", "password": PASSWORD,
                                  "csrf_token": form_token((await web.get("/login")).text)})  # fmt: skip
    _, challenge = pkce_pair()
    par = await web.post("/oauth/par", data=agency.par_form(challenge=challenge))
    here = f"/oauth/authorize?client_id={quote(agency.client_id)}&request_uri={quote(par.json()['request_uri'])}"
    assert (await web.get(here)).status_code == 403  # a password sign-in is basic
    up = await _through(web, eid, "step_up", level="high", next=here)
    assert up.status_code == 303
    assert up.headers["location"] == here
    consent = await web.get(here)
    assert consent.status_code == 200
    assert 'name="decision" value="approve"' in consent.text


async def test_a_disabled_provider_is_neither_offered_nor_usable(
    web: AsyncTestClient[Any], eid: Eid, migrated: Settings
) -> None:
    async with domain(migrated) as runtime:
        await runtime.services.providers.disable(eid.provider_id)
    assert eid.provider_id not in (await web.get("/login")).text
    assert (await _start(web, eid, "login")).status_code == 404


async def test_bad_start_forms_are_refused(web: AsyncTestClient[Any], eid: Eid) -> None:
    url = f"/login/idp/{eid.provider_id}"

    async def post(**data: str) -> Any:
        token = form_token((await web.get("/login")).text)
        return await web.post(url, data={"csrf_token": token, **data})

    assert (await web.post(url, data={"csrf_token": "wrong", "purpose": "login"})).status_code == 403
    assert (await post(purpose="admin")).status_code == 400
    assert (await post(level="ultra")).status_code == 400
    assert (await post(purpose="link")).headers["location"] == "/login"  # link and step-up need a session
    assert (await web.post("/login/idp/no-such-provider", data={"csrf_token": "x"})).status_code in {403, 404}
    # an off-site next is dropped: after the provider the citizen lands on the vault's start page
    back = await _at_provider(eid, await post(purpose="register", next="//evil.example/"))
    done = await web.get(back)
    assert done.status_code == 303
    assert done.headers["location"] == "/"


async def test_register_through_a_saml_provider_and_the_assertion_works_once(
    web: AsyncTestClient[Any], migrated: Settings, tmp_path: Any
) -> None:
    """The BundID profile over the vault's pages: AuthnRequest out, a signed assertion back at the ACS."""
    import base64
    import zlib
    from urllib.parse import parse_qsl
    from xml.etree import ElementTree as ET

    from litestar import Litestar as App

    from examples.eid_provider.personas import STORK
    from examples.eid_provider.saml_idp import SamlIdp, handlers_for
    from vault.identity.saml import register_saml

    idp_url = "https://saml-idp.test"
    sp_file = tmp_path / "sp-metadata.xml"
    idp = SamlIdp(idp_url, [str(sp_file)])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=App(handlers_for(idp))),  # type: ignore[arg-type]
        base_url=idp_url,
    ) as idp_browser:
        metadata = (await idp_browser.get("/saml/metadata")).text
    async with domain(migrated) as runtime:
        levels = {STORK["high"]: "high", STORK["substantial"]: "substantial"}
        provider_id = await register_saml(
            runtime.services.providers, name="BundID-Test", metadata_xml=metadata, acr_map=levels, claims_map=None,
            vault_issuer=BASE_URL,
        )  # fmt: skip
        provider = await runtime.services.providers.get(provider_id)
        assert provider is not None
    served = await web.get(f"/login/idp/saml/{provider_id}/metadata")
    assert served.status_code == 200
    assert provider.client_id == BASE_URL + f"/login/idp/saml/{provider_id}/metadata"
    sp_file.write_text(served.text)
    token = form_token((await web.get("/register")).text)
    started = await web.post(f"/login/idp/{provider_id}", data={"csrf_token": token, "purpose": "register"})
    assert started.status_code == 303
    assert started.headers["location"].startswith(idp_url + "/saml/sso?")
    params = dict(parse_qsl(urlsplit(started.headers["location"]).query))
    request = ET.fromstring(zlib.decompress(base64.b64decode(params["SAMLRequest"]), -15))
    assert "STORK-QAA-Level-4" in ET.tostring(request, encoding="unicode")  # RequestedAuthnContext minimum
    answer = idp.build_response(provider.client_id, request.get("ID") or "", "erika")
    form = {"SAMLResponse": answer, "RelayState": params["RelayState"]}
    done = await web.post("/login/idp/saml/acs", data=form)
    assert done.status_code == 303, done.text
    attributes = (await web.get("/api/v1/me/attributes")).json()["attributes"]
    assert attributes["given_name"]["value"] == "Erika"
    assert attributes["given_name"]["source"].startswith(f"idp:{provider_id}:")
    assert "bestätigt durch BundID-Test" in (await web.get("/data")).text
    web.cookies.clear()
    replayed = await web.post("/login/idp/saml/acs", data=form)
    assert replayed.status_code == 400
    assert (await web.get("/api/v1/me/attributes")).status_code == 401


async def test_starting_sign_ins_is_limited_per_address(
    web: AsyncTestClient[Any], eid: Eid, migrated: Settings
) -> None:
    """Each start stores a row before anyone signed in, so a flood of starts is refused like passkey challenges."""
    from vault.identity.tables import IdentityRequest

    web.app.state.runtime.settings.challenge_limit = 2
    assert (await _start(web, eid, "login")).status_code == 303
    assert (await _start(web, eid, "login")).status_code == 303
    refused = await _start(web, eid, "login")
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    async with domain(migrated) as runtime, runtime.sessions() as db:
        assert await db.scalar(select(func.count()).select_from(IdentityRequest)) == 2


async def test_agencies_get_verified_by_only_while_the_id_is_linked(
    web: AsyncTestClient[Any], eid: Eid, migrated: Settings
) -> None:
    """The provenance an agency reads (issue 19 item 6), and that an unlink withdraws the confirmation."""
    agency = TestAgency(BASE_URL)
    async with domain(migrated) as runtime:
        agency.client_id = await runtime.services.catalogue.add_agency(
            "Bürgeramt Köln", [agency.redirect_uri], agency.jwks()
        )
        toml = service_toml(agency.client_id, access='access = "ongoing"', documents="documents = []")
        await runtime.services.catalogue.add_service(parse_service(toml))
    await register(web, "provenance@example.de")
    differing = {"value": {"street": "Alte Straße", "house_number": "1", "postal_code": "50667", "city": "Köln",
                           "country": "DE"}}  # fmt: skip
    headers = {"X-CSRF-Token": await session_token(web)}
    assert (await web.put("/api/v1/me/attributes/address", json=differing, headers=headers)).status_code == 200
    linked = await _through(web, eid, "link")
    assert linked.headers["location"] == "/settings?linked=1&differs=address"
    notice = await web.get(linked.headers["location"])
    assert "weichen von Ihrem Ausweis ab" in notice.text
    assert "Anschrift" in notice.text
    verifier, challenge = pkce_pair()
    par = await web.post("/oauth/par", data=agency.par_form(challenge=challenge))
    here = f"/oauth/authorize?client_id={quote(agency.client_id)}&request_uri={quote(par.json()['request_uri'])}"
    assert (await web.get(here)).status_code == 200
    form = {"client_id": agency.client_id, "request_uri": par.json()["request_uri"], "decision": "approve"}
    approved = await web.post("/oauth/authorize", data={**form, "csrf_token": await session_token(web)})
    code = parse_qs(urlsplit(approved.headers["location"]).query)["code"][0]
    token_url = BASE_URL + "/oauth/token"
    tokens = await web.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
              "redirect_uri": agency.redirect_uri, "client_id": agency.client_id, **agency.auth()},
        headers={"DPoP": agency.dpop("POST", token_url)},
    )  # fmt: skip
    access = tokens.json()["access_token"]

    async def read() -> dict[str, Any]:
        proof = agency.dpop("GET", BASE_URL + "/api/v1/data", access)
        answer = await web.get("/api/v1/data", headers={"Authorization": f"DPoP {access}", "DPoP": proof})
        assert answer.status_code == 200, answer.text
        return dict(answer.json()["attributes"])

    before = await read()
    assert before["given_name"]["verified_by"] == {"provider": "Test-eID", "issuer": ISSUER, "kind": "oidc",
                                                   "level": "high"}  # fmt: skip
    assert "verified_by" not in before["address"]  # the citizen's own, differing value: not confirmed
    assert before["address"]["source"] == "self"
    settings = await web.get("/settings")
    link_id = re.search(r'action="/settings/identity/([^"]+)/unlink"', settings.text)
    assert link_id
    gone = await web.post(
        f"/settings/identity/{link_id.group(1)}/unlink", data={"csrf_token": await session_token(web)}
    )
    assert gone.status_code == 303
    after = await read()
    assert after["given_name"]["source"].startswith(f"idp:{eid.provider_id}:")  # where it came from stays true
    assert "verified_by" not in after["given_name"]  # but nobody vouches for it any more
    assert "nicht mehr verknüpft" in (await web.get("/data")).text


async def test_the_session_the_browser_left_with_ends_even_when_the_answer_comes_without_its_cookie(
    web: AsyncTestClient[Any], eid: Eid, migrated: Settings
) -> None:
    """A SAML IdP posts back cross-site, so the SameSite=Lax session cookie is not sent: the old session is
    found by the hash stored when the sign-in started, and ends."""
    from vault.api.auth import SESSION_COOKIE

    await register(web, "two-sessions@example.de")
    old = web.cookies.get(SESSION_COOKIE)
    back = await _at_provider(eid, await _start(web, eid, "link"))
    web.cookies.delete(SESSION_COOKIE)  # as on a cross-site POST
    assert (await web.get(back)).status_code == 303
    new = web.cookies.get(SESSION_COOKIE)
    assert new
    assert new != old
    async with domain(migrated) as runtime:
        assert await runtime.services.session_service.resolve(old or "") is None
        assert await runtime.services.session_service.resolve(new) is not None


async def test_the_provider_is_asked_to_speak_the_pages_language(web: AsyncTestClient[Any], eid: Eid) -> None:
    eid.app.state.provider.auto_persona = None  # show the persona page
    token = form_token((await web.get("/login?lang=en")).text)
    started = await web.post(f"/login/idp/{eid.provider_id}", data={"csrf_token": token, "purpose": "login"})
    async with eid.browser() as browser:
        at_provider = await browser.get(started.headers["location"])
    assert at_provider.status_code == 303
    assert "lang=en" in at_provider.headers["location"]  # ui_locales=en went through PAR
