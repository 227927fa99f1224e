"""Tables of the upstream identity providers (eID through OIDC or SAML) and of the accounts bound to them.

Nothing personal is stored in clear:

* ``identity_providers.secret_sealed``: the vault's client secret or private key for that provider,
  sealed (AEAD) under the ``idp-secrets`` service secret, which is wrapped under the root key.
* ``identity_links.subject_hash``: HMAC-SHA-256 of the provider's subject (``sub`` or SAML NameID,
  e.g. a BundID pseudonym) under the ``idp-subject`` service secret, bound to the provider id.
  One subject of one provider is bound to at most one account (unique index).
* ``identity_requests``: one row per sign-in started at a provider (``state`` as SHA-256 only),
  bound to the browser that started it (``browser_hash``), single use, ten minutes.
* ``saml_assertions_seen``: SHA-256 of assertion ids already consumed (replay), until they expire.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, Select, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from vault.db.models import Base, UTCDateTime


class IdentityProvider(Base):
    """An upstream identity provider the vault is a relying party of."""

    __tablename__ = "identity_providers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(8))  # "oidc" | "saml"
    issuer: Mapped[str] = mapped_column(String(500))  # OIDC issuer, or the SAML IdP's entity id
    client_id: Mapped[str] = mapped_column(String(500))  # OIDC client id, or the vault's SAML SP entity id
    #: private_key_jwt | client_secret_basic | client_secret_post | saml
    auth_method: Mapped[str] = mapped_column(String(32))
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    acr_map: Mapped[str] = mapped_column(Text)  # JSON {acr URI or SAML AuthnContextClassRef: level}
    claims_map: Mapped[str] = mapped_column(Text)  # JSON {provider claim or SAML attribute: vault attribute}
    metadata_doc: Mapped[str] = mapped_column(Text)  # the discovery document (JSON) or SAML metadata (XML) as checked
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class IdentityLink(Base):
    """One provider subject bound to one account, with the best level proven through it."""

    __tablename__ = "identity_links"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    provider_id: Mapped[str] = mapped_column(String(36), ForeignKey("identity_providers.id"))
    subject_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    citizen_id: Mapped[str] = mapped_column(String(36), ForeignKey("citizens.id"), index=True)
    level: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_identity_links_provider_subject", "provider_id", "subject_hash", unique=True),
        Index("ix_identity_links_provider_citizen", "provider_id", "citizen_id", unique=True),  # one ID per provider
    )


class IdentityRequest(Base):
    """A sign-in started at a provider and not yet finished (single use, browser-bound, short-lived)."""

    __tablename__ = "identity_requests"

    state_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    browser_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    provider_id: Mapped[str] = mapped_column(String(36), ForeignKey("identity_providers.id"))
    purpose: Mapped[str] = mapped_column(String(16))  # login | register | link | step_up
    citizen_id: Mapped[str | None] = mapped_column(String(36), default=None)  # the session's citizen (link, step_up)
    level: Mapped[str] = mapped_column(String(16))  # the level asked for
    nonce: Mapped[str] = mapped_column(String(100))  # OIDC nonce, or the SAML AuthnRequest ID
    code_verifier: Mapped[str] = mapped_column(String(128))  # PKCE verifier (empty for SAML)
    #: SHA-256 of the session token the browser had when it left (ended when the new session starts:
    #: the SAML IdP's cross-site POST does not carry the SameSite=Lax session cookie)
    session_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), default=None)
    next: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class SeenAssertion(Base):
    """A consumed SAML assertion id (SHA-256), kept until the assertion itself would have expired."""

    __tablename__ = "saml_assertions_seen"

    id_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


def enabled_links() -> Select[IdentityLink]:
    """``identity_links`` of enabled providers only: a disabled provider vouches for nothing any more."""
    return (
        select(IdentityLink)
        .join(IdentityProvider, IdentityProvider.id == IdentityLink.provider_id)
        .where(IdentityProvider.disabled_at.is_(None))
    )
