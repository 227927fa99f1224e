"""``vault witness …``: run a transparency-log witness (C2SP tlog-witness) for one or more logs.

The witness keeps its key (``witness.key``, 32 random bytes, mode 0600, made on first use) and its
state (``witness.db``: per log the latest checkpoint it cosigned) in ``--state-dir``. Run it apart
from the vault it witnesses — another machine, another operator — or it proves little.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from vault.audit.witness import Witness

EXIT_CONFIG = 2

_STATE_DIR = click.option(
    "--state-dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Directory of the witness's key and state (created on first use).",
)
_NAME = click.option("--name", required=True, help="The witness's name, e.g. witness.example/w1 (part of its key id).")


class WitnessSetupError(click.ClickException):
    """A bad log key, a state dir of another witness, or an unreadable key file: exit 2."""

    exit_code = EXIT_CONFIG


@click.group("witness")
def witness_group() -> None:
    """A witness that cosigns a log's checkpoints only while they stay consistent (C2SP tlog-witness)."""


@witness_group.command("key")
@_STATE_DIR
@_NAME
def witness_key(state_dir: str, name: str) -> None:
    """Print the witness's verifier key (C2SP vkey, type 0x04); the key is made on first use."""
    click.echo(_open(Path(state_dir), name, ()).cosigner.vkey())


@witness_group.command("serve")
@_STATE_DIR
@_NAME
@click.option(
    "--log", "logs", multiple=True, required=True, help="Verifier key (vkey) of a log to witness (repeatable)."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(1, 65535), default=8090, show_default=True, help="Port.")
def witness_serve(state_dir: str, name: str, logs: tuple[str, ...], host: str, port: int) -> None:
    """Serve POST /add-checkpoint until SIGTERM or Ctrl-C; prints the witness's vkey on stderr."""
    from granian.constants import Interfaces
    from granian.server import Server

    from vault.audit.witness_app import CONFIG_ENV
    from vault.logs import configure_logging

    witness = _open(Path(state_dir), name, logs)
    configure_logging("info")
    click.echo(f"witness {witness.cosigner.vkey()} on http://{host}:{port}/add-checkpoint", err=True)
    os.environ[CONFIG_ENV] = json.dumps({"state_dir": str(Path(state_dir).resolve()), "name": name, "logs": logs})
    server = Server(
        "vault.audit.witness_app:app_from_environment",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=1,
        log_enabled=False,
        respawn_failed_workers=True,
    )
    signal.signal(signal.SIGTERM, _exit_cleanly)
    server.serve()


def _open(state_dir: Path, name: str, logs: tuple[str, ...]) -> Witness:
    from tlog.note import NoteError
    from vault.audit.witness import StateError
    from vault.audit.witness_app import open_witness
    from vault.crypto.keyfiles import KeyFileError

    try:
        return open_witness(state_dir, name, logs)
    except (NoteError, StateError, KeyFileError, OSError) as exc:
        raise WitnessSetupError(str(exc)) from None


def _exit_cleanly(_signum: int, _frame: object) -> None:
    sys.exit(0)
