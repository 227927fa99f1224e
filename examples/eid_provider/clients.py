"""The relying parties the test provider knows, and the clients file they come from.

The file is JSON: ``{"clients": [{"client_id", "redirect_uris", "jwks" | "client_secret", "name"?}],
"saml_service_providers": ["<SP metadata URL, path or XML>"]}``. A client with ``jwks`` authenticates
with ``private_key_jwt`` only; one with ``client_secret`` with ``client_secret_basic`` or ``_post`` only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path


@dataclass(frozen=True, slots=True)
class Client:
    """A relying party: its id, exact redirect URIs, and either its public JWKS or a shared secret."""

    client_id: str
    redirect_uris: tuple[str, ...]
    jwks: dict[str, Any] | None = None
    client_secret: str | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if not self.client_id or not self.redirect_uris:
            raise ValueError("a client needs a client_id and at least one redirect URI")
        if (self.jwks is None) == (self.client_secret is None):
            raise ValueError(f"client {self.client_id!r}: give exactly one of jwks and client_secret")
        if self.jwks is not None and not isinstance(self.jwks.get("keys"), list):
            raise ValueError(f"client {self.client_id!r}: jwks must be a JWK set {{'keys': [...]}}")

    @property
    def auth_methods(self) -> tuple[str, ...]:
        """The token endpoint authentication methods this client may use."""
        if self.jwks is not None:
            return ("private_key_jwt",)
        return ("client_secret_basic", "client_secret_post")

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Client:
        """A client from one entry of the clients file (``ValueError`` if malformed)."""
        uris = doc.get("redirect_uris")
        if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
            raise ValueError("redirect_uris must be a list of strings")
        return cls(
            client_id=str(doc.get("client_id") or ""),
            redirect_uris=tuple(uris),
            jwks=doc.get("jwks"),
            client_secret=doc.get("client_secret"),
            name=str(doc.get("name") or ""),
        )


@dataclass(frozen=True, slots=True)
class ClientsFile:
    """What a clients file holds: OIDC clients and SAML service providers."""

    clients: tuple[Client, ...]
    saml_service_providers: tuple[str, ...] = field(default=())


def parse_clients(doc: Any) -> ClientsFile:
    """The clients file's content from its parsed JSON (``ValueError`` if malformed)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("clients", []), list):
        raise ValueError('the clients file must be an object {"clients": [...]}')
    sps = doc.get("saml_service_providers", [])
    if not isinstance(sps, list) or not all(isinstance(s, str) for s in sps):
        raise ValueError("saml_service_providers must be a list of strings")
    clients = tuple(Client.from_dict(c) for c in doc.get("clients", []))
    if len({c.client_id for c in clients}) != len(clients):
        raise ValueError("client ids must be unique")
    return ClientsFile(clients, tuple(sps))


def load_clients(path: Path) -> ClientsFile:
    """Read and parse a clients file."""
    return parse_clients(json.loads(path.read_text(encoding="utf-8")))
