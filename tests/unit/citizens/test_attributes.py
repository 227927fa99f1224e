from __future__ import annotations

import datetime as dt
import pickle
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vault.citizens.attributes import (
    BUILTIN_ATTRIBUTES,
    ISO_3166_ALPHA2,
    AttributeInvalid,
    validate_attribute,
)

TEXT_ATTRIBUTES = ["given_name", "family_name", "birth_name", "birth_place"]
NOT_A_STRING: list[object] = [None, 42, 4.2, True, ["x"], {"x": "y"}]


def invalid(name: str, value: object) -> AttributeInvalid:
    with pytest.raises(AttributeInvalid) as info:
        validate_attribute(name, value)
    return info.value


def fullwidth(digits: str) -> str:
    return "".join(chr(0xFF10 + int(d)) for d in digits)


def iso7064_mod_11_10(first_ten: str) -> int:
    """Reference check digit, written as the pure system: the digit that makes the running value 1."""
    running = 10
    for char in first_ten:
        running = (2 * ((running + int(char)) % 10 or 10)) % 11
    return next(c for c in range(10) if (running + c) % 10 == 1)


# -- errors and registry ----------------------------------------------------------------------


def test_builtin_attribute_names() -> None:
    assert set(BUILTIN_ATTRIBUTES) == {
        "given_name",
        "family_name",
        "birth_name",
        "birth_date",
        "birth_place",
        "nationality",
        "address",
        "email",
        "phone",
        "tax_id",
        "iban",
    }


def test_unknown_attribute_is_named() -> None:
    err = invalid("shoe_size", "44")
    assert (err.field, err.reason) == ("shoe_size", "unknown attribute")


def test_attribute_invalid_is_a_value_error_and_pickles() -> None:
    err = AttributeInvalid("address.postal_code", "must be exactly 5 digits for a German address")
    assert isinstance(err, ValueError)
    assert str(err) == "address.postal_code: must be exactly 5 digits for a German address"
    copy = pickle.loads(pickle.dumps(err))
    assert (type(copy), copy.field, copy.reason) == (AttributeInvalid, err.field, err.reason)


def test_country_list_has_the_249_officially_assigned_codes() -> None:
    assert len(ISO_3166_ALPHA2) == 249
    assert {"DE", "AT", "CH", "GB", "US", "SS", "BQ", "CW", "SX", "AX", "EH"} <= ISO_3166_ALPHA2
    assert not {"XK", "EU", "UK", "EL", "AN", "YU", "CS", "ZZ", "XX"} & ISO_3166_ALPHA2


# -- text attributes ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", TEXT_ATTRIBUTES)
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Anna", "Anna"),
        ("  Anna-Lena  ", "Anna-Lena"),
        ("Ju\u0308rgen", "J\u00fcrgen"),  # decomposed umlaut -> NFC
        ("Müller-Lüdenscheidt", "Müller-Lüdenscheidt"),
        ("Łódź", "Łódź"),
        ("x" * 200, "x" * 200),
        ("e\u0301" * 200, "\u00e9" * 200),  # 400 code points before NFC, 200 after
        ("\tAnna\n", "Anna"),  # surrounding control whitespace is stripped
    ],
)
def test_text_valid(name: str, value: str, expected: str) -> None:
    assert validate_attribute(name, value) == expected


@pytest.mark.parametrize("name", TEXT_ATTRIBUTES)
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("x" * 201, "must be at most 200 characters long"),
        ("An\nna", "must not contain control characters"),
        ("Anna\x00", "must not contain control characters"),
        ("An\x1bna", "must not contain control characters"),
        ("An\x85na", "must not contain control characters"),
        ("An\ud800na", "must not contain control characters"),
        *((value, "must be a string") for value in NOT_A_STRING),
    ],
)
def test_text_invalid(name: str, value: object, reason: str) -> None:
    err = invalid(name, value)
    assert (err.field, err.reason) == (name, reason)


# -- birth_date ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1990-02-28", "1990-02-28"),
        ("2000-02-29", "2000-02-29"),
        ("1900-01-01", "1900-01-01"),
        (" 1975-12-31 ", "1975-12-31"),
    ],
)
def test_birth_date_valid(value: str, expected: str) -> None:
    assert validate_attribute("birth_date", value) == expected


