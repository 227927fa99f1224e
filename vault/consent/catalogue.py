"""The catalogue: agencies (OAuth clients with public keys) and the services they offer.

Parsing and validation are pure functions (:func:`parse_service`, :func:`parse_jwks`,
:func:`check_redirect_uri`) that raise :class:`CatalogueError` naming the field and the reason;
:class:`Catalogue` stores what passed, all or nothing. A service's purpose, legal basis, duration
and access mode come only from here, never from an agency's request (DESIGN.md §5).
"""

from __future__ import annotations

import json
import re
import secrets
import tomllib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import msgspec
from sqlalchemy import ForeignKey, String, Text, select, update
from sqlalchemy.orm import Mapped, mapped_column

from vault.citizens.attributes import BUILTIN_ATTRIBUTES
from vault.config import is_loopback
from vault.db.models import Base, UTCDateTime

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

Access = Literal["once", "ongoing"]
Assurance = Literal["basic", "substantial", "high"]
ASSURANCE_ORDER = {"basic": 0, "substantial": 1, "high": 2}
LANGUAGES = ("de", "en")
MAX_SERVICE_FILE = 64 * 1024
MAX_DURATION_DAYS = 3650
SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
ALLOWED_KEYS: dict[tuple[Any, Any], str] = {
    ("EC", "P-256"): "ES256",
    ("OKP", "Ed25519"): "EdDSA",
    ("RSA", None): "PS256",
}
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


class CatalogueError(ValueError):
    """A catalogue entry was refused; ``field`` names what is wrong."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class UnknownEntry(LookupError):
    """No such (active) agency or service."""


class Text2(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A text in German and English."""

    de: str
    en: str

    def get(self, lang: str) -> str:
        """The text in ``lang`` (German for anything else)."""
        return self.en if lang == "en" else self.de


class DocumentRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A document a service asks for; ``late_submission`` lets the citizen hand it in after approval."""

    kind: str
    required: bool = True
    late_submission: bool = False


class ServiceDefinition(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A service as declared in its TOML file (DESIGN.md §5)."""

    id: str
    agency: str
    title: Text2
    purpose: Text2
    legal_basis: str
    fields: tuple[str, ...] = ()
    optional_fields: tuple[str, ...] = ()
    documents: tuple[DocumentRule, ...] = ()
    access: Access = "once"
    max_duration_days: int = 30
    min_assurance: Assurance = "basic"

    @property
    def all_fields(self) -> tuple[str, ...]:
        """Required then optional fields."""
        return self.fields + self.optional_fields


class AgencyRow(Base):
    """An agency: an OAuth client authenticating with ``private_key_jwt`` against its registered JWKS."""

    __tablename__ = "agencies"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    redirect_uris: Mapped[str] = mapped_column(Text)
    jwks: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class ServiceRow(Base):
    """A service; ``definition`` is the validated :class:`ServiceDefinition` as JSON."""

    __tablename__ = "services"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency: Mapped[str] = mapped_column(String(64), ForeignKey("agencies.client_id"), index=True)
    definition: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class Agency(msgspec.Struct, frozen=True):
    """An agency as the rest of the code sees it."""

    client_id: str
    name: str
    redirect_uris: tuple[str, ...]
    jwks: dict[str, Any]
    disabled: bool = False


# -- pure validation ----------------------------------------------------------------------------


def _field_of(error: msgspec.ValidationError) -> str:
    """``a.b.0.c`` from msgspec's ``… - at `$.a.b[0].c```, with an unknown field's own name appended."""
    text = str(error)
    match = re.search(r"at `\$\.?([^`]*)`", text)
    path = (match.group(1) if match else "").replace("[", ".").replace("]", "")
    unknown = re.search(r"unknown field `([^`]*)`", text)
    if unknown:
        path = f"{path}.{unknown.group(1)}" if path else unknown.group(1)
    return path or "file"


