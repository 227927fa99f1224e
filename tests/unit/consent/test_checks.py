"""The authorization server's pure rules, case by case: PKCE, exact redirect match, state, RAR narrowing, tokens."""

from __future__ import annotations

import json
import string
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.catalogue import service_toml
from vault.consent.catalogue import parse_service
from vault.consent.checks import (
    MAX_STATE,
    check_code,
    check_code_challenge,
    check_grant_type,
    check_redirect_uri,
    check_refresh_token,
    check_response_type,
    check_state,
    details,
    introspectable,
    missing_documents,
    narrow,
    parse_authorization_details,
    pkce_challenge,
    pkce_matches,
    redirect_to,
    token_problem,
)
from vault.consent.errors import (
    InvalidAuthorizationDetails,
    InvalidDpopProof,
    InvalidGrant,
    InvalidRequest,
    InvalidToken,
    OAuthError,
    UnsupportedGrantType,
    UnsupportedResponseType,
)
from vault.consent.grants import GrantRow
from vault.consent.tables import Token

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
CLIENT = "agency-test"
REDIRECT = "https://agency.example/callback"
#: RFC 7636 Appendix B.
RFC_VERIFIER, RFC_CHALLENGE = (
    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
    "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
)
UNRESERVED = string.ascii_letters + string.digits + "-._~"
DOCUMENTS = (
    'documents = [{ kind = "rental_confirmation", required = true, late_submission = true },'
    ' { kind = "id_card" }, { kind = "payslip", required = false }]'
)
SERVICE = parse_service(service_toml(CLIENT, documents=DOCUMENTS))
ALL_FIELDS = ("given_name", "family_name", "birth_date", "address", "email")
ALL_KINDS = ("rental_confirmation", "id_card", "payslip")


def _refused(error: type[OAuthError], description: str, call: Any, *args: Any) -> None:
    with pytest.raises(error) as refused:
        call(*args)
    assert type(refused.value) is error
    assert refused.value.description == description


# -- response and grant types ------------------------------------------------------------------


@pytest.mark.parametrize("response_type", [None, "", "token", "CODE", "code ", "code id_token", "id_token"])
def test_only_the_code_response_type_passes(response_type: str | None) -> None:
    _refused(UnsupportedResponseType, "response_type must be code", check_response_type, response_type)


def test_the_code_response_type_passes() -> None:
    check_response_type("code")


@pytest.mark.parametrize("grant_type", ["authorization_code", "refresh_token"])
def test_the_two_grant_types_pass(grant_type: str) -> None:
    assert check_grant_type(grant_type) == grant_type


@pytest.mark.parametrize(
    "grant_type",
    [
        None,
        "",
        "client_credentials",
        "password",
        "implicit",
        "Authorization_Code",
        "refresh_token ",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    ],
)
def test_every_other_grant_type_is_unsupported(grant_type: str | None) -> None:
    message = "grant_type must be authorization_code or refresh_token"
    _refused(UnsupportedGrantType, message, check_grant_type, grant_type)


# -- PKCE --------------------------------------------------------------------------------------


def test_the_s256_challenge_is_rfc_7636s() -> None:
    assert pkce_challenge(RFC_VERIFIER) == RFC_CHALLENGE
    assert pkce_matches(RFC_VERIFIER, RFC_CHALLENGE)


