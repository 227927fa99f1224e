"""``vault keys``: root key rotation (key file and PKCS#11 token), and creating keys in a token."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any

import click

from vault.bootstrap import check_root_key, prepare
from vault.cli.common import root_context, settings_for
from vault.config import ConfigError, env_name
from vault.crypto.kek import RootKeyError
from vault.db.engine import create_engine

if TYPE_CHECKING:
    from vault.config import Settings
    from vault.crypto.kek import KeyEncryptionKey
    from vault.crypto.rootkey import FileRootKey, RootKeyChain


@click.group("keys")
def keys_group() -> None:
    """Key management."""


@keys_group.command("rotate-root")
@click.option("--to-file", is_flag=True, help="Move the root key from the PKCS#11 token to a new key file version.")
@click.pass_context
def keys_rotate_root(ctx: click.Context, to_file: bool) -> None:
    """Re-wrap every data key under a new root key version, then retire the old one.

    Resumable: if interrupted (even by SIGKILL), run it again to finish. With the key file alone it
    adds the new version itself; with a token key beside the key file (VAULT_ROOT_KEY_PKCS11 with a
    higher ;version=N) it moves to the token; --to-file moves from the token to the key file.
    """
    settings = settings_for(root_context(ctx))
    keys = prepare(settings)
    root = _rotatable(settings, keys.root, to_file=to_file)
    result = asyncio.run(_rotate(settings, root))
    click.echo(
        json.dumps(
            {"current_version": result.new_version, "rewrapped": result.rewrapped, "retired": list(result.retired)}
        )
    )


def _rotatable(settings: Settings, root: KeyEncryptionKey, *, to_file: bool) -> FileRootKey | RootKeyChain:
    """The provider to rotate with: the key file, or the token key and the key file as one chain."""
    from vault.crypto.pkcs11 import SETTING, Pkcs11RootKey
    from vault.crypto.rootkey import FileRootKey, RootKeyChain

    if to_file:
        if settings.root_key is not None:
            raise RootKeyError(env_name("root_key"), "--to-file writes the key file: unset VAULT_ROOT_KEY first")
        token = root if isinstance(root, Pkcs11RootKey) else None
        if isinstance(root, RootKeyChain):
            token = next((p for p in root.providers if isinstance(p, Pkcs11RootKey)), None)
        if token is None:
            raise RootKeyError(SETTING, "--to-file moves the root key from the token, and no token key is set")
        if isinstance(root, RootKeyChain) and root.version != token.location.version:
            return root  # the key file already holds the new version: finish that rotation
        assert settings.root_key_file is not None
        if isinstance(root, RootKeyChain):
            files = [p for p in root.providers if isinstance(p, FileRootKey)]
            files[0].add_version(above=root.version)
            return RootKeyChain([token, FileRootKey(files[0].path, create=False)])
        return RootKeyChain([token, FileRootKey.create_at(settings.root_key_file, token.location.version + 1)])
    if isinstance(root, FileRootKey | RootKeyChain):
        return root
    if isinstance(root, Pkcs11RootKey):
        version = root.location.version
        raise RootKeyError(
            SETTING,
            f"the token key (version {version}) is the only root key and nothing is left to re-wrap: "
            "`vault keys rotate-root --to-file` moves it to the key file; to change token keys, do that first, "
            f"then create the new token key (`vault keys init-pkcs11`) with `;version=N` above {version + 1} "
            "and run `vault keys rotate-root`",
        )
    raise RootKeyError(env_name("root_key"), "rotate-root works with the key file; rotate keys in your KMS instead")


async def _rotate(settings: Settings, root: FileRootKey | RootKeyChain) -> Any:
    from vault.crypto.rotation import pending_count, rotate_root

    engine = create_engine(settings)
    try:
        await check_root_key_for_rotation(engine, root)
        current = root.version if len(root.versions()) > 1 else root.version + 1
        total = await pending_count(engine, current)
        with click.progressbar(length=max(total, 1), label="re-wrapping keys", file=sys.stderr) as bar:
            shown = 0

            def progress(done: int, _total: int) -> None:
                nonlocal shown
                bar.update(done - shown)
                shown = done

            result = await rotate_root(engine, root, progress)
            bar.update(max(total, 1) - shown)
        return result
    finally:
        await engine.dispose()


async def check_root_key_for_rotation(engine: Any, root: Any) -> None:
    """Before rotating: every version the database knows must match; a new one may be unrecorded."""
    try:
        await check_root_key(engine, root)
    except RootKeyError as exc:
        if "unknown to this database" not in str(exc):
            raise


@keys_group.command("init-pkcs11")
@click.option("--log-key", is_flag=True, help="Create the log's Ed25519 key pair (VAULT_LOG_KEY_PKCS11) instead.")
@click.pass_context
def keys_init_pkcs11(ctx: click.Context, log_key: bool) -> None:
    """Create the root key (AES-256, non-extractable) in the token VAULT_ROOT_KEY_PKCS11 names.

    With --log-key, the log's Ed25519 key pair in the token VAULT_LOG_KEY_PKCS11 names; prints its
    verifier key. Refuses a label the token already holds. The PIN comes from VAULT_PKCS11_PIN_FILE.
    """
    from vault.crypto.pkcs11 import (
        LOG_KEY_SETTING,
        SETTING,
        Pkcs11Ed25519Signer,
        init_ed25519_key,
        init_root_key,
        parse_setting,
        read_pin,
    )
    from vault.crypto.signers import NoteSigner

    settings = settings_for(root_context(ctx))
    setting = LOG_KEY_SETTING if log_key else SETTING
    text = settings.log_key_pkcs11 if log_key else settings.root_key_pkcs11
    if text is None:
        raise ConfigError(setting, "is not set: name the key to create (module=PATH;token=LABEL;key=LABEL)")
    assert settings.pkcs11_pin_file is not None
    location = parse_setting(text, setting)
    pin = read_pin(settings.pkcs11_pin_file)
    shown: dict[str, object]
    if log_key:
        init_ed25519_key(location, pin)
        signer = NoteSigner(settings.log_origin, Pkcs11Ed25519Signer(location, pin))
        shown = {"token": location.token, "key": location.key, "key_id": f"{signer.key_id:08x}", "vkey": signer.vkey()}
        hint = "the log's checkpoints are signed in the token from the next start; publish the new vkey"
    else:
        init_root_key(location, pin)
        shown = {"token": location.token, "key": location.key, "version": location.version}
        hint = (
            f"created; keep {SETTING} set for every vault process. If the database already has a root key, "
            f"give this one a version above it (;version=N) and run `vault keys rotate-root`"
        )
    click.echo(json.dumps(shown))
    click.echo(hint, err=True)
