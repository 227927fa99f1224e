"""OAuth state: pushed requests, authorization codes, tokens, seen ``jti`` values. Secrets are stored hashed."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vault.db.models import Base, UTCDateTime


def digest(secret: str) -> bytes:
    """SHA-256 of a bearer secret (request URI, code, token): only this is stored."""
    return hashlib.sha256(secret.encode()).digest()


class PushedRequest(Base):
    """A PAR request (RFC 9126): single use, bound to its client, short-lived."""

    __tablename__ = "oauth_pushed_requests"

    request_uri_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), ForeignKey("agencies.client_id"))
    params: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class AuthorizationCode(Base):
    """An authorization code: ≥ 128 bits, single use, 60 s; a replay revokes its tokens."""

    __tablename__ = "oauth_codes"

    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), ForeignKey("agencies.client_id"))
    grant_id: Mapped[str] = mapped_column(String(36), ForeignKey("grants.id"))
    redirect_uri: Mapped[str] = mapped_column(Text)
    code_challenge: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    replayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class Token(Base):
    """An access token (≤ 300 s) or refresh token (until the grant expires), DPoP-bound (``jkt``)."""

    __tablename__ = "oauth_tokens"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    client_id: Mapped[str] = mapped_column(String(64), ForeignKey("agencies.client_id"))
    grant_id: Mapped[str] = mapped_column(String(36), ForeignKey("grants.id"), index=True)
    code_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), index=True, default=None)
    jkt: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class SeenJti(Base):
    """A ``jti`` already used in a client assertion or DPoP proof, kept until it could no longer be valid."""

    __tablename__ = "oauth_seen_jtis"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    jti_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