@pytest.mark.parametrize(
    ("method", "challenge", "description"),
    [
        (None, RFC_CHALLENGE, "PKCE with code_challenge_method=S256 is required"),
        ("", RFC_CHALLENGE, "PKCE with code_challenge_method=S256 is required"),
        ("plain", RFC_CHALLENGE, "PKCE with code_challenge_method=S256 is required"),
        ("plain", RFC_VERIFIER, "PKCE with code_challenge_method=S256 is required"),
        ("s256", RFC_CHALLENGE, "PKCE with code_challenge_method=S256 is required"),
        ("S256 ", RFC_CHALLENGE, "PKCE with code_challenge_method=S256 is required"),
        ("SHA256", RFC_CHALLENGE, "PKCE with code_challenge_method=S256 is required"),
        ("S256", "", "code_challenge must be the 43-character S256 challenge"),
        ("S256", RFC_CHALLENGE[:-1], "code_challenge must be the 43-character S256 challenge"),
        ("S256", RFC_CHALLENGE + "A", "code_challenge must be the 43-character S256 challenge"),
        ("S256", RFC_CHALLENGE + "=", "code_challenge must be the 43-character S256 challenge"),
        ("S256", RFC_CHALLENGE[:-1] + "+", "code_challenge must be the 43-character S256 challenge"),
        ("S256", RFC_CHALLENGE[:-1] + "/", "code_challenge must be the 43-character S256 challenge"),
        ("S256", RFC_CHALLENGE[:-1] + ".", "code_challenge must be the 43-character S256 challenge"),
        ("S256", RFC_CHALLENGE[:-1] + "~", "code_challenge must be the 43-character S256 challenge"),
        ("S256", RFC_CHALLENGE[:-1] + " ", "code_challenge must be the 43-character S256 challenge"),
        ("S256", RFC_CHALLENGE[:-1] + "ä", "code_challenge must be the 43-character S256 challenge"),
        ("S256", RFC_CHALLENGE + "\n", "code_challenge must be the 43-character S256 challenge"),
        ("S256", "A" * 64, "code_challenge must be the 43-character S256 challenge"),
    ],
)
def test_a_challenge_must_be_s256_and_well_formed(method: str | None, challenge: str, description: str) -> None:
    _refused(InvalidRequest, description, check_code_challenge, method, challenge)


@pytest.mark.parametrize("challenge", [RFC_CHALLENGE, pkce_challenge("~" * 128), "A" * 43, "-_" * 21 + "0"])
def test_a_well_formed_s256_challenge_passes(challenge: str) -> None:
    check_code_challenge("S256", challenge)


@pytest.mark.parametrize(
    ("verifier", "matches"),
    [
        (RFC_VERIFIER, True),
        ("a" * 43, True),
        ("a" * 128, True),
        (UNRESERVED[:43], True),
        ("a" * 42, False),  # too short
        ("a" * 129, False),  # too long
        ("", False),
        ("a" * 42 + " ", False),
        ("a" * 42 + "+", False),
        ("a" * 42 + "/", False),
        ("a" * 42 + "=", False),
        ("a" * 42 + "ä", False),
        ("a" * 42 + "\n", False),
        ("a" * 42 + "%", False),
    ],
)
def test_a_verifier_matches_its_own_challenge_only_if_well_formed(verifier: str, matches: bool) -> None:
    assert pkce_matches(verifier, pkce_challenge(verifier)) is matches


@pytest.mark.parametrize(
    ("verifier", "challenge"),
    [
        (RFC_VERIFIER, RFC_CHALLENGE[:-1] + "N"),  # one character off
        (RFC_VERIFIER[:-1] + "l", RFC_CHALLENGE),
        (RFC_VERIFIER, RFC_VERIFIER),  # "plain": the verifier as its own challenge
        (RFC_VERIFIER, ""),
        (RFC_VERIFIER, RFC_CHALLENGE + "="),
        (RFC_VERIFIER, RFC_CHALLENGE.lower()),
    ],
)
def test_a_verifier_does_not_match_another_challenge(verifier: str, challenge: str) -> None:
    assert not pkce_matches(verifier, challenge)


@given(st.text(alphabet=UNRESERVED, min_size=43, max_size=128), st.text(alphabet=UNRESERVED, min_size=43, max_size=128))
def test_any_well_formed_verifier_matches_its_challenge_and_no_other(verifier: str, other: str) -> None:
    challenge = pkce_challenge(verifier)
    check_code_challenge("S256", challenge)
    assert pkce_matches(verifier, challenge)
    assert pkce_matches(other, challenge) is (other == verifier)