def test_birth_date_today_is_valid_and_tomorrow_is_not() -> None:
    today = dt.date.today()
    assert validate_attribute("birth_date", today.isoformat()) == today.isoformat()
    err = invalid("birth_date", (today + dt.timedelta(days=1)).isoformat())
    assert err.reason == "must not be in the future"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1899-12-31", "must not be before 1900-01-01"),
        ("0001-01-01", "must not be before 1900-01-01"),
        ("9999-12-31", "must not be in the future"),
        ("2001-02-29", "is not a valid calendar date"),
        ("1990-13-01", "is not a valid calendar date"),
        ("1990-04-31", "is not a valid calendar date"),
        ("1990-00-10", "is not a valid calendar date"),
        ("1990-2-28", "must be a date in the form YYYY-MM-DD"),
        ("19900228", "must be a date in the form YYYY-MM-DD"),
        ("1990-W09-3", "must be a date in the form YYYY-MM-DD"),
        ("28.02.1990", "must be a date in the form YYYY-MM-DD"),
        ("1990-02-28T00:00:00", "must be a date in the form YYYY-MM-DD"),
        ("١٩٩٠-٠٢-٢٨", "must be a date in the form YYYY-MM-DD"),  # non-ASCII digits
        ("", "must be a date in the form YYYY-MM-DD"),
        *((value, "must be a string") for value in NOT_A_STRING),
    ],
)
def test_birth_date_invalid(value: object, reason: str) -> None:
    err = invalid("birth_date", value)
    assert (err.field, err.reason) == ("birth_date", reason)


# -- nationality --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"), [("DE", "DE"), ("de", "DE"), (" at ", "AT"), ("Ch", "CH"), ("ss", "SS"), ("ZW", "ZW")]
)
def test_nationality_valid(value: str, expected: str) -> None:
    assert validate_attribute("nationality", value) == expected


@pytest.mark.parametrize(
    "value", ["XK", "EU", "UK", "ZZ", "D", "DEU", "", "D1", "ÄT", "\uff24\uff25", "D E", *NOT_A_STRING]
)
def test_nationality_invalid(value: object) -> None:
    assert invalid("nationality", value).field == "nationality"


# -- address ------------------------------------------------------------------------------------


def address(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "street": "Hauptstraße",
        "house_number": "12a",
        "postal_code": "10115",
        "city": "Berlin",
        "country": "DE",
    }
    base.update(changes)
    return {key: value for key, value in base.items() if value is not ...}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (address(), address()),
        (
            {
                "street": " Hauptstrasse ",
                "house_number": " 7-9 ",
                "postal_code": "01067",
                "city": "Dresden",
                "country": "de",
            },
            {
                "street": "Hauptstrasse",
                "house_number": "7-9",
                "postal_code": "01067",
                "city": "Dresden",
                "country": "DE",
            },
        ),
        (
            address(street="Stra\u00dfe des 17. Juni", house_number="135"),
            address(street="Straße des 17. Juni", house_number="135"),
        ),
        (address(city="Mu\u0308nchen", postal_code="80331"), address(city="München", postal_code="80331")),
        (address(house_number="1" * 20), address(house_number="1" * 20)),
        (
            address(country="AT", postal_code="1010", city="Wien"),
            address(country="AT", postal_code="1010", city="Wien"),
        ),
        (address(country="gb", postal_code="SW1A 1AA"), address(country="GB", postal_code="SW1A 1AA")),
    ],
)
def test_address_valid(value: dict[str, Any], expected: dict[str, str]) -> None:
    result = validate_attribute("address", value)
    assert result == expected
    assert isinstance(result, dict)
    assert list(result) == ["street", "house_number", "postal_code", "city", "country"]


def with_key(key: object, value: object) -> dict[object, object]:
    result: dict[object, object] = {k: v for k, v in address().items()}
    result[key] = value
    return result


