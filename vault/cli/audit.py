"""``vault audit monitor`` watches the log; ``vault auditor …``: who may open the audit pages (docs/audit.md).

``add`` creates an account (the same sign-in as a citizen's: password, then passkeys in the
settings) and marks it as an auditor; ``list`` prints JSON lines; ``disable`` withdraws the access.
A refused request prints ``vault: error: …`` on stderr, exits 2 and stores nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from vault.citizens.password_rules import password_problem
from vault.cli.common import checked_quorum, root_context, settings_for, with_runtime, witness_options

if TYPE_CHECKING:
    from vault.runtime import Runtime


def _password(password_file: str | None) -> str:
    if password_file is None:
        return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))
    try:
        return Path(password_file).read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.UsageError(f"--password-file: {password_file}: {exc}") from None


@click.group("audit")
def audit_group() -> None:
    """Auditing tools."""


@audit_group.command("monitor")
@click.option("--url", help="Base URL of the vault [default: VAULT_ISSUER].")
@click.option(
    "--interval", type=click.FloatRange(min=0.1), default=30.0, show_default=True, help="Seconds between checks."
)
@click.option(
    "--state",
    "state_file",
    type=click.Path(dir_okay=False),
    default="vault-monitor.state.json",
    show_default=True,
    help="Where the last verified checkpoint is kept.",
)
@click.option("--key", "vkey", help="Pin the log's verifier key (C2SP vkey) instead of trusting /log/key on first use.")
@click.option("--origin", help="Expected checkpoint origin [default: the key's name].")
@click.option("--rounds", type=click.IntRange(min=1), help="Stop after this many checks [default: run until stopped].")
@click.option("--daemon", is_flag=True, help="Log an ALERT and keep watching instead of exiting on misbehaviour.")
@witness_options
@click.pass_context
def audit_monitor(
    ctx: click.Context,
    url: str | None,
    interval: float,
    state_file: str,
    vkey: str | None,
    origin: str | None,
    rounds: int | None,
    daemon: bool,
    witnesses: tuple[str, ...],
    quorum: int | None,
) -> None:
    """Keep verifying new checkpoints against the ones seen: a rollback, a fork or a bad signature exits 1.

    An unreachable log exits 3 (without --daemon); with --daemon both are logged and watching goes on.
    """
    from pathlib import Path

    import httpx

    from vault.audit.monitor import monitor

    base = url or settings_for(root_context(ctx)).issuer
    with httpx.Client(base_url=base, timeout=30) as http:
        result = monitor(http, Path(state_file), vkey=vkey, origin=origin, interval=interval, rounds=rounds,
                         daemon=daemon, witnesses=witnesses, quorum=checked_quorum(witnesses, quorum))  # fmt: skip
    if result.alerts and not daemon:
        click.echo(f"ALERT: {result.problem}", err=True)
        raise SystemExit(1)
    if result.unreachable and not daemon:
        click.echo(f"unreachable: {result.problem}", err=True)
        raise SystemExit(3)
    click.echo(f"ok: {result.verified} of {result.rounds} checks verified; log size {result.size}")
    if result.alerts:
        raise SystemExit(1)


@click.group("auditor")
def auditor_group() -> None:
    """Auditor accounts: pseudonymous read access to the log, refusals, checkpoints and anomalies."""


@auditor_group.command("add")
@click.option("--username", required=True, help="The auditor's login name.")
@click.option("--label", required=True, help='Who the auditor is, for the operator (e.g. "BfDI, Referat 24").')
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False),
    help="Read the initial password from this file instead of prompting.",
)
@click.pass_context
def auditor_add(ctx: click.Context, username: str, label: str, password_file: str | None) -> None:
    """Create an auditor account; prints {"account_id": …}."""
    from vault.audit.auditors import check_label
    from vault.citizens.accounts import normalise_login
    from vault.citizens.errors import LoginTaken

    try:
        normalise_login(username)
        check_label(label)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    password = _password(password_file)
    problem = password_problem(password, username)
    if problem is not None:
        raise click.UsageError(f"the password is refused: {problem.value}")

    async def add(runtime: Runtime) -> str:
        try:
            return await runtime.services.auditors.add(runtime.services.accounts, username, password, label)
        except LoginTaken:
            raise click.UsageError(f"the login name {username!r} is taken") from None

    click.echo(json.dumps({"account_id": with_runtime(ctx, add)}))


@auditor_group.command("list")
@click.pass_context
def auditor_list(ctx: click.Context) -> None:
    """Every auditor (JSON lines): account_id, label, created_at, disabled_at."""

    async def rows(runtime: Runtime) -> list[dict[str, str | None]]:
        return [
            {
                "account_id": a.account_id,
                "label": a.label,
                "created_at": a.created_at.isoformat(),
                "disabled_at": a.disabled_at.isoformat() if a.disabled_at else None,
            }
            for a in await runtime.services.auditors.list()
        ]

    for row in with_runtime(ctx, rows):
        click.echo(json.dumps(row, ensure_ascii=False))


@auditor_group.command("disable")
@click.argument("account_id")
@click.pass_context
def auditor_disable(ctx: click.Context, account_id: str) -> None:
    """Withdraw an auditor's access to the audit pages (from their next request on)."""
    from vault.citizens.errors import UnknownCitizen

    async def disable(runtime: Runtime) -> None:
        try:
            await runtime.services.auditors.disable(account_id)
        except UnknownCitizen:
            raise click.UsageError(f"{account_id} is not an active auditor") from None

    with_runtime(ctx, disable)
    click.echo(json.dumps({"account_id": account_id, "disabled": True}))
