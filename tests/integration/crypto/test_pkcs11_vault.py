"""The vault with its root key (and log key) in a SoftHSM2 token: serve, read, rotate both ways, 503, bad PIN."""

from __future__ import annotations

import json
import shutil
import stat
from typing import TYPE_CHECKING, Any

import httpx
import pkcs11
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from tests.integration.consent.test_oauth_flow import _flow, _read
from tests.support.server import serve, vault_cmd
from tests.support.web import BASE_URL, csrf_header, domain
from tlog.note import Verifier, open_note
from vault.app import create_app
from vault.citizens.vault import CITIZEN_VIEW
from vault.config import load_settings
from vault.crypto.pkcs11 import Pkcs11RootKey, init_ed25519_key, init_root_key
from vault.crypto.rootkey import RootKeyChain
from vault.crypto.tables import CitizenKey, RootKeyVersion
from vault.db.engine import create_engine
from vault.db.migrate import upgrade

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.softhsm import SoftHsm
    from vault.config import Settings
    from vault.crypto.pkcs11 import Pkcs11Location


def setting(where: Pkcs11Location, version: int | None = None) -> str:
    """``VAULT_ROOT_KEY_PKCS11``'s text for ``where``."""
    text = f"module={where.module};token={where.token};key={where.key}"
    return text if version is None else f"{text};version={version}"


def pin_file(tmp_path: Path, pin: str) -> Path:
    """The PIN in a 0600 file."""
    path = tmp_path / "pkcs11.pin"
    path.write_text(pin + "\n")
    path.chmod(0o600)
    return path


async def migrated_settings(database_url: str, data_dir: Path, **token: Any) -> Settings:
    """Settings on a migrated database, with the token settings given."""
    settings = load_settings({}, data_dir=str(data_dir), database_url=database_url, **token)
    engine = create_engine(settings)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    return settings


async def test_reads_with_the_token_key_and_503_while_the_token_is_gone(
    softhsm: SoftHsm,
    tmp_path: Path,
    database_url: str,
) -> None:
    """Citizen and agency reads unwrap in the token; without it they answer 503 and serve nothing; then again."""
    where = softhsm.location()
    init_root_key(where, softhsm.pin)
    settings = await migrated_settings(
        database_url,
        tmp_path / "var",
        root_key_pkcs11=setting(where),
        pkcs11_pin_file=str(pin_file(tmp_path, softhsm.pin)),
    )
    settings.issuer = BASE_URL
    async with AsyncTestClient(create_app(settings), base_url=BASE_URL) as web:
        web.follow_redirects = False
        agency, token = await _flow(web, settings, "erika@example.de", access='access = "ongoing"')
        read = await _read(web, agency, token)
        assert read.status_code == 200, read.text
        assert read.json()["attributes"]["given_name"]["value"] == "Erika"
        own = await web.get("/api/v1/me/attributes", headers=await csrf_header(web))
        assert own.status_code == 200
        assert "Mustermann" in own.text
        assert not (settings.data_dir / "root.key").exists()  # never created beside a token key

        # The token store goes away and the module stops (a network HSM's client losing its device): the
        # next call fails, each later one restarts the module and finds no token, until the store is back.
        away = softhsm.tokendir.with_name("tokens-away")
        shutil.move(softhsm.tokendir, away)
        softhsm.tokendir.mkdir()
        pkcs11.lib(softhsm.module).finalize()
        try:
            for response in (await _read(web, agency, token), await web.get("/api/v1/me/attributes")):
                assert response.status_code == 503, response.text
                assert response.json() == {"error": "temporarily unavailable", "status": 503}
        finally:
            softhsm.tokendir.rmdir()
            shutil.move(away, softhsm.tokendir)
        again = await _read(web, agency, token)
        assert again.status_code == 200, again.text
        assert "Erika" in again.text
    async with domain(settings) as runtime:
        assert isinstance(runtime.keys.root, Pkcs11RootKey)