# -- exact redirect match ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "",
        "HTTPS://agency.example/callback",  # scheme case
        "https://Agency.example/callback",  # host case
        "https://agency.example/Callback",  # path case
        "https://agency.example/callback/",  # trailing slash
        "https://agency.example/callback?",  # empty query
        "https://agency.example/callback?next=/",  # query
        "https://agency.example/callback#",  # empty fragment
        "https://agency.example/callback#x",  # fragment
        "https://agency.example:443/callback",  # default port spelled out
        "https://agency.example:8443/callback",  # port
        "https://user@agency.example/callback",  # userinfo
        "https://agency.example@evil.example/callback",  # userinfo pointing elsewhere
        "http://agency.example/callback",  # scheme
        "https://agency.example.evil.example/callback",  # suffix host
        "https://agency.example/callback/../callback",  # dot segments
        "https://agency.example/%63allback",  # percent-encoded
        "https://agency.example/callbackx",  # prefix
        "https://agency.example/callbac",
        " https://agency.example/callback",  # whitespace
        "https://agency.example/callback ",
        "https://agency.example/callback\n",
        "https://agency.example./callback",  # trailing dot in the host
        "https://xn--agency-9ya.example/callback",
    ],
)
def test_a_redirect_uri_must_match_a_registered_one_exactly(redirect_uri: str) -> None:
    message = "redirect_uri is not registered for this client (exact match)"
    _refused(InvalidRequest, message, check_redirect_uri, redirect_uri, (REDIRECT, "https://agency.example/other"))


@pytest.mark.parametrize(
    ("redirect_uri", "registered"),
    [
        (REDIRECT, (REDIRECT,)),
        ("https://agency.example/other", (REDIRECT, "https://agency.example/other")),
        ("https://agency.example/cb?client=7", ("https://agency.example/cb?client=7",)),  # a registered query
    ],
)
def test_a_registered_redirect_uri_passes(redirect_uri: str, registered: tuple[str, ...]) -> None:
    check_redirect_uri(redirect_uri, registered)


def test_a_registered_query_must_match_too() -> None:
    registered = ("https://agency.example/cb?a=1&b=2",)
    _refused(
        InvalidRequest,
        "redirect_uri is not registered for this client (exact match)",
        check_redirect_uri,
        "https://agency.example/cb?b=2&a=1",
        registered,
    )


@given(st.text(max_size=60))
def test_no_other_string_passes_for_a_registered_uri(candidate: str) -> None:
    if candidate == REDIRECT:
        check_redirect_uri(candidate, (REDIRECT,))
    else:
        with pytest.raises(InvalidRequest):
            check_redirect_uri(candidate, (REDIRECT,))


# -- state -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state",
    [None, "", "x", "a" * MAX_STATE, "ä" * MAX_STATE, "🙂" * MAX_STATE, "\x00 \n;&=?", "<script>"],
)
def test_a_state_up_to_the_limit_passes_whatever_its_characters(state: str | None) -> None:
    check_state(state)  # it is stored and sent back urlencoded, and counted in characters


@pytest.mark.parametrize("state", ["a" * (MAX_STATE + 1), "ä" * (MAX_STATE + 1), "🙂" * (MAX_STATE + 1), "a" * 100_000])
def test_a_state_over_the_limit_is_refused(state: str) -> None:
    _refused(InvalidRequest, f"state is longer than {MAX_STATE} characters", check_state, state)


# -- authorization_details (RFC 9396) ----------------------------------------------------------


def _rar(**entry: Any) -> str:
    return json.dumps([{"type": "vault_access", "service": "ummeldung", **entry}])


@pytest.mark.parametrize(
    ("raw", "description"),
    [
        (None, "authorization_details is required"),
        ("", "authorization_details is required"),
        ("not json", "authorization_details is not JSON"),
        ("[", "authorization_details is not JSON"),
        ("[{'type': 'vault_access'}]", "authorization_details is not JSON"),
        ("[" * 100_000, "authorization_details is not JSON"),
        ("null", "exactly one authorization_details entry"),
        ('"vault_access"', "exactly one authorization_details entry"),
        ("{}", "exactly one authorization_details entry"),
        ('{"type": "vault_access", "service": "ummeldung"}', "exactly one authorization_details entry"),
        ("[]", "exactly one authorization_details entry"),
        ("[1]", "exactly one authorization_details entry"),
        ("[[]]", "exactly one authorization_details entry"),
        ('["vault_access"]', "exactly one authorization_details entry"),
        (_rar()[:-1] + ", " + _rar()[1:], "exactly one authorization_details entry"),  # two entries
        (json.dumps([{"service": "ummeldung"}]), 'type must be "vault_access" with a service id'),
        (json.dumps([{"type": "openid_credential", "service": "x"}]), 'type must be "vault_access" with a service id'),
        (json.dumps([{"type": "Vault_Access", "service": "x"}]), 'type must be "vault_access" with a service id'),
        (json.dumps([{"type": "vault_access"}]), 'type must be "vault_access" with a service id'),
        (json.dumps([{"type": "vault_access", "service": 7}]), 'type must be "vault_access" with a service id'),
        (json.dumps([{"type": "vault_access", "service": ["a"]}]), 'type must be "vault_access" with a service id'),
        (json.dumps([{"type": "vault_access", "service": None}]), 'type must be "vault_access" with a service id'),
        (_rar(fields="given_name"), "fields must be a list of strings"),
        (_rar(fields=None), "fields must be a list of strings"),
        (_rar(fields=[1]), "fields must be a list of strings"),
        (_rar(fields=[["given_name"]]), "fields must be a list of strings"),
        (_rar(fields={"given_name": True}), "fields must be a list of strings"),
        (_rar(documents="id_card"), "documents must be a list of strings"),
        (_rar(documents=[None]), "documents must be a list of strings"),
        (_rar(actions=["read"]), "unknown members: actions"),
        (_rar(locations=["x"], actions=["read"]), "unknown members: actions, locations"),
        (_rar(Fields=["email"]), "unknown members: Fields"),
    ],
)
def test_malformed_authorization_details_are_refused(raw: str | None, description: str) -> None:
    _refused(InvalidAuthorizationDetails, description, parse_authorization_details, raw)


