"""Catalogue fixtures: an agency's key pair and a service file, as an agency would prepare them."""

from __future__ import annotations

import json
from typing import Any

from joserfc.jwk import ECKey

SERVICE_TOML = """
id = "ummeldung"
agency = "{agency}"
title = {{ de = "Wohnsitz ummelden", en = "Register a change of address" }}
purpose = {{ de = "Anmeldung der neuen Wohnung", en = "Registering your new home" }}
legal_basis = "§ 17 Bundesmeldegesetz (BMG)"
fields = ["given_name", "family_name", "birth_date", "address"]
optional_fields = ["email"]
documents = [{{ kind = "rental_confirmation", required = true, late_submission = true }}]
access = "once"             # once | ongoing
max_duration_days = 30
min_assurance = "basic"     # basic | substantial | high
"""


def service_toml(agency: str = "agency-test", **replace: str) -> bytes:
    """The DESIGN.md §5 example service file for ``agency``, with lines replaced by ``key=new line``."""
    text = SERVICE_TOML.format(agency=agency)
    for key, line in replace.items():
        text = "\n".join(line if row.split("=")[0].strip() == key else row for row in text.splitlines())
    return text.encode()


def agency_key(kid: str = "agency-key-1") -> tuple[ECKey, dict[str, Any]]:
    """A fresh ES256 key and the public JWK Set an agency registers."""
    key = ECKey.generate_key("P-256", private=True)
    public = {**key.as_dict(private=False), "kid": kid, "alg": "ES256", "use": "sig"}
    return key, {"keys": [public]}


def jwks_bytes(jwks: dict[str, Any]) -> bytes:
    """A JWK Set as file content."""
    return json.dumps(jwks).encode()
