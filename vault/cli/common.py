"""What the command groups share: settings from the root options, errors that end in one line, a ready runtime."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import click

from vault.config import env_name, load_settings

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from vault.config import Settings
    from vault.runtime import Runtime

EXIT_CONFIG = 2


class DatabaseUnreachable(Exception):
    """The configured database cannot be reached."""


def settings_for(ctx: click.Context, **flags: Any) -> Settings:
    """The settings from the environment, the root command's options (``ctx.obj``) and ``flags``."""
    return load_settings(**ctx.obj, **flags)


def root_context(ctx: click.Context) -> click.Context:
    """The root command's context, which holds ``--data-dir``, ``--database-url`` and ``--issuer``."""
    return ctx.find_root()


def db_error(exc: Exception) -> str:
    """One line naming the database setting and the driver's first line of complaint."""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    first = reason[0] if reason else type(exc).__name__
    return f"{env_name('database_url')}: cannot use the database: {first}"


def with_runtime(ctx: click.Context, action: Callable[[Runtime], Awaitable[Any]]) -> Any:
    """Open the database (no migrations, no integrator), run ``action`` on a ready runtime."""
    from vault.bootstrap import prepare
    from vault.runtime import Runtime

    settings = settings_for(root_context(ctx))

    async def go() -> Any:
        runtime = Runtime(settings, prepare(settings))
        await runtime.open(integrate=False)
        try:
            if not runtime.started:
                raise DatabaseUnreachable(
                    f"{env_name('database_url')}: the database is not ready (run `vault db upgrade`)"
                )
            return await action(runtime)
        finally:
            await runtime.close()

    return asyncio.run(go())


def _witness_key(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    from tlog.cosignature import CosignatureVerifier
    from tlog.note import NoteError

    for value in values:
        try:
            CosignatureVerifier.from_vkey(value)
        except NoteError as exc:
            raise click.BadParameter(str(exc)) from None
    return values


def checked_quorum(witnesses: tuple[str, ...], quorum: int | None) -> int | None:
    """``--quorum``, refused when there are no ``--witness`` keys or fewer than it counts."""
    if quorum is not None and not witnesses:
        raise click.UsageError("--quorum needs the witnesses it counts (--witness)")
    if quorum is not None and quorum > len(set(witnesses)):
        raise click.UsageError(f"--quorum {quorum} is more than the {len(set(witnesses))} witnesses named")
    return quorum


def witness_options(command: Any) -> Any:
    """``--witness VKEY`` (repeatable) and ``--quorum N`` for the commands that check checkpoints."""
    command = click.option(
        "--quorum",
        type=click.IntRange(min=1),
        help="How many of the named witnesses must have cosigned the checkpoint [default: all].",
    )(command)
    return click.option(
        "--witness",
        "witnesses",
        multiple=True,
        callback=_witness_key,
        help="A witness's verifier key (C2SP vkey, type 0x04) whose cosignature counts (repeatable).",
    )(command)