@pytest.mark.parametrize(
    "entry",
    [
        {},
        {"fields": []},
        {"fields": ["email"], "documents": []},
        {"fields": ["given_name", "given_name"]},  # the shape is fine; narrowing refuses the duplicate
        {"documents": ["passport"]},
    ],
)
def test_well_formed_authorization_details_parse_to_their_entry(entry: dict[str, Any]) -> None:
    assert parse_authorization_details(_rar(**entry)) == {"type": "vault_access", "service": "ummeldung", **entry}


@pytest.mark.parametrize(
    ("entry", "fields", "documents"),
    [
        ({}, ALL_FIELDS, ALL_KINDS),
        ({"fields": ["email", "given_name"]}, ("email", "given_name"), ALL_KINDS),
        ({"fields": []}, (), ALL_KINDS),
        ({"documents": ["id_card"]}, ALL_FIELDS, ("id_card",)),
        ({"fields": ["address"], "documents": []}, ("address",), ()),
        ({"fields": list(ALL_FIELDS), "documents": list(ALL_KINDS)}, ALL_FIELDS, ALL_KINDS),
    ],
)
def test_authorization_details_narrow_the_service(
    entry: dict[str, Any], fields: tuple[str, ...], documents: tuple[str, ...]
) -> None:
    assert narrow({"type": "vault_access", "service": SERVICE.id, **entry}, SERVICE, CLIENT) == (fields, documents)


@pytest.mark.parametrize(
    ("entry", "client", "description"),
    [
        ({}, "agency-other", "this service belongs to another agency"),
        ({"fields": ["email"]}, "agency-test ", "this service belongs to another agency"),
        ({"fields": ["shoe_size"]}, CLIENT, "fields may only narrow the service's fields"),
        ({"fields": [*ALL_FIELDS, "tax_id"]}, CLIENT, "fields may only narrow the service's fields"),
        ({"fields": ["Given_Name"]}, CLIENT, "fields may only narrow the service's fields"),
        ({"fields": ["given_name", "given_name"]}, CLIENT, "fields may only narrow the service's fields"),
        ({"fields": [""]}, CLIENT, "fields may only narrow the service's fields"),
        ({"documents": ["passport"]}, CLIENT, "documents may only narrow the service's documents"),
        ({"documents": ["id_card", "id_card"]}, CLIENT, "documents may only narrow the service's documents"),
        ({"documents": ["document:id_card"]}, CLIENT, "documents may only narrow the service's documents"),
        ({"documents": ["email"]}, CLIENT, "documents may only narrow the service's documents"),
    ],
)
def test_authorization_details_may_not_ask_for_more_or_for_another_agencys_service(
    entry: dict[str, Any], client: str, description: str
) -> None:
    entry = {"type": "vault_access", "service": SERVICE.id, **entry}
    _refused(InvalidAuthorizationDetails, description, narrow, entry, SERVICE, client)


@given(st.lists(st.sampled_from(ALL_FIELDS), unique=True), st.lists(st.sampled_from(ALL_KINDS), unique=True))
def test_any_subset_in_any_order_is_granted_as_asked(fields: list[str], documents: list[str]) -> None:
    entry = {"type": "vault_access", "service": SERVICE.id, "fields": fields, "documents": documents}
    assert narrow(entry, SERVICE, CLIENT) == (tuple(fields), tuple(documents))


