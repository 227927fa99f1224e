"""The OIDC relying party's pure rules: discovery, the authorization request, the callback, the ID token."""

from __future__ import annotations

import base64
import json
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey, OKPKey, RSAKey

from examples.eid_provider.personas import ACR
from vault.crypto.idp import ClientKey
from vault.identity.claims import DEFAULT_OIDC_CLAIMS
from vault.identity.model import IdentityError
from vault.identity.oidc import (
    PINNED_ENDPOINTS,
    DiscoveryInvalid,
    UnknownKeyId,
    acr_values,
    authorization_params,
    changed_endpoints,
    check_callback,
    check_discovery,
    client_assertion,
    code_challenge,
    is_allowed_endpoint,
    is_secure_url,
    validate_id_token,
)
from vault.identity.providers import ProviderConfig

ISSUER = "https://eid.example"
CLIENT_ID = "vault-client"
NONCE = "n-0S6_WzA2Mj"
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
KEY = ECKey.generate_key("P-256", parameters={"kid": "k1"})
OTHER_KEY_SAME_KID = ECKey.generate_key("P-256", parameters={"kid": "k1"})
UNKNOWN_KEY = ECKey.generate_key("P-256", parameters={"kid": "k2"})
JWKS = KeySet.import_key_set({"keys": [KEY.as_dict(private=False)]})
PUBLIC_JWKS_TEXT = json.dumps({"keys": [KEY.as_dict(private=False)]})
ACR_MAP = {ACR["high"]: "high", ACR["substantial"]: "substantial", "urn:low": "basic"}

PROVIDER = ProviderConfig(
    id="p-1",
    name="Test-eID",
    kind="oidc",
    issuer=ISSUER,
    client_id=CLIENT_ID,
    auth_method="private_key_jwt",
    acr_map=ACR_MAP,
    claims_map=DEFAULT_OIDC_CLAIMS,
    metadata_doc="{}",
    secret_sealed=b"",
    created_at=NOW,
    disabled=False,
)


def claims(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "pairwise-erika",
        "aud": CLIENT_ID,
        "nonce": NONCE,
        "iat": int((NOW - timedelta(seconds=5)).timestamp()),
        "exp": int((NOW + timedelta(minutes=5)).timestamp()),
        "auth_time": int((NOW - timedelta(seconds=30)).timestamp()),
        "acr": ACR["high"],
        "given_name": "Erika",
        "family_name": "Mustermann",
        "birthdate": "1964-08-12",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], key: Any = KEY, alg: str = "ES256", **header: Any) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return jwt.encode({"alg": alg, "kid": key.kid, **header}, payload, key, algorithms=[alg])


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def validate(token: str, *, nonce: str = NONCE, jwks: KeySet = JWKS) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return validate_id_token(token, jwks, PROVIDER, nonce=nonce, now=NOW)


# --- the ID token: one case per fault -----------------------------------------------------------------------