@pytest.mark.parametrize(
    ("value", "field", "reason"),
    [
        ("Hauptstraße 12a, 10115 Berlin", "address", "must be an object"),
        (None, "address", "must be an object"),
        ([address()], "address", "must be an object"),
        (address(zip="10115"), "address.zip", "unknown field"),
        (with_key(1, "x"), "address.1", "unknown field"),
        ({}, "address.street", "is required"),
        (address(street=...), "address.street", "is required"),
        (address(city=None), "address.city", "is required"),
        (address(country=...), "address.country", "is required"),
        (address(street=""), "address.street", "must not be empty"),
        (address(street="x" * 201), "address.street", "must be at most 200 characters long"),
        (address(city="  "), "address.city", "must not be empty"),
        (address(city="Ber\nlin"), "address.city", "must not contain control characters"),
        (address(city=7), "address.city", "must be a string"),
        (address(house_number=""), "address.house_number", "must not be empty"),
        (address(house_number="a12"), "address.house_number", "must start with a digit"),
        (address(house_number="١٢"), "address.house_number", "must start with a digit"),
        (address(house_number="1" * 21), "address.house_number", "must be at most 20 characters long"),
        (address(house_number=12), "address.house_number", "must be a string"),
        (address(postal_code=""), "address.postal_code", "must not be empty"),
        (address(postal_code="1011"), "address.postal_code", "must be exactly 5 digits for a German address"),
        (address(postal_code="101155"), "address.postal_code", "must be exactly 5 digits for a German address"),
        (address(postal_code="D-10115"), "address.postal_code", "must be exactly 5 digits for a German address"),
        (
            address(postal_code=fullwidth("10115")),
            "address.postal_code",
            "must be exactly 5 digits for a German address",
        ),
        (address(postal_code=10115), "address.postal_code", "must be a string"),
        (address(country="XK"), "address.country", "must be an ISO 3166-1 alpha-2 country code"),
        (address(country="DEU"), "address.country", "must be an ISO 3166-1 alpha-2 country code"),
        (address(country=""), "address.country", "must be an ISO 3166-1 alpha-2 country code"),
    ],
)
def test_address_invalid(value: object, field: str, reason: str) -> None:
    err = invalid("address", value)
    assert (err.field, err.reason) == (field, reason)


# -- email --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("max@example.de", "max@example.de"),
        ("Max.Mustermann@Example.DE", "Max.Mustermann@example.de"),
        ("  a+tag@sub.Example.org ", "a+tag@sub.example.org"),
        ("jürgen@bürger.de", "jürgen@bürger.de"),
        ("x" * 64 + "@example.de", "x" * 64 + "@example.de"),
        ("a@" + "b" * 249 + ".de", "a@" + "b" * 249 + ".de"),  # exactly 254
    ],
)
def test_email_valid(value: str, expected: str) -> None:
    assert validate_attribute("email", value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("max.example.de", "must contain exactly one '@'"),
        ("max@@example.de", "must contain exactly one '@'"),
        ("a@b@example.de", "must contain exactly one '@'"),
        ("@example.de", "local part must be 1 to 64 characters long"),
        ("x" * 65 + "@example.de", "local part must be 1 to 64 characters long"),
        ("max@localhost", "domain must contain a dot and no empty labels"),
        ("max@", "domain must contain a dot and no empty labels"),
        ("max@.de", "domain must contain a dot and no empty labels"),
        ("max@example.", "domain must contain a dot and no empty labels"),
        ("max@example..de", "domain must contain a dot and no empty labels"),
        ("a@" + "b" * 250 + ".de", "must be at most 254 characters long"),
        ("max mustermann@example.de", "must not contain spaces"),
        ("max@exa mple.de", "must not contain spaces"),
        ("max@exa\u00a0mple.de", "must not contain spaces"),
        ("max@exa\x00mple.de", "must not contain control characters"),
        ("max@exa\nmple.de", "must not contain control characters"),
        ("", "must contain exactly one '@'"),
        *((value, "must be a string") for value in NOT_A_STRING),
    ],
)
def test_email_invalid(value: object, reason: str) -> None:
    err = invalid("email", value)
    assert (err.field, err.reason) == ("email", reason)