@given(st.lists(st.sampled_from(ALL_FIELDS), min_size=1), st.text(max_size=20))
def test_a_duplicate_or_a_foreign_field_is_never_granted(fields: list[str], extra: str) -> None:
    asked = [*fields, extra if extra not in ALL_FIELDS else fields[0]]
    with pytest.raises(InvalidAuthorizationDetails):
        narrow({"type": "vault_access", "service": SERVICE.id, "fields": asked}, SERVICE, CLIENT)


# -- documents missing at approval ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "present", "blocking", "later"),
    [
        (ALL_KINDS, set(), ["id_card"], ["rental_confirmation", "payslip"]),
        (ALL_KINDS, {"id_card"}, [], ["rental_confirmation", "payslip"]),
        (ALL_KINDS, set(ALL_KINDS), [], []),
        (("payslip",), set(), [], ["payslip"]),
        (("id_card",), {"rental_confirmation", "payslip"}, ["id_card"], []),
        ((), set(), [], []),
    ],
)
def test_only_required_documents_that_may_not_come_later_block_approval(
    requested: tuple[str, ...], present: set[str], blocking: list[str], later: list[str]
) -> None:
    assert missing_documents(SERVICE, requested, present) == (blocking, later)


# -- the redirect back to the agency ------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "params", "expected"),
    [
        (REDIRECT, {"code": "c", "state": None, "iss": "https://v"}, f"{REDIRECT}?code=c&iss=https%3A%2F%2Fv"),
        (REDIRECT + "?client=7", {"code": "c"}, f"{REDIRECT}?client=7&code=c"),
        (REDIRECT, {"state": "a&b=c d#e"}, f"{REDIRECT}?state=a%26b%3Dc+d%23e"),
        (REDIRECT, {"error": "access_denied", "state": "ä"}, f"{REDIRECT}?error=access_denied&state=%C3%A4"),
    ],
)
def test_the_redirect_appends_the_set_parameters_encoded(
    uri: str, params: dict[str, str | None], expected: str
) -> None:
    assert redirect_to(uri, params) == expected


# -- codes, refresh tokens, access tokens --------------------------------------------------------

CODE_FORM = {"redirect_uri": REDIRECT, "code_verifier": RFC_VERIFIER}


@pytest.mark.parametrize(
    ("expires_at", "form", "description"),
    [
        (NOW, CODE_FORM, "code expired"),
        (NOW - timedelta(seconds=1), CODE_FORM, "code expired"),
        (
            NOW + timedelta(seconds=60),
            {**CODE_FORM, "redirect_uri": REDIRECT + "/"},
            "redirect_uri does not match the authorization request",
        ),
        (
            NOW + timedelta(seconds=60),
            {"code_verifier": RFC_VERIFIER},
            "redirect_uri does not match the authorization request",
        ),
        (
            NOW + timedelta(seconds=60),
            {**CODE_FORM, "code_verifier": RFC_CHALLENGE},
            "PKCE code_verifier does not match",
        ),
        (NOW + timedelta(seconds=60), {"redirect_uri": REDIRECT}, "PKCE code_verifier does not match"),
        (
            NOW + timedelta(seconds=60),
            {**CODE_FORM, "code_verifier": RFC_VERIFIER + " "},
            "PKCE code_verifier does not match",
        ),
    ],
)
def test_a_code_is_refused_when_expired_or_its_request_does_not_match(
    expires_at: datetime, form: dict[str, str], description: str
) -> None:
    _refused(InvalidGrant, description, check_code, expires_at, REDIRECT, RFC_CHALLENGE, form, NOW)


def test_a_fresh_code_with_its_redirect_and_verifier_passes() -> None:
    check_code(NOW + timedelta(seconds=1), REDIRECT, RFC_CHALLENGE, CODE_FORM, NOW)


def _token(**changes: Any) -> Token:
    values: dict[str, Any] = {
        "token_hash": b"\x01" * 32,
        "kind": "access",
        "client_id": CLIENT,
        "grant_id": "g-1",
        "code_hash": None,
        "jkt": "key-1",
        "expires_at": NOW + timedelta(minutes=5),
        "revoked_at": None,
    }
    return Token(**{**values, **changes})