HS_KEY = OctKey.import_key(PUBLIC_JWKS_TEXT.encode())
FAULTS: list[tuple[str, Any, str]] = [
    ("bad signature", lambda: sign(claims(), OTHER_KEY_SAME_KID), "bad signature"),
    ("alg none", lambda: f"{b64({'alg': 'none', 'kid': 'k1'})}.{b64(claims())}.c2ln", "not allowed"),
    ("alg none without signature", lambda: f"{b64({'alg': 'none', 'kid': 'k1'})}.{b64(claims())}.", "compact"),
    ("HS256 with the JWKS as secret", lambda: sign(claims(), HS_KEY, "HS256", kid="k1"), "not allowed"),
    ("HS512", lambda: sign(claims(), HS_KEY, "HS512", kid="k1"), "not allowed"),
    ("alg not matching the key type", lambda: f"{b64({'alg': 'RS256', 'kid': 'k1'})}.{b64(claims())}.c2ln",
     "no single key"),
    ("embedded jwk header", lambda: sign(claims(), KEY, jwk=UNKNOWN_KEY.as_dict(private=False)), "embedded"),
    ("wrong iss", lambda: sign(claims(iss="https://evil.example")), "iss"),
    ("iss with a trailing slash", lambda: sign(claims(iss=ISSUER + "/")), "iss"),
    ("wrong aud", lambda: sign(claims(aud="another-client")), "aud"),
    ("aud list without us", lambda: sign(claims(aud=["a", "b"], azp="a")), "aud"),
    ("missing azp with two audiences", lambda: sign(claims(aud=[CLIENT_ID, "other"])), "azp missing"),
    ("wrong azp", lambda: sign(claims(aud=[CLIENT_ID, "other"], azp="other")), "azp is not"),
    ("wrong azp, one audience", lambda: sign(claims(azp="other")), "azp is not"),
    ("expired beyond the skew", lambda: sign(claims(exp=int((NOW - timedelta(seconds=61)).timestamp()))), "expired"),
    ("no exp", lambda: sign(claims(exp=None)), "exp missing"),
    ("iat in the future", lambda: sign(claims(iat=int((NOW + timedelta(seconds=61)).timestamp()))), "future"),
    ("iat too old", lambda: sign(claims(iat=int((NOW - timedelta(minutes=11)).timestamp()))), "too long ago"),
    ("no iat", lambda: sign(claims(iat=None)), "iat missing"),
    ("iat as a string", lambda: sign(claims(iat=str(int(NOW.timestamp())))), "iat missing"),
    ("wrong nonce", lambda: sign(claims(nonce="another")), "nonce"),
    ("missing nonce", lambda: sign(claims(nonce=None)), "nonce"),
    ("missing sub", lambda: sign(claims(sub=None)), "sub"),
    ("empty sub", lambda: sign(claims(sub="")), "sub"),
    ("sub too long", lambda: sign(claims(sub="s" * 256)), "sub"),
    ("malformed compact token", lambda: "not-a-token", "compact"),
    ("two parts only", lambda: sign(claims()).rsplit(".", 1)[0], "compact"),
    ("header not JSON", lambda: "bm90LWpzb24." + sign(claims()).split(".", 1)[1], "malformed header"),
    ("payload not JSON", lambda: sign(claims())[:-3] + "xxx", "bad signature"),
    ("oversized token (> 16 KiB)", lambda: sign(claims(pad="x" * 16_500)), "oversized"),
]  # fmt: skip


@pytest.mark.parametrize(("make", "detail"), [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS])
def test_each_fault_is_refused(make: Any, detail: str) -> None:
    with pytest.raises(IdentityError) as refused:
        validate(make())
    assert refused.value.code == "invalid_id_token"
    assert detail in refused.value.detail


def test_an_unknown_kid_is_its_own_fault_so_the_client_can_refetch_once() -> None:
    with pytest.raises(UnknownKeyId) as refused:
        validate(sign(claims(), UNKNOWN_KEY))
    assert refused.value.code == "invalid_id_token"
    assert refused.value.kid == "k2"


def test_an_empty_nonce_never_matches_a_token_without_one() -> None:
    with pytest.raises(IdentityError, match="nonce"):
        validate(sign(claims(nonce=None)), nonce="")


def test_the_happy_path() -> None:
    proven = validate(sign(claims(address={"street_address": "Heidestraße 17", "postal_code": "51147",
                                           "locality": "Köln", "country": "DE"})))  # fmt: skip
    assert proven.provider_id == "p-1"
    assert proven.subject == "pairwise-erika"
    assert (proven.level, proven.acr) == ("high", ACR["high"])
    assert proven.authenticated_at == NOW - timedelta(seconds=30)
    assert proven.claims["given_name"] == "Erika"
    assert proven.claims["birth_date"] == "1964-08-12"
    assert proven.claims["address"] == {"street": "Heidestraße", "house_number": "17", "postal_code": "51147",
                                        "city": "Köln", "country": "DE"}  # fmt: skip


@pytest.mark.parametrize(
    ("acr", "level"),
    [
        (ACR["high"], "high"),
        (ACR["substantial"], "substantial"),  # lower than a caller may have asked: returned, the caller decides
        ("urn:low", "basic"),
        ("urn:unmapped", "basic"),
        (None, "basic"),
        (7, "basic"),
    ],
)
def test_acr_is_mapped_and_a_lower_level_is_returned_not_refused(acr: object, level: str) -> None:
    proven = validate(sign(claims(acr=acr)))
    assert proven.level == level


