"""``vault log``: verify the transparency log from outside; prune it by the retention period."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from vault.cli.common import checked_quorum, root_context, settings_for, with_runtime, witness_options

if TYPE_CHECKING:
    from vault.runtime import Runtime


@click.group("log")
def log_group() -> None:
    """Transparency log tools."""


@log_group.command("verify")
@click.option("--url", help="Base URL of the vault [default: VAULT_ISSUER].")
@click.option(
    "--state",
    "state_file",
    type=click.Path(dir_okay=False),
    default="vault-log.state.json",
    show_default=True,
    help="Where the last verified checkpoint is kept.",
)
@click.option("--key", "vkey", help="Pin the log's verifier key (C2SP vkey) instead of trusting /log/key on first use.")
@click.option("--origin", help="Expected checkpoint origin [default: the key's name].")
@click.option("--skip-leaves", is_flag=True, help="Only check signature and consistency, not every leaf.")
@witness_options
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def log_verify(
    ctx: click.Context,
    url: str | None,
    state_file: str,
    vkey: str | None,
    origin: str | None,
    skip_leaves: bool,
    witnesses: tuple[str, ...],
    quorum: int | None,
    as_json: bool,
) -> None:
    """Verify the log's checkpoint, its consistency with the last verified one, and its leaves.

    With --witness, the checkpoint must also be cosigned by --quorum of the named witnesses.
    Exits 0 when everything verifies (and remembers the new checkpoint), 1 on any failure.
    """
    from dataclasses import asdict
    from pathlib import Path

    import httpx

    from vault.transparency.verifier import load_state, save_state, verify_log

    base = url or settings_for(root_context(ctx)).issuer
    path = Path(state_file)
    with httpx.Client(base_url=base, timeout=30) as http:
        report, new_state = verify_log(http, load_state(path), vkey=vkey, origin=origin, check_leaves=not skip_leaves,
                                       witnesses=witnesses, quorum=checked_quorum(witnesses, quorum))  # fmt: skip
    if new_state is not None:
        save_state(path, new_state)
    if as_json:
        click.echo(json.dumps(asdict(report)))
    else:
        for note in report.notes:
            click.echo(f"note: {note}")
        if report.ok:
            previous = "" if report.previous_size is None else f", consistent with {report.previous_size}"
            cosigned = f"; cosigned by {', '.join(report.witnessed_by)}" if witnesses else ""
            checked = f"{report.leaves_checked} leaves checked{cosigned}"
            click.echo(f"ok: checkpoint {report.size} verified{previous}; {checked}")
        else:
            where = "" if report.first_bad_index is None else f" (first bad index {report.first_bad_index})"
            click.echo(f"FAILED: {report.problem}{where}", err=True)
    if not report.ok:
        raise SystemExit(1)


@log_group.command("prune")
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
    from vault.transparency import retention

    days = retention_days if retention_days is not None else settings_for(root_context(ctx)).log_retention_days
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
