"""Service files, agency keys and redirect URIs: what is accepted, and every refusal names its field."""

from __future__ import annotations

import json

import pytest
from joserfc.jwk import OctKey, RSAKey

from tests.support.catalogue import agency_key, jwks_bytes, service_toml
from vault.consent.catalogue import CatalogueError, check_redirect_uri, parse_jwks, parse_service


def test_the_design_example_parses() -> None:
    service = parse_service(service_toml("agency-abc"))
    assert service.id == "ummeldung"
    assert service.agency == "agency-abc"
    assert service.title.get("en") == "Register a change of address"
    assert service.title.get("de") == "Wohnsitz ummelden"
    assert service.all_fields == ("given_name", "family_name", "birth_date", "address", "email")
    assert service.documents[0].late_submission
    assert (service.access, service.max_duration_days, service.min_assurance) == ("once", 30, "basic")


@pytest.mark.parametrize(
    ("replace", "field"),
    [
        ({"access": 'access = "twice"'}, "access"),
        ({"min_assurance": 'min_assurance = "total"'}, "min_assurance"),
        ({"optional_fields": 'optional_fields = ["shoe_size"]'}, "optional_fields.0"),
        ({"optional_fields": 'optional_fields = ["given_name"]'}, "optional_fields.0"),
        ({"max_duration_days": "max_duration_days = 0"}, "max_duration_days"),
        ({"max_duration_days": 'max_duration_days = "30"'}, "max_duration_days"),
        ({"id": 'id = "Ummeldung!"'}, "id"),
        ({"legal_basis": 'legal_basis = "  "'}, "legal_basis"),
        ({"title": 'title = { de = "Wohnsitz ummelden" }'}, "title"),
        ({"purpose": 'purpose = { de = "x", en = "y", fr = "z" }'}, "purpose.fr"),
        ({"title": 'titel = { de = "a", en = "b" }'}, "titel"),
        ({"documents": 'documents = [{ kind = "x", required = false, late_submission = true }]'}, "documents.0"),
        ({"documents": 'documents = [{ kind = "Mietvertrag" }]'}, "documents.0.kind"),
        ({"documents": 'documents = [{ kind = "a" }, { kind = "a" }]'}, "documents.1.kind"),
        ({"documents": 'documents = [{ kind = "a", required = "yes" }]'}, "documents.0.required"),
    ],
)
def test_a_bad_service_file_names_the_field(replace: dict[str, str], field: str) -> None:
    with pytest.raises(CatalogueError) as caught:
        parse_service(service_toml(**replace))
    assert caught.value.field.startswith(field), caught.value
    assert caught.value.reason


def test_files_that_are_not_toml_or_too_large_are_refused() -> None:
    for data, field in [(b"= broken", "file"), (b"\xff\xfe", "file"), (b"#" * 70_000, "file")]:
        with pytest.raises(CatalogueError) as caught:
            parse_service(data)
        assert caught.value.field == field


def test_a_service_must_ask_for_something() -> None:
    text = service_toml(fields="fields = []", optional_fields="optional_fields = []", documents="documents = []")
    with pytest.raises(CatalogueError, match="at least one"):
        parse_service(text)


def test_public_keys_of_the_allowed_kinds_are_accepted() -> None:
    _, jwks = agency_key()
    assert parse_jwks(jwks_bytes(jwks)) == jwks
    rsa = {**RSAKey.generate_key(2048).as_dict(private=False), "kid": "r", "alg": "PS256"}
    assert parse_jwks(jwks_bytes({"keys": [rsa]}))["keys"][0]["kid"] == "r"


def test_bad_key_sets_are_refused() -> None:
    key, jwks = agency_key()
    public = jwks["keys"][0]
    private = {**key.as_dict(private=True), "kid": "k"}
    cases = [
        (b"not json", "jwks"),
        (b'{"keys": []}', "jwks"),
        (jwks_bytes({"keys": [private]}), "jwks.keys.0"),
        (jwks_bytes({"keys": [{**OctKey.generate_key(256).as_dict(private=False), "kid": "h"}]}), "jwks.keys.0"),
        (jwks_bytes({"keys": [{**public, "kid": ""}]}), "jwks.keys.0.kid"),
        (jwks_bytes({"keys": [public, public]}), "jwks.keys.1.kid"),
        (jwks_bytes({"keys": [{**public, "alg": "HS256"}]}), "jwks.keys.0.alg"),
        (jwks_bytes({"keys": [{**public, "use": "enc"}]}), "jwks.keys.0.use"),
        (jwks_bytes({"keys": [{**public, "x": "AAAA"}]}), "jwks"),
        (jwks_bytes({"keys": [{**RSAKey.generate_key(1024).as_dict(private=False), "kid": "small"}]}), "jwks.keys.0"),
    ]
    for data, field in cases:
        with pytest.raises(CatalogueError) as caught:
            parse_jwks(data)
        assert caught.value.field == field, (json.loads(data) if data.startswith(b"{") else data, caught.value)


@pytest.mark.parametrize(
    "uri",
    [
        "https://amt.example/callback",
        "https://amt.example:8443/cb?x=1",
        "http://localhost:9000/callback",
        "http://127.0.0.1:9000/callback",
    ],
)
def test_good_redirect_uris(uri: str) -> None:
    assert check_redirect_uri(uri) == uri


@pytest.mark.parametrize(
    "uri",
    [
        "http://amt.example/callback",
        "https://amt.example/callback#frag",
        "https://user:pw@amt.example/callback",
        "https://user@amt.example/callback",
        "/callback",
        "javascript:alert(1)",
        "ftp://amt.example/x",
    ],
)
def test_bad_redirect_uris(uri: str) -> None:
    with pytest.raises(CatalogueError) as caught:
        check_redirect_uri(uri)
    assert caught.value.field == "redirect_uri"
