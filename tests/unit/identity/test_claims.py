"""Provider claims -> vault attributes: reshaping, validation, and leaving out what does not validate."""

from __future__ import annotations

import pytest

from vault.identity.claims import DEFAULT_OIDC_CLAIMS, to_attributes

ERIKA_ADDRESS = {"street_address": "Heidestraße 17", "postal_code": "51147", "locality": "Köln", "country": "DE"}

CASES = [
    ("plain names", {"given_name": "Erika", "family_name": "Mustermann"},
     {"given_name": "Erika", "family_name": "Mustermann"}),
    ("names are NFC-normalised and stripped", {"given_name": " Jo\u0308rg "}, {"given_name": "Jörg"}),
    ("birthdate renamed", {"birthdate": "1964-08-12"}, {"birth_date": "1964-08-12"}),
    ("birth family name", {"birth_family_name": "Gabler"}, {"birth_name": "Gabler"}),
    ("OIDC address reshaped", {"address": ERIKA_ADDRESS},
     {"address": {"street": "Heidestraße", "house_number": "17", "postal_code": "51147", "city": "Köln",
                  "country": "DE"}}),
    ("street with several words and a letter suffix",
     {"address": {**ERIKA_ADDRESS, "street_address": "Straße des 17. Juni 5a"}},
     {"address": {"street": "Straße des 17. Juni", "house_number": "5a", "postal_code": "51147", "city": "Köln",
                  "country": "DE"}}),
    ("address without a house number left out", {"address": {**ERIKA_ADDRESS, "street_address": "Heidestraße"}}, {}),
    ("address with a bad German postal code left out", {"address": {**ERIKA_ADDRESS, "postal_code": "5114"}}, {}),
    ("address that is not an object left out", {"address": "Heidestraße 17, 51147 Köln"}, {}),
    ("place of birth as object", {"place_of_birth": {"locality": "Berlin", "country": "DE"}},
     {"birth_place": "Berlin"}),
    ("place of birth as string", {"place_of_birth": "Berlin"}, {"birth_place": "Berlin"}),
    ("nationalities as list", {"nationalities": ["de", "FR"]}, {"nationality": "DE"}),
    ("nationalities as string", {"nationalities": "DE"}, {"nationality": "DE"}),
    ("empty nationalities left out", {"nationalities": []}, {}),
    ("unassigned country code left out", {"nationalities": ["XK"]}, {}),
    ("birth date in the future left out", {"birthdate": "2999-01-01"}, {}),
    ("malformed birth date left out", {"birthdate": "12.08.1964"}, {}),
    ("control characters left out", {"given_name": "Erika\u0000"}, {}),
    ("a number where text belongs left out", {"family_name": 42}, {}),
    ("claims not in the map ignored", {"email": "erika@example.org", "sub": "x"}, {}),
    ("a bad value leaves the good ones", {"given_name": "", "family_name": "Mustermann"},
     {"family_name": "Mustermann"}),
]  # fmt: skip


@pytest.mark.parametrize(("claims", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_default_map(claims: dict[str, object], expected: dict[str, object]) -> None:
    assert to_attributes(claims, DEFAULT_OIDC_CLAIMS) == expected


def test_custom_map_renames_and_first_mapping_wins() -> None:
    claims = {"vorname": "Erika", "given_name": "Ignored", "staatsangehoerigkeit": "DE"}
    mapping = {"vorname": "given_name", "given_name": "given_name", "staatsangehoerigkeit": "nationality"}
    assert to_attributes(claims, mapping) == {"given_name": "Erika", "nationality": "DE"}


def test_a_map_to_an_unknown_attribute_yields_nothing() -> None:
    assert to_attributes({"x": "y"}, {"x": "not_an_attribute"}) == {}
