"""Settings: one msgspec struct, read from ``VAULT_*`` environment variables, overridden by flags.

Validation here is pure (no I/O): formats, ranges, schemes. Checks that need the file system or the
database (a writable data dir, a root key that matches the database) live in :mod:`vault.bootstrap`.
Every failure is a :class:`ConfigError` naming the environment variable, so the CLI can print one
line and exit with status 2.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import msgspec

from tlog.cosignature import CosignatureVerifier
from tlog.note import NoteError

if TYPE_CHECKING:
    from collections.abc import Mapping

ENV_PREFIX = "VAULT_"
SECRET_FIELDS = frozenset({"root_key", "metrics_token"})

_SCHEME_ALIASES = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


class ConfigError(Exception):
    """A setting has a value the vault cannot run with."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting
        self.message = message


def env_name(field: str) -> str:
    """The environment variable that sets ``field``."""
    return ENV_PREFIX + field.upper()


class Settings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The effective configuration. Defaults derive from ``data_dir``, ``host`` and ``port``."""

    data_dir: Path = Path("./var")
    database_url: str = ""
    root_key_file: Path | None = None
    root_key: str | None = None
    root_key_pkcs11: str | None = None
    pkcs11_pin_file: Path | None = None
    log_key_pkcs11: str | None = None
    issuer: str = ""
    log_origin: str = "localhost/vault-log"
    log_key_file: Path | None = None
    consent_key_file: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    db_pool_size: int = 10
    log_integrator: bool = True
    max_document_bytes: int = 20 * 1024 * 1024
    erasure_journal: Path | None = None
    password_concurrency: int = 2
    trusted_proxies: str = ""
    register_limit: int = 20
    challenge_limit: int = 30
    dpop_nonces: bool = False
    log_retention_days: int = 730
    witnesses: str = ""
    witness_timeout: float = 5.0
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    metrics_token: str | None = None

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{(self.data_dir / 'vault.db').resolve()}"
        self.database_url = normalise_database_url(self.database_url)
        self.root_key_file = self.root_key_file or self.data_dir / "root.key"
        self.log_key_file = self.log_key_file or self.data_dir / "log.key"
        self.consent_key_file = self.consent_key_file or self.data_dir / "consent.key"
        self.erasure_journal = self.erasure_journal or self.data_dir / "erasures.jsonl"
        if self.root_key is not None:
            for item in self.root_key.split(","):
                decode_root_key(item.strip().rpartition(":")[2], env_name("root_key"))
        _check_pkcs11(self)
        _check_ranges(self)
        _check_metrics(self)
        _check_proxies(self.trusted_proxies)
        if not self.issuer:
            self.issuer = f"http://{self.host}:{self.port}"
        self.issuer = _check_issuer(self.issuer)
        _check_origin(self.log_origin)
        parse_witnesses(self.witnesses)

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is the embedded SQLite file."""
        return self.database_url.startswith("sqlite")

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict for display, secrets replaced by ``***``."""
        shown: dict[str, Any] = msgspec.to_builtins(self, enc_hook=str)
        for name in SECRET_FIELDS:
            if shown.get(name) is not None:
                shown[name] = "***"
        shown["database_url"] = redact_url(self.database_url)
        return shown


def normalise_database_url(url: str) -> str:
    """Map ``postgresql://`` and ``sqlite://`` to the async drivers; reject anything else."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigError(env_name("database_url"), "expected a URL like postgresql+asyncpg://user@host/db")
    driver = _SCHEME_ALIASES.get(scheme.lower())
    if driver is None:
        known = "sqlite+aiosqlite, postgresql+asyncpg"
        raise ConfigError(env_name("database_url"), f"unknown database scheme {scheme!r} (use {known})")
    return f"{driver}://{rest}"