# -- phone --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("+493012345678", "+493012345678"),
        ("+49 30 1234 5678", "+493012345678"),
        ("+49 (30) 1234-5678", "+493012345678"),
        ("+1-202-555-0143", "+12025550143"),
        ("+12345678", "+12345678"),  # 8 digits
        ("+123456789012345", "+123456789012345"),  # 15 digits
    ],
)
def test_phone_valid(value: str, expected: str) -> None:
    assert validate_attribute("phone", value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "030 12345678",  # no country code
        "00493012345678",  # international prefix instead of "+"
        "+1234567",  # 7 digits
        "+1234567890123456",  # 16 digits
        "+0493012345678",  # country codes never start with 0
        "+49 30 1234 567a",
        "+49/30/12345678",
        "++493012345678",
        "+49 30 12345678 ext. 5",
        "+" + fullwidth("493012345678"),  # full-width digits
        "",
        "+",
        *NOT_A_STRING,
        493012345678,
    ],
)
def test_phone_invalid(value: object) -> None:
    assert invalid("phone", value).field == "phone"


# -- tax_id (steuerliche Identifikationsnummer) -------------------------------------------------

# Examples from the ELSTER document "Prüfung der Steuer- und Steueridentifikationsnummer"
# (Bayerisches Landesamt für Steuern), chapter 2; 02476291358 is its test ID (leading 0).
OFFICIAL_TAX_IDS = ["86095742719", "47036892816", "65929970489", "57549285017", "25768131411"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        *((tax_id, tax_id) for tax_id in OFFICIAL_TAX_IDS),
        ("12345678995", "12345678995"),  # worked example of the check digit (9 occurs twice)
        ("11234567890", "11234567890"),  # check digit 10 -> 0
        ("11213456783", "11213456783"),  # digit 1 three times, two of them adjacent: allowed
        ("12131456787", "12131456787"),  # digit 1 three times, none adjacent
        ("86 095 742 719", "86095742719"),
        (" 86095742719 ", "86095742719"),
    ],
)
def test_tax_id_valid(value: str, expected: str) -> None:
    assert validate_attribute("tax_id", value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("86095742718", "check digit does not match"),
        ("86095742710", "check digit does not match"),
        ("68095742719", "check digit does not match"),  # swapped first two digits
        ("02476291358", "must not start with 0 (test IDs are not accepted)"),
        ("0" + "8609574271", "must not start with 0 (test IDs are not accepted)"),
        ("8609574271", "must be exactly 11 digits"),
        ("860957427190", "must be exactly 11 digits"),
        ("8609574271X", "must be exactly 11 digits"),
        ("86O95742719", "must be exactly 11 digits"),
        ("86-095-742-719", "must be exactly 11 digits"),
        (fullwidth("86095742719"), "must be exactly 11 digits"),
        ("", "must be exactly 11 digits"),
        # Structurally invalid first ten digits, each with a matching check digit:
        ("12345678903", "exactly one digit must occur twice or three times in the first ten digits"),
        ("11223456785", "exactly one digit must occur twice or three times in the first ten digits"),
        ("11112345678", "exactly one digit must occur twice or three times in the first ten digits"),
        ("65299970480", "a digit must not occur three times in a row"),
        *((value, "must be a string") for value in NOT_A_STRING),
        (86095742719, "must be a string"),
    ],
)
def test_tax_id_invalid(value: object, reason: str) -> None:
    err = invalid("tax_id", value)
    assert (err.field, err.reason) == ("tax_id", reason)


def test_tax_id_structural_cases_have_matching_check_digits() -> None:
    # Guards the table above: these fail on structure, not on the check digit.
    for tax_id in ["12345678903", "11223456785", "11112345678", "65299970480", "02476291358", *OFFICIAL_TAX_IDS]:
        assert iso7064_mod_11_10(tax_id[:10]) == int(tax_id[10]), tax_id


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_tax_id_accepts_exactly_the_rule_conforming_numbers(tax_id: str) -> None:
    first_ten = tax_id[:10]
    counts = sorted((first_ten.count(d) for d in set(first_ten)), reverse=True)
    conforming = (
        tax_id[0] != "0"
        and counts[0] in (2, 3)
        and (len(counts) == 1 or counts[1] == 1)
        and not any(d * 3 in first_ten for d in string.digits)
        and iso7064_mod_11_10(first_ten) == int(tax_id[10])
    )
    try:
        assert validate_attribute("tax_id", tax_id) == tax_id
    except AttributeInvalid:
        assert not conforming
    else:
        assert conforming