def test_skew_is_tolerated_within_sixty_seconds() -> None:
    token = sign(
        claims(
            exp=int((NOW - timedelta(seconds=50)).timestamp()),
            iat=int((NOW + timedelta(seconds=50)).timestamp()),
        )
    )
    assert validate(token).subject == "pairwise-erika"


def test_several_audiences_with_our_azp_are_accepted() -> None:
    assert validate(sign(claims(aud=[CLIENT_ID, "other"], azp=CLIENT_ID))).subject == "pairwise-erika"


@pytest.mark.parametrize(
    ("key", "alg"),
    [
        (ECKey.generate_key("P-384", parameters={"kid": "e384"}), "ES384"),
        (RSAKey.generate_key(2048, parameters={"kid": "r"}), "PS256"),
        (RSAKey.generate_key(2048, parameters={"kid": "r"}), "PS384"),
        (RSAKey.generate_key(2048, parameters={"kid": "r"}), "RS256"),
        (OKPKey.generate_key("Ed25519", parameters={"kid": "ed"}), "EdDSA"),
    ],
)
def test_every_allowed_algorithm_verifies(key: Any, alg: str) -> None:
    jwks = KeySet.import_key_set({"keys": [key.as_dict(private=False)]})
    assert validate(sign(claims(), key, alg), jwks=jwks).subject == "pairwise-erika"


def test_a_token_without_kid_needs_exactly_one_fitting_key() -> None:
    token = jwt.encode({"alg": "ES256"}, claims(), KEY, algorithms=["ES256"])
    assert validate(token).subject == "pairwise-erika"
    two = KeySet.import_key_set({"keys": [KEY.as_dict(private=False), UNKNOWN_KEY.as_dict(private=False)]})
    with pytest.raises(IdentityError, match="no single key"):
        validate(token, jwks=two)


def test_a_key_marked_for_encryption_is_not_used_to_verify() -> None:
    enc = KeySet.import_key_set({"keys": [{**KEY.as_dict(private=False), "use": "enc"}]})
    with pytest.raises(UnknownKeyId):
        validate(sign(claims()), jwks=enc)


# --- discovery ----------------------------------------------------------------------------------------------


def discovery(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/authorize",
        "token_endpoint": f"{ISSUER}/token",
        "jwks_uri": f"{ISSUER}/jwks",
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "id_token_signing_alg_values_supported": ["ES256", "HS256"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic"],
    }
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not None}


DISCOVERY_FAULTS = [
    ("not an object", ["issuer"], "not a JSON object"),
    ("issuer differs", discovery(issuer="https://other.example"), "names issuer"),
    ("issuer differs by a trailing slash", discovery(issuer=ISSUER + "/"), "names issuer"),
    ("no issuer", discovery(issuer=None), "names issuer"),
    ("no authorization endpoint", discovery(authorization_endpoint=None), "authorization_endpoint"),
    ("no token endpoint", discovery(token_endpoint=None), "token_endpoint"),
    ("no jwks_uri", discovery(jwks_uri=None), "jwks_uri"),
    ("http token endpoint", discovery(token_endpoint="http://eid.example/token"), "https"),
    ("http PAR endpoint", discovery(pushed_authorization_request_endpoint="http://eid.example/par"), "https"),
    ("no PKCE", discovery(code_challenge_methods_supported=None), "S256"),
    ("plain PKCE only", discovery(code_challenge_methods_supported=["plain"]), "S256"),
    ("only symmetric or none algorithms", discovery(id_token_signing_alg_values_supported=["HS256", "none"]),
     "none of"),
    ("no signing algorithms", discovery(id_token_signing_alg_values_supported=None), "none of"),
    ("no code flow", discovery(response_types_supported=["id_token"]), "response_type code"),
    ("auth method not supported", discovery(token_endpoint_auth_methods_supported=["client_secret_post"]),
     "private_key_jwt"),
    ("malformed list", discovery(code_challenge_methods_supported="S256"), "list of strings"),
]  # fmt: skip


