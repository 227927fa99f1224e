"""``vault agency …`` and ``vault service …``: the catalogue from the command line (DESIGN.md §5).

Every command prints JSON on stdout. A refused entry prints ``vault: error: <field>: <reason>`` on
stderr, exits 2 and stores nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import msgspec

from vault.cli.common import with_runtime
from vault.consent.catalogue import Catalogue, CatalogueError, parse_jwks, parse_service

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from vault.runtime import Runtime


def _run(ctx: click.Context, action: Callable[[Catalogue], Awaitable[Any]]) -> Any:
    """Run ``action`` on the catalogue of a ready runtime."""

    async def on_catalogue(runtime: Runtime) -> Any:
        return await action(runtime.services.catalogue)

    return with_runtime(ctx, on_catalogue)


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CatalogueError(what, f"{path}: {exc.strerror or exc}") from None


@click.group("agency")
def agency_group() -> None:
    """Agencies: OAuth clients that authenticate with private_key_jwt against their registered keys."""


@agency_group.command("add")
@click.option("--name", required=True, help="The agency's name as citizens see it on the consent page.")
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True, help="Exact redirect URI (repeatable).")
@click.option(
    "--jwks", "jwks_file", required=True, help="File with the agency's public JWK Set (ES256, EdDSA or PS256)."
)
@click.pass_context
def agency_add(ctx: click.Context, name: str, redirect_uris: tuple[str, ...], jwks_file: str) -> None:
    """Register an agency; prints {"client_id": …}."""
    jwks = parse_jwks(_read(jwks_file, "jwks"))
    client_id = _run(ctx, lambda catalogue: catalogue.add_agency(name, list(redirect_uris), jwks))
    click.echo(json.dumps({"client_id": client_id}))


@agency_group.command("list")
@click.pass_context
def agency_list(ctx: click.Context) -> None:
    """All agencies (JSON lines): client_id, name, redirect URIs, key ids, disabled."""
    for agency in _run(ctx, lambda catalogue: catalogue.agencies()):
        kids = [k.get("kid") for k in agency.jwks["keys"]]
        row = {"client_id": agency.client_id, "name": agency.name, "redirect_uris": list(agency.redirect_uris)}
        click.echo(json.dumps({**row, "kids": kids, "disabled": agency.disabled}, ensure_ascii=False))


@agency_group.command("disable")
@click.argument("client_id")
@click.pass_context
def agency_disable(ctx: click.Context, client_id: str) -> None:
    """Disable an agency and all its services."""
    _run(ctx, lambda catalogue: catalogue.disable_agency(client_id))
    click.echo(json.dumps({"client_id": client_id, "disabled": True}))


@click.group("service")
def service_group() -> None:
    """Services: what an agency may ask for, why, on which legal basis, for how long."""


@service_group.command("add")
@click.argument("file", type=click.Path(dir_okay=False))
@click.pass_context
def service_add(ctx: click.Context, file: str) -> None:
    """Register a service from a TOML file (DESIGN.md §5); prints {"id": …}."""
    service = parse_service(_read(file, "file"))
    service_id = _run(ctx, lambda catalogue: catalogue.add_service(service))
    click.echo(json.dumps({"id": service_id}))


@service_group.command("list")
@click.pass_context
def service_list(ctx: click.Context) -> None:
    """All services (JSON lines), with whether each is disabled."""
    for service, disabled in _run(ctx, lambda catalogue: catalogue.services()):
        click.echo(json.dumps({**msgspec.to_builtins(service), "disabled": disabled}, ensure_ascii=False))


@service_group.command("disable")
@click.argument("service_id")
@click.pass_context
def service_disable(ctx: click.Context, service_id: str) -> None:
    """Disable a service: no new consents under it."""
    _run(ctx, lambda catalogue: catalogue.disable_service(service_id))
    click.echo(json.dumps({"id": service_id, "disabled": True}))
