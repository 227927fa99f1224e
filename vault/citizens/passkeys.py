"""Passkeys (WebAuthn) with the ``webauthn`` package: register, sign in, list, remove.

Rules:

* The relying party id is the host of ``VAULT_ISSUER`` and the only accepted origin is the
  issuer's origin. An IP address cannot be a relying party id, so passkeys are off when the issuer
  is one (``PasskeyService.available``).
* Credentials are discoverable (resident) and user verification is *required*, both when
  registering and when signing in.
* A passkey carries the assurance level of the session that enrolled it, at most ``substantial``
  (:func:`~vault.citizens.reauth.enrolled_assurance`), and a passkey sign-in starts a session at
  that stored level: a password session cannot raise its own level by adding a passkey.
* Every challenge is random, stored only as its SHA-256 with its purpose (and, for registration,
  the citizen), valid for ``CHALLENGE_TTL`` and deleted when it is used: a replayed response finds
  no challenge and is refused.
* The signature counter must grow when the authenticator keeps one (``webauthn`` checks it).
* Nothing personal is stored: the credential id, the COSE public key, the counter and times.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, String, delete, select, update
from sqlalchemy.orm import Mapped, mapped_column
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, parse_client_data_json
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from vault.citizens.errors import UnknownRecord
from vault.citizens.reauth import enrolled_assurance, highest_level
from vault.citizens.tables import Citizen
from vault.citizens.vault import CitizenVault
from vault.db.models import Base, UTCDateTime
from vault.identity.tables import IdentityLink, enabled_links

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

CHALLENGE_TTL = timedelta(minutes=5)
TIMEOUT_MS = 120_000
MAX_CREDENTIAL_JSON = 64 * 1024
MAX_PASSKEYS = 20
#: How long the overview tells the citizen that a passkey was added.
ADDED_NOTICE = timedelta(days=30)
ALGORITHMS = [
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]


class PasskeyRejected(Exception):
    """A passkey response was refused (bad signature, origin, challenge, counter, …): 400."""


class Passkey(Base):
    """A registered passkey: the credential id and public key, never anything personal.

    ``assurance`` is the level a sign-in with it gets: the enrolling session's, at most ``substantial``.
    """

    __tablename__ = "passkeys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    citizen_id: Mapped[str] = mapped_column(String(36), ForeignKey("citizens.id"), index=True)
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1023), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger)
    assurance: Mapped[str] = mapped_column(String(16), server_default="basic")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class PasskeyChallenge(Base):
    """An outstanding WebAuthn challenge (its SHA-256), single use."""

    __tablename__ = "passkey_challenges"

    challenge_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    citizen_id: Mapped[str | None] = mapped_column(String(36), default=None)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


@dataclass(frozen=True, slots=True)
class PasskeyInfo:
    """What the citizen sees of a passkey."""

    id: str
    created_at: datetime
    last_used_at: datetime | None
    assurance: str


@dataclass(frozen=True, slots=True)
class PasskeySignIn:
    """Who signed in with a passkey, and at which level (the passkey's stored one)."""

    citizen_id: str
    assurance: str


def recently_added(passkeys: list[PasskeyInfo], now: datetime) -> list[PasskeyInfo]:
    """The passkeys added within :data:`ADDED_NOTICE` before ``now``, newest first (for the overview's notice)."""
    return sorted((p for p in passkeys if now - p.created_at <= ADDED_NOTICE), key=lambda p: p.created_at, reverse=True)


def relying_party(issuer: str) -> tuple[str, str, bool]:
    """``(rp_id, origin, available)`` for an issuer URL; not available on an IP address."""
    parts = urlsplit(issuer)
    host = parts.hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host, f"{parts.scheme}://{parts.netloc}", bool(host)
    return host, f"{parts.scheme}://{parts.netloc}", False


def _digest(challenge: bytes) -> bytes:
    return hashlib.sha256(challenge).digest()


def _parse(credential: str) -> dict[str, Any]:
    if len(credential) > MAX_CREDENTIAL_JSON:
        raise PasskeyRejected("credential too large")
    try:
        parsed = json.loads(credential)
        client_data = parse_client_data_json(base64url_to_bytes(parsed["response"]["clientDataJSON"]))
        parsed["_challenge"] = client_data.challenge
        parsed["_raw_id"] = base64url_to_bytes(parsed["rawId"])
    except (ValueError, KeyError, TypeError, WebAuthnException) as exc:
        raise PasskeyRejected("malformed credential") from exc
    if not isinstance(parsed, dict):
        raise PasskeyRejected("malformed credential")
    return parsed


class PasskeyService:
    """Registration and sign-in ceremonies, and the citizen's list of passkeys."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], issuer: str, rp_name: str = "Bürgertresor") -> None:
        self.sessions = sessions
        self.rp_id, self.origin, self.available = relying_party(issuer)
        self.rp_name = rp_name

    async def _new_challenge(self, purpose: str, citizen_id: str | None) -> bytes:
        challenge = secrets.token_bytes(32)
        now = datetime.now(UTC)
        async with self.sessions.begin() as db:
            await db.execute(delete(PasskeyChallenge).where(PasskeyChallenge.expires_at < now))
            db.add(
                PasskeyChallenge(
                    challenge_hash=_digest(challenge),
                    purpose=purpose,
                    citizen_id=citizen_id,
                    expires_at=now + CHALLENGE_TTL,
                )
            )
        return challenge

    @staticmethod
    async def _use_challenge(db: AsyncSession, challenge: bytes, purpose: str, citizen_id: str | None) -> None:
        """Delete the challenge; :class:`PasskeyRejected` unless it was outstanding, unexpired and ours."""
        query = delete(PasskeyChallenge).where(
            PasskeyChallenge.challenge_hash == _digest(challenge),
            PasskeyChallenge.purpose == purpose,
            PasskeyChallenge.expires_at >= datetime.now(UTC),
        )
        if citizen_id is not None:
            query = query.where(PasskeyChallenge.citizen_id == citizen_id)
        result = await db.execute(query)
        if getattr(result, "rowcount", 0) != 1:
            raise PasskeyRejected("unknown, used or expired challenge")

    def _require_available(self) -> None:
        if not self.available:
            raise PasskeyRejected(f"passkeys need a host name as issuer, not {self.rp_id!r}")

    async def registration_options(self, citizen_id: str, user_name: str) -> str:
        """Options (JSON) for ``navigator.credentials.create``."""
        self._require_available()
        async with self.sessions() as db:
            existing = (await db.execute(select(Passkey.credential_id).where(Passkey.citizen_id == citizen_id))).all()
        if len(existing) >= MAX_PASSKEYS:
            raise PasskeyRejected(f"at most {MAX_PASSKEYS} passkeys per account")
        options = generate_registration_options(
            rp_id=self.rp_id,
            rp_name=self.rp_name,
            user_id=citizen_id.encode(),
            user_name=user_name,
            challenge=await self._new_challenge("register", citizen_id),
            timeout=TIMEOUT_MS,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                user_verification=UserVerificationRequirement.REQUIRED,
            ),
            exclude_credentials=[PublicKeyCredentialDescriptor(id=row.credential_id) for row in existing],
            supported_pub_key_algs=ALGORITHMS,
        )
        return options_to_json(options)

    async def register(self, citizen_id: str, credential: str, *, session_assurance: str) -> PasskeyInfo:
        """Verify the authenticator's response and store the passkey at the enrolling session's level (capped)."""
        self._require_available()
        parsed = _parse(credential)
        now = datetime.now(UTC)
        async with self.sessions.begin() as db:
            await self._use_challenge(db, parsed["_challenge"], "register", citizen_id)
        try:
            verified = verify_registration_response(
                credential=credential,
                expected_challenge=parsed["_challenge"],
                expected_rp_id=self.rp_id,
                expected_origin=self.origin,
                require_user_verification=True,
                supported_pub_key_algs=ALGORITHMS,
            )
        except WebAuthnException as exc:
            raise PasskeyRejected(str(exc)) from exc
        passkey = Passkey(
            id=str(uuid.uuid4()),
            citizen_id=citizen_id,
            credential_id=verified.credential_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            assurance=enrolled_assurance(session_assurance),
            created_at=now,
        )
        async with self.sessions.begin() as db:
            await CitizenVault.require_citizen(db, citizen_id, lock=True)
            if await db.scalar(select(Passkey.id).where(Passkey.credential_id == verified.credential_id)):
                raise PasskeyRejected("this passkey is already registered")
            db.add(passkey)
        return PasskeyInfo(passkey.id, now, None, passkey.assurance)

    async def authentication_options(self) -> str:
        """Options (JSON) for ``navigator.credentials.get``: any discoverable passkey of this site."""
        self._require_available()
        options = generate_authentication_options(
            rp_id=self.rp_id,
            challenge=await self._new_challenge("login", None),
            timeout=TIMEOUT_MS,
            user_verification=UserVerificationRequirement.REQUIRED,
        )
        return options_to_json(options)

    async def authenticate(self, credential: str) -> PasskeySignIn:
        """The citizen and the passkey's level for a valid passkey assertion with user verification."""
        self._require_available()
        parsed = _parse(credential)
        async with self.sessions.begin() as db:
            await self._use_challenge(db, parsed["_challenge"], "login", None)
            row = await db.scalar(
                select(Passkey)
                .join(Citizen, Citizen.id == Passkey.citizen_id)
                .where(Passkey.credential_id == parsed["_raw_id"], Citizen.erased_at.is_(None))
            )
        if row is None:
            raise PasskeyRejected("unknown passkey")
        try:
            verified = verify_authentication_response(
                credential=credential,
                expected_challenge=parsed["_challenge"],
                expected_rp_id=self.rp_id,
                expected_origin=self.origin,
                credential_public_key=row.public_key,
                credential_current_sign_count=row.sign_count,
                require_user_verification=True,
            )
        except WebAuthnException as exc:
            raise PasskeyRejected(str(exc)) from exc
        async with self.sessions.begin() as db:
            # Only move the counter forward: two racing assertions cannot both pass with one count.
            result = await db.execute(
                update(Passkey)
                .where(Passkey.id == row.id, Passkey.sign_count == row.sign_count)
                .values(sign_count=verified.new_sign_count, last_used_at=datetime.now(UTC))
            )
            if getattr(result, "rowcount", 0) != 1:
                raise PasskeyRejected("passkey used concurrently")
        return PasskeySignIn(row.citizen_id, row.assurance)

    async def list(self, citizen_id: str) -> list[PasskeyInfo]:
        """The citizen's passkeys, oldest first."""
        async with self.sessions() as db:
            rows = (
                (await db.execute(select(Passkey).where(Passkey.citizen_id == citizen_id).order_by(Passkey.created_at)))
                .scalars()
                .all()
            )
        return [PasskeyInfo(r.id, r.created_at, r.last_used_at, r.assurance) for r in rows]

    async def highest_assurance(self, citizen_id: str) -> str:
        """The best level the account can sign in at now (:func:`~vault.citizens.reauth.highest_level`).

        Its password, its passkeys and its links to enabled identity providers count, none above its
        identity level (a disabled provider's link cannot be used to sign in, so it cannot be demanded).
        """
        async with self.sessions() as db:
            levels = (await db.execute(select(Passkey.assurance).where(Passkey.citizen_id == citizen_id))).scalars()
            links = [
                link.level
                for link in (await db.execute(enabled_links().where(IdentityLink.citizen_id == citizen_id))).scalars()
            ]
            identity = await db.scalar(select(Citizen.identity_level).where(Citizen.id == citizen_id))
            return highest_level(list(levels), identity or "basic", list(links))

    async def remove(self, citizen_id: str, passkey_id: str) -> None:
        """Remove one of the citizen's passkeys; another citizen's id is :class:`UnknownRecord`."""
        async with self.sessions.begin() as db:
            result = await db.execute(delete(Passkey).where(Passkey.id == passkey_id, Passkey.citizen_id == citizen_id))
            if getattr(result, "rowcount", 0) != 1:
                raise UnknownRecord(passkey_id)


async def erase_passkeys(db: AsyncSession, citizen_id: str) -> None:
    """Delete every passkey of the citizen (part of the account's erasure)."""
    await db.execute(delete(Passkey).where(Passkey.citizen_id == citizen_id))