def _grant(**changes: Any) -> GrantRow:
    values: dict[str, Any] = {
        "id": "g-1",
        "citizen_id": "c-1",
        "agency": CLIENT,
        "service": SERVICE.id,
        "fields": json.dumps(["email"]),
        "documents": json.dumps(["id_card"]),
        "purpose": "p",
        "legal_basis": "l",
        "access": "once",
        "created_at": NOW - timedelta(days=1),
        "expires_at": NOW + timedelta(days=1),
        "status": "active",
        "ended_at": None,
        "receipt": "",
        "consumed": "[]",
    }
    return GrantRow(**{**values, **changes})


@pytest.mark.parametrize(
    ("row", "description"),
    [
        (None, "unknown or revoked refresh token"),
        (_token(), "unknown or revoked refresh token"),  # an access token
        (_token(kind="refresh", client_id="agency-other"), "unknown or revoked refresh token"),
        (_token(kind="refresh", revoked_at=NOW), "unknown or revoked refresh token"),
        (_token(kind="refresh", jkt="key-2"), "refresh token is bound to another DPoP key"),
    ],
)
def test_a_refresh_token_must_be_the_clients_unrevoked_one_with_its_key(row: Token | None, description: str) -> None:
    _refused(InvalidGrant, description, check_refresh_token, row, CLIENT, "key-1")


def test_a_refresh_token_of_the_client_and_key_passes() -> None:
    row = _token(kind="refresh")
    assert check_refresh_token(row, CLIENT, "key-1") is row


@pytest.mark.parametrize(
    ("row", "grant", "disabled", "jkt", "problem"),
    [
        (None, _grant(), None, "key-1", (InvalidToken, "unknown, revoked or expired access token")),
        (_token(), None, None, "key-1", (InvalidToken, "unknown, revoked or expired access token")),
        (_token(kind="refresh"), _grant(), None, "key-1", (InvalidToken, "unknown, revoked or expired access token")),
        (_token(revoked_at=NOW), _grant(), None, "key-1", (InvalidToken, "unknown, revoked or expired access token")),
        (_token(expires_at=NOW), _grant(), None, "key-1", (InvalidToken, "unknown, revoked or expired access token")),
        (_token(client_id="x"), _grant(), None, "key-1", (InvalidToken, "unknown, revoked or expired access token")),
        (_token(expires_at=NOW), _grant(), None, "key-2", (InvalidToken, "unknown, revoked or expired access token")),
        (
            _token(),
            _grant(),
            None,
            "key-2",
            (InvalidDpopProof, "the proof is signed by another key than the token is bound to"),
        ),
        (_token(), _grant(), NOW, "key-1", (InvalidToken, "the agency is disabled")),
        (_token(), _grant(), None, "key-1", None),
        (_token(), _grant(status="revoked"), None, "key-1", None),  # the grant is checked under its lock, later
    ],
)
def test_token_problems(
    row: Token | None,
    grant: GrantRow | None,
    disabled: datetime | None,
    jkt: str,
    problem: tuple[type[OAuthError], str] | None,
) -> None:
    found = token_problem(row, grant, disabled, jkt, NOW)
    assert (None if found is None else (type(found), found.description)) == problem


@pytest.mark.parametrize(
    ("row", "grant", "client", "active"),
    [
        (_token(), _grant(), CLIENT, True),
        (_token(kind="refresh"), _grant(), CLIENT, True),
        (_token(), _grant(), "agency-other", False),
        (_token(revoked_at=NOW), _grant(), CLIENT, False),
        (_token(expires_at=NOW), _grant(), CLIENT, False),
        (_token(), _grant(status="revoked"), CLIENT, False),
        (_token(), _grant(status="used"), CLIENT, False),
        (_token(), _grant(expires_at=NOW), CLIENT, False),
    ],
)
def test_introspection_calls_only_the_clients_live_tokens_of_active_grants_active(
    row: Token, grant: GrantRow, client: str, active: bool
) -> None:
    assert introspectable(row, grant, client, NOW) is active


def test_a_grants_details_are_its_vault_access_entry() -> None:
    assert details(_grant()) == {
        "type": "vault_access",
        "service": SERVICE.id,
        "fields": ["email"],
        "documents": ["id_card"],
    }
