"""The ``vault`` command as an operator meets it: one-line errors with exit 2, never a traceback."""

from __future__ import annotations

import base64
import json
import os
import stat
from typing import TYPE_CHECKING

import pytest

from tests.support.server import vault_cmd

if TYPE_CHECKING:
    from pathlib import Path

KEY_A = base64.b64encode(b"a" * 32).decode()
KEY_B = base64.b64encode(b"b" * 32).decode()


def assert_one_line_error(result, setting: str) -> None:  # type: ignore[no-untyped-def]
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert setting in lines[0]
    assert "Traceback" not in result.stderr


def test_config_show_prints_effective_settings_with_secrets_redacted(tmp_path: Path) -> None:
    env = {"VAULT_ROOT_KEY": KEY_A, "VAULT_DATABASE_URL": "postgresql://vault:s3cret@db/vault", "VAULT_PORT": "9000"}
    r = vault_cmd("config", "show", env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert shown["VAULT_ROOT_KEY"] == "***"
    assert shown["VAULT_DATABASE_URL"] == "postgresql+asyncpg://vault:***@db/vault"
    assert shown["VAULT_PORT"] == 9000
    assert KEY_A not in r.stdout
    assert "s3cret" not in r.stdout


def test_flags_override_environment(tmp_path: Path) -> None:
    r = vault_cmd(
        "--issuer",
        "https://vault.example",
        "config",
        "show",
        env={"VAULT_ISSUER": "https://other.example"},
        cwd=tmp_path,
    )
    assert json.loads(r.stdout)["VAULT_ISSUER"] == "https://vault.example"


@pytest.mark.parametrize(
    ("env", "args", "setting"),
    [
        ({"VAULT_DATABASE_URL": "mysql://db/vault"}, ["db", "upgrade"], "VAULT_DATABASE_URL"),
        ({"VAULT_PORT": "http"}, ["config", "show"], "VAULT_PORT"),
        ({"VAULT_ROOT_KEY": "c2hvcnQ="}, ["serve"], "VAULT_ROOT_KEY"),
        ({"VAULT_ROOT_KEY": "%%%"}, ["serve"], "VAULT_ROOT_KEY"),
        ({"VAULT_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}, ["db", "upgrade"], "VAULT_DATABASE_URL"),
    ],
)
def test_bad_values_stop_with_one_line_and_status_2(
    tmp_path: Path, env: dict[str, str], args: list[str], setting: str
) -> None:
    assert_one_line_error(vault_cmd(*args, env=env, cwd=tmp_path), setting)


def test_unwritable_data_dir_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    r = vault_cmd("serve", env={"VAULT_DATA_DIR": str(blocker / "var")}, cwd=tmp_path)
    assert_one_line_error(r, "VAULT_DATA_DIR")
    if os.geteuid() != 0:  # root can write anywhere; the read-only case only means something for others
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        assert_one_line_error(vault_cmd("serve", env={"VAULT_DATA_DIR": str(ro)}, cwd=tmp_path), "VAULT_DATA_DIR")


def test_malformed_root_key_file_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "var"
    data.mkdir(mode=0o700)
    key = data / "root.key"
    key.write_text("this is not a key\n")
    key.chmod(0o600)
    assert_one_line_error(vault_cmd("serve", env={"VAULT_DATA_DIR": str(data)}, cwd=tmp_path), "VAULT_ROOT_KEY_FILE")


def test_db_upgrade_and_current(tmp_path: Path, database_url: str) -> None:
    env = {"VAULT_DATA_DIR": str(tmp_path / "var"), "VAULT_DATABASE_URL": database_url}
    r = vault_cmd("db", "upgrade", env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["from"] is None
    r = vault_cmd("db", "current", env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    state = json.loads(r.stdout)
    assert state["up_to_date"] is True
    assert state["current"] == state["head"]
    assert stat.S_IMODE((tmp_path / "var").stat().st_mode) == 0o700


def test_wrong_root_key_stops_serve(tmp_path: Path, database_url: str) -> None:
    env = {"VAULT_DATA_DIR": str(tmp_path / "var"), "VAULT_DATABASE_URL": database_url, "VAULT_PORT": "1"}
    assert vault_cmd("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    from tests.support.server import serve

    with serve(tmp_path, {**env, "VAULT_ROOT_KEY": KEY_A}):
        pass
    r = vault_cmd("serve", env={**env, "VAULT_ROOT_KEY": KEY_B}, cwd=tmp_path)
    assert_one_line_error(r, "VAULT_ROOT_KEY")
    assert "not the root key" in r.stderr


def test_missing_root_key_after_first_start_stops_serve(tmp_path: Path, database_url: str) -> None:
    data = tmp_path / "var"
    env = {"VAULT_DATA_DIR": str(data), "VAULT_DATABASE_URL": database_url}
    from tests.support.server import serve

    with serve(tmp_path, env):
        pass
    (data / "root.key").unlink()
    r = vault_cmd("serve", env=env, cwd=tmp_path)
    assert_one_line_error(r, "VAULT_ROOT_KEY_FILE")
    assert "the key file was missing" in r.stderr
    assert "restore the original from backup" in r.stderr
