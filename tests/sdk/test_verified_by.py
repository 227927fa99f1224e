"""``verified_by`` decodes with and without ``level`` (older vaults omit it); self-entered values have none."""

from __future__ import annotations

import msgspec
import pytest

from agency_sdk import DataResult

AT = "2026-05-01T10:00:00Z"


def _decode(attributes: dict[str, object]) -> DataResult:
    wire = {"attributes": attributes, "grant": {"id": "g1", "service": "s", "expires_at": AT},
            "receipt": {"commitment": "c" * 64}}  # fmt: skip
    return msgspec.json.decode(msgspec.json.encode(wire), type=DataResult)


def test_verified_by_decodes_with_and_without_level() -> None:
    by = {"provider": "Test-eID", "issuer": "https://eid.test", "kind": "oidc"}
    data = _decode({
        "given_name": {"value": "Erika", "source": "idp:p1", "updated_at": AT, "verified_by": {**by, "level": "high"}},
        "family_name": {"value": "Mustermann", "source": "idp:p1", "updated_at": AT, "verified_by": by},
        "email": {"value": "erika@example.de", "source": "self", "updated_at": AT},
    })  # fmt: skip
    high = data.attributes["given_name"].verified_by
    assert high is not None
    assert (high.provider, high.issuer, high.kind, high.level) == ("Test-eID", "https://eid.test", "oidc", "high")
    older = data.attributes["family_name"].verified_by
    assert older is not None
    assert (older.provider, older.level) == ("Test-eID", None)
    assert data.attributes["email"].verified_by is None


def test_a_verified_by_without_provider_is_refused() -> None:
    by = {"issuer": "https://eid.test", "kind": "oidc", "level": "high"}
    with pytest.raises(msgspec.ValidationError, match="provider"):
        _decode({"given_name": {"value": "Erika", "source": "idp:p1", "updated_at": AT, "verified_by": by}})
