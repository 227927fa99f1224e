"""Validation and normalisation of the built-in citizen attributes (pure: no I/O, no database).

:func:`validate_attribute` returns the canonical, JSON-compatible form of a value (``str`` or, for
``address``, ``dict[str, str]``) or raises :class:`AttributeInvalid` naming the offending field
(``"address.<sub>"`` for address sub-fields). Rules:

* Text (``given_name``, ``family_name``, ``birth_name``, ``birth_place``): NFC, stripped, 1..200
  characters, no control characters.
* ``birth_date``: ``YYYY-MM-DD``, 1900-01-01 up to today.
* ``nationality`` and ``address.country``: an officially assigned ISO 3166-1 alpha-2 code.
* ``address``: exactly ``street``, ``house_number``, ``postal_code``, ``city``, ``country``.
* ``email``: pragmatic syntax check; only the domain is lower-cased.
* ``phone``: E.164 (``+`` and 8..15 digits) after removing spaces, dashes and parentheses.
* ``tax_id``: the German steuerliche Identifikationsnummer (structure and ISO 7064 MOD 11,10 check
  digit as specified in the ELSTER document "Prüfung der Steuer- und Steueridentifikationsnummer").
* ``iban``: ISO 13616 (mod-97 == 1), 15..34 characters, 22 for ``DE``.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections import Counter
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["BUILTIN_ATTRIBUTES", "ISO_3166_ALPHA2", "AttributeInvalid", "validate_attribute"]


class AttributeInvalid(ValueError):
    """An attribute value was rejected; the HTTP layer maps this to 422.

    Attributes:
        field: The offending field, e.g. ``"birth_date"`` or ``"address.postal_code"``.
        reason: A human-readable English explanation.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason

    def __reduce__(self) -> tuple[type[AttributeInvalid], tuple[str, str]]:
        return (type(self), (self.field, self.reason))


_ISO_3166_ALPHA2_CODES: Final = (
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ "
    "CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO "
    "FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE "
    "JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO "
    "MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW "
    "PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM "
    "TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW"
)
#: The 249 officially assigned ISO 3166-1 alpha-2 codes (no user-assigned or reserved codes such as XK).
ISO_3166_ALPHA2: Final = frozenset(_ISO_3166_ALPHA2_CODES.split())

_TEXT_MAX: Final = 200
_ADDRESS_FIELDS: Final = ("street", "house_number", "postal_code", "city", "country")
_EARLIEST_BIRTH_DATE: Final = dt.date(1900, 1, 1)
_REJECTED_CATEGORIES: Final = frozenset({"Cc", "Cs"})  # control characters, lone surrogates
_ISO_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ALPHA2: Final = re.compile(r"[A-Za-z]{2}")
_E164: Final = re.compile(r"\+[1-9][0-9]{7,14}")
_PHONE_SEPARATORS: Final = re.compile(r"[\s()\-]")
_DE_POSTAL_CODE: Final = re.compile(r"[0-9]{5}")
_TAX_ID: Final = re.compile(r"[0-9]{11}")
_IBAN: Final = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")
_IBAN_LENGTHS: Final = {"DE": 22}


