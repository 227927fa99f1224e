"""``vault citizens``: account administration."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import click

from vault.bootstrap import prepare
from vault.cli.common import DatabaseUnreachable, root_context, settings_for
from vault.config import ConfigError, env_name
from vault.db.engine import forget_erased

if TYPE_CHECKING:
    from vault.config import Settings


@click.group("citizens")
def citizens_group() -> None:
    """Citizen account administration."""


@citizens_group.command("reapply-erasures")
@click.option(
    "--journal",
    type=click.Path(dir_okay=False, exists=True),
    help="Erasure journal [default: VAULT_ERASURE_JOURNAL, <data dir>/erasures.jsonl].",
)
@click.pass_context
def citizens_reapply_erasures(ctx: click.Context, journal: str | None) -> None:
    """After restoring a database backup: erase again every account erased since (crypto-shredding)."""
    from pathlib import Path

    settings = settings_for(root_context(ctx))
    path = Path(journal) if journal else settings.erasure_journal
    assert path is not None
    if not path.exists():
        raise ConfigError(env_name("erasure_journal"), f"{path} does not exist")
    again, already = asyncio.run(_reapply(settings, path))
    click.echo(json.dumps({"erased_again": again, "already_erased": already}))


async def _reapply(settings: Settings, journal: Any) -> tuple[int, int]:
    from vault.citizens.accounts import reapply_erasures
    from vault.runtime import Runtime

    runtime = Runtime(settings, prepare(settings))
    await runtime.open(integrate=False)
    try:
        if not runtime.started:
            raise DatabaseUnreachable(f"{env_name('database_url')}: the database is not ready (run `vault db upgrade`)")
        result = await reapply_erasures(runtime.services.vault, journal)
        await forget_erased(runtime.engine)
        return result
    finally:
        await runtime.close()