@pytest.mark.parametrize(("doc", "reason"), [f[1:] for f in DISCOVERY_FAULTS], ids=[f[0] for f in DISCOVERY_FAULTS])
def test_discovery_faults(doc: object, reason: str) -> None:
    with pytest.raises(DiscoveryInvalid) as refused:
        check_discovery(doc, ISSUER, "private_key_jwt")
    assert reason in refused.value.reason


@pytest.mark.parametrize("issuer", ["http://eid.example", "ftp://eid.example", "https://user@eid.example", "eid"])
def test_an_insecure_issuer_is_refused(issuer: str) -> None:
    with pytest.raises(DiscoveryInvalid, match="https"):
        check_discovery(discovery(issuer=issuer), issuer, "private_key_jwt")


@pytest.mark.parametrize("issuer", ["http://127.0.0.1:8081", "http://localhost:8081", "http://[::1]:8081/eid"])
def test_loopback_http_is_allowed_for_tests_and_the_demo(issuer: str) -> None:
    doc = discovery(issuer=issuer, authorization_endpoint=f"{issuer}/a", token_endpoint=f"{issuer}/t",
                    jwks_uri=f"{issuer}/j")  # fmt: skip
    assert check_discovery(doc, issuer, "private_key_jwt").token_endpoint == f"{issuer}/t"


# SSRF: a provider's discovery document must not point the vault's requests at the vault's own network.
REFUSED_ENDPOINTS = [
    "http://127.0.0.1:8080/token",
    "http://localhost:8080/token",
    "https://127.0.0.1/token",
    "https://127.1/token",  # an inet_aton form a resolver reads as 127.0.0.1
    "https://2130706433/token",  # 127.0.0.1 as one number
    "https://0x7f.0.0.1/token",
    "https://localhost/token",
    "https://vault.localhost/token",
    "https://localhost./token",
    "https://10.0.0.5/token",
    "https://172.16.0.1/token",
    "https://192.168.1.1/token",
    "https://169.254.169.254/latest/meta-data",  # cloud metadata, link-local
    "https://100.64.0.1/token",  # shared address space: not global
    "https://0.0.0.0/token",
    "https://224.0.0.1/token",
    "https://240.0.0.1/token",  # reserved
    "https://[::1]/token",
    "https://[::ffff:127.0.0.1]/token",  # IPv4-mapped loopback
    "https://[::ffff:a9fe:a9fe]/token",  # IPv4-mapped 169.254.169.254
    "https://[fe80::1]/token",
    "https://[fd00::1]/token",
    "https://[::]/token",
    "https://例え.jp/auth",  # non-ASCII host (it would also break the CSP header)
    "https://xn--r8jz45g.jp\u00a0/auth",
    "https://*.eid.example/token",
    "https://user:pw@eid.example/token",
    "https://eid.example:https/token",
    "https://eid.example:0/token",
    "https://eid.example:99999/token",
    "https://eid.example/token#frag",
    "https://eid.example\\@evil.example/token",
    "https://eid\n.example/token",  # urlsplit drops the newline; another parser may not
    "https://-eid.example/token",
    "https://eid..example/token",
    "http://eid.example/token",
    "ftp://eid.example/token",
    "//eid.example/token",
]


@pytest.mark.parametrize("url", REFUSED_ENDPOINTS)
def test_an_endpoint_on_a_local_or_malformed_host_is_refused(url: str) -> None:
    assert not is_allowed_endpoint(url, ISSUER)
    with pytest.raises(DiscoveryInvalid, match="token_endpoint must be an https URL on a public host"):
        check_discovery(discovery(token_endpoint=url), ISSUER, "private_key_jwt")


@pytest.mark.parametrize("name", ["authorization_endpoint", "jwks_uri", "pushed_authorization_request_endpoint"])
def test_every_endpoint_obeys_the_rule(name: str) -> None:
    with pytest.raises(DiscoveryInvalid, match=name):
        check_discovery(discovery(**{name: "https://169.254.169.254/x"}), ISSUER, "private_key_jwt")