def test_serve_with_the_token_key_and_init_refuses_an_existing_label(
    softhsm: SoftHsm,
    tmp_path: Path,
) -> None:
    """`vault keys init-pkcs11` makes the key, `vault serve` runs on it (ready), a second init refuses."""
    where = softhsm.location()
    env = {
        "VAULT_DATA_DIR": str(tmp_path / "var"),
        "VAULT_ROOT_KEY_PKCS11": setting(where),
        "VAULT_PKCS11_PIN_FILE": str(pin_file(tmp_path, softhsm.pin)),
    }
    made = vault_cmd("keys", "init-pkcs11", env=env)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout) == {"token": "vault", "key": where.key, "version": 1}
    again = vault_cmd("keys", "init-pkcs11", env=env)
    assert again.returncode == 2
    assert again.stderr.strip().splitlines() == [
        f"vault: error: VAULT_ROOT_KEY_PKCS11: the token already holds a key labelled {where.key!r}"
    ]
    with serve(tmp_path, env) as vault:
        assert httpx.get(vault.base_url + "/readyz").status_code == 200
        assert not (tmp_path / "var" / "root.key").exists()
        assert "Traceback" not in vault.log()


@pytest.mark.parametrize(
    ("token", "pin", "named"),
    [("locked", "not-the-pin", "VAULT_PKCS11_PIN_FILE"), ("vault", None, "VAULT_ROOT_KEY_PKCS11")],
    ids=["wrong-pin", "unknown-key"],
)
def test_a_wrong_pin_or_key_stops_the_start_with_one_line(
    softhsm: SoftHsm,
    tmp_path: Path,
    token: str,
    pin: str | None,
    named: str,
) -> None:
    """Exit 2, one line naming the setting; nothing served."""
    env = {
        "VAULT_DATA_DIR": str(tmp_path / "var"),
        "VAULT_ROOT_KEY_PKCS11": setting(softhsm.location(token=token, key="absent")),
        "VAULT_PKCS11_PIN_FILE": str(pin_file(tmp_path, pin or softhsm.pin)),
    }
    started = vault_cmd("serve", env=env, timeout=30)
    assert started.returncode == 2
    lines = started.stderr.strip().splitlines()
    assert len(lines) == 1, started.stderr
    assert lines[0].startswith(f"vault: error: {named}: ")


async def _wrapped_versions(settings: Settings) -> tuple[set[int], dict[int, bool]]:
    """The versions citizen keys are wrapped under, and per known version whether it is retired."""
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            used = set((await conn.execute(select(CitizenKey.root_version))).scalars())
            rows = (await conn.execute(select(RootKeyVersion.version, RootKeyVersion.retired_at))).all()
    finally:
        await engine.dispose()
    return used, {row.version: row.retired_at is not None for row in rows}


async def test_rotate_from_the_key_file_to_the_token_and_back(
    softhsm: SoftHsm,
    tmp_path: Path,
) -> None:
    """File → token (`rotate-root` with `;version=2`), the key file removed; token → file (`--to-file`)."""
    data = tmp_path / "var"
    url = f"sqlite+aiosqlite:///{tmp_path / 'vault.db'}"
    file_settings = await migrated_settings(url, data)
    async with domain(file_settings) as runtime:
        citizen = await runtime.services.accounts.register("erika@example.de", "ein sehr gutes Passwort")
        await runtime.services.vault.set_attribute(citizen, "given_name", "Erika")
    where = softhsm.location(version=2)
    pin = str(pin_file(tmp_path, softhsm.pin))
    env = {"VAULT_DATA_DIR": str(data), "VAULT_DATABASE_URL": url, "VAULT_PKCS11_PIN_FILE": pin}
    token_env = {**env, "VAULT_ROOT_KEY_PKCS11": setting(where, 2)}
    assert vault_cmd("keys", "init-pkcs11", env=token_env).returncode == 0

    to_token = vault_cmd("keys", "rotate-root", env=token_env)
    assert to_token.returncode == 0, to_token.stderr
    moved = json.loads(to_token.stdout.splitlines()[-1])
    assert moved == {"current_version": 2, "rewrapped": moved["rewrapped"], "retired": [1]}
    assert moved["rewrapped"] > 1  # the citizen's data key and the service secrets
    token_settings = load_settings({}, data_dir=str(data), database_url=url, pkcs11_pin_file=pin)
    token_settings.root_key_pkcs11 = setting(where, 2)
    assert await _wrapped_versions(token_settings) == ({2}, {1: True, 2: False})
    (data / "root.key").unlink()
    async with domain(token_settings) as runtime:
        assert isinstance(runtime.keys.root, Pkcs11RootKey)
        values = await runtime.services.vault.read_attributes(citizen, CITIZEN_VIEW)
        assert values["given_name"].value == "Erika"
    idle = vault_cmd("keys", "rotate-root", env=token_env)
    assert idle.returncode == 2
    assert "rotate-root --to-file" in idle.stderr

    to_file = vault_cmd("keys", "rotate-root", "--to-file", env=token_env)
    assert to_file.returncode == 0, to_file.stderr
    back = json.loads(to_file.stdout.splitlines()[-1])
    assert back == {"current_version": 3, "rewrapped": moved["rewrapped"], "retired": [2]}
    assert stat.S_IMODE((data / "root.key").stat().st_mode) == 0o600
    assert await _wrapped_versions(file_settings) == ({3}, {1: True, 2: True, 3: False})
    async with domain(file_settings) as runtime:  # the token unconfigured
        assert not isinstance(runtime.keys.root, Pkcs11RootKey | RootKeyChain)
        values = await runtime.services.vault.read_attributes(citizen, CITIZEN_VIEW)
        assert values["given_name"].value == "Erika"


