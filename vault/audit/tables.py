"""Audit tables: who may audit, what the auditors looked at, and the agency requests the vault refused.

None holds personal data in clear. An auditor is an account (``citizens`` row: login hash, sealed
login name, password, passkeys) marked here with the operator's label for it. A refused request
names the agency, never a citizen: refusals happen before (or instead of) any release, so they are
not log entries, but an auditor needs them to see an agency probing for data it may not have.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vault.db.models import Base, UTCDateTime

BigId = BigInteger().with_variant(Integer(), "sqlite")


class Auditor(Base):
    """An account with read access to the audit pages. ``disabled_at`` set: access withdrawn."""

    __tablename__ = "auditors"

    account_id: Mapped[str] = mapped_column(String(36), ForeignKey("citizens.id"), primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class RefusedRequest(Base):
    """A request by a known agency that the vault refused (revoked grant, replayed proof, …)."""

    __tablename__ = "refused_requests"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    endpoint: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(64))
    service: Mapped[str | None] = mapped_column(String(64), default=None)
    grant_id: Mapped[str | None] = mapped_column(String(36), default=None)


class AuditorActivity(Base):
    """One audit page or export an auditor opened, so the other auditors see who looked at what.

    Holds the page's path and its query (the filters, which may name a pseudonym, never a citizen),
    no citizen data.
    """

    __tablename__ = "auditor_activity"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    account_id: Mapped[str] = mapped_column(String(36), ForeignKey("auditors.account_id"), index=True)
    path: Mapped[str] = mapped_column(String(64))
    query: Mapped[str] = mapped_column(Text)
