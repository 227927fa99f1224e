"""What the SDK hands back: typed msgspec structs.

``Flow`` and ``Tokens`` are meant to be stored (``msgspec.json.encode``) in the agency's session
between requests.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from tlog.receipts import Receipt

__all__ = [
    "Attribute",
    "Authorization",
    "DataResult",
    "Document",
    "DocumentInfo",
    "Documents",
    "Flow",
    "GrantInfo",
    "Metadata",
    "Receipt",
    "Tokens",
]


class Metadata(msgspec.Struct, frozen=True):
    """The vault's authorization server metadata (RFC 8414), the parts the SDK uses."""

    issuer: str
    pushed_authorization_request_endpoint: str
    authorization_endpoint: str
    token_endpoint: str
    revocation_endpoint: str
    jwks_uri: str


class Flow(msgspec.Struct, frozen=True):
    """An authorization in progress: keep it (e.g. in the session) until the callback comes."""

    state: str
    code_verifier: str
    redirect_uri: str
    service: str
    started_at: int


class Authorization(msgspec.Struct, frozen=True):
    """Where to send the citizen, and the flow to keep."""

    url: str
    flow: Flow


class Tokens(msgspec.Struct, frozen=True):
    """A DPoP-bound access token (≤ 5 min), the refresh token, and the grant they stand for."""

    access_token: str
    expires_at: int
    grant_id: str
    service: str
    fields: tuple[str, ...]
    documents: tuple[str, ...]
    refresh_token: str | None = None

    def expired(self, now: int, margin: int = 10) -> bool:
        """Whether the access token is (about to be) expired: refresh first."""
        return now >= self.expires_at - margin


class VerifiedBy(msgspec.Struct, frozen=True):
    """The identity provider (the citizen's eID) that vouched for a value.

    ``provider`` is its name, ``issuer`` its OIDC issuer or SAML entity id, ``kind`` ``"oidc"`` or
    ``"saml"``, ``level`` the level of the account's link to it (``"substantial"`` or ``"high"``;
    ``None`` from vaults that do not send it).
    """

    provider: str
    issuer: str
    kind: str
    level: str | None = None


class Attribute(msgspec.Struct, frozen=True):
    """One granted attribute; ``verified_by`` is set when an identity provider confirmed the value.

    ``verified_by`` is present only while the citizen's account is still linked to that provider.
    """

    value: Any
    source: str
    updated_at: datetime
    verified_by: VerifiedBy | None = None


class GrantInfo(msgspec.Struct, frozen=True):
    """The grant a read was served under."""

    id: str
    service: str
    expires_at: datetime


class DataResult(msgspec.Struct, frozen=True):
    """``GET /api/v1/data``: exactly the granted attributes, and the read's receipt."""

    attributes: dict[str, Attribute]
    grant: GrantInfo
    receipt: Receipt


class DocumentInfo(msgspec.Struct, frozen=True):
    """A granted document's metadata."""

    id: str
    kind: str
    content_type: str
    size: int
    created_at: datetime


class Documents(msgspec.Struct, frozen=True):
    """The granted documents there are, and the kinds still pending (handed in later)."""

    documents: list[DocumentInfo]
    pending: list[str]
    grant: GrantInfo


class Document(msgspec.Struct, frozen=True):
    """A downloaded document and its read's receipt."""

    content: bytes
    content_type: str
    receipt: Receipt