def parse_service(data: bytes) -> ServiceDefinition:
    """Parse and check a service file; :class:`CatalogueError` names the first offending field."""
    if len(data) > MAX_SERVICE_FILE:
        raise CatalogueError("file", f"larger than {MAX_SERVICE_FILE} bytes")
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise CatalogueError("file", "not UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError("file", f"not valid TOML ({exc})") from None
    try:
        service = msgspec.convert(raw, ServiceDefinition)
    except msgspec.ValidationError as exc:
        reason = str(exc).split(" - at ")[0]
        raise CatalogueError(_field_of(exc), reason) from None
    check_service(service)
    return service


def check_service(service: ServiceDefinition) -> None:
    """The rules msgspec's types cannot express."""
    if not SLUG.fullmatch(service.id):
        raise CatalogueError("id", "1-64 characters: lower-case letters, digits, '-' and '_'")
    if not service.agency:
        raise CatalogueError("agency", "the agency's client_id is required")
    _check_texts(service)
    if not service.fields and not service.optional_fields and not service.documents:
        raise CatalogueError("fields", "a service must ask for at least one field or document")
    _check_fields(service)
    _check_documents(service)
    if not 1 <= service.max_duration_days <= MAX_DURATION_DAYS:
        raise CatalogueError("max_duration_days", f"1 to {MAX_DURATION_DAYS}")


def _check_texts(service: ServiceDefinition) -> None:
    for name in ("title", "purpose"):
        text: Text2 = getattr(service, name)
        for lang in LANGUAGES:
            if not 1 <= len(text.get(lang).strip()) <= 500:
                raise CatalogueError(f"{name}.{lang}", "1-500 characters")
    if not 1 <= len(service.legal_basis.strip()) <= 500:
        raise CatalogueError("legal_basis", "1-500 characters; name the law that allows the processing")


def _check_fields(service: ServiceDefinition) -> None:
    seen: set[str] = set()
    for group in ("fields", "optional_fields"):
        for index, name in enumerate(getattr(service, group)):
            if name not in BUILTIN_ATTRIBUTES:
                raise CatalogueError(f"{group}.{index}", f"unknown attribute {name!r}")
            if name in seen:
                raise CatalogueError(f"{group}.{index}", f"{name!r} is listed twice")
            seen.add(name)


def _check_documents(service: ServiceDefinition) -> None:
    kinds: set[str] = set()
    for index, rule in enumerate(service.documents):
        if not SLUG.fullmatch(rule.kind):
            raise CatalogueError(f"documents.{index}.kind", "1-64 characters: lower-case letters, digits, '-', '_'")
        if rule.kind in kinds:
            raise CatalogueError(f"documents.{index}.kind", f"{rule.kind!r} is listed twice")
        if rule.late_submission and not rule.required:
            raise CatalogueError(f"documents.{index}.late_submission", "only a required document can come later")
        kinds.add(rule.kind)


def check_redirect_uri(uri: str) -> str:
    """An absolute https URI without fragment or userinfo (http only on a loopback host)."""
    parts = urlsplit(uri)
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise CatalogueError("redirect_uri", f"{uri!r} is not an absolute http(s) URI")
    if parts.fragment or "#" in uri:
        raise CatalogueError("redirect_uri", f"{uri!r} has a fragment")
    if parts.username is not None or parts.password is not None:
        raise CatalogueError("redirect_uri", f"{uri!r} has userinfo")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise CatalogueError("redirect_uri", f"{uri!r}: http is only allowed on localhost/loopback")
    return uri


def _check_jwk(where: str, key: object, kids: set[str]) -> None:
    """One public signing key of an allowed type with its own ``kid``."""
    if not isinstance(key, dict):
        raise CatalogueError(where, "not a JSON object")
    if PRIVATE_MEMBERS & set(key):
        raise CatalogueError(where, "contains private key material; register the public key only")
    kty, crv = key.get("kty"), key.get("crv")
    alg = ALLOWED_KEYS.get((kty, crv if kty != "RSA" else None))
    if alg is None:
        raise CatalogueError(where, "only EC P-256, OKP Ed25519 or RSA keys")
    if key.get("alg", alg) != alg:
        raise CatalogueError(f"{where}.alg", f"must be {alg} for this key type")
    if key.get("use", "sig") != "sig":
        raise CatalogueError(f"{where}.use", "must be sig")
    kid = key.get("kid")
    if not isinstance(kid, str) or not kid or kid in kids:
        raise CatalogueError(f"{where}.kid", "every key needs its own kid")
    kids.add(kid)


def parse_jwks(data: bytes) -> dict[str, Any]:
    """A JWK Set of public signing keys: P-256 (ES256), Ed25519 (EdDSA) or RSA ≥ 2048 bits (PS256)."""
    from joserfc.jwk import KeySet

    try:
        jwks = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise CatalogueError("jwks", "not JSON") from None
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys or len(keys) > 10:
        raise CatalogueError("jwks", 'a JWK Set {"keys": [...]} with 1 to 10 keys')
    kids: set[str] = set()
    for index, key in enumerate(keys):
        _check_jwk(f"jwks.keys.{index}", key, kids)
    try:
        imported = KeySet.import_key_set({"keys": keys})
    except Exception as exc:  # noqa: BLE001  joserfc raises several types for malformed keys
        raise CatalogueError("jwks", f"a key does not parse ({type(exc).__name__})") from None
    for index, key in enumerate(imported.keys):
        if key.key_type == "RSA" and key.raw_value.key_size < 2048:  # type: ignore[union-attr]
            raise CatalogueError(f"jwks.keys.{index}", "RSA keys need at least 2048 bits")
    return {"keys": keys}


# -- storage -----------------------------------------------------------------------------------


def _agency(row: AgencyRow) -> Agency:
    return Agency(
        row.client_id, row.name, tuple(json.loads(row.redirect_uris)), json.loads(row.jwks), row.disabled_at is not None
    )


class Catalogue:
    """Agencies and services in the database."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def add_agency(self, name: str, redirect_uris: list[str], jwks: dict[str, Any]) -> str:
        """Register an agency; returns its new ``client_id``."""
        name = name.strip()
        if not 1 <= len(name) <= 200:
            raise CatalogueError("name", "1-200 characters")
        if not redirect_uris:
            raise CatalogueError("redirect_uri", "at least one")
        uris = [check_redirect_uri(u) for u in redirect_uris]
        client_id = "agency-" + secrets.token_urlsafe(16)
        async with self.sessions.begin() as db:
            db.add(
                AgencyRow(
                    client_id=client_id,
                    name=name,
                    redirect_uris=json.dumps(uris),
                    jwks=json.dumps(jwks),
                    created_at=datetime.now(UTC),
                )
            )
        return client_id

    async def add_service(self, service: ServiceDefinition) -> str:
        """Store a validated service; the agency must exist and be active, the id must be new."""
        async with self.sessions.begin() as db:
            agency = await db.get(AgencyRow, service.agency)
            if agency is None or agency.disabled_at is not None:
                raise CatalogueError("agency", f"no active agency {service.agency!r}")
            if await db.get(ServiceRow, service.id) is not None:
                raise CatalogueError("id", f"a service {service.id!r} exists already")
            db.add(
                ServiceRow(
                    id=service.id,
                    agency=service.agency,
                    definition=msgspec.json.encode(service).decode(),
                    created_at=datetime.now(UTC),
                )
            )
        return service.id

    async def agency(self, client_id: str, *, active: bool = True) -> Agency:
        """An agency by client id (:class:`UnknownEntry` if missing or, with ``active``, disabled)."""
        async with self.sessions() as db:
            row = await db.get(AgencyRow, client_id)
        if row is None or (active and row.disabled_at is not None):
            raise UnknownEntry(f"no active agency {client_id!r}")
        return _agency(row)

    async def service(self, service_id: str, *, active: bool = True) -> ServiceDefinition:
        """A service by id (:class:`UnknownEntry` if missing or, with ``active``, disabled)."""
        async with self.sessions() as db:
            row = await db.get(ServiceRow, service_id)
        if row is None or (active and row.disabled_at is not None):
            raise UnknownEntry(f"no active service {service_id!r}")
        return msgspec.json.decode(row.definition, type=ServiceDefinition)

    async def agencies(self) -> list[Agency]:
        """All agencies, disabled ones too."""
        async with self.sessions() as db:
            rows = (await db.execute(select(AgencyRow).order_by(AgencyRow.created_at))).scalars().all()
        return [_agency(r) for r in rows]

    async def services(self) -> list[tuple[ServiceDefinition, bool]]:
        """All services with whether each is disabled."""
        async with self.sessions() as db:
            rows = (await db.execute(select(ServiceRow).order_by(ServiceRow.created_at))).scalars().all()
        return [(msgspec.json.decode(r.definition, type=ServiceDefinition), r.disabled_at is not None) for r in rows]

    async def disable_agency(self, client_id: str) -> None:
        """Disable an agency and its services: no new authorizations, no token, no reads."""
        now = datetime.now(UTC)
        async with self.sessions.begin() as db:
            result = await db.execute(update(AgencyRow).where(AgencyRow.client_id == client_id).values(disabled_at=now))
            if not getattr(result, "rowcount", 0):
                raise UnknownEntry(f"no agency {client_id!r}")
            await db.execute(
                update(ServiceRow)
                .where(ServiceRow.agency == client_id, ServiceRow.disabled_at.is_(None))
                .values(disabled_at=now)
            )

    async def disable_service(self, service_id: str) -> None:
        """Disable a service: no new authorizations under it."""
        async with self.sessions.begin() as db:
            result = await db.execute(
                update(ServiceRow).where(ServiceRow.id == service_id).values(disabled_at=datetime.now(UTC))
            )
            if not getattr(result, "rowcount", 0):
                raise UnknownEntry(f"no service {service_id!r}")