@pytest.mark.parametrize(
    "url",
    [
        "https://eid.example/token",
        "https://login.eid.example:8443/token?x=1",
        "https://EID.Example/token",
        "https://xn--r8jz45g.jp/auth",  # the ASCII (punycode) form of a non-ASCII name
        "https://93.184.216.34/token",
        "https://[2606:4700:4700::1111]/token",
        "https://eid-1.example/token",
    ],
)
def test_an_endpoint_on_a_public_host_is_allowed(url: str) -> None:
    assert is_allowed_endpoint(url, ISSUER)


@pytest.mark.parametrize("issuer", ["http://127.0.0.1:8081", "http://localhost:8081", "http://[::1]:8081"])
def test_a_loopback_issuer_may_name_loopback_endpoints_but_nothing_private(issuer: str) -> None:
    assert is_allowed_endpoint("http://127.0.0.1:9000/token", issuer)
    assert is_allowed_endpoint("https://localhost:9000/token", issuer)
    assert is_allowed_endpoint("https://eid.example/token", issuer)
    assert not is_allowed_endpoint("http://eid.example/token", issuer)
    assert not is_allowed_endpoint("https://10.0.0.5/token", issuer)
    assert not is_allowed_endpoint("http://169.254.169.254/latest/meta-data", issuer)


def test_an_https_issuer_on_loopback_does_not_open_loopback_endpoints() -> None:
    assert not is_allowed_endpoint("https://127.0.0.1/token", "https://127.0.0.1")
    assert not is_allowed_endpoint("http://127.0.0.1/token", "https://127.0.0.1")


def test_a_non_ascii_issuer_is_refused() -> None:
    assert not is_secure_url("https://例え.jp")
    with pytest.raises(DiscoveryInvalid, match="https"):
        check_discovery(discovery(issuer="https://例え.jp"), "https://例え.jp", "private_key_jwt")


# Pinning: the endpoints checked at registration are the only ones used later.
def test_the_registered_endpoints_are_unchanged() -> None:
    registered = discovery(pushed_authorization_request_endpoint=f"{ISSUER}/par")
    checked = check_discovery(registered, ISSUER, "private_key_jwt")
    assert changed_endpoints(checked, json.dumps(registered)) == []
    other = {**registered, "scopes_supported": ["openid"], "id_token_signing_alg_values_supported": ["PS256"]}
    assert changed_endpoints(check_discovery(other, ISSUER, "private_key_jwt"), json.dumps(registered)) == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("authorization_endpoint", "https://phish.example/authorize"),
        ("token_endpoint", f"{ISSUER}/token2"),
        ("jwks_uri", "https://keys.example/jwks"),
        ("pushed_authorization_request_endpoint", f"{ISSUER}/par2"),
        ("pushed_authorization_request_endpoint", None),
    ],
)
def test_a_moved_endpoint_is_a_change(name: str, value: str | None) -> None:
    registered = discovery(pushed_authorization_request_endpoint=f"{ISSUER}/par")
    moved = check_discovery({**registered, name: value} if value else discovery(), ISSUER, "private_key_jwt")
    assert changed_endpoints(moved, json.dumps(registered)) == [name]


def test_a_par_endpoint_added_later_is_a_change() -> None:
    moved = check_discovery(discovery(pushed_authorization_request_endpoint=f"{ISSUER}/par"), ISSUER, "private_key_jwt")
    assert changed_endpoints(moved, json.dumps(discovery())) == ["pushed_authorization_request_endpoint"]


@pytest.mark.parametrize("stored", ["{}", "", "not json", "[]", "null"])
def test_a_registration_without_a_usable_document_changes_everything(stored: str) -> None:
    checked = check_discovery(discovery(), ISSUER, "private_key_jwt")
    assert changed_endpoints(checked, stored)[:3] == list(PINNED_ENDPOINTS[:3])  # fail closed


def test_discovery_keeps_what_the_client_needs() -> None:
    checked = check_discovery(
        discovery(
            pushed_authorization_request_endpoint=f"{ISSUER}/par",
            authorization_response_iss_parameter_supported=True,
        ),
        ISSUER,
        "private_key_jwt",
    )
    assert checked.par_endpoint == f"{ISSUER}/par"
    assert checked.iss_parameter_supported is True
    assert checked.signing_algs == ("ES256",)
    plain = check_discovery(discovery(), ISSUER, "private_key_jwt")
    assert plain.par_endpoint is None
    assert plain.iss_parameter_supported is False