def redact_url(url: str) -> str:
    """Hide the password in a database URL."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def decode_root_key(value: str, setting: str) -> bytes:
    """Decode a base64 root key and insist on exactly 32 bytes."""
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(setting, "is not valid base64") from None
    if len(key) != 32:
        raise ConfigError(setting, f"must be 32 bytes (base64), got {len(key)}")
    return key


def _check_pkcs11(settings: Settings) -> None:
    """The token settings parse, and a PIN file is named when a token key is."""
    named = [field for field in ("root_key_pkcs11", "log_key_pkcs11") if getattr(settings, field) is not None]
    if not named:
        return
    from vault.crypto.kek import RootKeyError
    from vault.crypto.pkcs11 import parse_setting

    for field in named:
        try:
            location = parse_setting(getattr(settings, field), env_name(field))
        except RootKeyError as exc:
            raise ConfigError(exc.setting, str(exc).partition(": ")[2]) from None
        if field == "log_key_pkcs11" and location.version != 1:
            raise ConfigError(env_name(field), "has no version (only the root key has versions)")
    if settings.pkcs11_pin_file is None:
        raise ConfigError(env_name("pkcs11_pin_file"), f"is needed with {env_name(named[0])} (the token's user PIN)")


_RANGES = {
    "port": (1, 65535),
    "workers": (1, 64),
    "db_pool_size": (1, 200),
    "max_document_bytes": (1024, 1024**3),
    "password_concurrency": (1, 64),
    "register_limit": (0, 1_000_000),
    "challenge_limit": (0, 1_000_000),
    "log_retention_days": (0, 36500),
    "witness_timeout": (0.1, 120),
}


def _check_ranges(settings: Settings) -> None:
    for field, (low, high) in _RANGES.items():
        value = getattr(settings, field)
        if not low <= value <= high:
            raise ConfigError(env_name(field), f"{value} is not between {low} and {high}")


METRICS_TOKEN_MIN = 32


def _check_metrics(settings: Settings) -> None:
    port = settings.metrics_port
    if port is not None and not (1 <= port <= 65535 and port != settings.port):
        raise ConfigError(env_name("metrics_port"), f"{port} is not a port between 1 and 65535 other than VAULT_PORT")
    if not is_loopback(settings.metrics_host):
        raise ConfigError(
            env_name("metrics_host"),
            f"{settings.metrics_host!r} is not a loopback address: the metrics listener has no authentication"
            " (to scrape from another host, set VAULT_METRICS_TOKEN and scrape the public listener)",
        )
    token = settings.metrics_token
    if token is not None and not (len(token) >= METRICS_TOKEN_MIN and token.isascii() and token.isalnum()):
        raise ConfigError(
            env_name("metrics_token"), f"must be at least {METRICS_TOKEN_MIN} letters or digits (openssl rand -hex 32)"
        )


def _check_proxies(trusted_proxies: str) -> None:
    for entry in (p.strip() for p in trusted_proxies.split(",")):
        if not entry:
            continue
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ConfigError(
                env_name("trusted_proxies"), f"{entry!r} is not an IP address or network (e.g. 10.0.0.2, 10.0.0.0/8)"
            ) from None


def is_loopback(host: str) -> bool:
    """Whether ``host`` is ``localhost`` or a loopback address (127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_issuer(issuer: str) -> str:
    parts = urlsplit(issuer)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(env_name("issuer"), f"{issuer!r} is not an http(s) URL")
    if parts.query or parts.fragment:
        raise ConfigError(env_name("issuer"), "must not have a query or fragment (RFC 8414)")
    return issuer.rstrip("/")


def _check_origin(origin: str) -> None:
    if not origin or any(c.isspace() or ord(c) < 0x21 for c in origin) or "+" in origin:
        raise ConfigError(env_name("log_origin"), "must be non-empty, without spaces, control characters or '+'")


def parse_witnesses(value: str) -> list[tuple[str, str]]:
    """``VAULT_WITNESSES``: ``URL=VKEY`` entries (whitespace or commas between) → ``[(url, vkey), …]``.

    URL is the witness's submission prefix (``POST <URL>/add-checkpoint``); VKEY its cosignature/v1
    verifier key (type 0x04), which never contains ``=``, so an entry splits at its last ``=``.
    """
    setting = env_name("witnesses")
    entries: list[tuple[str, str]] = []
    for entry in value.replace(",", " ").split():
        url, sep, vkey = entry.rpartition("=")
        parts = urlsplit(url)
        if not sep or parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ConfigError(setting, f"{entry!r} is not URL=VKEY with an http(s) URL (no query)")
        try:
            CosignatureVerifier.from_vkey(vkey)
        except NoteError as exc:
            raise ConfigError(setting, f"{entry!r}: {exc}") from None
        if any(vkey == known for _, known in entries):
            raise ConfigError(setting, f"witness key {vkey.split('+', 1)[0]} is listed twice")
        entries.append((url.rstrip("/"), vkey))
    return entries


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from ``VAULT_*`` variables, then apply the non-``None`` overrides (CLI flags)."""
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    for field in Settings.__struct_fields__:
        value = environ.get(env_name(field))
        if value is not None and value != "":
            raw[field] = value
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return msgspec.convert(raw, Settings, strict=False, dec_hook=_decode_path)
    except msgspec.ValidationError as exc:
        raise _as_config_error(exc) from None


def settings_to_environ(settings: Settings) -> dict[str, str]:
    """The ``VAULT_*`` variables that reproduce ``settings`` (for worker processes)."""
    out: dict[str, str] = {}
    for field, value in msgspec.to_builtins(settings, enc_hook=str).items():
        if value is not None:
            out[env_name(field)] = str(value)
    return out


def _decode_path(kind: type, value: Any) -> Any:
    if kind is Path and isinstance(value, str | Path):
        return Path(value)
    raise TypeError(f"cannot decode {kind!r}")


def _as_config_error(exc: msgspec.ValidationError) -> ConfigError:
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ConfigError):
        return cause
    message = str(exc)
    field = ""
    if " - at `$." in message:
        message, _, path = message.partition(" - at `$.")
        field = path.rstrip("`").split(".")[0].split("[")[0]
    return ConfigError(env_name(field) if field else "VAULT_*", message)
