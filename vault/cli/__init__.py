"""The ``vault`` command: serve, config, database migrations, and the operator's other tools.

One module per command group; what they share is in :mod:`vault.cli.common`. Every operator mistake
(bad setting, wrong key, unreachable database) ends with one line on stderr naming the setting, and
exit status 2 — never a traceback.
"""

from __future__ import annotations

import os
import sys

import click

from vault import __version__
from vault.bootstrap import SchemaNotReady
from vault.cli.audit import audit_group, auditor_group
from vault.cli.catalogue import agency_group, service_group
from vault.cli.citizens import citizens_group
from vault.cli.common import EXIT_CONFIG, DatabaseUnreachable
from vault.cli.config import config
from vault.cli.db import db
from vault.cli.idp import idp_group
from vault.cli.keys import keys_group
from vault.cli.log import log_group
from vault.cli.serve import serve
from vault.cli.witness import witness_group
from vault.config import ConfigError
from vault.consent.catalogue import CatalogueError, UnknownEntry
from vault.crypto.kek import RootKeyError, RootKeyUnavailable
from vault.crypto.signing import SigningKeyError
from vault.logs import configure_logging

_OPERATOR_ERRORS = (ConfigError, RootKeyError, RootKeyUnavailable, SigningKeyError, SchemaNotReady)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vault")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Data directory [VAULT_DATA_DIR].")
@click.option("--database-url", help="Database URL [VAULT_DATABASE_URL].")
@click.option("--issuer", help="Public base URL [VAULT_ISSUER].")
@click.pass_context
def cli(ctx: click.Context, data_dir: str | None, database_url: str | None, issuer: str | None) -> None:
    """Bürgertresor: citizen data vault, consent manager and transparency log."""
    ctx.obj = {"data_dir": data_dir, "database_url": database_url, "issuer": issuer}
    configure_logging("warning", sys.stderr)  # one-shot commands keep stdout for their result; serve reconfigures


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vault`` console script."""
    os.umask(0o077)  # database files, key files and the metrics dir are the operator's alone
    try:
        cli.main(args=argv, prog_name="vault", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("vault: aborted", err=True)
        return 1
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except (*_OPERATOR_ERRORS, CatalogueError, UnknownEntry, DatabaseUnreachable) as exc:
        click.echo(f"vault: error: {exc}", err=True)
        return EXIT_CONFIG
    return 0


for command in (
    serve,
    config,
    db,
    log_group,
    audit_group,
    keys_group,
    citizens_group,
    agency_group,
    idp_group,
    service_group,
    auditor_group,
    witness_group,
):
    cli.add_command(command)
