"""``vault auditor …``: the accounts that may open the audit pages (docs/audit.md).

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
from vault.cli_catalogue import with_runtime

if TYPE_CHECKING:
    from vault.runtime import Runtime


def _password(password_file: str | None) -> str:
    if password_file is None:
        return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))
    try:
        return Path(password_file).read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.UsageError(f"--password-file: {password_file}: {exc}") from None


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


@click.command("prune")
@click.option(
    "--retention-days",
    type=click.IntRange(min=1),
    help="Prune entries older than this many days [default: VAULT_LOG_RETENTION_DAYS, 730].",
)
@click.option("--dry-run", is_flag=True, help="Only count what would be pruned.")
@click.pass_context
def log_prune(ctx: click.Context, retention_days: int | None, dry_run: bool) -> None:
    """Past retention, blank log records (keeping their commitments), delete refused requests and auditor activity.

    Prints {"pruned": N, "before": …}. The tree, checkpoints and proofs are unchanged. The running
    vault does this once a day by itself; the command is for a first run or a shorter period.
    """
    from vault.audit.auditors import prune_refusals
    from vault.cli import _root, _settings
    from vault.transparency import retention

    days = retention_days if retention_days is not None else _settings(_root(ctx)).log_retention_days
    before = retention.cutoff(days)
    if before is None:
        click.echo(json.dumps({"pruned": 0, "before": None, "note": "retention is 0: the log keeps everything"}))
        return

    def show(done: int) -> None:
        click.echo(f"pruned {done} entries", err=True)

    async def run(runtime: Runtime) -> dict[str, object]:
        if dry_run:
            return {"would_prune": await retention.due(runtime.sessions, before), "before": before.isoformat()}
        result = await retention.prune(runtime.sessions, before, progress=show)
        refusals = await prune_refusals(runtime.sessions, before)
        looked = await runtime.services.auditors.activity.prune(before)
        return {
            "pruned": result.pruned,
            "refusals_deleted": refusals,
            "activity_deleted": looked,
            "before": before.isoformat(),
        }

    click.echo(json.dumps(with_runtime(ctx, run)))
