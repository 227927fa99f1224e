"""VAULT_WITNESSES and VAULT_WITNESS_TIMEOUT: parsed and checked like every other setting (ConfigError, exit 2)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from vault.config import ConfigError, load_settings, parse_witnesses, settings_to_environ
from vault.crypto.signers import Cosigner, NoteSigner

W1 = Cosigner("witness.example/w1", Ed25519PrivateKey.generate()).vkey()
W2 = Cosigner("witness.example/w2", Ed25519PrivateKey.generate()).vkey()


def test_no_witnesses_by_default() -> None:
    s = load_settings({})
    assert (s.witnesses, s.witness_timeout) == ("", 5.0)
    assert parse_witnesses(s.witnesses) == []


def test_entries_are_url_equals_vkey_separated_by_commas_or_whitespace() -> None:
    value = f"https://w1.example/witness/={W1},\n  http://127.0.0.1:8090={W2}"
    s = load_settings({"VAULT_WITNESSES": value, "VAULT_WITNESS_TIMEOUT": "2.5"})
    assert parse_witnesses(s.witnesses) == [("https://w1.example/witness", W1), ("http://127.0.0.1:8090", W2)]
    assert s.witness_timeout == 2.5
    again = load_settings(settings_to_environ(s))  # what worker processes get
    assert parse_witnesses(again.witnesses) == parse_witnesses(s.witnesses)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VAULT_WITNESSES": W1}, "not URL=VKEY"),
        ({"VAULT_WITNESSES": f"ftp://w.example={W1}"}, "not URL=VKEY"),
        ({"VAULT_WITNESSES": f"https://w.example/?a=b={W1}"}, "not URL=VKEY"),
        ({"VAULT_WITNESSES": "https://w.example=nonsense"}, "malformed witness key"),
        ({"VAULT_WITNESSES": f"https://w.example={NoteSigner('w', Ed25519PrivateKey.generate()).vkey()}"}, "0x04"),
        ({"VAULT_WITNESSES": f"https://a.example={W1} https://b.example={W1}"}, "listed twice"),
        ({"VAULT_WITNESS_TIMEOUT": "0"}, "not between"),
        ({"VAULT_WITNESS_TIMEOUT": "soon"}, "float"),
    ],
)
def test_bad_witness_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as refused:
        load_settings(env)
    assert refused.value.setting == next(iter(env))
