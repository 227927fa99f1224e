"""`vault idp …` as an operator runs it, against the test eID provider served on a loopback port."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import uvicorn
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from examples.eid_provider.app import create_app
from examples.eid_provider.clients import Client
from examples.eid_provider.personas import ACR
from tests.support.postgres import free_port
from tests.support.server import vault_cmd
from vault.cli import cli

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from vault.config import Settings

ACR_MAP = f"{ACR['high']}=high,{ACR['substantial']}=substantial"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: these tests are about the command line, not the database (the registry is tested elsewhere)."""
    return f"sqlite+aiosqlite:///{tmp_path / 'vault.db'}"


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    """The test eID provider on a free loopback port, in a thread."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = create_app(url, [Client("vault", ("https://vault.example/login/idp/callback",), client_secret="x")])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _env(settings: Settings) -> dict[str, str]:
    return {"VAULT_DATA_DIR": str(settings.data_dir), "VAULT_DATABASE_URL": settings.database_url}


def listed(env: dict[str, str]) -> list[dict[str, object]]:
    result = vault_cmd("idp", "list", env=env)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``vault ARGS`` in this process (the same click command as the installed one)."""
    result = CliRunner().invoke(cli, list(args), env=env, prog_name="vault")
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)


def listed_here(env: dict[str, str]) -> list[dict[str, Any]]:
    """``vault idp list`` in this process, parsed."""
    return [json.loads(line) for line in run("idp", "list", env=env).stdout.splitlines()]