# -- iban ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("DE89370400440532013000", "DE89370400440532013000"),
        ("DE89 3704 0044 0532 0130 00", "DE89370400440532013000"),
        ("de89370400440532013000", "DE89370400440532013000"),
        ("GB82WEST12345698765432", "GB82WEST12345698765432"),
        ("GB82 west 1234 5698 7654 32", "GB82WEST12345698765432"),
        ("NL91ABNA0417164300", "NL91ABNA0417164300"),
        ("FR1420041010050500013M02606", "FR1420041010050500013M02606"),
        ("NO9386011117947", "NO9386011117947"),  # 15 characters, the shortest
        ("MT84MALT011000012345MTLCAST001S", "MT84MALT011000012345MTLCAST001S"),
    ],
)
def test_iban_valid(value: str, expected: str) -> None:
    assert validate_attribute("iban", value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("DE89370400440532013001", "checksum does not match"),
        ("DE89370400440532013100", "checksum does not match"),
        ("DE98370400440532013000", "checksum does not match"),
        ("GB82WEST12345698765433", "checksum does not match"),
        ("GB82WEST12345698765423", "checksum does not match"),  # transposition
        # mod-97 correct, but a German IBAN has 22 characters:
        ("DE813704004405320130000", "must be 22 characters long for country DE"),
        ("DE5137040044053201300", "must be 22 characters long for country DE"),
        ("DE89", "must be 2 letters, 2 check digits and 11 to 30 letters or digits"),
        ("NO938601111794", "must be 2 letters, 2 check digits and 11 to 30 letters or digits"),
        ("GB82WEST1234569876543212345678901", "checksum does not match"),
        ("GB82WEST123456987654321234567890123", "must be 2 letters, 2 check digits and 11 to 30 letters or digits"),
        ("8937040044053201300000", "must be 2 letters, 2 check digits and 11 to 30 letters or digits"),
        ("DEAB370400440532013000", "must be 2 letters, 2 check digits and 11 to 30 letters or digits"),
        ("DE89-3704-0044-0532-0130-00", "must be 2 letters, 2 check digits and 11 to 30 letters or digits"),
        ("DE89370400440532013ß00", "must be 2 letters, 2 check digits and 11 to 30 letters or digits"),
        ("", "must be 2 letters, 2 check digits and 11 to 30 letters or digits"),
        *((value, "must be a string") for value in NOT_A_STRING),
    ],
)
def test_iban_invalid(value: object, reason: str) -> None:
    err = invalid("iban", value)
    assert (err.field, err.reason) == ("iban", reason)


# -- property: only AttributeInvalid, JSON-compatible and idempotent results ----------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=12,
)
near_miss_strings = st.text(alphabet=string.ascii_letters + string.digits + " +-()@.\u0308\n", max_size=40)
near_miss_addresses = st.dictionaries(
    st.sampled_from(["street", "house_number", "postal_code", "city", "country", "zip"]),
    st.none() | st.integers() | near_miss_strings | st.sampled_from(["DE", "de", "XK", "AT", "10115", "12a"]),
)


@pytest.mark.parametrize("name", sorted(BUILTIN_ATTRIBUTES))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values | near_miss_strings | near_miss_addresses)
def test_only_attribute_invalid_escapes(name: str, value: object) -> None:
    try:
        result = validate_attribute(name, value)
    except AttributeInvalid as err:
        error: AttributeInvalid | None = err
    else:
        error = None
    if error is not None:
        assert error.field == name or error.field.startswith(f"{name}.")
        assert error.reason
        return
    if name == "address":
        assert isinstance(result, dict)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in result.items())
    else:
        assert isinstance(result, str)
    assert validate_attribute(name, result) == result