def test_overlapping_versions_are_refused(softhsm: SoftHsm, tmp_path: Path) -> None:
    """A token key that claims the key file's version: told to give it another `;version=N`."""
    where = softhsm.location()
    init_root_key(where, softhsm.pin)
    data = tmp_path / "var"
    env = {"VAULT_DATA_DIR": str(data), "VAULT_PKCS11_PIN_FILE": str(pin_file(tmp_path, softhsm.pin))}
    assert vault_cmd("db", "upgrade", env=env).returncode == 0
    assert vault_cmd("keys", "rotate-root", env=env).returncode == 0  # the key file now exists (version 2)
    clash = vault_cmd("keys", "rotate-root", env={**env, "VAULT_ROOT_KEY_PKCS11": setting(where, 2)})
    assert clash.returncode == 2
    assert "give the token key another version (`;version=N`)" in clash.stderr


async def test_checkpoints_signed_in_the_token_verify_with_its_public_key(
    softhsm: SoftHsm,
    tmp_path: Path,
) -> None:
    """The log's note signer is the token's Ed25519 key: same note format, key id from the public key."""
    where = softhsm.location()
    init_ed25519_key(where, softhsm.pin)
    settings = await migrated_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'vault.db'}",
        tmp_path / "var",
        log_key_pkcs11=setting(where),
        pkcs11_pin_file=str(pin_file(tmp_path, softhsm.pin)),
    )
    async with domain(settings) as runtime:
        vkey = runtime.keys.log_signing.vkey()
        citizen = await runtime.services.accounts.register("erika@example.de", "ein sehr gutes Passwort")
        await runtime.services.vault.set_attribute(citizen, "given_name", "Erika")
        assert await runtime.services.log.integrate(runtime.engine) is not None
        async with runtime.engine.connect() as conn:
            latest = await runtime.services.log.latest_checkpoint(conn)
    assert not (settings.data_dir / "log.key").exists()
    assert latest is not None
    size, _root, signed = latest
    assert size >= 2
    opened = open_note(signed, [Verifier.from_vkey(vkey)])
    assert opened.text.startswith(f"{settings.log_origin}\n{size}\n")


def test_a_token_that_does_not_answer_at_start_is_not_ready_rather_than_fatal(
    softhsm: SoftHsm,
    tmp_path: Path,
) -> None:
    """A module that cannot be loaded (a network HSM down): the vault serves /healthz, /readyz says 503."""
    env = {
        "VAULT_DATA_DIR": str(tmp_path / "var"),
        "VAULT_ROOT_KEY_PKCS11": f"module={tmp_path / 'libabsent.so'};token=vault;key=root",
        "VAULT_PKCS11_PIN_FILE": str(pin_file(tmp_path, softhsm.pin)),
    }
    with serve(tmp_path, env, ready_path="/healthz") as vault:
        assert httpx.get(vault.base_url + "/readyz").status_code == 503
        assert httpx.get(vault.base_url + "/api/v1/me/attributes").status_code in (401, 503)
        assert vault.process.poll() is None
    assert "root key token does not answer at start" in vault.log()
