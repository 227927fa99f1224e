"""``vault keys``: root key rotation."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any

import click

from vault.bootstrap import check_root_key, prepare
from vault.cli.common import root_context, settings_for
from vault.config import env_name
from vault.crypto.kek import RootKeyError
from vault.db.engine import create_engine

if TYPE_CHECKING:
    from vault.config import Settings


@click.group("keys")
def keys_group() -> None:
    """Key management."""


@keys_group.command("rotate-root")
@click.pass_context
def keys_rotate_root(ctx: click.Context) -> None:
    """Re-wrap every data key under a new root key version, then retire the old one.

    Resumable: if interrupted (even by SIGKILL), run it again to finish. Needs the key file provider.
    """
    from vault.crypto.rootkey import FileRootKey

    settings = settings_for(root_context(ctx))
    keys = prepare(settings)
    if not isinstance(keys.root, FileRootKey):
        raise RootKeyError(env_name("root_key"), "rotate-root works with the key file; rotate keys in your KMS instead")
    result = asyncio.run(_rotate(settings, keys.root))
    click.echo(
        json.dumps(
            {"current_version": result.new_version, "rewrapped": result.rewrapped, "retired": list(result.retired)}
        )
    )


async def _rotate(settings: Settings, root: Any) -> Any:
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
