"""``vault idp …``: the upstream identity providers (eID through OIDC or SAML) from the command line.

Every command prints JSON on stdout. A refused registration prints ``vault: error: <field>: <reason>``
on stderr, exits 2 and stores nothing: the discovery document (or SAML metadata), the maps and the
key are all checked before anything is written. ``vault idp list`` never prints a secret.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

import click
import httpx

from vault.cli.common import with_runtime
from vault.crypto.idp import ClientKey
from vault.identity.claims import DEFAULT_OIDC_CLAIMS
from vault.identity.model import IdentityError
from vault.identity.oidc import DiscoveryInvalid, changed_endpoints, check_discovery, discovery_url, is_secure_url
from vault.identity.oidc_client import fetch_json
from vault.identity.providers import ProviderInvalid, Providers, parse_acr_map, parse_claims_map

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from vault.runtime import Runtime

#: Secrets and keys larger than this are refused (a PEM RSA-4096 key is about 3.3 KB).
MAX_SECRET_BYTES = 16 * 1024


def _fail(exc: ProviderInvalid) -> NoReturn:
    click.echo(f"vault: error: {exc}", err=True)
    sys.exit(2)


def _on_providers(ctx: click.Context, action: Callable[[Runtime, Providers], Awaitable[Any]]) -> Any:
    """Run ``action`` with the registry built from a ready runtime and the ``idp-secrets`` service secret."""
    from vault.crypto.keyring import open_provider_secrets

    async def go(runtime: Runtime) -> Any:
        secrets = await open_provider_secrets(runtime.engine, runtime.keys.root)
        return await action(runtime, Providers(runtime.sessions, secrets))

    return with_runtime(ctx, go)


def _read(path: str, field: str) -> bytes:
    try:
        with Path(path).open("rb") as file:
            data = file.read(MAX_SECRET_BYTES + 1)
    except OSError as exc:
        raise ProviderInvalid(field, f"{path}: {exc.strerror or exc}") from None
    if len(data) > MAX_SECRET_BYTES:
        raise ProviderInvalid(field, f"{path}: larger than {MAX_SECRET_BYTES} bytes")
    return data


def _credential(private_key: str | None, secret_file: str | None) -> tuple[str, bytes, str | None]:
    """``(auth method or "secret", secret bytes, client assertion alg)`` from the key or secret file."""
    if (private_key is None) == (secret_file is None):
        raise ProviderInvalid("private-key", "give exactly one of --private-key and --client-secret-file")
    if private_key is not None:
        pem = _read(private_key, "private-key")
        try:
            alg = ClientKey(pem).alg
        except ValueError as exc:
            raise ProviderInvalid("private-key", f"{exc} (EC P-256, RSA >= 2048 bits or Ed25519 PEM)") from None
        return "private_key_jwt", pem, alg
    assert secret_file is not None
    secret = _read(secret_file, "client-secret-file").strip()
    if not secret or not secret.isascii() or any(b < 0x21 for b in secret):
        raise ProviderInvalid("client-secret-file", "must hold one printable ASCII secret")
    return "secret", secret, None


def _auth_method(doc: object, wanted: str) -> str:
    """``private_key_jwt``, or for a shared secret the method the provider supports (basic preferred)."""
    if wanted == "private_key_jwt":
        return wanted
    supported = doc.get("token_endpoint_auth_methods_supported") if isinstance(doc, dict) else None
    if not isinstance(supported, list):
        return "client_secret_basic"
    return next((m for m in ("client_secret_basic", "client_secret_post") if m in supported), "client_secret_basic")


async def _discover(issuer: str, wanted: str, alg: str | None) -> tuple[str, str]:
    """Fetch and check the discovery document; ``(auth method, document as JSON text)``."""
    if not is_secure_url(issuer) or urlsplit(issuer).query:
        raise ProviderInvalid("issuer", "must be an https URL without a query (http only on loopback)")
    try:
        doc = await fetch_json(httpx.AsyncClient, "GET", discovery_url(issuer))
    except IdentityError as exc:
        raise ProviderInvalid("issuer", f"cannot fetch the discovery document ({exc.detail})") from None
    method = _auth_method(doc, wanted)
    try:
        discovery = check_discovery(doc, issuer, method)
    except DiscoveryInvalid as exc:
        raise ProviderInvalid("issuer", exc.reason) from None
    if (
        alg is not None
        and discovery.client_auth_signing_algs is not None
        and alg not in discovery.client_auth_signing_algs
    ):
        raise ProviderInvalid("private-key", f"the provider does not accept {alg} client assertions")
    return method, json.dumps(doc, ensure_ascii=False)


def _printable(text: str) -> str:
    """``text`` without control characters (a remote document's strings reach the operator's terminal)."""
    return "".join(c if c.isprintable() else "?" for c in text)


def _check_acr_offered(acr: dict[str, str], doc: object) -> None:
    """Refuse an acr map naming values the provider does not offer (each sign-in would silently be ``basic``)."""
    offered = doc.get("acr_values_supported") if isinstance(doc, dict) else None
    if not isinstance(offered, list):
        return  # the provider does not say: nothing to check against
    unknown = sorted(set(acr) - {value for value in offered if isinstance(value, str)})
    if unknown:
        listed = ", ".join(_printable(str(v))[:200] for v in offered[:10])
        asked = ", ".join(_printable(value) for value in unknown)
        raise ProviderInvalid("acr-map", f"the provider offers none of {asked} (it offers: {listed})")


def _read_metadata(source: str) -> str:
    """SAML metadata XML from a file or an https (or loopback http) URL."""
    if source.startswith(("https://", "http://")):
        if not is_secure_url(source):
            raise ProviderInvalid("saml-metadata", "must be an https URL (http only on loopback)")
        try:
            response = httpx.get(source, timeout=10, follow_redirects=False)
        except httpx.HTTPError as exc:
            raise ProviderInvalid("saml-metadata", f"cannot fetch {source}: {type(exc).__name__}") from None
        if response.status_code != 200 or len(response.content) > 1024 * 1024:
            raise ProviderInvalid("saml-metadata", f"cannot fetch {source}: status {response.status_code}")
        return response.text
    try:
        return Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        raise ProviderInvalid("saml-metadata", f"{source}: {getattr(exc, 'strerror', None) or exc}") from None


@click.group("idp")
def idp_group() -> None:
    """Identity providers: the eID (BundID, an eID-Server) the vault signs citizens in through."""


@idp_group.command("add")
@click.option("--name", required=True, help="The provider's name as citizens see it on /login.")
@click.option("--issuer", help="OIDC issuer URL (its discovery document is fetched and checked).")
@click.option("--client-id", help="The vault's client id at the provider.")
@click.option("--private-key", type=click.Path(dir_okay=False), help="PEM key for private_key_jwt.")
@click.option("--client-secret-file", type=click.Path(dir_okay=False), help="File holding the client secret.")
@click.option("--acr-map", required=True, help="'URI=high,URI=substantial': the provider's acr values and levels.")
@click.option("--claims-map", help="'claim=attribute,…' (default: the usual OIDC claims).")
@click.option("--saml-metadata", help="SAML IdP metadata (file or URL) instead of --issuer/--client-id/key.")
@click.pass_context
def idp_add(
    ctx: click.Context,
    name: str,
    issuer: str | None,
    client_id: str | None,
    private_key: str | None,
    client_secret_file: str | None,
    acr_map: str,
    claims_map: str | None,
    saml_metadata: str | None,
) -> None:
    """Register a provider; prints {"id": …} (and for SAML the SP metadata URL)."""
    try:
        acr = parse_acr_map(acr_map)
        if saml_metadata is not None:
            if issuer or client_id or private_key or client_secret_file:
                raise ProviderInvalid("saml-metadata", "not together with --issuer, --client-id or a key")
            _add_saml(ctx, name, _read_metadata(saml_metadata), acr, claims_map)
            return
        claims = parse_claims_map(claims_map, DEFAULT_OIDC_CLAIMS)
        if not issuer:
            raise ProviderInvalid("issuer", "is required (or give --saml-metadata)")
        if not client_id:
            raise ProviderInvalid("client-id", "is required")
        wanted, secret, alg = _credential(private_key, client_secret_file)
        method, doc = asyncio.run(_discover(issuer, wanted, alg))
        _check_acr_offered(acr, json.loads(doc))

        async def add(_: Runtime, providers: Providers) -> str:
            return await providers.add(
                name=name,
                kind="oidc",
                issuer=issuer,
                client_id=client_id,
                auth_method=method,
                secret=secret,
                acr_map=acr,
                claims_map=claims,
                metadata_doc=doc,
            )

        provider_id = _on_providers(ctx, add)
    except ProviderInvalid as exc:
        _fail(exc)
    click.echo(json.dumps({"id": provider_id}))


@idp_group.command("update")
@click.argument("provider_id")
@click.option("--private-key", type=click.Path(dir_okay=False), help="A new PEM key for private_key_jwt.")
@click.option("--client-secret-file", type=click.Path(dir_okay=False), help="A new client secret.")
@click.option("--acr-map", help="A new acr map ('URI=high,…').")
@click.option("--claims-map", help="A new claims map ('claim=attribute,…').")
@click.pass_context
def idp_update(
    ctx: click.Context,
    provider_id: str,
    private_key: str | None,
    client_secret_file: str | None,
    acr_map: str | None,
    claims_map: str | None,
) -> None:
    """Change an OIDC provider in place (same id: every account stays linked); prints {"id", "changed": […]}.

    The discovery document is always fetched and checked again and stored: after the provider moved
    an endpoint (sign-ins are refused until then, and the log names this command), run this without options.
    A new key or secret, acr map or claims map replaces the old one. ``changed`` lists the endpoints
    that moved.
    """
    try:
        acr = parse_acr_map(acr_map) if acr_map is not None else None
        claims = parse_claims_map(claims_map, DEFAULT_OIDC_CLAIMS) if claims_map is not None else None
        credential = _credential(private_key, client_secret_file) if private_key or client_secret_file else None

        async def current(_: Runtime, providers: Providers) -> Any:
            return await providers.get(provider_id, enabled_only=False)

        provider = _on_providers(ctx, current)
        if provider is None or provider.kind != "oidc":
            raise ProviderInvalid("id", f"no OIDC provider {provider_id!r}")
        wanted = credential[0] if credential else provider.auth_method
        alg = credential[2] if credential else None
        method, doc = asyncio.run(
            _discover(provider.issuer, "private_key_jwt" if wanted == "private_key_jwt" else "secret", alg)
        )
        _check_acr_offered(acr if acr is not None else provider.acr_map, json.loads(doc))
        changed = changed_endpoints(check_discovery(json.loads(doc), provider.issuer, method), provider.metadata_doc)

        async def update(_: Runtime, providers: Providers) -> bool:
            return await providers.update(
                provider_id,
                auth_method=method,
                secret=credential[1] if credential else None,
                acr_map=acr,
                claims_map=claims,
                metadata_doc=doc,
            )

        _on_providers(ctx, update)
    except ProviderInvalid as exc:
        _fail(exc)
    click.echo(json.dumps({"id": provider_id, "changed": changed}))


def _add_saml(ctx: click.Context, name: str, metadata_xml: str, acr: dict[str, str], claims_map: str | None) -> None:
    claims = parse_claims_map(claims_map, {}) if claims_map else None

    async def add(runtime: Runtime, providers: Providers) -> tuple[str, str]:
        from vault.identity.saml import register_saml

        issuer = runtime.settings.issuer
        provider_id = await register_saml(
            providers, name=name, metadata_xml=metadata_xml, acr_map=acr, claims_map=claims, vault_issuer=issuer
        )
        return provider_id, f"{issuer}/login/idp/saml/{provider_id}/metadata"

    provider_id, sp_metadata = _on_providers(ctx, add)
    click.echo(json.dumps({"id": provider_id, "sp_metadata": sp_metadata}))


@idp_group.command("list")
@click.pass_context
def idp_list(ctx: click.Context) -> None:
    """All providers (JSON lines): id, name, kind, issuer, client_id, auth_method, acr_map, linked accounts, disabled.

    Never the secret. ``linked`` is how many accounts a disable would affect.
    """

    async def everything(_: Runtime, providers: Providers) -> tuple[list[Any], dict[str, int]]:
        return await providers.all(), await providers.linked_accounts()

    listed, linked = _on_providers(ctx, everything)
    for p in listed:
        row = {"id": p.id, "name": p.name, "kind": p.kind, "issuer": p.issuer, "client_id": p.client_id}
        more = {"auth_method": p.auth_method, "acr_map": p.acr_map, "linked": linked.get(p.id, 0)}
        click.echo(json.dumps({**row, **more, "disabled": p.disabled}, ensure_ascii=False))


@idp_group.command("disable")
@click.argument("provider_id")
@click.pass_context
def idp_disable(ctx: click.Context, provider_id: str) -> None:
    """Disable a provider: no new sign-ins through it, and its links stop counting (docs/identity.md)."""

    async def disable(_: Runtime, providers: Providers) -> bool:
        return await providers.disable(provider_id)

    if not _on_providers(ctx, disable):
        _fail(ProviderInvalid("id", f"no enabled provider {provider_id!r}"))
    click.echo(json.dumps({"id": provider_id, "disabled": True}))


@idp_group.command("enable")
@click.argument("provider_id")
@click.pass_context
def idp_enable(ctx: click.Context, provider_id: str) -> None:
    """Enable a disabled provider again: its button returns and its links count again at once."""

    async def enable(_: Runtime, providers: Providers) -> bool:
        return await providers.enable(provider_id)

    try:
        enabled = _on_providers(ctx, enable)
    except ProviderInvalid as exc:  # another enabled provider for the same issuer
        _fail(exc)
    if not enabled:
        _fail(ProviderInvalid("id", f"no disabled provider {provider_id!r}"))
    click.echo(json.dumps({"id": provider_id, "disabled": False}))
