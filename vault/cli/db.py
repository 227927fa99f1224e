"""``vault db``: schema migrations and purging expired rows."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

import click

from vault.cli.common import DatabaseUnreachable, db_error, root_context, settings_for
from vault.db import migrate
from vault.db.engine import create_engine

if TYPE_CHECKING:
    from vault.config import Settings


@click.group()
def db() -> None:
    """Database schema migrations."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply pending migrations."""
    settings = settings_for(root_context(ctx))
    prepare_dirs_only(settings)
    before, after = asyncio.run(_upgrade(settings))
    click.echo(json.dumps({"from": before, "to": after}))


@db.command("current")
@click.pass_context
def db_current(ctx: click.Context) -> None:
    """Print the database's revision and the newest one this code ships."""
    settings = settings_for(root_context(ctx))
    revision = asyncio.run(_current(settings))
    click.echo(json.dumps({"current": revision, "head": migrate.head(), "up_to_date": revision == migrate.head()}))


@db.command("purge")
@click.pass_context
def db_purge(ctx: click.Context) -> None:
    """Delete expired rows now (serving workers do it hourly): challenges, OAuth state, throttle counters."""
    settings = settings_for(root_context(ctx))
    click.echo(json.dumps(asyncio.run(_purge(settings))))


def prepare_dirs_only(settings: Settings) -> None:
    """The data dir must exist for the SQLite file; keys are not needed to migrate."""
    from vault.bootstrap import prepare_data_dir

    prepare_data_dir(settings)


async def _upgrade(settings: Settings) -> tuple[str | None, str | None]:
    engine = create_engine(settings)
    try:
        before = await migrate.current(engine)
        await migrate.upgrade(engine)
        return before, await migrate.current(engine)
    except Exception as exc:  # noqa: BLE001  any driver error becomes one line naming the setting
        raise DatabaseUnreachable(db_error(exc)) from None
    finally:
        await engine.dispose()


async def _purge(settings: Settings) -> dict[str, int]:
    from vault.db.engine import session_factory
    from vault.purge import purge_expired

    engine = create_engine(settings)
    try:
        return await purge_expired(session_factory(engine))
    except Exception as exc:  # noqa: BLE001  any driver error becomes one line naming the setting
        raise DatabaseUnreachable(db_error(exc)) from None
    finally:
        await engine.dispose()


async def _current(settings: Settings) -> str | None:
    engine = create_engine(settings)
    try:
        return await migrate.current(engine)
    except Exception as exc:  # noqa: BLE001  any driver error becomes one line naming the setting
        raise DatabaseUnreachable(db_error(exc)) from None
    finally:
        await engine.dispose()