def test_without_auth_methods_only_client_secret_basic_is_assumed() -> None:
    doc = discovery(token_endpoint_auth_methods_supported=None)
    assert check_discovery(doc, ISSUER, "client_secret_basic").issuer == ISSUER
    with pytest.raises(DiscoveryInvalid):
        check_discovery(doc, ISSUER, "private_key_jwt")


# --- the authorization request ------------------------------------------------------------------------------


def test_pkce_s256_known_answer_rfc7636_appendix_b() -> None:
    assert (
        code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("high", ACR["high"]),
        ("substantial", f"{ACR['high']} {ACR['substantial']}"),
        ("basic", None),
        ("unknown", None),
    ],
)
def test_acr_values_name_every_acr_at_or_above_the_level(level: str, expected: str | None) -> None:
    assert acr_values(ACR_MAP, level) == expected


def test_authorization_params() -> None:
    params = authorization_params(
        PROVIDER, redirect_uri="https://vault.example/login/idp/callback", state="s", nonce="n",
        code_verifier="dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", level="high",
    )  # fmt: skip
    assert params == {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": "https://vault.example/login/idp/callback",
        "scope": "openid",
        "state": "s",
        "nonce": "n",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
        "acr_values": ACR["high"],
    }
    basic = authorization_params(
        PROVIDER, redirect_uri="r", state="s", nonce="n", code_verifier="v" * 43, level="basic"
    )
    assert "acr_values" not in basic


# --- the callback (RFC 9207) --------------------------------------------------------------------------------

CALLBACKS = [
    ("iss advertised and missing", {"code": "c"}, True, "wrong_issuer"),
    ("iss advertised and wrong", {"code": "c", "iss": "https://evil.example"}, True, "wrong_issuer"),
    ("iss not advertised but present and wrong", {"code": "c", "iss": "https://evil.example"}, False, "wrong_issuer"),
    ("iss with a trailing slash", {"code": "c", "iss": ISSUER + "/"}, True, "wrong_issuer"),
    ("error from the right issuer", {"error": "access_denied", "iss": ISSUER}, True, "provider_error"),
    ("error from a wrong issuer", {"error": "access_denied", "iss": "https://evil.example"}, True, "wrong_issuer"),
    ("error without iss, not advertised", {"error": "access_denied"}, False, "provider_error"),
    ("no code", {"iss": ISSUER}, True, "provider_error"),
]


@pytest.mark.parametrize(("params", "advertised", "code"), [c[1:] for c in CALLBACKS], ids=[c[0] for c in CALLBACKS])
def test_callback_faults(params: dict[str, str], advertised: bool, code: str) -> None:
    with pytest.raises(IdentityError) as refused:
        check_callback(params, issuer=ISSUER, iss_required=advertised)
    assert refused.value.code == code


def test_callback_code() -> None:
    assert check_callback({"code": "c", "iss": ISSUER}, issuer=ISSUER, iss_required=True) == "c"
    assert check_callback({"code": "c"}, issuer=ISSUER, iss_required=False) == "c"


# --- private_key_jwt ----------------------------------------------------------------------------------------


def test_client_assertion() -> None:
    key = ClientKey(KEY.as_pem(private=True))
    assert key.alg == "ES256"
    token = client_assertion(key, client_id=CLIENT_ID, audience=ISSUER, now=NOW)
    decoded = jwt.decode(token, KEY, algorithms=["ES256"])
    assert decoded.header["kid"] == KEY.thumbprint()  # a PEM carries no kid
    c = decoded.claims
    assert (c["iss"], c["sub"], c["aud"]) == (CLIENT_ID, CLIENT_ID, ISSUER)
    assert c["exp"] - c["iat"] == 60
    other = jwt.decode(client_assertion(key, client_id=CLIENT_ID, audience=ISSUER, now=NOW), KEY)
    assert len(c["jti"]) >= 32
    assert other.claims["jti"] != c["jti"]
