"""Log tables. Only :mod:`vault.transparency` writes them.

Nothing here is personal data in clear: records hold a pseudonym (HMAC of the citizen id under the
log's pseudonym key), actor, action, service, field names, purpose, legal basis, grant id and time.
Leaves are salted commitments, so the public tree and tiles reveal nothing about the records.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, Integer, LargeBinary, SmallInteger, String, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column

from vault.db.models import Base, UTCDateTime

BigId = BigInteger().with_variant(Integer(), "sqlite")


class LogEntry(Base):
    """An appended record. ``leaf_index`` is NULL until the integrator places it in the tree.

    The ``record`` column holds the canonical JSON the commitment was computed over; ``salt`` opens
    the commitment and is only shown to the citizen the record is about and to auditors. ``actor``,
    ``action``, ``service``, ``legal_basis`` and ``grant_id`` repeat the record's fields for the auditors' filters.
    Past the retention period the record is pruned (:mod:`vault.transparency.retention`): ``record``,
    ``salt``, ``pseudonym`` and ``grant_id`` are blanked and ``pruned_at`` set; the commitment and its
    place in the tree stay, so every proof still verifies.
    """

    __tablename__ = "log_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    leaf_index: Mapped[int | None] = mapped_column(BigInteger, unique=True, default=None)
    commitment: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    salt: Mapped[bytes] = mapped_column(LargeBinary(32))
    record: Mapped[bytes] = mapped_column(LargeBinary)
    pseudonym: Mapped[str] = mapped_column(String(64), index=True)
    actor: Mapped[str] = mapped_column(String(200), index=True)
    action: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    service: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    legal_basis: Mapped[str | None] = mapped_column(String(500), default=None)
    grant_id: Mapped[str | None] = mapped_column(String(36), index=True, default=None)
    pruned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    __table_args__ = (
        Index(
            "ix_log_entries_pending",
            "id",
            sqlite_where=text("leaf_index IS NULL"),
            postgresql_where=text("leaf_index IS NULL"),
        ),
    )


class LogTile(Base):
    """Up to 256 hashes (32 bytes each, concatenated) of tree level ``8·level``, indices ``256·idx…``."""

    __tablename__ = "log_tiles"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hashes: Mapped[bytes] = mapped_column(LargeBinary)


class LogState(Base):
    """The single row (id 1) with the integrated size, its compact range and root."""

    __tablename__ = "log_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)
    compact: Mapped[bytes] = mapped_column(LargeBinary)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LogCheckpoint(Base):
    """Every checkpoint the log has signed, newest = largest size.

    With witnesses configured a checkpoint is stored ``awaiting_witnesses`` and not served (nor used
    for receipts) until the witnesses answered or timed out; then ``note`` gains their cosignature
    lines. The served checkpoint is the largest one not awaiting witnesses.
    """

    __tablename__ = "log_checkpoints"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    awaiting_witnesses: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class LogCosignature(Base):
    """A witness's cosignature (C2SP tlog-cosignature) of one checkpoint, as the witness returned it.

    ``witness`` is ``<name>+<hex8 key id>``; ``line`` the signature line (no newline), ``timestamp``
    the POSIX time it carries. The largest ``size`` per witness is the ``old`` size the vault sends
    that witness next. Public data: the same lines are served with the checkpoint.
    """

    __tablename__ = "log_cosignatures"

    witness: Mapped[str] = mapped_column(String(300), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    line: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
