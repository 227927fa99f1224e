"""``vault config``: the effective settings."""

from __future__ import annotations

import json

import click

from vault.cli.common import root_context, settings_for
from vault.config import env_name


@click.group()
def config() -> None:
    """Inspect the effective configuration."""


@config.command("show")
@click.pass_context
def config_show(ctx: click.Context) -> None:
    """Print the effective settings as JSON, secrets redacted."""
    settings = settings_for(root_context(ctx))
    shown = settings.redacted()
    click.echo(json.dumps({env_name(k): v for k, v in shown.items()}, indent=2))