def test_add_list_disable_enable(migrated: Settings, tmp_path: Path, issuer: str) -> None:
    env = _env(migrated)
    key = pem(ec.generate_private_key(ec.SECP256R1()))
    (tmp_path / "vault.pem").write_bytes(key)
    (tmp_path / "secret.txt").write_text("s3cret-value\n")
    added = vault_cmd(  # the installed command, once; the rest runs in this process (CI time)
        "idp", "add", "--name", "Test-eID", "--issuer", issuer, "--client-id", "vault",
        "--private-key", str(tmp_path / "vault.pem"), "--acr-map", ACR_MAP, env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    provider_id = json.loads(added.stdout)["id"]
    second_args = (
        "idp", "add", "--name", "BundID (Test)", "--issuer", issuer, "--client-id", "vault-2",
        "--client-secret-file", str(tmp_path / "secret.txt"), "--acr-map", ACR_MAP,
        "--claims-map", "given_name=given_name,family_name=family_name",
    )  # fmt: skip
    # the same issuer twice, even under another client id, would split one person's subject over two providers
    twin = run(*second_args, env=env)
    assert twin.returncode == 2
    assert twin.stderr.startswith(f"vault: error: issuer: already registered as provider {provider_id}")

    rows = listed_here(env)
    assert rows == [
        {
            "id": provider_id,
            "name": "Test-eID",
            "kind": "oidc",
            "issuer": issuer,
            "client_id": "vault",
            "auth_method": "private_key_jwt",
            "acr_map": {ACR["high"]: "high", ACR["substantial"]: "substantial"},
            "linked": 0,
            "disabled": False,
        }
    ]
    assert run("idp", "disable", provider_id, env=env).returncode == 0
    again = run("idp", "disable", provider_id, env=env)
    assert again.returncode == 2
    assert again.stderr.startswith("vault: error: id:")

    # a replacement for the disabled one is fine, and then the old one cannot come back beside it
    replacement = run(*second_args, env=env)
    assert replacement.returncode == 0, replacement.stderr
    rows = listed_here(env)
    assert [(r["name"], r["disabled"]) for r in rows] == [("BundID (Test)", False), ("Test-eID", True)]
    assert rows[0]["auth_method"] in {"client_secret_basic", "client_secret_post"}
    everything = json.dumps(rows)
    assert "PRIVATE KEY" not in everything
    assert "s3cret-value" not in everything
    back = run("idp", "enable", provider_id, env=env)
    assert back.returncode == 2
    assert back.stderr.startswith("vault: error: issuer: already registered")
    assert run("idp", "disable", json.loads(replacement.stdout)["id"], env=env).returncode == 0
    assert run("idp", "enable", provider_id, env=env).returncode == 0
    assert [r["disabled"] for r in listed_here(env) if r["id"] == provider_id] == [False]
    unknown = run("idp", "enable", "no-such-provider", env=env)
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("vault: error: id:")

    # in place (same id, so linked accounts stay linked): a new key, a narrower acr map, discovery checked again
    (tmp_path / "new.pem").write_bytes(pem(ec.generate_private_key(ec.SECP256R1())))
    updated = run(
        "idp", "update", provider_id, "--private-key", str(tmp_path / "new.pem"), "--acr-map", f"{ACR['high']}=high",
        env=env,
    )  # fmt: skip
    assert updated.returncode == 0, updated.stderr
    assert json.loads(updated.stdout) == {"id": provider_id, "changed": []}
    assert [r["acr_map"] for r in listed_here(env) if r["id"] == provider_id] == [{ACR["high"]: "high"}]
    bad = run("idp", "update", provider_id, "--acr-map", "urn:nothing=high", env=env)
    assert bad.returncode == 2
    assert bad.stderr.startswith("vault: error: acr-map:")
    missing = run("idp", "update", "no-such-provider", env=env)
    assert missing.returncode == 2
    assert missing.stderr.startswith("vault: error: id:")


def test_each_bad_field_exits_2_and_stores_nothing(migrated: Settings, tmp_path: Path, issuer: str) -> None:
    env = _env(migrated)
    files = {
        "good.pem": pem(ec.generate_private_key(ec.SECP256R1())),
        "p384.pem": pem(ec.generate_private_key(ec.SECP384R1())),
        "rsa1024.pem": pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
        "garbage.pem": b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
        "public.pem": ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        "empty.txt": b"\n",
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    unreachable = f"http://127.0.0.1:{free_port()}"

    def add(*changes: str, issuer_url: str = issuer, key: str = "good.pem") -> list[str]:
        args = ["--name", "X", "--issuer", issuer_url, "--client-id", "vault", "--acr-map", ACR_MAP]
        if key:
            args += ["--private-key", str(tmp_path / key)]
        return ["idp", "add", *args, *changes]

    cases = [
        (add(issuer_url="http://eid.example"), "issuer"),  # http off loopback
        (add(issuer_url="ftp://127.0.0.1"), "issuer"),
        (add(issuer_url="https://例え.jp"), "issuer"),  # non-ASCII host: would break the CSP of /login
        (add(issuer_url="https://user@eid.example"), "issuer"),
        (add(issuer_url=unreachable), "issuer"),
        (add(issuer_url=issuer + "/"), "issuer"),  # discovery names the issuer without the slash: not equal
        (add(issuer_url=issuer + "/other"), "issuer"),  # 404
        (add("--acr-map", "urn:x=highest"), "acr-map"),
        (add("--acr-map", ""), "acr-map"),
        (add("--acr-map", "urn:x=high,urn:x=substantial"), "acr-map"),
        (add("--acr-map", "no-level"), "acr-map"),
        (add("--acr-map", "urn:foo=high"), "acr-map"),  # not in acr_values_supported: every sign-in would be basic
        (add("--claims-map", "given_name=shoe_size"), "claims-map"),
        (add(key="p384.pem"), "private-key"),
        (add(key="rsa1024.pem"), "private-key"),
        (add(key="garbage.pem"), "private-key"),
        (add(key="public.pem"), "private-key"),
        (add(key="missing.pem"), "private-key"),
        (add(key=""), "private-key"),  # neither a key nor a secret
        (add("--client-secret-file", str(tmp_path / "empty.txt")), "private-key"),  # both
        (add("--client-secret-file", str(tmp_path / "empty.txt"), key=""), "client-secret-file"),
        (["idp", "add", "--name", "X", "--issuer", issuer, "--acr-map", ACR_MAP], "client-id"),
        (add("--saml-metadata", f"{issuer}/saml/metadata"), "saml-metadata"),  # not together with --issuer
        (["idp", "add", "--name", "X", "--saml-metadata", str(tmp_path / "nope.xml"), "--acr-map", ACR_MAP],
         "saml-metadata"),
    ]  # fmt: skip
    runner = CliRunner()  # in this process: 25 refusals as subprocesses cost half a minute of CI
    for args, field in cases:
        result = runner.invoke(cli, args, env=env, prog_name="vault")
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, (args, result.stderr)
        assert lines[0].startswith(f"vault: error: {field}: "), (args, result.stderr)
    assert listed(env) == []  # and the real command agrees: nothing was stored


def test_keys_of_each_allowed_kind_are_accepted(migrated: Settings, tmp_path: Path, issuer: str) -> None:
    env = _env(migrated)
    keys = {
        "rsa.pem": pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "ed.pem": pem(ed25519.Ed25519PrivateKey.generate()),
    }
    for name, content in keys.items():
        (tmp_path / name).write_bytes(content)
    rsa_added = vault_cmd(
        "idp", "add", "--name", "R", "--issuer", issuer, "--client-id", "vault",
        "--private-key", str(tmp_path / "rsa.pem"), "--acr-map", ACR_MAP, env=env,
    )  # fmt: skip
    assert rsa_added.returncode == 0, rsa_added.stderr
    # The test provider accepts ES256, PS256 and RS256 client assertions only: an Ed25519 key is refused for it.
    ed = vault_cmd(
        "idp", "add", "--name", "E", "--issuer", issuer, "--client-id", "vault",
        "--private-key", str(tmp_path / "ed.pem"), "--acr-map", ACR_MAP, env=env,
    )  # fmt: skip
    assert ed.returncode == 2
    assert ed.stderr.startswith("vault: error: private-key: the provider does not accept EdDSA")
    assert [r["name"] for r in listed(env)] == ["R"]


def test_saml_metadata_registers_a_saml_provider(migrated: Settings, issuer: str) -> None:
    env = {**_env(migrated), "VAULT_ISSUER": "https://vault.example"}
    added = vault_cmd(
        "idp", "add", "--name", "BundID SAML", "--saml-metadata", f"{issuer}/saml/metadata",
        "--acr-map", "STORK-QAA-Level-4=high,STORK-QAA-Level-3=substantial", env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    answer = json.loads(added.stdout)
    assert answer["sp_metadata"] == f"https://vault.example/login/idp/saml/{answer['id']}/metadata"
    rows = listed(env)
    assert [(r["id"], r["kind"], r["issuer"]) for r in rows] == [(answer["id"], "saml", f"{issuer}/saml/metadata")]
