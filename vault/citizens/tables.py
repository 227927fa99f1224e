"""Citizen tables. Nothing personal is stored in clear.

* ``citizens.login_hash``: HMAC-SHA-256 of the normalised login name under the ``login-lookup``
  service secret (for sign-in lookup); ``login_ct``: the login name sealed under the citizen's DEK.
  Both are cleared on erasure; the row stays as a tombstone.
* ``attributes.ciphertext`` and ``document_chunks.ciphertext``: sealed under the citizen's DEK with
  the citizen, record and field bound as associated data. ``source``, ``updated_at``, document
  ``kind``, ``content_type`` and ``size`` are metadata kept in clear.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from vault.db.models import Base, UTCDateTime


class Citizen(Base):
    """An account. ``erased_at`` set means crypto-shredded: only this tombstone remains."""

    __tablename__ = "citizens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    login_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True, default=None)
    login_ct: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    #: The level at which the account's identity was proven (eIDAS enrolment): ``basic`` for a
    #: self-registered account, else the best level of its identity provider links (vault.identity).
    identity_level: Mapped[str] = mapped_column(String(16), default="basic", server_default="basic")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class StoredAttribute(Base):
    """One version of one attribute; ``current`` marks the live version."""

    __tablename__ = "attributes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    citizen_id: Mapped[str] = mapped_column(String(36), ForeignKey("citizens.id"))
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    current: Mapped[bool] = mapped_column(Boolean)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    source: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_attributes_citizen_name_version", "citizen_id", "name", "version", unique=True),)


class StoredDocument(Base):
    """A document's metadata; its content is in ``document_chunks``."""

    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    citizen_id: Mapped[str] = mapped_column(String(36), ForeignKey("citizens.id"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    chunks: Mapped[int] = mapped_column(Integer)
    name_ct: Mapped[bytes] = mapped_column(LargeBinary)
    source: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    complete: Mapped[bool] = mapped_column(Boolean, default=False)


class DocumentChunk(Base):
    """One sealed chunk (the last one is sealed as final, so truncation is detected)."""

    __tablename__ = "document_chunks"

    document_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )
    idx: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
