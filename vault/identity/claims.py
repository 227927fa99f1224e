"""What a provider says about a person, turned into vault attributes (pure; used by OIDC and SAML).

A provider's claim (or SAML attribute) is mapped to a vault attribute name through the provider's
``claims_map``, reshaped where the OIDC form differs from the vault's (``address``,
``place_of_birth``, ``nationalities``) and validated by
:func:`vault.citizens.attributes.validate_attribute`. A value that does not validate is left out:
a provider's odd spelling of one value never fails the sign-in itself.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from vault.citizens.attributes import AttributeInvalid, validate_attribute

if TYPE_CHECKING:
    from collections.abc import Mapping

#: OIDC claims (Core §5.1, eKYC-IDA §4) -> vault attributes, used when a provider has no claims map.
DEFAULT_OIDC_CLAIMS: dict[str, str] = {
    "given_name": "given_name",
    "family_name": "family_name",
    "birthdate": "birth_date",
    "place_of_birth": "birth_place",
    "birth_family_name": "birth_name",
    "address": "address",
    "nationalities": "nationality",
}

#: "Heidestraße 17", "Musterweg 5a", "Lange Reihe 12-14": the street, then a number starting with a digit.
_STREET_AND_NUMBER = re.compile(r"^(?P<street>.*\S)\s+(?P<number>[0-9][0-9A-Za-z/\- ]{0,19})$")


def _address(value: object) -> object:
    """OIDC ``address`` (Core §5.1.1) -> the vault's ``{street, house_number, postal_code, city, country}``."""
    if not isinstance(value, dict) or "street" in value:
        return value
    street_address = value.get("street_address")
    if not isinstance(street_address, str):
        return None
    match = _STREET_AND_NUMBER.match(street_address.strip())
    if match is None:
        return None
    return {
        "street": match["street"],
        "house_number": match["number"].strip(),
        "postal_code": value.get("postal_code"),
        "city": value.get("locality"),
        "country": value.get("country"),
    }


def _place(value: object) -> object:
    """``place_of_birth`` as ``{"locality": …}`` (eKYC-IDA) or a plain string."""
    if isinstance(value, dict):
        return value.get("locality")
    return value


def _first(value: object) -> object:
    """``nationalities`` as ``["DE", …]`` (the first is taken) or ``"DE"``."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


_RESHAPE = {"address": _address, "birth_place": _place, "nationality": _first}


def to_attributes(claims: Mapping[str, object], claims_map: Mapping[str, str]) -> dict[str, object]:
    """Vault attribute name -> canonical value for every mapped claim that validates.

    Args:
        claims: The provider's claims (ID token or SAML attributes, single values already unwrapped).
        claims_map: Provider claim name -> vault attribute name.

    Returns:
        Only the attributes whose value validated; the first claim mapped to an attribute wins.
    """
    attributes: dict[str, object] = {}
    for claim, attribute in claims_map.items():
        if attribute in attributes or claim not in claims:
            continue
        reshape = _RESHAPE.get(attribute)
        value = reshape(claims[claim]) if reshape else claims[claim]
        if value is None:
            continue
        try:
            attributes[attribute] = validate_attribute(attribute, value)
        except AttributeInvalid:
            continue
    return attributes
