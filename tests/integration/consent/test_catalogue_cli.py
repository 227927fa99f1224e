"""`vault agency …` and `vault service …` as an operator runs them, on both databases."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tests.support.catalogue import agency_key, jwks_bytes, service_toml
from tests.support.server import vault_cmd

if TYPE_CHECKING:
    from pathlib import Path

    from vault.config import Settings


def _env(settings: Settings) -> dict[str, str]:
    return {"VAULT_DATA_DIR": str(settings.data_dir), "VAULT_DATABASE_URL": settings.database_url}


def test_register_an_agency_and_its_service_then_list_and_disable(migrated: Settings, tmp_path: Path) -> None:
    env = _env(migrated)
    _, jwks = agency_key()
    (tmp_path / "jwks.json").write_bytes(jwks_bytes(jwks))
    added = vault_cmd(
        "agency", "add", "--name", "Bürgeramt Köln", "--redirect-uri", "https://amt.example/cb",
        "--jwks", str(tmp_path / "jwks.json"), env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    client_id = json.loads(added.stdout)["client_id"]
    (tmp_path / "ummeldung.toml").write_bytes(service_toml(client_id))
    service = vault_cmd("service", "add", str(tmp_path / "ummeldung.toml"), env=env)
    assert service.returncode == 0, service.stderr
    assert json.loads(service.stdout) == {"id": "ummeldung"}

    again = vault_cmd("service", "add", str(tmp_path / "ummeldung.toml"), env=env)
    assert again.returncode == 2
    assert "id: a service 'ummeldung' exists already" in again.stderr

    agencies = [json.loads(line) for line in vault_cmd("agency", "list", env=env).stdout.splitlines()]
    assert agencies == [
        {
            "client_id": client_id,
            "name": "Bürgeramt Köln",
            "redirect_uris": ["https://amt.example/cb"],
            "kids": ["agency-key-1"],
            "disabled": False,
        }
    ]
    assert vault_cmd("agency", "disable", client_id, env=env).returncode == 0
    services = [json.loads(line) for line in vault_cmd("service", "list", env=env).stdout.splitlines()]
    assert [(s["id"], s["disabled"]) for s in services] == [("ummeldung", True)]
    unknown = vault_cmd("service", "disable", "nope", env=env)
    assert unknown.returncode == 2
    assert "no service 'nope'" in unknown.stderr


def test_bad_input_names_the_field_and_stores_nothing(migrated: Settings, tmp_path: Path) -> None:
    env = _env(migrated)
    key, jwks = agency_key()
    (tmp_path / "private.json").write_text(json.dumps({"keys": [{**key.as_dict(private=True), "kid": "k"}]}))
    (tmp_path / "jwks.json").write_bytes(jwks_bytes(jwks))
    add = ("agency", "add", "--name", "A", "--redirect-uri")
    private = vault_cmd(*add, "https://a.example/cb", "--jwks", str(tmp_path / "private.json"), env=env)
    assert private.returncode == 2
    assert "jwks.keys.0: contains private key material" in private.stderr
    http = vault_cmd(*add, "http://a.example/cb", "--jwks", str(tmp_path / "jwks.json"), env=env)
    assert http.returncode == 2
    assert "redirect_uri" in http.stderr
    assert vault_cmd("agency", "list", env=env).stdout == ""

    (tmp_path / "bad.toml").write_bytes(service_toml("agency-x", access='access = "twice"'))
    bad = vault_cmd("service", "add", str(tmp_path / "bad.toml"), env=env)
    assert bad.returncode == 2
    assert bad.stderr.startswith("vault: error: access:")
    (tmp_path / "orphan.toml").write_bytes(service_toml("agency-unknown"))
    orphan = vault_cmd("service", "add", str(tmp_path / "orphan.toml"), env=env)
    assert orphan.returncode == 2
    assert "agency: no active agency 'agency-unknown'" in orphan.stderr
    missing = vault_cmd("service", "add", str(tmp_path / "missing.toml"), env=env)
    assert missing.returncode == 2
    assert "No such file" in missing.stderr
    assert vault_cmd("service", "list", env=env).stdout == ""
