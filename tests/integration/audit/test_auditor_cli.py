"""`vault auditor add | list | disable` as an operator runs them, on both databases."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tests.support.server import vault_cmd

if TYPE_CHECKING:
    from pathlib import Path

    from vault.config import Settings


def test_add_list_and_disable_an_auditor(migrated: Settings, tmp_path: Path) -> None:
    env = {"VAULT_DATA_DIR": str(migrated.data_dir), "VAULT_DATABASE_URL": migrated.database_url}
    secret = tmp_path / "password"
    secret.write_text("ein sehr gutes Passwort\n")
    add = ("auditor", "add", "--username", "pruefer@bfdi.example", "--label", "BfDI, Referat 24")
    added = vault_cmd(*add, "--password-file", str(secret), env=env)
    assert added.returncode == 0, added.stderr
    account_id = json.loads(added.stdout)["account_id"]

    again = vault_cmd(*add, "--password-file", str(secret), env=env)
    assert again.returncode == 2
    assert "is taken" in again.stderr
    (tmp_path / "weak").write_text("passwort")
    weak = vault_cmd("auditor", "add", "--username", "zweite@bfdi.example", "--label", "BfDI",
                     "--password-file", str(tmp_path / "weak"), env=env)  # fmt: skip
    assert weak.returncode == 2
    assert "the password is refused" in weak.stderr
    no_label = vault_cmd("auditor", "add", "--username", "dritte@bfdi.example", "--label", " ",
                         "--password-file", str(secret), env=env)  # fmt: skip
    assert no_label.returncode == 2

    listed = [json.loads(line) for line in vault_cmd("auditor", "list", env=env).stdout.splitlines()]
    assert [(a["account_id"], a["label"], a["disabled_at"]) for a in listed] == [(account_id, "BfDI, Referat 24", None)]
    assert "pruefer" not in json.dumps(listed)  # the login name stays sealed

    assert vault_cmd("auditor", "disable", "no-such-id", env=env).returncode == 2
    disabled = vault_cmd("auditor", "disable", account_id, env=env)
    assert disabled.returncode == 0, disabled.stderr
    (row,) = [json.loads(line) for line in vault_cmd("auditor", "list", env=env).stdout.splitlines()]
    assert row["disabled_at"] is not None
    assert vault_cmd("auditor", "disable", account_id, env=env).returncode == 2