def _string(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise AttributeInvalid(field, "must be a string")
    return value


def _without_controls(field: str, text: str) -> str:
    if any(unicodedata.category(char) in _REJECTED_CATEGORIES for char in text):
        raise AttributeInvalid(field, "must not contain control characters")
    return text


def _text(field: str, value: object) -> str:
    """Return ``value`` NFC-normalised and stripped, 1..200 characters long."""
    text = _without_controls(field, unicodedata.normalize("NFC", _string(field, value)).strip())
    if not text:
        raise AttributeInvalid(field, "must not be empty")
    if len(text) > _TEXT_MAX:
        raise AttributeInvalid(field, f"must be at most {_TEXT_MAX} characters long")
    return text


def _country_code(field: str, value: object) -> str:
    code = _string(field, value).strip()
    if not _ALPHA2.fullmatch(code) or code.upper() not in ISO_3166_ALPHA2:
        raise AttributeInvalid(field, "must be an ISO 3166-1 alpha-2 country code")
    return code.upper()


def _birth_date(field: str, value: object) -> str:
    text = _string(field, value).strip()
    if not _ISO_DATE.fullmatch(text):
        raise AttributeInvalid(field, "must be a date in the form YYYY-MM-DD")
    try:
        date = dt.date.fromisoformat(text)
    except ValueError:
        raise AttributeInvalid(field, "is not a valid calendar date") from None
    if date < _EARLIEST_BIRTH_DATE:
        raise AttributeInvalid(field, "must not be before 1900-01-01")
    if date > dt.date.today():
        raise AttributeInvalid(field, "must not be in the future")
    return date.isoformat()


def _address(field: str, value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise AttributeInvalid(field, "must be an object")
    for key in sorted(map(str, value)):
        if key not in _ADDRESS_FIELDS:
            raise AttributeInvalid(f"{field}.{key}", "unknown field")
    for key in _ADDRESS_FIELDS:
        if value.get(key) is None:
            raise AttributeInvalid(f"{field}.{key}", "is required")
    normalised = {key: _text(f"{field}.{key}", value[key]) for key in _ADDRESS_FIELDS[:4]}
    normalised["country"] = _country_code(f"{field}.country", value["country"])
    house_number = normalised["house_number"]
    if len(house_number) > 20:
        raise AttributeInvalid(f"{field}.house_number", "must be at most 20 characters long")
    if not "0" <= house_number[0] <= "9":
        raise AttributeInvalid(f"{field}.house_number", "must start with a digit")
    if normalised["country"] == "DE" and not _DE_POSTAL_CODE.fullmatch(normalised["postal_code"]):
        raise AttributeInvalid(f"{field}.postal_code", "must be exactly 5 digits for a German address")
    return normalised


def _email(field: str, value: object) -> str:
    text = _without_controls(field, _string(field, value).strip())
    if any(char.isspace() for char in text):
        raise AttributeInvalid(field, "must not contain spaces")
    local, at, domain = text.rpartition("@")
    if not at or "@" in local:
        raise AttributeInvalid(field, "must contain exactly one '@'")
    if not local or len(local) > 64:
        raise AttributeInvalid(field, "local part must be 1 to 64 characters long")
    labels = domain.split(".")
    if len(labels) < 2 or not all(labels):
        raise AttributeInvalid(field, "domain must contain a dot and no empty labels")
    address = f"{local}@{domain.lower()}"
    if len(address) > 254:
        raise AttributeInvalid(field, "must be at most 254 characters long")
    return address


def _phone(field: str, value: object) -> str:
    number = _PHONE_SEPARATORS.sub("", _string(field, value))
    if not _E164.fullmatch(number):
        raise AttributeInvalid(field, "must be an international number: '+' and 8 to 15 digits")
    return number


def _steuer_id_check_digit(first_ten: str) -> int:
    """Return the ISO 7064 MOD 11,10 check digit of the first ten digits of a Steuer-ID.

    Args:
        first_ten: The ten leading ASCII digits.

    Returns:
        The expected eleventh digit.
    """
    product = 10
    for digit in first_ten:
        total = (int(digit) + product) % 10 or 10
        product = (2 * total) % 11
    return (11 - product) % 10


def _tax_id(field: str, value: object) -> str:
    number = re.sub(r"\s", "", _string(field, value))
    if not _TAX_ID.fullmatch(number):
        raise AttributeInvalid(field, "must be exactly 11 digits")
    if number[0] == "0":
        raise AttributeInvalid(field, "must not start with 0 (test IDs are not accepted)")
    first_ten = number[:10]
    repeated = [(digit, count) for digit, count in Counter(first_ten).items() if count > 1]
    if len(repeated) != 1 or repeated[0][1] > 3:
        raise AttributeInvalid(field, "exactly one digit must occur twice or three times in the first ten digits")
    if repeated[0][0] * 3 in first_ten:
        raise AttributeInvalid(field, "a digit must not occur three times in a row")
    if int(number[10]) != _steuer_id_check_digit(first_ten):
        raise AttributeInvalid(field, "check digit does not match")
    return number


def _iban(field: str, value: object) -> str:
    iban = re.sub(r"\s", "", _string(field, value))
    if not iban.isascii() or not _IBAN.fullmatch(iban.upper()):
        raise AttributeInvalid(field, "must be 2 letters, 2 check digits and 11 to 30 letters or digits")
    iban = iban.upper()
    expected = _IBAN_LENGTHS.get(iban[:2])
    if expected is not None and len(iban) != expected:
        raise AttributeInvalid(field, f"must be {expected} characters long for country {iban[:2]}")
    if int("".join(str(int(char, 36)) for char in iban[4:] + iban[:4])) % 97 != 1:
        raise AttributeInvalid(field, "checksum does not match")
    return iban


_VALIDATORS: Final[dict[str, Callable[[str, object], object]]] = {
    "given_name": _text,
    "family_name": _text,
    "birth_name": _text,
    "birth_date": _birth_date,
    "birth_place": _text,
    "nationality": _country_code,
    "address": _address,
    "email": _email,
    "phone": _phone,
    "tax_id": _tax_id,
    "iban": _iban,
}

#: Names of the built-in attributes that :func:`validate_attribute` accepts.
BUILTIN_ATTRIBUTES: Final = frozenset(_VALIDATORS)


def validate_attribute(name: str, value: object) -> object:
    """Validate a built-in attribute and return its normalised, JSON-compatible value.

    Args:
        name: One of :data:`BUILTIN_ATTRIBUTES`.
        value: The decoded JSON value supplied by the client.

    Returns:
        The canonical value: a ``str``, or for ``address`` a ``dict[str, str]``.

    Raises:
        AttributeInvalid: The name is unknown or the value breaks a rule; ``field`` names the
            attribute, or ``"address.<sub>"`` for an address sub-field.
    """
    validator = _VALIDATORS.get(name)
    if validator is None:
        raise AttributeInvalid(name, "unknown attribute")
    return validator(name, value)
